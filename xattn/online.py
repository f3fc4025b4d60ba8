"""Attention over the keys one block at a time, the softmax computed online.

Chapter 10 builds this. The (Lq, Lk) matrix of scores is never formed: the keys
and values are read in blocks of ``block_size``, and every query carries three
running quantities, its largest score so far m, the sum l of exp(score - m), and
the sum of the values weighted by exp(score - m), all rescaled by exp(m_old -
m_new) whenever m grows. At the end the output is the weighted sum over l and
the log-sum-exp of the query's scores is m + log l. The backward pass recomputes
each block's weights from that log-sum-exp instead of storing them, so what
autograd keeps is q, k, v, the output and the log-sum-exp: linear in Lk.

The running quantities are kept in float32 at least, as FlashAttention keeps
them: in bfloat16 a sum of a thousand blocks would lose most of its digits.
Each block is cast up as it is read, so the extra memory is one block's.

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

from xattn.checks import (
    check_blockwise,
    check_bool,
    check_floating,
    check_int,
    check_mask,
    check_qkv,
    checked,
    fmt_shape,
)

__all__ = [
    "block_scores",
    "online_forward",
    "online_backward",
    "OnlineAttention",
    "online_attention",
]


def _check_block_scores(q, k, start, stop, mask=None, causal=False) -> None:
    check_qkv(q, k)
    check_int("start", start)
    check_int("stop", stop)
    lk = k.shape[-2]
    if not start <= stop <= lk:
        raise ValueError(
            f"start and stop must satisfy 0 <= start <= stop <= Lk = {lk} for k "
            f"{fmt_shape(k)}, got start={start}, stop={stop}"
        )
    check_mask(mask, (*q.shape[:-1], lk), q.device)
    check_bool("causal", causal)


@checked(_check_block_scores)
def block_scores(q, k, start, stop, mask=None, causal=False):
    """The scores of every query against keys ``start`` to ``stop - 1``, -inf if hidden.

    ``q`` comes already scaled, and the block of keys is cast to its dtype (so
    :func:`online_forward` can pass float32 queries with bfloat16 keys). The
    mask is cut to the block (a mask that is the same for every key, size 1
    there, is used whole); with ``causal``, a key after its query is hidden too.

    Shapes:
        q (..., Lq, D), k (..., Lk, D), mask (..., Lq | 1, Lk | 1)
        -> scores (..., Lq, stop - start)
    """
    k_blk = k[..., start:stop, :].to(q.dtype)  # (..., Bk, D)
    scores = torch.einsum("... q d, ... k d -> ... q k", q, k_blk)  # (..., Lq, Bk)
    if mask is not None:
        block = mask if mask.shape[-1] == 1 else mask[..., start:stop]
        scores.masked_fill_(~block, float("-inf"))
    if causal:
        rows = torch.arange(q.shape[-2], device=q.device)[:, None]  # (Lq, 1)
        cols = torch.arange(start, stop, device=q.device)[None, :]  # (1, Bk)
        scores.masked_fill_(cols > rows, float("-inf"))  # a key after the query
    return scores


def _check_online_forward(
    q, k, v, mask=None, causal=False, block_size=256, scale=None
) -> None:
    check_blockwise(q, k, v, mask, causal, block_size, scale)


@checked(_check_online_forward)
@torch.no_grad()
def online_forward(q, k, v, mask=None, causal=False, block_size=256, scale=None):
    """Attention block by block over the keys, with a running max and sum.

    The result equals :func:`xattn.attention`'s output up to rounding, whatever
    the block size: the running max, sum and output are kept in float32 (or
    float64 for float64 inputs) whatever the inputs' dtype. It carries no
    gradients; :func:`online_attention` is the same computation with a
    backward pass.

    Returns:
        ``(out, lse)``: the output, in the dtype of ``v``, and each query's
        log-sum-exp over its visible scores in the running dtype (float32 for
        bfloat16 and float16 inputs, as FlashAttention returns it); -inf, and
        a zero output, for a query that sees no key.

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), mask (..., Lq | 1, Lk | 1)
        -> out (..., Lq, Dv), lse (..., Lq)
    """
    fp = torch.promote_types(q.dtype, torch.float32)  # the running numbers' dtype
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    q = q.to(fp) * scale  # (..., Lq, D)
    m = q.new_full((*q.shape[:-1], 1), float("-inf"))  # (..., Lq, 1): running max
    total = torch.zeros_like(m)  # (..., Lq, 1): the running sum l
    acc = q.new_zeros(*q.shape[:-1], v.shape[-1])  # (..., Lq, Dv): running output
    lk = k.shape[-2]
    end = min(lk, q.shape[-2]) if causal else lk  # causal: no query sees key Lq on
    for start in range(0, end, block_size):
        stop = min(start + block_size, lk)
        scores = block_scores(q, k, start, stop, mask, causal)  # (..., Lq, Bk)
        m_new = torch.maximum(m, scores.amax(dim=-1, keepdim=True))  # (..., Lq, 1)
        # No visible key yet: the max is -inf; shift by 0, as -inf - -inf is nan.
        shift = m_new.masked_fill(m_new == float("-inf"), 0.0)
        p = scores.sub_(shift).exp_()  # (..., Lq, Bk), in place of the scores
        rescale = (m - shift).exp_()  # (..., Lq, 1): the old terms, to the new max
        total.mul_(rescale).add_(p.sum(dim=-1, keepdim=True))
        v_blk = v[..., start:stop, :].to(fp)  # (..., Bk, Dv)
        acc.mul_(rescale).add_(torch.einsum("... q k, ... k d -> ... q d", p, v_blk))
        m = m_new
        del scores, p  # free this block before the next one is made
    out = acc / total.masked_fill(total == 0, 1.0)  # no visible key: 0 / 1 = 0
    lse = (m + total.log()).squeeze(-1)  # (..., Lq); -inf where nothing was seen
    return out.to(v.dtype), lse


def _check_online_backward(
    q, k, v, out, lse, dout, dlse, mask=None, causal=False, block_size=256, scale=None
) -> None:
    check_blockwise(q, k, v, mask, causal, block_size, scale)
    expected = (*q.shape[:-1], v.shape[-1])
    for name, t, shape, symbols in (
        ("out", out, expected, "(..., Lq, Dv)"),
        ("dout", dout, expected, "(..., Lq, Dv)"),
        ("lse", lse, tuple(q.shape[:-1]), "(..., Lq)"),
        ("dlse", dlse, tuple(q.shape[:-1]), "(..., Lq)"),
    ):
        if t is None and name == "dlse":
            continue
        check_floating(name, t)
        if tuple(t.shape) != shape:
            raise ValueError(
                f"{name} must be {symbols} = {fmt_shape(shape)} for q {fmt_shape(q)} "
                f"and v {fmt_shape(v)}, got {name} {fmt_shape(t)}"
            )
        if t.device != q.device:
            raise ValueError(
                f"q and {name} must be on the same device: q {q.device} vs {name} "
                f"{t.device}"
            )
    for name, t in (("out", out), ("dout", dout)):
        if t.dtype != v.dtype:
            raise ValueError(
                f"{name} must have the dtype of v, as online_forward returns it: "
                f"v {v.dtype} vs {name} {t.dtype}"
            )


@checked(_check_online_backward)
@torch.no_grad()
def online_backward(
    q, k, v, out, lse, dout, dlse, mask=None, causal=False, block_size=256, scale=None
):
    """Gradients of :func:`online_forward`'s results, recomputing each block's weights.

    With P = softmax(S) and O = P V: dV = P^T dO, dP = dO V^T, and
    dS = P * (dP - rowsum(dO * O) + dlse), since each row's log-sum-exp has
    gradient P with respect to its scores; then dQ = dS K * scale and
    dK = dS^T Q * scale. P is rebuilt block by block as exp(S - lse). As in
    the forward pass, the arithmetic runs in float32 at least, and dQ, summed
    over every block, is accumulated there.

    Args:
        out, lse: what :func:`online_forward` returned for these inputs.
        dout, dlse: the gradients arriving at ``out`` and ``lse`` (``dlse`` None
            when the log-sum-exp was not used).

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), out, dout (..., Lq, Dv),
        lse, dlse (..., Lq) -> dq (..., Lq, D), dk (..., Lk, D), dv (..., Lk, Dv)
    """
    fp = torch.promote_types(q.dtype, torch.float32)
    scale = q.shape[-1] ** -0.5 if scale is None else scale
    dq = q.new_zeros(q.shape, dtype=fp)  # (..., Lq, D): a sum over every block
    dk, dv = torch.zeros_like(k), torch.zeros_like(v)
    # A query that saw no key has lse = -inf and only -inf scores: shift by 0.
    lse = lse.to(fp).masked_fill(lse == float("-inf"), 0.0)[..., None]  # (..., Lq, 1)
    dout = dout.to(fp)
    delta = (dout * out.to(fp)).sum(dim=-1, keepdim=True)  # (..., Lq, 1)
    if dlse is not None:
        delta = delta - dlse.to(fp)[..., None]
    qs = q.to(fp) * scale
    lk = k.shape[-2]
    end = min(lk, q.shape[-2]) if causal else lk
    for start in range(0, end, block_size):
        stop = min(start + block_size, lk)
        k_blk, v_blk = k[..., start:stop, :].to(fp), v[..., start:stop, :].to(fp)
        p = block_scores(qs, k, start, stop, mask, causal).sub_(lse).exp_()
        dv_blk = torch.einsum("... q k, ... q d -> ... k d", p, dout)  # (..., Bk, Dv)
        dp = torch.einsum("... q d, ... k d -> ... q k", dout, v_blk)  # (..., Lq, Bk)
        ds = p.mul_(dp.sub_(delta))  # (..., Lq, Bk), in place of p
        dq += torch.einsum("... q k, ... k d -> ... q d", ds, k_blk) * scale
        dk_blk = torch.einsum("... q k, ... q d -> ... k d", ds, qs)  # dS^T Q scale
        dk[..., start:stop, :], dv[..., start:stop, :] = dk_blk, dv_blk
        del p, dp, ds  # free this block before the next one is made
    return dq.to(q.dtype), dk, dv


class OnlineAttention(torch.autograd.Function):
    """:func:`online_forward` with :func:`online_backward` as its gradient.

    Autograd keeps q, k, v, the output and the log-sum-exp (and the mask), never
    a block's weights. Call it through :func:`online_attention`, which checks
    the inputs.
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


def _check_online_attention(
    q, k, v, mask=None, *, causal=False, block_size=256, scale=None
) -> None:
    check_blockwise(q, k, v, mask, causal, block_size, scale)


@checked(_check_online_attention)
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
        ``(out, lse)``: the attention output (in the dtype of ``v``) and each
        query's log-sum-exp over its visible scores (float32 at least; -inf,
        with a zero output, where it sees none).

    Shapes:
        q (..., Lq, D), k (..., Lk, D), v (..., Lk, Dv), mask (..., Lq | 1, Lk | 1)
        -> out (..., Lq, Dv), lse (..., Lq)
    """
    return OnlineAttention.apply(q, k, v, mask, causal, block_size, scale)
