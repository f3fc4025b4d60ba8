"""A captioner: the chapter-7 decoder cross-attending to the patches of an image.

:class:`Captioner` is a :class:`xattn.patches.PatchEncoder` under the decoder of
chapter 7: the patch features are its memory exactly where the encoded source
sentence was, and it writes a caption word by word.

:func:`doubly_stochastic_penalty` is the regularizer of Show, Attend and Tell
(Xu et al. 2015): it asks every patch to receive, summed over the caption, about one
unit of attention.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xattn.blocks import sinusoidal_positions
from xattn.checks import (
    check_floating,
    check_int,
    check_number,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.decode import greedy_tokens
from xattn.model import Decoder, Seq2SeqConfig
from xattn.patches import (  # noqa: F401  (xattn.vision.patchify, as before)
    PatchEncoder,
    _check_image_batch,
    patchify,
    positions_2d,
)

__all__ = ["Captioner", "doubly_stochastic_penalty"]


def _check_words(self, tgt_in) -> None:
    if (
        not isinstance(tgt_in, torch.Tensor)
        or tgt_in.dim() != 2
        or tgt_in.dtype != torch.long
    ):
        got = (
            f"tgt_in {fmt_shape(tgt_in)} {tgt_in.dtype}"
            if isinstance(tgt_in, torch.Tensor)
            else type(tgt_in).__name__
        )
        raise ValueError(f"tgt_in must be (B, Lq) torch.long word ids, got {got}")
    if tgt_in.shape[1] > self.cfg.max_len:
        raise ValueError(
            f"tgt_in {fmt_shape(tgt_in)} is longer than max_len={self.cfg.max_len}"
        )
    if tgt_in.shape[1] == 0:
        raise ValueError(f"tgt_in {fmt_shape(tgt_in)} has no positions (Lq = 0)")
    v = self.cfg.tgt_vocab_size
    if tgt_in.numel() and not bool(((tgt_in >= 0) & (tgt_in < v)).all()):
        raise ValueError(
            f"tgt_in must hold word ids in [0, {v}) for tgt_vocab_size={v}, got ids "
            f"from {tgt_in.min().item()} to {tgt_in.max().item()}"
        )


def _check_encode(self, images) -> None:
    _check_image_batch("images", images, self.encoder.image_size, self.embed.weight)


def _check_decode(self, tgt_in, memory) -> None:
    _check_words(self, tgt_in)
    check_floating("memory", memory)
    d = self.cfg.d_model
    if memory.dim() != 3 or memory.shape[-1] != d or memory.shape[0] != len(tgt_in):
        raise ValueError(
            f"memory must be (B, N, {d}) for d_model={d}, with the batch of tgt_in "
            f"{fmt_shape(tgt_in)}, got memory {fmt_shape(memory)}"
        )
    if memory.dtype != self.embed.weight.dtype:
        raise ValueError(
            f"memory must have the model's dtype {self.embed.weight.dtype}, got "
            f"{memory.dtype}"
        )


def _check_captioner_call(self, images, tgt_in) -> None:
    _check_encode(self, images)
    _check_words(self, tgt_in)
    if len(images) != len(tgt_in):
        raise ValueError(
            f"images and tgt_in must share the batch size: images "
            f"{fmt_shape(images)} vs tgt_in {fmt_shape(tgt_in)}"
        )


def _check_generate(self, images, bos_id, eos_id, max_len=12) -> None:
    _check_encode(self, images)
    v, pad = self.cfg.tgt_vocab_size, self.cfg.pad_id
    for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
        if name == "eos_id" and value is None:
            continue
        check_int(name, value)
        if value >= v or value == pad:
            raise ValueError(
                f"{name} must be a word id in [0, {v}) other than pad_id={pad}, got "
                f"{name}={value}"
            )
    check_positive_int("max_len", max_len)
    if max_len > self.cfg.max_len:
        raise ValueError(
            f"max_len must be at most the model's max_len={self.cfg.max_len} (the "
            f"positions it has), got max_len={max_len}"
        )


class Captioner(nn.Module):
    """A patch encoder and the chapter-7 decoder: images in, caption logits out.

    Args:
        cfg: the decoder's sizes (``tgt_vocab_size``, ``d_model``, ``n_heads``,
            ``n_decoder_layers``, ...); ``src_vocab_size`` is unused (images have
            no vocabulary).
        image_size: side of the square images, in pixels.
        patch: side of a patch, in pixels.
        encoder_layers: self-attention blocks over the patches; default
            ``cfg.n_layers``. 0 leaves each patch to itself.

    Shapes:
        images (B, 3, H, W), tgt_in (B, Lq) -> logits (B, Lq, V)
    """

    def __init__(
        self,
        cfg: Seq2SeqConfig,
        image_size: int = 48,
        patch: int = 8,
        encoder_layers: int | None = None,
    ):
        super().__init__()
        if not isinstance(cfg, Seq2SeqConfig):
            raise ValueError(f"cfg must be a Seq2SeqConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.encoder = PatchEncoder.from_config(cfg, image_size, patch, encoder_layers)
        self.embed = nn.Embedding(
            cfg.tgt_vocab_size, cfg.d_model, padding_idx=cfg.pad_id
        )
        nn.init.normal_(self.embed.weight, std=cfg.d_model**-0.5)
        self.register_buffer(
            "positions",
            sinusoidal_positions(cfg.max_len, cfg.d_model),
            persistent=False,
        )
        self.decoder = Decoder(cfg)
        self.generator = nn.Linear(cfg.d_model, cfg.tgt_vocab_size, bias=False)
        if cfg.tie_output:
            self.generator.weight = self.embed.weight

    @checked(_check_encode)
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The patch features. Shapes: images (B, 3, H, W) -> memory (B, N, D)."""
        return self.encoder(images)

    @checked(_check_decode)
    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Logits for every caption position. Shapes: tgt_in (B, Lq) -> (B, Lq, V)."""
        x = self.embed(tgt_in) * math.sqrt(self.cfg.d_model)  # (B, Lq, D)
        x = x + self.positions[: tgt_in.shape[1]].to(x.dtype)
        h = self.decoder(x, memory, None, tgt_in != self.cfg.pad_id)  # (B, Lq, D)
        return self.generator(h)  # (B, Lq, V)

    @checked(_check_captioner_call)
    def forward(self, images: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        return self.decode(tgt_in, self.encode(images))  # (B, Lq, V)

    @checked(_check_generate)
    @torch.no_grad()
    def generate(
        self,
        images: torch.Tensor,
        bos_id: int,
        eos_id: int | None,
        max_len: int = 12,
    ) -> torch.Tensor:
        """Greedy captions (:func:`xattn.greedy_tokens`): the likeliest word at each
        step, never ``<pad>``, until ``<eos>`` (``eos_id=None``: ``max_len`` words).

        Returns the generated ids after ``<bos>``, ``<pad>`` after each ``<eos>``.

        Shapes:
            images (B, 3, H, W) -> ids (B, <= max_len)
        """
        memory = self.encode(images)  # (B, N, D)
        ids, _ = greedy_tokens(
            lambda tokens: self.decode(tokens, memory)[:, -1],
            memory.shape[0],
            max_len,
            bos_id=bos_id,
            eos_id=eos_id,
            pad_id=self.cfg.pad_id,
            device=memory.device,
        )
        return ids


def _check_doubly_stochastic_penalty(weights, tgt_mask=None, tau=1.0) -> None:
    check_floating("weights", weights)
    if weights.dim() != 3:
        raise ValueError(
            f"weights must be (B, Lq, N), got weights {fmt_shape(weights)}"
        )
    if tgt_mask is not None and (
        not isinstance(tgt_mask, torch.Tensor)
        or tgt_mask.dtype != torch.bool
        or tuple(tgt_mask.shape) != tuple(weights.shape[:2])
        or tgt_mask.device != weights.device
    ):
        got = (
            f"{fmt_shape(tgt_mask)} {tgt_mask.dtype} on {tgt_mask.device}"
            if isinstance(tgt_mask, torch.Tensor)
            else type(tgt_mask).__name__
        )
        raise ValueError(
            f"tgt_mask must be bool (B, Lq) = {fmt_shape(weights.shape[:2])} on "
            f"{weights.device} for weights {fmt_shape(weights)}, got tgt_mask {got}"
        )
    check_number("tau", tau, 0.0)


@checked(_check_doubly_stochastic_penalty)
def doubly_stochastic_penalty(
    weights: torch.Tensor, tgt_mask: torch.Tensor | None = None, tau: float = 1.0
) -> torch.Tensor:
    """Show, Attend and Tell's penalty: ``sum_n (tau - sum_t weights[t, n]) ** 2``.

    Each row of ``weights`` sums to 1 over the patches (a softmax); the penalty asks
    each *column*, a patch's attention summed over the caption, to come near ``tau``
    as well, so that no patch is ignored over a whole caption. Rows where
    ``tgt_mask`` is False (padding) are left out. Averaged over the batch.

    Shapes:
        weights (B, Lq, N), tgt_mask (B, Lq) -> a scalar tensor
    """
    if tgt_mask is not None:
        weights = weights * tgt_mask[..., None]  # (B, Lq, N), padding rows zeroed
    column = weights.sum(1)  # (B, N): each patch's attention over the caption
    return ((tau - column) ** 2).sum(-1).mean()
