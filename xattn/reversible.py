"""Reversible layers: a stack whose backward pass rebuilds its inputs from its outputs.

Chapter 12 builds this. A reversible block (RevNet, Gomez et al. 2017; the
Reformer, Kitaev et al. 2020) carries the stream as two halves and updates each
from the other,

    y1 = x1 + F(x2),        y2 = x2 + G(y1),

so that the inputs follow from the outputs exactly: x2 = y2 - G(y1), then
x1 = y1 - F(x2). The backward pass therefore needs no stored activations: it
walks the stack from the top, rebuilding each block's inputs and recomputing F
and G with gradients on. What autograd keeps is the last block's outputs and the
memory, whatever the depth.

In the encoder block F is self-attention and G the feed-forward layer; in the
decoder block F is causal self-attention followed by cross-attention into the
encoder's memory, and G the feed-forward layer, each after a layer norm. The
blocks have no dropout: a recomputed F must give exactly what the forward pass
gave, and a fresh dropout mask would not (``torch.utils.checkpoint`` saves and
restores the random state for that instead).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from xattn.blocks import FeedForward
from xattn.checks import check_stream, fmt_shape
from xattn.layers import MultiHeadCrossAttention
from xattn.masks import causal_mask

__all__ = [
    "ReversibleEncoderBlock",
    "ReversibleDecoderBlock",
    "ReversibleFunction",
    "ReversibleStack",
]

MODES = ("reversible", "autograd", "checkpoint")


class ReversibleEncoderBlock(nn.Module):
    """One reversible encoder layer: F = self-attention, G = feed-forward.

    Args:
        d_model: width D of each half of the stream.
        n_heads: attention heads H.
        d_ff: hidden width of the feed-forward layer.
        fast: attention through ``F.scaled_dot_product_attention``.

    Shapes:
        x1, x2 (B, L, D), mask (B, L) -> y1, y2 (B, L, D)
    """

    def __init__(self, d_model: int, n_heads: int, d_ff: int, fast: bool = False):
        super().__init__()
        self.norm_self = nn.LayerNorm(d_model)
        self.self_attn = MultiHeadCrossAttention(d_model, n_heads, fast=fast)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, d_ff)

    def f(self, h, memory=None, memory_mask=None, mask=None):
        """F(x2): self-attention over the stream, padding hidden by ``mask``."""
        a = self.norm_self(h)
        return self.self_attn(a, a, mask)[0]  # (B, L, D)

    def g(self, h):
        """G(y1): the feed-forward layer."""
        return self.ff(self.norm_ff(h))  # (B, L, D)

    def forward(self, x1, x2, memory=None, memory_mask=None, mask=None):
        y1 = x1 + self.f(x2, memory, memory_mask, mask)
        y2 = x2 + self.g(y1)
        return y1, y2

    def inverse(self, y1, y2, memory=None, memory_mask=None, mask=None):
        """The inputs from the outputs: x2 = y2 - G(y1), then x1 = y1 - F(x2)."""
        x2 = y2 - self.g(y1)
        x1 = y1 - self.f(x2, memory, memory_mask, mask)
        return x1, x2


class ReversibleDecoderBlock(ReversibleEncoderBlock):
    """One reversible decoder layer: F = causal self- then cross-attention, G = FF.

    F(h) = s + CrossAttn(norm(h + s), memory) with s = SelfAttn(norm(h)), causal:
    both attention layers read the same half, so that F depends on x2 (and the
    memory) only, as the coupling needs.

    Args:
        d_model: width D of each half of the stream.
        n_heads: attention heads H, in both attention layers.
        d_ff: hidden width of the feed-forward layer.
        fast: attention through ``F.scaled_dot_product_attention``.
        d_memory: width of the memory, when it differs from D.

    Shapes:
        x1, x2 (B, Lq, D), memory (B, Lk, d_memory), memory_mask (B, Lk),
        mask (B, Lq) -> y1, y2 (B, Lq, D)
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        d_ff: int,
        fast: bool = False,
        d_memory: int | None = None,
    ):
        super().__init__(d_model, n_heads, d_ff, fast)
        self.norm_cross = nn.LayerNorm(d_model)
        self.cross_attn = MultiHeadCrossAttention(
            d_model, n_heads, fast=fast, d_memory=d_memory
        )

    def f(self, h, memory=None, memory_mask=None, mask=None):
        """F(x2): causal self-attention, then cross-attention into the memory."""
        if memory is None:
            raise ValueError("a reversible decoder block needs memory (B, Lk, D)")
        causal = causal_mask(h.shape[1], device=h.device)[None]  # (1, Lq, Lq)
        a = self.norm_self(h)
        s = self.self_attn(a, a, mask, causal)[0]  # (B, Lq, D)
        c = self.cross_attn(self.norm_cross(h + s), memory, memory_mask)[0]
        return s + c  # (B, Lq, D)


