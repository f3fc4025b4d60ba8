"""Properties of the Part I functions, and equality with PyTorch's SDPA."""

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given

import xattn
from xattn import aggregate, attention, attention_scores, masked_softmax, padding_mask

DTYPES = [torch.float32, torch.float64, torch.bfloat16, torch.float16]
TOL = {  # (atol, rtol) against SDPA, per dtype
    torch.float64: (1e-10, 1e-10),
    torch.float32: (1e-5, 1e-5),
    torch.bfloat16: (2e-2, 2e-2),
    torch.float16: (2e-3, 2e-3),
}


@st.composite
def problems(draw, dtype=torch.float64, per_query_mask=None):
    """A random (q, k, v, mask) with batch B, lengths Lq and Lk, widths D and Dv.

    The mask is (B, Lq, Lk) or (B, 1, Lk) and may hide every key of some rows.
    """
    b = draw(st.integers(1, 3))
    lq = draw(st.integers(1, 6))
    lk = draw(st.integers(1, 7))
    d = draw(st.integers(1, 8))
    dv = draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**31 - 1))
    gen = torch.Generator().manual_seed(seed)
    q = torch.randn(b, lq, d, generator=gen, dtype=torch.float64).to(dtype)
    k = torch.randn(b, lk, d, generator=gen, dtype=torch.float64).to(dtype)
    v = torch.randn(b, lk, dv, generator=gen, dtype=torch.float64).to(dtype)
    per_query = draw(st.booleans()) if per_query_mask is None else per_query_mask
    rows = lq if per_query else 1
    mask = torch.rand(b, rows, lk, generator=gen) < draw(st.floats(0.2, 1.0))
    return q, k, v, mask


@given(problems())
def test_weights_are_a_distribution_over_visible_keys(p):
    q, k, v, mask = p
    out, weights = attention(q, k, v, mask)
    full = mask.expand_as(weights)
    assert (weights >= 0).all()
    assert (weights[~full] == 0).all(), "a masked key got weight"
    visible_rows = full.any(-1)
    sums = weights.sum(-1)
    torch.testing.assert_close(sums[visible_rows], torch.ones_like(sums[visible_rows]))
    assert (sums[~visible_rows] == 0).all()
    assert (out[~visible_rows] == 0).all(), (
        "a query with no visible key must output zero"
    )


@given(problems(per_query_mask=False))
def test_changing_masked_keys_and_values_changes_nothing(p):
    q, k, v, mask = p
    hidden = ~mask[:, 0, :]  # (B, Lk)
    k2, v2 = k.clone(), v.clone()
    k2[hidden] = 1e3 * torch.randn_like(k2[hidden])
    v2[hidden] = -7.5
    out1, w1 = attention(q, k, v, mask)
    out2, w2 = attention(q, k2, v2, mask)
    assert torch.equal(w1, w2)
    assert torch.equal(out1, out2)


@given(problems(per_query_mask=False), st.randoms(use_true_random=False))
def test_permuting_key_value_pairs_changes_nothing(p, rnd):
    q, k, v, mask = p
    perm = list(range(k.shape[-2]))
    rnd.shuffle(perm)
    perm = torch.tensor(perm)
    out1, w1 = attention(q, k, v, mask)
    out2, w2 = attention(q, k[:, perm], v[:, perm], mask[..., perm])
    torch.testing.assert_close(out1, out2)
    torch.testing.assert_close(w1[..., perm], w2)


@given(problems())
def test_batch_items_are_independent(p):
    q, k, v, mask = p
    out, _ = attention(q, k, v, mask)
    for b in range(q.shape[0]):
        alone, _ = attention(q[b : b + 1], k[b : b + 1], v[b : b + 1], mask[b : b + 1])
        torch.testing.assert_close(alone[0], out[b])
    # Scrambling every other item leaves item 0 exactly as it was.
    q2, k2, v2 = q.clone(), k.clone(), v.clone()
    q2[1:], k2[1:], v2[1:] = (
        torch.randn_like(q2[1:]),
        torch.randn_like(k2[1:]),
        torch.randn_like(v2[1:]),
    )
    assert torch.equal(attention(q2, k2, v2, mask)[0][0], out[0])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@given(data=st.data())
