"""Input checks shared by every public function.

Each check raises a ``ValueError`` whose message names the tensors, their full
shapes (or dtypes) and the rule that was broken, so that a learner who passes
the wrong thing reads what to change instead of a stack trace from deep inside
``einsum``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch

__all__ = [
    "fmt_shape",
    "check_int",
    "check_positive_int",
    "check_bool",
    "check_number",
    "check_dropout",
    "check_floating",
    "check_min_dim",
    "check_bool_mask",
    "check_mask",
    "check_bias",
    "check_qkv",
    "check_scale",
    "check_stream",
    "check_memory_mask",
    "check_attn_mask",
    "check_blockwise",
    "check_boxes",
]


def fmt_shape(t: torch.Tensor | Sequence[int]) -> str:
    """Format a tensor's shape as ``(2, 3, 4)`` for error messages."""
    dims = tuple(t.shape) if isinstance(t, torch.Tensor) else tuple(t)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _is_int(value: object) -> bool:
    """An integer (Python's or NumPy's), but not a bool, which Python counts as one."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: object, minimum: int = 0) -> None:
    """An integer (not a bool) that is at least ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_positive_int(name: str, value: object) -> None:
    """An integer >= 1: a size, a count, a length."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_bool(name: str, value: object) -> None:
    """True or False, not a truthy stand-in such as 1 or "yes"."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_number(
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """A finite real number (not a bool, not NaN) in [low, high], ends open if asked."""
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    ok = real and math.isfinite(value)
    if ok:
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        ok = above and below
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        interval = f"{left}{low:g}, {high:g}{right}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")


def check_dropout(value: object) -> None:
    """A dropout probability in [0, 1)."""
    check_number("dropout", value, 0.0, 1.0, high_open=True)


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


def _mask_dtype_hint(mask: torch.Tensor) -> str:
    """Which converter turns the mask that was given into an xattn mask."""
    if mask.is_floating_point():
        return (
            "an additive float mask (0 = keep, -inf = hide) converts with "
            "xattn.from_additive_mask(mask)"
        )
    if mask.is_complex():
        return "complex numbers are not a mask"
    return (
        "a Hugging Face attention_mask of 1s and 0s converts with "
        "xattn.from_hf_attention_mask(mask)"
    )


def check_bool_mask(name: str, mask: object) -> None:
    """A bool tensor, True = may attend; others are refused, naming their converter."""
    _check_is_tensor(name, mask)
    if mask.dtype != torch.bool:
        raise ValueError(
            f"{name} must be a bool tensor (True = may attend), "
            f"got {name} {fmt_shape(mask)} of dtype {mask.dtype}; "
            f"{_mask_dtype_hint(mask)}"
        )


def check_mask(
    mask: torch.Tensor | None,
    shape: Sequence[int],
    device: torch.device,
    target: str = "scores",
) -> None:
    """Check a boolean mask (True = may attend) against the shape it will mask.

    The mask must be bool, have as many dims as the target and match it in every
    dim or be 1 there, so it broadcasts without ever growing the target.
    Requiring the same number of dims stops a key padding mask (B, Lk) from
    broadcasting silently against (B, Lq, Lk): to (B, B, Lk) when Lq = 1, and to
    the wrong items when B = Lq.
    """
    if mask is None:
        return
    shape = tuple(shape)
    check_bool_mask("mask", mask)
    if mask.device != torch.device(device):
        raise ValueError(
            f"mask and {target} must be on the same device: mask {mask.device} vs "
            f"{target} {device}"
        )
    if mask.dim() != len(shape):
        hint = ""
        if mask.dim() == len(shape) - 1:
            hint = (
                "; a key padding mask (B, Lk) needs a query axis: mask[:, None, :] "
                "(and mask[:, None, None, :] with heads)"
            )
        raise ValueError(
            f"mask must have as many dims as {target}: mask {fmt_shape(mask)} vs "
            f"{target} {fmt_shape(shape)}{hint}"
        )
    for i, (m, s) in enumerate(zip(mask.shape, shape)):
        if m not in (1, s):
            raise ValueError(
                f"mask {fmt_shape(mask)} does not broadcast to {target} "
                f"{fmt_shape(shape)}: "
                f"dim {i} is {m}, must be 1 or {s}"
            )


