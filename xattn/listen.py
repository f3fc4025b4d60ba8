"""Listening: a pyramidal audio encoder, a character decoder, and how to score them.

The encoder reads log-mel frames and halves their number ``n_halvings`` times by
concatenating adjacent frames and projecting them back to D, as the pyramidal
encoder of Listen, Attend and Spell (Chan et al., 2016) does; three halvings divide
the frames by 8, and with them the decoder cross-attention's key and value
projections, scores and weighted sum (its query and output projections run over the
target, and do not shrink). The decoder is the book's :class:`xattn.model.Decoder`,
cross-attending to those frames.

Also here: character error rate (edit distance), the guided-attention loss of
Tachibana et al. (2018), and two scores of an alignment: how often its argmax moves
forward, and how often it lands inside the character's true span.

Shapes: B batch, F frames (F' after the pyramid), M mel bins, D model width,
H heads, Lq target length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn

from xattn.blocks import SinusoidalPositionalEncoding
from xattn.checks import (
    check_bool_mask,
    check_dropout,
    check_floating,
    check_int,
    check_number,
    check_positive_int,
    fmt_shape,
)
from xattn.decode import greedy_tokens
from xattn.model import Decoder, Encoder, Seq2SeqConfig

__all__ = [
    "ListenerConfig",
    "stack_frames",
    "PyramidEncoder",
    "Listener",
    "edit_distance",
    "character_error_rate",
    "guided_attention_weights",
    "guided_attention_loss",
    "alignment_path",
    "monotonic_share",
    "span_hits",
]


@dataclass(frozen=True)
class ListenerConfig:
    """Sizes of a :class:`Listener`; the defaults train on a CPU in seconds."""

    vocab_size: int
    n_mels: int = 40
    d_model: int = 64  # tiny: the speech task has ten characters and few sounds
    n_heads: int = 4
    n_halvings: int = 3  # frames / 8: 10 ms frames become 80 ms ones
    n_encoder_layers: int = 1  # self-attention layers after the pyramid
    n_decoder_layers: int = 1
    dropout: float = 0.0  # the synthetic data never repeats; nothing to overfit
    max_len: int = 512
    pad_id: int = 0

    def __post_init__(self):
        for name in ("vocab_size", "n_mels", "d_model", "n_heads", "max_len"):
            check_positive_int(name, getattr(self, name))
        for name in ("n_halvings", "n_encoder_layers", "pad_id"):
            check_int(name, getattr(self, name))
        check_positive_int("n_decoder_layers", self.n_decoder_layers)
        check_dropout(self.dropout)
        if self.d_model % self.n_heads or self.d_model % 2:
            raise ValueError(
                f"d_model={self.d_model} must be even and divisible by "
                f"n_heads={self.n_heads}"
            )
        if self.pad_id >= self.vocab_size:
            raise ValueError(
                f"pad_id={self.pad_id} must be < vocab_size={self.vocab_size}"
            )

    def seq2seq(self) -> Seq2SeqConfig:
        """The same sizes as a :class:`Seq2SeqConfig`, for the encoder and decoder."""
        return Seq2SeqConfig(
            self.vocab_size, self.vocab_size, self.d_model, self.n_heads,
            max(self.n_encoder_layers, 1), self.n_decoder_layers,
            dropout=self.dropout, max_len=self.max_len, pad_id=self.pad_id,
        )  # fmt: skip

    def to_dict(self) -> dict:
        return asdict(self)


def _check_frames(x: torch.Tensor, mask: torch.Tensor) -> None:
    check_floating("x", x)
    check_bool_mask("mask", mask)
    if x.dim() != 3 or mask.shape != x.shape[:2]:
        raise ValueError(
            f"x must be (B, F, C) and mask (B, F): x {fmt_shape(x)} vs mask "
            f"{fmt_shape(mask)}"
        )


def stack_frames(
    x: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each pair of adjacent frames: half as many, twice as wide.

    An odd number of frames gets a zero frame at the end first. A stacked frame is
    real if either of its halves is.

    Shapes:
        x (B, F, C), mask (B, F) -> (B, ceil(F / 2), 2C), (B, ceil(F / 2))
    """
    _check_frames(x, mask)
    b, f, c = x.shape
    if f % 2:
        x = torch.cat([x, x.new_zeros(b, 1, c)], dim=1)  # (B, F + 1, C)
        mask = torch.cat([mask, mask.new_zeros(b, 1)], dim=1)
    x = x * mask[..., None]  # padding frames stacked in are zero, whatever they held
    pairs = x.reshape(b, -1, 2 * c)  # (B, F / 2, 2C): frames 2t and 2t + 1 side by side
    return pairs, mask.reshape(b, -1, 2).any(-1)  # (B, F / 2, 2C), (B, F / 2)


