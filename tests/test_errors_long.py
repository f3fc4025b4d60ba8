"""Part IV, chapters 10 and 11: bad calls to xattn.online and xattn.approximate.

Every public function of the two modules, called wrongly, raises a ValueError that
names the argument and the rule it breaks: wrong shapes, dtypes and devices, empty
and zero sizes, NaN and infinite settings, out-of-range values, mismatched
lengths. Several of these once escaped as a RuntimeError, TypeError or IndexError
from deep inside einsum or slicing, or passed silently (``block_scores`` with keys
of another width, a block past the last key, a device named wrongly, random
features with no rows or with a NaN).
"""

import math

import pytest
import torch

import xattn
from xattn.approximate import (
    draw_features,
    kernel_attend,
    kernel_attention,
    local_attend,
    local_attention,
    local_mask,
    positive_features,
    topk_attend,
    topk_attention,
)
from xattn.online import (
    OnlineAttention,
    block_scores,
    online_attention,
    online_backward,
    online_forward,
)

g = torch.Generator().manual_seed(0)
q, k, v = (torch.randn(2, n, 4, generator=g) for n in (3, 6, 6))  # (B, L, D)
v5 = torch.randn(2, 6, 5, generator=g)  # Dv = 5
out, lse = online_forward(q, k, v5)  # (2, 3, 5), (2, 3)
dout = torch.randn(2, 3, 5, generator=g)
keep = torch.ones(2, 1, 6, dtype=torch.bool)  # (B, 1, Lk)

q4, k4, v4 = (torch.randn(2, 3, n, 8, generator=g) for n in (5, 7, 7))  # (B, H, L, Dh)
v4 = v4[..., :4]
w8 = draw_features(6, 8, generator=torch.Generator().manual_seed(41))  # (M, Dh)
keep4 = torch.ones(2, 1, 1, 7, dtype=torch.bool)

NAN, INF = float("nan"), float("inf")

