"""Attention over the keys one block at a time, the softmax computed online.

Chapter 10 builds this. The (Lq, Lk) matrix of scores is never formed: the keys
and values are read in blocks of ``block_size``, and every query carries three
running quantities, its largest score so far m, the sum l of exp(score - m), and
the sum of the values weighted by exp(score - m), all rescaled by exp(m_old -
m_new) whenever m grows. At the end the output is the weighted sum over l and
the log-sum-exp of the query's scores is m + log l. The backward pass recomputes
each block's weights from that log-sum-exp instead of storing them, so what
autograd keeps is q, k, v, the output and the log-sum-exp: linear in Lk.

Index legend for the einsums (the notation page's symbols):
    q  query position, Lq of them
    k  key position within a block, at most block_size of them
    d  feature, D of them (Dv for values)
    ...  any leading batch and head dims, the same for every input

Masks are bool, True = may attend, with as many dims as the scores (as in
:func:`xattn.attention`). ``causal=True`` adds the causal rule of
``F.scaled_dot_product_attention(is_causal=True)``: query i sees keys j <= i,
counted from the first key, without building the mask.
"""

from __future__ import annotations

import torch

from xattn.checks import check_blockwise, fmt_shape

__all__ = [
    "block_scores",
    "online_forward",
    "online_backward",
    "OnlineAttention",
    "online_attention",
]


def block_scores(
    q: torch.Tensor,
    k: torch.Tensor,
    start: int,
    stop: int,
    mask: torch.Tensor | None = None,
    causal: bool = False,
) -> torch.Tensor:
    """The scores of every query against keys ``start`` to ``stop - 1``, -inf if hidden.

    ``q`` comes already scaled. The mask is cut to the block (a mask that is the
    same for every key, size 1 there, is used whole); with ``causal``, a key
    after its query is hidden too.

    Shapes:
        q (..., Lq, D), k (..., Lk, D), mask (..., Lq | 1, Lk | 1)
        -> scores (..., Lq, stop - start)
    """
    scores = torch.einsum("... q d, ... k d -> ... q k", q, k[..., start:stop, :])
    if mask is not None:
        block = mask if mask.shape[-1] == 1 else mask[..., start:stop]
        scores.masked_fill_(~block, float("-inf"))  # (..., Lq, Bk)
    if causal:
        rows = torch.arange(q.shape[-2], device=q.device)[:, None]  # (Lq, 1)
        cols = torch.arange(start, stop, device=q.device)[None, :]  # (1, Bk)
        scores.masked_fill_(cols > rows, float("-inf"))  # a key after the query
    return scores