def check_bias(
    bias: torch.Tensor | None,
    shape: Sequence[int],
    dtype: torch.dtype,
    device: torch.device,
) -> None:
    """A score bias: float, the scores' dtype and device, broadcasting like a mask."""
    if bias is None:
        return
    check_floating("bias", bias)
    if bias.dtype != dtype:
        raise ValueError(
            f"bias and the scores must share a dtype: bias {bias.dtype} vs scores "
            f"{dtype}"
        )
    if bias.device != torch.device(device):
        raise ValueError(
            f"bias and the scores must be on the same device: bias {bias.device} vs "
            f"{device}"
        )
    shape = tuple(shape)
    if bias.dim() != len(shape) or any(
        b not in (1, s) for b, s in zip(bias.shape, shape)
    ):
        raise ValueError(
            f"bias {fmt_shape(bias)} must have as many dims as the scores "
            f"{fmt_shape(shape)}, "
            "each equal or 1 (as xattn.mask_bias(mask) gives for a mask of the scores)"
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


def check_memory_mask(
    memory_mask: torch.Tensor | None, memory_shape: tuple[int, ...]
) -> None:
    """A bool key padding mask (B, Lk), True = may attend, for a memory this shape.

    ``nn.MultiheadAttention``'s ``key_padding_mask`` is a bool (B, Lk) mask too,
    with the opposite meaning (True = ignore); no check can tell the two apart,
    so convert one with ``xattn.from_key_padding_mask`` where it comes in.
    """
    if memory_mask is None:
        return
    b, lk = memory_shape[0], memory_shape[1]
    if not isinstance(memory_mask, torch.Tensor):
        raise ValueError(
            "memory_mask must be a bool tensor (B, Lk), got "
            f"{type(memory_mask).__name__}"
        )
    if memory_mask.dtype != torch.bool:
        raise ValueError(
            "memory_mask must be a bool tensor (B, Lk) with True = may attend, got "
            "memory_mask "
            f"{fmt_shape(memory_mask)} of dtype {memory_mask.dtype}; "
            f"{_mask_dtype_hint(memory_mask)}"
        )
    if tuple(memory_mask.shape) != (b, lk):
        raise ValueError(
            f"memory_mask must be (B, Lk) = {fmt_shape((b, lk))} to match memory "
            f"{fmt_shape(memory_shape)}, "
            f"got memory_mask {fmt_shape(memory_mask)}"
        )


def check_attn_mask(attn_mask: torch.Tensor | None, b: int, lq: int, lk: int) -> None:
    """A bool structural mask over (query, key) pairs, True = may attend.

    Shapes (1, Lq, Lk) or (B, Lq, Lk), always with the batch axis: a 2-D mask
    would, whenever B = Lq, fit a key padding mask (B, Lk) passed in the wrong
    place as well, and the two mean different things. Requiring three dims
    makes the rule the same for every batch size; ``attn_mask[None]`` adds the
    axis.
    """
    if attn_mask is None:
        return
    if not isinstance(attn_mask, torch.Tensor):
        raise ValueError(
            f"attn_mask must be a bool tensor, got {type(attn_mask).__name__}"
        )
    if attn_mask.dtype != torch.bool:
        raise ValueError(
            "attn_mask must be a bool tensor with True = may attend, got attn_mask "
            f"{fmt_shape(attn_mask)} "
            f"of dtype {attn_mask.dtype}; {_mask_dtype_hint(attn_mask)}"
        )
    if tuple(attn_mask.shape) == (lq, lk):
        raise ValueError(
            f"attn_mask must have a batch axis, (1, Lq, Lk) = {fmt_shape((1, lq, lk))} "
            f"or (B, Lq, Lk) = {fmt_shape((b, lq, lk))}, got attn_mask "
            f"{fmt_shape(attn_mask)}: add it with attn_mask[None] (a 2-D mask could "
            "also be a key padding mask (B, Lk), which goes to memory_mask)"
        )
    if tuple(attn_mask.shape) not in ((1, lq, lk), (b, lq, lk)):
        raise ValueError(
            f"attn_mask must be (1, Lq, Lk) = {fmt_shape((1, lq, lk))} or (B, Lq, Lk) "
            f"= {fmt_shape((b, lq, lk))}, got attn_mask {fmt_shape(attn_mask)}; "
            "a key padding mask (B, Lk) goes to memory_mask"
        )


def check_blockwise(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    causal: object,
    block_size: object,
    scale: float | None,
) -> None:
    """The arguments of blockwise attention (``xattn.online``): as for
    ``xattn.attention``, plus ``causal`` a bool and ``block_size`` a positive int."""
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    check_bool("causal", causal)
    check_positive_int("block_size", block_size)
    check_scale(scale)


def check_boxes(name: str, boxes: torch.Tensor) -> None:
    """Boxes are a floating (N, 4) tensor of (x0, y0, x1, y1) rows."""
    check_floating(name, boxes)
    if boxes.dim() != 2 or boxes.shape[-1] != 4:
        raise ValueError(
            f"{name} must be (N, 4) boxes (x0, y0, x1, y1), got {name} "
            f"{fmt_shape(boxes)}"
        )