def test_equal_to_sdpa(dtype, data):
    q, k, v, mask = data.draw(problems(dtype=dtype))
    use_mask = data.draw(st.booleans())
    mask = mask if use_mask else None
    out, _ = attention(q, k, v, mask)
    # SDPA wants Dv == D only on some backends; the math path takes any Dv.
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    atol, rtol = TOL[dtype]
    torch.testing.assert_close(out, ref, atol=atol, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_equal_to_sdpa_with_heads_and_padding(dtype):
    """The shapes the book uses: (B, H, L, Dh), Lq != Lk, a key padding mask."""
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(3, 4, 5, 16, generator=gen).to(dtype)
    k = torch.randn(3, 4, 9, 16, generator=gen).to(dtype)
    v = torch.randn(3, 4, 9, 16, generator=gen).to(dtype)
    mask = padding_mask([9, 4, 1], 9)[:, None, None, :]  # (B, 1, 1, Lk)
    out, _ = attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    atol, rtol = TOL[dtype]
    torch.testing.assert_close(out, ref, atol=atol, rtol=rtol)


def test_custom_scale_matches_sdpa():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 3, 4, generator=gen) for _ in range(3))
    out, _ = attention(q, k, v, scale=0.3)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, scale=0.3))


def test_softmax_gradcheck_with_a_fully_masked_row():
    gen = torch.Generator().manual_seed(2)
    scores = torch.randn(
        2, 3, 5, generator=gen, dtype=torch.float64, requires_grad=True
    )
    mask = torch.rand(2, 3, 5, generator=gen) < 0.6
    mask[0, 1] = False  # a row with no visible key
    mask[1, 2] = True
    assert torch.autograd.gradcheck(lambda s: masked_softmax(s, mask), (scores,))
    assert torch.autograd.gradgradcheck(lambda s: masked_softmax(s, mask), (scores,))


@pytest.mark.parametrize(
    "dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str
)
def test_fully_masked_rows_give_zeros_and_finite_gradients(dtype):
    gen = torch.Generator().manual_seed(3)
    q = torch.randn(2, 3, 8, generator=gen).to(dtype).requires_grad_()
    k = torch.randn(2, 4, 8, generator=gen).to(dtype).requires_grad_()
    v = torch.randn(2, 4, 8, generator=gen).to(dtype).requires_grad_()
    mask = torch.ones(2, 3, 4, dtype=torch.bool)
    mask[1] = False  # item 1 sees nothing at all
    mask[0, 2] = False  # one query of item 0 sees nothing
    out, weights = attention(q, k, v, mask)
    assert (weights[1] == 0).all() and (out[1] == 0).all()
    assert (weights[0, 2] == 0).all() and (out[0, 2] == 0).all()
    out.float().square().sum().backward()
    for t in (q, k, v):
        assert torch.isfinite(t.grad).all()
    assert (q.grad[1] == 0).all() and (q.grad[0, 2] == 0).all()


def test_pieces_compose_to_attention():
    gen = torch.Generator().manual_seed(4)
    q, k, v = (
        torch.randn(5, 8, generator=gen),
        torch.randn(7, 8, generator=gen),
        torch.randn(7, 3, generator=gen),
    )
    mask = torch.rand(5, 7, generator=gen) < 0.7
    scores = attention_scores(q, k)
    torch.testing.assert_close(scores, q @ k.T / 8**0.5)
    out, w = attention(q, k, v, mask)
    torch.testing.assert_close(w, masked_softmax(scores, mask))
    # attention() folds the mask into the product; composed the same way, bit for bit:
    folded = attention_scores(q, k, bias=xattn.mask_bias(mask))
    weights = masked_softmax(folded, mask, biased=True)
    assert torch.equal(w, weights)
    assert torch.equal(out, aggregate(weights, v))


def test_without_mask_is_plain_softmax():
    scores = torch.randn(4, 6)
    torch.testing.assert_close(masked_softmax(scores), scores.softmax(-1))
    all_true = torch.ones(4, 6, dtype=torch.bool)
    torch.testing.assert_close(masked_softmax(scores, all_true), scores.softmax(-1))


