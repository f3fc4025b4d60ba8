"""Attention maps as heatmaps: one helper for every map in the book.

Rows are query (target) tokens, columns are key (source) tokens, and padding
is cropped: pass the real tokens only and the matrix is cut to their lengths.
Keys a mask hides, where they are drawn at all, are hatched in grey, so that a
hidden key never reads as a small weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xattn.checks import fmt_shape

HIDDEN_FACE, HIDDEN_HATCH = "0.93", "0.55"  # light grey cells, darker grey lines


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


def _mask_for(mask, shape: tuple[int, int]) -> np.ndarray | None:
    """A bool mask (True = may attend) broadcast to the map's (Lq, Lk), as NumPy."""
    if mask is None:
        return None
    m = (
        mask.detach().cpu().numpy()
        if isinstance(mask, torch.Tensor)
        else np.asarray(mask)
    )
    if m.dtype != bool:
        raise ValueError(f"mask must be bool (True = may attend), got dtype {m.dtype}")
    try:
        return np.broadcast_to(m, shape)
    except ValueError:
        raise ValueError(
            f"mask {fmt_shape(m.shape)} does not broadcast to the map "
            f"{fmt_shape(shape)}; "
            "pass (Lk,), (1, Lk) or (Lq, Lk)"
        ) from None


def _hatch_hidden(ax, hidden: np.ndarray) -> None:
    """Cover each run of hidden cells in a row with one hatched grey rectangle."""
    from matplotlib.patches import Rectangle

    for i, row in enumerate(hidden):
        j = 0
        while j < len(row):
            if not row[j]:
                j += 1
                continue
            start = j
            while j < len(row) and row[j]:
                j += 1
            ax.add_patch(
                Rectangle(
                    (start - 0.5, i - 0.5), j - start, 1, facecolor=HIDDEN_FACE,
                    edgecolor=HIDDEN_HATCH, hatch="///", linewidth=0,
                )
            )  # fmt: skip


def plot_attention(
    weights: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    mask: torch.Tensor | np.ndarray | None = None,
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
    fontsize: float | None = None,
):
    """Draw one attention map as a heatmap with token labels.

    Args:
        weights: the map; a tensor is detached and moved to the CPU.
        query_tokens: labels of the rows; fewer than Lq crops the padded rows.
        key_tokens: labels of the columns; fewer than Lk crops the padded columns.
        mask: bool, True = may attend, broadcastable to (Lq, Lk); the cells it
            hides are hatched in grey instead of coloured by their weight.
        ax: the matplotlib Axes to draw on; default a new figure.
        title, xlabel, ylabel: text for the axes.
        cmap, vmin, vmax: colour map and its range (vmin 0 so that zero reads as zero).
        colorbar: add a colour bar beside the map.
        cbar_label: the colour bar's label ("score" for maps before the softmax).
        annotate: write each weight in its cell (for small maps).
        fmt: number format for ``annotate``.
        fontsize: size of the tick labels (token labels); default matplotlib's.

    Returns:
        The Axes drawn on.

    Shapes:
        weights (Lq, Lk), mask (Lq | 1, Lk) or (Lk,)
    """
    import matplotlib.pyplot as plt

    w = _to_numpy(weights)
    if w.ndim != 2:
        raise ValueError(
            f"weights must be 2-D (Lq, Lk), got {fmt_shape(w.shape)}; "
            "pick one item and head first, e.g. weights[0, h]"
        )
    hidden = None if mask is None else ~_mask_for(mask, w.shape)
    rows = _labels(query_tokens, w.shape[0], "query_tokens", "rows (Lq)")
    cols = _labels(key_tokens, w.shape[1], "key_tokens", "columns (Lk)")
    w = w[: len(rows), : len(cols)]  # crop padding
    if ax is None:
        _, ax = plt.subplots(figsize=(0.3 * len(cols) + 2.5, 0.3 * len(rows) + 1.8))
    image = ax.imshow(
        w, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest"
    )
    if hidden is not None:
        hidden = hidden[: len(rows), : len(cols)]
        _hatch_hidden(ax, hidden)
    rotation = 90 if max(map(len, cols), default=0) > 2 else 0
    ax.set_xticks(range(len(cols)), cols, rotation=rotation, fontsize=fontsize)
    ax.set_yticks(range(len(rows)), rows, fontsize=fontsize)
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
                if hidden is not None and hidden[i, j]:
                    continue
                colour = "black" if luminance[i, j] > 0.5 else "white"
                text = format(w[i, j], fmt)
                ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=cbar_label)
    return ax


