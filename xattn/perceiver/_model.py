"""The Perceiver: its sizes, its block, the model, and what it costs."""

from __future__ import annotations

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
    checked,
    fmt_shape,
)
from xattn.counting import attention_flops
from xattn.layers import MultiHeadCrossAttention


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


def _check_cfg(self, cfg) -> None:
    if not isinstance(cfg, PerceiverConfig):
        raise ValueError(f"cfg must be a PerceiverConfig, got {type(cfg).__name__}")


def _check_inputs(module: nn.Module, c: int, inputs, mask) -> None:
    """Inputs (B, M, C) of the module's dtype and device, and a bool mask (B, M)."""
    check_floating("inputs", inputs)
    if inputs.dim() != 3 or inputs.shape[-1] != c:
        raise ValueError(
            f"inputs must be (B, M, C) with C = d_input = {c}, got inputs "
            f"{fmt_shape(inputs)}"
        )
    param = next(module.parameters())
    if inputs.dtype != param.dtype or inputs.device != param.device:
        raise ValueError(
            f"inputs must have the model's dtype and device: inputs {inputs.dtype} on "
            f"{inputs.device} vs the model's {param.dtype} on {param.device}; move "
            "one of them (e.g. model.double() or inputs.float())"
        )
    if mask is not None and (
        not isinstance(mask, torch.Tensor)
        or mask.dtype != torch.bool
        or mask.shape != inputs.shape[:2]
        or mask.device != inputs.device
    ):
        got = (
            f"{mask.dtype} {fmt_shape(mask)} on {mask.device}"
            if isinstance(mask, torch.Tensor)
            else type(mask).__name__
        )
        raise ValueError(
            f"mask must be bool (B, M) = {fmt_shape(inputs.shape[:2])}, True = "
            f"real element, on the inputs' device, got {got}"
        )


def _check_block_call(self, latents, inputs, mask=None, need_weights=False) -> None:
    d, c = self.cross_attn.d_model, self.cross_attn.d_memory
    check_floating("latents", latents)
    if latents.dim() != 3 or latents.shape[-1] != d:
        raise ValueError(
            f"latents must be (B, N, D) with D = d_latent = {d}, got latents "
            f"{fmt_shape(latents)}"
        )
    _check_inputs(self, c, inputs, mask)
    if latents.dtype != inputs.dtype or latents.device != inputs.device:
        raise ValueError(
            f"latents and inputs must share a dtype and a device: latents "
            f"{latents.dtype} on {latents.device} vs inputs {inputs.dtype} on "
            f"{inputs.device}"
        )
    if latents.shape[0] != inputs.shape[0]:
        raise ValueError(
            f"latents and inputs must share the batch size: latents "
            f"{fmt_shape(latents)} vs inputs {fmt_shape(inputs)}"
        )
    check_bool("need_weights", need_weights)


class LatentCrossBlock(nn.Module):
    """Latents read the input (pre-norm cross-attention), then latent self-attention.

    Args:
        cfg: the sizes, from :class:`PerceiverConfig` (``d_latent``, ``d_input``,
            ``n_heads``, ``d_ff``, ``n_self``, ``dropout``).

    Shapes:
        latents (B, N, D), inputs (B, M, C), mask (B, M)
        -> latents (B, N, D), weights (B, H, N, M) or None
    """

    @checked(_check_cfg)
    def __init__(self, cfg: PerceiverConfig):
        super().__init__()
        d, h, p = cfg.d_latent, cfg.n_heads, cfg.dropout
        self.norm_latents = nn.LayerNorm(d)
        self.norm_inputs = nn.LayerNorm(cfg.d_input)
        self.cross_attn = MultiHeadCrossAttention(d, h, p, d_memory=cfg.d_input)
        self.norm_ff = nn.LayerNorm(d)
        self.ff = FeedForward(d, cfg.d_ff, p)
        self.dropout = nn.Dropout(p)
        self.layers = nn.ModuleList(
            EncoderBlock(d, h, cfg.d_ff, p) for _ in range(cfg.n_self)
        )

    @checked(_check_block_call)
    def forward(self, latents, inputs, mask=None, need_weights=False):
        """Read the input once, then run the latent self-attention layers.

        Returns:
            ``(latents, weights)``: (B, N, D), and the cross-attention (B, H, N, M)
            if ``need_weights``, else None.
        """
        memory = self.norm_inputs(inputs)  # (B, M, C)
        read, weights = self.cross_attn(
            self.norm_latents(latents), memory, mask, need_weights=need_weights
        )  # (B, N, D), (B, H, N, M)
        latents = latents + self.dropout(read)
        latents = latents + self.dropout(self.ff(self.norm_ff(latents)))
        for layer in self.layers:
            latents = layer(latents)  # (B, N, D): no mask, every latent is real
        return latents, weights


