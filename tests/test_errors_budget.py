"""Bad calls of chapters 12 and 13's modules: each a ValueError naming the rule.

Reversible layers, halting and the ponder model, int8 quantization, head masks,
importance and pruning. Many of these once escaped as another exception (a
RuntimeError from a matrix product, an IndexError from an empty reduction) or
passed in silence (a head index 0.7 kept head 0, a NaN halting probability
came back as NaN).
"""

import pytest
import torch
from torch import nn

import xattn
from xattn.adaptive import (
    AdaptiveDecoder,
    geometric_prior,
    halting_layers,
    halting_probabilities,
    ponder_loss,
)
from xattn.importance import (
    attention_layers,
    head_importance,
    head_mask_attend,
    head_masks,
)
from xattn.ponder import PonderSeq2Seq, ponder_greedy_decode
from xattn.prune import PrunedAttention, prune_heads, slice_linear
from xattn.quantize import (
    Int8Linear,
    dequantize_per_channel,
    int8_matmul,
    model_bytes,
    quantize_model,
    quantize_per_channel,
)
from xattn.reversible import (
    ReversibleDecoderBlock,
    ReversibleEncoderBlock,
    ReversibleFunction,
    ReversibleStack,
    block_backward,
)

NAN, INF = float("nan"), float("inf")
D = 8
torch.manual_seed(0)
x8 = torch.randn(2, 4, D)
dec_block = ReversibleDecoderBlock(D, 2, 16)
enc_block = ReversibleEncoderBlock(D, 2, 16)
stack8 = ReversibleStack([ReversibleDecoderBlock(D, 2, 16)])
enc_stack = ReversibleStack([enc_block])

