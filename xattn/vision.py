"""Images for a text decoder: patches, 2-D positions, a patch encoder, a captioner.

An image (B, 3, H, W) is cut into square patches of P x P pixels, read row by row
(N = (H / P) (W / P) of them, each 3 P^2 numbers); a linear map projects every
patch to width D, and a 2-D position table says where it sat: half of the features
encode its column, half its row. The chapter-7 decoder then cross-attends to these
patches as it would to the words of a source sentence, and writes a caption.

:func:`doubly_stochastic_penalty` is the regularizer of Show, Attend and Tell
(Xu et al. 2015): it asks every patch to receive, summed over the caption, about one
unit of attention.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from xattn.blocks import EncoderBlock, sinusoidal_positions
from xattn.checks import check_floating, check_number, check_positive_int, fmt_shape
from xattn.decode import greedy_tokens
from xattn.model import Decoder, Seq2SeqConfig

__all__ = [
    "patchify",
    "positions_2d",
    "PatchEncoder",
    "Captioner",
    "doubly_stochastic_penalty",
]


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut images into non-overlapping P x P patches, row by row, each flattened.

    A patch's numbers are ordered channel, then row, then column within it.

    Shapes:
        images (B, C, H, W) -> patches (B, N, C * P * P), N = (H / P) * (W / P)
    """
    check_floating("images", images)
    check_positive_int("patch", patch)
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got images {fmt_shape(images)}")
    b, c, h, w = images.shape
    if h % patch or w % patch:
        raise ValueError(
            f"images {fmt_shape(images)}: H={h} and W={w} must be divisible by "
            f"patch={patch}"
        )
    rows, cols = h // patch, w // patch
    x = images.reshape(b, c, rows, patch, cols, patch)  # (B, C, R, P, Cl, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, R, Cl, C, P, P)
    return x.reshape(b, rows * cols, c * patch * patch)  # (B, N, C P^2)


