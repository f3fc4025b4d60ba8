"""Swapping one step's cross-attention: the model's output when the weights of one
target position are replaced, in every decoder layer and head or in one head at a time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import torch
from torch import nn

from xattn.attention import aggregate, attention
from xattn.checks import check_floating, check_int, checked, fmt_shape
from xattn.explain._truth import check_model, check_token_ids, model_device
from xattn.layers import use_attention


def _check_row_fits(weights: torch.Tensor, step: int, q, v) -> None:
    """At call time: the weights fit the attention they replace a row of."""
    b, h, lq, _ = q.shape
    lk = v.shape[-2]
    if weights.shape != (b, h, lk) or step >= lq:
        raise ValueError(
            f"weights must be (B, H, Lk) = ({b}, {h}, {lk}) with step < Lq = {lq}: "
            f"got weights {fmt_shape(weights)}, step {step}"
        )
    if weights.dtype != v.dtype or weights.device != v.device:
        raise ValueError(
            f"weights must be {v.dtype} on {v.device}, as the values, got weights "
            f"{weights.dtype} on {weights.device}"
        )


def _check_step_attend(weights, step) -> None:
    check_floating("weights", weights)
    if weights.dim() != 3:
        raise ValueError(
            f"weights must be (B, H, Lk), got weights {fmt_shape(weights)}"
        )
    if not bool(torch.isfinite(weights).all()):
        raise ValueError("weights must be finite (attention weights)")
    check_int("step", step)


@checked(_check_step_attend)
def step_attend(weights: torch.Tensor, step: int) -> Callable:
    """An ``attend`` function: exact attention, but target position ``step``
    uses the given weights over the keys instead of its own.

    Shapes:
        weights (B, H, Lk); attend: q (B, H, Lq, Dh), k, v (B, H, Lk, Dh)
        -> out (B, H, Lq, Dh), weights (B, H, Lq, Lk)
    """

    def attend(q, k, v, mask):
        _check_row_fits(weights, step, q, v)
        _, exact = attention(q, k, v, mask)  # (B, H, Lq, Lk)
        w = torch.cat(
            [exact[:, :, :step], weights[:, :, None], exact[:, :, step + 1 :]], dim=2
        )  # (B, H, Lq, Lk)
        return aggregate(w, v), w

    return attend


def _check_with_step_weights(model, src, tgt_in, step, weights=None) -> None:
    check_model(model)
    device, cfg = model_device(model), model.cfg
    check_token_ids("src", src, cfg.src_vocab_size, device)
    check_token_ids("tgt_in", tgt_in, cfg.tgt_vocab_size, device)
    if len(src) != len(tgt_in):
        raise ValueError(
            f"src and tgt_in must share the batch size: src {fmt_shape(src)} vs "
            f"tgt_in {fmt_shape(tgt_in)}"
        )
    check_int("step", step)
    if step >= tgt_in.shape[1]:
        raise ValueError(
            f"step must be a target position < Lq = {tgt_in.shape[1]}, got {step}"
        )
    if weights is None:
        return
    check_floating("weights", weights)
    n, h = len(model.decoder.layers), cfg.n_heads
    want = (n, len(src), h, src.shape[1])
    if weights.shape != want:
        raise ValueError(
            f"weights must be (N, B, H, Lk) with N = {n} decoder layers, B = "
            f"{len(src)}, H = {h} heads and Lk = {src.shape[1]}, got weights "
            f"{fmt_shape(weights)}"
        )
    dtype = next(model.parameters()).dtype
    if weights.dtype != dtype or weights.device != device:
        raise ValueError(
            f"weights must be {dtype} on {device}, as the model, got weights "
            f"{weights.dtype} on {weights.device}"
        )
    if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
        raise ValueError("weights must be finite and non-negative (attention weights)")


@checked(_check_with_step_weights)
def with_step_weights(
    model: nn.Module,
    src: torch.Tensor,
    tgt_in: torch.Tensor,
    step: int,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The model's output distribution at ``step``, teacher-forced, with each decoder
    layer's cross-attention at that step replaced by ``weights`` (None: its own).

    Shapes:
        src (B, Lk), tgt_in (B, Lq), weights (N, B, H, Lk) -> probs (B, V)
    """
    layers = model.decoder.layers
    with contextlib.ExitStack() as stack:
        for n, layer in enumerate(layers if weights is not None else []):
            stack.enter_context(use_attention(layer, step_attend(weights[n], step)))
        logits = model(src, tgt_in)  # (B, Lq, V)
    return logits[:, step].softmax(-1)  # (B, V)


def _check_step_weights(model, src, tgt_in, step) -> None:
    _check_with_step_weights(model, src, tgt_in, step)


@checked(_check_step_weights)
def step_weights(
    model: nn.Module, src: torch.Tensor, tgt_in: torch.Tensor, step: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own cross-attention weights at ``step``, every decoder layer and
    head, and its output distribution there (teacher-forced).

    Shapes:
        src (B, Lk), tgt_in (B, Lq) -> weights (N, B, H, Lk), probs (B, V)
    """
    model.decoder.keep_cross_weights()
    try:
        with torch.no_grad():
            probs = with_step_weights(model, src, tgt_in, step)  # (B, V)
    finally:
        model.decoder.keep_cross_weights(False)
    return model.decoder.cross_weights()[:, :, :, step], probs


def _check_head_influence(model, src, tgt_in, step, weights) -> None:
    if weights is None:
        raise ValueError("weights must be given: the weights each head takes in turn")
    _check_with_step_weights(model, src, tgt_in, step, weights)


@checked(_check_head_influence)
def head_influence(
    model: nn.Module,
    src: torch.Tensor,
    tgt_in: torch.Tensor,
    step: int,
    weights: torch.Tensor,
) -> torch.Tensor:
    """How far the output at ``step`` moves when one head at a time takes ``weights``.

    For each decoder layer n and head h, that head's cross-attention at ``step``
    becomes ``weights[n, :, h]`` while every other head keeps its own; the
    result is the total variation between the output distribution this gives
    and the model's own, per example.

    Shapes:
        src (B, Lk), tgt_in (B, Lq), weights (N, B, H, Lk) -> tv (N, B, H)
    """
    own, base = step_weights(model, src, tgt_in, step)  # (N, B, H, Lk), (B, V)
    tv = torch.zeros(own.shape[:3], dtype=base.dtype, device=base.device)
    for n in range(own.shape[0]):
        for h in range(own.shape[2]):
            swapped = own.clone()
            swapped[n, :, h] = weights[n, :, h]
            with torch.no_grad():
                probs = with_step_weights(model, src, tgt_in, step, swapped)
            tv[n, :, h] = 0.5 * (probs - base).abs().sum(-1)  # (B,)
    return tv
