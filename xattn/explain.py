"""Reading attention: explanation methods scored against an intervention ground truth.

Index legend (the notation page's symbols):
    n layer (N), b batch (B), h head (H), q target position (Lq),
    k source position (Lk), d feature (D), t output scored (T).

On the date task the true alignment is known: changing the day of the source
changes the day digits of the output and nothing else. :func:`intervention_truth`
finds, for each character the model writes, the one source field whose
intervention changes it, and :func:`agreement` scores any (..., B, Lq, Lk) map of
attributions against it. The attributions: raw cross-attention, :func:`rollout`
of the encoder's self-attention composed with it (:func:`cross_rollout`),
:func:`gradient_x_input` and :func:`integrated_gradients` on the source
embeddings. :func:`adversarial_attention` searches for cross-attention weights
far from the model's (in :func:`js_divergence`) that leave its prediction almost
unchanged, after Jain and Wallace (2019); they searched the one attention layer of
recurrent models (classification, QA, NLI) for several adversaries at once, kept apart,
while here one adversary is optimized jointly over every layer and head at one
teacher-forced step.
"""

from __future__ import annotations

import calendar
import contextlib
import datetime as dt
import math
import random
from collections.abc import Callable, Sequence

import torch

from xattn.attention import aggregate, attention, masked_softmax
from xattn.checks import (
    check_bool,
    check_floating,
    check_int,
    check_number,
    check_positive_int,
    fmt_shape,
)
from xattn.data import TARGET_FIELDS, DateExample, DateTask, render_date
from xattn.decode import greedy_decode
from xattn.layers import use_attention

__all__ = [
    "FIELDS",
    "source_fields",
    "target_fields",
    "intervene",
    "intervention_truth",
    "agreement",
    "rollout",
    "cross_rollout",
    "encoder_self_weights",
    "gradient_x_input",
    "integrated_gradients",
    "source_embeddings",
    "target_prob_fn",
    "path_gradients",
    "trapezoid",
    "js_divergence",
    "step_attend",
    "with_step_weights",
    "adversarial_attention",
]

#: The fields of a date, in the order of the ISO target; a field's id is its index.
FIELDS = tuple(TARGET_FIELDS)


# ---- the ground truth ----


def source_fields(examples: Sequence[DateExample], lk: int) -> torch.Tensor:
    """Which field each source character belongs to: its index in FIELDS, else -1.

    Shapes:
        -> fields (B, Lk)
    """
    check_positive_int("lk", lk)
    fields = torch.full((len(examples), lk), -1, dtype=torch.long)
    for b, example in enumerate(examples):
        if len(example.source) > lk:
            raise ValueError(
                f"lk={lk} is shorter than example {b}'s source "
                f"({len(example.source)} characters)"
            )
        for f, name in enumerate(FIELDS):
            s0, s1 = example.spans[name]
            fields[b, s0:s1] = f
    return fields


def target_fields(lq: int) -> torch.Tensor:
    """Which field each ISO target position writes ("YYYY-MM-DD"); -1 for the rest.

    Shapes:
        -> fields (Lq,)
    """
    check_positive_int("lq", lq)
    fields = torch.full((lq,), -1, dtype=torch.long)
    for f, (t0, t1) in enumerate(TARGET_FIELDS.values()):
        fields[t0:t1] = f
    return fields


def _digits(value: int, width: int) -> str:
    return f"{value:0{width}d}"


def _new_value(field: str, date, rng: random.Random) -> int:
    """A value of ``field`` whose ISO digits all differ from ``date``'s."""
    width = 4 if field == "year" else 2
    old = _digits(getattr(date, field), width)
    if field == "year":  # Feb 29 stays a date only in a leap year
        leap_day = (date.month, date.day) == (2, 29)
        pool = [y for y in range(1950, 2050) if not leap_day or calendar.isleap(y)]
    elif field == "month":  # the day must exist in the new month of this year
        days = [calendar.monthrange(date.year, m)[1] for m in range(1, 13)]
        pool = [m for m in range(1, 13) if date.day <= days[m - 1]]
    else:
        pool = range(1, calendar.monthrange(date.year, date.month)[1] + 1)
    choices = [v for v in pool if all(a != b for a, b in zip(_digits(v, width), old))]
    return rng.choice(choices)