class PyramidEncoder(nn.Module):
    """Log-mel frames to memory: normalize, project, halve n times, self-attend.

    Each utterance's features are normalized to zero mean and unit variance per mel
    bin over its real frames. Then a linear map to D, and per halving
    :func:`stack_frames` and a linear map from 2D back to D with a GELU. Sinusoidal
    positions and ``n_encoder_layers`` blocks of :class:`xattn.model.Encoder`
    follow, at the reduced rate.

    Args:
        cfg: the sizes, from :class:`ListenerConfig` (``n_mels``, ``d_model``,
            ``n_halvings``, ``n_encoder_layers``, ...).

    Shapes:
        features (B, F, M), mask (B, F) -> memory (B, F', D), memory_mask (B, F')
        with F' = F / 2^n_halvings rounded up at every halving
    """

    def __init__(self, cfg: ListenerConfig):
        super().__init__()
        d = cfg.d_model
        self.cfg = cfg
        self.in_proj = nn.Linear(cfg.n_mels, d)
        self.halvings = nn.ModuleList(
            nn.Sequential(nn.Linear(2 * d, d), nn.GELU()) for _ in range(cfg.n_halvings)
        )
        self.positions = SinusoidalPositionalEncoding(d, cfg.max_len)
        self.encoder = Encoder(cfg.seq2seq()) if cfg.n_encoder_layers else None

    def forward(
        self, features: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        _check_frames(features, mask)
        if features.shape[-1] != self.cfg.n_mels:
            raise ValueError(
                f"features must have n_mels={self.cfg.n_mels} bins, got features "
                f"{fmt_shape(features)}"
            )
        keep = mask[..., None].to(features.dtype)  # (B, F, 1)
        n = keep.sum(1, keepdim=True).clamp(min=1)  # (B, 1, 1)
        mean = (features * keep).sum(1, keepdim=True) / n  # (B, 1, M)
        var = (((features - mean) * keep) ** 2).sum(1, keepdim=True) / n
        x = self.in_proj((features - mean) / (var + 1e-5).sqrt())  # (B, F, D)
        for halve in self.halvings:
            x, mask = stack_frames(x, mask)  # (B, F / 2, 2D)
            x = halve(x)  # (B, F / 2, D)
        x = self.positions(x)
        if self.encoder is not None:
            x = self.encoder(x, mask)  # (B, F', D)
        return x, mask


class Listener(nn.Module):
    """Listen (a :class:`PyramidEncoder`), attend and spell (a ``Decoder``).

    Args:
        cfg: the sizes of both halves, from :class:`ListenerConfig`.

    Shapes:
        features (B, F, M), feature_mask (B, F), tgt_in (B, Lq) -> logits (B, Lq, V)
    """

    def __init__(self, cfg: ListenerConfig):
        super().__init__()
        if not isinstance(cfg, ListenerConfig):
            raise ValueError(f"cfg must be a ListenerConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.encoder = PyramidEncoder(cfg)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.positions = SinusoidalPositionalEncoding(cfg.d_model, cfg.max_len)
        self.decoder = Decoder(cfg.seq2seq())
        self.generator = nn.Linear(cfg.d_model, cfg.vocab_size)

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits for every target position. Shapes: tgt_in (B, Lq) -> (B, Lq, V)."""
        if tgt_in.dim() != 2 or tgt_in.dtype != torch.long:
            raise ValueError(
                f"tgt_in must be (B, Lq) torch.long ids, got {fmt_shape(tgt_in)} "
                f"{tgt_in.dtype}"
            )
        if tgt_in.shape[0] != memory.shape[0]:
            raise ValueError(
                f"tgt_in and the features must share the batch size: tgt_in "
                f"{fmt_shape(tgt_in)} vs memory {fmt_shape(memory)}"
            )
        x = self.positions(self.embed(tgt_in) * math.sqrt(self.cfg.d_model))
        h = self.decoder(x, memory, memory_mask, tgt_in != self.cfg.pad_id)
        return self.generator(h)  # (B, Lq, V)

    def forward(
        self, features: torch.Tensor, feature_mask: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        memory, memory_mask = self.encoder(features, feature_mask)
        return self.decode(tgt_in, memory, memory_mask)

    @torch.no_grad()
    def transcribe(
        self,
        features: torch.Tensor,
        feature_mask: torch.Tensor,
        bos_id: int,
        eos_id: int,
        max_len: int = 16,
    ) -> list[list[int]]:
        """Greedy decoding (:func:`xattn.greedy_tokens`): the ids of each utterance, up
        to (not with) its eos.

        Shapes:
            features (B, F, M), feature_mask (B, F) -> B lists of ids
        """
        memory, memory_mask = self.encoder(features, feature_mask)
        ids, _ = greedy_tokens(
            lambda tokens: self.decode(tokens, memory, memory_mask)[:, -1],
            features.shape[0],
            max_len,
            bos_id=bos_id,
            eos_id=eos_id,
            pad_id=self.cfg.pad_id,
            device=features.device,
        )
        out = []
        for row in ids.tolist():
            out.append(row[: row.index(eos_id)] if eos_id in row else row)
        return [[i for i in row if i != self.cfg.pad_id] for row in out]


def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions.

    Dynamic programming over one row: ``row[j]`` is the distance between the
    prefix of ``a`` read so far and ``b[:j]``.

    Shapes:
        two sequences of any lengths -> an int
    """
    row = list(range(len(b) + 1))  # a[:0] against b[:j]: j insertions
    for i, x in enumerate(a, start=1):
        diag, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (x != y))
    return row[-1]


def character_error_rate(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Total edit distance over total reference length (may exceed 1).

    Shapes:
        hyps and refs: N strings each -> a float
    """
    if len(hyps) != len(refs) or not refs:
        raise ValueError(
            f"hyps and refs must be non-empty and as many: {len(hyps)} vs {len(refs)}"
        )
    total = sum(len(r) for r in refs)
    if total == 0:
        raise ValueError("the references must hold at least one character")
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / total


def guided_attention_weights(
    tgt_lengths: torch.Tensor,
    src_lengths: torch.Tensor,
    lq: int,
    lk: int,
    g: float = 0.2,
) -> torch.Tensor:
    """Tachibana et al.'s penalty ``1 - exp(-(n / N - t / T)^2 / (2 g^2))``, centred.

    Step n and frame t are taken at their centres, ``(n + 1/2) / N`` and
    ``(t + 1/2) / T``, so that the N steps share the T frames evenly. The penalty is
    zero on that diagonal, near 1 far from it, and 0 at padding, so that weight
    there costs nothing.

    Shapes:
        tgt_lengths (B,) N, src_lengths (B,) T -> (B, lq, lk)
    """
    check_number("g", g, 0.0, math.inf, low_open=True)
    if tgt_lengths.shape != src_lengths.shape or tgt_lengths.dim() != 1:
        raise ValueError(
            f"tgt_lengths and src_lengths must be (B,) each: {fmt_shape(tgt_lengths)} "
            f"vs {fmt_shape(src_lengths)}"
        )
    if int(tgt_lengths.max()) > lq or int(src_lengths.max()) > lk:
        raise ValueError(f"lengths must fit in lq={lq} and lk={lk}")
    n = torch.arange(lq, device=tgt_lengths.device)[None, :, None]  # (1, Lq, 1)
    t = torch.arange(lk, device=tgt_lengths.device)[None, None, :]  # (1, 1, Lk)
    big_n = tgt_lengths.clamp(min=1)[:, None, None].float()  # (B, 1, 1)
    big_t = src_lengths.clamp(min=1)[:, None, None].float()
    w = 1 - torch.exp(
        -(((n + 0.5) / big_n - (t + 0.5) / big_t) ** 2) / (2 * g * g)
    )  # (B, Lq, Lk)
    real = (n < tgt_lengths[:, None, None]) & (t < src_lengths[:, None, None])
    return w * real


def guided_attention_loss(
    weights: torch.Tensor,
    tgt_lengths: torch.Tensor,
    src_lengths: torch.Tensor,
    g: float = 0.2,
) -> torch.Tensor:
    """Attention weight off the diagonal: weights times the guide, per guided step.

    The guide is :func:`guided_attention_weights`; steps ``n >= tgt_lengths`` (the
    eos step, padding) are not guided. The result is the mean, over heads and the
    guided steps, of each step's weight-averaged penalty, a number in [0, 1].

    Shapes:
        weights (..., B, H, Lq, Lk), tgt_lengths (B,), src_lengths (B,) -> ()
    """
    check_floating("weights", weights)
    if weights.dim() < 4 or weights.shape[-4] != tgt_lengths.shape[0]:
        raise ValueError(
            f"weights must be (..., B, H, Lq, Lk) with B = len(tgt_lengths): weights "
            f"{fmt_shape(weights)} vs tgt_lengths {fmt_shape(tgt_lengths)}"
        )
    lq, lk = weights.shape[-2:]
    guide = guided_attention_weights(tgt_lengths, src_lengths, lq, lk, g)  # (B, Lq, Lk)
    penalty = (weights * guide[:, None]).sum(-1)  # (..., B, H, Lq)
    steps = tgt_lengths.sum() * weights[..., 0, 0].numel() / len(tgt_lengths)
    return penalty.sum() / steps.clamp(min=1)


def alignment_path(weights: torch.Tensor) -> torch.Tensor:
    """The most-weighted frame of every output step.

    Shapes:
        weights (..., Lq, Lk) -> (..., Lq) long
    """
    check_floating("weights", weights)
    return weights.argmax(-1)


def monotonic_share(path: torch.Tensor, lengths: torch.Tensor) -> float:
    """Share of steps whose argmax frame is not before the previous step's.

    Only steps 1 .. length - 1 of each row count (each compared with the one before).

    Shapes:
        path (B, Lq), lengths (B,) -> a float
    """
    if path.dim() != 2 or lengths.shape != path.shape[:1]:
        raise ValueError(
            f"path must be (B, Lq) and lengths (B,): {fmt_shape(path)} vs "
            f"{fmt_shape(lengths)}"
        )
    step = torch.arange(1, path.shape[1], device=path.device)  # (Lq - 1,)
    counted = step[None] < lengths[:, None]  # (B, Lq - 1)
    forward = path[:, 1:] >= path[:, :-1]
    if not counted.any():
        raise ValueError("lengths must give at least one row two steps")
    return (forward & counted).sum().item() / counted.sum().item()


def span_hits(
    path: torch.Tensor, spans: torch.Tensor, factor: int, memory_mask: torch.Tensor
) -> tuple[float, float]:
    """How often the argmax frame overlaps the character's span, and chance.

    Memory frame j covers input frames ``[j * factor, (j + 1) * factor)``; it hits
    character n when that range overlaps the character's ``[start, end)``. Chance is
    the share of real memory frames that overlap it: the hit rate of a frame drawn
    at random. Rows of ``spans`` with start -1 are padding and skipped.

    Shapes:
        path (B, L), spans (B, L, 2), memory_mask (B, F') -> (hit rate, chance)
    """
    check_positive_int("factor", factor)
    if (
        path.shape != spans.shape[:2]
        or spans.shape[-1:] != (2,)
        or (memory_mask.shape[0] != path.shape[0])
    ):
        raise ValueError(
            f"path (B, L), spans (B, L, 2) and memory_mask (B, F') must agree: "
            f"{fmt_shape(path)}, {fmt_shape(spans)}, {fmt_shape(memory_mask)}"
        )
    real = spans[..., 0] >= 0  # (B, L)
    lo, hi = path * factor, (path + 1) * factor  # (B, L): frames the argmax covers
    hit = (lo < spans[..., 1]) & (hi > spans[..., 0])
    j = torch.arange(memory_mask.shape[1], device=path.device)  # (F',)
    covers = (j[None, None] * factor < spans[..., 1:]) & (
        (j[None, None] + 1) * factor > spans[..., :1]
    )  # (B, L, F')
    covers &= memory_mask[:, None]
    chance = covers.sum(-1) / memory_mask.sum(-1, keepdim=True)  # (B, L)
    return hit[real].float().mean().item(), chance[real].float().mean().item()
