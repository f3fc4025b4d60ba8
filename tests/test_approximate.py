"""Approximate attention: random-feature kernels and sparse patterns (chapter 11)."""

import json
import math
from pathlib import Path

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


def gen(seed):
    return torch.Generator().manual_seed(seed)


def qkv(b=2, h=3, lq=5, lk=7, d=8, dv=4, scale=1.0, seed=0, dtype=torch.float64):
    g = gen(seed)
    q = scale * torch.randn(b, h, lq, d, generator=g, dtype=dtype)
    k = scale * torch.randn(b, h, lk, d, generator=g, dtype=dtype)
    v = torch.randn(b, h, lk, dv, generator=g, dtype=dtype)
    return q, k, v


def key_mask(lengths, lk):
    return xattn.padding_mask(lengths, max_len=lk)[:, None, None, :]  # (B, 1, 1, Lk)


# ---- random features ----


def test_draw_features_is_reproducible_and_orthogonal_in_blocks():
    w = draw_features(20, 8, generator=gen(1), dtype=torch.float64)
    assert w.shape == (20, 8) and w.dtype == torch.float64
    assert torch.equal(w, draw_features(20, 8, generator=gen(1), dtype=torch.float64))
    assert not torch.equal(
        w, draw_features(20, 8, generator=gen(2), dtype=torch.float64)
    )
    for block in (w[:8], w[8:16], w[16:]):
        gram = block @ block.T
        off = gram - torch.diag(gram.diagonal())
        assert off.abs().max() < 1e-10
    iid = draw_features(8, 8, orthogonal=False, generator=gen(1), dtype=torch.float64)
    gram = iid @ iid.T
    assert (gram - torch.diag(gram.diagonal())).abs().max() > 0.1
    assert draw_features(3, 8, generator=gen(0)).dtype == torch.float32


@pytest.mark.parametrize("orthogonal", [True, False])
def test_feature_rows_are_distributed_as_gaussian_vectors(orthogonal):
    d = 6
    w = draw_features(60_000, d, orthogonal=orthogonal, generator=gen(3))
    sq = (w.double() ** 2).sum(-1)
    assert abs(sq.mean().item() - d) < 0.1  # E|w|^2 = d
    assert abs(sq.var().item() - 2 * d) < 0.5  # chi-squared with d degrees: var 2d
    assert w.double().mean(0).abs().max() < 0.03  # directions uniform: no bias
    cov = (w.double().T @ w.double()) / len(w)
    assert torch.allclose(cov, torch.eye(d, dtype=torch.float64), atol=0.05)


def test_positive_features_are_the_favor_plus_formula_and_positive():
    x = torch.randn(2, 5, 4, generator=gen(4), dtype=torch.float64)
    w = torch.randn(7, 4, generator=gen(5), dtype=torch.float64)
    phi = positive_features(x, w)
    want = torch.exp(x @ w.T - (x**2).sum(-1, keepdim=True) / 2) / math.sqrt(7)
    torch.testing.assert_close(phi, want)
    assert (phi > 0).all()
    row = positive_features(x, w, stabilize="row")
    assert torch.allclose(row.amax(-1), torch.full((2, 5), 7**-0.5, dtype=x.dtype))
    ratio = phi / row  # a constant per row
    assert torch.allclose(ratio, ratio[..., :1].expand_as(ratio))
    every = positive_features(x, w, stabilize="all")
    ratio = phi / every  # one constant per item (the last two dims)
    assert torch.allclose(ratio, ratio[:, :1, :1].expand_as(ratio))


def test_positive_features_estimate_the_softmax_kernel_without_bias():
    x = 0.2 * torch.randn(1, 8, generator=gen(6), dtype=torch.float64)
    y = 0.2 * torch.randn(1, 8, generator=gen(7), dtype=torch.float64)
    for orthogonal in (True, False):
        est = []
        for s in range(3000):
            w = draw_features(8, 8, orthogonal=orthogonal, generator=gen(s))
            w = w.double()
            est.append((positive_features(x, w) @ positive_features(y, w).T).item())
        est = torch.tensor(est, dtype=torch.float64)
        se = est.std() / math.sqrt(len(est))
        assert abs(est.mean() - math.exp((x @ y.T).item())) < 4 * se


