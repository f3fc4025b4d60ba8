"""Hard monotonic attention: expected alignment, hard stops, the layer (chapter 15)."""

import itertools
import math

import pytest
import torch

import xattn
from xattn.monotonic import (
    MonotonicCrossAttention,
    monotonic_alignment,
    monotonic_stops,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def brute_alignment(energies: torch.Tensor) -> torch.Tensor:
    """Raffel et al.'s eq. 9 summed term by term, for (Lq, Lk) energies."""
    p = torch.sigmoid(energies)
    lq, lk = energies.shape
    alpha = torch.zeros_like(energies)
    previous = torch.zeros(lk, dtype=energies.dtype)
    previous[0] = 1.0
    for i in range(lq):
        for j in range(lk):
            total = 0.0
            for k in range(j + 1):
                passed = math.prod(1 - p[i, m].item() for m in range(k, j))
                total += previous[k].item() * passed
            alpha[i, j] = p[i, j] * total
        previous = alpha[i].clone()
    return alpha


@pytest.mark.parametrize("lq, lk", [(1, 1), (3, 5), (5, 3), (4, 8)])
def test_the_expected_alignment_is_the_sum_over_paths(lq, lk):
    energies = 2 * torch.randn(lq, lk, generator=gen(lq * 10 + lk), dtype=torch.float64)
    alpha = monotonic_alignment(energies)
    torch.testing.assert_close(alpha, brute_alignment(energies))
    assert (alpha >= 0).all() and (alpha.sum(-1) <= 1 + 1e-12).all()


def test_leading_dims_are_batched():
    energies = torch.randn(2, 3, 4, 6, generator=gen(1), dtype=torch.float64)
    alpha = monotonic_alignment(energies)
    for b, h in itertools.product(range(2), range(3)):
        torch.testing.assert_close(alpha[b, h], monotonic_alignment(energies[b, h]))
    stops = monotonic_stops(energies)
    assert stops.shape == (2, 3, 4)
    assert torch.equal(stops[1, 2], monotonic_stops(energies[1, 2]))


def test_the_first_step_stops_at_the_first_frame_it_may():
    energies = torch.tensor([[-5.0, 3.0, 4.0], [-5.0, -5.0, 2.0]])
    assert monotonic_stops(energies).tolist() == [1, 2]
    # A step may stay on the frame where the last one stopped.
    assert monotonic_stops(torch.tensor([[1.0, -1.0], [1.0, -1.0]])).tolist() == [0, 0]
    # Nowhere to stop: Lk, and every later step too.
    none = torch.tensor([[-1.0, -1.0], [5.0, 5.0], [5.0, 5.0]])
    assert monotonic_stops(none).tolist() == [2, 2, 2]


@pytest.mark.parametrize("seed", range(5))
def test_stops_move_forward_to_the_first_frame_with_p_at_least_a_half(seed):
    energies = torch.randn(6, 9, generator=gen(seed))
    stops = monotonic_stops(energies)
    start = 0
    for i, stop in enumerate(stops.tolist()):
        assert stop >= start
        assert (energies[i, start:stop] < 0).all()  # read past without stopping
        if stop < 9:
            assert energies[i, stop] >= 0
            start = stop
        else:
            start = 9


def test_saturated_energies_make_the_expectation_the_hard_stops():
    energies = 40 * torch.randn(5, 7, generator=gen(2), dtype=torch.float64).sign()
    stops = monotonic_stops(energies)
    hard = torch.nn.functional.one_hot(stops, 8)[..., :7].double()
    torch.testing.assert_close(monotonic_alignment(energies), hard)


def test_hidden_frames_are_never_stopped_at_and_the_rest_is_unchanged():
    energies = torch.randn(4, 6, generator=gen(3), dtype=torch.float64)
    hidden = energies.clone()
    hidden[:, 4:] = -math.inf  # padding
    alpha = monotonic_alignment(hidden)
    assert (alpha[:, 4:] == 0).all()
    torch.testing.assert_close(alpha[:, :4], monotonic_alignment(energies[:, :4]))
    assert (monotonic_stops(hidden) <= 6).all()
    all_hidden = torch.full((2, 3), -math.inf)
    assert (monotonic_alignment(all_hidden) == 0).all()
    assert monotonic_stops(all_hidden).tolist() == [3, 3]


def test_large_energies_keep_the_values_and_gradients_finite():
    energies = (200 * torch.randn(3, 5, generator=gen(4))).requires_grad_()
    alpha = monotonic_alignment(energies)
    assert torch.isfinite(alpha).all()
    alpha.sum().backward()
    assert torch.isfinite(energies.grad).all()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_both_functions_work_in_float32_and_float64(dtype):
    energies = torch.randn(2, 4, 7, generator=gen(5), dtype=dtype)
    alpha = monotonic_alignment(energies)
    assert alpha.dtype == dtype
    torch.testing.assert_close(
        alpha.double(), monotonic_alignment(energies.double()), atol=1e-6, rtol=0
    )
    assert monotonic_stops(energies).dtype == torch.long


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_layer_is_expected_in_training_and_hard_in_evaluation(dtype):
    torch.manual_seed(0)
    layer = MonotonicCrossAttention(16, 2, r=0.0, noise=0.0).to(dtype)
    x = torch.randn(2, 3, 16, generator=gen(6), dtype=dtype)
    memory = torch.randn(2, 5, 16, generator=gen(7), dtype=dtype)
    memory_mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    out, weights = layer(x, memory, memory_mask, need_weights=True)
    assert out.shape == (2, 3, 16) and weights.shape == (2, 2, 3, 5)
    assert out.dtype == dtype and weights.requires_grad
    assert (weights[1, :, :, 3:] == 0).all()
    out.sum().backward()
    assert layer.r.grad is not None and torch.isfinite(layer.r.grad).all()
    layer.eval()
    out, weights = layer(x, memory, memory_mask, need_weights=True)
    assert ((weights == 0) | (weights == 1)).all() and (weights.sum(-1) <= 1).all()
    q = xattn.split_heads(layer.q_proj(x), 2)
    k, _ = layer.project_kv(memory)
    energies = xattn.attention_scores(q, k) + layer.r
    energies = energies.masked_fill(~memory_mask[:, None, None], -math.inf)
    stops = monotonic_stops(energies)
    assert torch.equal(
        weights, torch.nn.functional.one_hot(stops, 6)[..., :5].to(dtype)
    )


def test_noise_is_added_only_while_training():
    torch.manual_seed(1)
    layer = MonotonicCrossAttention(8, 1, noise=1.0)
    x, memory = torch.randn(1, 2, 8), torch.randn(1, 4, 8)
    torch.manual_seed(2)
    a = layer(x, memory, need_weights=True)[1]
    torch.manual_seed(3)
    b = layer(x, memory, need_weights=True)[1]
    assert not torch.equal(a, b)
    layer.eval()
    assert torch.equal(
        layer(x, memory, need_weights=True)[1], layer(x, memory, need_weights=True)[1]
    )
