"""Attention-based attributions: attention rollout through the encoder, composed
with the decoder's cross-attention."""

from __future__ import annotations

import torch
from torch import nn

from xattn.attention import attention
from xattn.checks import check_floating, check_number, checked, fmt_shape
from xattn.explain._truth import check_model, check_token_ids, model_device
from xattn.layers import use_attention
from xattn.model import Seq2Seq


def _check_rollout(weights, *, residual=0.5) -> None:
    check_floating("weights", weights)
    check_number("residual", residual, 0.0, 1.0)
    if weights.dim() < 3 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(
            f"weights must be (N, ..., L, L), square self-attention per layer, got "
            f"weights {fmt_shape(weights)}"
        )
    if not bool(torch.isfinite(weights).all()):
        raise ValueError("weights must be finite (attention weights)")
    if bool((weights < 0).any()):
        raise ValueError("weights must be non-negative (attention weights)")
    if residual == 0 and bool((weights.sum(-1) == 0).any()):
        raise ValueError(
            "weights has a row of zeros (a position that attends to nothing), which "
            "residual=0 cannot renormalize: give it a residual share above 0"
        )


@checked(_check_rollout)
def rollout(weights: torch.Tensor, *, residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema 2020) through a stack of self-attention.

    Each layer's weights ``A`` (heads averaged) become ``r I + (1 - r) A`` for
    the residual connection, rows renormalized, and the layers are multiplied
    from the last down: ``R = A'_N ... A'_1``. Row i of R: how much each input
    position flows into position i of the last layer.

    Shapes:
        weights (N, ..., L, L) -> rollout (..., L, L)
    """
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    out = eye.expand(weights.shape[1:])
    for layer in weights:
        mixed = residual * eye + (1 - residual) * layer  # (..., L, L)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        out = mixed @ out  # later layers on the left
    return out  # (..., L, L)


def _check_cross_rollout(cross, encoder_weights, *, residual=0.5) -> None:
    check_floating("cross", cross)
    _check_rollout(encoder_weights, residual=residual)
    lead, lk = encoder_weights.shape[1:-2], encoder_weights.shape[-1]
    if cross.dim() < 2 or cross.shape[:-2] != lead or cross.shape[-1] != lk:
        raise ValueError(
            "cross (..., Lq, Lk) and encoder_weights (N, ..., Lk, Lk) must share the "
            f"leading dims and Lk: cross {fmt_shape(cross)} vs encoder_weights "
            f"{fmt_shape(encoder_weights)}"
        )
    if cross.dtype != encoder_weights.dtype or cross.device != encoder_weights.device:
        raise ValueError(
            "cross and encoder_weights must share a dtype and a device: cross "
            f"{cross.dtype} on {cross.device} vs encoder_weights "
            f"{encoder_weights.dtype} on {encoder_weights.device}"
        )


@checked(_check_cross_rollout)
def cross_rollout(
    cross: torch.Tensor, encoder_weights: torch.Tensor, *, residual: float = 0.5
) -> torch.Tensor:
    """Cross-attention composed with the rollout of the encoder's self-attention.

    The decoder reads the encoder's last layer, whose position j mixes the
    source positions by row j of :func:`rollout`; so target position q's
    attribution to source character k is ``sum_j cross[q, j] R[j, k]``.

    Shapes:
        cross (..., Lq, Lk), encoder_weights (N, ..., Lk, Lk) -> (..., Lq, Lk)
    """
    enc = rollout(encoder_weights, residual=residual)  # (..., Lk, Lk)
    return cross @ enc  # (..., Lq, Lk)


def _check_encoder_self_weights(model, src) -> None:
    check_model(model)
    check_token_ids("src", src, model.cfg.src_vocab_size, model_device(model))


@checked(_check_encoder_self_weights)
def encoder_self_weights(model: Seq2Seq | nn.Module, src: torch.Tensor) -> torch.Tensor:
    """The encoder's self-attention weights on ``src``, every layer and head.

    Shapes:
        src (B, Lk) -> (N, B, H, Lk, Lk)
    """
    kept = []

    def keep(q, k, v, mask):
        out, weights = attention(q, k, v, mask)
        kept.append(weights)
        return out, weights

    with torch.no_grad(), use_attention(model.encoder, keep, layers="self_attn"):
        model.encode(src)
    return torch.stack(kept)