REVERSIBLE = [
    (
        "no blocks",
        lambda: ReversibleStack([]),
        r"blocks must be one or more ReversibleEncoderBlock",
    ),
    (
        "an ordinary block",
        lambda: ReversibleStack([xattn.DecoderBlock(D, 2, 16)]),
        r"blocks must be one or more .*DecoderBlock",
    ),
    (
        "blocks from a generator",
        lambda: ReversibleStack(ReversibleEncoderBlock(D, 2, 16) for _ in range(2)),
        r"blocks must be .* in a list, got generator",
    ),
    (
        "blocks of different widths",
        lambda: ReversibleStack(
            [ReversibleEncoderBlock(8, 2, 16), enc_block.__class__(16, 2, 16)]
        ),
        r"blocks must all have one width d_model .*d_model \[8, 16\]",
    ),
    (
        "decoder blocks reading different memories",
        lambda: ReversibleStack(
            [
                ReversibleDecoderBlock(8, 2, 16),
                ReversibleDecoderBlock(8, 2, 16, d_memory=4),
            ]
        ),
        r"one d_memory\): d_model \[8, 8\], d_memory \[4, 8\]",
    ),
    (
        "width not divisible by heads",
        lambda: ReversibleEncoderBlock(10, 4, 16),
        r"d_model=10 must be divisible by n_heads=4",
    ),
    ("zero feed-forward width", lambda: ReversibleDecoderBlock(8, 2, 0), r"d_ff must"),
    ("fast as 1", lambda: ReversibleEncoderBlock(8, 2, 16, fast=1), r"fast must be"),
    (
        "unknown mode",
        lambda: stack8(x8, x8, x8, mode="fast"),
        r"mode must be one of \('reversible', 'autograd', 'checkpoint'\), got 'fast'",
    ),
    (
        "halves of different shapes",
        lambda: stack8(x8, x8[:, :3], x8),
        r"x1 and x2 must have one shape: x1 \(2, 4, 8\) vs x2 \(2, 3, 8\)",
    ),
    (
        "halves of different dtypes",
        lambda: stack8(x8, x8.double(), x8),
        r"x1 and x2 must share a dtype and device: x1 torch.float32 .* torch.float64",
    ),
    (
        "wrong width",
        lambda: stack8(torch.randn(2, 4, 6), torch.randn(2, 4, 6), x8),
        r"x1 must be \(B, L, 8\) for d_model=8, got x1 \(2, 4, 6\)",
    ),
    (
        "integer stream",
        lambda: stack8(x8.long(), x8.long(), x8),
        r"x1 must be a floating-point tensor",
    ),
    (
        "no positions",
        lambda: enc_stack(x8[:, :0], x8[:, :0]),
        r"x1 \(2, 0, 8\) has no positions",
    ),
    (
        "float mask",
        lambda: enc_stack(x8, x8, mask=torch.ones(2, 4)),
        r"mask must be a bool tensor",
    ),
    (
        "stream mask of the wrong length",
        lambda: enc_stack(x8, x8, mask=torch.ones(2, 5, dtype=torch.bool)),
        r"mask must be \(B, L\) = \(2, 4\) to match x1 \(2, 4, 8\), got mask \(2, 5\)",
    ),
    (
        "decoder without memory",
        lambda: stack8(x8, x8),
        r"a reversible decoder block needs memory",
    ),
    (
        "decoder without memory, autograd",
        lambda: stack8(x8, x8, mode="autograd"),
        r"a reversible decoder block needs memory",
    ),
    (
        "memory of another width",
        lambda: stack8(x8, x8, torch.randn(2, 5, 6)),
        r"memory must be \(B, L, 8\) for d_memory=8, got memory \(2, 5, 6\)",
    ),
    (
        "memory of another batch",
        lambda: stack8(x8, x8, torch.randn(3, 5, 8)),
        r"memory must be \(B, Lk, d_memory\) with the batch of x1",
    ),
    (
        "empty memory",
        lambda: stack8(x8, x8, torch.randn(2, 0, 8)),
        r"Lk >= 1: x1 \(2, 4, 8\) vs memory \(2, 0, 8\)",
    ),
    (
        "memory in another dtype",
        lambda: stack8(x8, x8, torch.randn(2, 5, 8).double()),
        r"memory and x1 must share a dtype and device",
    ),
    (
        "memory mask of the wrong length",
        lambda: stack8(x8, x8, x8, torch.ones(2, 5, dtype=torch.bool)),
        r"memory_mask must be \(B, Lk\) = \(2, 4\)",
    ),
    (
        "inverse with wrong width",
        lambda: stack8.inverse(torch.randn(2, 4, 6), torch.randn(2, 4, 6), x8),
        r"y1 must be \(B, L, 8\)",
    ),
    (
        "one block without memory",
        lambda: dec_block(x8, x8),
        r"a reversible decoder block needs memory",
    ),
    (
        "one block's inverse of halves of two shapes",
        lambda: enc_block.inverse(x8, x8[:1]),
        r"y1 and y2 must have one shape",
    ),
    (
        "block_backward of an ordinary block",
        lambda: block_backward(xattn.EncoderBlock(D, 2, 16), (x8, x8), (x8, x8)),
        r"block must be a ReversibleEncoderBlock or ReversibleDecoderBlock",
    ),
    (
        "block_backward of one tensor",
        lambda: block_backward(enc_block, x8, (x8, x8)),
        r"y must be a pair of \(B, L, D\) tensors",
    ),
    (
        "block_backward with gradients of another shape",
        lambda: block_backward(enc_block, (x8, x8), (x8[:1], x8)),
        r"dy1 and dy2 must have one shape",
    ),
    (
        "the function on a module list of other modules",
        lambda: ReversibleFunction.apply(x8, x8, None, [nn.Linear(8, 8)], None, None),
        r"blocks must be one or more ReversibleEncoderBlock",
    ),
]

p3 = halting_probabilities(torch.full((3, 2, 4), 0.5))
logits3 = torch.randn(3, 2, 4, 5)
target3 = torch.ones(2, 4).long()


def loss(**changes):
    args = dict(logits=logits3, p=p3, target=target3, beta=0.1, prior_rate=0.5)
    args.update(changes)
    return ponder_loss(args.pop("logits"), args.pop("p"), args.pop("target"), **args)


