"""The pieces of a Transformer layer: feed-forward, encoder and decoder blocks.

An encoder block is self-attention then a feed-forward layer; a decoder block is
causal self-attention, then cross-attention into the encoder's memory, then a
feed-forward layer. Each sublayer sits in a residual connection with a layer
norm, either after the sum (post-norm, as in Vaswani et al. 2017) or before the
sublayer (pre-norm, which trains more stably without warm-up).
"""

from __future__ import annotations

import torch
from torch import nn

from xattn.checks import (
    check_bool,
    check_dropout,
    check_positive_int,
    check_stream,
    checked,
    fmt_shape,
)
from xattn.layers import (
    MultiHeadCrossAttention,
    _check_multi_head,
    _check_multi_head_call,
    _check_project_kv,
)
from xattn.masks import causal_mask

# The positional encodings live in xattn.positions; older code imports them from here.
from xattn.positions import (  # noqa: F401
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    sinusoidal_positions,
)

__all__ = [
    "FeedForward",
    "EncoderBlock",
    "DecoderBlock",
    "LayerCache",
]


def _check_feed_forward(self, d_model, d_ff, dropout=0.0) -> None:
    check_positive_int("d_model", d_model)
    check_positive_int("d_ff", d_ff)
    check_dropout(dropout)


class FeedForward(nn.Module):
    """Two linear maps with a ReLU between, applied to every position alone.

    Args:
        d_model: width D of the input and output.
        d_ff: hidden width; the paper's base model uses 4 D.
        dropout: dropout on the hidden activations while training.

    Shapes:
        x (B, L, D) -> (B, L, D), through a hidden width d_ff
    """

    @checked(_check_feed_forward)
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(torch.relu(self.linear1(x))))  # (B, L, D)


class _Sublayer(nn.Module):
    """A residual connection around a sublayer, with its layer norm before or after."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool):
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: torch.Tensor, fn) -> torch.Tensor:
        if self.norm_first:
            return x + self.dropout(fn(self.norm(x)))
        return self.norm(x + self.dropout(fn(x)))


def _check_encoder_block(
    self, d_model, n_heads, d_ff, dropout=0.0, norm_first=True, fast=False
) -> None:
    _check_multi_head(self, d_model, n_heads, dropout, fast=fast)
    _check_feed_forward(self, d_model, d_ff, dropout)
    check_bool("norm_first", norm_first)


def _check_encoder_block_call(self, x, mask=None) -> None:
    _check_multi_head_call(self.self_attn, x, x, mask)


class EncoderBlock(nn.Module):
    """Self-attention over the source, then a feed-forward layer.

    Args:
        d_model: width D.
        n_heads: attention heads H.
        d_ff: hidden width of the feed-forward layer.
        dropout: dropout on attention weights, sublayer outputs and hidden activations.
        norm_first: layer norm before each sublayer (pre-norm), not after the sum.
        fast: attention through ``F.scaled_dot_product_attention``.

    Shapes:
        x (B, Lk, D), mask (B, Lk) -> (B, Lk, D)
    """

    @checked(_check_encoder_block)
    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = True,
        fast: bool = False,
    ):
        super().__init__()
        self.self_attn = MultiHeadCrossAttention(d_model, n_heads, dropout, fast=fast)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.sub_attn = _Sublayer(d_model, dropout, norm_first)
        self.sub_ff = _Sublayer(d_model, dropout, norm_first)

    @checked(_check_encoder_block_call)
    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = self.sub_attn(x, lambda h: self.self_attn(h, h, mask)[0])
        return self.sub_ff(x, self.ff)


class LayerCache:
    """What one decoder block keeps between decoding steps.

    ``self_k`` and ``self_v`` hold the keys and values of the target tokens
    decoded so far, grown by one position per step.

    Args:
        cross_kv: the memory's keys and values for cross-attention, projected
            once per sentence (``block.cross_attn.project_kv(memory)``).
    """

    def __init__(self, cross_kv: tuple[torch.Tensor, torch.Tensor]):
        self.cross_kv = cross_kv
        self.self_k: torch.Tensor | None = None
        self.self_v: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Add the newest position's keys and values; returns all of them so far."""
        if self.self_k is not None:
            k = torch.cat([self.self_k, k], dim=2)  # (B, H, t, Dh)
            v = torch.cat([self.self_v, v], dim=2)
        self.self_k, self.self_v = k, v
        return k, v