ONLINE = [
    # ---- block_scores ----
    (
        "block_scores: keys of another width",
        lambda: block_scores(q, torch.randn(2, 6, 3), 0, 3),
        r"q and k must share the last dim: q \(2, 3, 4\) vs k \(2, 6, 3\)",
    ),
    (
        "block_scores: q of one dim",
        lambda: block_scores(torch.randn(4), k, 0, 3),
        r"q must have at least 2 dims .*q \(4,\)",
    ),
    (
        "block_scores: integer q",
        lambda: block_scores(q.long(), k, 0, 3),
        r"q must be a floating-point tensor.*torch.int64",
    ),
    (
        "block_scores: q and k dtypes differ",
        lambda: block_scores(q, k.double(), 0, 3),
        r"q and k must share a dtype: q torch.float32 vs k torch.float64",
    ),
    (
        "block_scores: start after stop",
        lambda: block_scores(q, k, 4, 2),
        r"0 <= start <= stop <= Lk = 6 .*got start=4, stop=2",
    ),
    (
        "block_scores: stop past the last key",
        lambda: block_scores(q, k, 0, 10),
        r"stop <= Lk = 6 for k \(2, 6, 4\), got start=0, stop=10",
    ),
    (
        "block_scores: negative start",
        lambda: block_scores(q, k, -2, 3),
        r"start must be an int >= 0, got -2",
    ),
    (
        "block_scores: float start",
        lambda: block_scores(q, k, 0.5, 3),
        r"start must be an int >= 0, got 0.5",
    ),
    (
        "block_scores: stop None",
        lambda: block_scores(q, k, 0, None),
        r"stop must be an int >= 0, got None",
    ),
    (
        "block_scores: float mask",
        lambda: block_scores(q, k, 0, 3, torch.ones(2, 3, 6)),
        r"mask must be a bool tensor .*from_additive_mask",
    ),
    (
        "block_scores: mask of the wrong length",
        lambda: block_scores(q, k, 0, 3, torch.ones(2, 3, 5, dtype=torch.bool)),
        r"mask \(2, 3, 5\) does not broadcast to scores \(2, 3, 6\)",
    ),
    (
        "block_scores: causal 1",
        lambda: block_scores(q, k, 0, 3, causal=1),
        r"causal must be True or False, got 1",
    ),
    # ---- online_forward and online_attention ----
    (
        "forward: block_size 0",
        lambda: online_forward(q, k, v, block_size=0),
        r"block_size must be a positive int, got 0",
    ),
    (
        "forward: block_size True",
        lambda: online_forward(q, k, v, block_size=True),
        r"block_size must be a positive int, got True",
    ),
    (
        "forward: block_size float",
        lambda: online_forward(q, k, v, block_size=32.0),
        r"block_size must be a positive int, got 32.0",
    ),
    (
        "forward: scale NaN",
        lambda: online_forward(q, k, v, scale=NAN),
        r"scale must be a positive finite number or None .*got nan",
    ),
    (
        "forward: scale inf",
        lambda: online_forward(q, k, v, scale=INF),
        r"scale must be a positive finite number .*got inf",
    ),
    (
        "forward: scale 0",
        lambda: online_forward(q, k, v, scale=0.0),
        r"scale must be a positive finite number .*got 0.0",
    ),
    (
        "forward: no keys",
        lambda: online_forward(q, torch.randn(2, 0, 4), torch.randn(2, 0, 5)),
        r"k \(2, 0, 4\) has an empty key sequence \(Lk = 0\)",
    ),
    (
        "forward: no features",
        lambda: online_forward(torch.randn(2, 3, 0), torch.randn(2, 6, 0), v),
        r"have no features \(D = 0\)",
    ),
    (
        "forward: k and v lengths differ",
        lambda: online_forward(q, k, torch.randn(2, 5, 4)),
        r"same number of keys .*k \(2, 6, 4\) vs v \(2, 5, 4\)",
    ),
    (
        "forward: v of another dtype",
        lambda: online_forward(q, k, v.double()),
        r"q and v must share a dtype: q torch.float32 vs v torch.float64",
    ),
    (
        "forward: batch sizes differ",
        lambda: online_forward(q, torch.randn(3, 6, 4), torch.randn(3, 6, 4)),
        r"leading .* dims: q \(2, 3, 4\) vs k \(3, 6, 4\)",
    ),
    (
        "forward: key padding mask without its query axis",
        lambda: online_forward(q, k, v, torch.ones(2, 6, dtype=torch.bool)),
        r"mask must have as many dims as scores: mask \(2, 6\) vs scores \(2, 3, 6\)",
    ),
    (
        "forward: integer (HF) mask",
        lambda: online_forward(q, k, v, torch.ones(2, 1, 6, dtype=torch.long)),
        r"mask must be a bool.*from_hf_attention_mask",
    ),
    (
        "attention: causal 'yes'",
        lambda: online_attention(q, k, v, causal="yes"),
        r"causal must be True or False, got 'yes'",
    ),
    (
        "attention: q a list",
        lambda: online_attention([[1.0]], k, v),
        r"q must be a torch.Tensor, got list",
    ),
    (
        "attention: mask does not broadcast",
        lambda: online_attention(q, k, v, torch.ones(2, 2, 6, dtype=torch.bool)),
        r"mask \(2, 2, 6\) does not broadcast to scores \(2, 3, 6\)",
    ),
    (
        "OnlineAttention.apply: block_size -1",
        lambda: OnlineAttention.apply(q, k, v, None, False, -1, None),
        r"block_size must be a positive int, got -1",
    ),
    # ---- online_backward ----
    (
        "backward: dout of another width",
        lambda: online_backward(q, k, v5, out, lse, dout[..., :2], None),
        r"dout must be \(\.\.\., Lq, Dv\) = \(2, 3, 5\) .*got dout \(2, 3, 2\)",
    ),
    (
        "backward: out of the wrong shape",
        lambda: online_backward(q, k, v5, out[:, :2], lse, dout, None),
        r"out must be \(\.\.\., Lq, Dv\) = \(2, 3, 5\) .*got out \(2, 2, 5\)",
    ),
    (
        "backward: lse with an extra dim",
        lambda: online_backward(q, k, v5, out, lse[..., None], dout, None),
        r"lse must be \(\.\.\., Lq\) = \(2, 3\) .*got lse \(2, 3, 1\)",
    ),
    (
        "backward: dlse of another length",
        lambda: online_backward(q, k, v5, out, lse, dout, torch.zeros(3)),
        r"dlse must be \(\.\.\., Lq\) = \(2, 3\) .*got dlse \(3,\)",
    ),
    (
        "backward: lse a float",
        lambda: online_backward(q, k, v5, out, 3.0, dout, None),
        r"lse must be a torch.Tensor, got float",
    ),
    (
        "backward: integer dout",
        lambda: online_backward(q, k, v5, out, lse, dout.long(), None),
        r"dout must be a floating-point tensor.*torch.int64",
    ),
    (
        "backward: out of another dtype",
        lambda: online_backward(q, k, v5, out.double(), lse, dout, None),
        r"out must have the dtype of v.*v torch.float32 vs out torch.float64",
    ),
    (
        "backward: block_size 0",
        lambda: online_backward(q, k, v5, out, lse, dout, None, block_size=0),
        r"block_size must be a positive int, got 0",
    ),
]

