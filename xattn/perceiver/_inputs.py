"""What a Perceiver reads: pixels with Fourier position features, modalities stacked.

Elements carry no order of their own: :func:`fourier_features` of the coordinates
say where each one is (:func:`grid_positions` for an image's pixels,
:func:`image_inputs` for whole images), and :func:`stack_modalities` puts several
kinds of input into one array, each element labelled with its modality.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import torch
from torch import nn

from xattn.checks import check_floating, check_positive_int, checked, fmt_shape


def _check_max_freq(max_freq: object) -> None:
    real = isinstance(max_freq, numbers.Real) and not isinstance(max_freq, bool)
    if not real or not math.isfinite(max_freq) or max_freq < 2:
        raise ValueError(
            f"max_freq must be a finite number >= 2 (the highest frequency is "
            f"max_freq / 2 >= 1), got {max_freq!r}"
        )


def _check_fourier_features(positions, n_bands, max_freq) -> None:
    check_floating("positions", positions)
    if positions.dim() < 1 or positions.shape[-1] == 0:
        raise ValueError(
            f"positions must be (..., P) with P >= 1 coordinates, got positions "
            f"{fmt_shape(positions)}"
        )
    check_positive_int("n_bands", n_bands)
    _check_max_freq(max_freq)
    if positions.numel() and not (positions.abs() <= 1).all():
        raise ValueError(
            "positions must be finite and in [-1, 1] (scale the coordinates first), "
            f"got values from {positions.min().item():g} to {positions.max().item():g}"
        )


@checked(_check_fourier_features)
def fourier_features(
    positions: torch.Tensor, n_bands: int, max_freq: float
) -> torch.Tensor:
    """Positions in [-1, 1] and their sines and cosines at ``n_bands`` frequencies.

    Frequencies f_k are spaced evenly from 1 to ``max_freq / 2`` (about the
    Nyquist frequency of a grid of ``max_freq`` points over [-1, 1]); each coordinate x
    gives ``x, sin(pi f_1 x), ..., sin(pi f_K x), cos(pi f_1 x), ..., cos(pi f_K x)``.

    Shapes:
        positions (..., P) -> (..., P * (2 K + 1))
    """
    freqs = torch.linspace(
        1.0, max_freq / 2, n_bands, dtype=positions.dtype, device=positions.device
    )  # (K,)
    angles = math.pi * positions[..., None] * freqs  # (..., P, K)
    out = torch.cat([positions[..., None], angles.sin(), angles.cos()], dim=-1)
    return out.flatten(-2)  # (..., P * (2K + 1))


def _check_grid_positions(height, width, dtype=torch.float32) -> None:
    check_positive_int("height", height)
    check_positive_int("width", width)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point torch.dtype, got {dtype!r}")


@checked(_check_grid_positions)
def grid_positions(
    height: int, width: int, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The (y, x) coordinates of every pixel, in [-1, 1], in row-major order.

    Row-major is the order of ``image.flatten(-2)``, so row i belongs to pixel
    ``(i // width, i % width)``.

    Shapes:
        -> (H * W, 2)
    """
    ys = torch.linspace(-1.0, 1.0, height, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, width, dtype=dtype)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)  # (H, W, 2)
    return grid.reshape(height * width, 2)


def _check_image_inputs(images, n_bands=6, max_freq=None) -> None:
    check_floating("images", images)
    if images.dim() != 4 or images.shape[-1] == 0 or images.shape[-2] == 0:
        raise ValueError(
            f"images must be (B, C, H, W) with H, W >= 1, got images "
            f"{fmt_shape(images)}"
        )
    if n_bands is None:
        return
    check_positive_int("n_bands", n_bands)
    if max_freq is not None:
        _check_max_freq(max_freq)
    elif max(images.shape[-2:]) < 2:
        raise ValueError(
            f"images {fmt_shape(images)} are 1 x 1 pixel: the default max_freq, the "
            "larger side, is 1, below 2; pass max_freq >= 2 (or n_bands=None)"
        )