ADAPTIVE = [
    (
        "integer lambdas",
        lambda: halting_probabilities(torch.ones(3, 2, dtype=torch.long)),
        r"lambdas must be a floating-point tensor",
    ),
    (
        "lambdas above one",
        lambda: halting_probabilities(torch.tensor([0.5, 1.5])),
        r"lambdas must be probabilities, in \[0, 1\]",
    ),
    (
        "negative lambdas",
        lambda: halting_probabilities(torch.tensor([-0.1, 0.5])),
        r"lambdas must be probabilities",
    ),
    (
        "a NaN lambda",
        lambda: halting_probabilities(torch.tensor([0.5, NAN])),
        r"lambdas must be probabilities, in \[0, 1\]; lambdas \(2,\) holds .*NaN",
    ),
    (
        "scalar lambdas",
        lambda: halting_probabilities(torch.tensor(0.5)),
        r"lambdas must be \(N, \.\.\.\) with N >= 1 layers, got lambdas \(\)",
    ),
    (
        "no layers",
        lambda: halting_probabilities(torch.zeros(0, 3)),
        r"N >= 1 layers, got lambdas \(0, 3\)",
    ),
    ("threshold zero", lambda: halting_layers(p3, 0.0), r"threshold must be"),
    ("threshold above one", lambda: halting_layers(p3, 1.5), r"threshold must be"),
    ("threshold NaN", lambda: halting_layers(p3, NAN), r"threshold must be"),
    ("threshold True", lambda: halting_layers(p3, True), r"threshold must be"),
    (
        "threshold tensor out of range",
        lambda: halting_layers(p3, torch.tensor([0.5, 0.0])[:, None]),
        r"threshold must lie in \(0, 1\] everywhere",
    ),
    (
        "threshold tensor with a NaN",
        lambda: halting_layers(p3, torch.tensor([0.5, NAN])[:, None]),
        r"threshold must lie in \(0, 1\] everywhere",
    ),
    (
        "threshold tensor of integers",
        lambda: halting_layers(p3, torch.ones(2, 1, dtype=torch.long)),
        r"threshold must be a floating-point tensor",
    ),
    (
        "one threshold per layer instead of per position",
        lambda: halting_layers(p3, torch.full((3,), 0.5)),
        r"threshold \(3,\) must broadcast to the positions \(2, 4\)",
    ),
    (
        "scalar p",
        lambda: halting_layers(torch.tensor(1.0)),
        r"p must be \(N, \.\.\.\) with N >= 1 layers",
    ),
    (
        "p with a NaN",
        lambda: halting_layers(torch.tensor([[0.5], [NAN]])),
        r"p must be probabilities",
    ),
    ("prior rate one", lambda: geometric_prior(3, 1.0, p3), r"rate must be"),
    ("prior rate NaN", lambda: geometric_prior(3, NAN, p3), r"rate must be"),
    ("prior of no layers", lambda: geometric_prior(0, 0.5, p3), r"n_layers must be"),
    (
        "prior like an integer tensor",
        lambda: geometric_prior(3, 0.5, torch.ones(1, dtype=torch.long)),
        r"like must be a floating-point tensor",
    ),
    (
        "loss: p does not match logits",
        lambda: loss(p=p3[:2]),
        r"logits must be \(N, B, Lq, V\) and p \(N, B, Lq\), got logits \(3, 2, 4, 5\)"
        r" and p \(2, 2, 4\)",
    ),
    (
        "loss: target of the wrong shape",
        lambda: loss(target=torch.ones(2, 5).long()),
        r"target must be \(B, Lq\) = \(2, 4\), got target \(2, 5\)",
    ),
    (
        "loss: float target",
        lambda: loss(target=torch.ones(2, 4)),
        r"target must hold torch.long ids in \[0, V\) = \[0, 5\)",
    ),
    (
        "loss: target id past the vocabulary",
        lambda: loss(target=torch.full((2, 4), 5)),
        r"target must hold torch.long ids in \[0, V\) = \[0, 5\), .* from 5 to 5",
    ),
    (
        "loss: only padding",
        lambda: loss(target=torch.zeros(2, 4).long()),
        r"target holds only padding \(pad_id=0\)",
    ),
    (
        "loss: p with a NaN",
        lambda: loss(p=torch.where(p3 > 0.4, NAN, p3)),
        r"p must be probabilities",
    ),
    ("loss: negative beta", lambda: loss(beta=-1.0), r"beta must be"),
    ("loss: NaN beta", lambda: loss(beta=NAN), r"beta must be"),
    ("loss: prior rate zero", lambda: loss(prior_rate=0.0), r"prior_rate must be"),
    (
        "loss: negative deep supervision",
        lambda: loss(deep_supervision=-1.0),
        r"deep_supervision must be",
    ),
    ("loss: pad id 0.5", lambda: loss(pad_id=0.5), r"pad_id must be an int"),
    ("decoder of no layers", lambda: AdaptiveDecoder(8, 2, 16, 0), r"max_layers"),
    (
        "decoder of 3 heads over 8 features",
        lambda: AdaptiveDecoder(8, 3, 16, 2),
        r"d_model=8 must be divisible by n_heads=3",
    ),
    (
        "decoder on the wrong width",
        lambda: AdaptiveDecoder(8, 2, 16, 2)(torch.randn(2, 3, 6), x8),
        r"x must be \(B, L, 8\) for d_model=8, got x \(2, 3, 6\)",
    ),
    (
        "decoder on memory of another batch",
        lambda: AdaptiveDecoder(8, 2, 16, 2)(x8, torch.randn(3, 5, 8)),
        r"x and memory must share the batch size",
    ),
    (
        "decoder with a target mask of the wrong length",
        lambda: AdaptiveDecoder(8, 2, 16, 2)(
            x8, x8, None, torch.ones(2, 5, dtype=torch.bool)
        ),
        r"tgt_mask must be \(B, Lq\) = \(2, 4\), got tgt_mask \(2, 5\)",
    ),
]

