"""Reading attention: ground truth, rollout, gradients, adversarial weights (ch. 17)."""

import copy
import datetime as dt
import math
import random

import pytest
import torch

import xattn
from xattn.explain import (
    FIELDS,
    adversarial_attention,
    agreement,
    cross_rollout,
    encoder_self_weights,
    gradient_x_input,
    head_influence,
    integrated_gradients,
    intervene,
    intervention_truth,
    js_divergence,
    path_gradients,
    rollout,
    source_embeddings,
    source_fields,
    step_attend,
    step_weights,
    target_fields,
    target_prob_fn,
    trapezoid,
    with_step_weights,
)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def stochastic(*shape, seed=0):
    w = torch.rand(*shape, generator=gen(seed), dtype=torch.float64)
    return w / w.sum(-1, keepdim=True)


@pytest.fixture(scope="module")
def task():
    return xattn.DateTask()


@pytest.fixture(scope="module")
def tiny(task):
    """A small untrained date model in eval mode (fast; the checks need no skill)."""
    xattn.seed_everything(0)
    cfg = xattn.Seq2SeqConfig(
        len(task.source_vocab), len(task.target_vocab), d_model=16, n_heads=2,
        n_layers=2, d_ff=32, dropout=0.0,
    )  # fmt: skip
    return xattn.Seq2Seq(cfg).eval()


# ---- the ground truth ----


def test_intervene_changes_every_digit_of_one_field_and_nothing_else(task):
    rng = random.Random(0)
    for example in task.examples("test", 200, seed=3):
        for field in FIELDS:
            new = intervene(example, field, rng)
            t0, t1 = xattn.data.TARGET_FIELDS[field]
            assert all(a != b for a, b in zip(example.target[t0:t1], new.target[t0:t1]))
            assert example.target[:t0] == new.target[:t0]
            assert example.target[t1:] == new.target[t1:]
            dt.date.fromisoformat(new.target)  # a real date
            # the source outside the field is untouched, the weekday included
            s0, s1 = example.spans[field]
            n0, n1 = new.spans[field]
            assert example.source[:s0] == new.source[:n0]
            tail = 2 if field == "day" and "{ord}" in example.template else 0
            assert example.source[s1 + tail :] == new.source[n1 + tail :]
            for other in set(new.spans) - {field}:
                a, b = new.spans[other]
                assert new.source[a:b] == example.source[slice(*example.spans[other])]
            # the new field reads as the new value
            if field == "year":
                assert new.source[n0:n1] == new.target[:4]


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize(
    ("day", "field"),
    [(dt.date(2027, 11, 29), "month"), (dt.date(2027, 1, 31), "month"),
     (dt.date(2024, 2, 29), "year"), (dt.date(2024, 2, 29), "month"),
     (dt.date(2024, 2, 29), "day")],
)  # fmt: skip
def test_intervene_keeps_a_real_date_on_the_29th_and_31st(task, day, field, seed):
    # 2027 is no leap year: its Nov 29 must not move to February, nor Feb 29, 2024
    # to a year without one
    example = task.example(day, "en", "{d} {month} {Y}")
    new = dt.date.fromisoformat(intervene(example, field, random.Random(seed)).target)
    old_digits, new_digits = (
        example.target[slice(*xattn.data.TARGET_FIELDS[field])],
        new.isoformat()[slice(*xattn.data.TARGET_FIELDS[field])],
    )
    assert all(a != b for a, b in zip(old_digits, new_digits))
    if field == "year":
        assert (new.month, new.day) == (2, 29)


def test_intervene_is_a_function_of_the_rng_and_checks_the_field(task):
    example = task.example(dt.date(2023, 3, 17), "en", "the {ord} of {month} {Y}")
    a = intervene(example, "day", random.Random(5))
    assert a == intervene(example, "day", random.Random(5))
    assert a.source.startswith("the ") and a.source.endswith(" of March 2023")
    with pytest.raises(ValueError, match=r"field must be one of"):
        intervene(example, "weekday")


