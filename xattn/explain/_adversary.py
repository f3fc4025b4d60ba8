"""The adversary: cross-attention weights far from the model's own (in Jensen-Shannon
divergence) that leave its output almost unchanged, after Jain and Wallace (2019).

They searched the one attention layer of recurrent models (classification, QA,
NLI) for several adversaries at once, kept apart; here one adversary is
optimized jointly over every layer and head at one teacher-forced step (or over
the heads named), per example.
"""

from __future__ import annotations

import torch
from torch import nn

from xattn.attention import masked_softmax
from xattn.checks import (
    check_floating,
    check_int,
    check_number,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.explain._step import (
    _check_with_step_weights,
    step_weights,
    with_step_weights,
)


def _check_distribution(name: str, p: torch.Tensor) -> None:
    """Non-negative, finite, and summing to one over the last dim, to within 1e-3 (more
    in float16 and bfloat16)."""
    if p.dim() < 1 or p.shape[-1] == 0:
        raise ValueError(
            f"{name} must be (..., K) distributions over K >= 1 keys, got {name} "
            f"{fmt_shape(p)}"
        )
    p = p.detach()
    if not bool(torch.isfinite(p).all()) or bool((p < 0).any()):
        raise ValueError(f"{name} must be finite and non-negative (probabilities)")
    # Room for rounding, also of weights computed in a lower precision and cast up.
    tol = max(1e-3, 16 * p.shape[-1] * torch.finfo(p.dtype).eps)
    sums = p.sum(-1)
    if p.numel() and float((sums - 1).abs().max()) > tol:
        raise ValueError(
            f"{name} must sum to 1 over its last dim (probability distributions): "
            f"its sums run from {float(sums.min()):.4g} to {float(sums.max()):.4g}"
        )


def _check_js_divergence(p, q) -> None:
    check_floating("p", p)
    check_floating("q", q)
    if p.shape != q.shape:
        raise ValueError(
            f"p and q must have the same shape: p {fmt_shape(p)} vs q {fmt_shape(q)}"
        )
    if p.dtype != q.dtype or p.device != q.device:
        raise ValueError(
            f"p and q must share a dtype and a device: p {p.dtype} on {p.device} vs "
            f"q {q.dtype} on {q.device}"
        )
    _check_distribution("p", p)
    _check_distribution("q", q)


@checked(_check_js_divergence)
def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence over the last dim, in nats (0 to ln 2).

    ``JS = KL(p | m) / 2 + KL(q | m) / 2`` with ``m = (p + q) / 2`` and
    ``0 log 0 = 0``; finite gradients where p or q is zero.

    Shapes:
        p, q (..., K) -> (...)
    """
    tiny = torch.finfo(p.dtype).tiny
    m = (p + q) / 2
    log_m = m.clamp_min(tiny).log()

    def kl(a):
        return (a * (a.clamp_min(tiny).log() - log_m)).sum(-1)

    return (kl(p) + kl(q)) / 2


def _check_adversarial_attention(
    model,
    src,
    tgt_in,
    step,
    *,
    heads=None,
    eps=0.01,
    iters=100,
    lr=0.2,
    penalty=100.0,
    seed=0,
) -> None:
    _check_with_step_weights(model, src, tgt_in, step)
    if heads is not None:
        want = (len(model.decoder.layers), model.cfg.n_heads)
        if (
            not isinstance(heads, torch.Tensor)
            or heads.dtype != torch.bool
            or heads.shape != want
        ):
            got = (
                f"{fmt_shape(heads)} {heads.dtype}"
                if isinstance(heads, torch.Tensor)
                else type(heads).__name__
            )
            raise ValueError(
                f"heads must be a bool (N, H) = {fmt_shape(want)} tensor, True for "
                f"the heads the adversary may change, got {got}"
            )
        if not bool(heads.any()):
            raise ValueError("heads must name at least one head (every entry is False)")
    check_number("eps", eps, 0.0, 1.0)
    check_positive_int("iters", iters)
    check_number("lr", lr, 0.0, low_open=True)
    check_number("penalty", penalty, 0.0)
    check_int("seed", seed)


@checked(_check_adversarial_attention)
def adversarial_attention(
    model: nn.Module,
    src: torch.Tensor,
    tgt_in: torch.Tensor,
    step: int,
    *,
    heads: torch.Tensor | None = None,
    eps: float = 0.01,
    iters: int = 100,
    lr: float = 0.2,
    penalty: float = 100.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-attention weights at ``step`` as far as possible from the model's own
    (mean JS divergence over the heads it changes) while the output distribution
    there moves by at most ``eps`` in total variation, after Jain and Wallace
    (2019), who searched one attention layer for several adversaries at once;
    here one adversary covers every layer and head at one teacher-forced step,
    or the heads that ``heads`` names (the others keep their own weights).

    Adam on the logits of the weights, from the model's own plus Gaussian noise,
    maximizing ``JS - penalty * max(0, TV - eps)``; per example the best iterate
    within ``eps`` is kept (the model's own weights, JS 0, if none is).

    Args:
        model: the date model, in eval mode; its parameters are left untouched.
        src, tgt_in: the batch, teacher-forced.
        step: the target position whose cross-attention is replaced.
        heads: bool (N, H), True for the heads the adversary may change; None:
            every head of every decoder layer.
        eps: the largest total variation allowed between the output
            distributions at ``step``.
        iters, lr: Adam's iterations and learning rate.
        penalty: the weight of the bound's violation in the objective.
        seed: the seed of the starting noise.

    Returns:
        ``(weights, js, tv)``: the weights (N, B, H, Lk), their mean JS divergence
        from the model's over the heads changed (B,), and the total variation of
        the output they give (B,).
    """
    own, base = step_weights(model, src, tgt_in, step)  # (N, B, H, Lk), (B, V)
    if heads is None:
        heads = torch.ones(own.shape[0], own.shape[2], dtype=torch.bool)
    free = heads.to(own.device)[:, None, :, None]  # (N, 1, H, 1)
    mask = model.source_mask(src)[None, :, None, :]  # (1, B, 1, Lk)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(own.shape, generator=gen, dtype=own.dtype).to(own.device)
    logits = (own.clamp_min(1e-6).log() + noise).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)

    def mean_js(w):  # over the heads changed: (B,)
        per_head = js_divergence(w, own) * free[..., 0]  # (N, B, H)
        return per_head.sum((0, 2)) / free.sum()

    best = own.clone()
    best_js = torch.zeros(own.shape[1], dtype=own.dtype, device=own.device)
    for _ in range(iters):
        adv = torch.where(free, masked_softmax(logits, mask), own)  # (N, B, H, Lk)
        probs = with_step_weights(model, src, tgt_in, step, adv)
        tv = 0.5 * (probs - base).abs().sum(-1)  # (B,)
        js = mean_js(adv)  # (B,)
        with torch.no_grad():
            better = (tv <= eps) & (js > best_js)  # (B,)
            best[:, better] = adv[:, better].detach()
            best_js = torch.where(better, js, best_js)
        loss = (-js + penalty * torch.relu(tv - eps)).sum()
        (grad,) = torch.autograd.grad(loss, [logits])  # the model's own grads untouched
        opt.zero_grad()
        logits.grad = grad
        opt.step()
    with torch.no_grad():
        probs = with_step_weights(model, src, tgt_in, step, best)
        tv = 0.5 * (probs - base).abs().sum(-1)
    return best, mean_js(best), tv
