"""Attention as lines: the query tokens in a row above the key tokens, a line per pair.

Where a heatmap puts the (query, key) pairs on a grid, this figure keeps the two
sequences in their reading order and joins every query to every key, so that the
shape of the computation (all pairs; a rectangle for two sequences, a square for
one) and the crossing of an alignment are what the eye sees first. Given weights,
each line is as wide and as opaque as its weight; without them every pair gets the
same thin grey line (the pairs that will get a score).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xattn.checks import fmt_shape

QUERY_COLOUR, KEY_COLOUR = "tab:orange", "tab:blue"


def _positions(n: int, width: float) -> np.ndarray:
    """n points spread evenly over 0.5 +- width / 2 (a single one in the middle)."""
    if n == 1:
        return np.array([0.5])
    return np.linspace(0.5 - width / 2, 0.5 + width / 2, n)


def plot_attention_lines(
    weights: torch.Tensor | np.ndarray | None,
    query_tokens: Sequence[str],
    key_tokens: Sequence[str],
    *,
    ax=None,
    title: str | None = None,
    query_label: str = "queries",
    key_label: str = "keys, values",
    colour: str = "tab:purple",
):
    """Draw the query tokens above the key tokens, joined by a line for every pair.

    Args:
        weights: the attention weights, one row per query; None draws every pair
            with the same thin grey line.
        query_tokens: labels of the top row (the target, whose tokens ask).
        key_tokens: labels of the bottom row (the source, whose tokens answer).
        ax: the Axes to draw on; default a new figure.
        title: the Axes' title.
        query_label, key_label: the labels of the two rows on the y axis.
        colour: the colour of weighted lines.

    Returns:
        The Axes drawn on; its first Lq x Lk lines are the pairs, row by row.

    Shapes:
        weights (Lq, Lk), as many rows and columns as there are tokens
    """
    import matplotlib.pyplot as plt

    queries, keys = [str(t) for t in query_tokens], [str(t) for t in key_tokens]
    if not queries or not keys:
        raise ValueError(
            f"query_tokens and key_tokens must not be empty, got {len(queries)} and "
            f"{len(keys)}"
        )
    w = None
    if weights is not None:
        w = (
            weights.detach().float().cpu().numpy()
            if isinstance(weights, torch.Tensor)
            else np.asarray(weights, dtype=float)
        )
        if w.shape != (len(queries), len(keys)):
            raise ValueError(
                f"weights must be (Lq, Lk) = {fmt_shape((len(queries), len(keys)))} "
                f"for {len(queries)} query and {len(keys)} key tokens, got "
                f"{fmt_shape(w.shape)}"
            )
    if ax is None:
        _, ax = plt.subplots(figsize=(0.7 * max(len(queries), len(keys)) + 1.5, 2.6))
    # The shorter row is drawn narrower, centred, so that lines fan out or in.
    longest = max(len(queries), len(keys))
    top = _positions(len(queries), 0.9 * (len(queries) - 1) / max(longest - 1, 1))
    bottom = _positions(len(keys), 0.9 * (len(keys) - 1) / max(longest - 1, 1))
    for i, xq in enumerate(top):
        for j, xk in enumerate(bottom):
            if w is None:
                style = dict(color="tab:gray", alpha=0.5, lw=1)
            else:
                share = float(np.clip(w[i, j], 0.0, 1.0))
                style = dict(
                    color=colour, alpha=0.15 + 0.85 * share, lw=0.3 + 6 * share
                )
            ax.plot([xq, xk], [1, 0], **style)
    ax.scatter(top, np.ones_like(top), s=500, color=QUERY_COLOUR, zorder=3)
    ax.scatter(bottom, np.zeros_like(bottom), s=500, color=KEY_COLOUR, zorder=3)
    offset = dict(textcoords="offset points", ha="center")
    for xq, token in zip(top, queries):
        ax.annotate(token, (xq, 1), xytext=(0, 14), **offset)
    for xk, token in zip(bottom, keys):
        ax.annotate(token, (xk, 0), xytext=(0, -22), **offset)
    if title:
        ax.set_title(title, fontsize=10)
    ax.set_ylim(-0.4, 1.4)
    ax.set_xlim(-0.1, 1.1)
    ax.set_yticks([0, 1], [key_label, query_label])
    ax.set_xticks([])
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    return ax
