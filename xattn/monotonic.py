"""Monotonic attention: each output step stops at one frame, never before the last.

Soft attention scores every memory frame at every output step: L T scores for L
steps over T frames, and none of them before the whole input has arrived. Hard
monotonic attention (Raffel et al., 2017) reads the memory left to right instead.
Output step i starts at the frame where step i - 1 stopped and, frame by frame,
stops at frame j with probability ``p_ij = sigmoid(e_ij)`` (``e_ij`` an energy,
a score); the context is the value of the frame it stops at, or zero if it reads
to the end without stopping. At test time a step stops at the first frame with
``p_ij >= 1/2``: a streaming decoder computes at most T + L energies in all, and
writes step i as soon as it has heard frame ``t_i``.

Stopping is not differentiable; training uses its expectation, the probability
``alpha_ij`` that step i stops at frame j (:func:`monotonic_alignment`), which
sums to 1 or less over j (the rest is the chance of reading past the end).

Shapes: B batch, H heads, Lq output steps, Lk memory frames, Dh head width.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from xattn.attention import aggregate, attention_scores
from xattn.checks import (
    check_floating,
    check_min_dim,
    check_number,
    checked,
    fmt_shape,
)
from xattn.layers import MultiHeadCrossAttention, _check_multi_head

__all__ = ["monotonic_alignment", "monotonic_stops", "MonotonicCrossAttention"]


def _check_energies(energies) -> None:
    check_floating("energies", energies)
    check_min_dim("energies", energies, 2, "(..., Lq, Lk)")
    if energies.shape[-1] == 0:
        raise ValueError(
            f"energies must have frames (Lk >= 1), got {fmt_shape(energies)}"
        )
    if torch.isnan(energies).any() or (energies == math.inf).any():
        raise ValueError(
            "energies must be finite or -inf (a frame that may not be stopped at), "
            f"got NaN or +inf in energies {fmt_shape(energies)}"
        )


@checked(_check_energies)
def monotonic_alignment(energies: torch.Tensor) -> torch.Tensor:
    """Where each step stops, in expectation: Raffel et al.'s ``alpha_ij``.

    Step i starts where step i - 1 stopped (step 0 at frame 0). From frame k it
    stops at frame j >= k after passing k .. j - 1 without stopping, with
    probability ``move_kj = p_ij prod_{l=k}^{j-1} (1 - p_il)``, so that
    ``alpha_i = alpha_{i-1} @ move``. The products are sums of
    ``log(1 - p) = logsigmoid(-e)``, which stay finite where p rounds to 1.
    An energy of -inf is a frame no step stops at (padding).

    Shapes:
        energies (..., Lq, Lk) -> alpha (..., Lq, Lk), each row summing to <= 1
    """
    lq, lk = energies.shape[-2:]
    stop = torch.sigmoid(energies)  # p_ij
    skip = F.logsigmoid(-energies)  # log(1 - p_ij)
    before = F.pad(skip.cumsum(-1), (1, -1))  # sum over l < j of log(1 - p_il)
    passed = before[..., None, :] - before[..., :, None]  # (..., Lq, k, j)
    later = torch.ones(lk, lk, dtype=torch.bool, device=energies.device).triu()
    move = passed.masked_fill(~later, -math.inf).exp() * stop[..., None, :]
    alpha = F.one_hot(energies.new_zeros(energies.shape[:-2], dtype=torch.long), lk)
    alpha, rows = alpha.to(energies.dtype), []  # (..., Lk): step 0 starts at 0
    for i in range(lq):
        alpha = (alpha[..., None, :] @ move[..., i, :, :])[..., 0, :]  # (..., Lk)
        rows.append(alpha)
    return torch.stack(rows, -2)  # (..., Lq, Lk)


@checked(_check_energies)
def monotonic_stops(energies: torch.Tensor) -> torch.Tensor:
    """Hard monotonic attention at test time: the frame each step stops at.

    From the last stop on, step i stops at the first frame whose ``p_ij >= 1/2``
    (``e_ij >= 0``); Lk if there is none, and then every later step is Lk too (it
    attends to nothing).

    Shapes:
        energies (..., Lq, Lk) -> stops (..., Lq) long, in [0, Lk]
    """
    lq, lk = energies.shape[-2:]
    frames = torch.arange(lk, device=energies.device)  # (Lk,)
    stop = energies.new_zeros(energies.shape[:-2], dtype=torch.long)  # (...,)
    stops = []
    for i in range(lq):
        may = (energies[..., i, :] >= 0) & (frames >= stop[..., None])  # (..., Lk)
        stop = torch.where(may.any(-1), may.int().argmax(-1), lk)  # the first, or Lk
        stops.append(stop)
    return torch.stack(stops, -1)  # (..., Lq)


def _check_monotonic_layer(
    self,
    d_model,
    n_heads,
    dropout=0.0,
    bias=True,
    fast=False,
    d_memory=None,
    *,
    r=-2.0,
    noise=1.0,
) -> None:
    _check_multi_head(self, d_model, n_heads, dropout, bias, fast, d_memory)
    check_number("r", r)
    check_number("noise", noise, 0.0)


class MonotonicCrossAttention(MultiHeadCrossAttention):
    """Multi-head cross-attention whose heads each stop once per step, in order.

    The projections are :class:`xattn.MultiHeadCrossAttention`'s; the weights are
    hard monotonic attention's instead of a softmax. Each head's energies are its
    scaled dot products plus a learned bias ``r`` (negative: read on before
    stopping). While training they get Gaussian noise of std ``noise``, which
    pushes them away from 0 so that the hard stops of evaluation see what training
    saw, and the weights are the expected alignment (:func:`monotonic_alignment`);
    in eval mode they are the hard stops (:func:`monotonic_stops`), one-hot or,
    past the end, zero.

    Args:
        d_model: the width D of x and of the output.
        n_heads: H heads, each stopping on its own.
        dropout: as :class:`xattn.MultiHeadCrossAttention`; it does not apply to
            these weights.
        bias: whether the projections have biases.
        fast: as :class:`xattn.MultiHeadCrossAttention`.
        d_memory: the width of memory (default d_model).
        r: the energies' initial bias, the same for every head.
        noise: std of the noise added to the energies while training, >= 0.

    Shapes:
        x (B, Lq, D), memory (B, Lk, d_memory), memory_mask (B, Lk)
        -> out (B, Lq, D), weights (B, H, Lq, Lk)
    """

    @checked(_check_monotonic_layer)
    def __init__(
        self,
        d_model: int,
        n_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        fast: bool = False,
        d_memory: int | None = None,
        *,
        r: float = -2.0,
        noise: float = 1.0,
    ):
        super().__init__(d_model, n_heads, dropout, bias, fast, d_memory)
        self.r = nn.Parameter(torch.full((n_heads, 1, 1), float(r)))  # (H, 1, 1)
        self.noise = float(noise)

    def attend(self, q, k, v, mask):
        """Monotonic weights and the values they pick, between the projections.

        Shapes:
            q (B, H, Lq, Dh), k and v (B, H, Lk, Dh), mask (B | 1, 1, Lq | 1, Lk)
            -> out (B, H, Lq, Dh), weights (B, H, Lq, Lk)
        """
        energies = attention_scores(q, k) + self.r  # (B, H, Lq, Lk)
        if self.training and self.noise:
            energies = energies + self.noise * torch.randn_like(energies)
        if mask is not None:
            energies = energies.masked_fill(~mask, -math.inf)  # never stop there
        if self.training:
            weights = monotonic_alignment(energies)
        else:
            stops = monotonic_stops(energies)  # (B, H, Lq)
            weights = F.one_hot(stops, energies.shape[-1] + 1)[..., :-1].to(q.dtype)
        return aggregate(weights, v), weights  # (B, H, Lq, Dh), (B, H, Lq, Lk)