def test_huge_scores_do_not_overflow():
    scores = torch.tensor([[1000.0, 999.0, -1000.0]])
    w = masked_softmax(scores)
    assert torch.isfinite(w).all()
    torch.testing.assert_close(w.sum(-1), torch.ones(1))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_visible_keys_win_whatever_their_score(dtype):
    """A visible score at the dtype's lowest value must not tie with the hidden keys."""
    lowest = torch.finfo(dtype).min
    scores = torch.tensor([[lowest, 0.0, 5.0], [lowest, lowest, 1.0]], dtype=dtype)
    mask = torch.tensor([[True, False, False], [True, True, False]])
    weights = masked_softmax(scores, mask)
    torch.testing.assert_close(
        weights.float(), torch.tensor([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0]])
    )
    out, w = attention(
        torch.ones(1, 2, dtype=dtype),
        torch.ones(3, 2, dtype=dtype),
        torch.eye(3, dtype=dtype),
        mask[:1],
    )
    assert (w[0, 1:] == 0).all()


def test_mask_bias_is_zero_or_minus_infinity_and_finite_on_empty_rows():
    mask = torch.tensor([[[True, False, True], [False, False, False]]])  # (1, 2, 3)
    bias = xattn.mask_bias(mask, torch.float16)
    assert bias.dtype == torch.float16 and bias.shape == mask.shape
    assert bias[0, 0].tolist() == [0.0, float("-inf"), 0.0]
    assert bias[0, 1].tolist() == [0.0, 0.0, 0.0], (
        "a row with no visible key stays finite"
    )


@given(problems(), st.booleans())
def test_the_bias_folded_into_the_product_equals_adding_it(p, heads):
    q, k, v, mask = p
    if heads:
        q, k, mask = (
            q[:, None].expand(-1, 2, -1, -1),
            k[:, None].expand(-1, 2, -1, -1),
            mask[:, None],
        )
    bias = xattn.mask_bias(mask, q.dtype)
    folded = attention_scores(q, k, bias=bias)
    torch.testing.assert_close(folded, attention_scores(q, k) + bias)
    torch.testing.assert_close(
        masked_softmax(folded, mask, biased=True),
        masked_softmax(attention_scores(q, k), mask),
    )


def test_an_extra_pass_only_when_a_row_sees_nothing(monkeypatch):
    """Rows with no visible key are zeroed by a product, run only when one exists."""
    calls = []
    real = torch.Tensor.__mul__

    def spy(self, other):
        if isinstance(other, torch.Tensor) and other.dtype == torch.bool:
            calls.append(tuple(self.shape))
        return real(self, other)

    monkeypatch.setattr(torch.Tensor, "__mul__", spy)
    scores = torch.randn(2, 3, 4)
    masked_softmax(scores, padding_mask([4, 2])[:, None, :])
    assert calls == []
    masked_softmax(scores, padding_mask([4, 0])[:, None, :])
    assert calls == [(2, 3, 4)]


@pytest.mark.parametrize(
    "q_shape, k_shape",
    [((2, 0, 4), (2, 5, 4)), ((0, 3, 4), (0, 5, 4)), ((2, 0, 3, 4), (2, 0, 5, 4))],
    ids=["no queries", "empty batch", "no heads"],
)
def test_an_empty_axis_gives_an_empty_result_with_a_mask(q_shape, k_shape):
    q, k, v = torch.randn(q_shape), torch.randn(k_shape), torch.randn(k_shape)
    mask = torch.ones(*q_shape[:-2], 1, k_shape[-2], dtype=torch.bool)
    out, weights = xattn.attention(q, k, v, mask)
    assert out.shape == q_shape
    assert weights.shape == (*q_shape[:-1], k_shape[-2])
    layer = xattn.MultiHeadCrossAttention(8, 2)
    x = torch.randn(2, 0, 8)
    assert (
        layer(x, torch.randn(2, 5, 8), xattn.padding_mask([5, 3]))[0].shape == x.shape
    )
