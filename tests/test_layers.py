"""Attention layers: head bookkeeping, equal to nn.MultiheadAttention, the fast path."""

import hypothesis.strategies as st
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from torch import nn

import xattn
from xattn import CrossAttention, MultiHeadCrossAttention, merge_heads, split_heads


def make_pair(d_model=16, n_heads=4, bias=True, seed=0, dtype=torch.float32):
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(d_model, n_heads, batch_first=True, bias=bias).to(dtype)
    ours = MultiHeadCrossAttention(d_model, n_heads, bias=bias).to(dtype)
    xattn.load_torch_multihead_attention(ours, mha)
    return ours, mha


@given(
    st.integers(1, 3),
    st.integers(1, 6),
    st.sampled_from([(8, 1), (8, 2), (12, 3), (16, 4)]),
)
def test_split_and_merge_round_trip(b, length, dims):
    d, h = dims
    x = torch.randn(b, length, d)
    heads = split_heads(x, h)
    assert heads.shape == (b, h, length, d // h)
    assert torch.equal(merge_heads(heads), x)
    # head i holds features [i * Dh, (i + 1) * Dh)
    dh = d // h
    for i in range(h):
        assert torch.equal(heads[:, i], x[..., i * dh : (i + 1) * dh])


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_heads", [1, 2, 4])
def test_equal_to_torch_multihead_attention(bias, n_heads):
    ours, mha = make_pair(16, n_heads, bias)
    x, memory = torch.randn(3, 5, 16), torch.randn(3, 9, 16)
    keep = xattn.padding_mask([9, 4, 1], 9)  # (B, Lk), True = attend
    ref, ref_w = mha(
        x, memory, memory, key_padding_mask=~keep, average_attn_weights=False
    )
    out, w = ours(x, memory, keep, need_weights=True)
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(w, ref_w)
    # and with the fast path
    ours.fast = True
    torch.testing.assert_close(ours(x, memory, keep)[0], ref)


def test_equal_to_torch_with_a_causal_self_attention_mask():
    ours, mha = make_pair(16, 2)
    x = torch.randn(2, 6, 16)
    causal = xattn.causal_mask(6)
    ref, _ = mha(x, x, x, attn_mask=~causal)  # nn: True = not allowed
    out, _ = ours(x, x, attn_mask=causal[None])
    torch.testing.assert_close(out, ref)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_fast_path_gives_the_same_result_and_gradients(dtype):
    torch.manual_seed(1)
    layer = MultiHeadCrossAttention(32, 4).to(dtype)
    x, memory = torch.randn(2, 7, 32, dtype=dtype), torch.randn(2, 11, 32, dtype=dtype)
    keep = xattn.padding_mask([11, 3], 11)
    causalish = torch.rand(2, 7, 11) < 0.8
    grads = []
    for fast in (False, True):
        layer.fast = fast
        layer.zero_grad()
        out, _ = layer(x, memory, keep, causalish)
        out.square().sum().backward()
        grads.append((out.detach(), layer.q_proj.weight.grad.clone()))
    tol = (
        dict(atol=1e-5, rtol=1e-5)
        if dtype == torch.float32
        else dict(atol=1e-10, rtol=1e-10)
    )
    torch.testing.assert_close(grads[0][0], grads[1][0], **tol)
    torch.testing.assert_close(grads[0][1], grads[1][1], **tol)


def test_fully_padded_item_stays_finite_unlike_torch():
    ours, mha = make_pair(16, 4)
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 4, 16)
    keep = torch.ones(2, 4, dtype=torch.bool)
    keep[1] = False
    # need_weights=True by default
    ref, _ = mha(x, memory, memory, key_padding_mask=~keep)
    assert torch.isnan(ref[1]).all(), (
        "PyTorch's need_weights path gives NaN here (if this fails, PyTorch changed)"
    )
    out, w = ours(x, memory, keep, need_weights=True)
    assert torch.isfinite(out).all() and (w[1] == 0).all()
    # zero attention output, then out_proj
    torch.testing.assert_close(out[1], ours.out_proj.bias.expand(3, 16))
    torch.testing.assert_close(out[0], ref[0])