def test_source_and_target_fields(task):
    example = task.example(dt.date(2023, 3, 17), "en", "{d} {month} {Y}")
    fields = source_fields([example], 16)
    assert fields.tolist() == [[2, 2, -1, 1, 1, 1, 1, 1, -1, 0, 0, 0, 0, -1, -1, -1]]
    assert target_fields(11).tolist() == [0, 0, 0, 0, -1, 1, 1, -1, 2, 2, -1]


def test_intervention_truth_of_a_model_that_copies_the_layout(task, tiny):
    examples = task.examples("test", 20, seed=1)
    truth = intervention_truth(tiny, task, examples)
    assert truth.shape == (20, 11) and truth.dtype == torch.long
    assert ((truth >= -1) & (truth <= 2)).all()
    assert torch.equal(truth, intervention_truth(tiny, task, examples))


def test_agreement_counts_the_top_field_on_scored_characters():
    fields = torch.tensor([[0, 0, 1, 2, -1]])  # (B, Lk)
    truth = torch.tensor([[0, 1, 2, -1]])  # (B, Lq): the last is not scored
    attributions = torch.tensor(
        [[[0.9, 0, 0, 0, 0.1], [0, 0, 1.0, 0, 0], [0, 1.0, 0, 0, 0], [1.0, 0, 0, 0, 0]]]
    )
    assert agreement(attributions, fields, truth).item() == pytest.approx(2 / 3)
    stacked = torch.stack([attributions, attributions.flip(-1)])  # (2, B, Lq, Lk)
    assert agreement(stacked, fields, truth).shape == (2,)


# ---- rollout ----


def test_rollout_rows_sum_to_one_and_identity_rolls_out_to_identity():
    w = stochastic(3, 2, 5, 5)
    r = rollout(w)
    assert r.shape == (2, 5, 5)
    torch.testing.assert_close(r.sum(-1), torch.ones(2, 5, dtype=torch.float64))
    eye = torch.eye(5, dtype=torch.float64)
    torch.testing.assert_close(rollout(eye.expand(4, 5, 5)), eye)
    torch.testing.assert_close(rollout(w, residual=1.0), eye.expand(2, 5, 5))


@pytest.mark.parametrize("residual", [0.0, 0.3, 0.5])
def test_rollout_is_the_product_last_layer_on_the_left(residual):
    w = stochastic(3, 4, 4, seed=1)
    eye = torch.eye(4, dtype=torch.float64)
    a1, a2, a3 = (residual * eye + (1 - residual) * a for a in w)
    torch.testing.assert_close(rollout(w, residual=residual), a3 @ a2 @ a1)


def test_rollout_renormalizes_rows_with_no_weight():
    w = stochastic(2, 3, 3, seed=2)
    w[:, 2] = 0  # a row that saw nothing
    r = rollout(w)
    torch.testing.assert_close(r.sum(-1), torch.ones(3, dtype=torch.float64))


def test_cross_rollout_composes_with_the_encoder_rollout():
    cross = stochastic(2, 3, 5, seed=3)
    enc = stochastic(2, 2, 5, 5, seed=4)
    out = cross_rollout(cross, enc)
    torch.testing.assert_close(out, cross @ rollout(enc))
    torch.testing.assert_close(out.sum(-1), torch.ones(2, 3, dtype=torch.float64))


def test_encoder_self_weights_on_a_model(task, tiny):
    src, _, _ = task.encode(task.examples("test", 4, seed=0))
    w = encoder_self_weights(tiny, src)
    assert w.shape == (2, 4, 2, src.shape[1], src.shape[1])
    pad = src == 0
    assert (w * pad[None, :, None, None, :]).abs().max() == 0  # padded keys unseen


# ---- gradients ----


def test_trapezoid_is_exact_for_lines_and_has_the_known_error_for_squares():
    for m in (1, 2, 7):
        a = torch.linspace(0, 1, m + 1, dtype=torch.float64)
        assert trapezoid(3 * a + 1).item() == pytest.approx(2.5, abs=1e-14)
        assert trapezoid(a**2).item() == pytest.approx(1 / 3 + 1 / (6 * m**2), 1e-14)
    assert trapezoid(torch.ones(5, 2, 3)).shape == (2, 3)


