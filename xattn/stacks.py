"""The encoder and decoder stacks: N blocks and a final layer norm each.

A public entry checks its inputs once (against the first block, which all the
others are like), so that a mask is not checked again at every layer it passes.
"""

from __future__ import annotations

import torch
from torch import nn

from xattn.blocks import (
    DecoderBlock,
    EncoderBlock,
    LayerCache,
    _check_decoder_block_call,
    _check_encoder_block_call,
)
from xattn.checks import check_bool, checked
from xattn.config import Seq2SeqConfig

__all__ = ["Encoder", "Decoder"]


def _check_encoder_call(self, x, mask=None) -> None:
    _check_encoder_block_call(self.layers[0], x, mask)


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

    @checked(_check_encoder_call)
    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


def _check_caches(caches, n_layers: int) -> None:
    if not isinstance(caches, list) or len(caches) != n_layers:
        raise ValueError(
            "caches must be the list from init_cache, one per decoder layer "
            f"({n_layers}), got {type(caches).__name__}"
        )


def _check_decoder_call(
    self, x, memory, memory_mask=None, tgt_mask=None, caches=None
) -> None:
    if caches is not None:
        _check_caches(caches, len(self.layers))
    cache = None if caches is None else caches[0]
    _check_decoder_block_call(self.layers[0], x, memory, memory_mask, tgt_mask, cache)


def _check_keep(self, keep=True) -> None:
    check_bool("keep", keep)


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

    @checked(_check_decoder_call)
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

    @checked(_check_keep)
    def keep_cross_weights(self, keep: bool = True) -> None:
        """Make every block keep its cross-attention weights from the next pass on."""
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
