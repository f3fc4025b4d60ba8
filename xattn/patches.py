"""An image as a sequence: patches, their 2-D positions, and a patch encoder.

An image (B, 3, H, W) is cut into square patches of P x P pixels, read row by row
(N = (H / P) (W / P) of them, each 3 P^2 numbers), as a Vision Transformer reads
it; a linear map projects every patch to width D, and a 2-D position table says
where it sat: half of the features encode its column, half its row. A decoder then
cross-attends to these patches as it would to the words of a source sentence
(:class:`xattn.vision.Captioner`, :class:`xattn.detection.Detector`).
"""

from __future__ import annotations

import torch
from torch import nn

from xattn.blocks import EncoderBlock, sinusoidal_positions
from xattn.checks import (
    check_dropout,
    check_floating,
    check_int,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.model import Seq2SeqConfig

__all__ = ["patchify", "positions_2d", "PatchEncoder"]


def _check_patchify(images, patch) -> None:
    check_floating("images", images)
    if images.dim() != 4:
        raise ValueError(f"images must be (B, C, H, W), got images {fmt_shape(images)}")
    check_positive_int("patch", patch)
    h, w = images.shape[-2:]
    if h % patch or w % patch:
        raise ValueError(
            f"images {fmt_shape(images)}: H={h} and W={w} must be divisible by "
            f"patch={patch}"
        )


@checked(_check_patchify)
def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Cut images into non-overlapping P x P patches, row by row, each flattened.

    A patch's numbers are ordered channel, then row, then column within it.

    Shapes:
        images (B, C, H, W) -> patches (B, N, C * P * P), N = (H / P) * (W / P)
    """
    b, c, h, w = images.shape
    rows, cols = h // patch, w // patch
    x = images.reshape(b, c, rows, patch, cols, patch)  # (B, C, R, P, Cl, P)
    x = x.permute(0, 2, 4, 1, 3, 5)  # (B, R, Cl, C, P, P)
    return x.reshape(b, rows * cols, c * patch * patch)  # (B, N, C P^2)


def _check_positions_2d(rows, cols, d_model) -> None:
    check_positive_int("rows", rows)
    check_positive_int("cols", cols)
    check_positive_int("d_model", d_model)
    if d_model % 4:
        raise ValueError(
            f"d_model must be divisible by 4 (sin and cos pairs for x and for y), "
            f"got d_model={d_model}"
        )


@checked(_check_positions_2d)
def positions_2d(rows: int, cols: int, d_model: int) -> torch.Tensor:
    """Sinusoidal positions for a grid: the column in half the features, the row in
    the other half, each the 1-D table of chapter 7.

    Shapes:
        -> table (rows * cols, D), in the row-major order of :func:`patchify`
    """
    half = d_model // 2
    x = sinusoidal_positions(cols, half)  # (cols, D/2): where along the row
    y = sinusoidal_positions(rows, half)  # (rows, D/2): which row
    grid = torch.cat(
        [x.expand(rows, cols, half), y[:, None].expand(rows, cols, half)], dim=-1
    )  # (rows, cols, D)
    return grid.reshape(rows * cols, d_model)  # (N, D)


def _check_image_batch(name, images, size, weight) -> None:
    """Images the model can read: (B, 3, size, size), its dtype, on its device."""
    check_floating(name, images)
    if images.dim() != 4 or tuple(images.shape[1:]) != (3, size, size):
        raise ValueError(
            f"{name} must be (B, 3, {size}, {size}), got {name} {fmt_shape(images)}"
        )
    if images.dtype != weight.dtype or images.device != weight.device:
        raise ValueError(
            f"{name} must have the model's dtype and device ({weight.dtype} on "
            f"{weight.device}), got {images.dtype} on {images.device}; use "
            f"{name}.to(...) or model.to(...)"
        )


def _check_patch_encoder_call(self, images) -> None:
    _check_image_batch("images", images, self.image_size, self.proj.weight)


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
        _check_positions_2d(1, 1, d_model)
        check_positive_int("n_heads", n_heads)
        check_int("n_layers", n_layers)
        if d_ff is not None:
            check_positive_int("d_ff", d_ff)
        check_dropout(dropout)
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

    @checked(_check_patch_encoder_call)
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.proj(patchify(images, self.patch))  # (B, N, D)
        x = x + self.positions.to(x.dtype)  # (B, N, D)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)  # (B, N, D)