def test_hidden_rows_get_zero_features_and_do_not_move_the_stabilizer():
    x = torch.randn(2, 6, 4, generator=gen(8), dtype=torch.float64)
    w = torch.randn(5, 4, generator=gen(9), dtype=torch.float64)
    mask = torch.tensor([[True] * 4 + [False] * 2, [False] * 6])  # (B, L)
    loud = x.clone()
    loud[0, 4:] = 50.0  # huge hidden rows would dominate the max
    phi = positive_features(loud, w, stabilize="all", mask=mask)
    assert (phi[0, 4:] == 0).all() and (phi[1] == 0).all()  # item 1 all hidden: no NaN
    quiet = positive_features(x[:1, :4], w, stabilize="all")
    torch.testing.assert_close(phi[0, :4], quiet[0])


def test_stabilized_features_survive_where_plain_ones_underflow():
    x = 30 * torch.randn(1, 3, 8, generator=gen(10))  # exp(-|x|^2 / 2) is 0 in float32
    w = draw_features(16, 8, generator=gen(11))
    assert (positive_features(x, w) == 0).all()
    for stabilize in ("row", "all"):
        phi = positive_features(x, w, stabilize=stabilize)
        assert torch.isfinite(phi).all() and phi.max() == pytest.approx(
            16**-0.5, rel=1e-4
        )
    assert (positive_features(x, w, stabilize="row").amax(-1) > 0.2).all()  # each row


# ---- kernelized attention ----


def test_kernel_attention_is_the_explicit_formula_by_associativity():
    q, k, v = qkv(seed=12)
    mask = key_mask([7, 3], 7)
    w = draw_features(32, 8, generator=gen(13), dtype=torch.float64)
    out, weights = kernel_attention(q, k, v, mask, features=w, need_weights=True)
    s = 8**-0.25
    a = positive_features(q * s, w) @ positive_features(k * s, w).transpose(-2, -1)
    a = a * mask  # (B, H, Lq, Lk)
    explicit = a / a.sum(-1, keepdim=True)
    torch.testing.assert_close(weights, explicit)
    torch.testing.assert_close(out, explicit @ v)
    assert (weights >= 0).all() and (weights[1, ..., 3:] == 0).all()
    only, none = kernel_attention(q, k, v, mask, features=w)
    assert none is None and torch.equal(only, out)


def test_hidden_keys_contribute_nothing_and_empty_queries_get_zero():
    q, k, v = qkv(seed=14)
    mask = key_mask([7, 0], 7)  # item 1 has no key at all
    w = draw_features(16, 8, generator=gen(15), dtype=torch.float64)
    out, weights = kernel_attention(q, k, v, mask, features=w, need_weights=True)
    assert (out[1] == 0).all() and (weights[1] == 0).all()
    part = key_mask([4, 4], 7)
    junk_k, junk_v = k.clone(), v.clone()
    junk_k[..., 4:, :], junk_v[..., 4:, :] = 1e3, -1e3
    a = kernel_attention(q, k, v, part, features=w)[0]
    b = kernel_attention(q, junk_k, junk_v, part, features=w)[0]
    c = kernel_attention(q, k[..., :4, :], v[..., :4, :], features=w)[0]
    assert torch.equal(a, b)
    torch.testing.assert_close(a, c)


def test_empty_queries_have_finite_zero_gradients():
    q, k, v = (t.requires_grad_() for t in qkv(seed=16))
    w = draw_features(16, 8, generator=gen(17), dtype=torch.float64)
    out, _ = kernel_attention(q, k, v, key_mask([7, 0], 7), features=w)
    out.sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert (q.grad[1] == 0).all() and (v.grad[1] == 0).all()