def smooth(x):
    """(B, L, D) -> (B, 2): smooth, and each item on its own."""
    return torch.stack([torch.tanh(x.sum((1, 2))), (x**2).sum((1, 2)) * x[:, 0, 0]], 1)


def test_gradient_x_input_brute_force():
    x = torch.randn(3, 4, 2, generator=gen(5), dtype=torch.float64)
    a = gradient_x_input(smooth, x)  # (B, T, L)
    assert a.shape == (3, 2, 4)
    jac = torch.autograd.functional.jacobian(
        lambda z: smooth(z).sum(0), x
    )  # (T, B, L, D)
    torch.testing.assert_close(a, (jac * x[None]).sum(-1).permute(1, 0, 2))


@pytest.mark.parametrize("points_per_call", [1, 4, 100])
def test_integrated_gradients_is_complete_for_a_smooth_function(points_per_call):
    x = torch.randn(3, 4, 2, generator=gen(6), dtype=torch.float64)
    base = 0.1 * torch.randn(3, 4, 2, generator=gen(7), dtype=torch.float64)
    a = integrated_gradients(
        smooth, x, base, steps=200, points_per_call=points_per_call
    )
    gap = a.sum(-1) - (smooth(x) - smooth(base))
    assert gap.abs().max() < 1e-3
    coarse = integrated_gradients(smooth, x, base, steps=10)
    finer = integrated_gradients(smooth, x, base, steps=20)
    err10 = (coarse.sum(-1) - (smooth(x) - smooth(base))).abs().max()
    err20 = (finer.sum(-1) - (smooth(x) - smooth(base))).abs().max()
    assert err20 < err10 / 3  # about a quarter: O(1 / m^2)


def test_path_gradients_ends_are_gradient_x_input_and_zero_baseline():
    x = torch.randn(2, 3, 2, generator=gen(8), dtype=torch.float64)
    path = path_gradients(smooth, x, steps=4, points_per_call=3)
    assert path.shape == (5, 2, 2, 3)
    torch.testing.assert_close(path[-1], gradient_x_input(smooth, x))
    torch.testing.assert_close(
        path_gradients(smooth, x, steps=4), path
    )  # chunking changes nothing


def test_integrated_gradients_of_a_linear_function_is_exact_with_one_step():
    w = torch.randn(4, 2, generator=gen(9), dtype=torch.float64)

    def linear(x):
        return (x * w).sum((1, 2))[:, None]

    x = torch.randn(3, 4, 2, generator=gen(10), dtype=torch.float64)
    torch.testing.assert_close(
        integrated_gradients(linear, x, steps=1)[:, 0], (x * w).sum(-1)
    )


def test_completeness_on_the_date_model_in_float64(task, tiny):
    examples = task.examples("test", 3, seed=2)
    src, tgt_in, tgt_out = task.encode(examples)
    model = tiny.double()
    try:
        f = target_prob_fn(model, src, tgt_in, tgt_out)
        emb = source_embeddings(model, src)
        a = integrated_gradients(f, emb, steps=64, points_per_call=65)
        gap = a.sum(-1) - (f(emb) - f(torch.zeros_like(emb)))
        assert gap.abs().max() < 1e-2
        stacked = f(torch.cat([emb, emb]))  # k copies of the batch
        torch.testing.assert_close(stacked, f(emb).repeat(2, 1))
        logf = target_prob_fn(model, src, tgt_in, tgt_out, log=True)
        torch.testing.assert_close(logf(emb).exp() * (tgt_out != 0), f(emb))
    finally:
        tiny.float()


# ---- adversarial attention ----


def test_js_divergence_properties():
    p = stochastic(4, 6, seed=11)
    q = stochastic(4, 6, seed=12)
    js = js_divergence(p, q)
    torch.testing.assert_close(js, js_divergence(q, p))
    assert (js > 0).all() and (js <= math.log(2)).all()
    m = (p + q) / 2
    kl = lambda a, b: (a * (a / b).log()).sum(-1)  # noqa: E731
    torch.testing.assert_close(js, (kl(p, m) + kl(q, m)) / 2)
    disjoint = js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]))
    assert disjoint.item() == pytest.approx(math.log(2))
    x = p.clone()
    x[:, :2] = 0
    x = (x / x.sum(-1, keepdim=True)).requires_grad_(True)
    (g,) = torch.autograd.grad(js_divergence(x, q).sum(), x)
    assert torch.isfinite(g).all()


