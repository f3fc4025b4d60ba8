"""One heatmap helper for every attention map in the book.

Rows are query (target) tokens, columns are key (source) tokens, and padding
is cropped: pass the real tokens only and the matrix is cut to their lengths.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xattn.checks import fmt_shape

__all__ = ["plot_attention", "plot_attention_grid"]


def _to_numpy(weights: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(weights, torch.Tensor):
        return weights.detach().float().cpu().numpy()
    return np.asarray(weights, dtype=float)


def _labels(tokens: Sequence[str] | None, n: int, name: str, dim: str) -> list[str]:
    if tokens is None:
        return [str(i) for i in range(n)]
    tokens = [str(t) for t in tokens]
    if len(tokens) > n:
        raise ValueError(
            f"{name} has {len(tokens)} tokens but the weights have only {n} {dim}"
        )
    # A space is invisible as a tick label; show it as the open-box symbol.
    return ["\u2423" if t == " " else t for t in tokens]


def plot_attention(
    weights: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    ax=None,
    title: str | None = None,
    xlabel: str = "key (source) tokens",
    ylabel: str = "query (target) tokens",
    cmap: str = "viridis",
    vmin: float | None = 0.0,
    vmax: float | None = None,
    colorbar: bool = True,
    cbar_label: str = "weight",
    annotate: bool = False,
    fmt: str = ".2f",
):
    """Draw one attention map as a heatmap with token labels.

    Args:
        weights: the map; a tensor is detached and moved to the CPU.
        query_tokens: labels of the rows; fewer than Lq crops the padded rows.
        key_tokens: labels of the columns; fewer than Lk crops the padded columns.
        ax: the matplotlib Axes to draw on; default a new figure.
        title, xlabel, ylabel: text for the axes.
        cmap, vmin, vmax: colour map and its range (vmin 0 so that zero reads as zero).
        colorbar: add a colour bar beside the map.
        cbar_label: the colour bar's label ("score" for maps before the softmax).
        annotate: write each weight in its cell (for small maps).
        fmt: number format for ``annotate``.

    Returns:
        The Axes drawn on.

    Shapes:
        weights (Lq, Lk)
    """
    import matplotlib.pyplot as plt

    w = _to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(
            f"weights must be 2-D (Lq, Lk), got {fmt_shape(w.shape)}; pick one item "
            "and head first, e.g. weights[0, h]"
        )
    rows = _labels(query_tokens, w.shape[0], "query_tokens", "rows (Lq)")
    cols = _labels(key_tokens, w.shape[1], "key_tokens", "columns (Lk)")
    w = w[: len(rows), : len(cols)]  # crop padding
    if ax is None:
        _, ax = plt.subplots(figsize=(0.3 * len(cols) + 2.5, 0.3 * len(rows) + 1.8))
    image = ax.imshow(
        w, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    ax.set_xticks(
        range(len(cols)), cols, rotation=90 if max(map(len, cols), default=0) > 2 else 0
    )
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if annotate:
        # Dark text on light cells and light text on dark ones, whatever the colour map.
        rgba = image.cmap(image.norm(w))
        luminance = (
            0.2126 * rgba[..., 0] + 0.7152 * rgba[..., 1] + 0.0722 * rgba[..., 2]
        )
        for i in range(w.shape[0]):
            for j in range(w.shape[1]):
                colour = "black" if luminance[i, j] > 0.5 else "white"
                ax.text(
                    j,
                    i,
                    format(w[i, j], fmt),
                    ha="center",
                    va="center",
                    fontsize=8,
                    color=colour,
                )
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=cbar_label)
    return ax


def plot_attention_grid(
    weights: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    title: str | None = None,
    panel_size: float = 2.6,
    vmax: float | None = 1.0,
):
    """Draw a grid of maps, e.g. layers x heads, all with one colour scale.

    Each panel is drawn by :func:`plot_attention`; only the outer panels carry
    axis labels. A 3-D input is drawn as one row. ``query_tokens`` and
    ``key_tokens`` are either one token list for every panel or one list per
    row (for rows that show different examples).

    Returns:
        The Figure.

    Shapes:
        weights (R, C, Lq, Lk) or (C, Lq, Lk)
    """
    import matplotlib.pyplot as plt

    w = _to_numpy(weights)
    if w.ndim == 3:
        w = w[None]
    if w.ndim != 4:
        raise ValueError(
            f"weights must be (R, C, Lq, Lk) or (C, Lq, Lk), got {fmt_shape(w.shape)}"
        )
    n_rows, n_cols = w.shape[:2]
    per_row = {}
    for name, tokens in (("query_tokens", query_tokens), ("key_tokens", key_tokens)):
        nested = (
            tokens is not None and len(tokens) > 0 and not isinstance(tokens[0], str)
        )
        if nested and len(tokens) != n_rows:
            raise ValueError(
                f"{name} has {len(tokens)} per-row lists for {n_rows} rows"
            )
        per_row[name] = list(tokens) if nested else [tokens] * n_rows
    for name, labels, n in (
        ("row_labels", row_labels, n_rows),
        ("col_labels", col_labels, n_cols),
    ):
        if labels is not None and len(labels) != n:
            raise ValueError(f"{name} has {len(labels)} entries for {n} panels")
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(panel_size * n_cols + 1.0, panel_size * n_rows + 0.6),
        squeeze=False,
        constrained_layout=True,
    )
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r, c]
            parts = [
                row_labels[r] if row_labels else None,
                col_labels[c] if col_labels else None,
            ]
            plot_attention(
                w[r, c],
                per_row["query_tokens"][r],
                per_row["key_tokens"][r],
                ax=ax,
                colorbar=False,
                vmax=vmax,
                title=", ".join(p for p in parts if p) or None,
                xlabel="key (source) tokens" if r == n_rows - 1 else "",
                ylabel="query (target) tokens" if c == 0 else "",
            )
    fig.colorbar(axes[0, 0].images[0], ax=axes, fraction=0.02, pad=0.01, label="weight")
    if title:
        fig.suptitle(title)
    return fig
