"""The configuration of the encoder–decoder: sizes, checked when they are made.

A frozen dataclass, validated in ``__post_init__``: ``dataclasses.replace(cfg,
n_heads=8)`` makes a variant (checked again) and ``cfg.to_dict()`` is what a
checkpoint saves.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from xattn.checks import check_bool, check_dropout, check_int, check_positive_int

__all__ = ["Seq2SeqConfig"]


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
