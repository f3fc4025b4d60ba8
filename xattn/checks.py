"""Input checks shared by every public function.

Each check raises a ``ValueError`` whose message names the tensors, their full
shapes (or dtypes) and the rule that was broken, so that a learner who passes
the wrong thing reads what to change instead of a stack trace from deep inside
``einsum``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

__all__ = [
    "fmt_shape",
    "check_floating",
    "check_min_dim",
    "check_mask",
    "check_qkv",
    "check_scale",
    "check_stream",
    "check_memory_mask",
    "check_attn_mask",
]


def fmt_shape(t: torch.Tensor | Sequence[int]) -> str:
    """Format a tensor's shape as ``(2, 3, 4)`` for error messages."""
    dims = tuple(t.shape) if isinstance(t, torch.Tensor) else tuple(t)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _check_is_tensor(name: str, t: object) -> None:
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")


def check_floating(name: str, t: torch.Tensor) -> None:
    """Reject non-tensors and integer or bool tensors: attention is arithmetic on floats."""
    _check_is_tensor(name, t)
    if not t.is_floating_point():
        raise ValueError(
            f"{name} must be a floating-point tensor, got {name} {fmt_shape(t)} of dtype {t.dtype}; "
            f"convert it first, e.g. {name}.float()"
        )


def check_min_dim(name: str, t: torch.Tensor, min_dim: int, symbols: str) -> None:
    """Require at least ``min_dim`` dims; ``symbols`` names them for the message, e.g. ``(..., Lq, D)``."""
    if t.dim() < min_dim:
        raise ValueError(f"{name} must have at least {min_dim} dims {symbols}, got {name} {fmt_shape(t)}")


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
            raise ValueError(f"q and {name} must share a dtype: q {q.dtype} vs {name} {t.dtype}")
        if t.device != q.device:
            raise ValueError(f"q and {name} must be on the same device: q {q.device} vs {name} {t.device}")
        if t.dim() != q.dim():
            raise ValueError(
                f"q and {name} must have the same number of dims: q {fmt_shape(q)} vs {name} {fmt_shape(t)}"
            )
        if t.shape[:-2] != q.shape[:-2]:
            raise ValueError(
                f"q and {name} must share their leading (batch, head) dims: q {fmt_shape(q)} vs {name} {fmt_shape(t)}"
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the last dim: q {fmt_shape(q)} vs k {fmt_shape(k)}")
    if k.shape[-2] == 0:
        raise ValueError(
            f"k {fmt_shape(k)} has an empty key sequence (Lk = 0): every query needs at least one key; "
            "to hide keys, keep them and mask them out instead"
        )
    if v is not None and v.shape[-2] != k.shape[-2]:
        raise ValueError(
            f"k and v must have the same number of keys (dim -2): k {fmt_shape(k)} vs v {fmt_shape(v)}"
        )


def check_mask(
    mask: torch.Tensor | None,
    shape: Sequence[int],
    device: torch.device,
    target: str = "scores",
) -> None:
    """Check a boolean mask (True = may attend) against the shape it will mask.

    The mask must be bool, have as many dims as the target and match it in every
    dim or be 1 there (so it broadcasts). Requiring the same number of dims stops
    a key padding mask (B, Lk) from broadcasting silently against (B, Lq, Lk)
    when B happens to equal Lq.
    """
    if mask is None:
        return
    _check_is_tensor("mask", mask)
    shape = tuple(shape)
    if mask.dtype != torch.bool:
        if mask.is_floating_point():
            hint = (
                "additive float masks (0 = keep, -inf = drop) are not accepted; "
                "convert with xattn.from_additive_mask(mask)"
            )
        else:
            hint = (
                "for a Hugging Face attention_mask of 1s and 0s use xattn.from_hf_attention_mask(mask); "
                "for nn.MultiheadAttention's key_padding_mask (True = ignore) use ~mask"
            )
        raise ValueError(
            f"mask must be a bool tensor (True = may attend), got mask {fmt_shape(mask)} of dtype {mask.dtype}; {hint}"
        )
    if mask.device != torch.device(device):
        raise ValueError(f"mask and {target} must be on the same device: mask {mask.device} vs {target} {device}")
    if mask.dim() != len(shape):
        hint = ""
        if mask.dim() == len(shape) - 1:
            hint = (
                "; a key padding mask (B, Lk) needs a query axis: mask[:, None, :] "
                "(and mask[:, None, None, :] with heads)"
            )
        raise ValueError(
            f"mask must have as many dims as {target}: mask {fmt_shape(mask)} vs {target} {fmt_shape(shape)}{hint}"
        )
    for i, (m, s) in enumerate(zip(mask.shape, shape)):
        if m not in (1, s):
            raise ValueError(
                f"mask {fmt_shape(mask)} does not broadcast to {target} {fmt_shape(shape)}: "
                f"dim {i} is {m}, must be 1 or {s}"
            )


def check_scale(scale: float | None) -> None:
    """A score scale must be a positive finite number (or None for 1 / sqrt(D))."""
    if scale is None:
        return
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not (0 < scale < float("inf")):
        raise ValueError(f"scale must be a positive finite number or None (meaning 1/sqrt(D)), got {scale!r}")


def check_stream(name: str, t: torch.Tensor, d_model: int) -> None:
    """A (B, L, D) float tensor whose width is the module's d_model."""
    check_floating(name, t)
    if t.dim() != 3 or t.shape[-1] != d_model:
        raise ValueError(f"{name} must be (B, L, {d_model}) for d_model={d_model}, got {name} {fmt_shape(t)}")


def check_memory_mask(memory_mask: torch.Tensor | None, memory_shape: tuple[int, ...]) -> None:
    """A bool key padding mask (B, Lk), True = may attend, for a memory of ``memory_shape``."""
    if memory_mask is None:
        return
    b, lk = memory_shape[0], memory_shape[1]
    if not isinstance(memory_mask, torch.Tensor) or memory_mask.dtype != torch.bool:
        got = memory_mask.dtype if isinstance(memory_mask, torch.Tensor) else type(memory_mask).__name__
        raise ValueError(
            f"memory_mask must be a bool tensor (B, Lk) with True = may attend, got {got}; "
            "from nn.MultiheadAttention's key_padding_mask use ~mask"
        )
    if tuple(memory_mask.shape) != (b, lk):
        raise ValueError(
            f"memory_mask must be (B, Lk) = {fmt_shape((b, lk))} to match memory {fmt_shape(memory_shape)}, "
            f"got memory_mask {fmt_shape(memory_mask)}"
        )


def check_attn_mask(attn_mask: torch.Tensor | None, b: int, lq: int, lk: int) -> None:
    """A bool structural mask (Lq, Lk) or (B, Lq, Lk), True = may attend."""
    if attn_mask is None:
        return
    if not isinstance(attn_mask, torch.Tensor) or attn_mask.dtype != torch.bool:
        got = attn_mask.dtype if isinstance(attn_mask, torch.Tensor) else type(attn_mask).__name__
        raise ValueError(f"attn_mask must be a bool tensor with True = may attend, got {got}")
    if tuple(attn_mask.shape) not in ((lq, lk), (b, lq, lk)):
        raise ValueError(
            f"attn_mask must be (Lq, Lk) = {fmt_shape((lq, lk))} or (B, Lq, Lk) = {fmt_shape((b, lq, lk))}, "
            f"got attn_mask {fmt_shape(attn_mask)}"
        )
