"""Attribution maps side by side, scaled the way they are scored.

Explanation methods give maps of very different units (attention weights sum to
one per row, gradients can be any sign and size), and a method is scored by the
source token it ranks first in each row. So each row is divided by its largest
magnitude: its top cell is 1 in every panel, the panels share one colour scale,
and a dot marks the top cell. Where the right source span of each row is known
(the field an intervention says the output character reads), it is outlined: a
dot inside the box is a hit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from xattn.checks import fmt_shape
from xattn.plotting._maps import _to_numpy, plot_attention

TRUTH_COLOUR = "tab:orange"


def _ids(name: str, ids, n: int) -> np.ndarray | None:
    """Integer ids, one per row or column, -1 for none; at least ``n`` of them."""
    if ids is None:
        return None
    a = ids.detach().cpu().numpy() if isinstance(ids, torch.Tensor) else np.asarray(ids)
    if a.ndim != 1 or not np.issubdtype(a.dtype, np.integer) or len(a) < n:
        raise ValueError(
            f"{name} must be 1-D integer ids, at least {n} (one per token drawn), got "
            f"{fmt_shape(a.shape)} of dtype {a.dtype}"
        )
    return a[:n]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """The half-open runs of True in a 1-D bool array."""
    runs, start = [], None
    for i, on in enumerate([*mask, False]):
        if on and start is None:
            start = i
        elif not on and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _row_scaled(attributions) -> np.ndarray:
    """``|a|`` with each row divided by its largest entry (rows of zeros stay zero).

    Shapes:
        attributions (..., Lq, Lk) -> the same
    """
    a = np.abs(_to_numpy(attributions))
    top = a.max(-1, keepdims=True) if a.shape[-1] else np.ones(a.shape[:-1] + (1,))
    return np.divide(a, top, out=np.zeros_like(a), where=top > 0)


def plot_attributions(
    maps: Mapping[str, torch.Tensor | np.ndarray],
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    *,
    key_fields: Sequence[int] | torch.Tensor | None = None,
    truth: Sequence[int] | torch.Tensor | None = None,
    field_names: Sequence[str] | None = None,
    ncols: int = 2,
    panel_size: tuple[float, float] = (3.7, 2.5),
    fontsize: float | None = 7,
):
    """Draw attribution maps side by side, each row scaled to its largest magnitude.

    Every panel shows ``|a|`` divided row by row by the row's largest ``|a|``, on
    one colour scale from 0 to 1 with one colour bar; a dot marks each row's top
    cell, the one a method is scored by. Padding is cropped to the tokens given.

    Args:
        maps: a title -> map (Lq, Lk) per panel, drawn in order, ``ncols`` a row.
        query_tokens: the rows' labels (target tokens).
        key_tokens: the columns' labels (source tokens).
        key_fields: a field id per key, -1 for none: the fields are separated by
            thin lines (and named above the panels, with ``field_names``).
        truth: a field id per query, -1 for none: each row's keys of that field
            are outlined (needs ``key_fields``).
        field_names: the name of each field id, for the labels above the panels.
        ncols: panels per row.
        panel_size: width and height of a panel in inches.
        fontsize: size of the token labels.

    Returns:
        The Figure.

    Shapes:
        each map (Lq, Lk), key_fields (Lk,), truth (Lq,)
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    if not isinstance(maps, Mapping) or not maps:
        raise ValueError(f"maps must be a non-empty mapping title -> map, got {maps!r}")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    arrays = {str(name): _to_numpy(m) for name, m in maps.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        got = ", ".join(f"{n} {fmt_shape(a.shape)}" for n, a in arrays.items())
        raise ValueError(f"maps must all be 2-D (Lq, Lk) of one shape, got {got}")
    lq, lk = next(iter(shapes))
    if len(query_tokens) > lq or len(key_tokens) > lk:
        raise ValueError(
            f"{len(query_tokens)} query_tokens and {len(key_tokens)} key_tokens for "
            f"maps of shape {fmt_shape((lq, lk))}: at most one token per row and column"
        )
    rows, cols = len(query_tokens), len(key_tokens)
    fields = _ids("key_fields", key_fields, cols)
    wanted = _ids("truth", truth, rows)
    if wanted is not None and fields is None:
        raise ValueError("truth needs key_fields: the keys of each field to outline")
    n_fields = 0 if fields is None else int(fields.max(initial=-1)) + 1
    if field_names is not None and len(field_names) < n_fields:
        raise ValueError(
            f"field_names has {len(field_names)} names for {n_fields} field ids"
        )
    n_rows = -(-len(arrays) // ncols)
    width, height = panel_size
    fig, axes = plt.subplots(
        n_rows,
        ncols,
        figsize=(width * ncols + 0.8, height * n_rows + 0.4),
        squeeze=False,
        constrained_layout=True,
    )
    for i, (name, a) in enumerate(arrays.items()):
        ax = axes[i // ncols, i % ncols]
        scaled = _row_scaled(a[:rows, :cols])
        plot_attention(
            scaled,
            query_tokens,
            key_tokens,
            ax=ax,
            vmin=0.0,
            vmax=1.0,
            colorbar=False,
            fontsize=fontsize,
            title=name,
            xlabel="key (source) tokens" if i // ncols == n_rows - 1 else "",
            ylabel="query (target) tokens" if i % ncols == 0 else "",
        )
        if fields is not None:
            for k in np.flatnonzero(fields[1:] != fields[:-1]):
                ax.axvline(k + 0.5, color="white", linewidth=0.6)
        if fields is not None and field_names is not None:
            ax.set_title(name, pad=12)  # room for the field names under it
            for f in range(n_fields):
                for k0, k1 in _runs(fields == f):
                    ax.text(
                        (k0 + k1 - 1) / 2,
                        -0.6,
                        field_names[f],
                        ha="center",
                        va="bottom",
                        fontsize=fontsize,
                        color="0.3",
                    )
        if wanted is not None:
            for q in np.flatnonzero(wanted >= 0):
                for k0, k1 in _runs(fields == wanted[q]):
                    ax.add_patch(
                        Rectangle(
                            (k0 - 0.5, q - 0.5),
                            k1 - k0,
                            1,
                            fill=False,
                            edgecolor=TRUTH_COLOUR,
                            linewidth=1.2,
                        )
                    )
        top = scaled.argmax(-1)
        ax.scatter(
            top,
            np.arange(rows),
            s=9,
            c="white",
            edgecolors="black",
            linewidths=0.5,
            zorder=3,
        )
    for j in range(len(arrays), n_rows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    fig.colorbar(
        axes[0, 0].images[0],
        ax=axes,
        fraction=0.03,
        pad=0.01,
        label="|attribution| / largest in its row",
    )
    return fig