def test_many_features_approach_exact_attention():
    q, k, v = qkv(scale=0.5, seed=18)
    mask = key_mask([7, 5], 7)
    exact, _ = xattn.attention(q, k, v, mask)
    errors = []
    for m in (64, 4096, 65536):
        w = draw_features(m, 8, generator=gen(19), dtype=torch.float64)
        errors.append((kernel_attention(q, k, v, mask, features=w)[0] - exact).abs())
    assert errors[0].mean() > errors[1].mean() > errors[2].mean()
    assert errors[2].max() < 0.05 and errors[2].mean() < 0.01


def test_kernel_attention_gradients():
    q, k, v = (t[:1, :1].requires_grad_() for t in qkv(lq=3, lk=4, d=4, seed=20))
    w = draw_features(6, 4, generator=gen(21), dtype=torch.float64)
    mask = key_mask([3], 4)
    assert torch.autograd.gradcheck(
        lambda a, b, c: kernel_attention(a, b, c, mask, features=w, need_weights=True),
        (q, k, v),
    )


def test_a_per_query_mask_is_refused_unless_there_is_one_query():
    q, k, v = qkv(seed=22)
    w = draw_features(8, 8, generator=gen(23), dtype=torch.float64)
    per_query = torch.ones(2, 1, 5, 7, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"same for every query, \(\.\.\., 1, Lk\)"):
        kernel_attention(q, k, v, per_query, features=w)
    out, _ = kernel_attention(q[..., :1, :], k, v, per_query[..., :1, :], features=w)
    assert out.shape == (2, 3, 1, 4)


# ---- top-k ----


@pytest.mark.parametrize("lengths", [None, [7, 4]])
def test_top_k_of_every_key_is_exact_attention_bit_for_bit(lengths):
    q, k, v = qkv(seed=24, dtype=torch.float32)
    mask = None if lengths is None else key_mask(lengths, 7)
    exact = xattn.attention(q, k, v, mask)
    for top_k in (7, 50):
        got = topk_attention(q, k, v, mask, top_k=top_k)
        assert torch.equal(got[0], exact[0]) and torch.equal(got[1], exact[1])


def test_top_k_keeps_the_k_best_and_moves_the_dropped_weight_onto_them():
    q, k, v = qkv(lk=9, seed=25)
    mask = key_mask([9, 6], 9)
    _, exact = xattn.attention(q, k, v, mask)
    out, weights = topk_attention(q, k, v, mask, top_k=3)
    assert ((weights > 0).sum(-1) == 3).all()
    chosen = exact.topk(3, dim=-1).indices
    assert torch.equal(
        (weights > 0), torch.zeros_like(weights).scatter(-1, chosen, 1) > 0
    )
    kept = exact.gather(-1, chosen).sum(-1)  # S
    torch.testing.assert_close(
        weights.gather(-1, chosen), exact.gather(-1, chosen) / kept[..., None]
    )
    tv = 0.5 * (weights - exact).abs().sum(-1)
    torch.testing.assert_close(tv, 1 - kept)
    torch.testing.assert_close(out, weights @ v)
    assert torch.equal(weights.argmax(-1), exact.argmax(-1))


def test_top_k_never_picks_a_hidden_key_and_zeroes_empty_queries():
    q, k, v = qkv(seed=26)
    weights = topk_attention(q, k, v, key_mask([2, 0], 7), top_k=5)[1]
    assert ((weights[0] > 0).sum(-1) == 2).all() and (weights[0, ..., 2:] == 0).all()
    assert (weights[1] == 0).all()
    per_query = torch.rand(2, 3, 5, 7, generator=gen(27)) > 0.5
    per_query[..., 0] = True
    w = topk_attention(q, k, v, per_query, top_k=2)[1]
    assert (w[~per_query] == 0).all()
    assert ((w > 0).sum(-1) == per_query.sum(-1).clamp(max=2)).all()


