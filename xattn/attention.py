"""Single-head attention from four pure functions.

Index legend for the einsums below (the symbols of the notation page):
    q  query (target) position, Lq of them
    k  key (source) position, Lk of them
    d  feature, D of them (Dv for values)
    ...  any leading batch and head dims, the same for every input

Masks are bool with True = may attend, and have as many dims as the scores
(use ``mask[:, None, :]`` to give a (B, Lk) key padding mask its query axis).
"""

from __future__ import annotations

import torch

from xattn.checks import check_floating, check_mask, check_min_dim, check_qkv, check_scale, fmt_shape

__all__ = ["attention_scores", "masked_softmax", "aggregate", "attention"]


def attention_scores(q: torch.Tensor, k: torch.Tensor, scale: float | None = None) -> torch.Tensor:
    """Dot product of every query with every key, scaled.

    Args:
        q: queries.
        k: keys.
        scale: factor applied to the dot products; None means 1 / sqrt(D), which
            keeps the scores' variance near 1 whatever D is.

    Shapes:
        q (..., Lq, D), k (..., Lk, D) -> scores (..., Lq, Lk)
    """
    check_qkv(q, k)
    check_scale(scale)
    if scale is None:
        scale = q.shape[-1] ** -0.5
    # Scaling q (Lq x D numbers) is cheaper than scaling the scores (Lq x Lk).
    return torch.einsum("... q d, ... k d -> ... q k", q * scale, k)  # (..., Lq, Lk)


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """Softmax over keys (the last dim), giving masked keys exactly zero weight.

    Hidden scores are filled with the dtype's most negative finite value rather
    than -inf, so a row whose keys are all hidden never computes inf - inf = NaN;
    such a row is then set to zero instead of the uniform 1 / Lk the softmax gives.

    Args:
        scores: attention scores.
        mask: bool, True = may attend; as many dims as scores, each equal or 1.

    Shapes:
        scores (..., Lq, Lk), mask broadcastable (same rank) -> weights (..., Lq, Lk)
    """
    check_floating("scores", scores)
    check_min_dim("scores", scores, 1, "(..., Lk)")
    check_mask(mask, scores.shape, scores.device)
    if mask is None:
        return scores.softmax(dim=-1)
    # torch.where writes each result in one pass; masked_fill would copy, then fill.
    scores = torch.where(mask, scores, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)  # (..., Lq, Lk)
    return torch.where(mask, weights, 0.0)


def aggregate(weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Weighted sum of the values: each query's output mixes the value rows by its weights.

    A masked key has weight exactly 0, but 0 * nan is nan: values at padded
    positions must still be finite numbers.

    Shapes:
        weights (..., Lq, Lk), v (..., Lk, Dv) -> out (..., Lq, Dv)
    """
    check_floating("weights", weights)
    check_floating("v", v)
    check_min_dim("weights", weights, 2, "(..., Lq, Lk)")
    check_min_dim("v", v, 2, "(..., Lk, Dv)")
    if weights.dtype != v.dtype:
        raise ValueError(f"weights and v must share a dtype: weights {weights.dtype} vs v {v.dtype}")
    if weights.shape[:-2] != v.shape[:-2] or weights.shape[-1] != v.shape[-2]:
        raise ValueError(
            "weights (..., Lq, Lk) and v (..., Lk, Dv) must share leading dims and Lk: "
            f"weights {fmt_shape(weights)} vs v {fmt_shape(v)}"
        )
    return torch.einsum("... q k, ... k d -> ... q d", weights, v)  # (..., Lq, Dv)


def attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention: scores, masked softmax, weighted sum of values.

    Args:
        q: queries, from the target sequence.
        k: keys, from the source sequence.
        v: values, from the source sequence (one per key).
        mask: bool, True = may attend; as many dims as the scores (..., Lq, Lk).
        scale: score scale, None for 1 / sqrt(D).

    Returns:
        ``(out, weights)``. A query with no visible key gets zero weights and a
        zero output.

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), mask (..., Lq | 1, Lk | 1)
        -> out (..., Lq, Dv), weights (..., Lq, Lk)
    """
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    scores = attention_scores(q, k, scale)  # (..., Lq, Lk)
    weights = masked_softmax(scores, mask)  # (..., Lq, Lk)
    return aggregate(weights, v), weights  # (..., Lq, Dv)