APPROXIMATE = [
    # ---- draw_features ----
    (
        "draw: n_features 0",
        lambda: draw_features(0, 8),
        r"n_features must be a positive int, got 0",
    ),
    (
        "draw: n_features True",
        lambda: draw_features(True, 8),
        r"n_features must be a positive int, got True",
    ),
    ("draw: d 0", lambda: draw_features(4, 0), r"d must be a positive int, got 0"),
    (
        "draw: d float",
        lambda: draw_features(4, 8.0),
        r"d must be a positive int, got 8.0",
    ),
    (
        "draw: orthogonal 1",
        lambda: draw_features(4, 4, orthogonal=1),
        r"orthogonal must be True or False",
    ),
    (
        "draw: a seed for a generator",
        lambda: draw_features(4, 4, generator=7),
        r"generator must be a CPU torch.Generator, got 7",
    ),
    (
        "draw: integer dtype",
        lambda: draw_features(4, 4, dtype=torch.int64),
        r"dtype must be a floating-point dtype, got torch.int64",
    ),
    (
        "draw: dtype as a string",
        lambda: draw_features(4, 4, dtype="float32"),
        r"dtype must be a floating-point dtype, got float32",
    ),
    (
        "draw: a device that does not exist",
        lambda: draw_features(4, 4, device="gpu"),
        r"device must be None, a torch.device or a name .*got 'gpu'",
    ),
    # ---- positive_features ----
    (
        "features: w of another width",
        lambda: positive_features(q4, torch.randn(6, 5)),
        r"x \(\.\.\., L, Dh\) and w \(M, Dh\) must share Dh: x \(2, 3, 5, 8\) vs w "
        r"\(6, 5\)",
    ),
    (
        "features: w of three dims",
        lambda: positive_features(q4, torch.randn(2, 6, 8)),
        r"must share Dh: x \(2, 3, 5, 8\) vs w \(2, 6, 8\)",
    ),
    (
        "features: w with no rows",
        lambda: positive_features(q4, torch.randn(0, 8)),
        r"w \(0, 8\) has no rows \(M = 0\)",
    ),
    (
        "features: w holds NaN",
        lambda: positive_features(q4, torch.full((6, 8), NAN)),
        r"w \(6, 8\) must be finite",
    ),
    (
        "features: w holds inf",
        lambda: positive_features(q4, w8.index_fill(0, torch.tensor([2]), INF)),
        r"w \(6, 8\) must be finite",
    ),
    (
        "features: integer w",
        lambda: positive_features(q4, torch.ones(6, 8, dtype=torch.long)),
        r"w must be a floating-point tensor",
    ),
    (
        "features: w of another dtype",
        lambda: positive_features(q4, w8.double()),
        r"x and w must share a dtype and device: x torch.float32 .* vs w "
        r"torch.float64",
    ),
    (
        "features: x of one dim",
        lambda: positive_features(torch.randn(8), w8),
        r"x must have at least 2 dims \(\.\.\., L, Dh\)",
    ),
    (
        "features: x with no features",
        lambda: positive_features(torch.randn(2, 3, 0), torch.randn(5, 0)),
        r"x \(2, 3, 0\) has no features \(Dh = 0\)",
    ),
    (
        "features: integer x",
        lambda: positive_features(q4.long(), w8),
        r"x must be a floating-point tensor",
    ),
    (
        "features: unknown stabilizer",
        lambda: positive_features(q4, w8, stabilize="max"),
        r"stabilize must be None, 'row' or 'all', got 'max'",
    ),
    (
        "features: stabilize True",
        lambda: positive_features(q4, w8, stabilize=True),
        r"stabilize must be None, 'row' or 'all', got True",
    ),
    (
        "features: float mask",
        lambda: positive_features(q4, w8, mask=torch.ones(2, 3, 5)),
        r"mask must be a bool tensor .*from_additive_mask",
    ),
    (
        "features: mask of the wrong length",
        lambda: positive_features(q4, w8, mask=torch.ones(2, 3, 4, dtype=torch.bool)),
        r"mask \(2, 3, 4\) does not broadcast to the rows of x \(2, 3, 5\)",
    ),
    # ---- kernel_attention ----
    (
        "kernel: features of the wrong width",
        lambda: kernel_attention(q4, k4, v4, features=torch.randn(6, 5)),
        r"q \(\.\.\., L, Dh\) and features \(M, Dh\) must share Dh: q \(2, 3, 5, 8\) "
        r"vs features \(6, 5\)",
    ),
    (
        "kernel: features with no rows",
        lambda: kernel_attention(q4, k4, v4, features=torch.randn(0, 8)),
        r"features \(0, 8\) has no rows \(M = 0\)",
    ),
    (
        "kernel: features hold NaN",
        lambda: kernel_attention(q4, k4, v4, features=torch.full((6, 8), NAN)),
        r"features \(6, 8\) must be finite",
    ),
    (
        "kernel: features float64 for float32 q",
        lambda: kernel_attention(q4, k4, v4, features=w8.double()),
        r"q and features must share a dtype and device: q torch.float32 .* vs "
        r"features torch.float64",
    ),
    (
        "kernel: features None",
        lambda: kernel_attention(q4, k4, v4, features=None),
        r"features must be a torch.Tensor, got NoneType",
    ),
    (
        "kernel: q and k widths differ",
        lambda: kernel_attention(q4, torch.randn(2, 3, 7, 6), v4, features=w8),
        r"q and k must share the last dim: q \(2, 3, 5, 8\) vs k \(2, 3, 7, 6\)",
    ),
    (
        "kernel: no keys",
        lambda: kernel_attention(q4, k4[..., :0, :], v4[..., :0, :], features=w8),
        r"has an empty key sequence \(Lk = 0\)",
    ),
    (
        "kernel: float mask",
        lambda: kernel_attention(q4, k4, v4, torch.ones(2, 1, 1, 7), features=w8),
        r"mask must be a bool tensor .*from_additive_mask",
    ),
    (
        "kernel: key padding mask without its query axis",
        lambda: kernel_attention(
            q4, k4, v4, torch.ones(2, 1, 7, dtype=torch.bool), features=w8
        ),
        r"mask must have as many dims as scores",
    ),
    (
        "kernel: a mask per query",
        lambda: kernel_attention(
            q4, k4, v4, torch.ones(2, 1, 5, 7, dtype=torch.bool), features=w8
        ),
        r"must be the same for every query, \(\.\.\., 1, Lk\); got mask "
        r"\(2, 1, 5, 7\) for q \(2, 3, 5, 8\)",
    ),
    (
        "kernel: need_weights 1",
        lambda: kernel_attention(q4, k4, v4, features=w8, need_weights=1),
        r"need_weights must be True or False",
    ),
    # ---- topk_attention ----
    (
        "top-k: top_k 0",
        lambda: topk_attention(q4, k4, v4, top_k=0),
        r"top_k must be a positive int, got 0",
    ),
    (
        "top-k: top_k float",
        lambda: topk_attention(q4, k4, v4, top_k=2.0),
        r"top_k must be a positive int, got 2.0",
    ),
    (
        "top-k: top_k NaN",
        lambda: topk_attention(q4, k4, v4, top_k=NAN),
        r"top_k must be a positive int, got nan",
    ),
    (
        "top-k: k and v lengths differ",
        lambda: topk_attention(q4, k4, torch.randn(2, 3, 6, 4), top_k=2),
        r"same number of keys .*k \(2, 3, 7, 8\) vs v \(2, 3, 6, 4\)",
    ),
    (
        "top-k: integer (HF) mask",
        lambda: topk_attention(
            q4, k4, v4, torch.ones(2, 1, 1, 7, dtype=torch.long), top_k=2
        ),
        r"mask must be a bool.*from_hf_attention_mask",
    ),
    # ---- local_mask and local_attention ----
    (
        "local_mask: block 0",
        lambda: local_mask(3, 4, 1, block=0),
        r"block must be a positive int, got 0",
    ),
    (
        "local_mask: negative offset",
        lambda: local_mask(3, 4, 1, offset=-1),
        r"offset must be an int >= 0, got -1",
    ),
    (
        "local_mask: negative lk",
        lambda: local_mask(3, -4, 1),
        r"lk must be an int >= 0",
    ),
    (
        "local_mask: float lq",
        lambda: local_mask(3.0, 4, 1),
        r"lq must be an int >= 0, got 3.0",
    ),
    (
        "local_mask: window NaN",
        lambda: local_mask(3, 4, NAN),
        r"window must be an int >= 0, got nan",
    ),
    (
        "local_mask: window inf",
        lambda: local_mask(3, 4, INF),
        r"window must be an int >= 0, got inf",
    ),
    (
        "local_mask: a device that does not exist",
        lambda: local_mask(3, 4, 1, device="nonsense"),
        r"device must be None, a torch.device or a name .*got 'nonsense'",
    ),
    (
        "local: negative window",
        lambda: local_attention(q4, k4, v4, window=-1),
        r"window must be an int >= 0, got -1",
    ),
    (
        "local: window None",
        lambda: local_attention(q4, k4, v4, window=None),
        r"window must be an int >= 0, got None",
    ),
    (
        "local: block True",
        lambda: local_attention(q4, k4, v4, window=1, block=True),
        r"block must be a positive int, got True",
    ),
    (
        "local: negative offset",
        lambda: local_attention(q4, k4, v4, window=1, offset=-3),
        r"offset must be an int >= 0, got -3",
    ),
    (
        "local: mask does not broadcast",
        lambda: local_attention(
            q4, k4, v4, torch.ones(2, 1, 1, 6, dtype=torch.bool), window=1
        ),
        r"mask \(2, 1, 1, 6\) does not broadcast to scores \(2, 3, 5, 7\)",
    ),
    # ---- the attend factories, and the functions they return ----
    ("topk_attend(-1)", lambda: topk_attend(-1), r"top_k must be a positive int"),
    ("local_attend(-2)", lambda: local_attend(-2), r"window must be an int >= 0"),
    (
        "local_attend block 0",
        lambda: local_attend(2, block=0),
        r"block must be a positive int, got 0",
    ),
    (
        "kernel_attend(0)",
        lambda: kernel_attend(0),
        r"n_features must be a positive int",
    ),
    (
        "kernel_attend seed -1",
        lambda: kernel_attend(4, seed=-1),
        r"seed must be an int >= 0, got -1",
    ),
    (
        "kernel_attend seed float",
        lambda: kernel_attend(4, seed=1.5),
        r"seed must be an int >= 0, got 1.5",
    ),
    (
        "kernel_attend orthogonal 1",
        lambda: kernel_attend(4, orthogonal=1),
        r"orthogonal must be True or False, got 1",
    ),
    (
        "kernel_attend need_weights 'yes'",
        lambda: kernel_attend(4, need_weights="yes"),
        r"need_weights must be True or False",
    ),
    (
        "a kernel attend called with keys of another width",
        lambda: kernel_attend(4)(q4, torch.randn(2, 3, 7, 6), v4, None),
        r"q and k must share the last dim",
    ),
    (
        "a top-k attend called with a float mask",
        lambda: topk_attend(2)(q4, k4, v4, torch.ones(2, 1, 1, 7)),
        r"mask must be a bool tensor",
    ),
    (
        "a local attend called with values of another length",
        lambda: local_attend(2)(q4, k4, torch.randn(2, 3, 6, 4), keep4),
        r"same number of keys",
    ),
]

