"""Bad calls of xattn.explain: each a ValueError that names the argument and the rule.

Wrong shapes, dtypes, empty sizes, NaN or infinite settings, steps out of range and
mismatched lengths, for every public function of the module (the ground truth,
rollout, the gradient methods, the step swaps and the adversary).
"""

import copy
import dataclasses
import random

import pytest
import torch

import xattn
import xattn.explain as ex

NAN, INF = float("nan"), float("inf")
TASK = xattn.DateTask()
EXAMPLES = TASK.examples("test", 3, seed=0)
SRC, TGT_IN, TGT_OUT = TASK.encode(EXAMPLES)
B, LK = SRC.shape
LQ = TGT_IN.shape[1]

xattn.seed_everything(0)
MODEL = xattn.Seq2Seq(
    xattn.Seq2SeqConfig(
        len(TASK.source_vocab), len(TASK.target_vocab), d_model=16, n_heads=2,
        n_layers=2, d_ff=32, dropout=0.0,
    )
).eval()  # fmt: skip
TRAINING = copy.deepcopy(MODEL).train()
N, H = 2, 2


def stochastic(*shape, dtype=torch.float32):
    w = torch.rand(*shape, generator=torch.Generator().manual_seed(0), dtype=dtype)
    return w / w.sum(-1, keepdim=True)


def smooth(x):  # (B, L, D) -> (B, 2)
    return torch.stack([x.sum((1, 2)).tanh(), (x**2).sum((1, 2))], 1)


SQ = stochastic(2, 3, 4, 4)
X = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(1))
FIELDS = torch.zeros(2, 4, dtype=torch.long)
TRUTH = torch.zeros(2, 3, dtype=torch.long)
ATTR = torch.rand(2, 3, 4)
OWN = stochastic(N, B, H, LK)
F = ex.target_prob_fn(MODEL, SRC, TGT_IN, TGT_OUT)
EMB = ex.source_embeddings(MODEL, SRC)


def with_nan(t):
    t = t.clone()
    t.view(-1)[0] = NAN
    return t


def bad_target():
    return dataclasses.replace(EXAMPLES[0], target="2023-13-45")


def no_spans():
    return dataclasses.replace(EXAMPLES[0], spans={"year": (0, 4)})


def adversary(**kwargs):
    return ex.adversarial_attention(MODEL, SRC, TGT_IN, 1, iters=1, **kwargs)


