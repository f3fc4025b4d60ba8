"""Sparse attention: exact scores, each query seeing only some keys.

Top-k keeps each query's best keys, chosen by content; a local pattern keeps the
keys near the query, chosen by position (a sliding window, or blocks).
"""

from __future__ import annotations

import torch

from xattn.approximate._kernel import Attend, check_device
from xattn.attention import (
    aggregate,
    attention,
    attention_scores,
    mask_bias,
    masked_softmax,
)
from xattn.checks import (
    check_int,
    check_mask,
    check_positive_int,
    check_qkv,
    checked,
)

__all__ = [
    "topk_attention",
    "local_mask",
    "local_attention",
    "topk_attend",
    "local_attend",
]


def _check_topk_attention(q, k, v, mask=None, *, top_k) -> None:
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    check_positive_int("top_k", top_k)


@checked(_check_topk_attention)
def topk_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    top_k: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact scores, but each query's softmax runs over its ``top_k`` best keys only.

    With ``top_k >= Lk`` this is :func:`xattn.attention`, bit for bit. The scores
    are all computed (a fast kernel would find the best keys another way); what
    changes is that the weight of the other keys is given to the chosen ones.
    Ties at the k-th score are broken by ``torch.topk``.

    Shapes:
        q (..., Lq, Dh), k (..., Lk, Dh), v (..., Lk, Dv), mask (..., Lq | 1, Lk)
        -> out (..., Lq, Dv), weights (..., Lq, Lk)
    """
    bias = None if mask is None else mask_bias(mask, q.dtype)  # -inf where hidden
    scores = attention_scores(q, k, bias=bias)  # (..., Lq, Lk), the mask folded in
    biased = True
    if top_k < k.shape[-2]:
        chosen = scores.topk(top_k, dim=-1).indices  # (..., Lq, top_k)
        keep = torch.zeros(scores.shape, dtype=torch.bool, device=q.device)
        keep.scatter_(-1, chosen, True)  # (..., Lq, Lk)
        # A hidden key is chosen only when fewer than top_k are visible: drop it.
        mask = keep if mask is None else keep & mask
        biased = False  # the scores hold the old mask's bias, not this one's
    weights = masked_softmax(scores, mask, biased=biased)  # (..., Lq, Lk)
    return aggregate(weights, v), weights  # (..., Lq, Dv)


def _check_local_mask(lq, lk, window, *, block=1, offset=0, device=None) -> None:
    check_int("lq", lq)
    check_int("lk", lk)
    _check_pattern(window, block, offset)
    check_device(device)


def _check_pattern(window, block, offset) -> None:
    check_int("window", window)
    check_positive_int("block", block)
    check_int("offset", offset)


@checked(_check_local_mask)
def local_mask(
    lq: int,
    lk: int,
    window: int,
    *,
    block: int = 1,
    offset: int = 0,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """True where query i may see key j: their blocks at most ``window`` apart.

    Query i sits at position ``offset + i``, key j at position j, and positions
    are grouped into blocks of ``block``. With ``block=1`` this is a sliding
    window, ``|offset + i - j| <= window``; with ``window=0`` and a larger block,
    block-diagonal attention. Any window >= max(offset + Lq, Lk) shows every key.

    Shapes:
        -> mask (Lq, Lk)
    """
    rows = (torch.arange(lq, device=device) + offset) // block  # (Lq,)
    cols = torch.arange(lk, device=device) // block  # (Lk,)
    return (rows[:, None] - cols[None, :]).abs() <= window  # (Lq, Lk)


def _check_local_attention(q, k, v, mask=None, *, window, block=1, offset=0) -> None:
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    _check_pattern(window, block, offset)


@checked(_check_local_attention)
def local_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    window: int,
    block: int = 1,
    offset: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention restricted to :func:`local_mask`'s pattern (and ``mask``).

    Query i is taken to be at position ``offset + i``: pass the whole query
    sequence (teacher forcing, or decoding without caches). A window that covers
    every key gives :func:`xattn.attention`, bit for bit.

    Shapes:
        q (..., Lq, Dh), k (..., Lk, Dh), v (..., Lk, Dv), mask (..., Lq | 1, Lk)
        -> out (..., Lq, Dv), weights (..., Lq, Lk)
    """
    lq, lk = q.shape[-2], k.shape[-2]
    pattern = local_mask(lq, lk, window, block=block, offset=offset, device=q.device)
    if not bool(pattern.all()):
        pattern = pattern.view(*[1] * (q.dim() - 2), lq, lk)  # (1, ..., Lq, Lk)
        mask = pattern if mask is None else mask & pattern
    return attention(q, k, v, mask)  # (..., Lq, Dv), (..., Lq, Lk)


def _check_topk_attend(top_k) -> None:
    check_positive_int("top_k", top_k)


@checked(_check_topk_attend)
def topk_attend(top_k: int) -> Attend:
    """An ``attend`` function for :func:`xattn.use_attention`: top-k attention."""
    return lambda q, k, v, mask: topk_attention(q, k, v, mask, top_k=top_k)


def _check_local_attend(window, *, block=1) -> None:
    _check_pattern(window, block, 0)


@checked(_check_local_attend)
def local_attend(window: int, *, block: int = 1) -> Attend:
    """An ``attend`` function for :func:`xattn.use_attention`: local attention.

    It places query i at position i of the queries it is given, so use it where
    the layer sees the whole target: teacher forcing, or
    ``greedy_decode(..., use_cache=False)``; a cached step passes one query and
    would put every step at position 0.
    """
    return lambda q, k, v, mask: local_attention(
        q, k, v, mask, window=window, block=block
    )