TINY = xattn.Seq2SeqConfig(13, 11, d_model=16, n_heads=4, n_layers=1, d_ff=32)
small = xattn.Seq2Seq(TINY).eval()
ponder = PonderSeq2Seq(small, 2).eval()
src = torch.tensor([[4, 5, 6], [7, 8, 0]])

PONDER = [
    (
        "ponder model on a non-Seq2Seq",
        lambda: PonderSeq2Seq(torch.nn.Linear(2, 2), 3),
        r"base must be an xattn.Seq2Seq, got Linear",
    ),
    ("ponder model of no layers", lambda: PonderSeq2Seq(small, 0), r"max_layers"),
    (
        "from_base as 1",
        lambda: PonderSeq2Seq(small, 2, from_base=1),
        r"from_base must be True or False",
    ),
    (
        "ponder model on float ids",
        lambda: ponder(src.float(), src),
        r"src must be a \(B, L\) tensor of torch.long ids",
    ),
    (
        "target id past the vocabulary",
        lambda: ponder(src, torch.full((2, 3), 11)),
        r"tgt_in holds ids outside \[0, 11\)",
    ),
    (
        "source and target batches differ",
        lambda: ponder(src, src[:1]),
        r"src and tgt_in must share the batch size",
    ),
    (
        "decode a ponder model's input with a plain model",
        lambda: ponder_greedy_decode(small, src, 4, 1, 2),
        r"model must be an xattn.PonderSeq2Seq, got Seq2Seq",
    ),
    (
        "decode with threshold zero",
        lambda: ponder_greedy_decode(ponder, src, 4, 1, 2, 0.0),
        r"threshold must be",
    ),
    (
        "decode with a threshold per layer",
        lambda: ponder_greedy_decode(ponder, src, 4, 1, 2, torch.full((3,), 0.5)),
        r"threshold \(3,\) must broadcast to the positions \(2,\)",
    ),
    (
        "decode zero tokens",
        lambda: ponder_greedy_decode(ponder, src, 0, 1, 2),
        r"max_len must be a positive int",
    ),
    (
        "decode past the positions",
        lambda: ponder_greedy_decode(ponder, src, 600, 1, 2),
        r"max_len must be in \[1, 256\]",
    ),
    (
        "start with the padding id",
        lambda: ponder_greedy_decode(ponder, src, 4, 0, 2),
        r"bos_id=0 must be an id of the target vocabulary, \[0, 11\), other than",
    ),
    (
        "end with an id past the vocabulary",
        lambda: ponder_greedy_decode(ponder, src, 4, 1, 11),
        r"eos_id=11 must be an id of the target vocabulary",
    ),
    (
        "a step without caches",
        lambda: ponder.decode_step(src[:, :1], 0, src != 0, None, 0.5),
        r"caches must be the list from init_cache, one per layer \(2\)",
    ),
]

