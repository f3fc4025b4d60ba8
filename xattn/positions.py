"""Positions: attention cannot tell the order of its keys, so it is added to them.

The fixed sinusoidal table of Vaswani et al. (2017), section 3.5, and a learned
table (as in BERT and GPT-2), each as a module that adds the positions
``start, start + 1, ...`` to a (B, L, D) stream.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xattn.checks import check_int, check_positive_int, checked, fmt_shape

__all__ = [
    "sinusoidal_positions",
    "SinusoidalPositionalEncoding",
    "LearnedPositionalEncoding",
]


def _check_sinusoidal_positions(length, d_model) -> None:
    check_positive_int("length", length)
    check_positive_int("d_model", d_model)
    if d_model % 2:
        raise ValueError(
            f"d_model must be even (sin and cos pairs), got d_model={d_model}"
        )


@checked(_check_sinusoidal_positions)
def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """The fixed position table of Vaswani et al. (2017), section 3.5.

    Even features get sin(pos / 10000^(i / D)), odd ones the matching cos.

    Shapes:
        -> table (length, D)
    """
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (L, 1)
    pairs = torch.arange(0, d_model, 2, dtype=torch.float32)  # (D/2,): 0, 2, 4, ...
    rate = torch.exp(pairs * (-math.log(10000.0) / d_model))  # (D/2,): 10000^(-2i/D)
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)
    return table  # (L, D)


def _check_room(start: int, length: int, max_len: int) -> None:
    """Positions ``start`` to ``start + length`` must be among the first max_len."""
    end = start + length
    if end > max_len:
        raise ValueError(
            f"positions up to {end} asked for, but max_len is {max_len}; raise max_len"
        )


def _check_positions_call(self, x, start=0) -> None:
    """``x`` (B, L, D) placed at ``start``: the positions it needs must exist."""
    check_int("start", start)
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != self.d_model:
        got = fmt_shape(x) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"x must be (B, L, {self.d_model}) for d_model={self.d_model}, got x {got}"
        )
    _check_room(start, x.shape[1], self.max_len)


def _check_sinusoidal_encoding(self, d_model, max_len=512) -> None:
    check_positive_int("max_len", max_len)
    _check_sinusoidal_positions(max_len, d_model)


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to token embeddings (no parameters).

    Args:
        d_model: width D of the embeddings (even).
        max_len: the most positions it covers.

    Shapes:
        x (B, L, D) -> (B, L, D)
    """

    @checked(_check_sinusoidal_encoding)
    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.register_buffer(
            "table", sinusoidal_positions(max_len, d_model), persistent=False
        )

    @checked(_check_positions_call)
    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Add the positions ``start, start + 1, ...`` to ``x``."""
        return x + self.table[start : start + x.shape[1]].to(x.dtype)


def _check_learned_encoding(self, d_model, max_len=512) -> None:
    check_positive_int("d_model", d_model)
    check_positive_int("max_len", max_len)


class LearnedPositionalEncoding(nn.Module):
    """Adds a learned vector per position (as in BERT and GPT-2).

    Args:
        d_model: width D of the embeddings.
        max_len: the most positions it has a vector for.

    Shapes:
        x (B, L, D) -> (B, L, D)
    """

    @checked(_check_learned_encoding)
    def __init__(self, d_model: int, max_len: int = 512):
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.embedding = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.embedding.weight, std=0.02)

    @checked(_check_positions_call)
    def forward(self, x: torch.Tensor, start: int = 0) -> torch.Tensor:
        """Add the positions ``start, start + 1, ...`` to ``x``."""
        return x + self.embedding.weight[start : start + x.shape[1]].to(x.dtype)