CASES = [
    # ---- the ground truth ----
    ("source_fields: a string", lambda: ex.source_fields("2023", 5),
     r"examples must be a non-empty list of DateExample"),
    ("source_fields: empty", lambda: ex.source_fields([], 5),
     r"examples must be a non-empty list of DateExample .*, got an empty list"),
    ("source_fields: not examples", lambda: ex.source_fields([1, 2], 5),
     r"examples must be a non-empty list of DateExample .*, got int at index 0"),
    ("source_fields: lk 0", lambda: ex.source_fields(EXAMPLES, 0),
     r"lk must be a positive int, got 0"),
    ("source_fields: lk float", lambda: ex.source_fields(EXAMPLES, 30.0),
     r"lk must be a positive int, got 30.0"),
    ("source_fields: lk too short", lambda: ex.source_fields(EXAMPLES, 3),
     r"lk=3 is shorter than example 0"),
    ("target_fields: lq 0", lambda: ex.target_fields(0),
     r"lq must be a positive int, got 0"),
    ("target_fields: lq True", lambda: ex.target_fields(True),
     r"lq must be a positive int, got True"),
    ("intervene: weekday", lambda: ex.intervene(EXAMPLES[0], "weekday"),
     r"field must be one of \('year', 'month', 'day'\), got 'weekday'"),
    ("intervene: not an example", lambda: ex.intervene("8 May 2023", "day"),
     r"example must be a DateExample \(DateTask.examples gives them\), got str"),
    ("intervene: rng a seed", lambda: ex.intervene(EXAMPLES[0], "day", 5),
     r"rng must be a random.Random or None, got int"),
    ("intervene: no date", lambda: ex.intervene(bad_target(), "day"),
     r"example.target must be an ISO date \(YYYY-MM-DD\), got '2023-13-45'"),
    ("intervene: spans missing", lambda: ex.intervene(no_spans(), "day"),
     r"example.spans must locate every field"),
    ("intervention_truth: not a model",
     lambda: ex.intervention_truth(torch.nn.Linear(2, 2), TASK, EXAMPLES),
     r"model must be a xattn.Seq2Seq \(the date model\), got Linear"),
    ("intervention_truth: training mode",
     lambda: ex.intervention_truth(TRAINING, TASK, EXAMPLES),
     r"model must be in eval mode \(call model.eval\(\) first\)"),
    ("intervention_truth: task", lambda: ex.intervention_truth(MODEL, None, EXAMPLES),
     r"task must be a xattn.DateTask, got NoneType"),
    ("intervention_truth: no examples", lambda: ex.intervention_truth(MODEL, TASK, []),
     r"examples must be a non-empty list"),
    ("intervention_truth: seed -1",
     lambda: ex.intervention_truth(MODEL, TASK, EXAMPLES, seed=-1),
     r"seed must be an int >= 0, got -1"),
    ("intervention_truth: a bad date",
     lambda: ex.intervention_truth(MODEL, TASK, [bad_target()]),
     r"example.target must be an ISO date"),
    ("agreement: integer attributions",
     lambda: ex.agreement(torch.ones(2, 3, 4, dtype=torch.long), FIELDS, TRUTH),
     r"attributions must be a floating-point tensor"),
    ("agreement: 2-d attributions", lambda: ex.agreement(ATTR[0], FIELDS, TRUTH),
     r"attributions \(..., B, Lq, Lk\) need fields \(B, Lk\) and truth \(B, Lq\)"),
    ("agreement: fields shape",
     lambda: ex.agreement(ATTR, torch.zeros(2, 5, dtype=torch.long), TRUTH),
     r"fields \(B, Lk\).*fields \(2, 5\)"),
    ("agreement: truth shape",
     lambda: ex.agreement(ATTR, FIELDS, torch.zeros(2, 4, dtype=torch.long)),
     r"truth \(B, Lq\).*truth \(2, 4\)"),
    ("agreement: float fields", lambda: ex.agreement(ATTR, FIELDS.float(), TRUTH),
     r"fields must be a torch.long tensor of field ids, got \(2, 4\) torch.float32"),
    ("agreement: truth out of range", lambda: ex.agreement(ATTR, FIELDS, TRUTH + 3),
     r"truth must hold field ids in \[-1, 3\), -1 for none: got min 3, max 3"),
    ("agreement: no source character",
     lambda: ex.agreement(torch.rand(2, 3, 0), torch.zeros(2, 0, dtype=torch.long),
                          TRUTH),
     r"attributions \(2, 3, 0\) is empty: agreement needs at least one source"),
    ("agreement: NaN", lambda: ex.agreement(with_nan(ATTR), FIELDS, TRUTH),
     r"attributions must be finite"),
    ("agreement: nothing scored", lambda: ex.agreement(ATTR, FIELDS, TRUTH - 1),
     r"truth scores no character: every entry is -1"),
    ("agreement: per_example 1",
     lambda: ex.agreement(ATTR, FIELDS, TRUTH, per_example=1),
     r"per_example must be True or False, got 1"),
    # ---- rollout ----
    ("rollout: not square",
     lambda: ex.rollout(stochastic(2, 3, 4)[..., None, :].expand(2, 3, 2, 4)),
     r"weights must be \(N, \.\.\., L, L\).*\(2, 3, 2, 4\)"),
    ("rollout: 2-d", lambda: ex.rollout(stochastic(4, 4)),
     r"weights must be \(N, \.\.\., L, L\).*weights \(4, 4\)"),
    ("rollout: negative", lambda: ex.rollout(-SQ), r"weights must be non-negative"),
    ("rollout: NaN", lambda: ex.rollout(with_nan(SQ)), r"weights must be finite"),
    ("rollout: integer", lambda: ex.rollout(torch.ones(2, 3, 3, dtype=torch.long)),
     r"weights must be a floating-point tensor"),
    ("rollout: residual 2", lambda: ex.rollout(SQ, residual=2.0),
     r"residual must be a finite number in \[0, 1\], got 2.0"),
    ("rollout: residual NaN", lambda: ex.rollout(SQ, residual=NAN),
     r"residual must be a finite number in \[0, 1\], got nan"),
    ("rollout: residual inf", lambda: ex.rollout(SQ, residual=INF),
     r"residual must be a finite number in \[0, 1\], got inf"),
    ("rollout: a row of zeros with no residual",
     lambda: ex.rollout(torch.zeros(2, 3, 3), residual=0.0),
     r"weights has a row of zeros .* residual=0 cannot renormalize"),
    ("cross_rollout: Lk differs", lambda: ex.cross_rollout(stochastic(3, 2, 5), SQ),
     r"cross \(3, 2, 5\) vs encoder_weights \(2, 3, 4, 4\)"),
    ("cross_rollout: 1-d cross", lambda: ex.cross_rollout(stochastic(4), SQ),
     r"must share the leading dims and Lk: cross \(4,\)"),
    ("cross_rollout: dtypes differ",
     lambda: ex.cross_rollout(stochastic(3, 2, 4, dtype=torch.float64), SQ),
     r"cross and encoder_weights must share a dtype and a device"),
    ("cross_rollout: residual NaN",
     lambda: ex.cross_rollout(stochastic(3, 2, 4), SQ, residual=NAN),
     r"residual must be a finite number"),
    ("encoder_self_weights: float ids",
     lambda: ex.encoder_self_weights(MODEL, SRC.float()),
     r"src must be a \(B, L\) tensor of torch.long token ids, got \(3, \d+\) "
     r"torch.float32"),
    ("encoder_self_weights: ids out of range",
     lambda: ex.encoder_self_weights(MODEL, SRC + 1000),
     r"src holds ids outside \[0, \d+\)"),
    ("encoder_self_weights: empty",
     lambda: ex.encoder_self_weights(MODEL, SRC[:0]),
     r"src \(0, \d+\) is empty: it needs B, L >= 1"),
    ("encoder_self_weights: 1-d", lambda: ex.encoder_self_weights(MODEL, SRC[0]),
     r"src must be a \(B, L\) tensor"),
    ("encoder_self_weights: training mode",
     lambda: ex.encoder_self_weights(TRAINING, SRC), r"model must be in eval mode"),
    # ---- gradients ----
    ("gradient_x_input: 2-d x", lambda: ex.gradient_x_input(smooth, X[0]),
     r"x must be \(B, L, D\), got x \(3, 4\)"),
    ("gradient_x_input: integer x",
     lambda: ex.gradient_x_input(smooth, X.long()),
     r"x must be a floating-point tensor"),
    ("gradient_x_input: f not a function", lambda: ex.gradient_x_input(None, X),
     r"f must be a function of x \(B, L, D\) -> outputs \(B, T\), got NoneType"),
    ("gradient_x_input: empty batch", lambda: ex.gradient_x_input(smooth, X[:0]),
     r"x \(0, 3, 4\) is empty: B, L and D must be >= 1"),
    ("gradient_x_input: no features",
     lambda: ex.gradient_x_input(smooth, X[..., :0]),
     r"x \(2, 3, 0\) is empty"),
    ("gradient_x_input: NaN x", lambda: ex.gradient_x_input(smooth, with_nan(X)),
     r"x must be finite: it holds NaN or inf"),
    ("gradient_x_input: f gives (B,)",
     lambda: ex.gradient_x_input(lambda z: z.sum((1, 2)), X),
     r"f must map x \(B, L, D\) to outputs \(B, T\).*gave \(2,\)"),
    ("gradient_x_input: f gives ints",
     lambda: ex.gradient_x_input(lambda z: (z > 0).sum(2).long(), X),
     r"gave \(2, 3\) of dtype torch.int64, not floating-point"),
    ("gradient_x_input: f ignores x",
     lambda: ex.gradient_x_input(lambda z: torch.ones(len(z), 2), X),
     r"f's outputs do not depend on x through autograd"),
    ("path_gradients: steps 0", lambda: ex.path_gradients(smooth, X, steps=0),
     r"steps must be a positive int, got 0"),
    ("path_gradients: steps 2.5", lambda: ex.path_gradients(smooth, X, steps=2.5),
     r"steps must be a positive int, got 2.5"),
    ("path_gradients: steps True", lambda: ex.path_gradients(smooth, X, steps=True),
     r"steps must be a positive int, got True"),
    ("path_gradients: points_per_call 0",
     lambda: ex.path_gradients(smooth, X, points_per_call=0),
     r"points_per_call must be a positive int, got 0"),
    ("path_gradients: baseline shape",
     lambda: ex.path_gradients(smooth, X, torch.zeros(2, 3, 5)),
     r"baseline must match x in shape, dtype and device.*\(2, 3, 5\)"),
    ("path_gradients: baseline dtype",
     lambda: ex.path_gradients(smooth, X, torch.zeros(2, 3, 4, dtype=torch.float64)),
     r"baseline must match x.*torch.float64"),
    ("path_gradients: baseline NaN",
     lambda: ex.path_gradients(smooth, X, with_nan(torch.zeros_like(X))),
     r"baseline must be finite"),
    ("integrated_gradients: steps 0",
     lambda: ex.integrated_gradients(smooth, X, steps=0),
     r"steps must be a positive int, got 0"),
    ("integrated_gradients: baseline shape",
     lambda: ex.integrated_gradients(smooth, X, torch.zeros(2, 3, 5)),
     r"baseline must match x.*\(2, 3, 5\)"),
    ("integrated_gradients: f gives (B,)",
     lambda: ex.integrated_gradients(lambda z: z.sum((1, 2)), X),
     r"f must map x \(B, L, D\) to outputs \(B, T\).*gave \(\d+,\)"),
    ("trapezoid: one sample", lambda: ex.trapezoid(torch.ones(1, 3)),
     r"at least 2 samples along dim 0, got \(1, 3\)"),
    ("trapezoid: a number", lambda: ex.trapezoid(torch.tensor(1.0)),
     r"at least 2 samples along dim 0, got \(\)"),
    ("trapezoid: integers", lambda: ex.trapezoid(torch.ones(3, dtype=torch.long)),
     r"values must be a floating-point tensor"),
    ("source_embeddings: float ids", lambda: ex.source_embeddings(MODEL, SRC.float()),
     r"src must be a \(B, L\) tensor of torch.long token ids"),
    ("source_embeddings: not a model", lambda: ex.source_embeddings(None, SRC),
     r"model must be a xattn.Seq2Seq"),
    ("target_prob_fn: shapes differ",
     lambda: ex.target_prob_fn(MODEL, SRC, TGT_IN, TGT_OUT[:, :-1]),
     r"tgt_in and tgt_out must be \(B, Lq\) for src \(B, Lk\)"),
    ("target_prob_fn: batch differs",
     lambda: ex.target_prob_fn(MODEL, SRC[:2], TGT_IN, TGT_OUT),
     r"tgt_in and tgt_out must be \(B, Lq\) for src \(B, Lk\): got src \(2, "),
    ("target_prob_fn: target ids out of range",
     lambda: ex.target_prob_fn(MODEL, SRC, TGT_IN, TGT_OUT + 100),
     r"tgt_out holds ids outside \[0, \d+\)"),
    ("target_prob_fn: log 1",
     lambda: ex.target_prob_fn(MODEL, SRC, TGT_IN, TGT_OUT, log=1),
     r"log must be True or False, got 1"),
    ("target_prob_fn's f: not k copies", lambda: F(torch.zeros(4, LK, 16)),
     r"emb must be \(k B, Lk, D\) for B = 3, Lk = \d+, D = 16, got emb \(4, "),
    ("target_prob_fn's f: width", lambda: F(torch.zeros(3, LK, 8)),
     r"emb must be \(k B, Lk, D\) .* got emb \(3, \d+, 8\)"),
    ("target_prob_fn's f: no copy", lambda: F(EMB[:0]),
     r"holds no copy of the batch \(k = 0\)"),
    ("target_prob_fn's f: float64 for a float32 model", lambda: F(EMB.double()),
     r"emb must be torch.float32 on cpu, as the model, got emb torch.float64"),
    # ---- the step swaps ----
    ("step_attend: step -1", lambda: ex.step_attend(torch.ones(1, 1, 3), -1),
     r"step must be an int >= 0, got -1"),
    ("step_attend: 2-d weights", lambda: ex.step_attend(torch.ones(1, 3), 0),
     r"weights must be \(B, H, Lk\), got weights \(1, 3\)"),
    ("step_attend: NaN weights", lambda: ex.step_attend(with_nan(OWN[0]), 0),
     r"weights must be finite"),
    ("step_attend: the wrong shape at call time",
     lambda: ex.step_attend(torch.ones(2, 3, 6), 1)(
         *(torch.randn(2, 3, 5 if i == 0 else 7, 4) for i in range(3)), None),
     r"weights must be \(B, H, Lk\) = \(2, 3, 7\).*got weights \(2, 3, 6\)"),
    ("step_attend: step beyond Lq at call time",
     lambda: ex.step_attend(torch.ones(2, 3, 7), 5)(
         *(torch.randn(2, 3, 5 if i == 0 else 7, 4) for i in range(3)), None),
     r"with step < Lq = 5: got weights \(2, 3, 7\), step 5"),
    ("step_attend: float64 weights for float32 values",
     lambda: ex.step_attend(torch.ones(2, 3, 7, dtype=torch.float64), 1)(
         *(torch.randn(2, 3, 5 if i == 0 else 7, 4) for i in range(3)), None),
     r"weights must be torch.float32 on cpu, as the values"),
    ("with_step_weights: step beyond Lq",
     lambda: ex.with_step_weights(MODEL, SRC, TGT_IN, LQ),
     rf"step must be a target position < Lq = {LQ}, got {LQ}"),
    ("with_step_weights: step 1.0",
     lambda: ex.with_step_weights(MODEL, SRC, TGT_IN, 1.0),
     r"step must be an int >= 0, got 1.0"),
    ("with_step_weights: batches differ",
     lambda: ex.with_step_weights(MODEL, SRC[:2], TGT_IN, 0),
     r"src and tgt_in must share the batch size"),
    ("with_step_weights: weights shape",
     lambda: ex.with_step_weights(MODEL, SRC, TGT_IN, 0, OWN[:, :, :1]),
     r"weights must be \(N, B, H, Lk\) with N = 2 decoder layers, B = 3, H = 2"),
    ("with_step_weights: float64 weights",
     lambda: ex.with_step_weights(MODEL, SRC, TGT_IN, 0, OWN.double()),
     r"weights must be torch.float32 on cpu, as the model, got weights torch.float64"),
    ("with_step_weights: negative weights",
     lambda: ex.with_step_weights(MODEL, SRC, TGT_IN, 0, -OWN),
     r"weights must be finite and non-negative"),
    ("step_weights: step beyond Lq", lambda: ex.step_weights(MODEL, SRC, TGT_IN, 99),
     rf"step must be a target position < Lq = {LQ}, got 99"),
    ("head_influence: no weights",
     lambda: ex.head_influence(MODEL, SRC, TGT_IN, 0, None),
     r"weights must be given"),
    ("head_influence: weights shape",
     lambda: ex.head_influence(MODEL, SRC, TGT_IN, 0, OWN[:1]),
     r"weights must be \(N, B, H, Lk\) with N = 2 decoder layers"),
    # ---- the adversary ----
    ("js_divergence: shapes differ",
     lambda: ex.js_divergence(stochastic(3), stochastic(4)),
     r"p and q must have the same shape: p \(3,\) vs q \(4,\)"),
    ("js_divergence: integer p",
     lambda: ex.js_divergence(torch.ones(3, dtype=torch.long), stochastic(3)),
     r"p must be a floating-point tensor"),
    ("js_divergence: dtypes differ",
     lambda: ex.js_divergence(stochastic(3), stochastic(3, dtype=torch.float64)),
     r"p and q must share a dtype and a device"),
    ("js_divergence: not distributions",
     lambda: ex.js_divergence(torch.ones(2, 3), stochastic(2, 3)),
     r"p must sum to 1 over its last dim .* its sums run from 3 to 3"),
    ("js_divergence: negative q",
     lambda: ex.js_divergence(stochastic(3), torch.tensor([1.5, -0.5, 0.0])),
     r"q must be finite and non-negative"),
    ("js_divergence: NaN", lambda: ex.js_divergence(with_nan(stochastic(3)),
                                                    stochastic(3)),
     r"p must be finite and non-negative"),
    ("js_divergence: no keys",
     lambda: ex.js_divergence(torch.ones(2, 0), torch.ones(2, 0)),
     r"p must be \(\.\.\., K\) distributions over K >= 1 keys, got p \(2, 0\)"),
    ("adversarial_attention: eps 2", lambda: adversary(eps=2.0),
     r"eps must be a finite number in \[0, 1\], got 2.0"),
    ("adversarial_attention: eps NaN", lambda: adversary(eps=NAN),
     r"eps must be a finite number in \[0, 1\], got nan"),
    ("adversarial_attention: iters 0",
     lambda: ex.adversarial_attention(MODEL, SRC, TGT_IN, 1, iters=0),
     r"iters must be a positive int, got 0"),
    ("adversarial_attention: lr 0", lambda: adversary(lr=0.0),
     r"lr must be a finite number in \(0, inf\], got 0.0"),
    ("adversarial_attention: lr inf", lambda: adversary(lr=INF),
     r"lr must be a finite number in \(0, inf\], got inf"),
    ("adversarial_attention: penalty -1", lambda: adversary(penalty=-1.0),
     r"penalty must be a finite number in \[0, inf\], got -1.0"),
    ("adversarial_attention: seed -1", lambda: adversary(seed=-1),
     r"seed must be an int >= 0, got -1"),
    ("adversarial_attention: step beyond Lq",
     lambda: ex.adversarial_attention(MODEL, SRC, TGT_IN, LQ + 3, iters=1),
     rf"step must be a target position < Lq = {LQ}, got {LQ + 3}"),
    ("adversarial_attention: heads shape",
     lambda: adversary(heads=torch.ones(2, 3, dtype=torch.bool)),
     r"heads must be a bool \(N, H\) = \(2, 2\) tensor.*got \(2, 3\) torch.bool"),
    ("adversarial_attention: heads float",
     lambda: adversary(heads=torch.ones(2, 2)),
     r"heads must be a bool \(N, H\) = \(2, 2\) tensor.*torch.float32"),
    ("adversarial_attention: no head",
     lambda: adversary(heads=torch.zeros(2, 2, dtype=torch.bool)),
     r"heads must name at least one head"),
    ("adversarial_attention: training mode",
     lambda: ex.adversarial_attention(TRAINING, SRC, TGT_IN, 1, iters=1),
     r"model must be in eval mode"),
]  # fmt: skip


@pytest.mark.parametrize(
    "call, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_call_raises_a_value_error_naming_the_rule(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_every_public_function_has_a_bad_call():
    called = {name.split(":")[0].split("'")[0] for name, *_ in CASES}
    public = {n for n in ex.__all__ if callable(getattr(ex, n))}
    assert public <= called, f"no bad call for {sorted(public - called)}"


def test_a_bad_call_leaves_the_model_as_it_was():
    before = [p.clone() for p in MODEL.parameters()]
    with pytest.raises(ValueError):
        ex.adversarial_attention(MODEL, SRC, TGT_IN, 1, iters=1, eps=NAN)
    assert all(torch.equal(a, b) for a, b in zip(before, MODEL.parameters()))
    assert not any(layer.keep_weights for layer in MODEL.decoder.layers)


def test_intervene_with_a_seeded_rng_is_still_accepted():
    assert ex.intervene(EXAMPLES[0], "day", random.Random(3)).target != (
        EXAMPLES[0].target
    )
