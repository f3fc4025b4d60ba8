"""Attention heads, masked and removed: importance scores and physical pruning.

Index legend: b batch (B), h head (H), q query position (Lq), d feature within a
head (Dh).

A head mask ``xi`` (H,) multiplies each head's output before the heads are
merged and projected (Michel et al. 2019): ``xi_h = 1`` keeps head h, 0 removes
its contribution. The gradient of the loss with respect to ``xi_h``, taken at
``xi = 1``, says how much the loss would change if the head were scaled down;
its absolute value, accumulated over held-out batches, is the head's
*importance*. A head whose mask is 0 can then be taken out of the layer for
real: its rows of the query, key and value projections and its columns of the
output projection are sliced away (:func:`prune_heads`).
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from xattn.attention import attention
from xattn.checks import check_floating, fmt_shape
from xattn.layers import MultiHeadCrossAttention

__all__ = [
    "attention_layers",
    "head_mask_attend",
    "head_masks",
    "head_importance",
    "PrunedAttention",
    "prune_heads",
]


def attention_layers(model: nn.Module) -> dict[str, MultiHeadCrossAttention]:
    """Every multi-head attention layer of a model, by name, in the model's order.

    The names read ``encoder.layers.0.self_attn``, ``decoder.layers.1.cross_attn``.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be an nn.Module, got {type(model).__name__}")
    return {
        name: m
        for name, m in model.named_modules()
        if isinstance(m, MultiHeadCrossAttention)
    }


def head_mask_attend(xi: torch.Tensor):
    """An ``attend(q, k, v, mask)`` that multiplies head h's output by ``xi[h]``.

    With ``xi`` all ones it computes exactly what the layer's own from-scratch
    path computes. Gradients flow into ``xi`` if it requires them.

    Shapes:
        xi (H,); q (B, H, Lq, Dh), k, v (B, H, Lk, Dh) -> out (B, H, Lq, Dh),
        weights (B, H, Lq, Lk)
    """
    check_floating("xi", xi)
    if xi.dim() != 1:
        raise ValueError(
            f"xi must be (H,), one number per head, got xi {fmt_shape(xi)}"
        )

    def attend(q, k, v, mask):
        if q.dim() != 4 or q.shape[1] != xi.shape[0]:
            raise ValueError(
                f"xi {fmt_shape(xi)} must have one number per head of q (B, H, Lq, "
                f"Dh) {fmt_shape(q)}"
            )
        out, weights = attention(q, k, v, mask)  # (B, H, Lq, Dh), (B, H, Lq, Lk)
        return out * xi[:, None, None].to(out.dtype), weights

    return attend


def _check_layer_names(given: dict, layers: dict) -> None:
    """Every key of ``given`` names one of the model's attention layers."""
    unknown = sorted(set(given) - set(layers))
    if unknown:
        raise ValueError(
            f"no attention layer named {unknown[0]!r}; the layers are "
            f"{', '.join(layers)}"
        )


@contextlib.contextmanager
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
    if not isinstance(masks, dict):
        raise ValueError(
            f"masks must be a dict of layer name -> xi (H,), got {type(masks).__name__}"
        )
    _check_layer_names(masks, layers)
    for name, xi in masks.items():
        check_floating(f"masks[{name!r}]", xi)
        if tuple(xi.shape) != (layers[name].n_heads,):
            raise ValueError(
                f"masks[{name!r}] must be (H,) = ({layers[name].n_heads},) for that "
                f"layer's heads, got {fmt_shape(xi)}"
            )
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


