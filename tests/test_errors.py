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
    ("q rank 1", lambda: xattn.attention(torch.randn(4), k3, v3), r"q must have at least 2 dims .*q \(4,\)"),
    ("feature dims differ", lambda: xattn.attention_scores(q3, torch.randn(2, 5, 6)),
     r"q and k must share the last dim: q \(2, 3, 4\) vs k \(2, 5, 6\)"),
    ("batch mismatch", lambda: xattn.attention(q3, torch.randn(3, 5, 4), torch.randn(3, 5, 6)),
     r"leading .* dims: q \(2, 3, 4\) vs k \(3, 5, 4\)"),
    ("k and v lengths differ", lambda: xattn.attention(q3, k3, torch.randn(2, 6, 6)),
     r"same number of keys .*k \(2, 5, 4\) vs v \(2, 6, 6\)"),
    ("rank mismatch", lambda: xattn.attention(q3, torch.randn(5, 4), v3), r"same number of dims: q \(2, 3, 4\) vs k \(5, 4\)"),
    ("integer q", lambda: xattn.attention(torch.ones(2, 3, 4, dtype=torch.long), k3, v3),
     r"q must be a floating-point tensor.*torch.int64"),
    ("bool values", lambda: xattn.attention(q3, k3, torch.ones(2, 5, 6, dtype=torch.bool)), r"v must be a floating-point"),
    ("dtype mismatch", lambda: xattn.attention(q3, k3.double(), v3), r"q and k must share a dtype: q torch.float32 vs k torch.float64"),
    ("empty key sequence", lambda: xattn.attention(q3, torch.randn(2, 0, 4), torch.randn(2, 0, 6)),
     r"k \(2, 0, 4\) has an empty key sequence"),
    ("float mask", lambda: xattn.attention(q3, k3, v3, torch.zeros(2, 3, 5)), r"mask must be a bool tensor .*torch.float32.*from_additive_mask"),
    ("integer (HF) mask", lambda: xattn.attention(q3, k3, v3, torch.ones(2, 1, 5, dtype=torch.long)),
     r"mask must be a bool.*from_hf_attention_mask"),
    ("mask does not broadcast", lambda: xattn.attention(q3, k3, v3, torch.ones(2, 3, 4, dtype=torch.bool)),
     r"mask \(2, 3, 4\) does not broadcast to scores \(2, 3, 5\): dim 2 is 4, must be 1 or 5"),
    ("key padding mask without query axis", lambda: xattn.attention(q3, k3, v3, torch.ones(2, 5, dtype=torch.bool)),
     r"as many dims as scores: mask \(2, 5\) vs scores \(2, 3, 5\); a key padding mask \(B, Lk\) needs a query axis"),
    ("mask not a tensor", lambda: xattn.masked_softmax(torch.randn(3, 5), [[True] * 5] * 3), r"mask must be a torch.Tensor, got list"),
    ("q not a tensor", lambda: xattn.attention(np.ones((2, 3, 4)), k3, v3), r"q must be a torch.Tensor, got ndarray"),
    ("negative scale", lambda: xattn.attention_scores(q3, k3, scale=-1.0), r"scale must be a positive finite number"),
    ("nan scale", lambda: xattn.attention(q3, k3, v3, scale=float("nan")), r"scale must be a positive finite number"),
    ("aggregate Lk mismatch", lambda: xattn.aggregate(torch.rand(2, 3, 5), torch.randn(2, 4, 6)),
     r"weights \(2, 3, 5\) vs v \(2, 4, 6\)"),
    ("aggregate dtype mismatch", lambda: xattn.aggregate(torch.rand(2, 3, 5), torch.randn(2, 5, 6).double()),
     r"weights and v must share a dtype"),
    ("integer scores", lambda: xattn.masked_softmax(torch.ones(3, 5, dtype=torch.int32)), r"scores must be a floating-point tensor"),
    ("0-d scores", lambda: xattn.masked_softmax(torch.tensor(1.0)), r"scores must have at least 1 dims"),
    ("negative length", lambda: xattn.padding_mask([3, -1]), r"lengths must be >= 0, got \[3, -1\]"),
    ("max_len too short", lambda: xattn.padding_mask([3, 5], max_len=4), r"max_len 4 is shorter than the longest sequence, length 5"),
    ("2-D lengths", lambda: xattn.padding_mask(torch.ones(2, 2, dtype=torch.long)), r"lengths must be 1-D \(B,\), got lengths \(2, 2\)"),
    ("float lengths", lambda: xattn.padding_mask(torch.tensor([2.0, 3.0])), r"lengths must be integers"),
    ("HF mask with a 2", lambda: xattn.from_hf_attention_mask(torch.tensor([[1, 1, 2]])), r"only 0 and 1, found \[2\]"),
    ("HF mask given as bool", lambda: xattn.from_hf_attention_mask(torch.ones(1, 3, dtype=torch.bool)), r"integer 1s and 0s"),
    ("additive mask with a bias", lambda: xattn.from_additive_mask(torch.tensor([0.0, -0.5])), r"only 0 \(keep\) and -inf"),
    ("key_padding_mask as float", lambda: xattn.from_key_padding_mask(torch.zeros(2, 3)), r"key_padding_mask must be bool"),
    ("causal length 0", lambda: xattn.causal_mask(0), r"length must be a positive int, got 0"),
    ("cuda without cuda", lambda: xattn.get_device("cuda") if not torch.cuda.is_available() else xattn.get_device("cuda:99"),
     r"device 'cuda(:99)?' asked for"),
    ("unknown device", lambda: xattn.get_device("tpu"), r"unknown device 'tpu'"),
    ("negative seed", lambda: xattn.seed_everything(-1), r"seed must be an int in \[0, 2\*\*32\), got -1"),
    ("plot 3-D weights", lambda: xattn.plot_attention(torch.rand(2, 3, 4)), r"weights must be 2-D \(Lq, Lk\), got \(2, 3, 4\)"),
    ("plot too many tokens", lambda: xattn.plot_attention(torch.rand(2, 3), ["a", "b", "c"], ["x"]),
     r"query_tokens has 3 tokens but the weights have only 2 rows"),
]


@pytest.mark.parametrize("call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_there_are_at_least_fifteen_distinct_cases():
    assert len({c[0] for c in CASES}) == len(CASES) >= 15


def test_messages_name_both_tensors_with_full_shapes():
    with pytest.raises(ValueError) as info:
        xattn.attention_scores(torch.randn(2, 3, 4), torch.randn(2, 5, 6))
    assert re.search(r"q \(2, 3, 4\).*k \(2, 5, 6\)", str(info.value))
