"""The pieces of a Transformer layer: positions, feed-forward, encoder, decoder blocks.

An encoder block is self-attention then a feed-forward layer; a decoder block is
causal self-attention, then cross-attention into the encoder's memory, then a
feed-forward layer. Each sublayer sits in a residual connection with a layer
norm, either after the sum (post-norm, as in Vaswani et al. 2017) or before the
sublayer (pre-norm, which trains more stably without warm-up).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xattn.checks import (
    check_bool,
    check_dropout,
    check_int,
    check_positive_int,
    fmt_shape,
)
from xattn.layers import MultiHeadCrossAttention
from xattn.masks import causal_mask

__all__ = [
    "sinusoidal_positions",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEncoding",
    "FeedForward",
    "EncoderBlock",
    "DecoderBlock",
    "LayerCache",
]


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """The fixed position table of Vaswani et al. (2017), section 3.5.

    Even features get sin(pos / 10000^(i / D)), odd ones the matching cos.

    Shapes:
        -> table (length, D)
    """
    check_positive_int("length", length)
    check_positive_int("d_model", d_model)
    if d_model % 2:
        raise ValueError(
            f"d_model must be even (sin and cos pairs), got d_model={d_model}"
        )
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (L, 1)
    pairs = torch.arange(0, d_model, 2, dtype=torch.float32)  # (D/2,): 0, 2, 4, ...
    rate = torch.exp(pairs * (-math.log(10000.0) / d_model))  # (D/2,): 10000^(-2i/D)
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)
    return table  # (L, D)


def _last_position(start: int, x: torch.Tensor, max_len: int, d_model: int) -> int:
    """One past the last position of ``x`` (B, L, D) placed at ``start``, checked."""
    check_int("start", start)
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != d_model:
        got = fmt_shape(x) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"x must be (B, L, {d_model}) for d_model={d_model}, got x {got}"
        )
    end = start + x.shape[1]
    if end > max_len:
        raise ValueError(
            f"positions up to {end} asked for, but max_len is {max_len}; raise max_len"
        )
    return end


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to token embeddings (no parameters).

    Args:
        d_model: width D of the embeddings (even).
        max_len: the most positions it covers.

    Shapes:
        x (B, L, D) -> (B, L, D)
    """

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        check_positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer(
            "table", sinusoidal_positions(max_len, d_model), persistent=False
        )

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Add the positions ``start, start + 1, ...`` to ``x``."""
        end = _last_position(start, x, self.max_len, self.d_model)
        return x + self.table[start:end].to(x.dtype)


class LearnedPositionalEncoding(nn.Module):
    """Adds a learned vector per position (as in BERT and GPT-2).

    Args:
        d_model: width D of the embeddings.
        max_len: the most positions it has a vector for.

    Shapes:
        x (B, L, D) -> (B, L, D)
    """

    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)

    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Add the positions ``start, start + 1, ...`` to ``x``."""
        end = _last_position(start, x, self.max_len, self.d_model)
        return x + self.embedding.weight[start:end].to(x.dtype)


class FeedForward(nn.Module):
    """Two linear maps with a ReLU between, applied to every position alone.

    Args:
        d_model: width D of the input and output.
        d_ff: hidden width; the paper's base model uses 4 D.
        dropout: dropout on the hidden activations while training.

    Shapes:
        x (B, L, D) -> (B, L, D), through a hidden width d_ff
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("d_ff", d_ff)
        check_dropout(dropout)
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear2(self.dropout(torch.relu(self.linear1(x))))  # (B, L, D)


class _Sublayer(nn.Module):
    """A residual connection around a sublayer, with its layer norm before or after."""

    def __init__(self, d_model: int, dropout: float, norm_first: bool):
        super().__init__()
        check_bool("norm_first", norm_first)
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.norm_first = norm_first

    def forward(self, x: torch.Tensor, fn) -> torch.Tensor:
        if self.norm_first:
            return x + self.dropout(fn(self.norm(x)))
        return self.norm(x + self.dropout(fn(x)))


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
            if x.shape[1] != 1:
                raise ValueError(
                    f"a cached decoder step takes one position, got x {fmt_shape(x)}"
                )

            def self_step(h):
                # The newest position may see every earlier one: no causal mask needed.
                kv = cache.append(*self.self_attn.project_kv(h))  # (B, H, t, Dh) each
                return self.self_attn(h, kv=kv)[0]

            x = self.sub_self(x, self_step)
            x = self.sub_cross(
                x, lambda h: self._cross(h, None, memory_mask, cache.cross_kv)
            )
        return self.sub_ff(x, self.ff)