def _check_forward(self, inputs, mask=None, modality=None) -> None:
    cfg = self.cfg
    _check_inputs(self, cfg.d_input, inputs, mask)
    if (modality is None) != (cfg.n_modalities == 0):
        raise ValueError(
            f"modality (B, M) must be given exactly when n_modalities > 0; "
            f"n_modalities={cfg.n_modalities}, modality "
            f"{'None' if modality is None else fmt_shape(modality)}"
        )
    if modality is None:
        return
    ok = (
        isinstance(modality, torch.Tensor)
        and modality.dtype == torch.long
        and modality.shape == inputs.shape[:2]
        and modality.device == inputs.device
    )
    if ok and modality.numel():
        ok = 0 <= modality.min() and modality.max() < cfg.n_modalities
    if not ok:
        got = (
            f"{modality.dtype} {fmt_shape(modality)} on {modality.device}"
            if isinstance(modality, torch.Tensor)
            else type(modality).__name__
        )
        raise ValueError(
            f"modality must be long (B, M) = {fmt_shape(inputs.shape[:2])} with "
            f"ids in [0, {cfg.n_modalities}), on the inputs' device, got {got}"
        )


def _check_encode(self, inputs, mask=None, modality=None, need_weights=False) -> None:
    _check_forward(self, inputs, mask, modality)
    check_bool("need_weights", need_weights)


class Perceiver(nn.Module):
    """A learned latent array reads the input, thinks, and predicts a class.

    Args:
        cfg: the sizes, from :class:`PerceiverConfig`; with ``share_weights`` one
            :class:`LatentCrossBlock` runs ``n_blocks`` times.

    Shapes:
        inputs (B, M, C), mask (B, M) bool, modality (B, M) long
        -> logits (B, n_outputs)
    """

    @checked(_check_cfg)
    def __init__(self, cfg: PerceiverConfig):
        super().__init__()
        self.cfg = cfg
        self.latents = nn.Parameter(0.02 * torch.randn(cfg.n_latents, cfg.d_latent))
        self.modality = (
            nn.Embedding(cfg.n_modalities, cfg.d_input) if cfg.n_modalities else None
        )
        n_distinct = 1 if cfg.share_weights else cfg.n_blocks
        self.blocks = nn.ModuleList(LatentCrossBlock(cfg) for _ in range(n_distinct))
        self.norm_out = nn.LayerNorm(cfg.d_latent)
        self.head = nn.Linear(cfg.d_latent, cfg.n_outputs)

    @checked(_check_encode)
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

    @checked(_check_forward)
    def forward(
        self,
        inputs: torch.Tensor,
        mask: torch.Tensor | None = None,
        modality: torch.Tensor | None = None,
    ) -> torch.Tensor:
        latents, _ = self.encode(inputs, mask, modality)  # (B, N, D)
        return self.head(self.norm_out(latents.mean(1)))  # (B, n_outputs)


def _check_perceiver_flops(cfg, m, batch=1) -> None:
    _check_cfg(None, cfg)
    check_positive_int("m", m)
    check_positive_int("batch", batch)


@checked(_check_perceiver_flops)
def perceiver_flops(cfg: PerceiverConfig, m: int, batch: int = 1) -> dict[str, int]:
    """Matrix-product FLOPs of ``Perceiver.encode`` on ``m`` input elements.

    Cross-attention grows with M N (and M C D for the keys and values); the
    latent layers cost the same for any M. A multiply-add counts 2.

    Returns:
        ``{"cross": ..., "latent": ..., "total": ...}``, for all ``n_blocks``.
    """
    n, d = cfg.n_latents, cfg.d_latent
    ff = 2 * 2 * batch * n * d * cfg.d_ff  # two linear maps per latent
    cross = attention_flops(batch, n, m, d, cfg.d_input)["total"] + ff
    latent = cfg.n_self * (attention_flops(batch, n, n, d)["total"] + ff)
    cross, latent = cfg.n_blocks * cross, cfg.n_blocks * latent
    return {"cross": cross, "latent": latent, "total": cross + latent}
