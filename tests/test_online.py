"""xattn.online (blockwise attention, the softmax computed online) and xattn.memory."""

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import xattn
from xattn.memory import peak_tensor_bytes, saved_tensor_bytes
from xattn.online import online_attention, online_backward, online_forward

NEG_INF = float("-inf")


def reference(q, k, v, mask=None, causal=False):
    """Naive attention and log-sum-exp, from the full score matrix."""
    scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5  # (..., Lq, Lk)
    if causal:
        lq, lk = q.shape[-2], k.shape[-2]
        mask = torch.ones(lq, lk, dtype=torch.bool).tril() & (
            True if mask is None else mask
        )
    if mask is not None:
        scores = scores.masked_fill(~mask, NEG_INF)
    lse = torch.logsumexp(scores, dim=-1)
    weights = torch.softmax(scores, dim=-1).nan_to_num(0.0)
    return weights @ v, lse


@pytest.mark.parametrize("block_size", [1, 5, 16, 64, 1000])
@pytest.mark.parametrize("lq, lk", [(7, 23), (23, 7), (16, 16)])
def test_equal_to_sdpa_and_logsumexp_for_any_block_size(block_size, lq, lk):
    g = torch.Generator().manual_seed(lq * lk + block_size)
    q = torch.randn(2, 3, lq, 8, generator=g)
    k = torch.randn(2, 3, lk, 8, generator=g)
    v = torch.randn(2, 3, lk, 5, generator=g)
    keep = xattn.padding_mask([lk, max(1, lk // 3)])[:, None, None, :]
    out, lse = online_forward(q, k, v, keep, block_size=block_size)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, attn_mask=keep), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(lse, reference(q, k, v, keep)[1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("lq, lk", [(5, 12), (12, 5), (9, 9)])
def test_causal_is_sdpas_is_causal_and_skips_nothing_it_needs(lq, lk):
    q, k, v = torch.randn(2, lq, 4), torch.randn(2, lk, 4), torch.randn(2, lk, 3)
    out, lse = online_attention(q, k, v, causal=True, block_size=4)
    torch.testing.assert_close(
        out, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=1e-6, rtol=0
    )
    torch.testing.assert_close(lse, reference(q, k, v, causal=True)[1])
    keep = xattn.padding_mask([lk, 2])[:, None, :]  # causal and padding together
    out, _ = online_attention(q, k, v, keep, causal=True, block_size=3)
    torch.testing.assert_close(out, reference(q, k, v, keep, causal=True)[0])


def test_a_query_that_sees_nothing_gets_zeros_and_minus_infinity():
    q, k, v = torch.randn(2, 3, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    keep = xattn.padding_mask([6, 0])[:, None, :]
    out, lse = online_attention(q, k, v, keep, block_size=4)
    assert (out[1] == 0).all() and (lse[1] == NEG_INF).all()
    assert torch.isfinite(out[0]).all() and torch.isfinite(lse[0]).all()
    qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
    online_attention(qg, kg, vg, keep, block_size=4)[0].sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (qg, kg, vg))
    assert (qg.grad[1] == 0).all()


def test_large_scores_neither_overflow_nor_depend_on_the_block_order():
    q = torch.full((1, 2, 4), 30.0)
    k = torch.randn(1, 9, 4) * 30
    v = torch.randn(1, 9, 2)
    out, lse = online_forward(q, k, v, block_size=2)
    ref_out, ref_lse = reference(q, k, v)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, ref_out, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(lse, ref_lse, atol=1e-3, rtol=1e-5)


def test_gradients_equal_autograds_through_naive_attention():
    g = torch.Generator().manual_seed(0)
    shapes = [(2, 5, 4), (2, 7, 4), (2, 7, 3)]
    q, k, v = (torch.randn(s, generator=g, dtype=torch.float64) for s in shapes)
    keep = xattn.padding_mask([7, 0])[:, None, :]

    def only_finite_lse(*qkv):
        out, lse = online_attention(*qkv, keep, block_size=3)
        return out, lse[0]  # item 1 sees no key: its lse is -inf

    inputs = [t.clone().requires_grad_() for t in (q, k, v)]
    assert torch.autograd.gradcheck(only_finite_lse, inputs)
    causal = [t.clone().requires_grad_() for t in (q, k, v)]
    assert torch.autograd.gradcheck(
        lambda *qkv: online_attention(*qkv, causal=True, block_size=2), causal
    )
    ours = [t.clone().requires_grad_() for t in (q, k, v)]
    out, lse = online_attention(*ours, keep, block_size=2)
    (out.square().sum() + lse[0].sum()).backward()
    naive = [t.clone().requires_grad_() for t in (q, k, v)]
    ref_out, ref_lse = reference(*naive, keep)
    (ref_out.square().sum() + ref_lse[0].sum()).backward()
    for a, b in zip(ours, naive):
        torch.testing.assert_close(a.grad, b.grad)


def test_the_backward_alone_matches_autograd():
    q, k, v = (torch.randn(3, n, 4, dtype=torch.float64) for n in (4, 9, 9))
    out, lse = online_forward(q, k, v, block_size=4)
    dout, dlse = torch.randn_like(out), torch.randn_like(lse)
    grads = online_backward(q, k, v, out, lse, dout, dlse, block_size=4)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    ref_out, ref_lse = reference(*leaves)
    torch.autograd.backward([ref_out, ref_lse], [dout, dlse])
    for got, leaf in zip(grads, leaves):
        torch.testing.assert_close(got, leaf.grad)
    no_dlse = online_backward(q, k, v, out, lse, dout, None, block_size=4)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    reference(*leaves)[0].backward(dout)
    for got, leaf in zip(no_dlse, leaves):
        torch.testing.assert_close(got, leaf.grad)


def test_what_is_kept_grows_with_lk_not_with_lq_times_lk():
    def saved(fn, lk):
        q = torch.randn(1, 256, 16, requires_grad=True)
        k = torch.randn(1, lk, 16, requires_grad=True)
        v = torch.randn(1, lk, 16, requires_grad=True)
        return saved_tensor_bytes(lambda: fn(q, k, v))[1]

    def ours(q, k, v):
        return online_attention(q, k, v, block_size=32)

    def naive(q, k, v):
        return xattn.attention(q, k, v)

    small, large = saved(ours, 256), saved(ours, 1024)
    # q, out and lse stay the same; only k and v grow, by 768 rows of 16 floats
    assert large - small == 2 * 768 * 16 * 4
    assert saved(naive, 1024) > 4 * large  # naive keeps (Lq, Lk) weights
    assert saved(naive, 1024) - saved(naive, 256) >= 256 * 768 * 4


def test_the_peak_is_one_block_not_the_matrix():
    q = torch.randn(1, 128, 16)
    k, v = torch.randn(1, 4096, 16), torch.randn(1, 4096, 16)
    _, naive = peak_tensor_bytes(lambda: xattn.attention(q, k, v))
    _, ours = peak_tensor_bytes(lambda: online_forward(q, k, v, block_size=128))
    matrix = 128 * 4096 * 4
    assert naive >= 2 * matrix  # the scores and the weights
    assert ours < matrix / 8
    _, bigger_block = peak_tensor_bytes(lambda: online_forward(q, k, v, block_size=512))
    assert bigger_block > ours


def test_memory_measures_count_new_storage_once():
    x = torch.randn(1000)
    _, none = peak_tensor_bytes(lambda: x[:10].sum() * 0)  # a view costs nothing
    assert none <= 16
    _, one = peak_tensor_bytes(lambda: x + 1)
    assert one == 4000
    _, two = peak_tensor_bytes(lambda: ((x + 1) * 2).add_(1))  # the first is freed
    assert two == 8000
    w = torch.randn(1000, requires_grad=True)
    _, saved = saved_tensor_bytes(lambda: (w * x).sum())
    assert saved == 4000  # the gradient for w needs x; none is wanted for x
    u = torch.randn(1000, requires_grad=True)
    assert saved_tensor_bytes(lambda: (w * u).sum())[1] == 8000
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: (w * x).sum())[1] == 0
    with pytest.raises(ValueError, match="fn must be a function"):
        peak_tensor_bytes(3)


# ---- low precision: the running numbers are kept in float32 ----


def low_precision_case(dtype, seed=0):
    """The issue's case: 8 queries against 1,024 keys, and a float64 reference."""
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(1, 2, 8, 32, generator=g, dtype=torch.float64)
    k = torch.randn(1, 2, 1024, 32, generator=g, dtype=torch.float64)
    v = torch.randn(1, 2, 1024, 32, generator=g, dtype=torch.float64)
    return (q, k, v), tuple(t.to(dtype) for t in (q, k, v))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("block_size", [1, 7, 64, 1024])
def test_low_precision_is_as_close_to_float64_as_naive_attention(dtype, block_size):
    (q, k, v), low = low_precision_case(dtype)
    ref_out, ref_lse = reference(q, k, v)
    naive_err = (xattn.attention(*low)[0].double() - ref_out).abs().max()
    out, lse = online_forward(*low, block_size=block_size)
    assert out.dtype == dtype and lse.dtype == torch.float32
    out_err = (out.double() - ref_out).abs().max()
    lse_err = (lse.double() - ref_lse).abs().max()
    # Rounding the inputs alone moves the output by about this much; before the
    # running numbers were float32, blocks of 1 were off by ~0.1 and ~0.4.
    assert out_err <= 1.5 * naive_err + 1e-3, (out_err, naive_err)
    assert lse_err < 0.02, lse_err
    # the same inputs in float32 give what the low-precision call computes
    exact_low = online_forward(*(t.float() for t in low), block_size=block_size)
    torch.testing.assert_close(out.float(), exact_low[0], atol=1e-2, rtol=0)
    torch.testing.assert_close(lse, exact_low[1], atol=1e-4, rtol=0)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_gradients_are_close_to_float64(dtype):
    (q, k, v), low = low_precision_case(dtype, seed=1)
    g = torch.Generator().manual_seed(2)
    dout = torch.randn(1, 2, 8, 32, generator=g, dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in (q, k, v)]
    reference(*leaves)[0].backward(dout)
    for block_size in (1, 100):
        low_leaves = [t.clone().requires_grad_() for t in low]
        out, _ = online_attention(*low_leaves, block_size=block_size)
        out.backward(dout.to(dtype))
        for ours, ref in zip(low_leaves, leaves):
            assert ours.grad.dtype == dtype
            scale = ref.grad.abs().max()
            err = (ours.grad.double() - ref.grad).abs().max() / scale
            assert err < 0.03, (block_size, err)


def test_empty_query_batch_and_value_sizes_give_empty_results_as_attention_does():
    k, v = torch.randn(2, 6, 4), torch.randn(2, 6, 5)
    for q, kk, vv in [
        (torch.randn(2, 0, 4), k, v),  # no queries
        (torch.randn(0, 3, 4), torch.randn(0, 6, 4), torch.randn(0, 6, 5)),  # B = 0
        (torch.randn(2, 3, 4), k, torch.randn(2, 6, 0)),  # Dv = 0
    ]:
        out, lse = online_forward(q, kk, vv, block_size=4)
        want, _ = xattn.attention(q, kk, vv)
        assert out.shape == want.shape and lse.shape == q.shape[:-1]


# ---- chapter 10's exercise tests reject more wrong answers than the gate's ----

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "10_long_inputs.ipynb"
ROOT_ANSWERS = Path(__file__).resolve().parent / "answers" / "10_long_inputs"


def run_exercise_tests(grade_id: str, answer: str) -> None:
    """Run an exercise's test cell (hidden tests included) after ``answer``."""
    cells = json.loads(CHAPTER.read_text())["cells"]
    (test,) = [
        "".join(c["source"])
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    ]
    namespace = {"torch": torch, "math": math, "xattn": xattn, "F": F}
    exec(answer, namespace)
    exec(test, namespace)


# tests/answers/10_long_inputs/ex3.wrong.py forgets to clamp the last query block;
# this is the other bug a learner writes: an off-by-one at the tile edges.
OFF_BY_ONE_TILES = """
def causal_tiles(lq, lk, block_q, block_k):
    n_q, n_k = -(-lq // block_q), -(-lk // block_k)
    next_first_query = (torch.arange(n_q) + 1) * block_q
    first_key = torch.arange(n_k) * block_k
    return first_key[None, :] <= next_first_query[:, None]
"""


def test_exercise_10_3_rejects_an_off_by_one_at_the_tile_edges():
    solution = """
def causal_tiles(lq, lk, block_q, block_k):
    n_q, n_k = -(-lq // block_q), -(-lk // block_k)
    last = torch.clamp((torch.arange(n_q) + 1) * block_q, max=lq) - 1
    return torch.arange(n_k)[None, :] * block_k <= last[:, None]
"""
    run_exercise_tests("ex3-tests", solution)  # the tests pass a right answer
    with pytest.raises(AssertionError):
        run_exercise_tests("ex3-tests", OFF_BY_ONE_TILES)
    wrong = (ROOT_ANSWERS / "ex3.wrong.py").read_text()
    with pytest.raises(AssertionError):
        run_exercise_tests("ex3-tests", wrong)