def test_precomputed_keys_and_values_match():
    torch.manual_seed(2)
    layer = MultiHeadCrossAttention(16, 4)
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    keep = xattn.padding_mask([5, 2], 5)
    out, _ = layer(x, memory, keep)
    out_kv, _ = layer(x, memory_mask=keep, kv=layer.project_kv(memory))
    assert torch.equal(out, out_kv)


def test_single_head_module_is_attention_on_projections():
    torch.manual_seed(3)
    layer = CrossAttention(8, d_head=6)
    x, memory = torch.randn(2, 3, 8), torch.randn(2, 4, 8)
    keep = xattn.padding_mask([4, 2], 4)
    out, w = layer(x, memory, keep)
    ref, ref_w = xattn.attention(
        layer.q_proj(x), layer.k_proj(memory), layer.v_proj(memory), keep[:, None, :]
    )
    assert out.shape == (2, 3, 6) and w.shape == (2, 3, 4)
    assert torch.equal(out, ref) and torch.equal(w, ref_w)
    assert (w[1, :, 2:] == 0).all()


def test_dropout_only_while_training():
    torch.manual_seed(4)
    layer = MultiHeadCrossAttention(16, 4, dropout=0.5)
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    layer.eval()
    a, b = layer(x, memory)[0], layer(x, memory)[0]
    assert torch.equal(a, b)
    layer.train()
    assert not torch.equal(layer(x, memory)[0], layer(x, memory)[0])


def test_sdpa_fast_path_is_used(monkeypatch):
    calls = []
    real = F.scaled_dot_product_attention

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    layer = MultiHeadCrossAttention(16, 4, fast=True)
    layer(torch.randn(1, 2, 16), torch.randn(1, 3, 16))
    assert calls == [1]
    # weights need the explicit path
    layer(torch.randn(1, 2, 16), torch.randn(1, 3, 16), need_weights=True)
    assert calls == [1]


