"""Listening: a pyramidal audio encoder under the book's character decoder.

The encoder reads log-mel frames and halves their number ``n_halvings`` times by
concatenating adjacent frames and projecting them back to D, as the pyramidal
encoder of Listen, Attend and Spell (Chan et al., 2016) does; three halvings divide
the frames by 8, and with them the decoder cross-attention's key and value
projections, scores and weighted sum (its query and output projections run over the
target, and do not shrink). The decoder is the book's :class:`xattn.Decoder`,
cross-attending to those frames with soft attention or, with
``ListenerConfig(attention="monotonic")``, with hard monotonic attention
(:mod:`xattn.monotonic`).

How to score a listener lives elsewhere and is re-exported here: the character
error rate in ``xattn.tasks.transcripts``, the guided-attention loss and the
alignment scores in ``xattn.alignment``.

Shapes: B batch, F frames (F' after the pyramid), M mel bins, D model width,
H heads, Lq target length, V vocabulary.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from xattn.alignment import (
    alignment_path,
    guided_attention_loss,
    guided_attention_weights,
    monotonic_share,
    span_hits,
)
from xattn.blocks import SinusoidalPositionalEncoding
from xattn.checks import (
    check_bool_mask,
    check_dropout,
    check_floating,
    check_int,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.decode import greedy_tokens
from xattn.model import Decoder, Encoder, Seq2SeqConfig
from xattn.monotonic import MonotonicCrossAttention
from xattn.tasks.transcripts import character_error_rate, edit_distance

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


ATTENTION = ("soft", "monotonic")


@dataclass(frozen=True)
class ListenerConfig:
    """Sizes of a :class:`Listener`; the defaults train on a CPU in seconds.

    ``attention`` is the decoder's cross-attention: ``"soft"`` (a softmax over
    every frame) or ``"monotonic"`` (:class:`xattn.MonotonicCrossAttention`).
    """

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
    attention: str = "soft"

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
        if self.attention not in ATTENTION:
            raise ValueError(
                f"attention must be one of {ATTENTION}, got {self.attention!r}"
            )

    def seq2seq(self) -> Seq2SeqConfig:
        """The same sizes as a :class:`Seq2SeqConfig`, for the encoder and decoder."""
        return Seq2SeqConfig(
            self.vocab_size,
            self.vocab_size,
            self.d_model,
            self.n_heads,
            max(self.n_encoder_layers, 1),
            self.n_decoder_layers,
            dropout=self.dropout,
            max_len=self.max_len,
            pad_id=self.pad_id,
        )

    def to_dict(self) -> dict:
        """The sizes as a dict (``ListenerConfig(**d)`` rebuilds them)."""
        return asdict(self)


def _check_frames(x, mask) -> None:
    check_floating("x", x)
    check_bool_mask("mask", mask)
    if x.dim() != 3 or mask.shape != x.shape[:2]:
        raise ValueError(
            f"x must be (B, F, C) and mask (B, F): x {fmt_shape(x)} vs mask "
            f"{fmt_shape(mask)}"
        )


@checked(_check_frames)
def stack_frames(
    x: torch.Tensor, mask: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Concatenate each pair of adjacent frames: half as many, twice as wide.

    An odd number of frames gets a zero frame at the end first. A stacked frame is
    real if either of its halves is; padding frames are zeroed, whatever they held.

    Shapes:
        x (B, F, C), mask (B, F) -> (B, ceil(F / 2), 2C), (B, ceil(F / 2))
    """
    b, f, c = x.shape
    if f % 2:
        x = torch.cat([x, x.new_zeros(b, 1, c)], dim=1)  # (B, F + 1, C)
        mask = torch.cat([mask, mask.new_zeros(b, 1)], dim=1)
    x = x * mask[..., None]  # padding frames stacked in are zero, whatever they held
    pairs = x.reshape(b, -1, 2 * c)  # (B, F / 2, 2C): frames 2t and 2t + 1 side by side
    return pairs, mask.reshape(b, -1, 2).any(-1)  # (B, F / 2, 2C), (B, F / 2)


def _check_features(self, features, mask) -> None:
    _check_frames(features, mask)
    n_mels = self.cfg.n_mels
    if features.shape[-1] != n_mels:
        raise ValueError(
            f"features must have n_mels={n_mels} bins, got features "
            f"{fmt_shape(features)}"
        )
    if features.shape[1] == 0 or not mask.any(-1).all():
        raise ValueError(
            f"every utterance needs a real frame: features {fmt_shape(features)}, "
            f"real frames per row {mask.sum(-1).tolist()}"
        )
    if features.dtype != next(self.parameters()).dtype:
        raise ValueError(
            f"features must be in the model's dtype {next(self.parameters()).dtype}, "
            f"got {features.dtype}"
        )


