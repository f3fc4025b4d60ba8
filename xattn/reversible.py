"""Reversible layers: a stack whose backward pass rebuilds its inputs from its outputs.

Chapter 12 builds this. A reversible block (RevNet, Gomez et al. 2017; the
Reformer, Kitaev et al. 2020) carries the stream as two halves and updates each
from the other, y1 = x1 + F(x2), y2 = x2 + G(y1), so that x2 = y2 - G(y1), then
x1 = y1 - F(x2). The backward pass walks the stack from the top, rebuilding each
block's inputs and recomputing F and G with gradients on (:func:`block_backward`);
autograd keeps the last block's outputs and the memory, whatever the depth.

In the encoder block F is self-attention and G the feed-forward layer; in the
decoder block F is causal self-attention then cross-attention into the memory.
The blocks have no dropout: a recomputed F must give what the forward pass gave
(reversible implementations with dropout save and restore the random state, as
``torch.utils.checkpoint`` does).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from xattn.blocks import FeedForward
from xattn.checks import (
    check_bool,
    check_bool_mask,
    check_memory_mask,
    check_positive_int,
    check_stream,
    checked,
    fmt_shape,
)
from xattn.layers import MultiHeadCrossAttention
from xattn.masks import causal_mask

__all__ = [
    "ReversibleEncoderBlock",
    "ReversibleDecoderBlock",
    "block_backward",
    "ReversibleFunction",
    "ReversibleStack",
]

MODES = ("reversible", "autograd", "checkpoint")


def _check_block(self, d_model, n_heads, d_ff, fast=False, d_memory=None) -> None:
    for name, value in dict(d_model=d_model, n_heads=n_heads, d_ff=d_ff).items():
        check_positive_int(name, value)
    if d_memory is not None:
        check_positive_int("d_memory", d_memory)
    if d_model % n_heads:
        raise ValueError(
            f"d_model={d_model} must be divisible by n_heads={n_heads} (each head "
            "gets D / H features)"
        )
    check_bool("fast", fast)


def _check_pair(x1, x2, d_model, names=("x1", "x2")) -> None:
    """Two halves of one stream: float (B, L, D), one shape and dtype, L >= 1."""
    a, b = names
    check_stream(a, x1, d_model)
    check_stream(b, x2, d_model)
    if x1.shape != x2.shape:
        raise ValueError(
            f"{a} and {b} must have one shape: {a} {fmt_shape(x1)} vs {b} "
            f"{fmt_shape(x2)}"
        )
    if x1.dtype != x2.dtype or x1.device != x2.device:
        raise ValueError(
            f"{a} and {b} must share a dtype and device: {a} {x1.dtype} on "
            f"{x1.device} vs {b} {x2.dtype} on {x2.device}"
        )
    if x1.shape[1] == 0:
        raise ValueError(f"{a} {fmt_shape(x1)} has no positions (L = 0)")


def _check_inputs(blocks, x1, x2, memory, memory_mask, mask, names=("x1", "x2")):
    """What running ``blocks`` on (x1, x2) needs: the pair, the masks, the memory."""
    _check_pair(x1, x2, blocks[0].self_attn.d_model, names)
    if mask is not None:
        check_bool_mask("mask", mask)
        if tuple(mask.shape) != tuple(x1.shape[:2]):
            raise ValueError(
                f"mask must be (B, L) = {fmt_shape(x1.shape[:2])} to match "
                f"{names[0]} {fmt_shape(x1)}, got mask {fmt_shape(mask)}"
            )
    decoders = [b for b in blocks if isinstance(b, ReversibleDecoderBlock)]
    if not decoders:
        return
    if memory is None:
        raise ValueError("a reversible decoder block needs memory (B, Lk, D)")
    check_stream("memory", memory, decoders[0].cross_attn.d_memory, "d_memory")
    if memory.shape[0] != x1.shape[0] or memory.shape[1] == 0:
        raise ValueError(
            f"memory must be (B, Lk, d_memory) with the batch of {names[0]} and "
            f"Lk >= 1: {names[0]} {fmt_shape(x1)} vs memory {fmt_shape(memory)}"
        )
    if memory.dtype != x1.dtype or memory.device != x1.device:
        raise ValueError(
            f"memory and {names[0]} must share a dtype and device: memory "
            f"{memory.dtype} on {memory.device} vs {names[0]} {x1.dtype} on "
            f"{x1.device}"
        )
    check_memory_mask(memory_mask, tuple(memory.shape))


def _check_block_call(self, x1, x2, memory=None, memory_mask=None, mask=None) -> None:
    _check_inputs([self], x1, x2, memory, memory_mask, mask)


def _check_block_inverse(self, y1, y2, memory=None, memory_mask=None, mask=None):
    _check_inputs([self], y1, y2, memory, memory_mask, mask, ("y1", "y2"))


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

    @checked(_check_block)
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

    @checked(_check_block_call)
    def forward(self, x1, x2, memory=None, memory_mask=None, mask=None):
        """The outputs (y1, y2): y1 = x1 + F(x2), then y2 = x2 + G(y1)."""
        y1 = x1 + self.f(x2, memory, memory_mask, mask)
        y2 = x2 + self.g(y1)
        return y1, y2

    @checked(_check_block_inverse)
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

    @checked(_check_block)
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
        causal = causal_mask(h.shape[1], device=h.device)[None]  # (1, Lq, Lq)
        a = self.norm_self(h)
        s = self.self_attn(a, a, mask, causal)[0]  # (B, Lq, D)
        c = self.cross_attn(self.norm_cross(h + s), memory, memory_mask)[0]
        return s + c  # (B, Lq, D)


def _check_block_backward(
    block, y, dy, memory=None, memory_mask=None, mask=None
) -> None:
    if not isinstance(block, ReversibleEncoderBlock):
        raise ValueError(
            "block must be a ReversibleEncoderBlock or ReversibleDecoderBlock, got "
            f"{type(block).__name__}"
        )
    for name, pair in (("y", y), ("dy", dy)):
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise ValueError(
                f"{name} must be a pair of (B, L, D) tensors, got {type(pair).__name__}"
            )
    _check_inputs([block], *y, memory, memory_mask, mask, ("y1", "y2"))
    _check_inputs([block], *dy, memory, memory_mask, mask, ("dy1", "dy2"))


@checked(_check_block_backward)
def block_backward(block, y, dy, memory=None, memory_mask=None, mask=None):
    """One block of the reversible backward pass: its inputs and gradients from above.

    Recomputes G(y1) and F(x2) with gradients on, which rebuilds x2 = y2 - G(y1)
    and x1 = y1 - F(x2) and gives the gradients of the block's parameters and
    of its inputs. The memory gets a gradient if it requires one.

    Returns:
        ``(x, dx, dmemory, grads)``: the rebuilt inputs (x1, x2), their
        gradients (dx1, dx2), the memory's gradient from this block (or None),
        and {parameter: gradient} for the block's trainable parameters.

    Shapes:
        y, dy: pairs of (B, L, D); memory (B, Lk, d_memory) -> x, dx pairs of
        (B, L, D), dmemory (B, Lk, d_memory)
    """
    (y1, y2), (dy1, dy2) = y, dy
    params = [p for p in block.parameters() if p.requires_grad]
    mem = [memory] if memory is not None and memory.requires_grad else []
    with torch.enable_grad():  # G(y1) again: x2 = y2 - G(y1), and G's gradients
        y1 = y1.detach().requires_grad_(True)
        g = block.g(y1)
    dy1_g, *dg = torch.autograd.grad(g, [y1, *params], dy2, allow_unused=True)
    x2 = (y2 - g).detach().requires_grad_(True)
    dy1 = dy1 + dy1_g  # y1 fed G as well as the output
    with torch.enable_grad():  # F(x2) again: x1 = y1 - F(x2), and F's gradients
        f = block.f(x2, memory, memory_mask, mask)
    dx2_f, *df = torch.autograd.grad(f, [x2, *mem, *params], dy1, allow_unused=True)
    dmemory = df.pop(0) if mem else None
    grads = {}
    for p, a, b in zip(params, dg, df):
        grads[p] = sum(d for d in (a, b) if d is not None)  # G's share, then F's
    x1 = y1.detach() - f.detach()
    return (x1, x2.detach()), (dy1, dy2 + dx2_f), dmemory, grads


def _check_function(ctx, x1, x2, memory, blocks, memory_mask, mask, *params) -> None:
    _check_blocks(blocks)
    _check_inputs(blocks, x1, x2, memory, memory_mask, mask)


class ReversibleFunction(torch.autograd.Function):
    """A stack of reversible blocks whose backward rebuilds each block's inputs.

    ``apply(x1, x2, memory, blocks, memory_mask, mask, *params)``: ``params`` are
    the blocks' parameters, passed in so that their gradients are returned like
    any input's (``torch.autograd.grad`` and ``gradcheck`` see them). Autograd
    keeps the top block's outputs and the memory, nothing per block.
    """

    @staticmethod
    @checked(_check_function)
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
        with_memory = memory is not None and ctx.needs_input_grad[2]
        mem = memory.detach().requires_grad_(True) if with_memory else memory
        dmemory = torch.zeros_like(memory) if with_memory else None
        grads = {p: torch.zeros_like(p) for p in ctx.params}
        y, dy = (y1, y2), (dy1, dy2)
        for block in reversed(ctx.blocks):
            y, dy, dmem, block_grads = block_backward(block, y, dy, mem, *ctx.masks)
            for p, d in block_grads.items():
                grads[p] += d
            if with_memory:
                dmemory += dmem  # every decoder layer reads the same memory
        param_grads = [grads[p] if p.requires_grad else None for p in ctx.params]
        return *dy, dmemory, None, None, None, *param_grads


def _check_blocks(blocks) -> None:
    """One or more reversible blocks, in a list or tuple, all of one width."""
    if not isinstance(blocks, (Sequence, nn.ModuleList)) or isinstance(blocks, str):
        raise ValueError(
            "blocks must be one or more ReversibleEncoderBlock or "
            f"ReversibleDecoderBlock modules in a list, got {type(blocks).__name__}"
        )
    if not len(blocks) or not all(
        isinstance(b, ReversibleEncoderBlock) for b in blocks
    ):
        raise ValueError(
            "blocks must be one or more ReversibleEncoderBlock or "
            f"ReversibleDecoderBlock modules, got {[type(b).__name__ for b in blocks]}"
        )
    widths = [b.self_attn.d_model for b in blocks]
    memories = {b.cross_attn.d_memory for b in blocks if hasattr(b, "cross_attn")}
    if len(set(widths)) > 1 or len(memories) > 1:
        raise ValueError(
            "blocks must all have one width d_model (and decoder blocks one "
            f"d_memory): d_model {widths}, d_memory {sorted(memories)}"
        )


def _check_stack(self, blocks) -> None:
    _check_blocks(blocks)


def _check_stack_call(
    self, x1, x2, memory=None, memory_mask=None, mask=None, *, mode="reversible"
) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    _check_inputs(self.blocks, x1, x2, memory, memory_mask, mask)


def _check_stack_inverse(self, y1, y2, memory=None, memory_mask=None, mask=None):
    _check_inputs(self.blocks, y1, y2, memory, memory_mask, mask, ("y1", "y2"))


class ReversibleStack(nn.Module):
    """Reversible blocks run in one of three ways, for the same result.

    ``mode="reversible"`` runs them through :class:`ReversibleFunction` (memory
    for the backward flat in depth); ``"autograd"`` is ordinary backprop through
    the same blocks (every activation kept); ``"checkpoint"`` wraps each block
    in ``torch.utils.checkpoint`` (each block's inputs kept, the rest
    recomputed).

    Args:
        blocks: :class:`ReversibleEncoderBlock` or :class:`ReversibleDecoderBlock`
            modules in a list, all of one width.

    Shapes:
        x1, x2 (B, L, D), memory (B, Lk, d_memory), memory_mask (B, Lk),
        mask (B, L) -> y1, y2 (B, L, D)
    """

    @checked(_check_stack)
    def __init__(self, blocks):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)

    @checked(_check_stack_call)
    def forward(
        self, x1, x2, memory=None, memory_mask=None, mask=None, *, mode="reversible"
    ):
        """Run every block on the pair (x1, x2); returns the top pair (y1, y2)."""
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

    @checked(_check_stack_inverse)
    def inverse(self, y1, y2, memory=None, memory_mask=None, mask=None):
        """The stack's inputs from its outputs, block by block from the top."""
        for block in reversed(self.blocks):
            y1, y2 = block.inverse(y1, y2, memory, memory_mask, mask)
        return y1, y2