def test_top_k_gradients():
    q, k, v = (t[:1, :1].requires_grad_() for t in qkv(lq=3, lk=6, d=4, seed=28))
    mask = key_mask([5], 6)
    assert torch.autograd.gradcheck(
        lambda a, b, c: topk_attention(a, b, c, mask, top_k=2), (q, k, v)
    )


# ---- local windows and blocks ----


def test_local_mask_patterns():
    assert local_mask(4, 6, 1).int().tolist() == [
        [1, 1, 0, 0, 0, 0],
        [1, 1, 1, 0, 0, 0],
        [0, 1, 1, 1, 0, 0],
        [0, 0, 1, 1, 1, 0],
    ]
    assert torch.equal(local_mask(5, 5, 0), torch.eye(5, dtype=torch.bool))
    blocks = local_mask(4, 6, 0, block=2).int().tolist()
    assert blocks == [
        [1, 1, 0, 0, 0, 0],
        [1, 1, 0, 0, 0, 0],
        [0, 0, 1, 1, 0, 0],
        [0, 0, 1, 1, 0, 0],
    ]
    assert local_mask(2, 6, 1, offset=3).int().tolist() == [
        [0, 0, 1, 1, 1, 0],
        [0, 0, 0, 1, 1, 1],
    ]
    assert local_mask(3, 8, 1, block=2)[0].int().tolist() == [1, 1, 1, 1, 0, 0, 0, 0]
    for lq, lk, offset in ((5, 9, 0), (9, 5, 0), (3, 4, 6)):
        widest = max(lq + offset, lk)
        assert local_mask(lq, lk, widest, offset=offset).all()
        assert local_mask(lq, lk, widest, block=3, offset=offset).all()
    assert local_mask(0, 4, 2).shape == (0, 4)


@pytest.mark.parametrize("lengths", [None, [7, 3]])
def test_a_window_over_every_key_is_exact_attention_bit_for_bit(lengths):
    q, k, v = qkv(seed=29, dtype=torch.float32)
    mask = None if lengths is None else key_mask(lengths, 7)
    exact = xattn.attention(q, k, v, mask)
    for window, block in ((7, 1), (100, 1), (2, 4)):
        got = local_attention(q, k, v, mask, window=window, block=block)
        assert torch.equal(got[0], exact[0]) and torch.equal(got[1], exact[1])


def test_local_attention_is_exact_attention_under_its_pattern():
    q, k, v = qkv(lq=6, lk=9, seed=30)
    mask = key_mask([9, 5], 9)
    for window, block, offset in ((1, 1, 0), (0, 3, 0), (2, 1, 3)):
        pattern = local_mask(6, 9, window, block=block, offset=offset)
        got = local_attention(q, k, v, mask, window=window, block=block, offset=offset)
        want = xattn.attention(q, k, v, mask & pattern)
        torch.testing.assert_close(got[0], want[0])
        assert (got[1][..., ~pattern] == 0).all()
    # item 1 has 5 keys; query 0 at offset 6 with window 0 sees key 6 only: hidden
    out, weights = local_attention(q, k, v, mask, window=0, offset=6)
    assert (out[1, :, 0] == 0).all() and (weights[1, :, 0] == 0).all()


# ---- the attend factories, in a model ----


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = xattn.Seq2SeqConfig(13, 11, d_model=16, n_heads=2, n_layers=2, d_ff=32)
    model = xattn.Seq2Seq(cfg).eval()
    src = torch.randint(3, 13, (3, 9), generator=gen(31))
    src[1, 6:] = 0
    src[2, 2:] = 0
    tgt = torch.randint(3, 11, (3, 5), generator=gen(32))
    return model, src, tgt


def test_sparse_attends_that_see_every_key_leave_the_model_unchanged(tiny):
    model, src, tgt = tiny
    with torch.no_grad():
        before = model(src, tgt)
        for attend in (topk_attend(9), local_attend(9), local_attend(0, block=16)):
            with xattn.use_attention(model, attend):
                assert torch.equal(model(src, tgt), before)
        with xattn.use_attention(model, topk_attend(1)):
            assert not torch.allclose(model(src, tgt), before)


