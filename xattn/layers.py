"""Attention layers with learned projections: one head, then many.

Index legend (the notation page's symbols):
    b batch (B), h head (H), q query position (Lq), k key position (Lk),
    d feature within a head (Dh = D // H).

``x`` is the query-side stream (B, Lq, D); ``memory`` supplies keys and values
(B, Lk, d_memory), where d_memory is D unless the layer is told otherwise. Masks
are bool, True = may attend: ``memory_mask`` marks the real keys (B, Lk)
(``nn.MultiheadAttention``'s ``key_padding_mask`` means the opposite and looks
the same, so convert it with ``xattn.from_key_padding_mask``);
``attn_mask`` is a structural mask over (query, key) pairs, such as the causal
mask of a decoder's self-attention, (B | 1, Lq, Lk), always with its batch
axis (``causal_mask(L)[None]``). Unlike the pure functions of
``xattn.attention``, the layers take these masks as they are and add the query
and head axes themselves.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from xattn.attention import (
    aggregate,
    attention,
    attention_scores,
    mask_bias,
    masked_softmax,
)
from xattn.checks import (
    check_attn_mask,
    check_bool,
    check_dropout,
    check_floating,
    check_memory_mask,
    check_positive_int,
    check_stream,
    checked,
    fmt_shape,
)
from xattn.heads import combine_masks, merge_heads, split_heads

__all__ = [
    "CrossAttention",
    "MultiHeadCrossAttention",
    "use_attention",
]


def _check_cross_attention(self, d_model, d_head=None, bias=True, d_memory=None):
    d_head = d_model if d_head is None else d_head
    d_memory = d_model if d_memory is None else d_memory
    widths = dict(d_model=d_model, d_head=d_head, d_memory=d_memory)
    for name, value in widths.items():
        check_positive_int(name, value)
    check_bool("bias", bias)


def _check_cross_attention_call(self, x, memory, memory_mask=None) -> None:
    check_stream("x", x, self.d_model)
    check_stream("memory", memory, self.d_memory, "d_memory")
    if x.shape[0] != memory.shape[0]:
        raise ValueError(
            f"x and memory must share the batch size: x {fmt_shape(x)} vs memory "
            f"{fmt_shape(memory)}"
        )
    check_memory_mask(memory_mask, tuple(memory.shape))


class CrossAttention(nn.Module):
    """Single-head cross-attention with learned query, key and value projections.

    Args:
        d_model: width D of ``x``.
        d_head: width of queries, keys and values; default D.
        bias: whether the projections have a bias.
        d_memory: width of ``memory``, when it differs from D (image or audio
            features read by a text decoder); default D.

    Shapes:
        x (B, Lq, D), memory (B, Lk, d_memory), memory_mask (B, Lk)
        -> out (B, Lq, d_head), weights (B, Lq, Lk)
    """

    @checked(_check_cross_attention)
    def __init__(
        self,
        d_model: int,
        d_head: int | None = None,
        bias: bool = True,
        d_memory: int | None = None,
    ):
        super().__init__()
        d_head = d_model if d_head is None else d_head
        d_memory = d_model if d_memory is None else d_memory
        self.d_model, self.d_head, self.d_memory = d_model, d_head, d_memory
        self.q_proj = nn.Linear(d_model, d_head, bias=bias)
        self.k_proj = nn.Linear(d_memory, d_head, bias=bias)
        self.v_proj = nn.Linear(d_memory, d_head, bias=bias)

    @checked(_check_cross_attention_call)
    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        memory_mask: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.q_proj(x)  # (B, Lq, d_head)
        k, v = self.k_proj(memory), self.v_proj(memory)  # (B, Lk, d_head)
        mask = None if memory_mask is None else memory_mask[:, None, :]  # (B, 1, Lk)
        return attention(q, k, v, mask)  # (B, Lq, d_head), (B, Lq, Lk)


def _check_multi_head(
    self, d_model, n_heads, dropout=0.0, bias=True, fast=False, d_memory=None
) -> None:
    d_memory = d_model if d_memory is None else d_memory
    sizes = dict(d_model=d_model, n_heads=n_heads, d_memory=d_memory)
    for name, value in sizes.items():
        check_positive_int(name, value)
    if d_model % n_heads:
        raise ValueError(
            f"d_model={d_model} must be divisible by n_heads={n_heads} (each head "
            "gets D / H features)"
        )
    check_dropout(dropout)
    check_bool("bias", bias)
    check_bool("fast", fast)


def _check_project_kv(self, memory) -> None:
    check_stream("memory", memory, self.d_memory, "d_memory")


def _check_multi_head_call(
    self,
    x,
    memory=None,
    memory_mask=None,
    attn_mask=None,
    *,
    kv=None,
    need_weights=False,
) -> None:
    check_stream("x", x, self.d_model)
    check_bool("need_weights", need_weights)
    if (memory is None) == (kv is None):
        raise ValueError(
            "pass exactly one of memory (B, Lk, d_memory) and kv=(k, v) from project_kv"
        )
    if kv is not None:
        k, _ = _check_kv(kv, x.shape[0], self.n_heads, self.d_head)
        memory_shape = (k.shape[0], k.shape[2], self.d_memory)
    else:
        check_stream("memory", memory, self.d_memory, "d_memory")
        if memory.shape[0] != x.shape[0]:
            raise ValueError(
                f"x and memory must share the batch size: x {fmt_shape(x)} vs "
                f"memory {fmt_shape(memory)}"
            )
        memory_shape = tuple(memory.shape)
    check_memory_mask(memory_mask, memory_shape)
    check_attn_mask(attn_mask, x.shape[0], x.shape[1], memory_shape[1])


class MultiHeadCrossAttention(nn.Module):
    """Multi-head cross-attention: project, split into heads, attend, merge, project.

    The same module serves self-attention: pass ``x`` as the memory too.

    Args:
        d_model: width D of ``x`` and of the output.
        n_heads: number of heads H; D must be divisible by H.
        dropout: dropout on the attention weights while training.
        bias: whether the four projections have biases.
        fast: compute attention with ``F.scaled_dot_product_attention`` (same
            result, fused kernels); the from-scratch path built from
            :func:`xattn.attention_scores`, :func:`xattn.masked_softmax` and
            :func:`xattn.aggregate` is used whenever weights are requested.
        d_memory: width of ``memory``, when it differs from D (as
            ``nn.MultiheadAttention``'s ``kdim`` and ``vdim``); default D.

    Attributes:
        attend: None, or a function ``attend(q, k, v, mask) -> (out, weights)``
            that replaces the attention between the projections (an
            approximation, a blockwise kernel): q (B, H, Lq, Dh), k and v
            (B, H, Lk, Dh), mask bool (B | 1, 1, Lq | 1, Lk) or None; out
            (B, H, Lq, Dh), weights (B, H, Lq, Lk) or None if it has none.
            Dropout on the weights is not applied to it. :func:`use_attention`
            sets it for a whole model.

    Shapes:
        x (B, Lq, D), memory (B, Lk, d_memory), memory_mask (B, Lk),
        attn_mask (1, Lq, Lk) or (B, Lq, Lk)
        -> out (B, Lq, D), weights (B, H, Lq, Lk)
    """

    attend: Callable[..., tuple[torch.Tensor, torch.Tensor | None]] | None = None

    @checked(_check_multi_head)
    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        fast: bool = False,
        d_memory: int | None = None,
    ):
        super().__init__()
        d_memory = d_model if d_memory is None else d_memory
        self.d_model, self.n_heads, self.d_head, self.d_memory = (
            d_model,
            n_heads,
            d_model // n_heads,
            d_memory,
        )
        self.dropout, self.fast = dropout, fast
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_memory, d_model, bias=bias)
        self.v_proj = nn.Linear(d_memory, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)

    @checked(_check_project_kv)
    def project_kv(self, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keys and values of the memory, split into heads (computed once per sentence).

        Shapes:
            memory (B, Lk, d_memory) -> k, v (B, H, Lk, Dh)
        """
        k = split_heads(self.k_proj(memory), self.n_heads)  # (B, H, Lk, Dh)
        v = split_heads(self.v_proj(memory), self.n_heads)  # (B, H, Lk, Dh)
        return k, v

    @checked(_check_multi_head_call)
    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        *,
        kv: tuple[torch.Tensor, torch.Tensor] | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``x`` to ``memory``, or to keys and values given as ``kv``.

        Returns:
            ``(out, weights)``; weights are None unless ``need_weights``.
        """
        k, v = self.project_kv(memory) if kv is None else kv  # (B, H, Lk, Dh)
        q = split_heads(self.q_proj(x), self.n_heads)  # (B, H, Lq, Dh)
        mask = combine_masks(memory_mask, attn_mask, 4)  # (B | 1, 1, Lq | 1, Lk)
        dropout = self.dropout if self.training else 0.0
        weights = None
        if self.attend is not None:
            out, weights = self.attend(q, k, v, mask)  # (B, H, Lq, Dh)
            if need_weights and weights is None:
                raise ValueError(
                    "weights were requested, but this layer's attend function "
                    "returns none"
                )
            if not need_weights:
                weights = None
        elif self.fast and not need_weights:
            sdpa = F.scaled_dot_product_attention
            out = sdpa(q, k, v, attn_mask=mask, dropout_p=dropout)  # (B, H, Lq, Dh)
        else:
            # 0 or -inf, as small as the mask
            bias = None if mask is None else mask_bias(mask, q.dtype)
            # (B, H, Lq, Lk), the mask folded in
            scores = attention_scores(q, k, bias=bias)
            weights = masked_softmax(scores, mask, biased=True)  # (B, H, Lq, Lk)
            out = aggregate(
                F.dropout(weights, dropout, self.training) if dropout else weights, v
            )
            if not need_weights:
                weights = None
        out = self.out_proj(merge_heads(out))  # (B, Lq, D)
        return out, weights


def _check_kv(
    kv: object, b: int, n_heads: int, d_head: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Keys and values as :meth:`MultiHeadCrossAttention.project_kv` gives them."""
    if not isinstance(kv, (tuple, list)) or len(kv) != 2:
        raise ValueError(
            "kv must be the pair (k, v) that project_kv returns, got "
            f"{type(kv).__name__}"
        )
    k, v = kv
    for name, t in (("k", k), ("v", v)):
        check_floating(f"kv {name}", t)
    expected = (b, n_heads, k.shape[2] if k.dim() == 4 else -1, d_head)
    for name, t in (("k", k), ("v", v)):
        if tuple(t.shape) != expected:
            raise ValueError(
                f"kv {name} must be (B, H, Lk, Dh) = {fmt_shape(expected)}, got "
                f"{fmt_shape(t)}"
            )
    return k, v


@contextlib.contextmanager
def use_attention(
    model: nn.Module,
    attend: Callable[..., tuple[torch.Tensor, torch.Tensor | None]],
    layers: str = "cross_attn",
) -> Iterator[list[str]]:
    """Swap ``attend`` into a model's attention layers while the block runs.

    Every :class:`MultiHeadCrossAttention` whose attribute name is ``layers``
    (``"cross_attn"``: a decoder's cross-attention; ``"self_attn"``: the
    self-attention layers) computes its attention with ``attend`` instead (see
    the layer's ``attend`` attribute); the weights are untouched, and the
    layers get their own attention back afterwards, also after an error.

    Yields:
        the names of the layers swapped, e.g. ``decoder.layers.0.cross_attn``.
    """
    if not callable(attend):
        raise ValueError(
            f"attend must be a function (q, k, v, mask) -> (out, weights), got "
            f"{type(attend).__name__}"
        )
    chosen = [
        (name, m)
        for name, m in model.named_modules()
        if isinstance(m, MultiHeadCrossAttention) and name.split(".")[-1] == layers
    ]
    if not chosen:
        raise ValueError(f"the model has no MultiHeadCrossAttention named {layers!r}")
    before = [m.__dict__.get("attend") for _, m in chosen]
    try:
        for _, m in chosen:
            m.attend = attend
        yield [name for name, _ in chosen]
    finally:
        for (_, m), old in zip(chosen, before):
            if old is None:
                m.__dict__.pop("attend", None)
            else:
                m.attend = old
