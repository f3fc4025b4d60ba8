"""The encoder–decoder: embeddings, an encoder stack, a decoder stack, an output.

``Seq2Seq(cfg)`` reads a source sequence of ids and predicts the target
sequence one token ahead (teacher forcing). Masks are derived from ``pad_id``:
the source padding mask (True = real token) goes to every self- and
cross-attention over the source; the decoder's self-attention adds the causal
mask.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from xattn.blocks import (
    DecoderBlock,
    EncoderBlock,
    LayerCache,
    LearnedPositionalEncoding,
    SinusoidalPositionalEncoding,
)
from xattn.checks import (
    check_bool,
    check_dropout,
    check_int,
    check_positive_int,
    fmt_shape,
)

__all__ = ["Seq2SeqConfig", "Encoder", "Decoder", "Seq2Seq"]


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Hyperparameters of :class:`Seq2Seq`, checked when the config is made.

    The defaults are a small model that learns the book's date task on a laptop CPU.
    """

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 128  # wide enough for the date task, small enough for a CPU
    n_heads: int = 4  # Dh = 32, the paper's base model has 64
    n_layers: int = 2  # encoder layers
    n_decoder_layers: int | None = None  # None: as many as the encoder
    d_ff: int | None = None  # None: 4 * d_model, the paper's ratio
    dropout: float = 0.1  # the paper's base model
    max_len: int = 256  # longest sequence the positional encoding covers
    pad_id: int = 0
    norm_first: bool = True  # pre-norm trains stably without a long warm-up
    positional: str = "sinusoidal"  # or "learned"
    share_embeddings: bool = (
        False  # one table for source and target (needs one vocabulary)
    )
    tie_output: bool = (
        True  # the output layer reuses the target embedding, as in the paper
    )
    fast: bool = False  # attention through F.scaled_dot_product_attention

    def __post_init__(self):
        for name in (
            "src_vocab_size",
            "tgt_vocab_size",
            "d_model",
            "n_heads",
            "n_layers",
            "max_len",
        ):
            check_positive_int(name, getattr(self, name))
        for name in ("n_decoder_layers", "d_ff"):
            if getattr(self, name) is not None:
                check_positive_int(name, getattr(self, name))
        for name in ("norm_first", "share_embeddings", "tie_output", "fast"):
            check_bool(name, getattr(self, name))
        if self.d_model % self.n_heads:
            raise ValueError(
                f"d_model={self.d_model} must be divisible by n_heads={self.n_heads}"
            )
        if self.d_model % 2:
            raise ValueError(
                f"d_model={self.d_model} must be even for the sinusoidal positions"
            )
        check_dropout(self.dropout)
        check_int("pad_id", self.pad_id)
        if self.pad_id >= min(self.src_vocab_size, self.tgt_vocab_size):
            raise ValueError(
                f"pad_id={self.pad_id} must be a valid id of both vocabularies"
            )
        if self.positional not in ("sinusoidal", "learned"):
            raise ValueError(
                f"positional must be 'sinusoidal' or 'learned', got {self.positional!r}"
            )
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "share_embeddings needs one vocabulary, got "
                f"src_vocab_size={self.src_vocab_size} "
                f"and tgt_vocab_size={self.tgt_vocab_size}"
            )

    @property
    def decoder_layers(self) -> int:
        return self.n_layers if self.n_decoder_layers is None else self.n_decoder_layers

    @property
    def ff_width(self) -> int:
        return 4 * self.d_model if self.d_ff is None else self.d_ff

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)


class Encoder(nn.Module):
    """A stack of encoder blocks and a final layer norm (as nn.TransformerEncoder has).

    Args:
        cfg: the sizes, from :class:`Seq2SeqConfig`.

    Shapes:
        x (B, Lk, D), mask (B, Lk) -> memory (B, Lk, D)
    """

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderBlock(
                cfg.d_model,
                cfg.n_heads,
                cfg.ff_width,
                cfg.dropout,
                cfg.norm_first,
                cfg.fast,
            )
            for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


