"""The encoder–decoder: embeddings, an encoder stack, a decoder stack, an output.

``Seq2Seq(cfg)`` reads a source sequence of ids and predicts the target
sequence one token ahead (teacher forcing). Masks are derived from ``pad_id``:
the source padding mask (True = real token) goes to every self- and
cross-attention over the source; the decoder's self-attention adds the causal
mask.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xattn.blocks import LayerCache
from xattn.checks import (
    check_int,
    check_memory_mask,
    check_stream,
    checked,
    fmt_shape,
)
from xattn.config import Seq2SeqConfig
from xattn.layers import _check_kv
from xattn.positions import (
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
    _check_room,
)
from xattn.stacks import Decoder, Encoder, _check_caches

__all__ = ["Seq2SeqConfig", "Encoder", "Decoder", "Seq2Seq"]


def _check_ids(name: str, ids: object, vocab: int) -> None:
    """A (B, L) tensor of torch.long token ids, each in [0, vocab)."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        got = (
            f"{fmt_shape(ids)} {ids.dtype}"
            if isinstance(ids, torch.Tensor)
            else type(ids).__name__
        )
        raise ValueError(
            f"{name} must be a (B, L) tensor of torch.long token ids, got {got}"
        )
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
        raise ValueError(
            f"{name} holds ids outside [0, {vocab}): min {int(ids.min())}, max "
            f"{int(ids.max())}"
        )


def _check_seq2seq(self, cfg) -> None:
    if not isinstance(cfg, Seq2SeqConfig):
        raise ValueError(f"cfg must be a Seq2SeqConfig, got {type(cfg).__name__}")


def _check_encode(self, src) -> None:
    _check_ids("src", src, self.cfg.src_vocab_size)
    _check_room(0, src.shape[1], self.positions.max_len)


def _check_decode(self, tgt_in, memory, src_mask) -> None:
    _check_ids("tgt_in", tgt_in, self.cfg.tgt_vocab_size)
    _check_room(0, tgt_in.shape[1], self.positions.max_len)
    check_stream("memory", memory, self.cfg.d_model, "d_memory")
    if memory.shape[0] != tgt_in.shape[0]:
        x_shape = (*tgt_in.shape, self.cfg.d_model)  # the embedded target
        raise ValueError(
            f"x and memory must share the batch size: x {fmt_shape(x_shape)} vs "
            f"memory {fmt_shape(memory)}"
        )
    check_memory_mask(src_mask, tuple(memory.shape))


def _check_forward(self, src, tgt_in) -> None:
    _check_encode(self, src)
    if (
        isinstance(tgt_in, torch.Tensor)
        and tgt_in.dim()
        and (src.shape[0] != tgt_in.shape[0])
    ):
        raise ValueError(
            f"src and tgt_in must share the batch size: src {fmt_shape(src)} vs "
            f"tgt_in {fmt_shape(tgt_in)}"
        )
    _check_ids("tgt_in", tgt_in, self.cfg.tgt_vocab_size)
    _check_room(0, tgt_in.shape[1], self.positions.max_len)


def _check_init_cache(self, memory) -> None:
    check_stream("memory", memory, self.cfg.d_model, "d_memory")


def _check_decode_step(self, token, position, src_mask, caches) -> None:
    check_int("position", position)
    _check_ids("token", token, self.cfg.tgt_vocab_size)
    if token.shape[1] != 1:
        raise ValueError(
            "token must be (B, 1), one token per sentence, got token "
            f"{fmt_shape(token)}"
        )
    _check_caches(caches, len(self.decoder.layers))
    _check_room(position, 1, self.positions.max_len)
    if not isinstance(caches[0], LayerCache):
        raise ValueError(
            "cache must be a LayerCache, as Seq2Seq.init_cache makes them, got "
            f"{type(caches[0]).__name__}"
        )
    layer = self.decoder.layers[0].cross_attn
    k, _ = _check_kv(caches[0].cross_kv, token.shape[0], layer.n_heads, layer.d_head)
    check_memory_mask(src_mask, (k.shape[0], k.shape[2], layer.d_memory))


