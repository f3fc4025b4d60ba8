"""Attention over audio frames: on a spectrogram, and as a step x frame matrix.

Time runs left to right in input frames (10 ms each in the book's speech task),
and every character's true span, in those frames, is drawn: the figures show
whether attention lands where the character is spoken.

- :func:`plot_spectrogram` draws log-mel features as an image with the true
  character boundaries and the characters written between them; given attention
  weights over memory frames (each covering ``factor`` input frames), it draws each
  character's weights as a step curve over the frames it attends to.
- :func:`plot_frame_alignment` draws a (characters x memory frames) matrix, the
  cross-attention or a guide such as the guided-attention penalty, with each
  character's true span outlined in its row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from xattn.checks import fmt_shape


def _array(name: str, x, dims: int) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu().numpy()
    x = np.asarray(x, dtype=float)
    if x.ndim != dims:
        raise ValueError(
            f"{name} must have {dims} dims, got {name} {fmt_shape(x.shape)}"
        )
    if not np.isfinite(x).all():
        raise ValueError(f"{name} must be finite, got NaN or inf in {name}")
    return x


def _spans(spans, text: Sequence[str] | None, n_frames: float) -> np.ndarray | None:
    """(L, 2) [start, end) in input frames, rows of -1 (padding) dropped."""
    if spans is None:
        return None
    s = np.asarray(
        spans.detach().cpu() if isinstance(spans, torch.Tensor) else spans, dtype=float
    )
    if s.ndim != 2 or s.shape[-1] != 2:
        raise ValueError(f"spans must be (L, 2) frames, got spans {fmt_shape(s.shape)}")
    s = s[s[:, 0] >= 0]
    if (s[:, 1] <= s[:, 0]).any() or (s[:, 1] > n_frames).any():
        raise ValueError(
            f"spans must be [start, end) with start < end <= {n_frames:g} frames, got "
            f"{s.tolist()}"
        )
    if text is not None and len(text) != len(s):
        raise ValueError(f"text has {len(text)} characters but spans {len(s)} rows")
    return s


def _label(ch: str) -> str:
    return "\u2423" if ch == " " else str(ch)


def plot_spectrogram(
    features: torch.Tensor | np.ndarray,
    *,
    spans: torch.Tensor | np.ndarray | None = None,
    text: Sequence[str] | None = None,
    weights: torch.Tensor | np.ndarray | None = None,
    factor: int = 1,
    ax=None,
    title: str | None = None,
    cmap: str = "magma",
    scale: float | None = None,
):
    """Draw log-mel features over time, with the true spans and, if given, attention.

    Args:
        features: the real frames of one utterance (padding cropped).
        spans: each character's [start, end) in input frames; every start and the
            last end are drawn as vertical lines.
        text: the characters, written between their boundaries (with ``spans``) and
            beside their attention curves (with ``weights``).
        weights: attention of each character over memory frames; memory frame j
            covers input frames ``[j * factor, (j + 1) * factor)``. Each row is drawn
            as a step curve, ``scale`` mel bands tall at weight 1.
        factor: input frames per memory frame (8 after three halvings).
        ax: the Axes to draw on; default a new figure.
        title: the Axes' title.
        cmap: the spectrogram's colour map (grey reads best under the curves).
        scale: height of weight 1, in mel bands; default M (the whole height).

    Returns:
        The Axes drawn on.

    Shapes:
        features (F, M), spans (L, 2), weights (L, F') with F' * factor >= F
    """
    import matplotlib.pyplot as plt

    feats = _array("features", features, 2)
    n_frames, n_mels = feats.shape
    if not n_frames or not n_mels:
        raise ValueError(f"features must have frames and bands, got {feats.shape}")
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    s = _spans(spans, None if weights is not None else text, n_frames)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 2.6))
    ax.imshow(
        feats.T,
        origin="lower",
        aspect="auto",
        cmap=cmap,
        extent=(0, n_frames, 0, n_mels),
        interpolation="nearest",
    )
    ax.set_xlim(0, n_frames)
    ax.set_xlabel("input frame (10 ms)")
    ax.set_ylabel("mel band")
    line = "w" if weights is None else "0.5"
    if s is not None:
        for edge in [*s[:, 0], s[-1, 1]]:
            ax.axvline(edge, color=line, lw=0.8)
        if text is not None and weights is None:
            for ch, middle in zip(text, s.mean(1)):
                ax.text(
                    middle,
                    0.9 * n_mels,
                    _label(ch),
                    color="w",
                    ha="center",
                    fontsize=10,
                    weight="bold",
                )
    if weights is not None:
        w = _array("weights", weights, 2)
        if w.shape[1] * factor < n_frames:
            raise ValueError(
                f"weights {fmt_shape(w.shape)} over memory frames of {factor} input "
                f"frames each cover {w.shape[1] * factor} frames, fewer than the "
                f"features' {n_frames}"
            )
        if text is not None and len(text) != len(w):
            raise ValueError(
                f"text has {len(text)} characters but weights {len(w)} rows"
            )
        height = n_mels if scale is None else scale
        edges = np.arange(w.shape[1] + 1) * factor
        for n, row in enumerate(w):
            colour = plt.cm.tab10(n % 10)
            ax.stairs(height * row, edges, color=colour, lw=1.5)
            if text is not None:
                ax.text(
                    (row.argmax() + 0.5) * factor,
                    height * row.max() + 0.02 * n_mels,
                    _label(text[n]),
                    color=colour,
                    ha="center",
                    fontsize=10,
                    weight="bold",
                )
        ax.set_ylim(0, max(n_mels, 1.2 * height))
        ax.set_ylabel(f"mel band / weight x {height:g}")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def plot_frame_alignment(
    weights: torch.Tensor | np.ndarray,
    text: Sequence[str],
    *,
    spans: torch.Tensor | np.ndarray | None = None,
    factor: int = 1,
    ax=None,
    title: str | None = None,
    cmap: str = "viridis",
    vmin: float = 0.0,
    vmax: float | None = 1.0,
    colorbar: bool = True,
    cbar_label: str = "weight",
    xlabel: str = "input frame (10 ms)",
):
    """Draw a characters x memory frames matrix with each true span outlined.

    Row n is output step n (character ``text[n]``), column j memory frame j, drawn
    over input frames ``[j * factor, (j + 1) * factor)`` so that the x axis is
    time in input frames, as in :func:`plot_spectrogram`. Each character's true
    span is a white box in its row.

    Args:
        weights: the matrix (attention weights, or a penalty such as a guide).
        text: the characters, one per row (labels of the rows).
        spans: each character's [start, end) in input frames.
        factor: input frames per memory frame.
        ax: the Axes to draw on; default a new figure.
        title: the Axes' title.
        cmap, vmin, vmax: colour map and range (one range for panels compared).
        colorbar: add a colour bar beside the matrix.
        cbar_label: its label ("weight", "penalty").
        xlabel: the x axis' label.

    Returns:
        The Axes drawn on.

    Shapes:
        weights (L, F'), spans (L, 2)
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    w = _array("weights", weights, 2)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor!r}")
    if len(text) != len(w) or not len(w) or not w.shape[1]:
        raise ValueError(
            f"text must label every row of weights: {len(text)} characters vs "
            f"weights {fmt_shape(w.shape)}"
        )
    s = _spans(spans, text, w.shape[1] * factor)
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 0.35 * len(w) + 1.2))
    image = ax.imshow(
        w,
        cmap=cmap,
        vmin=vmin,
        vmax=vmax,
        aspect="auto",
        interpolation="nearest",
        extent=(0, w.shape[1] * factor, len(w) - 0.5, -0.5),
    )
    if s is not None:
        for n, (start, end) in enumerate(s):
            box = Rectangle(
                (start, n - 0.5), end - start, 1, fill=False, edgecolor="w", lw=1.2
            )
            ax.add_patch(box)
    ax.set_yticks(range(len(w)), [_label(ch) for ch in text])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("output character")
    if title:
        ax.set_title(title, fontsize=9)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=cbar_label)
    return ax
