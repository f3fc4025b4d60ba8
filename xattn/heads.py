"""Heads: cut the feature axis into heads and put them back; one mask for them all.

A layer of width D with H heads gives each head Dh = D // H features: head h
owns features [h Dh, (h + 1) Dh). ``split_heads`` names those slices as their own
axis, in front of the positions, where the attention functions take leading
dims; ``merge_heads`` puts them side by side again. ``combine_masks`` turns a key
padding mask (B, Lk) and a structural mask (Lq, Lk) into one mask with as many
dims as the scores, (B, Lq, Lk) or (B, H, Lq, Lk).
"""

from __future__ import annotations

import torch

from xattn.checks import check_bool_mask, check_positive_int, checked, fmt_shape

__all__ = ["split_heads", "merge_heads", "combine_masks"]


def _check_split_heads(x, n_heads) -> None:
    if x.dim() != 3:
        raise ValueError(f"x must be (B, L, D), got x {fmt_shape(x)}")
    check_positive_int("n_heads", n_heads)
    if x.shape[-1] % n_heads:
        raise ValueError(
            f"the width {x.shape[-1]} of x {fmt_shape(x)} is not divisible by "
            f"n_heads={n_heads}"
        )


@checked(_check_split_heads)
def split_heads(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Cut the feature axis into ``n_heads`` slices of width Dh, each on its own axis.

    Shapes:
        x (B, L, D) -> (B, H, L, Dh)
    """
    b, length, d = x.shape
    return x.view(b, length, n_heads, d // n_heads).transpose(1, 2)  # (B, H, L, Dh)


def _check_merge_heads(x) -> None:
    if x.dim() != 4:
        raise ValueError(f"x must be (B, H, L, Dh), got x {fmt_shape(x)}")


@checked(_check_merge_heads)
def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """Undo :func:`split_heads`: put the heads side by side again.

    Shapes:
        x (B, H, L, Dh) -> (B, L, H * Dh)
    """
    b, h, length, dh = x.shape
    return x.transpose(1, 2).reshape(b, length, h * dh)  # (B, L, D)


def _check_combine_masks(memory_mask, attn_mask, n_dims) -> None:
    if n_dims not in (3, 4):
        raise ValueError(
            f"n_dims must be 3 (B, Lq, Lk) or 4 (B, H, Lq, Lk), got {n_dims!r}"
        )
    if memory_mask is not None:
        check_bool_mask("memory_mask", memory_mask)
        if memory_mask.dim() != 2:
            raise ValueError(
                f"memory_mask must be (B, Lk), got memory_mask {fmt_shape(memory_mask)}"
            )
    if attn_mask is not None:
        check_bool_mask("attn_mask", attn_mask)
        if attn_mask.dim() not in (2, 3):
            raise ValueError(
                "attn_mask must be (Lq, Lk) or (B, Lq, Lk), got attn_mask "
                f"{fmt_shape(attn_mask)}"
            )


@checked(_check_combine_masks)
def combine_masks(
    memory_mask: torch.Tensor | None, attn_mask: torch.Tensor | None, n_dims: int
) -> torch.Tensor | None:
    """Merge a key padding mask (B, Lk) and a structural mask into one mask.

    With ``n_dims=3`` the result broadcasts to (B, Lq, Lk); with 4 to (B, H, Lq, Lk).

    Shapes:
        memory_mask (B, Lk), attn_mask (Lq, Lk) or (B | 1, Lq, Lk)
        -> (B | 1, Lq | 1, Lk), or (B | 1, 1, Lq | 1, Lk) with ``n_dims=4``
    """
    mask = None
    if memory_mask is not None:
        mask = memory_mask[:, None, :]  # (B, 1, Lk)
    if attn_mask is not None:
        structural = attn_mask if attn_mask.dim() == 3 else attn_mask[None]
        # structural: (B | 1, Lq, Lk)
        mask = structural if mask is None else mask & structural
    if mask is not None and n_dims == 4:
        mask = mask[:, None]  # (B, 1, Lq | 1, Lk)
    return mask