def _check_decoder_block(
    self,
    d_model,
    n_heads,
    d_ff,
    dropout=0.0,
    norm_first=True,
    fast=False,
    d_memory=None,
) -> None:
    _check_multi_head(self, d_model, n_heads, dropout, fast=fast)
    _check_multi_head(self, d_model, n_heads, dropout, fast=fast, d_memory=d_memory)
    _check_feed_forward(self, d_model, d_ff, dropout)
    check_bool("norm_first", norm_first)


def _check_decoder_block_call(
    self, x, memory, memory_mask=None, tgt_mask=None, cache=None
) -> None:
    if cache is None:
        _check_multi_head_call(self.self_attn, x, x, tgt_mask)  # over the target
        _check_multi_head_call(self.cross_attn, x, memory, memory_mask)
        return
    check_stream("x", x, self.self_attn.d_model)
    if x.shape[1] != 1:
        raise ValueError(
            f"a cached decoder step takes one position, got x {fmt_shape(x)}"
        )
    if not isinstance(cache, LayerCache):
        raise ValueError(
            "cache must be a LayerCache, as Seq2Seq.init_cache makes them, got "
            f"{type(cache).__name__}"
        )
    _check_project_kv(self.self_attn, x)
    _check_multi_head_call(self.cross_attn, x, None, memory_mask, kv=cache.cross_kv)


class DecoderBlock(nn.Module):
    """Causal self-attention, cross-attention into the memory, then feed-forward.

    Args:
        d_model: width D of the decoder stream.
        n_heads: attention heads H, in both attention layers.
        d_ff: hidden width of the feed-forward layer.
        dropout: dropout on attention weights, sublayer outputs and hidden activations.
        norm_first: layer norm before each sublayer (pre-norm), not after the sum.
        fast: attention through ``F.scaled_dot_product_attention``.
        d_memory: width of the memory, when it differs from D (features of an
            image or audio encoder); default D.

    Shapes:
        x (B, Lq, D), memory (B, Lk, d_memory), memory_mask (B, Lk), tgt_mask (B, Lq)
        -> (B, Lq, D); the cross-attention weights (B, H, Lq, Lk) are kept in
        ``self.cross_weights`` when ``keep_weights`` is set.
    """

    @checked(_check_decoder_block)
    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = True,
        fast: bool = False,
        d_memory: int | None = None,
    ):
        super().__init__()
        self.self_attn = MultiHeadCrossAttention(d_model, n_heads, dropout, fast=fast)
        self.cross_attn = MultiHeadCrossAttention(
            d_model, n_heads, dropout, fast=fast, d_memory=d_memory
        )
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.sub_self = _Sublayer(d_model, dropout, norm_first)
        self.sub_cross = _Sublayer(d_model, dropout, norm_first)
        self.sub_ff = _Sublayer(d_model, dropout, norm_first)
        self.keep_weights = False
        self.cross_weights: torch.Tensor | None = None

    def _cross(self, h, memory, memory_mask, kv):
        out, weights = self.cross_attn(
            h, memory, memory_mask, kv=kv, need_weights=self.keep_weights
        )
        self.cross_weights = weights
        return out

    @checked(_check_decoder_block_call)
    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None,
        memory_mask: torch.Tensor | None = None,
        tgt_mask: torch.Tensor | None = None,
        cache: LayerCache | None = None,
    ) -> torch.Tensor:
        if cache is None:
            causal = causal_mask(x.shape[1], device=x.device)[None]  # (1, Lq, Lq)
            x = self.sub_self(x, lambda h: self.self_attn(h, h, tgt_mask, causal)[0])
            x = self.sub_cross(x, lambda h: self._cross(h, memory, memory_mask, None))
        else:

            def self_step(h):
                # The newest position may see every earlier one: no causal mask needed.
                kv = cache.append(*self.self_attn.project_kv(h))  # (B, H, t, Dh) each
                return self.self_attn(h, kv=kv)[0]

            x = self.sub_self(x, self_step)
            x = self.sub_cross(
                x, lambda h: self._cross(h, None, memory_mask, cache.cross_kv)
            )
        return self.sub_ff(x, self.ff)