def intervene(
    example: DateExample, field: str, rng: random.Random | None = None
) -> DateExample:
    """The same source with one field's value changed, every ISO digit of it.

    Only that field's characters are rewritten (in the example's own format);
    the rest of the source, a weekday included, stays as it was, so the
    weekday may no longer fit the date. The new value is drawn by ``rng``
    among those whose target digits all differ from the old ones.
    """
    if field not in FIELDS:
        raise ValueError(f"field must be one of {FIELDS}, got {field!r}")
    rng = random.Random(0) if rng is None else rng
    date = dt.date.fromisoformat(example.target)
    new_date = date.replace(**{field: _new_value(field, date, rng)})
    text, spans = render_date(new_date, example.template, example.locale or "en")
    (s0, s1), (n0, n1) = example.spans[field], spans[field]
    if field == "day" and "{ord}" in example.template:
        s1, n1 = s1 + 2, n1 + 2  # the ordinal's suffix goes too: "3rd" -> "17th"
    source = example.source[:s0] + text[n0:n1] + example.source[s1:]
    shift = (n1 - n0) - (s1 - s0)
    new_spans = {
        name: (a + shift, b + shift) if a >= s1 else (a, b)
        for name, (a, b) in example.spans.items()
    }
    new_spans[field] = (s0, s0 + spans[field][1] - spans[field][0])
    return DateExample(
        source, new_date.isoformat(), new_spans, example.template, example.locale
    )


def intervention_truth(
    model,
    task: DateTask,
    examples: Sequence[DateExample],
    *,
    seed: int = 0,
) -> torch.Tensor:
    """For each character the model writes, the field whose intervention changes it.

    The model writes every source greedily, then each source with its day, its
    month and then its year changed (:func:`intervene`). An output position
    gets the id of the one field whose intervention changes the character
    there, and -1 when none or more than one does.

    Shapes:
        -> truth (B, Lq), Lq as ``task.encode(examples)`` gives it
    """
    check_int("seed", seed)
    device = next(model.parameters()).device
    src, _, tgt_out = task.encode(examples, device)
    lq = tgt_out.shape[1]
    vocab = task.target_vocab

    def write(batch):
        s = task.encode(batch, device)[0]
        with torch.no_grad():
            out, _ = greedy_decode(
                model, s, lq, bos_id=vocab.bos_id, eos_id=vocab.eos_id
            )
        full = torch.full((len(batch), lq), vocab.pad_id, device=device)
        full[:, : out.shape[1]] = out
        return full  # (B, Lq)

    written = write(examples)
    changed = []
    for f, name in enumerate(FIELDS):
        rng = random.Random(seed * 10 + f)
        other = [intervene(e, name, rng) for e in examples]
        changed.append(write(other) != written)  # (B, Lq)
    changed = torch.stack(changed)  # (3, B, Lq)
    field = changed.float().argmax(0)  # (B, Lq)
    return torch.where(changed.sum(0) == 1, field, -1).cpu()


def agreement(
    attributions: torch.Tensor, fields: torch.Tensor, truth: torch.Tensor
) -> torch.Tensor:
    """Share of scored characters whose top-attributed source character's field is
    the field whose intervention changes them.

    Pass magnitudes (``.abs()``) for signed attributions. Characters with truth
    -1 are not scored.

    Shapes:
        attributions (..., B, Lq, Lk), fields (B, Lk), truth (B, Lq) -> (...)
    """
    check_floating("attributions", attributions)
    if (
        attributions.dim() < 3
        or fields.shape != (attributions.shape[-3], attributions.shape[-1])
        or truth.shape != attributions.shape[-3:-1]
    ):
        raise ValueError(
            "attributions (..., B, Lq, Lk) need fields (B, Lk) and truth (B, Lq): got "
            f"attributions {fmt_shape(attributions)}, fields {fmt_shape(fields)}, "
            f"truth {fmt_shape(truth)}"
        )
    scored = truth >= 0  # (B, Lq)
    if not bool(scored.any()):
        raise ValueError("truth scores no character: every entry is -1")
    top = attributions.argmax(-1).cpu()  # (..., B, Lq)
    top_field = fields.expand(*top.shape[:-1], fields.shape[-1]).gather(-1, top)
    hits = ((top_field == truth) & scored).sum((-2, -1))  # (...)
    return hits / scored.sum()


