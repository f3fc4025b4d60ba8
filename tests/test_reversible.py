"""Reversible layers: inputs rebuilt from outputs, autograd's gradients (chapter 12)."""

import pytest
import torch

import xattn
from xattn.reversible import (
    ReversibleDecoderBlock,
    ReversibleEncoderBlock,
    ReversibleFunction,
    ReversibleStack,
    block_backward,
)

D = 8


def stacks(n_enc=2, n_dec=3, d=D, seed=0):
    torch.manual_seed(seed)
    enc = ReversibleStack([ReversibleEncoderBlock(d, 2, 2 * d) for _ in range(n_enc)])
    dec = ReversibleStack([ReversibleDecoderBlock(d, 2, 2 * d) for _ in range(n_dec)])
    return enc.double(), dec.double()


def inputs(b=2, lk=5, lq=4, d=D, seed=1):
    g = torch.Generator().manual_seed(seed)
    src = torch.randn(b, lk, d, generator=g, dtype=torch.float64, requires_grad=True)
    tgt = torch.randn(b, lq, d, generator=g, dtype=torch.float64, requires_grad=True)
    src_mask = xattn.padding_mask([lk, lk - 2], max_len=lk)
    tgt_mask = xattn.padding_mask([lq, lq - 1], max_len=lq)
    return src, tgt, src_mask, tgt_mask


def encoder_decoder(enc, dec, src, tgt, src_mask, tgt_mask, mode="reversible"):
    m1, m2 = enc(src, src, mask=src_mask, mode=mode)
    memory = (m1 + m2) / 2
    return dec(tgt, tgt, memory, src_mask, tgt_mask, mode=mode)


def test_blocks_invert_exactly_in_float64():
    enc, dec = stacks()
    src, tgt, src_mask, tgt_mask = inputs()
    with torch.no_grad():
        x1, x2 = tgt, 2 * tgt + 1
        y1, y2 = dec(x1, x2, src, src_mask, tgt_mask)
        r1, r2 = dec.inverse(y1, y2, src, src_mask, tgt_mask)
        assert (r1 - x1).abs().max() < 1e-12 and (r2 - x2).abs().max() < 1e-12
        e1, e2 = enc(src, -src, mask=src_mask)
        s1, s2 = enc.inverse(e1, e2, mask=src_mask)
        assert torch.allclose(s1, src, atol=1e-12) and torch.allclose(s2, -src)
        one = dec.blocks[0]
        b1, b2 = one.inverse(
            *one(x1, x2, src, src_mask, tgt_mask), src, src_mask, tgt_mask
        )
        assert torch.allclose(b1, x1, atol=1e-13) and torch.allclose(b2, x2)


@pytest.mark.parametrize("mode", ["reversible", "checkpoint"])
def test_gradients_equal_ordinary_backprop(mode):
    enc, dec = stacks()
    src, tgt, src_mask, tgt_mask = inputs()
    params = [*enc.parameters(), *dec.parameters()]
    results = {}
    for m in ("autograd", mode):
        y1, y2 = encoder_decoder(enc, dec, src, tgt, src_mask, tgt_mask, m)
        loss = (y1 * torch.linspace(-1, 1, D, dtype=torch.float64)).sum() + (
            y2**2
        ).sum()
        results[m] = (y1, y2, torch.autograd.grad(loss, [src, tgt, *params]))
    for a, b in zip(results["autograd"][:2], results[mode][:2]):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for a, b in zip(results["autograd"][2], results[mode][2]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-11)


def test_gradcheck_inputs_memory_and_parameters():
    enc, dec = stacks(n_enc=1, n_dec=2, d=4)
    src, tgt, src_mask, tgt_mask = inputs(b=1, lk=3, lq=3, d=4)
    src_mask, tgt_mask = src_mask[:1], tgt_mask[:1]
    memory = src.detach().clone().requires_grad_(True)
    params = [*dec.parameters()]

    def fn(x, mem, *ps):
        return dec(x, 0.5 * x, mem, src_mask, tgt_mask)

    assert torch.autograd.gradcheck(fn, (tgt, memory, *params))
    assert torch.autograd.gradcheck(
        lambda s: enc(s, s, mask=src_mask), (src,), fast_mode=True
    )


def test_memory_gradient_accumulates_over_every_decoder_layer():
    _, dec = stacks(n_dec=3)
    src, tgt, src_mask, tgt_mask = inputs()
    memory = src.detach().clone().requires_grad_(True)
    y1, y2 = dec(tgt, tgt, memory, src_mask, tgt_mask)
    (grad,) = torch.autograd.grad((y1 + y2).sum(), memory)
    parts = []
    for i in range(3):  # each layer's own share, from autograd with the others cut
        mem = memory.detach().clone().requires_grad_(True)
        x1, x2 = tgt.detach(), tgt.detach()
        for j, block in enumerate(dec.blocks):
            x1, x2 = block(x1, x2, mem if j == i else mem.detach(), src_mask, tgt_mask)
        parts.append(torch.autograd.grad((x1 + x2).sum(), mem)[0])
    torch.testing.assert_close(grad, sum(parts), rtol=1e-9, atol=1e-11)
    assert all(p.abs().max() > 1e-3 for p in parts)
    assert grad[1, 3:].abs().max() == 0  # padded keys get no gradient