def test_step_attend_replaces_one_query_row_only():
    g = gen(13)
    q, k, v = (torch.randn(2, 3, 5 if i == 0 else 7, 4, generator=g) for i in range(3))
    new = stochastic(2, 3, 7, seed=14).float()
    out, w = step_attend(new, 2)(q, k, v, None)
    exact_out, exact_w = xattn.attention(q, k, v)
    keep = [0, 1, 3, 4]
    torch.testing.assert_close(w[:, :, keep], exact_w[:, :, keep])
    torch.testing.assert_close(w[:, :, 2], new)
    torch.testing.assert_close(out[:, :, keep], exact_out[:, :, keep])
    torch.testing.assert_close(out[:, :, 2], torch.einsum("bhk,bhkd->bhd", new, v))


def test_with_step_weights_own_weights_change_nothing(task, tiny):
    src, tgt_in, _ = task.encode(task.examples("test", 5, seed=4))
    tiny.decoder.keep_cross_weights()
    with torch.no_grad():
        probs = with_step_weights(tiny, src, tgt_in, 3)
    tiny.decoder.keep_cross_weights(False)
    own = tiny.decoder.cross_weights()[:, :, :, 3]
    with torch.no_grad():
        again = with_step_weights(tiny, src, tgt_in, 3, own)
    torch.testing.assert_close(again, probs)
    torch.testing.assert_close(probs.sum(-1), torch.ones(5))


def test_adversarial_attention_keeps_within_eps(task, tiny):
    src, tgt_in, _ = task.encode(task.examples("test", 6, seed=5))
    before = [p.clone() for p in tiny.parameters()]
    w, js, tv = adversarial_attention(tiny, src, tgt_in, 1, eps=0.05, iters=20)
    assert w.shape[:2] == (2, 6) and js.shape == tv.shape == (6,)
    assert (tv <= 0.05 + 1e-6).all() and (js >= 0).all() and js.max() > 0
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1]))
    assert (w * (src == 0)[None, :, None, :]).abs().max() == 0  # padding gets nothing
    assert all(torch.equal(a, b) for a, b in zip(before, tiny.parameters()))
    assert all(p.grad is None for p in tiny.parameters())


# ---- new in the per-head analysis ----


def test_agreement_per_example():
    fields = torch.tensor([[0, 1, 2], [0, 1, 2]])
    truth = torch.tensor([[0, 1], [2, -1]])
    attributions = torch.tensor(
        [[[1.0, 0, 0], [1.0, 0, 0]], [[0, 0, 1.0], [1.0, 0, 0]]]
    )  # (B, Lq, Lk): date 0 hits 1 of 2, date 1 hits 1 of 1
    shares = agreement(attributions, fields, truth, per_example=True)
    torch.testing.assert_close(shares, torch.tensor([0.5, 1.0]))
    assert agreement(attributions, fields, truth).item() == pytest.approx(2 / 3)
    stacked = agreement(
        torch.stack([attributions] * 3), fields, truth, per_example=True
    )
    assert stacked.shape == (3, 2)


def test_step_weights_and_head_influence(task, tiny):
    src, tgt_in, _ = task.encode(task.examples("test", 4, seed=8))
    own, probs = step_weights(tiny, src, tgt_in, 2)
    assert own.shape == (2, 4, 2, src.shape[1]) and probs.shape[0] == 4
    assert not any(layer.keep_weights for layer in tiny.decoder.layers)
    with torch.no_grad():
        torch.testing.assert_close(with_step_weights(tiny, src, tgt_in, 2), probs)
    assert head_influence(tiny, src, tgt_in, 2, own).abs().max() < 1e-6
    real = (src != 0)[None, :, None, :].float()
    uniform = (real / real.sum(-1, keepdim=True)).expand_as(own)
    tv = head_influence(tiny, src, tgt_in, 2, uniform)  # (N, B, H)
    assert tv.shape == (2, 4, 2) and (tv >= 0).all() and (tv <= 1).all()
    swapped = own.clone()
    swapped[1, :, 0] = uniform[1, :, 0]  # layer 1, head 0 alone
    with torch.no_grad():
        alone = with_step_weights(tiny, src, tgt_in, 2, swapped)
    torch.testing.assert_close(tv[1, :, 0], 0.5 * (alone - probs).abs().sum(-1))