w34 = torch.randn(3, 4, generator=torch.Generator().manual_seed(10))
q34, s34 = quantize_per_channel(w34)
layer34 = Int8Linear(q34, s34)
nan_linear = nn.Linear(4, 3)
with torch.no_grad():
    nan_linear.weight[0, 0] = NAN

QUANTIZE = [
    ("integer weight", lambda: quantize_per_channel(q34), r"w must be a floating"),
    (
        "vector weight",
        lambda: quantize_per_channel(torch.randn(4)),
        r"w must be a matrix \(N, K\) with K >= 1, one scale per row, got w \(4,\)",
    ),
    (
        "3-D weight",
        lambda: quantize_per_channel(torch.randn(2, 3, 4)),
        r"got w \(2, 3, 4\)",
    ),
    (
        "weight of no columns",
        lambda: quantize_per_channel(torch.randn(3, 0)),
        r"w must be a matrix \(N, K\) with K >= 1, .* got w \(3, 0\)",
    ),
    (
        "inf in the weight",
        lambda: quantize_per_channel(torch.tensor([[1.0, INF]])),
        r"w \(1, 2\) holds inf or NaN",
    ),
    (
        "NaN in the weight",
        lambda: quantize_per_channel(torch.tensor([[NAN, 1.0]])),
        r"w \(1, 2\) holds inf or NaN",
    ),
    (
        "float q",
        lambda: dequantize_per_channel(w34, s34),
        r"q must be an int8 matrix \(N, K\), got q \(3, 4\) torch.float32",
    ),
    (
        "integer scale",
        lambda: dequantize_per_channel(q34, torch.ones(3, dtype=torch.long)),
        r"scale must be a floating-point tensor",
    ),
    (
        "scale per column",
        lambda: dequantize_per_channel(q34, torch.ones(4)),
        r"one number per row of q, on its device: q \(3, 4\) on cpu vs scale \(4,\)",
    ),
    (
        "a negative scale",
        lambda: dequantize_per_channel(q34, -s34),
        r"scale must be finite and >= 0",
    ),
    (
        "int8_matmul of floats",
        lambda: int8_matmul(w34, q34),
        r"a must be an int8 matrix, got a \(3, 4\) torch.float32",
    ),
    (
        "int8_matmul of different depths",
        lambda: int8_matmul(q34, q34[:, :3]),
        r"a \(M, K\) and b \(N, K\) must share K and a device",
    ),
    (
        "bias of the wrong length",
        lambda: Int8Linear(q34, s34, torch.zeros(4)),
        r"bias must be \(N,\) .* weight \(3, 4\) vs bias \(4,\)",
    ),
    (
        "activations 1",
        lambda: Int8Linear(q34, s34, activations=1),
        r"activations must be True or False",
    ),
    (
        "from a conv",
        lambda: Int8Linear.from_linear(nn.Conv1d(2, 2, 1)),
        r"linear must be an nn.Linear, got Conv1d",
    ),
    (
        "from a layer with a NaN weight",
        lambda: Int8Linear.from_linear(nan_linear),
        r"w \(3, 4\) holds inf or NaN",
    ),
    (
        "input of the wrong width",
        lambda: layer34(torch.randn(2, 5)),
        r"x must be \(\.\.\., 4\) for in_features=4, got x \(2, 5\)",
    ),
    (
        "integer input",
        lambda: layer34(torch.ones(2, 4, dtype=torch.long)),
        r"x must be a floating-point tensor",
    ),
    (
        "input with a NaN",
        lambda: layer34(torch.tensor([[1.0, NAN, 0.0, 2.0]])),
        r"x \(1, 4\) holds inf or NaN",
    ),
    (
        "quantize a tensor",
        lambda: quantize_model(torch.ones(3)),
        r"model must be an nn.Module, got Tensor",
    ),
    (
        "nothing to quantize",
        lambda: quantize_model(nn.ReLU()),
        r"ReLU has no nn.Linear to quantize",
    ),
    (
        "quantize a model with a NaN weight",
        lambda: quantize_model(nn.Sequential(nan_linear)),
        r"holds inf or NaN",
    ),
    (
        "model_bytes of a dict",
        lambda: model_bytes({}),
        r"model must be an nn.Module, got dict",
    ),
]