def test_what_autograd_keeps_is_flat_in_depth_only_when_reversible():
    torch.manual_seed(0)
    x = torch.randn(2, 6, D, requires_grad=True)
    memory = torch.randn(2, 7, D, requires_grad=True)
    saved = {}
    for mode in ("reversible", "autograd", "checkpoint"):
        for n in (1, 2, 4):
            stack = ReversibleStack(
                [ReversibleDecoderBlock(D, 2, 16) for _ in range(n)]
            )

            def run(stack=stack, mode=mode):
                return stack(x, x, memory, mode=mode)

            saved[mode, n] = xattn.saved_tensor_bytes(run)[1]
            saved[mode, n, "peak"] = xattn.peak_tensor_bytes(run)[1]
    half = 2 * 6 * D * 4
    assert saved["reversible", 1] == saved["reversible", 4] == 2 * half + 2 * 7 * D * 4
    assert saved["reversible", 2, "peak"] == saved["reversible", 4, "peak"]
    for mode in ("autograd", "checkpoint"):
        step = saved[mode, 2] - saved[mode, 1]
        assert step > 0 and saved[mode, 4] - saved[mode, 2] == 2 * step
    assert saved["checkpoint", 2] - saved["checkpoint", 1] == 2 * half  # x1 and x2
    assert saved["autograd", 2] - saved["autograd", 1] > 10 * 2 * half


def test_forward_without_gradients_and_frozen_parameters():
    enc, dec = stacks()
    src, tgt, src_mask, tgt_mask = inputs()
    with torch.no_grad():
        a = encoder_decoder(enc, dec, src, tgt, src_mask, tgt_mask)
    b = encoder_decoder(enc, dec, src, tgt, src_mask, tgt_mask, "autograd")
    assert torch.equal(a[0], b[0].detach()) and torch.equal(a[1], b[1].detach())
    dec.requires_grad_(False)
    y1, y2 = dec(tgt, tgt, src.detach(), src_mask, tgt_mask)
    (g,) = torch.autograd.grad((y1 * y2).sum(), tgt)
    y1, y2 = dec(tgt, tgt, src.detach(), src_mask, tgt_mask, mode="autograd")
    torch.testing.assert_close(g, torch.autograd.grad((y1 * y2).sum(), tgt)[0])
    assert ReversibleFunction.__name__ == "ReversibleFunction"


def test_training_step_works_with_an_optimizer():
    _, dec = stacks(n_dec=2)
    src, tgt, src_mask, tgt_mask = inputs()
    opt = torch.optim.SGD(dec.parameters(), lr=0.1)
    y1, y2 = dec(tgt, tgt, src, src_mask, tgt_mask)
    ((y1 + y2) ** 2).mean().backward()
    assert all(p.grad is not None for p in dec.parameters())
    assert src.grad is not None and src.grad.abs().max() > 0
    opt.step()


def test_one_block_backward_is_autograd_through_the_block():
    _, dec = stacks(n_dec=1)
    block = dec.blocks[0]
    src, tgt, src_mask, tgt_mask = inputs()
    g = torch.Generator().manual_seed(7)
    x1 = torch.randn(tgt.shape, generator=g, dtype=torch.float64, requires_grad=True)
    x2 = torch.randn(tgt.shape, generator=g, dtype=torch.float64, requires_grad=True)
    memory = src.detach().clone().requires_grad_(True)
    dy = tuple(torch.randn(tgt.shape, generator=g, dtype=torch.float64) for _ in "12")
    y1, y2 = block(x1, x2, memory, src_mask, tgt_mask)
    params = list(block.parameters())
    want = torch.autograd.grad((y1, y2), [x1, x2, memory, *params], dy)
    with torch.no_grad():
        x, dx, dmemory, grads = block_backward(
            block, (y1, y2), dy, memory, src_mask, tgt_mask
        )
    torch.testing.assert_close(x[0], x1.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(x[1], x2.detach(), rtol=0, atol=1e-12)
    got = [*dx, dmemory, *(grads[p] for p in params)]
    assert len(got) == len(want)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    frozen = block_backward(block, (y1, y2), dy, memory.detach(), src_mask, tgt_mask)
    assert frozen[2] is None  # a memory that needs no gradient gets none