CASES = ONLINE + APPROXIMATE


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_call_raises_a_value_error_naming_the_rule(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_every_public_function_of_both_modules_has_bad_calls_in_the_table():
    names = " ".join(c[0] for c in CASES)
    for short in (
        "block_scores",
        "forward",
        "backward",
        "attention:",
        "OnlineAttention",
        "draw",
        "features",
        "kernel:",
        "top-k",
        "local_mask",
        "local:",
        "topk_attend",
        "local_attend",
        "kernel_attend",
    ):
        assert short in names, short
    assert len({c[0] for c in CASES}) == len(CASES) >= 80


def test_the_good_calls_beside_the_bad_ones_run():
    # The table's tensors are valid: each case is wrong in one argument only.
    block_scores(q, k, 0, 3, keep, causal=True)
    block_scores(q, k, 6, 6)  # an empty block is allowed
    online_attention(q, k, v, keep, causal=True, block_size=2)
    online_backward(q, k, v5, out, lse, dout, torch.zeros(2, 3))
    positive_features(q4, w8, stabilize="all", mask=torch.ones(2, 3, 5, dtype=bool))
    kernel_attention(q4, k4, v4, keep4, features=w8, need_weights=True)
    topk_attention(q4, k4, v4, keep4, top_k=10)  # more than Lk: every key
    local_attention(q4, k4, v4, keep4, window=0, block=3, offset=2)
    assert local_mask(0, 4, 1).shape == (0, 4)
    draw_features(5, 3, orthogonal=False, device="cpu", dtype=torch.float64)
    for attend in (kernel_attend(4), topk_attend(2), local_attend(2)):
        attend(q4, k4, v4, keep4)
    assert math.isfinite(xattn.online_forward(q, k, v, scale=0.5)[1].sum().item())