cross = small.decoder.layers[0].cross_attn
batch = (torch.ones(2, 3, dtype=torch.long),) * 3


def with_attend(layer, attend):
    """Run ``layer`` once with ``attend`` in place of its own attention."""
    layer.attend = attend
    try:
        return layer(torch.randn(2, 3, 16), torch.randn(2, 5, 16))
    finally:
        del layer.attend


PRUNE = [
    (
        "integer xi",
        lambda: head_mask_attend(torch.ones(4, dtype=torch.long)),
        r"xi must be a floating-point tensor",
    ),
    (
        "xi (1, H)",
        lambda: head_mask_attend(torch.ones(1, 4)),
        r"xi must be \(H,\), one number per head, got xi \(1, 4\)",
    ),
    ("xi of no heads", lambda: head_mask_attend(torch.ones(0)), r"xi must be \(H,\)"),
    (
        "xi with a NaN",
        lambda: head_mask_attend(torch.tensor([1.0, NAN])),
        r"xi \(2,\) holds inf or NaN",
    ),
    (
        "xi for the wrong number of heads",
        lambda: head_mask_attend(torch.ones(3))(*[torch.ones(1, 4, 2, 4)] * 3, None),
        r"xi \(3,\) must have one number per head of q .* \(1, 4, 2, 4\)",
    ),
    (
        "one number for four heads, inside a layer",
        lambda: with_attend(cross, head_mask_attend(torch.ones(1))),
        r"xi \(1,\) must have one number per head of q",
    ),
    (
        "masks as a list",
        lambda: head_masks(small, [torch.ones(4)]).__enter__(),
        r"masks must be a dict of layer name -> xi \(H,\), got list",
    ),
    (
        "unknown layer",
        lambda: head_masks(small, {"decoder.cross": torch.ones(4)}).__enter__(),
        r"no attention layer named 'decoder.cross'; the layers are encoder",
    ),
    (
        "mask of the wrong length",
        lambda: head_masks(
            small, {"decoder.layers.0.cross_attn": torch.ones(2)}
        ).__enter__(),
        r"must be \(H,\) = \(4,\) for that layer's heads, got \(2,\)",
    ),
    ("no batches", lambda: head_importance(small, []), r"batches is empty"),
    (
        "batches from a generator",
        lambda: head_importance(small, (b for b in [batch])),
        r"batches must be a list of \(src, tgt_in, tgt_out\) batches, got generator",
    ),
    (
        "a batch of two",
        lambda: head_importance(small, [batch[:2]]),
        r"each batch must be \(src, tgt_in, tgt_out\)",
    ),
    (
        "a batch with ids past the vocabulary",
        lambda: head_importance(small, [(batch[0], batch[1], batch[2] * 20)]),
        r"batches\[0\]: tgt_out must be \(B, L\) torch.long ids that the model reads",
    ),
    (
        "a batch whose targets differ in length",
        lambda: head_importance(small, [(batch[0], batch[1], batch[2][:, :2])]),
        r"batches\[0\]: src \(B, Lk\), tgt_in and tgt_out \(B, Lq\) must share B",
    ),
    (
        "a batch of padding only",
        lambda: head_importance(small, [(batch[0], batch[1], batch[2] * 0)]),
        r"batches\[0\]: tgt_out holds only padding",
    ),
    (
        "no attention layers",
        lambda: head_importance(torch.nn.Linear(2, 2), [batch]),
        r"Linear has no MultiHeadCrossAttention",
    ),
    (
        "attention_layers of a tensor",
        lambda: attention_layers(torch.ones(2)),
        r"model must be an nn.Module, got Tensor",
    ),
    (
        "no heads kept",
        lambda: PrunedAttention(cross, []),
        r"heads must name at least one head in \[0, 4\), got \[\]",
    ),
    (
        "head out of range",
        lambda: PrunedAttention(cross, [0, 4]),
        r"heads must name at least one head in \[0, 4\), got \[0, 4\]",
    ),
    (
        "a head index 0.7",
        lambda: PrunedAttention(cross, [0.7]),
        r"heads must name at least one head in \[0, 4\), got \[0.7\]; each once, as "
        r"ints",
    ),
    ("a head index True", lambda: PrunedAttention(cross, [True]), r"as ints"),
    ("a head twice", lambda: PrunedAttention(cross, [1, 1]), r"each once"),
    (
        "heads from a generator",
        lambda: PrunedAttention(cross, (h for h in [0, 1])),
        r"heads must be a list of head indices, got generator",
    ),
    (
        "heads as a float tensor",
        lambda: PrunedAttention(cross, torch.tensor([0.0, 1.0])),
        r"heads must name at least one head",
    ),
    (
        "prune a linear layer",
        lambda: PrunedAttention(torch.nn.Linear(4, 4), [0]),
        r"layer must be a MultiHeadCrossAttention, got Linear",
    ),
    (
        "slice a conv",
        lambda: slice_linear(nn.Conv1d(2, 2, 1), torch.tensor([0]), 0),
        r"linear must be an nn.Linear, got Conv1d",
    ),
    (
        "slice along dim 2",
        lambda: slice_linear(nn.Linear(4, 3), torch.tensor([0]), 2),
        r"dim must be 0 \(output rows\) or 1 \(input columns\), got 2",
    ),
    (
        "slice past the rows",
        lambda: slice_linear(nn.Linear(4, 3), torch.tensor([0, 3]), 0),
        r"index must be a non-empty 1-D torch.long tensor of indices in \[0, 3\)",
    ),
    (
        "keep as a list",
        lambda: prune_heads(small, [0, 1]),
        r"keep must be a dict of layer name -> head indices, got list",
    ),
    (
        "prune an unknown layer",
        lambda: prune_heads(small, {"encoder.layers.3.self_attn": [0]}),
        r"no attention layer named 'encoder.layers.3.self_attn'",
    ),
    (
        "keep no head of a layer",
        lambda: prune_heads(small, {"decoder.layers.0.cross_attn": []}),
        r"keep\['decoder.layers.0.cross_attn'\] must name at least one head",
    ),
]

MEMORY = [
    (
        "saved bytes of a tensor",
        lambda: xattn.saved_tensor_bytes(x8),
        r"fn must be a function of no arguments",
    ),
    (
        "peak bytes of a result, not of a function",
        lambda: xattn.peak_tensor_bytes(stack8(x8, x8, x8)),
        r"fn must be a function of no arguments, got \(tensor",
    ),
]

CASES = REVERSIBLE + ADAPTIVE + PONDER + QUANTIZE + PRUNE + MEMORY


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_every_module_has_its_table_and_the_cases_are_distinct():
    assert len({c[0] for c in CASES}) == len(CASES)
    for table in (REVERSIBLE, ADAPTIVE, PONDER, QUANTIZE, PRUNE):
        assert len(table) >= 12


def test_a_bad_mask_in_head_masks_leaves_every_layer_as_it_was():
    before = {n: m.__dict__.get("attend") for n, m in attention_layers(small).items()}
    bad = {
        "decoder.layers.0.cross_attn": torch.ones(4),
        "encoder.layers.0.self_attn": torch.ones(3),
    }
    with pytest.raises(ValueError):
        with head_masks(small, bad):
            pass
    after = {n: m.__dict__.get("attend") for n, m in attention_layers(small).items()}
    assert before == after
