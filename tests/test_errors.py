"""Bad input gets a ValueError that names the shapes or dtypes and the rule broken."""

import re

import numpy as np
import pytest
import torch

import xattn

q3 = torch.randn(2, 3, 4)
k3 = torch.randn(2, 5, 4)
v3 = torch.randn(2, 5, 6)

CASES = [
    # (id, callable, pattern the message must match)
    (
        "q rank 1",
        lambda: xattn.attention(torch.randn(4), k3, v3),
        r"q must have at least 2 dims .*q \(4,\)",
    ),
    (
        "feature dims differ",
        lambda: xattn.attention_scores(q3, torch.randn(2, 5, 6)),
        r"q and k must share the last dim: q \(2, 3, 4\) vs k \(2, 5, 6\)",
    ),
    (
        "batch mismatch",
        lambda: xattn.attention(q3, torch.randn(3, 5, 4), torch.randn(3, 5, 6)),
        r"leading .* dims: q \(2, 3, 4\) vs k \(3, 5, 4\)",
    ),
    (
        "k and v lengths differ",
        lambda: xattn.attention(q3, k3, torch.randn(2, 6, 6)),
        r"same number of keys .*k \(2, 5, 4\) vs v \(2, 6, 6\)",
    ),
    (
        "rank mismatch",
        lambda: xattn.attention(q3, torch.randn(5, 4), v3),
        r"same number of dims: q \(2, 3, 4\) vs k \(5, 4\)",
    ),
    (
        "integer q",
        lambda: xattn.attention(torch.ones(2, 3, 4, dtype=torch.long), k3, v3),
        r"q must be a floating-point tensor.*torch.int64",
    ),
    (
        "bool values",
        lambda: xattn.attention(q3, k3, torch.ones(2, 5, 6, dtype=torch.bool)),
        r"v must be a floating-point",
    ),
    (
        "dtype mismatch",
        lambda: xattn.attention(q3, k3.double(), v3),
        r"q and k must share a dtype: q torch.float32 vs k torch.float64",
    ),
    (
        "empty key sequence",
        lambda: xattn.attention(q3, torch.randn(2, 0, 4), torch.randn(2, 0, 6)),
        r"k \(2, 0, 4\) has an empty key sequence",
    ),
    (
        "float mask",
        lambda: xattn.attention(q3, k3, v3, torch.zeros(2, 3, 5)),
        r"mask must be a bool tensor .*torch.float32.*from_additive_mask",
    ),
    (
        "integer (HF) mask",
        lambda: xattn.attention(q3, k3, v3, torch.ones(2, 1, 5, dtype=torch.long)),
        r"mask must be a bool.*from_hf_attention_mask",
    ),
    (
        "mask does not broadcast",
        lambda: xattn.attention(q3, k3, v3, torch.ones(2, 3, 4, dtype=torch.bool)),
        r"mask \(2, 3, 4\) does not broadcast to scores \(2, 3, 5\): dim 2 is 4, must "
        r"be 1 or 5",
    ),
    (
        "key padding mask without query axis",
        lambda: xattn.attention(q3, k3, v3, torch.ones(2, 5, dtype=torch.bool)),
        r"as many dims as scores: mask \(2, 5\) vs scores \(2, 3, 5\); a key padding "
        r"mask \(B, Lk\) needs a query axis",
    ),
    (
        "mask not a tensor",
        lambda: xattn.masked_softmax(torch.randn(3, 5), [[True] * 5] * 3),
        r"mask must be a torch.Tensor, got list",
    ),
    (
        "q not a tensor",
        lambda: xattn.attention(np.ones((2, 3, 4)), k3, v3),
        r"q must be a torch.Tensor, got ndarray",
    ),
    (
        "negative scale",
        lambda: xattn.attention_scores(q3, k3, scale=-1.0),
        r"scale must be a positive finite number",
    ),
    (
        "nan scale",
        lambda: xattn.attention(q3, k3, v3, scale=float("nan")),
        r"scale must be a positive finite number",
    ),
    (
        "aggregate Lk mismatch",
        lambda: xattn.aggregate(torch.rand(2, 3, 5), torch.randn(2, 4, 6)),
        r"weights \(2, 3, 5\) vs v \(2, 4, 6\)",
    ),
    (
        "aggregate dtype mismatch",
        lambda: xattn.aggregate(torch.rand(2, 3, 5), torch.randn(2, 5, 6).double()),
        r"weights and v must share a dtype",
    ),
    (
        "integer scores",
        lambda: xattn.masked_softmax(torch.ones(3, 5, dtype=torch.int32)),
        r"scores must be a floating-point tensor",
    ),
    (
        "0-d scores",
        lambda: xattn.masked_softmax(torch.tensor(1.0)),
        r"scores must have at least 1 dims",
    ),
    (
        "negative length",
        lambda: xattn.padding_mask([3, -1]),
        r"lengths must be >= 0, got \[3, -1\]",
    ),
    (
        "max_len too short",
        lambda: xattn.padding_mask([3, 5], max_len=4),
        r"max_len 4 is shorter than the longest sequence, length 5",
    ),
    (
        "2-D lengths",
        lambda: xattn.padding_mask(torch.ones(2, 2, dtype=torch.long)),
        r"lengths must be 1-D \(B,\), got lengths \(2, 2\)",
    ),
    (
        "float lengths",
        lambda: xattn.padding_mask(torch.tensor([2.0, 3.0])),
        r"lengths must be integers",
    ),
    (
        "HF mask with a 2",
        lambda: xattn.from_hf_attention_mask(torch.tensor([[1, 1, 2]])),
        r"only 0 and 1, found \[2\]",
    ),
    (
        "HF mask given as bool",
        lambda: xattn.from_hf_attention_mask(torch.ones(1, 3, dtype=torch.bool)),
        r"integer 1s and 0s",
    ),
    (
        "additive mask with a bias",
        lambda: xattn.from_additive_mask(torch.tensor([0.0, -0.5])),
        r"only 0 \(keep\) and -inf",
    ),
    (
        "key_padding_mask as float",
        lambda: xattn.from_key_padding_mask(torch.zeros(2, 3)),
        r"key_padding_mask must be bool",
    ),
    (
        "causal length 0",
        lambda: xattn.causal_mask(0),
        r"length must be a positive int, got 0",
    ),
    (
        "cuda without cuda",
        lambda: (
            xattn.get_device("cuda")
            if not torch.cuda.is_available()
            else xattn.get_device("cuda:99")
        ),
        r"device 'cuda(:99)?' asked for",
    ),
    ("unknown device", lambda: xattn.get_device("tpu"), r"unknown device 'tpu'"),
    (
        "negative seed",
        lambda: xattn.seed_everything(-1),
        r"seed must be an int in \[0, 2\*\*32\), got -1",
    ),
    (
        "plot 3-D weights",
        lambda: xattn.plot_attention(torch.rand(2, 3, 4)),
        r"weights must be 2-D \(Lq, Lk\), got \(2, 3, 4\)",
    ),
    (
        "plot too many tokens",
        lambda: xattn.plot_attention(torch.rand(2, 3), ["a", "b", "c"], ["x"]),
        r"query_tokens has 3 tokens but the weights have only 2 rows",
    ),
]


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_there_are_at_least_fifteen_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 15


