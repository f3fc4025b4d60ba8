"""The ground truth by intervention: which source field each output character reads.

Changing the day of a source changes the day digits of the output and nothing
else. :func:`intervene` makes such a change, :func:`intervention_truth` reads
off, for each character the model writes, the one field whose change changes
it, and :func:`agreement` scores a map of attributions against that truth.
"""

from __future__ import annotations

import calendar
import datetime as dt
import random
from collections.abc import Sequence

import torch
from torch import nn

from xattn.checks import (
    check_bool,
    check_floating,
    check_int,
    check_positive_int,
    checked,
    fmt_shape,
)
from xattn.data import TARGET_FIELDS, DateExample, DateTask, render_date
from xattn.decode import greedy_decode
from xattn.model import Seq2Seq

#: The fields of a date, in the order of the ISO target; a field's id is its index.
FIELDS = tuple(TARGET_FIELDS)


def check_model(model: object) -> None:
    """The date model (a :class:`xattn.Seq2Seq`) in eval mode: dropout would make
    every method below a random function of its input."""
    if not isinstance(model, Seq2Seq):
        raise ValueError(
            "model must be a xattn.Seq2Seq (the date model), got "
            f"{type(model).__name__}"
        )
    if model.training:
        raise ValueError(
            "model must be in eval mode (call model.eval() first): dropout would make "
            "the explanations random"
        )


def check_token_ids(
    name: str, ids: object, vocab: int, device: torch.device | None = None
) -> None:
    """A non-empty (B, L) tensor of torch.long ids in [0, vocab), on ``device``."""
    if not isinstance(ids, torch.Tensor) or ids.dim() != 2 or ids.dtype != torch.long:
        got = (
            f"{fmt_shape(ids)} {ids.dtype}"
            if isinstance(ids, torch.Tensor)
            else type(ids).__name__
        )
        raise ValueError(
            f"{name} must be a (B, L) tensor of torch.long token ids, got {got}"
        )
    if ids.numel() == 0:
        raise ValueError(f"{name} {fmt_shape(ids)} is empty: it needs B, L >= 1")
    if int(ids.min()) < 0 or int(ids.max()) >= vocab:
        raise ValueError(
            f"{name} holds ids outside [0, {vocab}): min {int(ids.min())}, max "
            f"{int(ids.max())}"
        )
    if device is not None and ids.device != device:
        raise ValueError(
            f"{name} must be on the model's device {device}, got {name} on {ids.device}"
        )


def model_device(model: nn.Module) -> torch.device:
    """The device of the model's parameters."""
    return next(model.parameters()).device


def check_examples(examples: object) -> None:
    """A non-empty sequence of :class:`xattn.data.DateExample`."""
    rule = (
        "examples must be a non-empty list of DateExample (DateTask.examples gives one)"
    )
    if not isinstance(examples, Sequence) or isinstance(examples, str):
        raise ValueError(f"{rule}, got {type(examples).__name__}")
    if not examples:
        raise ValueError(f"{rule}, got an empty {type(examples).__name__}")
    for i, example in enumerate(examples):
        if not isinstance(example, DateExample):
            raise ValueError(f"{rule}, got {type(example).__name__} at index {i}")


def _check_source_fields(examples, lk) -> None:
    check_examples(examples)
    check_positive_int("lk", lk)
    for b, example in enumerate(examples):
        if len(example.source) > lk:
            raise ValueError(
                f"lk={lk} is shorter than example {b}'s source "
                f"({len(example.source)} characters)"
            )


@checked(_check_source_fields)
def source_fields(examples: Sequence[DateExample], lk: int) -> torch.Tensor:
    """Which field each source character belongs to: its index in FIELDS, else -1.

    Shapes:
        -> fields (B, Lk)
    """
    fields = torch.full((len(examples), lk), -1, dtype=torch.long)
    for b, example in enumerate(examples):
        for f, name in enumerate(FIELDS):
            s0, s1 = example.spans[name]
            fields[b, s0:s1] = f
    return fields


def _check_target_fields(lq) -> None:
    check_positive_int("lq", lq)


@checked(_check_target_fields)
def target_fields(lq: int) -> torch.Tensor:
    """Which field each ISO target position writes ("YYYY-MM-DD"); -1 for the rest.

    Shapes:
        -> fields (Lq,)
    """
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