class Seq2Seq(nn.Module):
    """An encoder–decoder Transformer over token ids.

    Args:
        cfg: the model's hyperparameters, checked when the config is made.

    Shapes:
        src (B, Lk), tgt_in (B, Lq) -> logits (B, Lq, V_tgt)
    """

    @checked(_check_seq2seq)
    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.cfg = cfg
        self.src_embed = nn.Embedding(
            cfg.src_vocab_size, cfg.d_model, padding_idx=cfg.pad_id
        )
        self.tgt_embed = (
            self.src_embed
            if cfg.share_embeddings
            else nn.Embedding(cfg.tgt_vocab_size, cfg.d_model, padding_idx=cfg.pad_id)
        )
        position_cls = (
            SinusoidalPositionalEncoding
            if cfg.positional == "sinusoidal"
            else LearnedPositionalEncoding
        )
        self.positions = position_cls(cfg.d_model, cfg.max_len)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = Encoder(cfg)
        self.decoder = Decoder(cfg)
        self.generator = nn.Linear(cfg.d_model, cfg.tgt_vocab_size, bias=False)
        # Embeddings start at std D^-1/2, so that after the sqrt(D) scale they are about
        # unit size.
        for table in {id(m): m for m in (self.src_embed, self.tgt_embed)}.values():
            nn.init.normal_(table.weight, std=cfg.d_model**-0.5)
            with torch.no_grad():
                table.weight[cfg.pad_id].zero_()
        if cfg.tie_output:
            self.generator.weight = self.tgt_embed.weight

    def _embed(
        self, table: nn.Embedding, ids: torch.Tensor, start: int = 0
    ) -> torch.Tensor:
        x = table(ids) * math.sqrt(self.cfg.d_model)  # (B, L, D)
        return self.dropout(self.positions(x, start))

    def _check_ids(self, name: str, ids: torch.Tensor, vocab: int) -> None:
        _check_ids(name, ids, vocab)

    def source_mask(self, src: torch.Tensor) -> torch.Tensor:
        """True at real source tokens. Shapes: src (B, Lk) -> (B, Lk)."""
        return src != self.cfg.pad_id

    @checked(_check_encode)
    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the encoder. Returns ``(memory, src_mask)``: (B, Lk, D) and (B, Lk)."""
        src_mask = self.source_mask(src)
        return self.encoder(self._embed(self.src_embed, src), src_mask), src_mask

    @checked(_check_decode)
    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits for every target position. Shapes: tgt_in (B, Lq) -> (B, Lq, V)."""
        tgt_mask = tgt_in != self.cfg.pad_id
        x = self._embed(self.tgt_embed, tgt_in)  # (B, Lq, D)
        h = self.decoder(x, memory, src_mask, tgt_mask)  # (B, Lq, D)
        return self.generator(h)  # (B, Lq, V)

    @checked(_check_forward)
    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, *self.encode(src))

    @checked(_check_init_cache)
    def init_cache(self, memory: torch.Tensor) -> list[LayerCache]:
        """Project the memory's keys and values once for every cross-attention."""
        return [
            LayerCache(layer.cross_attn.project_kv(memory))
            for layer in self.decoder.layers
        ]

    @checked(_check_decode_step)
    def decode_step(
        self,
        token: torch.Tensor,
        position: int,
        src_mask: torch.Tensor,
        caches: list[LayerCache],
    ) -> torch.Tensor:
        """Logits for the token after ``token`` at ``position``, reusing the caches.

        Shapes:
            token (B, 1) -> logits (B, V)
        """
        x = self._embed(self.tgt_embed, token, start=position)  # (B, 1, D)
        h = self.decoder(x, None, src_mask, None, caches)  # (B, 1, D)
        return self.generator(h[:, -1])  # (B, V)
