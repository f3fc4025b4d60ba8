"""Adaptive computation over depth: halting and the ponder model (chapter 12)."""

import copy

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import xattn
import xattn.pretrained
from xattn.adaptive import (
    AdaptiveDecoder,
    geometric_prior,
    halting_layers,
    halting_probabilities,
    ponder_loss,
)
from xattn.ponder import PonderSeq2Seq, ponder_greedy_decode


def test_halting_probabilities_by_hand_and_sum_to_one():
    lambdas = torch.tensor([0.5, 0.5, 0.2, 0.9])[:, None]  # (N, 1)
    p = halting_probabilities(lambdas)[:, 0]
    torch.testing.assert_close(p, torch.tensor([0.5, 0.25, 0.05, 0.2]))
    g = torch.Generator().manual_seed(0)
    lam = torch.rand(6, 3, 5, generator=g, dtype=torch.float64)
    p = halting_probabilities(lam)
    assert p.shape == lam.shape and (p >= 0).all()
    assert torch.allclose(p.sum(0), torch.ones(3, 5, dtype=torch.float64), atol=1e-15)
    assert torch.equal(halting_probabilities(lam[:, :1]), p[:, :1])
    lam2 = lam.clone()
    lam2[-1] = 0.123  # the last layer's own lambda is never used
    assert torch.equal(halting_probabilities(lam2), p)
    certain = halting_probabilities(torch.tensor([1.0, 0.3, 0.7]))
    assert torch.equal(certain, torch.tensor([1.0, 0.0, 0.0]))
    assert torch.equal(halting_probabilities(torch.tensor([0.3])), torch.tensor([1.0]))


def test_halting_probabilities_have_gradients():
    lam = torch.full((3, 2), 0.4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x: halting_probabilities(torch.sigmoid(x)), (lam,)
    )


def test_halting_layers_at_the_threshold():
    p = torch.tensor([[0.2, 0.6], [0.3, 0.3], [0.5, 0.1]])  # (N=3, 2)
    assert halting_layers(p, 0.45).tolist() == [2, 1]
    assert halting_layers(p, 0.2).tolist() == [1, 1]
    assert halting_layers(p, 0.55).tolist() == [3, 1]
    assert halting_layers(p, 1.0).tolist() == [3, 3]
    nearly = torch.tensor([[0.3], [0.3], [0.4 - 1e-7]])  # sums a hair below 1
    assert halting_layers(nearly, 1.0).tolist() == [3]
    per = torch.tensor([0.1, 0.95])
    assert halting_layers(p, per).tolist() == [1, 3]
    lam = torch.rand(5, 40, generator=torch.Generator().manual_seed(1))
    p = halting_probabilities(lam)
    last = [halting_layers(p, t) for t in (0.1, 0.3, 0.5, 0.9)]
    assert all((a <= b).all() for a, b in zip(last, last[1:]))  # monotone
    assert ((last[0] >= 1) & (last[-1] <= 5)).all()


def test_geometric_prior():
    prior = geometric_prior(4, 0.5, torch.zeros(1, dtype=torch.float64))
    torch.testing.assert_close(
        prior, torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64)
    )


def test_ponder_loss_is_the_expected_loss_plus_kl():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(3, 2, 4, 6, generator=g, dtype=torch.float64)
    p = halting_probabilities(torch.rand(3, 2, 4, generator=g, dtype=torch.float64))
    target = torch.tensor([[4, 5, 2, 0], [3, 3, 3, 2]])
    loss, expected = ponder_loss(logits, p, target, beta=0.0, prior_rate=0.5)
    real = target != 0
    ce = torch.stack(
        [
            torch.nn.functional.cross_entropy(
                logits[n].flatten(0, 1), target.flatten(), reduction="none"
            ).view(2, 4)
            for n in range(3)
        ]
    )
    torch.testing.assert_close(loss, (p * ce).sum(0)[real].mean())
    layers = torch.tensor([1.0, 2, 3], dtype=torch.float64)[:, None, None]
    torch.testing.assert_close(expected, (p * layers).sum(0)[real].mean())
    prior = geometric_prior(3, 0.5, p)[:, None, None]
    kl = (p * (p / prior).log()).sum(0)[real].mean()
    with_kl, _ = ponder_loss(logits, p, target, beta=0.3, prior_rate=0.5)
    torch.testing.assert_close(with_kl, loss + 0.3 * kl)
    deep, _ = ponder_loss(
        logits, p, target, beta=0.0, prior_rate=0.5, deep_supervision=2.0
    )
    torch.testing.assert_close(deep, loss + 2.0 * ce.mean(0)[real].mean())
    _, at_prior = ponder_loss(
        logits, prior.expand_as(p), target, beta=1.0, prior_rate=0.5
    )
    torch.testing.assert_close(at_prior, torch.tensor(1.75, dtype=torch.float64))


@pytest.fixture(scope="module")
def ponder():
    torch.manual_seed(0)
    base = xattn.pretrained.date_model()
    return PonderSeq2Seq(base, 3).eval(), base


