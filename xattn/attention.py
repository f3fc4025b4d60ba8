"""Single-head attention from pure functions.

Index legend for the einsums below (the symbols of the notation page):
    q  query (target) position, Lq of them
    k  key (source) position, Lk of them
    d  feature, D of them (Dv for values)
    ...  any leading batch and head dims, the same for every input

These functions take a mask with as many dims as the scores, bool with
True = may attend: a (B, Lk) key padding mask becomes ``mask[:, None, :]``
here (``mask[:, None, None, :]`` with heads). The layers and models take the
(B, Lk) mask itself, as ``memory_mask``, and add the axes.
"""

from __future__ import annotations

import math

import torch

from xattn.checks import (
    check_bias,
    check_bool,
    check_bool_mask,
    check_floating,
    check_mask,
    check_min_dim,
    check_qkv,
    check_scale,
    checked,
    fmt_shape,
)

__all__ = ["attention_scores", "mask_bias", "masked_softmax", "aggregate", "attention"]


def _check_attention_scores(q, k, scale=None, bias=None) -> None:
    check_qkv(q, k)
    check_scale(scale)
    check_bias(bias, (*q.shape[:-1], k.shape[-2]), q.dtype, q.device)


@checked(_check_attention_scores)
def attention_scores(
    q: torch.Tensor,
    k: torch.Tensor,
    scale: float | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Dot product of every query with every key, scaled, plus an optional bias.

    Args:
        q: queries.
        k: keys.
        scale: factor applied to the dot products; None means 1 / sqrt(D), which
            keeps the scores' variance near 1 whatever D is.
        bias: added to the scores, e.g. :func:`mask_bias` of a mask; it is folded
            into the matrix product, so the scores are written once.

    Shapes:
        q (..., Lq, D), k (..., Lk, D), bias (..., Lq | 1, Lk | 1)
        -> scores (..., Lq, Lk)
    """
    if scale is None:
        scale = q.shape[-1] ** -0.5
    if bias is None:
        # Scaling q (Lq x D numbers) is cheaper than scaling the scores (Lq x Lk).
        return torch.einsum("... q d, ... k d -> ... q k", q * scale, k)
    # baddbmm starts from the bias and adds scale * q k^T onto it: the scores are
    # written once, with the mask already in them.
    *lead, lq, d = q.shape
    lk = k.shape[-2]
    rows = bias.shape[-2]  # Lq, or 1 for a bias that is the same for every query
    n = math.prod(lead)  # not -1: an empty axis (Lq = 0, say) leaves -1 undefined
    bias = bias.expand(*lead, rows, lk).reshape(n, rows, lk)  # (N, Lq | 1, Lk)
    q3, k3 = q.reshape(n, lq, d), k.reshape(n, lk, d)  # (N, Lq, D), (N, Lk, D)
    scores = torch.baddbmm(bias, q3, k3.transpose(1, 2), alpha=scale)  # (N, Lq, Lk)
    return scores.view(*lead, lq, lk)  # (..., Lq, Lk)


def _check_mask_bias(mask, dtype=torch.float32) -> None:
    check_bool_mask("mask", mask)
    check_min_dim("mask", mask, 1, "(..., Lk)")
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise ValueError(f"dtype must be a floating-point dtype, got {dtype}")


@checked(_check_mask_bias)
def mask_bias(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A bool mask as a bias to add to the scores: 0 where it is True, -inf where False.

    With -inf, every visible key beats every hidden one, however low its score.
    A row with no visible key at all gets 0 everywhere instead, since a row of
    -inf only would give 0 / 0 = NaN in the softmax; :func:`masked_softmax`
    sets such rows to zero afterwards.

    Shapes:
        mask (..., Lq | 1, Lk) -> bias, the same shape
    """
    has_key = mask.any(dim=-1, keepdim=True)  # (..., Lq | 1, 1)
    hidden = ~mask & has_key
    bias = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
    return bias.masked_fill_(hidden, float("-inf"))


def _check_masked_softmax(scores, mask=None, *, biased=False) -> None:
    check_floating("scores", scores)
    check_min_dim("scores", scores, 1, "(..., Lk)")
    check_mask(mask, scores.shape, scores.device)
    check_bool("biased", biased)


@checked(_check_masked_softmax)
def masked_softmax(
    scores: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    biased: bool = False,
) -> torch.Tensor:
    """Softmax over keys (the last dim), giving masked keys exactly zero weight.

    Hidden scores get -inf (:func:`mask_bias`), so hidden keys get weight 0 and
    no visible score can tie with them. A row whose keys are all hidden is
    softmaxed over every key, which is finite, and then set to zero.

    A hidden score may be any finite number, but not NaN or +inf: either turns
    its whole row into NaN (as in ``F.scaled_dot_product_attention``), so the
    keys at padded positions must be finite too.

    Args:
        scores: attention scores.
        mask: bool, True = may attend; as many dims as scores, each equal or 1.
        biased: the scores already hold ``mask_bias(mask)`` (as
            ``attention_scores(q, k, bias=mask_bias(mask))`` gives them), so it
            is not added again.

    Shapes:
        scores (..., Lq, Lk), mask broadcastable (same rank) -> weights (..., Lq, Lk)
    """
    if mask is None:
        return scores.softmax(dim=-1)
    if not biased:
        scores = scores + mask_bias(mask, scores.dtype)  # (..., Lq, Lk)
    weights = scores.softmax(dim=-1)  # (..., Lq, Lk)
    has_key = mask.any(dim=-1, keepdim=True)  # (..., Lq | 1, 1), as small as the mask
    # Zero the rows with nothing to see; the extra pass only runs when there is one.
    return weights if bool(has_key.all()) else weights * has_key


def _check_aggregate(weights, v) -> None:
    check_floating("weights", weights)
    check_floating("v", v)
    check_min_dim("weights", weights, 2, "(..., Lq, Lk)")
    check_min_dim("v", v, 2, "(..., Lk, Dv)")
    if weights.dtype != v.dtype:
        raise ValueError(
            f"weights and v must share a dtype: weights {weights.dtype} vs v {v.dtype}"
        )
    if weights.shape[:-2] != v.shape[:-2] or weights.shape[-1] != v.shape[-2]:
        raise ValueError(
            "weights (..., Lq, Lk) and v (..., Lk, Dv) must share leading dims and Lk: "
            f"weights {fmt_shape(weights)} vs v {fmt_shape(v)}"
        )


@checked(_check_aggregate)
def aggregate(weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Weighted sum of the values: each query's output mixes the value rows by weight.

    A masked key has weight exactly 0, but 0 * nan is nan: values at padded
    positions must still be finite numbers.

    Shapes:
        weights (..., Lq, Lk), v (..., Lk, Dv) -> out (..., Lq, Dv)
    """
    return torch.einsum("... q k, ... k d -> ... q d", weights, v)  # (..., Lq, Dv)


def _check_attention(q, k, v, mask=None, *, scale=None) -> None:
    check_qkv(q, k, v)
    check_mask(mask, (*q.shape[:-1], k.shape[-2]), q.device)
    check_scale(scale)


@checked(_check_attention)
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

    The keys and values at hidden positions are never read for the result, but
    they must be finite: a NaN key makes its score NaN, which the -inf of the
    mask does not undo, and a NaN value times weight 0 is NaN.

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), mask (..., Lq | 1, Lk | 1)
        -> out (..., Lq, Dv), weights (..., Lq, Lk)
    """
    # (..., Lq | 1, Lk): 0 where visible, -inf where hidden
    bias = None if mask is None else mask_bias(mask, q.dtype)
    scores = attention_scores(q, k, scale, bias)  # (..., Lq, Lk), the mask folded in
    weights = masked_softmax(scores, mask, biased=True)  # (..., Lq, Lk)
    return aggregate(weights, v), weights  # (..., Lq, Dv)