def test_kernel_attend_is_reproducible_from_its_seed(tiny):
    model, src, tgt = tiny
    with torch.no_grad():
        outs = []
        for seed in (0, 0, 1):
            with xattn.use_attention(model, kernel_attend(8, seed=seed)):
                outs.append(model(src, tgt))
        assert torch.equal(outs[0], outs[1]) and not torch.allclose(outs[0], outs[2])
        attend = kernel_attend(8, seed=0, need_weights=True)
        with xattn.use_attention(model, attend):
            model.decoder.keep_cross_weights()
            assert torch.equal(model(src, tgt), outs[0])
            weights = model.decoder.cross_weights()  # (N, B, H, Lq, Lk)
            model.decoder.keep_cross_weights(False)
    assert weights.shape == (2, 3, 2, 5, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 2, 5))
    assert (weights[:, 2, ..., 2:] == 0).all()  # item 2's padding


def test_kernel_and_top_k_attends_decode_the_same_with_and_without_caches(tiny):
    model, src, _ = tiny
    for attend in (kernel_attend(16), topk_attend(2)):
        with xattn.use_attention(model, attend):
            cached, _ = xattn.greedy_decode(model, src, 6, bos_id=1, eos_id=None)
            plain, _ = xattn.greedy_decode(
                model, src, 6, bos_id=1, eos_id=None, use_cache=False
            )
        assert torch.equal(cached, plain)


def test_training_through_kernel_attention_reaches_every_projection(tiny):
    model, src, tgt = tiny
    model.zero_grad()
    with xattn.use_attention(model, kernel_attend(8)):
        model(src, tgt).sum().backward()
    for layer in model.decoder.layers:
        for proj in (layer.cross_attn.q_proj, layer.cross_attn.k_proj):
            assert proj.weight.grad is not None and proj.weight.grad.abs().sum() > 0
    model.zero_grad()


# ---- chapter 11's exercise tests reject more wrong answers than the gate's ----

CHAPTER = Path(__file__).resolve().parents[1] / "chapters" / "11_approximate.ipynb"
ANSWERS = Path(__file__).resolve().parent / "answers" / "11_approximate"


def run_exercise_tests(grade_id: str, answer: str) -> None:
    """Run an exercise's test cell (hidden tests included) after ``answer``."""
    cells = json.loads(CHAPTER.read_text())["cells"]
    (test,) = [
        "".join(c["source"])
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id
    ]
    namespace = {
        "torch": torch,
        "math": math,
        "xattn": xattn,
        "positive_features": positive_features,
    }
    exec(answer, namespace)
    exec(test, namespace)


# tests/answers/11_approximate/ex4.wrong.py leaves out the stabilizers; this is the
# other bug a learner writes: the running numerator, but the normalizer over every
# key, future ones included.
NORMALIZER_OVER_ALL_KEYS = """
def causal_kernel_attention(q, k, v, w):
    s = q.shape[-1] ** -0.25
    phi_q = positive_features(q * s, w, stabilize="row")
    phi_k = positive_features(k * s, w, stabilize="all")
    states = torch.einsum("... k m, ... k d -> ... k m d", phi_k, v).cumsum(-3)
    num = torch.einsum("... q m, ... q m d -> ... q d", phi_q, states)
    return num / (phi_q * phi_k.sum(-2, keepdim=True)).sum(-1, keepdim=True)
"""


def test_exercise_11_4_rejects_both_wrong_answers_and_passes_both_right_ones():
    for right in ("ex4.alternative.py",):
        run_exercise_tests("ex4-tests", (ANSWERS / right).read_text())
    for wrong in (NORMALIZER_OVER_ALL_KEYS, (ANSWERS / "ex4.wrong.py").read_text()):
        with pytest.raises(AssertionError):
            run_exercise_tests("ex4-tests", wrong)
