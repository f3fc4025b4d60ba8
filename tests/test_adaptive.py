"""Adaptive computation over depth: halting and the ponder model (chapter 12)."""

import pytest
import torch

import xattn
import xattn.pretrained
from xattn.adaptive import (
    AdaptiveDecoder,
    PonderSeq2Seq,
    geometric_prior,
    halting_layers,
    halting_probabilities,
    ponder_greedy_decode,
    ponder_loss,
)


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


def test_ponder_greedy_decode_reads_the_halting_layer(ponder):
    model, base = ponder
    task = xattn.DateTask()
    v = task.target_vocab
    examples = task.examples("test", 20, seed=3)
    src, _, tgt_out = task.encode(examples)
    n = tgt_out.shape[1]
    tokens, layers = ponder_greedy_decode(model, src, n, v.bos_id, v.eos_id, 1.0)
    assert tokens.shape == layers.shape == (20, n)
    assert ((layers == 3) | (layers == 0)).all()  # threshold 1: every layer
    assert (layers[:, 0] == 3).all()
    # the model's predictions at a fixed layer: forcing the base's last layer
    with torch.no_grad():
        memory, src_mask = model.encode(src)
        tokens_in = torch.full((20, 1), v.bos_id)
        for _ in range(n):
            logits, _ = model.decode(tokens_in, memory, src_mask)
            tokens_in = torch.cat([tokens_in, logits[-1, :, -1].argmax(-1)[:, None]], 1)
    ends = (tokens == v.eos_id).long().argmax(1)
    for row, end in enumerate(ends.tolist()):
        assert torch.equal(tokens[row, : end + 1], tokens_in[row, 1 : end + 2])
        assert (layers[row, end + 1 :] == 0).all() and (
            layers[row, : end + 1] > 0
        ).all()
    thresholds = torch.tensor([1e-6] * 10 + [1.0] * 10)
    _, mixed = ponder_greedy_decode(model, src, n, v.bos_id, v.eos_id, thresholds)
    assert (mixed[:10, 0] == 1).all() and (mixed[10:, 0] == 3).all()


def test_adaptive_decoder_shapes():
    torch.manual_seed(0)
    dec = AdaptiveDecoder(16, 2, 32, 4)
    x, memory = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    states, lambdas = dec(x, memory, torch.ones(3, 7, dtype=torch.bool))
    assert states.shape == (4, 3, 5, 16) and lambdas.shape == (4, 3, 5)
    assert ((lambdas > 0) & (lambdas < 1)).all()


p3 = halting_probabilities(torch.full((3, 2, 4), 0.5))
CASES = [
    (
        "integer lambdas",
        lambda: halting_probabilities(torch.ones(3, 2, dtype=torch.long)),
        r"lambdas must be a floating-point tensor",
    ),
    (
        "lambdas above one",
        lambda: halting_probabilities(torch.tensor([0.5, 1.5])),
        r"lambdas must be probabilities, in \[0, 1\]",
    ),
    (
        "negative lambdas",
        lambda: halting_probabilities(torch.tensor([-0.1, 0.5])),
        r"lambdas must be probabilities",
    ),
    (
        "scalar lambdas",
        lambda: halting_probabilities(torch.tensor(0.5)),
        r"lambdas must be \(N, \.\.\.\) with N >= 1 layers, got lambdas \(\)",
    ),
    (
        "no layers",
        lambda: halting_probabilities(torch.zeros(0, 3)),
        r"N >= 1 layers, got lambdas \(0, 3\)",
    ),
    ("threshold zero", lambda: halting_layers(p3, 0.0), r"threshold must be"),
    ("threshold above one", lambda: halting_layers(p3, 1.5), r"threshold must be"),
    (
        "threshold tensor out of range",
        lambda: halting_layers(p3, torch.tensor([0.5, 0.0])[:, None]),
        r"threshold must lie in \(0, 1\] everywhere",
    ),
    ("threshold True", lambda: halting_layers(p3, True), r"threshold must be"),
    (
        "scalar p",
        lambda: halting_layers(torch.tensor(1.0)),
        r"p must be \(N, \.\.\.\) with N >= 1 layers",
    ),
    (
        "prior rate one",
        lambda: geometric_prior(3, 1.0, p3),
        r"rate must be",
    ),
    ("prior of no layers", lambda: geometric_prior(0, 0.5, p3), r"n_layers must be"),
    (
        "loss: p does not match logits",
        lambda: ponder_loss(
            torch.randn(3, 2, 4, 5),
            p3[:2],
            torch.ones(2, 4).long(),
            beta=0.1,
            prior_rate=0.5,
        ),
        r"logits must be \(N, B, Lq, V\) and p \(N, B, Lq\), got logits \(3, 2, 4, 5\)"
        r" and p \(2, 2, 4\)",
    ),
    (
        "loss: target of the wrong shape",
        lambda: ponder_loss(
            torch.randn(3, 2, 4, 5),
            p3,
            torch.ones(2, 5).long(),
            beta=0.1,
            prior_rate=0.5,
        ),
        r"target must be \(B, Lq\) = \(2, 4\), got target \(2, 5\)",
    ),
    (
        "loss: negative beta",
        lambda: ponder_loss(
            torch.randn(3, 2, 4, 5),
            p3,
            torch.ones(2, 4).long(),
            beta=-1.0,
            prior_rate=0.5,
        ),
        r"beta must be",
    ),
    (
        "loss: negative deep supervision",
        lambda: ponder_loss(
            torch.randn(3, 2, 4, 5),
            p3,
            torch.ones(2, 4).long(),
            beta=0.0,
            prior_rate=0.5,
            deep_supervision=-1.0,
        ),
        r"deep_supervision must be",
    ),
    ("decoder of no layers", lambda: AdaptiveDecoder(8, 2, 16, 0), r"max_layers"),
    (
        "ponder model on a non-Seq2Seq",
        lambda: PonderSeq2Seq(torch.nn.Linear(2, 2), 3),
        r"base must be an xattn.Seq2Seq, got Linear",
    ),
]


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_input_raises_a_clear_value_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