def head_importance(
    model: nn.Module,
    batches: Iterable[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    pad_id: int = 0,
) -> dict[str, torch.Tensor]:
    """``|dL / dxi_h|`` at xi = 1, summed over batches, for every head of every layer.

    L is the teacher-forced cross-entropy of a batch (mean over its real target
    tokens). Use held-out data (a validation split), not the test set. The
    model's parameters get no gradients.

    Shapes:
        batches of (src (B, Lk), tgt_in (B, Lq), tgt_out (B, Lq)) ->
        {layer name: importance (H,)}
    """
    layers = attention_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no MultiHeadCrossAttention")
    device = next(model.parameters()).device
    xis = {
        name: torch.ones(m.n_heads, device=device, requires_grad=True)
        for name, m in layers.items()
    }
    total = {name: torch.zeros(m.n_heads, device=device) for name, m in layers.items()}
    n_batches = 0
    with head_masks(model, xis):
        for batch in batches:
            if not isinstance(batch, (tuple, list)) or len(batch) != 3:
                raise ValueError(
                    "each batch must be (src, tgt_in, tgt_out), as DateTask.encode "
                    "gives them"
                )
            src, tgt_in, tgt_out = batch
            real = tgt_out != pad_id  # (B, Lq)
            logits = model(src, tgt_in)  # (B, Lq, V)
            loss = F.cross_entropy(logits[real].float(), tgt_out[real])
            grads = torch.autograd.grad(loss, list(xis.values()))
            for name, g in zip(xis, grads):
                total[name] += g.abs()
            n_batches += 1
    if not n_batches:
        raise ValueError("batches is empty: importance needs at least one batch")
    return total


class PrunedAttention(MultiHeadCrossAttention):
    """A :class:`xattn.MultiHeadCrossAttention` that keeps only some of its heads.

    Its projections are the original ones with the removed heads' rows (query,
    key, value) and columns (output) sliced away; the forward pass, caches and
    ``attend`` work as in the original, with H' = ``len(heads)`` heads of the
    same width Dh. Its output equals the original's with the other heads'
    outputs masked to zero.

    Args:
        layer: the attention layer to prune (left untouched).
        heads: the indices of the heads to keep, at least one.

    Shapes:
        x (B, Lq, D), memory (B, Lk, d_memory) -> out (B, Lq, D),
        weights (B, H', Lq, Lk)
    """

    def __init__(self, layer: MultiHeadCrossAttention, heads: Iterable[int]):
        if not isinstance(layer, MultiHeadCrossAttention):
            raise ValueError(
                f"layer must be a MultiHeadCrossAttention, got {type(layer).__name__}"
            )
        heads = sorted({int(h) for h in heads})
        if not heads or heads[0] < 0 or heads[-1] >= layer.n_heads:
            raise ValueError(
                f"heads must name at least one head in [0, {layer.n_heads}), got "
                f"{heads}; a layer with no heads left is removed some other way"
            )
        nn.Module.__init__(self)
        self.d_model, self.n_heads, self.d_head, self.d_memory = (
            layer.d_model,
            len(heads),
            layer.d_head,
            layer.d_memory,
        )
        self.dropout, self.fast = layer.dropout, layer.fast
        self.heads = heads
        dh = layer.d_head
        rows = torch.cat([torch.arange(h * dh, (h + 1) * dh) for h in heads])  # (H'Dh,)
        self.q_proj = _slice(layer.q_proj, rows, dim=0)
        self.k_proj = _slice(layer.k_proj, rows, dim=0)
        self.v_proj = _slice(layer.v_proj, rows, dim=0)
        self.out_proj = _slice(layer.out_proj, rows, dim=1)
        self.train(layer.training)  # dropout on or off as in the original


def _slice(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new linear layer with the chosen output rows (dim 0) or input columns (1)."""
    weight = linear.weight.detach().index_select(dim, index.to(linear.weight.device))
    out_f, in_f = weight.shape
    new = nn.Linear(in_f, out_f, bias=linear.bias is not None)
    new = new.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if linear.bias is not None:  # the output's bias is not per head: all of it
            bias = linear.bias.detach()
            new.bias.copy_(bias[index.to(bias.device)] if dim == 0 else bias)
    return new


def prune_heads(model: nn.Module, keep: dict[str, Iterable[int]]) -> nn.Module:
    """A copy of ``model`` whose named attention layers keep only the heads listed.

    ``keep`` maps layer names (as :func:`attention_layers` gives them) to the
    indices of the heads to keep; the layers not named keep all their heads.
    The original is untouched.
    """
    layers = attention_layers(model)
    if not isinstance(keep, dict):
        raise ValueError(
            f"keep must be a dict of layer name -> head indices, got "
            f"{type(keep).__name__}"
        )
    _check_layer_names(keep, layers)
    pruned = copy.deepcopy(model)
    for name, heads in keep.items():
        parent_name, _, child = name.rpartition(".")
        parent = pruned.get_submodule(parent_name) if parent_name else pruned
        setattr(parent, child, PrunedAttention(getattr(parent, child), heads))
    return pruned
