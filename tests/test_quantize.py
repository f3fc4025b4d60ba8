"""Int8 quantization: per-channel rounding, Int8Linear, quantized models (ch. 13)."""

import warnings

import pytest
import torch
from torch import nn

import xattn
from xattn.quantize import (
    Int8Linear,
    dequantize_per_channel,
    int8_matmul,
    model_bytes,
    quantize_model,
    quantize_per_channel,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def test_each_row_gets_its_own_scale_and_the_error_is_at_most_half_of_it():
    w = torch.randn(16, 40, generator=gen(0)) * torch.logspace(-3, 1, 16)[:, None]
    q, scale = quantize_per_channel(w)
    assert q.dtype == torch.int8 and q.shape == w.shape and scale.shape == (16,)
    torch.testing.assert_close(scale, w.abs().amax(1) / 127)
    assert int(q.abs().max()) == 127 and int(q.min()) >= -127
    assert (q.abs().amax(1) == 127).all()  # every row uses its full range
    err = (dequantize_per_channel(q, scale) - w).abs()
    assert (err <= scale[:, None] / 2 * (1 + 1e-5)).all()


def test_known_values_and_a_zero_row():
    w = torch.tensor([[1.27, -0.635, 0.0], [0.0, 0.0, 0.0], [-2.54, 1.0, 0.01]])
    q, scale = quantize_per_channel(w)
    assert q.tolist() == [[127, -64, 0], [0, 0, 0], [-127, 50, 0]]
    torch.testing.assert_close(scale, torch.tensor([0.01, 0.0, 0.02]))
    assert torch.isfinite(dequantize_per_channel(q, scale)).all()


def test_the_dtype_of_the_scales_follows_the_weight():
    w = torch.randn(4, 8, generator=gen(1), dtype=torch.float64)
    q, scale = quantize_per_channel(w)
    assert scale.dtype == torch.float64
    assert dequantize_per_channel(q, scale).dtype == torch.float64


@pytest.mark.parametrize("activations", [False, True])
def test_int8_linear_is_close_to_the_float_layer(activations):
    torch.manual_seed(0)
    linear = nn.Linear(48, 24)
    x = torch.randn(3, 7, 48, generator=gen(2))
    layer = Int8Linear.from_linear(linear, activations=activations)
    with torch.no_grad():
        want, got = linear(x), layer(x)
    assert got.shape == (3, 7, 24) and got.dtype == torch.float32
    rel = (got - want).norm() / want.norm()
    assert rel < 0.02
    if not activations:  # the float product of the dequantized weight, exactly
        weight = dequantize_per_channel(layer.weight_q, layer.scale)
        torch.testing.assert_close(got, x @ weight.T + linear.bias)


def test_the_integer_path_is_integer_arithmetic_exactly():
    torch.manual_seed(1)
    linear = nn.Linear(32, 16, bias=False)
    layer = Int8Linear.from_linear(linear)
    x = torch.randn(5, 32, generator=gen(3))
    xq, xs = quantize_per_channel(x)
    acc = xq.long() @ layer.weight_q.long().T  # exact in int64
    want = acc.float() * xs[:, None] * layer.scale
    with torch.no_grad():
        assert torch.equal(layer(x), want)
        assert torch.equal(layer(x), layer(x))  # the same numbers every time


def test_int8_linear_stores_a_quarter_of_the_weight_bytes():
    linear = nn.Linear(256, 64)
    layer = Int8Linear.from_linear(linear)
    assert layer.weight_q.dtype == torch.int8
    float_bytes = linear.weight.numel() * 4
    int8_bytes = layer.weight_q.numel() + layer.scale.numel() * 4
    assert 3.9 < float_bytes / int8_bytes < 4


def test_quantize_model_swaps_every_linear_and_keeps_the_original():
    torch.manual_seed(0)
    cfg = xattn.Seq2SeqConfig(13, 11, d_model=16, n_heads=2, n_layers=1, d_ff=32)
    model = xattn.Seq2Seq(cfg).eval()
    n_linear = sum(isinstance(m, nn.Linear) for m in model.modules())
    quantized = quantize_model(model)
    assert not any(isinstance(m, nn.Linear) for m in quantized.modules())
    assert sum(isinstance(m, Int8Linear) for m in quantized.modules()) == n_linear
    assert any(isinstance(m, nn.Linear) for m in model.modules())  # untouched
    src = torch.randint(3, 13, (2, 6), generator=gen(4))
    tgt = torch.randint(3, 11, (2, 4), generator=gen(5))
    with torch.no_grad():
        want, got = model(src, tgt), quantized(src, tgt)
    assert (got - want).abs().max() < 0.1 * want.abs().max()
    assert model_bytes(quantized) < model_bytes(model) / 2


def test_model_bytes_counts_tied_weights_once():
    torch.manual_seed(0)
    tied = xattn.Seq2SeqConfig(13, 11, d_model=16, n_heads=2, n_layers=1, d_ff=32)
    model = xattn.Seq2Seq(tied)
    params = {id(p): p for p in model.parameters()}.values()
    assert model_bytes(model) == sum(p.numel() * 4 for p in params)
    assert model_bytes(nn.Linear(3, 2).to(torch.bfloat16)) == (6 + 2) * 2


def test_nothing_here_warns():
    linear = nn.Linear(8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Int8Linear.from_linear(linear)(torch.randn(2, 8))


@pytest.mark.parametrize("m, k, n", [(1, 64, 64), (17, 24, 40), (5, 1, 3), (0, 8, 4)])
def test_int8_matmul_is_the_exact_integer_product(m, k, n):
    g = gen(20)
    a = torch.randint(-127, 128, (m, k), generator=g, dtype=torch.int8)
    b = torch.randint(-127, 128, (n, k), generator=g, dtype=torch.int8)
    product = int8_matmul(a, b)
    assert product.dtype == torch.int32 and product.shape == (m, n)
    assert torch.equal(product.long(), a.long() @ b.long().T)


def test_half_precision_inputs_do_not_overflow():
    """An int32 sum of 256 products of 127 * 127 is far above float16's 65,504."""
    linear = nn.Linear(256, 8)
    with torch.no_grad():
        linear.weight.fill_(0.01)
    layer = Int8Linear.from_linear(linear)
    x = torch.full((2, 256), 3.0)
    want = layer(x)
    got = layer(x.half())
    assert got.dtype == torch.float16 and torch.isfinite(got).all()
    torch.testing.assert_close(got.float(), want, rtol=2e-3, atol=1e-2)
