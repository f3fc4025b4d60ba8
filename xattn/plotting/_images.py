"""Attention over an image: a grid of weights laid over the picture it was read from.

One helper for every figure of this kind: a caption word's attention over the patches
of a scene, an object query's, a latent array's over the pixels of an image. The
weights form a grid over the image (one cell per patch, or per pixel), drawn on top of
it in one colour scale; boxes (true or predicted objects) go on top of both. Images
are channels-first, as the book's tensors are: (3, H, W), (1, H, W) or (H, W), values
in [0, 1]; boxes are ``(x0, y0, x1, y1)`` in pixels, x to the right and y down.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

from xattn.checks import fmt_shape


def _array(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().float().cpu().numpy()
    return np.asarray(x, dtype=float)


def _image(image) -> np.ndarray:
    """A channels-first image as what ``imshow`` draws: (H, W, 3) or (H, W)."""
    a = _array(image)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)
    if a.ndim == 2:
        return a
    raise ValueError(
        f"image must be (3, H, W), (1, H, W) or (H, W), channels first, got image "
        f"{fmt_shape(a.shape)}"
    )


def _grid(weights, grid: tuple[int, int] | None) -> np.ndarray:
    """The weights as an (R, C) grid over the image, row-major as patches are read."""
    w = _array(weights)
    if w.ndim == 2 and grid is None:
        return w
    if w.ndim not in (1, 2):
        raise ValueError(
            f"weights must be (N,) or (R, C) for one image, got weights "
            f"{fmt_shape(w.shape)}"
        )
    if grid is None:
        side = math.isqrt(w.size)
        if side * side != w.size:
            raise ValueError(
                f"weights {fmt_shape(w.shape)}: {w.size} is not a square number of "
                "cells; pass grid=(rows, cols)"
            )
        grid = (side, side)
    if (
        len(grid) != 2
        or any(isinstance(g, bool) or not isinstance(g, int) or g < 1 for g in grid)
        or grid[0] * grid[1] != w.size
    ):
        raise ValueError(
            f"grid must be (rows, cols) of positive ints with rows * cols = {w.size} "
            f"for weights {fmt_shape(w.shape)}, got grid={grid!r}"
        )
    return w.reshape(grid)


def _boxes(boxes) -> list[tuple[float, float, float, float]]:
    if boxes is None:
        return []
    a = _array(boxes)
    if a.size == 0:
        return []
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != 4:
        raise ValueError(
            "boxes must be (x0, y0, x1, y1) each, (K, 4), got boxes "
            f"{fmt_shape(a.shape)}"
        )
    return [tuple(map(float, b)) for b in a]


def _colors(colors, n: int, name: str) -> list:
    if isinstance(colors, str) or colors is None:
        return [colors] * n
    colors = list(colors)
    if len(colors) != n:
        raise ValueError(f"{name} has {len(colors)} colours for {n} boxes")
    return colors


def plot_image_attention(
    image: torch.Tensor | np.ndarray,
    weights: torch.Tensor | np.ndarray | None = None,
    *,
    boxes: torch.Tensor | np.ndarray | Sequence | None = None,
    box_color: str | Sequence[str] = "cyan",
    box_style: str = "-",
    grid: tuple[int, int] | None = None,
    ax=None,
    title: str | None = None,
    cmap: str = "magma",
    alpha: float = 0.65,
    vmin: float = 0.0,
    vmax: float | None = None,
    colorbar: bool = True,
    cbar_label: str = "attention weight",
    ticks: bool = True,
    patch_lines: int | None = None,
    fontsize: float | None = None,
):
    """Draw an image with a grid of weights over it, and boxes on top.

    Args:
        image: (3, H, W), (1, H, W) or (H, W), channels first, values in [0, 1].
        weights: one weight per cell of a grid over the whole image, e.g. per
            patch; None draws the image alone.
        boxes: (x0, y0, x1, y1) in pixels, one box (4,) or K of them (K, 4).
        box_color: one colour for every box, or one per box.
        box_style: the boxes' line style (``"--"`` dashed).
        grid: (rows, cols) of the weights when they are flat and not a square.
        ax: the Axes to draw on; default a new figure.
        title: the panel's title (the word, the query).
        cmap, alpha: the weights' colour map and opacity over the image.
        vmin, vmax: the colour scale; vmax defaults to the largest weight.
        colorbar: add a colour bar beside the panel.
        cbar_label: the colour bar's label.
        ticks: pixel ticks and the axis labels ``x (pixels)``, ``y (pixels)``.
        patch_lines: draw faint lines every ``patch_lines`` pixels (the patches).
        fontsize: size of the title and the tick labels.

    Returns:
        The Axes drawn on.

    Shapes:
        image (3, H, W), weights (N,) with N = rows * cols (a square by default)
        or (rows, cols), boxes (K, 4)
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    picture = _image(image)
    h, w = picture.shape[:2]
    extent = (0, w, h, 0)  # pixel edges: x right, y down, as the boxes are
    if ax is None:
        _, ax = plt.subplots(figsize=(2.6 if colorbar else 2.2, 2.2))
    ax.imshow(picture, extent=extent, cmap="gray", vmin=0.0, vmax=1.0)
    if weights is not None:
        heat = _grid(weights, grid)
        top = float(np.nanmax(heat)) if vmax is None else float(vmax)
        heat_image = ax.imshow(
            heat,
            extent=extent,
            cmap=cmap,
            alpha=alpha,
            vmin=vmin,
            vmax=max(top, vmin + 1e-12),
            interpolation="nearest",
        )
        if colorbar:
            ax.figure.colorbar(
                heat_image, ax=ax, fraction=0.046, pad=0.04, label=cbar_label
            )
    if patch_lines is not None:
        if (
            isinstance(patch_lines, bool)
            or not isinstance(patch_lines, int)
            or (patch_lines < 1)
        ):
            raise ValueError(
                f"patch_lines must be a positive int (pixels), got {patch_lines!r}"
            )
        for p in range(patch_lines, max(h, w), patch_lines):
            ax.axhline(p, color="white", linewidth=0.3, alpha=0.4)
            ax.axvline(p, color="white", linewidth=0.3, alpha=0.4)
    found = _boxes(boxes)
    for box, colour in zip(found, _colors(box_color, len(found), "box_color")):
        x0, y0, x1, y1 = box
        ax.add_patch(
            Rectangle(
                (x0, y0),
                x1 - x0,
                y1 - y0,
                fill=False,
                edgecolor=colour,
                linewidth=1.2,
                linestyle=box_style,
            )
        )
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    if ticks:
        ax.set_xticks([0, w // 2, w])
        ax.set_yticks([0, h // 2, h])
        ax.tick_params(labelsize=fontsize)
        ax.set_xlabel("x (pixels)", fontsize=fontsize)
        ax.set_ylabel("y (pixels)", fontsize=fontsize)
    else:
        ax.set_xticks([])
        ax.set_yticks([])
    if title is not None:
        ax.set_title(title, fontsize=fontsize)
    return ax


def _per_panel(value, n: int, name: str, single) -> list:
    """One value for every panel, or a list of one per panel (``single`` says which)."""
    if single(value):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ValueError(f"{name} has {len(value)} entries for {n} panels")
    return value


def _is_image(x) -> bool:
    return isinstance(x, (torch.Tensor, np.ndarray)) and x.ndim in (2, 3)


def _is_box_set(x) -> bool:
    # None, one (K, 4) array, or a list of boxes (each four numbers).
    if x is None or isinstance(x, (torch.Tensor, np.ndarray)):
        return True
    x = list(x)
    return not x or all(
        b is not None
        and not isinstance(b, (torch.Tensor, np.ndarray))
        and len(b) == 4
        and all(isinstance(v, numbers.Real) for v in b)
        for b in x
    )


def plot_image_attention_grid(
    images: torch.Tensor | np.ndarray | Sequence,
    weights: torch.Tensor | np.ndarray | Sequence,
    *,
    titles: Sequence[str] | None = None,
    boxes=None,
    box_color: str | Sequence = "cyan",
    box_style: str = "-",
    grid: tuple[int, int] | None = None,
    ncols: int = 5,
    panel_size: float = 1.5,
    cmap: str = "magma",
    alpha: float = 0.65,
    vmin: float = 0.0,
    vmax: float | None = None,
    cbar_label: str = "attention weight",
    colorbar: str | None = "bottom",
    title: str | None = None,
    ticks: bool = True,
    patch_lines: int | None = None,
    fontsize: float | None = 9,
):
    """Draw several weight grids over images in panels with one colour scale.

    Every panel is drawn by :func:`plot_image_attention`; the colour scale runs
    from ``vmin`` to the largest weight of all panels (or ``vmax``), and one colour
    bar says what it means. Pixel ticks stand on the outer panels only.

    Args:
        images: one image for every panel, (3, H, W), or one per panel, (K, 3, H, W)
            or a list of K images.
        weights: one grid per panel, (K, N) or (K, rows, cols), or a list of K grids
            in which None draws the image alone (a panel of the scene itself).
        titles: one title per panel (the words, the queries).
        boxes: boxes for every panel (a (K, 4) array or a list of 4-number boxes), or
            a list with one such set (or None) per panel.
        box_color: a colour for every box, or one per panel (each a colour or a
            list of one per box).
        box_style: the boxes' line style.
        grid: (rows, cols) of flat weights that are not a square.
        ncols: panels per row; the panels fill rows of ``ncols``.
        panel_size: each panel's width and height in inches.
        cmap, alpha, vmin, vmax: as for :func:`plot_image_attention`.
        cbar_label: the colour bar's label.
        colorbar: where the one colour bar goes, ``"bottom"`` or ``"right"``, or
            None for none.
        title: the figure's title.
        ticks: pixel ticks and axis labels on the outer panels (left column,
            bottom row).
        patch_lines: draw faint lines every ``patch_lines`` pixels (the patches).
        fontsize: size of the titles and tick labels.

    Returns:
        The Figure.

    Shapes:
        images (3, H, W) or (K, 3, H, W), weights (K, N) or (K, rows, cols)
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    panels = list(weights)
    n = len(panels)
    if n == 0:
        raise ValueError("weights must hold at least one panel, got none")
    if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int, got {ncols!r}")
    if colorbar not in ("bottom", "right", None):
        raise ValueError(
            f"colorbar must be 'bottom', 'right' or None, got {colorbar!r}"
        )
    pictures = _per_panel(images, n, "images", _is_image)
    box_sets = _per_panel(boxes, n, "boxes", _is_box_set)
    colours = _per_panel(box_color, n, "box_color", lambda c: isinstance(c, str))
    if isinstance(titles, str):
        raise ValueError(
            f"titles must be one title per panel, got the string {titles!r}"
        )
    names = [None] * n if titles is None else _per_panel(titles, n, "titles", _no)
    grids = [None if p is None else _grid(p, grid) for p in panels]
    drawn = [g for g in grids if g is not None]
    top = max((float(np.nanmax(g)) for g in drawn), default=1.0)
    top = top if vmax is None else float(vmax)
    rows = -(-n // ncols)
    cols = min(n, ncols)
    # Room around the square panels for titles, ticks, the colour bar and the title,
    # so that the panels themselves keep ``panel_size``.
    width = cols * (panel_size + 0.04) + (0.5 if ticks else 0.0)
    height = rows * (panel_size + 0.3 + (0.3 if ticks else 0.0))
    width += 0.8 if colorbar == "right" else 0.0
    height += (0.6 if colorbar == "bottom" else 0.0) + (0.3 if title else 0.0)
    fig, axes = plt.subplots(
        rows, cols, figsize=(width, height), squeeze=False, layout="constrained"
    )
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        r, c = divmod(k, cols)
        plot_image_attention(
            pictures[k],
            grids[k],
            boxes=box_sets[k],
            box_color=colours[k],
            box_style=box_style,
            ax=ax,
            title=names[k],
            cmap=cmap,
            alpha=alpha,
            vmin=vmin,
            vmax=top,
            colorbar=False,
            ticks=False,
            patch_lines=patch_lines,
            fontsize=fontsize,
        )
        h, w = _image(pictures[k]).shape[:2]
        if ticks and c == 0:
            ax.set_yticks([0, h // 2, h])
            ax.set_ylabel("y (pixels)", fontsize=fontsize)
        if ticks and (r == rows - 1 or k + cols >= n):
            ax.set_xticks([0, w // 2, w])
            if c == 0:
                ax.set_xlabel("x (pixels)", fontsize=fontsize)
        ax.tick_params(labelsize=fontsize)
    if colorbar and drawn:
        # The bar shows the colour map opaque, not blended as it is over the images.
        scale = ScalarMappable(Normalize(vmin, max(top, vmin + 1e-12)), cmap)
        bar = fig.colorbar(
            scale,
            ax=axes,
            location=colorbar,
            fraction=0.05 if colorbar == "bottom" else 0.03,
            aspect=40 if colorbar == "bottom" else 20,
            pad=0.02,
        )
        bar.set_label(cbar_label, fontsize=fontsize)
        bar.ax.tick_params(labelsize=fontsize)
    if title:
        fig.suptitle(title, fontsize=fontsize)
    return fig


def _no(_) -> bool:
    return False
