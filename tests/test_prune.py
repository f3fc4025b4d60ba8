"""Head masks, head importance and heads removed for real (chapter 13)."""

import pytest
import torch

import xattn
from xattn.importance import (
    attention_layers,
    head_importance,
    head_mask_attend,
    head_masks,
)
from xattn.prune import PrunedAttention, prune_heads, slice_linear


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = xattn.Seq2SeqConfig(13, 11, d_model=16, n_heads=4, n_layers=2, d_ff=32)
    model = xattn.Seq2Seq(cfg).eval()
    src = torch.randint(3, 13, (3, 9), generator=gen(1))
    src[1, 6:] = 0
    tgt_in = torch.randint(3, 11, (3, 5), generator=gen(2))
    tgt_out = torch.randint(3, 11, (3, 5), generator=gen(3))
    tgt_out[2, 3:] = 0
    return model, src, tgt_in, tgt_out


def test_the_layers_by_name(tiny):
    model = tiny[0]
    names = list(attention_layers(model))
    assert names == [
        "encoder.layers.0.self_attn",
        "encoder.layers.1.self_attn",
        "decoder.layers.0.self_attn",
        "decoder.layers.0.cross_attn",
        "decoder.layers.1.self_attn",
        "decoder.layers.1.cross_attn",
    ]


def test_an_all_ones_mask_changes_nothing_exactly(tiny):
    model, src, tgt_in, _ = tiny
    with torch.no_grad():
        before = model(src, tgt_in)
        ones = {n: torch.ones(4) for n in attention_layers(model)}
        with head_masks(model, ones) as masked:
            assert len(masked) == 6
            assert torch.equal(model(src, tgt_in), before)
        assert all("attend" not in m.__dict__ for m in attention_layers(model).values())


def test_a_zero_mask_removes_the_head_output(tiny):
    model, src, tgt_in, _ = tiny
    q = torch.randn(2, 4, 3, 4, generator=gen(4))
    k = torch.randn(2, 4, 5, 4, generator=gen(5))
    v = torch.randn(2, 4, 5, 4, generator=gen(6))
    xi = torch.tensor([1.0, 0.0, 0.5, 1.0])
    out, weights = head_mask_attend(xi)(q, k, v, None)
    exact, exact_w = xattn.attention(q, k, v)
    assert (out[:, 1] == 0).all() and torch.equal(out[:, 0], exact[:, 0])
    torch.testing.assert_close(out[:, 2], 0.5 * exact[:, 2])
    assert torch.equal(weights, exact_w)
    with torch.no_grad():
        before = model(src, tgt_in)
        with head_masks(model, {"decoder.layers.0.cross_attn": xi}):
            assert not torch.allclose(model(src, tgt_in), before)


def test_importance_is_the_gradient_of_the_loss_with_respect_to_the_mask(tiny):
    model, src, tgt_in, tgt_out = tiny
    batches = [(src, tgt_in, tgt_out), (src[:2], tgt_in[:2], tgt_out[:2])]
    importance = head_importance(model, batches, pad_id=0)
    assert list(importance) == list(attention_layers(model))
    assert all(v.shape == (4,) and (v >= 0).all() for v in importance.values())
    assert all(p.grad is None for p in model.parameters())
    # by finite differences, one head, one batch
    name, h = "decoder.layers.1.cross_attn", 2
    one = head_importance(model, batches[:1], pad_id=0)[name][h]

    def loss(scale):
        xi = torch.ones(4, dtype=torch.float64)
        xi[h] = scale
        with torch.no_grad(), head_masks(model.double(), {name: xi}):
            logits = model(src, tgt_in)
            real = tgt_out != 0
            out = torch.nn.functional.cross_entropy(logits[real], tgt_out[real])
        model.float()
        return out.item()

    eps = 1e-4
    fd = abs(loss(1 + eps) - loss(1 - eps)) / (2 * eps)
    assert abs(one.item() - fd) < 1e-3 * max(fd, 1e-3)
    both = head_importance(model, batches, pad_id=0)[name][h]
    assert both > one  # accumulated over batches


def test_a_pruned_layer_equals_the_masked_one(tiny):
    model, src, tgt_in, _ = tiny
    keep = {"decoder.layers.0.cross_attn": [0, 3], "encoder.layers.1.self_attn": [1]}
    masks = {
        name: torch.tensor([float(h in heads) for h in range(4)])
        for name, heads in keep.items()
    }
    pruned = prune_heads(model, keep)
    layer = pruned.decoder.layers[0].cross_attn
    assert isinstance(layer, PrunedAttention) and isinstance(
        layer, xattn.MultiHeadCrossAttention
    )
    assert layer.n_heads == 2 and layer.heads == [0, 3] and layer.d_head == 4
    assert layer.q_proj.weight.shape == (8, 16) and layer.out_proj.weight.shape == (
        16,
        8,
    )
    with torch.no_grad():
        with head_masks(model, masks):
            want = model(src, tgt_in)
        got = pruned(src, tgt_in)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    saved = (
        xattn.count_parameters(model)["total"] - xattn.count_parameters(pruned)["total"]
    )
    assert saved == 3 * (2 + 3) * 4 * (16 + 1) + (2 + 3) * 4 * 16  # rows + columns
    assert isinstance(model.decoder.layers[0].cross_attn, xattn.MultiHeadCrossAttention)
    assert not isinstance(model.decoder.layers[0].cross_attn, PrunedAttention)


def test_a_pruned_model_decodes_the_same_with_and_without_caches(tiny):
    model, src, _, _ = tiny
    pruned = prune_heads(
        model, {"decoder.layers.1.self_attn": [2], "decoder.layers.1.cross_attn": [0]}
    )
    cached, _ = xattn.greedy_decode(pruned, src, 6, bos_id=1, eos_id=None)
    plain, _ = xattn.greedy_decode(
        pruned, src, 6, bos_id=1, eos_id=None, use_cache=False
    )
    assert torch.equal(cached, plain)
    pruned.decoder.keep_cross_weights()
    with torch.no_grad():
        pruned(src, torch.ones(3, 4, dtype=torch.long))
    assert pruned.decoder.layers[1].cross_weights.shape == (3, 1, 4, 9)
    pruned.decoder.keep_cross_weights(False)


def test_keeping_every_head_is_the_same_model(tiny):
    model, src, tgt_in, _ = tiny
    pruned = prune_heads(model, {n: range(4) for n in attention_layers(model)})
    with torch.no_grad():
        torch.testing.assert_close(pruned(src, tgt_in), model(src, tgt_in))
    assert xattn.count_parameters(pruned) == xattn.count_parameters(model)


def test_slice_linear_keeps_the_rows_or_columns_asked_for():
    torch.manual_seed(3)
    linear = torch.nn.Linear(6, 4)
    rows = slice_linear(linear, torch.tensor([3, 1]), dim=0)
    cols = slice_linear(linear, torch.tensor([0, 5, 2]), dim=1)
    assert torch.equal(rows.weight, linear.weight[[3, 1]])
    assert torch.equal(rows.bias, linear.bias[[3, 1]])
    assert torch.equal(cols.weight, linear.weight[:, [0, 5, 2]])
    assert torch.equal(cols.bias, linear.bias)  # the outputs are all still there


def test_heads_may_come_as_a_tensor_or_a_range(tiny):
    layer = tiny[0].decoder.layers[0].cross_attn
    a = PrunedAttention(layer, torch.tensor([2, 0]))
    b = PrunedAttention(layer, range(0, 3, 2))
    assert a.heads == b.heads == [0, 2] and a.n_heads == 2
    assert torch.equal(a.q_proj.weight, b.q_proj.weight)
