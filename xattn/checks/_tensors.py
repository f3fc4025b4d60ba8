"""Checks of tensors: dtypes, dims, and queries, keys and values against each other."""

from __future__ import annotations

import torch

from xattn.checks._values import (
    fmt_shape,
)


def _check_is_tensor(name: str, t: object) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")


def check_floating(name: str, t: torch.Tensor) -> None:
    """Reject non-tensors and integer or bool tensors: attention is float arithmetic."""
    _check_is_tensor(name, t)
    if not t.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor, got {name} {fmt_shape(t)} of "
            f"dtype {t.dtype}; "
            f"convert it first, e.g. {name}.float()"
        )


def check_min_dim(name: str, t: torch.Tensor, min_dim: int, symbols: str) -> None:
    """At least ``min_dim`` dims; ``symbols`` names them, e.g. ``(..., Lq, D)``."""
    if t.dim() < min_dim:
        raise ValueError(
            f"{name} must have at least {min_dim} dims {symbols}, got {name} "
            f"{fmt_shape(t)}"
        )


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor | None = None) -> None:
    """Check queries, keys and (optionally) values against each other.

    Shapes:
        q: (..., Lq, D), k: (..., Lk, D), v: (..., Lk, Dv), with the same leading dims.
    """
    named = [("q", q), ("k", k)] + ([("v", v)] if v is not None else [])
    for name, t in named:
        check_floating(name, t)
        check_min_dim(name, t, 2, "(..., L, D)")
    for name, t in named[1:]:
        if t.dtype != q.dtype:
            raise ValueError(
                f"q and {name} must share a dtype: q {q.dtype} vs {name} {t.dtype}"
            )
        if t.device != q.device:
            raise ValueError(
                f"q and {name} must be on the same device: q {q.device} vs {name} "
                f"{t.device}"
            )
        if t.dim() != q.dim():
            raise ValueError(
                f"q and {name} must have the same number of dims: q {fmt_shape(q)} vs "
                f"{name} {fmt_shape(t)}"
            )
        if t.shape[:-2] != q.shape[:-2]:
            raise ValueError(
                f"q and {name} must share their leading (batch, head) dims: "
                f"q {fmt_shape(q)} vs {name} {fmt_shape(t)}"
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share the last dim: q {fmt_shape(q)} vs k {fmt_shape(k)}"
        )
    if q.shape[-1] == 0:
        raise ValueError(
            f"q {fmt_shape(q)} and k {fmt_shape(k)} have no features (D = 0): "
            "a dot product needs at least one"
        )
    if k.shape[-2] == 0:
        raise ValueError(
            f"k {fmt_shape(k)} has an empty key sequence (Lk = 0): every query needs "
            "at least one key; "
            "to hide keys, keep them and mask them out instead"
        )
    if v is not None and v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys (dim -2): k {fmt_shape(k)} vs "
            f"v {fmt_shape(v)}"
        )


def check_scale(scale: float | None) -> None:
    """A score scale must be a positive finite number (or None for 1 / sqrt(D))."""
    if scale is None:
        return
    if (
        isinstance(scale, bool)
        or not isinstance(scale, (int, float))
        or not (0 < scale < float("inf"))
    ):
        raise ValueError(
            "scale must be a positive finite number or None (meaning 1/sqrt(D)), got "
            f"{scale!r}"
        )


def check_stream(
    name: str, t: torch.Tensor, d_model: int, width: str = "d_model"
) -> None:
    """A (B, L, D) float tensor as wide as the module's ``d_model`` or ``d_memory``."""
    check_floating(name, t)
    if t.dim() != 3 or t.shape[-1] != d_model:
        raise ValueError(
            f"{name} must be (B, L, {d_model}) for {width}={d_model}, got {name} "
            f"{fmt_shape(t)}"
        )


def check_boxes(name: str, boxes: torch.Tensor) -> None:
    """Boxes are a floating (N, 4) tensor of (x0, y0, x1, y1) rows."""
    check_floating(name, boxes)
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(
            f"{name} must be (N, 4) boxes (x0, y0, x1, y1), got {name} "
            f"{fmt_shape(boxes)}"
        )