def test_adversary_restricted_to_some_heads_leaves_the_others(task, tiny):
    src, tgt_in, _ = task.encode(task.examples("test", 5, seed=9))
    heads = torch.tensor([[False, False], [True, False]])
    own, _ = step_weights(tiny, src, tgt_in, 1)
    w, js, tv = adversarial_attention(
        tiny, src, tgt_in, 1, heads=heads, eps=0.05, iters=15
    )
    torch.testing.assert_close(w[~heads[:, None, :].expand(-1, 5, -1)],
                               own[~heads[:, None, :].expand(-1, 5, -1)])  # fmt: skip
    torch.testing.assert_close(js, js_divergence(w, own)[1, :, 0])  # the one head
    assert (tv <= 0.05 + 1e-6).all() and js.max() > 0


# ---- float32 and float64 ----


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pure_functions_work_in_float32_and_float64(dtype):
    w = stochastic(3, 2, 5, 5).to(dtype)
    cross = stochastic(2, 4, 5, seed=3).to(dtype)
    assert rollout(w).dtype == dtype and cross_rollout(cross, w).dtype == dtype
    torch.testing.assert_close(rollout(w).double(), rollout(w.double()))
    values = torch.rand(5, 3, generator=gen(4), dtype=dtype)
    assert trapezoid(values).dtype == dtype
    p, q = stochastic(4, 6, seed=11).to(dtype), stochastic(4, 6, seed=12).to(dtype)
    js = js_divergence(p, q)
    assert js.dtype == dtype
    torch.testing.assert_close(js.double(), js_divergence(p.double(), q.double()))
    x = torch.randn(3, 4, 2, generator=gen(5), dtype=dtype)
    for a in (
        gradient_x_input(smooth, x),
        path_gradients(smooth, x, steps=3),
        integrated_gradients(smooth, x, steps=3),
    ):
        assert a.dtype == dtype and torch.isfinite(a).all()
    torch.testing.assert_close(
        integrated_gradients(smooth, x, steps=8).double(),
        integrated_gradients(smooth, x.double(), steps=8),
        atol=1e-4,
        rtol=1e-4,
    )
    fields = torch.tensor([[0, 0, 1, 2, -1]])
    truth = torch.tensor([[0, 1, 2, -1]])
    attributions = torch.rand(1, 4, 5, generator=gen(6), dtype=dtype)
    assert agreement(attributions, fields, truth) == agreement(
        attributions.double(), fields, truth
    )
    qkv = [torch.randn(2, 3, 5 if i == 0 else 7, 4, generator=gen(i), dtype=dtype)
           for i in range(3)]  # fmt: skip
    out, weights = step_attend(stochastic(2, 3, 7).to(dtype), 1)(*qkv, None)
    assert out.dtype == weights.dtype == dtype


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_model_functions_work_in_float32_and_float64(task, tiny, dtype):
    model = copy.deepcopy(tiny).to(dtype)
    examples = task.examples("test", 4, seed=6)
    src, tgt_in, tgt_out = task.encode(examples)
    truth = intervention_truth(model, task, examples)
    assert truth.dtype == torch.long and truth.shape == tgt_out.shape
    assert encoder_self_weights(model, src).dtype == dtype
    emb = source_embeddings(model, src)
    f = target_prob_fn(model, src, tgt_in, tgt_out)
    assert emb.dtype == dtype and f(emb).dtype == dtype
    own, probs = step_weights(model, src, tgt_in, 2)
    assert own.dtype == probs.dtype == dtype
    assert head_influence(model, src, tgt_in, 2, own).dtype == dtype
    w, js, tv = adversarial_attention(model, src, tgt_in, 2, iters=3)
    assert w.dtype == js.dtype == tv.dtype == dtype
    torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:-1], dtype=dtype))