class PyramidEncoder(nn.Module):
    """Log-mel frames to memory: normalize, project, halve n times, self-attend.

    Each utterance's features are normalized to zero mean and unit variance per mel
    bin over its real frames. Then a linear map to D, and per halving
    :func:`stack_frames` and a linear map from 2D back to D with a GELU. Sinusoidal
    positions and ``n_encoder_layers`` blocks of :class:`xattn.Encoder`
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

    @checked(_check_features)
    def forward(
        self, features: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
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


def _check_listener(self, cfg) -> None:
    if not isinstance(cfg, ListenerConfig):
        raise ValueError(f"cfg must be a ListenerConfig, got {type(cfg).__name__}")


def _check_ids(self, name, ids) -> None:
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        shape = fmt_shape(ids) if isinstance(ids, torch.Tensor) else type(ids).__name__
        dtype = getattr(ids, "dtype", "")
        raise ValueError(f"{name} must be (B, Lq) torch.long ids, got {shape} {dtype}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.cfg.vocab_size):
        raise ValueError(
            f"{name} must be ids in [0, {self.cfg.vocab_size}), got "
            f"{int(ids.min())} to {int(ids.max())}"
        )


def _check_decode(self, tgt_in, memory, memory_mask) -> None:
    _check_ids(self, "tgt_in", tgt_in)
    check_floating("memory", memory)
    check_bool_mask("memory_mask", memory_mask)
    d = self.cfg.d_model
    if (
        memory.dim() != 3
        or memory.shape[-1] != d
        or memory_mask.shape != memory.shape[:2]
    ):
        raise ValueError(
            f"memory must be (B, F', {d}) and memory_mask (B, F'): memory "
            f"{fmt_shape(memory)} vs memory_mask {fmt_shape(memory_mask)}"
        )
    if tgt_in.shape[0] != memory.shape[0]:
        raise ValueError(
            f"tgt_in and the features must share the batch size: tgt_in "
            f"{fmt_shape(tgt_in)} vs memory {fmt_shape(memory)}"
        )
    if tgt_in.shape[1] > self.cfg.max_len:
        raise ValueError(
            f"tgt_in has {tgt_in.shape[1]} positions, more than max_len="
            f"{self.cfg.max_len}"
        )


def _check_listen(self, features, feature_mask, tgt_in) -> None:
    _check_features(self.encoder, features, feature_mask)
    _check_ids(self, "tgt_in", tgt_in)
    if tgt_in.shape[0] != features.shape[0]:
        raise ValueError(
            f"tgt_in and the features must share the batch size: tgt_in "
            f"{fmt_shape(tgt_in)} vs features {fmt_shape(features)}"
        )


def _check_transcribe(self, features, feature_mask, bos_id, eos_id, max_len=16) -> None:
    _check_features(self.encoder, features, feature_mask)
    v = self.cfg.vocab_size
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        check_int(name, value)
        if value >= v or value == self.cfg.pad_id:
            raise ValueError(
                f"{name}={value} must be an id of the vocabulary (< {v}) other than "
                f"pad_id={self.cfg.pad_id}"
            )
    check_positive_int("max_len", max_len)
    if max_len >= self.cfg.max_len:
        raise ValueError(
            f"max_len={max_len} must be < the model's max_len={self.cfg.max_len}"
        )


class Listener(nn.Module):
    """Listen (a :class:`PyramidEncoder`), attend and spell (a ``Decoder``).

    With ``cfg.attention == "monotonic"`` every decoder block's cross-attention
    is a :class:`xattn.MonotonicCrossAttention` with one head, as Raffel et al.'s
    (the soft one has ``cfg.n_heads``), which starts from the projections the
    soft one would have had: the same seed builds the same model either way, but
    for the number of heads and how the weights are made.

    Args:
        cfg: the sizes of both halves, from :class:`ListenerConfig`.

    Shapes:
        features (B, F, M), feature_mask (B, F), tgt_in (B, Lq) -> logits (B, Lq, V)
    """

    @checked(_check_listener)
    def __init__(self, cfg: ListenerConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = PyramidEncoder(cfg)
        self.embed = nn.Embedding(cfg.vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        self.positions = SinusoidalPositionalEncoding(cfg.d_model, cfg.max_len)
        self.decoder = Decoder(cfg.seq2seq())
        self.generator = nn.Linear(cfg.d_model, cfg.vocab_size)
        if cfg.attention == "monotonic":
            for block in self.decoder.layers:
                soft = block.cross_attn
                block.cross_attn = MonotonicCrossAttention(cfg.d_model, 1)
                block.cross_attn.load_state_dict(soft.state_dict(), strict=False)

    @checked(_check_decode)
    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, memory_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits for every target position. Shapes: tgt_in (B, Lq) -> (B, Lq, V)."""
        x = self.positions(self.embed(tgt_in) * math.sqrt(self.cfg.d_model))
        h = self.decoder(x, memory, memory_mask, tgt_in != self.cfg.pad_id)
        return self.generator(h)  # (B, Lq, V)

    @checked(_check_listen)
    def forward(
        self, features: torch.Tensor, feature_mask: torch.Tensor, tgt_in: torch.Tensor
    ) -> torch.Tensor:
        memory, memory_mask = self.encoder(features, feature_mask)
        return self.decode(tgt_in, memory, memory_mask)

    @torch.no_grad()
    @checked(_check_transcribe)
    def transcribe(
        self,
        features: torch.Tensor,
        feature_mask: torch.Tensor,
        bos_id: int,
        eos_id: int,
        max_len: int = 16,
    ) -> list[list[int]]:
        """Greedy decoding (:func:`xattn.greedy_tokens`): the ids of each utterance, up
        to (not with) its eos, at most ``max_len`` of them.

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