@checked(_check_image_inputs)
def image_inputs(
    images: torch.Tensor, n_bands: int | None = 6, max_freq: float | None = None
) -> torch.Tensor:
    """Every pixel as one input element: its channels, then its position features.

    With ``n_bands=None`` the pixels carry their channels only, and the input is a
    set: nothing says where a pixel was. ``max_freq`` defaults to the larger side.

    Shapes:
        images (B, C, H, W) -> (B, H * W, C + 2 (2 K + 1)), or (B, H * W, C)
    """
    b, c, h, w = images.shape
    pixels = images.flatten(2).transpose(1, 2)  # (B, H*W, C)
    if n_bands is None:
        return pixels
    max_freq = max(h, w) if max_freq is None else max_freq
    pos = grid_positions(h, w, images.dtype).to(images.device)  # (H*W, 2)
    feats = fourier_features(pos, n_bands, max_freq)  # (H*W, 2(2K+1))
    return torch.cat([pixels, feats.expand(b, -1, -1)], dim=-1)  # (B, H*W, C + F)


def _check_stack_modalities(inputs, masks=None) -> None:
    if not isinstance(inputs, (list, tuple)) or not inputs:
        got = "an empty list" if isinstance(inputs, (list, tuple)) else "a "
        got += "" if isinstance(inputs, (list, tuple)) else type(inputs).__name__
        raise ValueError(
            f"inputs must be a non-empty list of (B, M_i, C_i) tensors, got {got}"
        )
    if masks is not None and not isinstance(masks, (list, tuple)):
        raise ValueError(
            "masks must be a list with one (B, M_i) bool tensor or None per input, "
            f"got {type(masks).__name__}"
        )
    if masks is not None and len(masks) != len(inputs):
        raise ValueError(
            f"masks must be one per input: {len(inputs)} inputs vs {len(masks)} masks"
        )
    first = inputs[0]
    for i, x in enumerate(inputs):
        check_floating(f"inputs[{i}]", x)
        if x.dim() != 3:
            raise ValueError(f"inputs[{i}] must be (B, M_i, C_i), got {fmt_shape(x)}")
        if x.shape[0] != first.shape[0]:
            raise ValueError(
                f"inputs must all be (B, M_i, C_i) with one B: inputs[0] "
                f"{fmt_shape(first)} vs inputs[{i}] {fmt_shape(x)}"
            )
        if x.dtype != first.dtype or x.device != first.device:
            raise ValueError(
                f"inputs must share a dtype and a device: inputs[0] {first.dtype} on "
                f"{first.device} vs inputs[{i}] {x.dtype} on {x.device}"
            )
        m = None if masks is None else masks[i]
        if m is None:
            continue
        ok = isinstance(m, torch.Tensor) and m.dtype == torch.bool
        if not ok or m.shape != x.shape[:2] or m.device != x.device:
            got = (
                f"{m.dtype} {fmt_shape(m)} on {m.device}"
                if isinstance(m, torch.Tensor)
                else type(m).__name__
            )
            raise ValueError(
                f"masks[{i}] must be bool (B, M_i) = {fmt_shape(x.shape[:2])} on "
                f"{x.device} with True = real, got {got}"
            )


@checked(_check_stack_modalities)
def stack_modalities(
    inputs: Sequence[torch.Tensor], masks: Sequence[torch.Tensor | None] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Put several modalities into one input array, padded to one width.

    Modality i's channels are zero-padded on the right to the widest modality's C,
    its elements follow those of modality i - 1, and every element is labelled
    with i, for :class:`Perceiver`'s learned modality embedding.

    Returns:
        ``(x, mask, modality)``: the elements (B, M, C), True where real (B, M),
        and the modality of each (B, M) long, with M = M_1 + M_2 + ...

    Shapes:
        inputs [(B, M_i, C_i)], masks [(B, M_i) or None] -> (B, M, C), (B, M), (B, M)
    """
    masks = [None] * len(inputs) if masks is None else list(masks)
    width = max(x.shape[-1] for x in inputs)
    padded = [nn.functional.pad(x, (0, width - x.shape[-1])) for x in inputs]
    full = [
        torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if m is None else m
        for x, m in zip(inputs, masks)
    ]
    ids = [torch.full(x.shape[:2], i, device=x.device) for i, x in enumerate(inputs)]
    return torch.cat(padded, 1), torch.cat(full, 1), torch.cat(ids, 1)