def _check_intervene(example, field, rng=None) -> None:
    if not isinstance(example, DateExample):
        raise ValueError(
            f"example must be a DateExample (DateTask.examples gives them), got "
            f"{type(example).__name__}"
        )
    if field not in FIELDS:
        raise ValueError(f"field must be one of {FIELDS}, got {field!r}")
    if rng is not None and not isinstance(rng, random.Random):
        raise ValueError(
            f"rng must be a random.Random or None, got {type(rng).__name__}"
        )
    try:
        dt.date.fromisoformat(example.target)
    except (TypeError, ValueError):
        raise ValueError(
            f"example.target must be an ISO date (YYYY-MM-DD), got {example.target!r}"
        ) from None
    if not set(FIELDS) <= set(example.spans):
        raise ValueError(
            f"example.spans must locate every field {FIELDS}, got "
            f"{sorted(example.spans)}"
        )


@checked(_check_intervene)
def intervene(
    example: DateExample, field: str, rng: random.Random | None = None
) -> DateExample:
    """The same source with one field's value changed, every ISO digit of it.

    Only that field's characters are rewritten (in the example's own format);
    the rest of the source, a weekday included, stays as it was, so the
    weekday may no longer fit the date. The new value is drawn by ``rng``
    among those whose target digits all differ from the old ones.
    """
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


def _check_intervention_truth(model, task, examples, *, seed=0) -> None:
    check_model(model)
    if not isinstance(task, DateTask):
        raise ValueError(f"task must be a xattn.DateTask, got {type(task).__name__}")
    check_examples(examples)
    for example in examples:
        _check_intervene(example, FIELDS[0])
    check_int("seed", seed)


@checked(_check_intervention_truth)
def intervention_truth(
    model: nn.Module,
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


def _check_ids(name: str, t: object, shape: tuple[int, ...] | None = None) -> None:
    if not isinstance(t, torch.Tensor) or t.dtype != torch.long:
        got = f"{fmt_shape(t)} {t.dtype}" if isinstance(t, torch.Tensor) else t
        raise ValueError(f"{name} must be a torch.long tensor of field ids, got {got}")
    if t.numel() and (int(t.min()) < -1 or int(t.max()) >= len(FIELDS)):
        raise ValueError(
            f"{name} must hold field ids in [-1, {len(FIELDS)}), -1 for none: got min "
            f"{int(t.min())}, max {int(t.max())}"
        )


def _check_agreement(attributions, fields, truth, *, per_example=False) -> None:
    check_floating("attributions", attributions)
    check_bool("per_example", per_example)
    _check_ids("fields", fields)
    _check_ids("truth", truth)
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
    if attributions.shape[-1] == 0 or attributions.numel() == 0:
        raise ValueError(
            f"attributions {fmt_shape(attributions)} is empty: agreement needs at "
            "least one source character (Lk >= 1) per output character"
        )
    if fields.device != truth.device:
        raise ValueError(
            f"fields and truth must be on one device: fields {fields.device} vs truth "
            f"{truth.device}"
        )
    if not bool(torch.isfinite(attributions).all()):
        raise ValueError(
            "attributions must be finite: a NaN or inf has no rank (the top source "
            "character would be arbitrary)"
        )
    if not bool((truth >= 0).any()):
        raise ValueError("truth scores no character: every entry is -1")


@checked(_check_agreement)
def agreement(
    attributions: torch.Tensor,
    fields: torch.Tensor,
    truth: torch.Tensor,
    *,
    per_example: bool = False,
) -> torch.Tensor:
    """Share of scored characters whose top-attributed source character's field is
    the field whose intervention changes them.

    Pass magnitudes (``.abs()``) for signed attributions. Characters with truth
    -1 are not scored.

    Args:
        attributions: one or more maps of attributions per example.
        fields: the field of each source character (:func:`source_fields`).
        truth: the field of each output character (:func:`intervention_truth`).
        per_example: the share of each example's scored characters (NaN for an
            example with none), instead of the share of all of them.

    Shapes:
        attributions (..., B, Lq, Lk), fields (B, Lk), truth (B, Lq) -> (...),
        or (..., B) with ``per_example``
    """
    scored = truth >= 0  # (B, Lq)
    top = attributions.argmax(-1).to(fields.device)  # (..., B, Lq)
    top_field = fields.expand(*top.shape[:-1], fields.shape[-1]).gather(-1, top)
    hits = (top_field == truth) & scored  # (..., B, Lq)
    if per_example:
        return hits.sum(-1) / scored.sum(-1)  # (..., B)
    return hits.sum((-2, -1)) / scored.sum()  # (...)