def plot_scores(
    scores: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    ax=None,
    title: str | None = None,
    annotate: bool = True,
    colorbar: bool = True,
    limit: float | None = None,
    xlabel: str = "key (source) tokens",
    ylabel: str = "query (target) tokens",
):
    """Draw a score map (before the softmax): a diverging colour scale centred on 0.

    Red is positive, blue negative, white zero; each cell carries its score to
    one decimal when ``annotate`` is set.

    Args:
        scores: the map; any real numbers.
        query_tokens, key_tokens: row and column labels, as for :func:`plot_attention`.
        ax: the Axes to draw on; default a new figure.
        title: the title.
        annotate: write each score in its cell.
        colorbar: add a colour bar labelled "score".
        limit: the colour scale runs from -limit to +limit; default: the largest score.
        xlabel, ylabel: the axis labels.

    Returns:
        The Axes drawn on.

    Shapes:
        scores (Lq, Lk)
    """
    s = _to_numpy(scores)
    lim = float(np.abs(s).max()) if limit is None else float(limit)
    lim = lim if lim > 0 else 1.0
    ax = plot_attention(
        s, query_tokens, key_tokens, ax=ax, title=title, cmap="RdBu_r", vmin=-lim,
        vmax=lim, colorbar=False, xlabel=xlabel, ylabel=ylabel,
    )  # fmt: skip
    if annotate:
        rows, cols = len(ax.get_yticks()), len(ax.get_xticks())
        for (i, j), value in np.ndenumerate(s[:rows, :cols]):
            colour = "white" if abs(value) > 0.6 * lim else "black"  # legible when dark
            text = f"{value:.1f}" if abs(value) >= 0.05 else "0.0"  # no "-0.0"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=colour)
    if colorbar:
        ax.figure.colorbar(ax.images[0], ax=ax, fraction=0.046, pad=0.04, label="score")
    return ax


def plot_attention_grid(
    weights: torch.Tensor | np.ndarray,
    query_tokens: Sequence[str] | None = None,
    key_tokens: Sequence[str] | None = None,
    *,
    mask: torch.Tensor | np.ndarray | None = None,
    row_labels: Sequence[str] | None = None,
    col_labels: Sequence[str] | None = None,
    titles: Sequence[Sequence[str]] | None = None,
    title: str | None = None,
    panel_size: float | tuple[float, float] = 2.6,
    vmax: float | None = 1.0,
    fontsize: float | None = None,
):
    """Draw a grid of maps, e.g. layers x heads, all with one colour scale.

    Each panel is drawn by :func:`plot_attention`; only the outer panels carry
    axis labels. A 3-D input is drawn as one row. ``query_tokens`` and
    ``key_tokens`` are either one token list for every panel or one list per
    row (for rows that show different examples).

    Args:
        weights: the maps.
        query_tokens, key_tokens: labels, one list for all panels or one per row.
        mask: bool, True = may attend, broadcastable to ``weights``; hidden cells
            are hatched.
        row_labels, col_labels: a title part per row and per column.
        titles: one title per panel, R lists of C (instead of row and column labels).
        title: the figure's title.
        panel_size: width and height of each panel in inches, or (width, height).
        vmax: the top of the shared colour scale.
        fontsize: size of the token labels.

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
    masks = None if mask is None else _mask_for(mask, w.shape)
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
    if titles is not None and (
        len(titles) != n_rows or any(len(row) != n_cols for row in titles)
    ):
        raise ValueError(
            f"titles must be {n_rows} lists of {n_cols} titles, one per panel"
        )
    width, height = panel_size if isinstance(panel_size, tuple) else (panel_size,) * 2
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(width * n_cols + 1.0, height * n_rows + 0.6),
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
                mask=None if masks is None else masks[r, c],
                ax=ax,
                colorbar=False,
                vmax=vmax,
                fontsize=fontsize,
                title=titles[r][c]
                if titles
                else ", ".join(p for p in parts if p) or None,
                xlabel="key (source) tokens" if r == n_rows - 1 else "",
                ylabel="query (target) tokens" if c == 0 else "",
            )
    fig.colorbar(axes[0, 0].images[0], ax=axes, fraction=0.02, pad=0.01, label="weight")
    if title:
        fig.suptitle(title)
    return fig