def positions_2d(rows: int, cols: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positions for a grid: the column in half the features, the row in
    the other half, each the 1-D table of chapter 7.

    Shapes:
        -> table (rows * cols, D), in the row-major order of :func:`patchify`
    """
    check_positive_int("rows", rows)
    check_positive_int("cols", cols)
    check_positive_int("d_model", d_model)
    if d_model % 4:
        raise ValueError(
            f"d_model must be divisible by 4 (sin and cos pairs for x and for y), "
            f"got d_model={d_model}"
        )
    half = d_model // 2
    x = sinusoidal_positions(cols, half)  # (cols, D/2)
    y = sinusoidal_positions(rows, half)  # (rows, D/2)
    grid = torch.cat(
        [
            x[None, :, :].expand(rows, cols, half),
            y[:, None, :].expand(rows, cols, half),
        ],
        dim=-1,
    )  # (rows, cols, D)
    return grid.reshape(rows * cols, d_model)  # (N, D)


class PatchEncoder(nn.Module):
    """Patches projected to width D, 2-D positions added, then encoder blocks.

    Args:
        image_size: images are ``image_size`` x ``image_size`` pixels, 3 channels.
        patch: the side P of a square patch; it must divide ``image_size``.
        d_model: width D of the patch features (divisible by 4).
        n_heads: heads of the encoder blocks' self-attention.
        n_layers: how many encoder blocks (0: the patches see only themselves).
        d_ff: hidden width of the blocks' feed-forward layers; default 4 D.
        dropout: dropout in the blocks.

    Shapes:
        images (B, 3, H, W) -> memory (B, N, D), N = (H / P) ** 2
    """

    def __init__(
        self,
        image_size: int,
        patch: int,
        d_model: int,
        n_heads: int = 4,
        n_layers: int = 1,
        d_ff: int | None = None,
        dropout: float = 0.0,
    ):
        super().__init__()
        check_positive_int("image_size", image_size)
        check_positive_int("patch", patch)
        if image_size % patch:
            raise ValueError(
                f"image_size={image_size} must be divisible by patch={patch}"
            )
        if not isinstance(n_layers, int) or n_layers < 0:
            raise ValueError(f"n_layers must be an int >= 0, got {n_layers!r}")
        self.image_size, self.patch, self.d_model = image_size, patch, d_model
        side = image_size // patch
        self.n_patches = side * side
        self.proj = nn.Linear(3 * patch * patch, d_model)
        self.register_buffer(
            "positions", positions_2d(side, side, d_model), persistent=False
        )
        d_ff = 4 * d_model if d_ff is None else d_ff
        self.layers = nn.ModuleList(
            EncoderBlock(d_model, n_heads, d_ff, dropout) for _ in range(n_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    @classmethod
    def from_config(
        cls,
        cfg: Seq2SeqConfig,
        image_size: int = 48,
        patch: int = 8,
        n_layers: int | None = None,
    ) -> PatchEncoder:
        """The encoder a decoder of ``cfg`` reads: its width, heads, feed-forward
        width and dropout, and ``cfg.n_layers`` blocks unless ``n_layers`` is given."""
        if not isinstance(cfg, Seq2SeqConfig):
            raise ValueError(f"cfg must be a Seq2SeqConfig, got {type(cfg).__name__}")
        return cls(
            image_size,
            patch,
            cfg.d_model,
            cfg.n_heads,
            cfg.n_layers if n_layers is None else n_layers,
            cfg.ff_width,
            cfg.dropout,
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        want = (3, self.image_size, self.image_size)
        if images.dim() != 4 or tuple(images.shape[1:]) != want:
            raise ValueError(
                f"images must be (B, {', '.join(map(str, want))}), got images "
                f"{fmt_shape(images)}"
            )
        x = self.proj(patchify(images, self.patch))  # (B, N, D)
        x = x + self.positions.to(x.dtype)  # (B, N, D)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)  # (B, N, D)


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

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The patch features. Shapes: images (B, 3, H, W) -> memory (B, N, D)."""
        return self.encoder(images)

    def decode(self, tgt_in: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        """Logits for every caption position. Shapes: tgt_in (B, Lq) -> (B, Lq, V)."""
        if tgt_in.dim() != 2 or tgt_in.dtype != torch.long:
            raise ValueError(
                f"tgt_in must be (B, Lq) torch.long word ids, got tgt_in "
                f"{fmt_shape(tgt_in)} {tgt_in.dtype}"
            )
        if tgt_in.shape[1] > self.cfg.max_len:
            raise ValueError(
                f"tgt_in {fmt_shape(tgt_in)} is longer than max_len={self.cfg.max_len}"
            )
        x = self.embed(tgt_in) * math.sqrt(self.cfg.d_model)  # (B, Lq, D)
        x = x + self.positions[: tgt_in.shape[1]].to(x.dtype)
        h = self.decoder(x, memory, None, tgt_in != self.cfg.pad_id)  # (B, Lq, D)
        return self.generator(h)  # (B, Lq, V)

    def forward(self, images: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        memory = self.encode(images)  # (B, N, D)
        if memory.shape[0] != tgt_in.shape[0]:
            raise ValueError(
                f"images and tgt_in must share the batch size: images "
                f"{fmt_shape(images)} vs tgt_in {fmt_shape(tgt_in)}"
            )
        return self.decode(tgt_in, memory)

    @torch.no_grad()
    def generate(
        self, images: torch.Tensor, bos_id: int, eos_id: int, max_len: int = 12
    ) -> torch.Tensor:
        """Greedy captions (:func:`xattn.greedy_tokens`): the likeliest word at each
        step, never ``<pad>``, until ``<eos>``.

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
    check_floating("weights", weights)
    if weights.dim() != 3:
        raise ValueError(
            f"weights must be (B, Lq, N), got weights {fmt_shape(weights)}"
        )
    check_number("tau", tau, 0.0)
    if tgt_mask is not None:
        if tgt_mask.dtype != torch.bool or tuple(tgt_mask.shape) != tuple(
            weights.shape[:2]
        ):
            raise ValueError(
                f"tgt_mask must be bool (B, Lq) = {fmt_shape(weights.shape[:2])} for "
                f"weights {fmt_shape(weights)}, got tgt_mask {fmt_shape(tgt_mask)} "
                f"{tgt_mask.dtype}"
            )
        weights = weights * tgt_mask[..., None]  # (B, Lq, N), padding rows zeroed
    column = weights.sum(1)  # (B, N): each patch's attention over the caption
    return ((tau - column) ** 2).sum(-1).mean()