# ---- rollout ----


def rollout(weights: torch.Tensor, *, residual: float = 0.5) -> torch.Tensor:
    """Attention rollout (Abnar and Zuidema 2020) through a stack of self-attention.

    Each layer's weights ``A`` (heads averaged) become ``r I + (1 - r) A`` for
    the residual connection, rows renormalized, and the layers are multiplied
    from the last down: ``R = A'_N ... A'_1``. Row i of R: how much each input
    position flows into position i of the last layer.

    Shapes:
        weights (N, ..., L, L) -> rollout (..., L, L)
    """
    check_floating("weights", weights)
    check_number("residual", residual, 0.0, 1.0)
    if weights.dim() < 3 or weights.shape[-1] != weights.shape[-2]:
        raise ValueError(
            f"weights must be (N, ..., L, L), square self-attention per layer, got "
            f"weights {fmt_shape(weights)}"
        )
    if bool((weights < 0).any()):
        raise ValueError("weights must be non-negative (attention weights)")
    eye = torch.eye(weights.shape[-1], dtype=weights.dtype, device=weights.device)
    out = eye.expand(weights.shape[1:])
    for layer in weights:
        mixed = residual * eye + (1 - residual) * layer  # (..., L, L)
        mixed = mixed / mixed.sum(-1, keepdim=True)
        out = mixed @ out  # later layers on the left
    return out  # (..., L, L)


def cross_rollout(
    cross: torch.Tensor, encoder_weights: torch.Tensor, *, residual: float = 0.5
) -> torch.Tensor:
    """Cross-attention composed with the rollout of the encoder's self-attention.

    The decoder reads the encoder's last layer, whose position j mixes the
    source positions by row j of :func:`rollout`; so target position q's
    attribution to source character k is ``sum_j cross[q, j] R[j, k]``.

    Shapes:
        cross (..., Lq, Lk), encoder_weights (N, ..., Lk, Lk) -> (..., Lq, Lk)
    """
    check_floating("cross", cross)
    enc = rollout(encoder_weights, residual=residual)  # (..., Lk, Lk)
    if cross.shape[:-2] != enc.shape[:-2] or cross.shape[-1] != enc.shape[-1]:
        raise ValueError(
            "cross (..., Lq, Lk) and encoder_weights (N, ..., Lk, Lk) must share the "
            f"leading dims and Lk: cross {fmt_shape(cross)} vs encoder_weights "
            f"{fmt_shape(encoder_weights)}"
        )
    return cross @ enc  # (..., Lq, Lk)


def encoder_self_weights(model, src: torch.Tensor) -> torch.Tensor:
    """The encoder's self-attention weights on ``src``, every layer and head.

    Shapes:
        src (B, Lk) -> (N, B, H, Lk, Lk)
    """
    kept = []

    def keep(q, k, v, mask):
        out, weights = attention(q, k, v, mask)
        kept.append(weights)
        return out, weights

    with torch.no_grad(), use_attention(model.encoder, keep, layers="self_attn"):
        model.encode(src)
    return torch.stack(kept)


# ---- gradients ----


def _check_x(x: torch.Tensor) -> None:
    check_floating("x", x)
    if x.dim() != 3:
        raise ValueError(f"x must be (B, L, D), got x {fmt_shape(x)}")


