"""Head masks, and the importance of each head that a mask's gradient measures.

Index legend: b batch (B), h head (H), q query position (Lq), d feature within a
head (Dh).

A head mask ``xi`` (H,) multiplies each head's output before the heads are
merged and projected (Michel et al. 2019): ``xi_h = 1`` keeps head h, 0 removes
its contribution. The gradient of the loss with respect to ``xi_h``, taken at
``xi = 1``, says how much the loss would change if the head were scaled down;
its absolute value, summed over held-out batches, is the head's *importance*.
:mod:`xattn.prune` then takes the least important heads out of the layers.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from xattn.attention import attention
from xattn.checks import check_floating, check_int, checked, fmt_shape
from xattn.layers import MultiHeadCrossAttention
from xattn.model import Seq2Seq

__all__ = ["attention_layers", "head_mask_attend", "head_masks", "head_importance"]


def _check_model(model) -> None:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")


@checked(_check_model)
def attention_layers(model: nn.Module) -> dict[str, MultiHeadCrossAttention]:
    """Every multi-head attention layer of a model, by name, in the model's order.

    The names read ``encoder.layers.0.self_attn``, ``decoder.layers.1.cross_attn``.
    """
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, MultiHeadCrossAttention)
    }


def _check_xi(name: str, xi: object, n_heads: int | None = None) -> None:
    """A finite float (H,) mask, one number per head (of ``n_heads``, if given)."""
    check_floating(name, xi)
    if n_heads is not None and tuple(xi.shape) != (n_heads,):
        raise ValueError(
            f"{name} must be (H,) = ({n_heads},) for that layer's heads, got "
            f"{fmt_shape(xi)}"
        )
    if xi.dim() != 1 or not len(xi):
        raise ValueError(
            f"{name} must be (H,), one number per head, got {name} {fmt_shape(xi)}"
        )
    if not bool(torch.isfinite(xi).all()):
        raise ValueError(f"{name} {fmt_shape(xi)} holds inf or NaN")


def _check_head_mask_attend(xi) -> None:
    _check_xi("xi", xi)


@checked(_check_head_mask_attend)
def head_mask_attend(xi: torch.Tensor):
    """An ``attend(q, k, v, mask)`` that multiplies head h's output by ``xi[h]``.

    With ``xi`` all ones it computes exactly what the layer's own from-scratch
    path computes. Gradients flow into ``xi`` if it requires them. Every call
    of the ``attend`` it returns checks that ``q`` has one head per number of
    ``xi``.

    Shapes:
        xi (H,); q (B, H, Lq, Dh), k, v (B, H, Lk, Dh) -> out (B, H, Lq, Dh),
        weights (B, H, Lq, Lk)
    """

    def attend(q, k, v, mask):
        out, weights = attention(q, k, v, mask)  # (B, H, Lq, Dh), (B, H, Lq, Lk)
        return out * xi[:, None, None].to(out.dtype), weights

    return attend


def _each_attend_checks_heads(make_attend):
    """Wrap ``head_mask_attend`` so that the attend it makes checks every call.

    An attend runs inside a layer's (checked) forward pass, where no ``@checked``
    check would run; a mask with one number, broadcast over four heads, would
    otherwise pass in silence.
    """

    @functools.wraps(make_attend)
    def made(xi: torch.Tensor):
        attend = make_attend(xi)

        def checked_attend(q, k, v, mask):
            if not isinstance(q, torch.Tensor) or q.dim() != 4 or q.shape[1] != len(xi):
                got = fmt_shape(q) if isinstance(q, torch.Tensor) else type(q).__name__
                raise ValueError(
                    f"xi {fmt_shape(xi)} must have one number per head of q (B, H, "
                    f"Lq, Dh), got q {got}"
                )
            return attend(q, k, v, mask)

        return checked_attend

    return made


head_mask_attend = _each_attend_checks_heads(head_mask_attend)


def _check_layer_names(given: dict, layers: dict, what: str, values: str) -> None:
    """``given`` is a dict whose keys name attention layers of the model."""
    if not isinstance(given, dict):
        raise ValueError(
            f"{what} must be a dict of layer name -> {values}, got "
            f"{type(given).__name__}"
        )
    unknown = sorted(set(given) - set(layers), key=str)
    if unknown:
        raise ValueError(
            f"no attention layer named {unknown[0]!r}; the layers are "
            f"{', '.join(layers)}"
        )


def _check_head_masks(model, masks) -> None:
    _check_model(model)
    layers = attention_layers(model)
    _check_layer_names(masks, layers, "masks", "xi (H,)")
    for name, xi in masks.items():
        _check_xi(f"masks[{name!r}]", xi, layers[name].n_heads)


@contextlib.contextmanager
@checked(_check_head_masks)
def head_masks(
    model: nn.Module, masks: dict[str, torch.Tensor]
) -> Iterator[dict[str, MultiHeadCrossAttention]]:
    """Apply a head mask to each named attention layer while the block runs.

    ``masks`` maps layer names (as :func:`attention_layers` gives them) to masks
    ``xi`` (H,); the other layers are left alone. Each named layer computes its
    attention with :func:`head_mask_attend` (as :func:`xattn.use_attention` would
    swap it in), and gets its own attention back afterwards, also after an error.

    Yields:
        the layers masked, by name.
    """
    layers = attention_layers(model)
    chosen = {name: layers[name] for name in masks}
    before = {name: m.__dict__.get("attend") for name, m in chosen.items()}
    try:
        for name, m in chosen.items():
            m.attend = head_mask_attend(masks[name])
        yield chosen
    finally:
        for name, m in chosen.items():
            if before[name] is None:
                m.__dict__.pop("attend", None)
            else:
                m.attend = before[name]


def _check_batch(model, i, batch) -> None:
    """One (src, tgt_in, tgt_out) batch of token ids that the model can read."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 3:
        raise ValueError(
            "each batch must be (src, tgt_in, tgt_out), as DateTask.encode gives "
            f"them; batches[{i}] is a {type(batch).__name__} of another length"
        )
    cfg = model.cfg if isinstance(model, Seq2Seq) else None
    vocabs = (cfg.src_vocab_size, *[cfg.tgt_vocab_size] * 2) if cfg else [None] * 3
    for name, t, vocab in zip(("src", "tgt_in", "tgt_out"), batch, vocabs):
        ok = isinstance(t, torch.Tensor) and t.dim() == 2 and t.dtype == torch.long
        if ok and vocab is not None:  # the ids and lengths a Seq2Seq can read
            ok = t.shape[1] <= cfg.max_len and (
                not t.numel() or (int(t.min()) >= 0 and int(t.max()) < vocab)
            )
        if not ok:
            raise ValueError(
                f"batches[{i}]: {name} must be (B, L) torch.long ids that the model "
                f"reads (ids below {vocab}, L up to its max_len), got {t!r}"[:300]
            )
    if batch[1].shape != batch[2].shape or batch[0].shape[0] != batch[1].shape[0]:
        raise ValueError(
            f"batches[{i}]: src (B, Lk), tgt_in and tgt_out (B, Lq) must share B, and "
            f"tgt_in tgt_out their shape: {', '.join(fmt_shape(t) for t in batch)}"
        )


