"""Checks of masks: bool with True = may attend, and shapes that fit the scores.

A mask of another convention is refused with a message naming its converter.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from xattn.checks._tensors import (
    _check_is_tensor,
    check_floating,
    check_qkv,
    check_scale,
)
from xattn.checks._values import check_bool, check_positive_int, fmt_shape


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