@torch.no_grad()
def online_forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    block_size: int = 256,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention block by block over the keys, with a running max and sum.

    The result equals :func:`xattn.attention`'s output up to rounding, whatever
    the block size. It carries no gradients; :func:`online_attention` is the
    same computation with a backward pass.

    Returns:
        ``(out, lse)``: the output, and each query's log-sum-exp over its visible
        scores (-inf, and a zero output, for a query that sees no key).

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), mask (..., Lq | 1, Lk | 1)
        -> out (..., Lq, Dv), lse (..., Lq)
    """
    check_blockwise(q, k, v, mask, causal, block_size, scale)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    lq, lk = q.shape[-2], k.shape[-2]
    m = torch.full((*q.shape[:-1], 1), float("-inf"), dtype=q.dtype, device=q.device)
    total = torch.zeros_like(m)  # (..., Lq, 1): the running sum l
    acc = q.new_zeros(*q.shape[:-1], v.shape[-1])  # (..., Lq, Dv)
    q = q * scale
    end = min(lk, lq) if causal else lk  # causal: no query sees a key at Lq or later
    for start in range(0, end, block_size):
        stop = min(start + block_size, lk)
        scores = block_scores(q, k, start, stop, mask, causal)  # (..., Lq, Bk)
        m_new = torch.maximum(m, scores.amax(dim=-1, keepdim=True))  # (..., Lq, 1)
        # While a query has seen no visible key its max is -inf; shift by 0 then,
        # so that exp gives 0 rather than exp(-inf - -inf) = nan.
        shift = m_new.masked_fill(m_new == float("-inf"), 0.0)
        p = scores.sub_(shift).exp_()  # (..., Lq, Bk), in place of the scores
        rescale = (m - shift).exp_()  # (..., Lq, 1): the old terms, to the new max
        total.mul_(rescale).add_(p.sum(dim=-1, keepdim=True))
        acc.mul_(rescale).add_(
            torch.einsum("... q k, ... k d -> ... q d", p, v[..., start:stop, :])
        )
        m = m_new
        del scores, p  # free this block before the next one is made
    out = acc / total.masked_fill(total == 0, 1.0)  # no visible key: 0 / 1 = 0
    lse = (m + total.log()).squeeze(-1)  # (..., Lq); -inf + -inf where nothing seen
    return out, lse


@torch.no_grad()
def online_backward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    dout: torch.Tensor,
    dlse: torch.Tensor | None = None,
    mask: torch.Tensor | None = None,
    causal: bool = False,
    block_size: int = 256,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of :func:`online_forward`'s results, recomputing each block's weights.

    With P = softmax(S) and O = P V: dV = P^T dO, dP = dO V^T, and
    dS = P * (dP - rowsum(dO * O) + dlse), since each row's log-sum-exp has
    gradient P with respect to its scores; then dQ = dS K * scale and
    dK = dS^T Q * scale. P is rebuilt block by block as exp(S - lse).

    Args:
        out, lse: what :func:`online_forward` returned for these inputs.
        dout, dlse: the gradients arriving at ``out`` and ``lse`` (``dlse`` None
            when the log-sum-exp was not used).

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), out, dout (..., Lq, Dv),
        lse, dlse (..., Lq) -> dq (..., Lq, D), dk (..., Lk, D), dv (..., Lk, Dv)
    """
    check_blockwise(q, k, v, mask, causal, block_size, scale)
    expected = (*q.shape[:-1], v.shape[-1])
    for name, t in (("out", out), ("dout", dout)):
        if tuple(t.shape) != expected:
            raise ValueError(
                f"{name} must be (..., Lq, Dv) = {fmt_shape(expected)}, got {name} "
                f"{fmt_shape(t)}"
            )
    for name, t in (("lse", lse), ("dlse", dlse)):
        if t is not None and tuple(t.shape) != tuple(q.shape[:-1]):
            raise ValueError(
                f"{name} must be (..., Lq) = {fmt_shape(q.shape[:-1])}, got {name} "
                f"{fmt_shape(t)}"
            )
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    lq, lk = q.shape[-2], k.shape[-2]
    dq, dk, dv = torch.zeros_like(q), torch.zeros_like(k), torch.zeros_like(v)
    # A query that saw no key has lse = -inf and only -inf scores: shift by 0.
    lse = lse.masked_fill(lse == float("-inf"), 0.0)[..., None]  # (..., Lq, 1)
    delta = (dout * out).sum(dim=-1, keepdim=True)  # (..., Lq, 1): rowsum(dO * O)
    if dlse is not None:
        delta = delta - dlse[..., None]
    qs = q * scale
    end = min(lk, lq) if causal else lk
    for start in range(0, end, block_size):
        stop = min(start + block_size, lk)
        k_blk, v_blk = k[..., start:stop, :], v[..., start:stop, :]
        p = block_scores(qs, k, start, stop, mask, causal).sub_(lse).exp_()
        dv[..., start:stop, :] = torch.einsum("... q k, ... q d -> ... k d", p, dout)
        dp = torch.einsum("... q d, ... k d -> ... q k", dout, v_blk)  # (..., Lq, Bk)
        ds = p.mul_(dp.sub_(delta))  # (..., Lq, Bk), in place of p
        dq += torch.einsum("... q k, ... k d -> ... q d", ds, k_blk) * scale
        dk[..., start:stop, :] = (
            torch.einsum("... q k, ... q d -> ... k d", ds, q) * scale
        )
        del p, dp, ds  # free this block before the next one is made
    return dq, dk, dv


class OnlineAttention(torch.autograd.Function):
    """:func:`online_forward` with :func:`online_backward` as its gradient.

    Autograd keeps q, k, v, the output and the log-sum-exp (and the mask), never
    a block's weights.
    """

    @staticmethod
    def forward(ctx, q, k, v, mask, causal, block_size, scale):
        out, lse = online_forward(q, k, v, mask, causal, block_size, scale)
        ctx.save_for_backward(q, k, v, out, lse, mask)
        ctx.options = (causal, block_size, scale)
        return out, lse

    @staticmethod
    def backward(ctx, dout, dlse):
        q, k, v, out, lse, mask = ctx.saved_tensors
        causal, block_size, scale = ctx.options
        dq, dk, dv = online_backward(
            q, k, v, out, lse, dout, dlse, mask, causal, block_size, scale
        )
        return dq, dk, dv, None, None, None, None


def online_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    *,
    causal: bool = False,
    block_size: int = 256,
    scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention in key blocks, with a backward pass that recomputes.

    Memory beyond the inputs and outputs is one block of scores, (..., Lq,
    block_size), in the forward and the backward pass alike.

    Args:
        q: queries.
        k: keys.
        v: values, one per key.
        mask: bool, True = may attend; as many dims as the scores (..., Lq, Lk).
        causal: query i sees keys j <= i only (as ``is_causal=True`` in SDPA).
        block_size: keys per block; the result does not depend on it beyond
            rounding.
        scale: score scale, None for 1 / sqrt(D).

    Returns:
        ``(out, lse)``: the attention output and each query's log-sum-exp over
        its visible scores (-inf, with a zero output, where it sees none).

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), mask (..., Lq | 1, Lk | 1)
        -> out (..., Lq, Dv), lse (..., Lq)
    """
    # online_forward checks the inputs, as the first thing the Function does
    return OnlineAttention.apply(q, k, v, mask, causal, block_size, scale)