class Decoder(nn.Module):
    """A stack of decoder blocks and a final layer norm.

    Args:
        cfg: the sizes, from :class:`Seq2SeqConfig`.

    Shapes:
        x (B, Lq, D), memory (B, Lk, D), memory_mask (B, Lk), tgt_mask (B, Lq)
        -> (B, Lq, D)
    """

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        self.layers = nn.ModuleList(
            DecoderBlock(
                cfg.d_model,
                cfg.n_heads,
                cfg.ff_width,
                cfg.dropout,
                cfg.norm_first,
                cfg.fast,
            )
            for _ in range(cfg.decoder_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor | None,
        memory_mask: torch.Tensor | None = None,
        tgt_mask: torch.Tensor | None = None,
        caches: list[LayerCache] | None = None,
    ) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(
                x, memory, memory_mask, tgt_mask, None if caches is None else caches[i]
            )
        return self.norm(x)

    def keep_cross_weights(self, keep: bool = True) -> None:
        """Make every block keep its cross-attention weights from the next pass on."""
        check_bool("keep", keep)
        for layer in self.layers:
            layer.keep_weights = keep

    def cross_weights(self) -> torch.Tensor:
        """The kept cross-attention weights of every block, stacked.

        Shapes:
            -> (N, B, H, Lq, Lk)
        """
        weights = [layer.cross_weights for layer in self.layers]
        if any(w is None for w in weights):
            raise ValueError(
                "no cross-attention weights kept: call keep_cross_weights() before "
                "the forward pass"
            )
        return torch.stack(weights)


class Seq2Seq(nn.Module):
    """An encoder–decoder Transformer over token ids.

    Args:
        cfg: the model's hyperparameters, checked when the config is made.

    Shapes:
        src (B, Lk), tgt_in (B, Lq) -> logits (B, Lq, V_tgt)
    """

    def __init__(self, cfg: Seq2SeqConfig):
        super().__init__()
        if not isinstance(cfg, Seq2SeqConfig):
            raise ValueError(f"cfg must be a Seq2SeqConfig, got {type(cfg).__name__}")
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
        if (
            not isinstance(ids, torch.Tensor)
            or ids.dim() != 2
            or ids.dtype != torch.long
        ):
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

    def source_mask(self, src: torch.Tensor) -> torch.Tensor:
        """True at real source tokens. Shapes: src (B, Lk) -> (B, Lk)."""
        return src != self.cfg.pad_id

    def encode(self, src: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the encoder. Returns ``(memory, src_mask)``: (B, Lk, D) and (B, Lk)."""
        self._check_ids("src", src, self.cfg.src_vocab_size)
        src_mask = self.source_mask(src)
        return self.encoder(self._embed(self.src_embed, src), src_mask), src_mask

    def decode(
        self, tgt_in: torch.Tensor, memory: torch.Tensor, src_mask: torch.Tensor
    ) -> torch.Tensor:
        """Logits for every target position. Shapes: tgt_in (B, Lq) -> (B, Lq, V)."""
        self._check_ids("tgt_in", tgt_in, self.cfg.tgt_vocab_size)
        tgt_mask = tgt_in != self.cfg.pad_id
        x = self._embed(self.tgt_embed, tgt_in)  # (B, Lq, D)
        h = self.decoder(x, memory, src_mask, tgt_mask)  # (B, Lq, D)
        return self.generator(h)  # (B, Lq, V)

    def forward(self, src: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory, src_mask = self.encode(src)
        if src.shape[0] != tgt_in.shape[0]:
            raise ValueError(
                f"src and tgt_in must share the batch size: src {fmt_shape(src)} vs "
                f"tgt_in {fmt_shape(tgt_in)}"
            )
        return self.decode(tgt_in, memory, src_mask)

    def init_cache(self, memory: torch.Tensor) -> list[LayerCache]:
        """Project the memory's keys and values once for every cross-attention."""
        return [
            LayerCache(layer.cross_attn.project_kv(memory))
            for layer in self.decoder.layers
        ]

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
        check_int("position", position)
        self._check_ids("token", token, self.cfg.tgt_vocab_size)
        if token.shape[1] != 1:
            raise ValueError(
                "token must be (B, 1), one token per sentence, got token "
                f"{fmt_shape(token)}"
            )
        if not isinstance(caches, list) or len(caches) != len(self.decoder.layers):
            raise ValueError(
                "caches must be the list from init_cache, one per decoder layer "
                f"({len(self.decoder.layers)}), "
                f"got {type(caches).__name__}"
            )
        h = self.decoder(
            self._embed(self.tgt_embed, token, start=position),
            None,
            src_mask,
            None,
            caches,
        )
        return self.generator(h[:, -1])  # (B, V)