def _output_grads(f, x: torch.Tensor) -> torch.Tensor:
    """The gradient of each output f(x)[:, t] w.r.t. x, (B, T, L, D)."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        out = f(x)
        if (
            not isinstance(out, torch.Tensor)
            or out.dim() != 2
            or out.shape[0] != len(x)
        ):
            got = (
                fmt_shape(out) if isinstance(out, torch.Tensor) else type(out).__name__
            )
            raise ValueError(
                f"f must map x (B, L, D) to outputs (B, T): x {fmt_shape(x)} gave {got}"
            )
        t_max = out.shape[1]
        grads = [
            torch.autograd.grad(out[:, t].sum(), x, retain_graph=t < t_max - 1)[0]
            for t in range(t_max)
        ]
    return torch.stack(grads, 1)  # (B, T, L, D)


def gradient_x_input(f: Callable, x: torch.Tensor) -> torch.Tensor:
    """Gradient times input: ``sum_d x[b, l, d] * d f(x)[b, t] / d x[b, l, d]``.

    ``f`` must treat the batch items independently (a model in eval mode does).

    Shapes:
        f: x (B, L, D) -> (B, T); x (B, L, D) -> attributions (B, T, L)
    """
    _check_x(x)
    return (_output_grads(f, x) * x[:, None]).sum(-1)  # (B, T, L)


def path_gradients(
    f: Callable,
    x: torch.Tensor,
    baseline: torch.Tensor | None = None,
    *,
    steps: int = 32,
    points_per_call: int = 1,
) -> torch.Tensor:
    """``(x - x') . grad f`` at the points ``x' + (i / steps) (x - x')`` of the path.

    The integrand of :func:`integrated_gradients`, per source position (summed
    over the features). The baseline ``x'`` is zeros unless given.
    ``points_per_call`` path points go to ``f`` at once, stacked along the batch
    (point by point, each a copy of the batch): ``f`` must then accept (k B, L, D).

    Shapes:
        f: x (B, L, D) -> (B, T); x, baseline (B, L, D) -> (steps + 1, B, T, L)
    """
    _check_x(x)
    check_positive_int("steps", steps)
    check_positive_int("points_per_call", points_per_call)
    if baseline is None:
        baseline = torch.zeros_like(x)
    if baseline.shape != x.shape or baseline.dtype != x.dtype:
        raise ValueError(
            f"baseline must match x in shape and dtype: x {fmt_shape(x)} {x.dtype} vs "
            f"baseline {fmt_shape(baseline)} {baseline.dtype}"
        )
    alphas = torch.linspace(0, 1, steps + 1, dtype=x.dtype, device=x.device)
    delta = x - baseline  # (B, L, D)
    out = []
    for chunk in torch.split(alphas, points_per_call):
        points = baseline[None] + chunk[:, None, None, None] * delta  # (k, B, L, D)
        grads = _output_grads(f, points.flatten(0, 1))  # (k B, T, L, D)
        grads = grads.unflatten(0, (len(chunk), len(x)))  # (k, B, T, L, D)
        out.append((grads * delta[None, :, None]).sum(-1))  # (k, B, T, L)
    return torch.cat(out)  # (steps + 1, B, T, L)


def trapezoid(values: torch.Tensor) -> torch.Tensor:
    """The trapezoid rule on [0, 1] over equally spaced samples along dim 0.

    ``h (v_0 / 2 + v_1 + ... + v_{m-1} + v_m / 2)`` with ``h = 1 / m``.

    Shapes:
        values (m + 1, ...) -> (...)
    """
    check_floating("values", values)
    if values.dim() < 1 or len(values) < 2:
        raise ValueError(
            f"values must hold at least 2 samples along dim 0, got {fmt_shape(values)}"
        )
    m = len(values) - 1
    return (values.sum(0) - (values[0] + values[-1]) / 2) / m


def integrated_gradients(
    f: Callable,
    x: torch.Tensor,
    baseline: torch.Tensor | None = None,
    *,
    steps: int = 32,
    points_per_call: int = 1,
) -> torch.Tensor:
    """Integrated gradients (Sundararajan et al. 2017), by the trapezoid rule.

    ``(x - x') . integral_0^1 grad f(x' + a (x - x')) da``, the integral taken
    by :func:`trapezoid` over the ``steps + 1`` points of :func:`path_gradients`.
    An output's attributions add up to ``f(x) - f(x')`` (completeness) up to the
    rule's error: ``O(1 / steps**2)`` for a smooth ``f``, only ``O(1 / steps)``
    across the kinks of a ReLU.

    Shapes:
        f: x (B, L, D) -> (B, T); x, baseline (B, L, D) -> attributions (B, T, L)
    """
    grads = path_gradients(f, x, baseline, steps=steps, points_per_call=points_per_call)
    return trapezoid(grads)  # (B, T, L)


def source_embeddings(model, src: torch.Tensor) -> torch.Tensor:
    """The model's scaled token embeddings of ``src``, before positions are added.

    Shapes:
        src (B, Lk) -> (B, Lk, D)
    """
    with torch.no_grad():
        return model.src_embed(src) * math.sqrt(model.cfg.d_model)


def target_prob_fn(
    model,
    src: torch.Tensor,
    tgt_in: torch.Tensor,
    tgt_out: torch.Tensor,
    *,
    log: bool = False,
) -> Callable[[torch.Tensor], torch.Tensor]:
    """``f(emb)``: the probability (or log-probability) of each target token,
    teacher-forced, the source given as embeddings (:func:`source_embeddings`);
    0 at padded targets. ``emb`` may stack k copies of the batch, (k B, Lk, D).

    Shapes:
        f: emb (k B, Lk, D) -> (k B, Lq)
    """
    check_bool("log", log)
    src_mask = model.source_mask(src)  # (B, Lk)
    real = tgt_out != model.cfg.pad_id  # (B, Lq)

    def f(emb):
        k = len(emb) // len(src)
        if emb.dim() != 3 or k * len(src) != len(emb) or k == 0:
            raise ValueError(
                f"emb must be (k B, Lk, D) for B = {len(src)}, got emb {fmt_shape(emb)}"
            )
        mask, tin, tout = (t.repeat(k, 1) for t in (src_mask, tgt_in, tgt_out))
        memory = model.encoder(model.dropout(model.positions(emb)), mask)
        logits = model.decode(tin, memory, mask)  # (k B, Lq, V)
        logp = logits.log_softmax(-1).gather(-1, tout[..., None])[..., 0]
        return (logp if log else logp.exp()) * real.repeat(k, 1)  # (k B, Lq)

    return f


# ---- adversarial attention ----


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen-Shannon divergence over the last dim, in nats (0 to ln 2).

    ``JS = KL(p | m) / 2 + KL(q | m) / 2`` with ``m = (p + q) / 2`` and
    ``0 log 0 = 0``; finite gradients where p or q is zero.

    Shapes:
        p, q (..., K) -> (...)
    """
    check_floating("p", p)
    check_floating("q", q)
    if p.shape != q.shape:
        raise ValueError(
            f"p and q must have the same shape: p {fmt_shape(p)} vs q {fmt_shape(q)}"
        )
    tiny = torch.finfo(p.dtype).tiny
    m = (p + q) / 2
    log_m = m.clamp_min(tiny).log()

    def kl(a):
        return (a * (a.clamp_min(tiny).log() - log_m)).sum(-1)

    return (kl(p) + kl(q)) / 2


def step_attend(weights: torch.Tensor, step: int) -> Callable:
    """An ``attend`` function: exact attention, but target position ``step``
    uses the given weights over the keys instead of its own.

    Shapes:
        weights (B, H, Lk); attend: q (B, H, Lq, Dh), k, v (B, H, Lk, Dh)
        -> out (B, H, Lq, Dh), weights (B, H, Lq, Lk)
    """
    check_floating("weights", weights)
    check_int("step", step)

    def attend(q, k, v, mask):
        _, exact = attention(q, k, v, mask)  # (B, H, Lq, Lk)
        if weights.shape != (*exact.shape[:2], exact.shape[-1]) or step >= q.shape[2]:
            raise ValueError(
                f"weights must be (B, H, Lk) = {fmt_shape(exact.shape[:2])[:-1]}, "
                f"{exact.shape[-1]}) with step < Lq = {q.shape[2]}: got weights "
                f"{fmt_shape(weights)}, step {step}"
            )
        w = torch.cat(
            [exact[:, :, :step], weights[:, :, None], exact[:, :, step + 1 :]], dim=2
        )  # (B, H, Lq, Lk)
        return aggregate(w, v), w

    return attend


def with_step_weights(
    model,
    src: torch.Tensor,
    tgt_in: torch.Tensor,
    step: int,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """The model's output distribution at ``step``, teacher-forced, with each decoder
    layer's cross-attention at that step replaced by ``weights`` (None: its own).

    Shapes:
        src (B, Lk), tgt_in (B, Lq), weights (N, B, H, Lk) -> probs (B, V)
    """
    check_int("step", step)
    layers = model.decoder.layers
    if weights is not None and (weights.dim() != 4 or weights.shape[0] != len(layers)):
        raise ValueError(
            f"weights must be (N, B, H, Lk) with N = {len(layers)} decoder layers, "
            f"got weights {fmt_shape(weights)}"
        )
    with contextlib.ExitStack() as stack:
        for n, layer in enumerate(layers if weights is not None else []):
            stack.enter_context(use_attention(layer, step_attend(weights[n], step)))
        logits = model(src, tgt_in)  # (B, Lq, V)
    return logits[:, step].softmax(-1)  # (B, V)


def adversarial_attention(
    model,
    src: torch.Tensor,
    tgt_in: torch.Tensor,
    step: int,
    *,
    eps: float = 0.01,
    iters: int = 100,
    lr: float = 0.2,
    penalty: float = 100.0,
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Cross-attention weights at ``step`` as far as possible from the model's own
    (mean JS divergence over layers and heads) while the output distribution
    there moves by at most ``eps`` in total variation, after Jain and Wallace
    (2019), who searched one attention layer for several adversaries at once;
    here one adversary covers every layer and head at one teacher-forced step.

    Adam on the logits of the weights (every layer and head of ``step``), from
    the model's own plus Gaussian noise, maximizing ``JS - penalty * max(0, TV -
    eps)``; per example the best iterate within ``eps`` is kept (the model's own
    weights, JS 0, if none is).

    Returns:
        ``(weights, js, tv)``: the weights (N, B, H, Lk), their mean JS divergence
        from the model's (B,) and the total variation of the output they give (B,).
    """
    check_int("step", step)
    check_number("eps", eps, 0.0, 1.0)
    check_positive_int("iters", iters)
    check_number("lr", lr, 0.0, low_open=True)
    check_number("penalty", penalty, 0.0)
    check_int("seed", seed)
    with torch.no_grad():
        model.decoder.keep_cross_weights()
        base = with_step_weights(model, src, tgt_in, step)  # (B, V)
        model.decoder.keep_cross_weights(False)
        own = model.decoder.cross_weights()[:, :, :, step]  # (N, B, H, Lk)
    mask = model.source_mask(src)[None, :, None, :]  # (1, B, 1, Lk)
    gen = torch.Generator().manual_seed(seed)
    noise = torch.randn(own.shape, generator=gen, dtype=own.dtype).to(own.device)
    logits = (own.clamp_min(1e-6).log() + noise).requires_grad_(True)
    opt = torch.optim.Adam([logits], lr=lr)
    best, best_js = own.clone(), torch.zeros(own.shape[1], device=own.device)
    for _ in range(iters):
        adv = masked_softmax(logits, mask)  # (N, B, H, Lk)
        probs = with_step_weights(model, src, tgt_in, step, adv)
        tv = 0.5 * (probs - base).abs().sum(-1)  # (B,)
        js = js_divergence(adv, own).mean((0, 2))  # (B,)
        with torch.no_grad():
            better = (tv <= eps) & (js > best_js)  # (B,)
            best[:, better] = adv[:, better].detach()
            best_js = torch.where(better, js, best_js)
        loss = (-js + penalty * torch.relu(tv - eps)).sum()
        (grad,) = torch.autograd.grad(loss, [logits])  # the model's own grads untouched
        opt.zero_grad()
        logits.grad = grad
        opt.step()
    with torch.no_grad():
        probs = with_step_weights(model, src, tgt_in, step, best)
        tv = 0.5 * (probs - base).abs().sum(-1)
    return best, js_divergence(best, own).mean((0, 2)), tv