def _check_head_importance(model, batches, pad_id=0) -> None:
    _check_model(model)
    if not attention_layers(model):
        raise ValueError(f"{type(model).__name__} has no MultiHeadCrossAttention")
    if not isinstance(batches, Sequence) or isinstance(batches, str):
        raise ValueError(
            "batches must be a list of (src, tgt_in, tgt_out) batches, got "
            f"{type(batches).__name__}"
        )
    if not len(batches):
        raise ValueError("batches is empty: importance needs at least one batch")
    check_int("pad_id", pad_id)
    for i, batch in enumerate(batches):
        _check_batch(model, i, batch)
        if not bool((batch[2] != pad_id).any()):
            raise ValueError(f"batches[{i}]: tgt_out holds only padding")


@checked(_check_head_importance)
def head_importance(
    model: nn.Module,
    batches: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    pad_id: int = 0,
) -> dict[str, torch.Tensor]:
    """``|dL / dxi_h|`` at xi = 1, summed over batches, for every head of every layer.

    L is the teacher-forced cross-entropy of a batch (mean over its real target
    tokens), so the score is a sum over batches of the absolute derivative of
    each batch's mean loss, as Michel et al.'s code accumulates it. Use held-out
    data (a validation split), not the test set. The model's parameters get no
    gradients.

    Shapes:
        batches: a list of (src (B, Lk), tgt_in (B, Lq), tgt_out (B, Lq)) ->
        {layer name: importance (H,)}
    """
    device = next(model.parameters()).device
    xis = {
        name: torch.ones(m.n_heads, device=device, requires_grad=True)
        for name, m in attention_layers(model).items()
    }
    total = {name: torch.zeros_like(xi) for name, xi in xis.items()}
    with head_masks(model, xis):
        for src, tgt_in, tgt_out in batches:
            real = tgt_out != pad_id  # (B, Lq)
            logits = model(src, tgt_in)  # (B, Lq, V)
            loss = F.cross_entropy(logits[real].float(), tgt_out[real])
            grads = torch.autograd.grad(loss, list(xis.values()))
            for name, g in zip(xis, grads):
                total[name] += g.abs()
    return total
