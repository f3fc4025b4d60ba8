"""Attention heads removed for real: their rows and columns sliced out of a layer.

Index legend: h head (H), d feature within a head (Dh), D model width.

Head h of a layer owns rows h Dh to (h + 1) Dh of the query, key and value
projections and the same columns of the output projection, which multiplies
the concatenated heads. Slicing them away (:func:`slice_linear`) gives a layer
with fewer heads of the same width that computes exactly what the layer with
those heads masked to zero computes (:mod:`xattn.importance`), with 3 Dh (D + 1)
+ D Dh fewer parameters per head.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
from torch import nn

from xattn.checks import check_int, checked
from xattn.importance import (  # head_* re-exported: older code imports them here
    _check_layer_names,
    _check_model,
    attention_layers,
    head_importance,  # noqa: F401
    head_mask_attend,  # noqa: F401
    head_masks,  # noqa: F401
)
from xattn.layers import MultiHeadCrossAttention

__all__ = ["slice_linear", "PrunedAttention", "prune_heads"]


def _check_slice_linear(linear, index, dim) -> None:
    if not isinstance(linear, nn.Linear):
        raise ValueError(f"linear must be an nn.Linear, got {type(linear).__name__}")
    if dim not in (0, 1) or isinstance(dim, bool):
        raise ValueError(
            f"dim must be 0 (output rows) or 1 (input columns), got {dim!r}"
        )
    size = linear.weight.shape[dim]
    if (
        not isinstance(index, torch.Tensor)
        or index.dtype != torch.long
        or index.dim() != 1
        or not len(index)
        or int(index.min()) < 0
        or int(index.max()) >= size
    ):
        raise ValueError(
            f"index must be a non-empty 1-D torch.long tensor of indices in [0, {size})"
            f" along dim {dim}, got {index!r}"
        )


@checked(_check_slice_linear)
def slice_linear(linear: nn.Linear, index: torch.Tensor, dim: int) -> nn.Linear:
    """A new linear layer with the chosen output rows (dim 0) or input columns (1).

    The bias follows the output rows; sliced by input columns, a layer keeps
    all of it (the output's bias is not per head).

    Shapes:
        index (K',) -> a layer (N', K) for dim 0, (N, K') for dim 1
    """
    weight = linear.weight.detach().index_select(dim, index.to(linear.weight.device))
    out_f, in_f = weight.shape
    new = nn.Linear(in_f, out_f, bias=linear.bias is not None)
    new = new.to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        if linear.bias is not None:
            bias = linear.bias.detach()
            new.bias.copy_(bias[index.to(bias.device)] if dim == 0 else bias)
    return new


def _check_heads(heads, n_heads: int, name: str = "heads") -> None:
    """At least one head index, ints in [0, n_heads), each once."""
    if isinstance(heads, torch.Tensor):
        ok = heads.dim() == 1 and not heads.is_floating_point()
        ok = ok and heads.dtype != torch.bool
        heads = heads.tolist() if ok else [heads]
    elif not isinstance(heads, (Sequence, range)) or isinstance(heads, str):
        raise ValueError(
            f"{name} must be a list of head indices, got {type(heads).__name__}"
        )
    try:
        for h in heads:
            check_int("a head index", h)
    except ValueError:
        ok = False
    else:
        ok = len(heads) > 0 and max(heads) < n_heads and len(set(heads)) == len(heads)
    if not ok:
        raise ValueError(
            f"{name} must name at least one head in [0, {n_heads}), got {heads!r}; "
            "each once, as ints (a layer with no heads left is removed some other "
            "way)"
        )


def _check_pruned_attention(self, layer, heads) -> None:
    if not isinstance(layer, MultiHeadCrossAttention):
        raise ValueError(
            f"layer must be a MultiHeadCrossAttention, got {type(layer).__name__}"
        )
    _check_heads(heads, layer.n_heads)


class PrunedAttention(MultiHeadCrossAttention):
    """A :class:`xattn.MultiHeadCrossAttention` that keeps only some of its heads.

    Its projections are the original ones with the removed heads' rows (query,
    key, value) and columns (output) sliced away (:func:`slice_linear`); the
    forward pass, caches and ``attend`` work as in the original, with H' =
    ``len(heads)`` heads of the same width Dh. Its output equals the original's
    with the other heads' outputs masked to zero.

    Args:
        layer: the attention layer to prune (left untouched).
        heads: the indices of the heads to keep, at least one, each once.

    Shapes:
        x (B, Lq, D), memory (B, Lk, d_memory) -> out (B, Lq, D),
        weights (B, H', Lq, Lk)
    """

    @checked(_check_pruned_attention)
    def __init__(self, layer: MultiHeadCrossAttention, heads: Sequence[int]):
        nn.Module.__init__(self)
        self.heads = sorted(int(h) for h in heads)
        self.d_model, self.d_head, self.d_memory = (
            layer.d_model,
            layer.d_head,
            layer.d_memory,
        )
        self.n_heads, self.dropout, self.fast = len(heads), layer.dropout, layer.fast
        dh = layer.d_head
        rows = torch.cat([torch.arange(h * dh, (h + 1) * dh) for h in self.heads])
        self.q_proj = slice_linear(layer.q_proj, rows, dim=0)  # (H' Dh, D)
        self.k_proj = slice_linear(layer.k_proj, rows, dim=0)
        self.v_proj = slice_linear(layer.v_proj, rows, dim=0)
        self.out_proj = slice_linear(layer.out_proj, rows, dim=1)  # (D, H' Dh)
        self.train(layer.training)  # dropout on or off as in the original


def _check_prune_heads(model, keep) -> None:
    _check_model(model)
    layers = attention_layers(model)
    _check_layer_names(keep, layers, "keep", "head indices")
    for name, heads in keep.items():
        _check_heads(heads, layers[name].n_heads, f"keep[{name!r}]")


@checked(_check_prune_heads)
def prune_heads(model: nn.Module, keep: dict[str, Sequence[int]]) -> nn.Module:
    """A copy of ``model`` whose named attention layers keep only the heads listed.

    ``keep`` maps layer names (as :func:`attention_layers` gives them) to the
    indices of the heads to keep; the layers not named keep all their heads.
    The original is untouched.
    """
    pruned = copy.deepcopy(model)
    for name, heads in keep.items():
        parent_name, _, child = name.rpartition(".")
        parent = pruned.get_submodule(parent_name) if parent_name else pruned
        setattr(parent, child, PrunedAttention(getattr(parent, child), heads))
    return pruned