@pytest.mark.parametrize("fast", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_memory_of_another_width_equals_torch_kdim_vdim(fast, bias):
    torch.manual_seed(5)
    mha = nn.MultiheadAttention(16, 4, batch_first=True, bias=bias, kdim=10, vdim=10)
    ours = xattn.load_torch_multihead_attention(
        MultiHeadCrossAttention(16, 4, bias=bias, fast=fast, d_memory=10), mha
    )
    x, memory = torch.randn(3, 5, 16), torch.randn(3, 7, 10)
    keep = xattn.padding_mask([7, 2, 5], 7)
    ref, ref_w = mha(
        x, memory, memory, key_padding_mask=~keep, average_attn_weights=False
    )
    out, _ = ours(x, memory, keep)
    torch.testing.assert_close(out, ref)
    out_w, w = ours(x, memory, keep, need_weights=True)
    torch.testing.assert_close(w, ref_w)
    assert xattn.attention_parameter_count(16, bias, d_memory=10) == sum(
        p.numel() for p in ours.parameters()
    )
    assert xattn.attention_parameter_count(16, bias, d_memory=10) == sum(
        p.numel() for p in mha.parameters()
    )


def test_decoder_block_reads_a_wider_memory():
    torch.manual_seed(6)
    block = xattn.DecoderBlock(16, 2, 32, d_memory=24).eval()
    out = block(
        torch.randn(2, 3, 16), torch.randn(2, 9, 24), xattn.padding_mask([9, 4], 9)
    )
    assert out.shape == (2, 3, 16)
    kv = block.cross_attn.project_kv(torch.randn(2, 9, 24))
    assert kv[0].shape == (2, 2, 9, 8)


@pytest.mark.parametrize("fast", [False, True])
def test_no_weights_unless_asked(fast):
    layer = MultiHeadCrossAttention(16, 4, fast=fast)
    x, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    assert layer(x, memory)[1] is None
    assert layer(x, memory, need_weights=True)[1].shape == (2, 4, 3, 5)


def test_decoder_keeps_cross_weights_only_when_asked():
    cfg = xattn.Seq2SeqConfig(
        12, 12, d_model=16, n_heads=2, n_layers=2, d_ff=32, dropout=0.0
    )
    model = xattn.Seq2Seq(cfg).eval()
    src, tgt = torch.randint(4, 12, (2, 5)), torch.randint(4, 12, (2, 3))
    model(src, tgt)
    assert all(block.cross_weights is None for block in model.decoder.layers)
    with pytest.raises(ValueError, match="call keep_cross_weights"):
        model.decoder.cross_weights()
    model.decoder.keep_cross_weights()
    model(src, tgt)
    assert model.decoder.cross_weights().shape == (2, 2, 2, 3, 5)


def test_a_structural_mask_needs_its_batch_axis_whatever_the_sizes():
    ours, mha = make_pair(16, 2)
    causal = xattn.causal_mask(4)
    # B = Lq = 4, where a 2-D (4, 4) mask could be either kind, and B != Lq: the
    # same rule for both.
    for batch in (4, 3):
        x = torch.randn(batch, 4, 16)
        with pytest.raises(ValueError, match=r"batch axis.*attn_mask\[None\]"):
            ours(x, x, attn_mask=causal)
        ref, _ = mha(x, x, x, attn_mask=~causal)
        torch.testing.assert_close(ours(x, x, attn_mask=causal[None])[0], ref)
        per_item = causal.expand(batch, 4, 4)
        torch.testing.assert_close(ours(x, x, attn_mask=per_item)[0], ref)


def test_use_attention_swaps_the_cross_attention_and_puts_it_back():
    torch.manual_seed(0)
    cfg = xattn.Seq2SeqConfig(12, 12, d_model=16, n_heads=2, n_layers=2, d_ff=32)
    model = xattn.Seq2Seq(cfg).eval()
    src = torch.randint(3, 12, (2, 7))
    src[1, 4:] = 0  # padding: item 1 has 4 real tokens
    tgt = torch.randint(3, 12, (2, 5))
    before = model(src, tgt)
    seen = []

    def same(q, k, v, mask):
        seen.append((tuple(q.shape), tuple(k.shape), tuple(mask.shape)))
        return xattn.attention(q, k, v, mask)

    with xattn.use_attention(model, same) as names:
        assert names == ["decoder.layers.0.cross_attn", "decoder.layers.1.cross_attn"]
        torch.testing.assert_close(model(src, tgt), before)
    assert seen == [((2, 2, 5, 8), (2, 2, 7, 8), (2, 1, 1, 7))] * 2
    # decoding with caches goes through it too, one position at a time
    seen.clear()
    with xattn.use_attention(model, same):
        xattn.greedy_decode(model, src, 4, bos_id=1, eos_id=None)
    assert len(seen) == 2 * 4 and all(s[0] == (2, 2, 1, 8) for s in seen)

    def uniform(q, k, v, mask):
        weights = mask.expand(*q.shape[:-1], k.shape[-2]).to(q.dtype)
        weights = weights / weights.sum(-1, keepdim=True)
        return weights @ v, None

    with pytest.raises(ZeroDivisionError):
        with xattn.use_attention(model, uniform):
            assert not torch.allclose(model(src, tgt), before)
            model.decoder.keep_cross_weights()
            with pytest.raises(ValueError, match="attend function returns none"):
                model(src, tgt)
            model.decoder.keep_cross_weights(False)
            raise ZeroDivisionError
    assert all(m.attend is None for m in model.modules() if hasattr(m, "attend"))
    torch.testing.assert_close(model(src, tgt), before)


def test_use_attention_refuses_what_it_cannot_swap():
    model = xattn.Seq2Seq(xattn.Seq2SeqConfig(8, 8, d_model=8, n_heads=2))
    with pytest.raises(ValueError, match="attend must be a function"):
        with xattn.use_attention(model, "fast"):
            pass
    with pytest.raises(ValueError, match="no MultiHeadCrossAttention named 'x_attn'"):
        with xattn.use_attention(model, xattn.attention, layers="x_attn"):
            pass