def test_messages_name_both_tensors_with_full_shapes():
    with pytest.raises(ValueError) as info:
        xattn.attention_scores(torch.randn(2, 3, 4), torch.randn(2, 5, 6))
    assert re.search(r"q \(2, 3, 4\).*k \(2, 5, 6\)", str(info.value))


# ---- Every public function and class, at its edges ----
# Each of these once escaped as the wrong exception (ZeroDivisionError, TypeError,
# IndexError, AttributeError, RuntimeError) or was silently accepted.

from torch import nn  # noqa: E402

from xattn.train import TrainConfig  # noqa: E402

TINY = xattn.Seq2SeqConfig(
    src_vocab_size=11,
    tgt_vocab_size=9,
    d_model=8,
    n_heads=2,
    n_layers=1,
    d_ff=16,
    dropout=0.0,
    max_len=32,
)
TINY_MODEL = xattn.Seq2Seq(TINY).eval()
TINY_SRC = torch.tensor([[4, 5, 6], [7, 8, 0]])
MHCA = xattn.MultiHeadCrossAttention(8, 2)
x8, m8 = torch.randn(2, 3, 8), torch.randn(2, 5, 8)

EDGE_CASES = [
    # attention functions
    (
        "zero feature width",
        lambda: xattn.attention(torch.randn(2, 3, 0), torch.randn(2, 5, 0), v3),
        r"have no features \(D = 0\)",
    ),
    (
        "zero feature width in the scores",
        lambda: xattn.attention_scores(torch.randn(3, 0), torch.randn(4, 0)),
        r"q \(3, 0\) and k \(4, 0\) have no features",
    ),
    (
        "bias of another dtype",
        lambda: xattn.attention_scores(
            q3, k3, bias=torch.zeros(2, 1, 5, dtype=torch.float64)
        ),
        r"bias and the scores must share a dtype",
    ),
    (
        "bias that does not broadcast",
        lambda: xattn.attention_scores(q3, k3, bias=torch.zeros(2, 1, 4)),
        r"bias \(2, 1, 4\) must have as many dims as the scores \(2, 3, 5\)",
    ),
    (
        "integer mask to mask_bias",
        lambda: xattn.mask_bias(torch.ones(2, 5, dtype=torch.long)),
        r"mask must be a bool tensor .*from_hf_attention_mask",
    ),
    (
        "mask_bias to an integer dtype",
        lambda: xattn.mask_bias(torch.ones(2, 5, dtype=torch.bool), torch.int64),
        r"dtype must be a floating-point dtype",
    ),
    (
        "biased not a bool",
        lambda: xattn.masked_softmax(
            torch.randn(2, 3), torch.ones(2, 3, dtype=torch.bool), biased=1
        ),
        r"biased must be True or False",
    ),
    # masks
    (
        "causal_mask(True)",
        lambda: xattn.causal_mask(True),
        r"length must be a positive int, got True",
    ),
    (
        "causal_mask(2.0)",
        lambda: xattn.causal_mask(2.0),
        r"length must be a positive int, got 2.0",
    ),
    (
        "float lengths in a list",
        lambda: xattn.padding_mask([2.5, 3]),
        r"lengths must be a tensor or a sequence of ints",
    ),
    (
        "bool lengths in a list",
        lambda: xattn.padding_mask([True, 3]),
        r"sequence of ints",
    ),
    (
        "lengths not a sequence",
        lambda: xattn.padding_mask(3),
        r"sequence of ints, got 3",
    ),
    (
        "max_len True",
        lambda: xattn.padding_mask([1], max_len=True),
        r"max_len must be an int >= 0, got True",
    ),
    (
        "max_len a float",
        lambda: xattn.padding_mask([1], max_len=2.0),
        r"max_len must be an int >= 0, got 2.0",
    ),
    # heads and layers
    (
        "split_heads(x, 0)",
        lambda: xattn.split_heads(torch.randn(1, 2, 8), 0),
        r"n_heads must be a positive int, got 0",
    ),
    (
        "split_heads(x, -2)",
        lambda: xattn.split_heads(torch.randn(1, 2, 8), -2),
        r"n_heads must be a positive int, got -2",
    ),
    (
        "combine_masks with n_dims 5",
        lambda: xattn.combine_masks(None, None, 5),
        r"n_dims must be 3",
    ),
    (
        "combine_masks with an int mask",
        lambda: xattn.combine_masks(torch.ones(2, 5, dtype=torch.int64), None, 4),
        r"memory_mask must be a bool tensor .*from_hf_attention_mask",
    ),
    (
        "MultiHeadCrossAttention(dropout=True)",
        lambda: xattn.MultiHeadCrossAttention(8, 2, dropout=True),
        r"dropout must be a finite number in \[0, 1\)",
    ),
    (
        "MultiHeadCrossAttention(dropout=nan)",
        lambda: xattn.MultiHeadCrossAttention(8, 2, dropout=float("nan")),
        r"dropout must be a finite number",
    ),
    (
        "MultiHeadCrossAttention(fast=1)",
        lambda: xattn.MultiHeadCrossAttention(8, 2, fast=1),
        r"fast must be True or False",
    ),
    (
        "MultiHeadCrossAttention(d_memory=0)",
        lambda: xattn.MultiHeadCrossAttention(8, 2, d_memory=0),
        r"d_memory must be a positive int, got 0",
    ),
    (
        "CrossAttention(d_head=0)",
        lambda: xattn.CrossAttention(8, d_head=0),
        r"d_head must be a positive int, got 0",
    ),
    (
        "memory of another width than d_memory",
        lambda: xattn.MultiHeadCrossAttention(8, 2, d_memory=6)(x8, m8),
        r"memory must be \(B, L, 6\) for d_memory=6, got memory \(2, 5, 8\)",
    ),
    (
        "HF int mask as memory_mask",
        lambda: MHCA(x8, m8, torch.ones(2, 5, dtype=torch.int64)),
        r"memory_mask must be a bool tensor .*int64; .*xattn.from_hf_attention_mask",
    ),
    (
        "additive float mask as memory_mask",
        lambda: MHCA(x8, m8, torch.zeros(2, 5)),
        r"memory_mask must be a bool tensor .*float32; .*xattn.from_additive_mask",
    ),
    (
        "float attn_mask",
        lambda: MHCA(x8, m8, None, torch.zeros(3, 5)),
        r"attn_mask must be a bool tensor .*from_additive_mask",
    ),
    (
        "a 2-D attn_mask when B = Lq",
        lambda: MHCA(
            torch.randn(2, 2, 8), m8, None, torch.ones(2, 5, dtype=torch.bool)
        ),
        r"attn_mask must have a batch axis, \(1, Lq, Lk\) = \(1, 2, 5\) .*got "
        r"attn_mask \(2, 5\): add it with attn_mask\[None\]",
    ),
    (
        "a 2-D attn_mask when B != Lq",
        lambda: MHCA(x8, m8, None, torch.ones(3, 5, dtype=torch.bool)),
        r"attn_mask must have a batch axis, \(1, Lq, Lk\) = \(1, 3, 5\)",
    ),
    (
        "need_weights not a bool",
        lambda: MHCA(x8, m8, need_weights="yes"),
        r"need_weights must be True or False",
    ),
    (
        "kv not a pair",
        lambda: MHCA(x8, kv=torch.randn(2, 2, 5, 4)),
        r"kv must be the pair \(k, v\)",
    ),
    # positions and blocks
    (
        "sinusoidal_positions(True, 8)",
        lambda: xattn.sinusoidal_positions(True, 8),
        r"length must be a positive int",
    ),
    (
        "sinusoidal_positions of odd width",
        lambda: xattn.sinusoidal_positions(4, 7),
        r"d_model must be even",
    ),
    (
        "negative start, sinusoidal",
        lambda: xattn.SinusoidalPositionalEncoding(8, 16)(
            torch.randn(1, 3, 8), start=-1
        ),
        r"start must be an int >= 0, got -1",
    ),
    (
        "negative start, learned",
        lambda: xattn.LearnedPositionalEncoding(8, 16)(torch.randn(1, 3, 8), start=-2),
        r"start must be an int >= 0, got -2",
    ),
    (
        "positions of another width",
        lambda: xattn.SinusoidalPositionalEncoding(8, 16)(torch.randn(1, 3, 6)),
        r"x must be \(B, L, 8\) for d_model=8, got x \(1, 3, 6\)",
    ),
    (
        "max_len 0",
        lambda: xattn.LearnedPositionalEncoding(8, 0),
        r"max_len must be a positive int, got 0",
    ),
    (
        "FeedForward(d_ff=0)",
        lambda: xattn.FeedForward(8, 0),
        r"d_ff must be a positive int, got 0",
    ),
    (
        "EncoderBlock(norm_first='yes')",
        lambda: xattn.EncoderBlock(8, 2, 16, norm_first="yes"),
        r"norm_first must be True or False",
    ),
    # the model
    (
        "Seq2SeqConfig(pad_id=True)",
        lambda: xattn.Seq2SeqConfig(10, 10, pad_id=True),
        r"pad_id must be an int >= 0, got True",
    ),
    (
        "Seq2SeqConfig(pad_id=-1)",
        lambda: xattn.Seq2SeqConfig(10, 10, pad_id=-1),
        r"pad_id must be an int >= 0, got -1",
    ),
    (
        "Seq2SeqConfig(fast=1)",
        lambda: xattn.Seq2SeqConfig(10, 10, fast=1),
        r"fast must be True or False",
    ),
    (
        "Seq2SeqConfig(dropout=nan)",
        lambda: xattn.Seq2SeqConfig(10, 10, dropout=float("nan")),
        r"dropout must be a finite",
    ),
    (
        "decode_step at a negative position",
        lambda: TINY_MODEL.decode_step(
            torch.ones(2, 1, dtype=torch.long),
            -1,
            TINY_SRC != 0,
            TINY_MODEL.init_cache(TINY_MODEL.encode(TINY_SRC)[0]),
        ),
        r"position must be an int >= 0, got -1",
    ),
    (
        "decode_step with two tokens",
        lambda: TINY_MODEL.decode_step(
            torch.ones(2, 2, dtype=torch.long),
            0,
            TINY_SRC != 0,
            TINY_MODEL.init_cache(TINY_MODEL.encode(TINY_SRC)[0]),
        ),
        r"token must be \(B, 1\)",
    ),
    (
        "decode_step without caches",
        lambda: TINY_MODEL.decode_step(
            torch.ones(2, 1, dtype=torch.long), 0, TINY_SRC != 0, None
        ),
        r"caches must be the list from init_cache",
    ),
    (
        "cross_weights never kept",
        lambda: (
            TINY_MODEL(TINY_SRC, torch.ones(2, 2, dtype=torch.long)),
            TINY_MODEL.decoder.cross_weights(),
        ),
        r"no cross-attention weights kept",
    ),
    # converters
    (
        "MHA weights into a CrossAttention",
        lambda: xattn.load_torch_multihead_attention(
            xattn.CrossAttention(8), nn.MultiheadAttention(8, 2)
        ),
        r"module must be an xattn.MultiHeadCrossAttention, got CrossAttention",
    ),
    (
        "Transformer weights into a Decoder",
        lambda: xattn.load_torch_transformer(
            TINY_MODEL.decoder, nn.Transformer(8, 2, 1, 1, 16)
        ),
        r"model must be an xattn.Seq2Seq, got Decoder",
    ),
    (
        "MHA with kdim != vdim",
        lambda: xattn.load_torch_multihead_attention(
            xattn.MultiHeadCrossAttention(8, 2, d_memory=4),
            nn.MultiheadAttention(8, 2, kdim=4, vdim=6),
        ),
        r"kdim=4 != vdim=6 has no xattn counterpart",
    ),
    (
        "MHA with kdim into a module without d_memory",
        lambda: xattn.load_torch_multihead_attention(
            xattn.MultiHeadCrossAttention(8, 2),
            nn.MultiheadAttention(8, 2, kdim=4, vdim=4),
        ),
        r"sizes differ .*xattn \(8, 2, 8\) vs torch .* \(8, 2, 4\)",
    ),
    # decoding
    (
        "greedy eos_id outside the vocabulary",
        lambda: xattn.greedy_decode(TINY_MODEL, TINY_SRC, 4, eos_id=9),
        r"eos_id=9 is not an id of the target vocabulary, \[0, 9\)",
    ),
    (
        "greedy bos_id outside the vocabulary",
        lambda: xattn.greedy_decode(TINY_MODEL, TINY_SRC, 4, bos_id=12),
        r"bos_id=12 is not an id",
    ),
    (
        "greedy negative eos_id",
        lambda: xattn.greedy_decode(TINY_MODEL, TINY_SRC, 4, eos_id=-1),
        r"eos_id must be an int >= 0, got -1",
    ),
    (
        "beam eos_id outside the vocabulary",
        lambda: xattn.beam_search(TINY_MODEL, TINY_SRC, 2, 4, eos_id=99),
        r"eos_id=99 is not an id",
    ),
    (
        "beam bos_id outside the vocabulary",
        lambda: xattn.beam_search(TINY_MODEL, TINY_SRC, 2, 4, bos_id=-3),
        r"bos_id must be an int >= 0",
    ),
    (
        "eos_id equal to the padding id",
        lambda: xattn.greedy_decode(TINY_MODEL, TINY_SRC, 4, eos_id=0),
        r"eos_id=0 is the padding id",
    ),
    (
        "beam_size True",
        lambda: xattn.beam_search(TINY_MODEL, TINY_SRC, True),
        r"beam_size must be a positive int, got True",
    ),
    (
        "max_len 2.5",
        lambda: xattn.greedy_decode(TINY_MODEL, TINY_SRC, 2.5),
        r"max_len must be a positive int, got 2.5",
    ),
    (
        "nan length penalty",
        lambda: xattn.beam_search(
            TINY_MODEL, TINY_SRC, 2, 4, length_penalty=float("nan")
        ),
        r"length_penalty must be a finite number",
    ),
    # training
    (
        "grad_clip nan",
        lambda: TrainConfig(grad_clip=float("nan")),
        r"grad_clip must be a finite number in \[0, inf\], got nan",
    ),
    (
        "weight_decay nan",
        lambda: TrainConfig(weight_decay=float("nan")),
        r"weight_decay must be a finite number",
    ),
    ("lr inf", lambda: TrainConfig(lr=float("inf")), r"lr must be a finite number"),
    (
        "betas out of range",
        lambda: TrainConfig(betas=(0.9, 1.0)),
        r"betas\[1\] must be a finite number in \[0, 1\)",
    ),
    ("amp as a string", lambda: TrainConfig(amp="no"), r"amp must be True or False"),
    (
        "steps True",
        lambda: TrainConfig(steps=True),
        r"steps must be a positive int, got True",
    ),
    (
        "train a Linear",
        lambda: xattn.train.train(nn.Linear(2, 2), xattn.DateTask()),
        r"model must be an xattn.Seq2Seq",
    ),
    # counting
    (
        "count_parameters of a tensor",
        lambda: xattn.count_parameters(torch.zeros(3)),
        r"model must be a torch.nn.Module",
    ),
    (
        "attention_flops with a negative length",
        lambda: xattn.attention_flops(1, -2, 3, 8),
        r"len_q must be an int >= 0",
    ),
    (
        "attention_parameter_count(0)",
        lambda: xattn.attention_parameter_count(0),
        r"d_model must be a positive int",
    ),
]


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in EDGE_CASES], ids=[c[0] for c in EDGE_CASES]
)
def test_edge_cases_raise_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