class ReversibleFunction(torch.autograd.Function):
    """A stack of reversible blocks whose backward rebuilds each block's inputs.

    ``apply(x1, x2, memory, blocks, memory_mask, mask, *params)``: ``params`` are
    the blocks' parameters, passed in so that their gradients are returned like
    any input's (``torch.autograd.grad`` and ``gradcheck`` see them). Autograd
    keeps the top block's outputs and the memory, nothing per block.
    """

    @staticmethod
    def forward(ctx, x1, x2, memory, blocks, memory_mask, mask, *params):
        with torch.no_grad():
            for block in blocks:
                x1, x2 = block(x1, x2, memory, memory_mask, mask)
        ctx.blocks, ctx.masks, ctx.params = blocks, (memory_mask, mask), params
        ctx.save_for_backward(x1, x2, memory)
        return x1, x2

    @staticmethod
    def backward(ctx, dy1, dy2):
        y1, y2, memory = ctx.saved_tensors
        memory_mask, mask = ctx.masks
        grads = {id(p): torch.zeros_like(p) for p in ctx.params}
        with_memory = memory is not None and ctx.needs_input_grad[2]
        dmemory = torch.zeros_like(memory) if with_memory else None
        for block in reversed(ctx.blocks):
            params = [p for p in block.parameters() if p.requires_grad]
            with torch.enable_grad():  # G(y1) again, to rebuild x2 and to backprop
                y1 = y1.detach().requires_grad_(True)
                g = block.g(y1)
            dy1_g, *dg = torch.autograd.grad(g, [y1, *params], dy2, allow_unused=True)
            x2 = (y2 - g).detach()
            dy1 = dy1 + dy1_g  # y1 fed G as well as the output
            with torch.enable_grad():  # F(x2) again, to rebuild x1 and to backprop
                x2 = x2.requires_grad_(True)
                mem = memory.detach().requires_grad_(True) if with_memory else memory
                f = block.f(x2, mem, memory_mask, mask)
            inputs = [x2, *([mem] if with_memory else []), *params]
            dx2_f, *df = torch.autograd.grad(f, inputs, dy1, allow_unused=True)
            if with_memory:
                dmemory += df.pop(0)  # every decoder layer reads the same memory
            for p, a, b in zip(params, dg, df):
                for d in (a, b):
                    if d is not None:
                        grads[id(p)] += d
            x1 = y1.detach() - f.detach()
            dy2 = dy2 + dx2_f  # dx1 = dy1, dx2 = dy2 + dF/dx2
            y1, y2 = x1, x2.detach()
        param_grads = [grads[id(p)] if p.requires_grad else None for p in ctx.params]
        return dy1, dy2, dmemory, None, None, None, *param_grads


class ReversibleStack(nn.Module):
    """Reversible blocks run in one of three ways, for the same result.

    ``mode="reversible"`` runs them through :class:`ReversibleFunction` (memory
    for the backward flat in depth); ``"autograd"`` is ordinary backprop through
    the same blocks (every activation kept); ``"checkpoint"`` wraps each block
    in ``torch.utils.checkpoint`` (each block's inputs kept, the rest
    recomputed).

    Args:
        blocks: :class:`ReversibleEncoderBlock` or :class:`ReversibleDecoderBlock`
            modules, all of one width.

    Shapes:
        x1, x2 (B, L, D), memory (B, Lk, d_memory), memory_mask (B, Lk),
        mask (B, L) -> y1, y2 (B, L, D)
    """

    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        if not len(self.blocks) or not all(
            isinstance(b, ReversibleEncoderBlock) for b in self.blocks
        ):
            raise ValueError(
                "blocks must be one or more ReversibleEncoderBlock or "
                f"ReversibleDecoderBlock modules, got {list(map(type, blocks))}"
            )
        self.d_model = self.blocks[0].norm_self.normalized_shape[0]

    def _check(self, x1, x2, mode):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        check_stream("x1", x1, self.d_model)
        check_stream("x2", x2, self.d_model)
        if x1.shape != x2.shape:
            raise ValueError(
                f"x1 and x2 must have one shape: x1 {fmt_shape(x1)} vs x2 "
                f"{fmt_shape(x2)}"
            )

    def forward(
        self, x1, x2, memory=None, memory_mask=None, mask=None, *, mode="reversible"
    ):
        """Run every block on the pair (x1, x2); returns the top pair (y1, y2)."""
        self._check(x1, x2, mode)
        if mode == "reversible":
            params = list(self.parameters())
            return ReversibleFunction.apply(
                x1, x2, memory, self.blocks, memory_mask, mask, *params
            )
        for block in self.blocks:
            if mode == "checkpoint":
                x1, x2 = checkpoint(
                    block, x1, x2, memory, memory_mask, mask, use_reentrant=False
                )
            else:
                x1, x2 = block(x1, x2, memory, memory_mask, mask)
        return x1, x2

    def inverse(self, y1, y2, memory=None, memory_mask=None, mask=None):
        """The stack's inputs from its outputs, block by block from the top."""
        self._check(y1, y2, "reversible")
        for block in reversed(self.blocks):
            y1, y2 = block.inverse(y1, y2, memory, memory_mask, mask)
        return y1, y2