def test_ponder_model_starts_from_the_base_decoder(ponder):
    model, base = ponder
    task = xattn.DateTask()
    src, tgt_in, _ = task.encode(task.examples("test", 8, seed=0))
    with torch.no_grad():
        logits, p = model(src, tgt_in)
        want = base(src, tgt_in)
    assert logits.shape == (3, 8, tgt_in.shape[1], len(task.target_vocab))
    assert p.shape == (3, 8, tgt_in.shape[1])
    assert torch.allclose(p.sum(0), torch.ones(8, tgt_in.shape[1]), atol=1e-6)
    torch.testing.assert_close(logits[1], want)  # layer 2 is the base's last layer
    fresh = PonderSeq2Seq(base, 3, from_base=False)
    with torch.no_grad():
        assert not torch.allclose(fresh(src, tgt_in)[0][1], want)
    assert model.base is base  # shared, not copied


def greedy_by_hand(model, src, n, layer, v):
    """Greedy decoding that reads every position from one layer, without caches."""
    with torch.no_grad():
        memory, src_mask = model.encode(src)
        tokens = torch.full((len(src), 1), v.bos_id)
        for _ in range(n):
            logits, _ = model.decode(tokens, memory, src_mask)
            last = logits[layer, :, -1]
            last[:, v.pad_id] = float("-inf")
            tokens = torch.cat([tokens, last.argmax(-1)[:, None]], 1)
    return tokens[:, 1:]


def test_with_threshold_one_every_layer_runs_as_in_the_full_decoder(ponder):
    model, _ = ponder
    task = xattn.DateTask()
    v = task.target_vocab
    src, _, tgt_out = task.encode(task.examples("test", 20, seed=3))
    n = tgt_out.shape[1]
    tokens, layers = ponder_greedy_decode(model, src, n, v.bos_id, v.eos_id, 1.0)
    assert tokens.shape == layers.shape and tokens.shape[0] == 20
    want = greedy_by_hand(model, src, tokens.shape[1], -1, v)
    ended = (tokens == v.eos_id).long().cumsum(1) - (tokens == v.eos_id).long() > 0
    assert torch.equal(tokens[~ended], want[~ended])
    assert (tokens[ended] == v.pad_id).all()  # padding after <eos>, as greedy_decode
    assert ((layers == 3) & ~ended).sum() == (~ended).sum()
    assert (layers[ended] == 0).all()


def test_halting_at_layer_one_never_needs_the_layers_above(ponder):
    """Layer 1 of every position depends on layer-1 states only: the copies above
    change nothing, and the layers above cost only their keys and values."""
    model, _ = ponder
    task = xattn.DateTask()
    v = task.target_vocab
    src, _, tgt_out = task.encode(task.examples("test", 12, seed=4))
    n = tgt_out.shape[1]
    counts = {}
    for t in (1e-6, 1.0):
        with FlopCounterMode(display=False) as counter:
            tokens, layers = ponder_greedy_decode(model, src, n, v.bos_id, v.eos_id, t)
        counts[t] = counter.get_total_flops()
        if t < 1:
            assert ((layers == 1) | (layers == 0)).all()
            want = greedy_by_hand(model, src, tokens.shape[1], 0, v)
            running = layers > 0
            assert torch.equal(tokens[running], want[running])
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model.encode(src)
    encoder = counter.get_total_flops()
    assert counts[1e-6] - encoder < 0.6 * (counts[1.0] - encoder)


def test_one_threshold_per_sentence_decodes_each_as_alone(ponder):
    model, _ = ponder
    task = xattn.DateTask()
    v = task.target_vocab
    src, _, tgt_out = task.encode(task.examples("test", 10, seed=5))
    n = tgt_out.shape[1]
    both = torch.cat([src, src])
    thresholds = torch.tensor([1e-6] * 10 + [0.5] * 10)
    tokens, layers = ponder_greedy_decode(
        model, both, n, v.bos_id, v.eos_id, thresholds
    )
    for half, t in ((slice(0, 10), 1e-6), (slice(10, 20), 0.5)):
        alone, alone_layers = ponder_greedy_decode(model, src, n, v.bos_id, v.eos_id, t)
        k = alone.shape[1]
        assert torch.equal(tokens[half, :k], alone)
        assert torch.equal(layers[half, :k], alone_layers)
    assert (layers[:10, 0] == 1).all()


def test_the_padding_token_is_never_written(ponder):
    model, _ = ponder
    model = copy.deepcopy(model)
    task = xattn.DateTask()
    v = task.target_vocab
    src, _, _ = task.encode(task.examples("test", 6, seed=6))
    with torch.no_grad():  # make <pad> the most likely token everywhere
        model.base.generator.weight[v.pad_id] = 50 * model.base.generator.weight[5]
    tokens, layers = ponder_greedy_decode(model, src, 8, v.bos_id, v.eos_id, 0.5)
    assert not (tokens[layers > 0] == v.pad_id).any()


def test_adaptive_decoder_shapes():
    torch.manual_seed(0)
    dec = AdaptiveDecoder(16, 2, 32, 4)
    x, memory = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    states, lambdas = dec(x, memory, torch.ones(3, 7, dtype=torch.bool))
    assert states.shape == (4, 3, 5, 16) and lambdas.shape == (4, 3, 5)
    assert ((lambdas > 0) & (lambdas < 1)).all()
