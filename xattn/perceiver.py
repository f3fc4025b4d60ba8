"""Perceiver: a small latent array cross-attends to a large input (chapter 16).

Jaegle et al. (2021): N learned latent vectors read an input of M elements through
one cross-attention, then think among themselves with self-attention. The input is
read once per block at a cost linear in M; the self-attention costs N^2, whatever M
is. Elements carry no order of their own: position features (Fourier features of
the pixel coordinates) say where each one is, and a learned modality embedding says
what kind of input it is, so that one latent array reads images and sound together.

Index legend: b batch (B), m input element (M), n latent (N), D latent width,
C input channels (``d_input``), P position coordinates, K frequency bands.
Masks are bool, True = a real input element that may be attended to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn

from xattn.blocks import EncoderBlock, FeedForward
from xattn.checks import (
    check_bool,
    check_dropout,
    check_floating,
    check_int,
    check_positive_int,
    fmt_shape,
)
from xattn.counting import attention_flops
from xattn.layers import MultiHeadCrossAttention

__all__ = [
    "fourier_features",
    "grid_positions",
    "image_inputs",
    "stack_modalities",
    "PerceiverConfig",
    "LatentCrossBlock",
    "Perceiver",
    "perceiver_flops",
]


def fourier_features(
    positions: torch.Tensor, n_bands: int, max_freq: float
) -> torch.Tensor:
    """Positions in [-1, 1] and their sines and cosines at ``n_bands`` frequencies.

    Frequencies f_k are spaced evenly from 1 to ``max_freq / 2`` (about the
    Nyquist frequency of a grid of ``max_freq`` points over [-1, 1]); each coordinate x
    gives ``x, sin(pi f_1 x), ..., sin(pi f_K x), cos(pi f_1 x), ..., cos(pi f_K x)``.

    Shapes:
        positions (..., P) -> (..., P * (2 K + 1))
    """
    check_floating("positions", positions)
    check_positive_int("n_bands", n_bands)
    if isinstance(max_freq, bool) or not isinstance(max_freq, (int, float)):
        raise ValueError(f"max_freq must be a number >= 2, got {max_freq!r}")
    if not max_freq >= 2:
        raise ValueError(f"max_freq must be >= 2 (f_K = max_freq / 2), got {max_freq}")
    if positions.dim() < 1:
        raise ValueError(f"positions must be (..., P), got {fmt_shape(positions)}")
    freqs = torch.linspace(
        1.0, max_freq / 2, n_bands, dtype=positions.dtype, device=positions.device
    )  # (K,)
    angles = math.pi * positions[..., None] * freqs  # (..., P, K)
    out = torch.cat([positions[..., None], angles.sin(), angles.cos()], dim=-1)
    return out.flatten(-2)  # (..., P * (2K + 1))


def grid_positions(height: int, width: int) -> torch.Tensor:
    """The (y, x) coordinates of every pixel, in [-1, 1], in row-major order.

    Row-major is the order of ``image.flatten(-2)``, so row i belongs to pixel
    ``(i // width, i % width)``.

    Shapes:
        -> (H * W, 2)
    """
    check_positive_int("height", height)
    check_positive_int("width", width)
    ys = torch.linspace(-1.0, 1.0, height)
    xs = torch.linspace(-1.0, 1.0, width)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)  # (H, W, 2)
    return grid.reshape(height * width, 2)


def image_inputs(
    images: torch.Tensor, n_bands: int | None = 6, max_freq: float | None = None
) -> torch.Tensor:
    """Every pixel as one input element: its channels, then its position features.

    With ``n_bands=None`` the pixels carry their channels only, and the input is a
    set: nothing says where a pixel was. ``max_freq`` defaults to the larger side.

    Shapes:
        images (B, C, H, W) -> (B, H * W, C + 2 (2 K + 1)), or (B, H * W, C)
    """
    check_floating("images", images)
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got images {fmt_shape(images)}")
    b, c, h, w = images.shape
    pixels = images.flatten(2).transpose(1, 2)  # (B, H*W, C)
    if n_bands is None:
        return pixels
    max_freq = max(h, w) if max_freq is None else max_freq
    pos = grid_positions(h, w).to(images.device, images.dtype)  # (H*W, 2)
    feats = fourier_features(pos, n_bands, max_freq)  # (H*W, 2(2K+1))
    return torch.cat([pixels, feats.expand(b, -1, -1)], dim=-1)  # (B, H*W, C + F)


def stack_modalities(
    inputs: Sequence[torch.Tensor], masks: Sequence[torch.Tensor | None] | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Put several modalities into one input array, padded to one width.

    Modality i's channels are zero-padded on the right to the widest modality's C,
    its elements follow those of modality i - 1, and every element is labelled
    with i, for :class:`Perceiver`'s learned modality embedding.

    Returns:
        ``(x, mask, modality)``: the elements (B, M, C), True where real (B, M),
        and the modality of each (B, M) long, with M = M_1 + M_2 + ...

    Shapes:
        inputs [(B, M_i, C_i)], masks [(B, M_i) or None] -> (B, M, C), (B, M), (B, M)
    """
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("inputs must be a non-empty list of (B, M_i, C_i) tensors")
    masks = [None] * len(inputs) if masks is None else list(masks)
    if len(masks) != len(inputs):
        raise ValueError(
            f"masks must be one per input: {len(inputs)} inputs vs {len(masks)} masks"
        )
    for i, x in enumerate(inputs):
        check_floating(f"inputs[{i}]", x)
        if x.dim() != 3 or x.shape[0] != inputs[0].shape[0]:
            raise ValueError(
                f"inputs must all be (B, M_i, C_i) with one B: inputs[0] "
                f"{fmt_shape(inputs[0])} vs inputs[{i}] {fmt_shape(x)}"
            )
        m = masks[i]
        if m is not None and (m.dtype != torch.bool or m.shape != x.shape[:2]):
            raise ValueError(
                f"masks[{i}] must be bool (B, M_i) = {fmt_shape(x.shape[:2])} with "
                f"True = real, got {m.dtype} {fmt_shape(m)}"
            )
    width = max(x.shape[-1] for x in inputs)
    padded = [nn.functional.pad(x, (0, width - x.shape[-1])) for x in inputs]
    full = [
        torch.ones(x.shape[:2], dtype=torch.bool, device=x.device) if m is None else m
        for x, m in zip(inputs, masks)
    ]
    ids = [torch.full(x.shape[:2], i, device=x.device) for i, x in enumerate(inputs)]
    return torch.cat(padded, 1), torch.cat(full, 1), torch.cat(ids, 1)


@dataclass(frozen=True)
class PerceiverConfig:
    """A Perceiver's sizes.

    Args:
        d_input: channels C of an input element.
        n_outputs: classes of the prediction made from the mean latent.
        n_latents: N, the latent array's length: the cost's only link to M.
        d_latent: D, the latents' width.
        n_heads: heads of every attention layer.
        d_ff: hidden width of the feed-forward layers.
        n_self: latent self-attention layers after each cross-attention.
        n_blocks: how many times the latents read the input (cross-attention,
            then ``n_self`` self-attention layers, each time).
        share_weights: every block is the same module, so parameters stay flat
            however deep it goes (the paper shares all but the first).
        n_modalities: 0 for one kind of input; else a learned vector per modality,
            added to each element of it.
        dropout: dropout on attention weights and sublayer outputs.
    """

    d_input: int
    n_outputs: int
    n_latents: int = 16
    d_latent: int = 32
    n_heads: int = 2
    d_ff: int = 64
    n_self: int = 1
    n_blocks: int = 1
    share_weights: bool = True
    n_modalities: int = 0
    dropout: float = 0.0

    def __post_init__(self):
        for name in ("d_input", "n_outputs", "n_latents", "d_latent", "n_heads"):
            check_positive_int(name, getattr(self, name))
        check_positive_int("d_ff", self.d_ff)
        check_int("n_self", self.n_self)
        check_positive_int("n_blocks", self.n_blocks)
        check_bool("share_weights", self.share_weights)
        check_int("n_modalities", self.n_modalities)
        check_dropout(self.dropout)
        if self.d_latent % self.n_heads:
            raise ValueError(
                f"d_latent={self.d_latent} must be divisible by n_heads={self.n_heads}"
            )


class LatentCrossBlock(nn.Module):
    """Latents read the input (pre-norm cross-attention), then latent self-attention.

    Args:
        cfg: the sizes, from :class:`PerceiverConfig` (``d_latent``, ``d_input``,
            ``n_heads``, ``d_ff``, ``n_self``, ``dropout``).

    Shapes:
        latents (B, N, D), inputs (B, M, C), mask (B, M)
        -> latents (B, N, D), weights (B, H, N, M) or None
    """

    def __init__(self, cfg: PerceiverConfig):
        super().__init__()
        d = cfg.d_latent
        self.norm_latents = nn.LayerNorm(d)
        self.norm_inputs = nn.LayerNorm(cfg.d_input)
        self.cross_attn = MultiHeadCrossAttention(
            d, cfg.n_heads, cfg.dropout, d_memory=cfg.d_input
        )
        self.norm_ff = nn.LayerNorm(d)
        self.ff = FeedForward(d, cfg.d_ff, cfg.dropout)
        self.dropout = nn.Dropout(cfg.dropout)
        self.layers = nn.ModuleList(
            EncoderBlock(d, cfg.n_heads, cfg.d_ff, cfg.dropout)
            for _ in range(cfg.n_self)
        )

    def forward(
        self,
        latents: torch.Tensor,
        inputs: torch.Tensor,
        mask: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        memory = self.norm_inputs(inputs)  # (B, M, C)
        read, weights = self.cross_attn(
            self.norm_latents(latents), memory, mask, need_weights=need_weights
        )  # (B, N, D), (B, H, N, M)
        latents = latents + self.dropout(read)
        latents = latents + self.dropout(self.ff(self.norm_ff(latents)))
        for layer in self.layers:
            latents = layer(latents)  # (B, N, D): no mask, every latent is real
        return latents, weights


class Perceiver(nn.Module):
    """A learned latent array reads the input, thinks, and predicts a class.

    Args:
        cfg: the sizes, from :class:`PerceiverConfig`; with ``share_weights`` one
            :class:`LatentCrossBlock` runs ``n_blocks`` times.

    Shapes:
        inputs (B, M, C), mask (B, M) bool, modality (B, M) long
        -> logits (B, n_outputs)
    """

    def __init__(self, cfg: PerceiverConfig):
        super().__init__()
        if not isinstance(cfg, PerceiverConfig):
            raise ValueError(f"cfg must be a PerceiverConfig, got {type(cfg).__name__}")
        self.cfg = cfg
        self.latents = nn.Parameter(0.02 * torch.randn(cfg.n_latents, cfg.d_latent))
        self.modality = (
            nn.Embedding(cfg.n_modalities, cfg.d_input) if cfg.n_modalities else None
        )
        n_distinct = 1 if cfg.share_weights else cfg.n_blocks
        self.blocks = nn.ModuleList(LatentCrossBlock(cfg) for _ in range(n_distinct))
        self.norm_out = nn.LayerNorm(cfg.d_latent)
        self.head = nn.Linear(cfg.d_latent, cfg.n_outputs)

    def encode(
        self,
        inputs: torch.Tensor,
        mask: torch.Tensor | None = None,
        modality: torch.Tensor | None = None,
        need_weights: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """The latent array after every block, and each block's cross-attention.

        Returns:
            latents (B, N, D) and a list of ``n_blocks`` weights (B, H, N, M),
            empty unless ``need_weights``.
        """
        self._check(inputs, mask, modality)
        if self.modality is not None:
            inputs = inputs + self.modality(modality)  # (B, M, C)
        latents = self.latents.expand(inputs.shape[0], -1, -1)  # (B, N, D)
        maps = []
        for i in range(self.cfg.n_blocks):
            block = self.blocks[0 if self.cfg.share_weights else i]
            latents, weights = block(latents, inputs, mask, need_weights)
            if need_weights:
                maps.append(weights)
        return latents, maps

    def forward(
        self,
        inputs: torch.Tensor,
        mask: torch.Tensor | None = None,
        modality: torch.Tensor | None = None,
    ) -> torch.Tensor:
        latents, _ = self.encode(inputs, mask, modality)  # (B, N, D)
        return self.head(self.norm_out(latents.mean(1)))  # (B, n_outputs)

    def _check(self, inputs, mask, modality) -> None:
        check_floating("inputs", inputs)
        c = self.cfg.d_input
        if inputs.dim() != 3 or inputs.shape[-1] != c:
            raise ValueError(
                f"inputs must be (B, M, C) with C = d_input = {c}, got inputs "
                f"{fmt_shape(inputs)}"
            )
        if mask is not None and (
            mask.dtype != torch.bool or mask.shape != inputs.shape[:2]
        ):
            raise ValueError(
                f"mask must be bool (B, M) = {fmt_shape(inputs.shape[:2])}, True = "
                f"real element, got {mask.dtype} {fmt_shape(mask)}"
            )
        if (modality is None) != (self.modality is None):
            raise ValueError(
                f"modality (B, M) must be given exactly when n_modalities > 0; "
                f"n_modalities={self.cfg.n_modalities}, modality "
                f"{'None' if modality is None else fmt_shape(modality)}"
            )
        if modality is not None and (
            modality.dtype != torch.long
            or modality.shape != inputs.shape[:2]
            or modality.min() < 0
            or modality.max() >= self.cfg.n_modalities
        ):
            raise ValueError(
                f"modality must be long (B, M) = {fmt_shape(inputs.shape[:2])} with "
                f"ids in [0, {self.cfg.n_modalities}), got {modality.dtype} "
                f"{fmt_shape(modality)}"
            )


def perceiver_flops(cfg: PerceiverConfig, m: int, batch: int = 1) -> dict[str, int]:
    """Matrix-product FLOPs of ``Perceiver.encode`` on ``m`` input elements.

    Cross-attention grows with M N (and M C D for the keys and values); the
    latent layers cost the same for any M. A multiply-add counts 2.

    Returns:
        ``{"cross": ..., "latent": ..., "total": ...}``, for all ``n_blocks``.
    """
    if not isinstance(cfg, PerceiverConfig):
        raise ValueError(f"cfg must be a PerceiverConfig, got {type(cfg).__name__}")
    check_positive_int("m", m)
    check_positive_int("batch", batch)
    n, d = cfg.n_latents, cfg.d_latent
    ff = 2 * 2 * batch * n * d * cfg.d_ff  # two linear maps per latent
    cross = attention_flops(batch, n, m, d, cfg.d_input)["total"] + ff
    latent = cfg.n_self * (attention_flops(batch, n, n, d)["total"] + ff)
    cross, latent = cfg.n_blocks * cross, cfg.n_blocks * latent
    return {"cross": cross, "latent": latent, "total": cross + latent}
