"""The date task: dates as people write them, in several languages, to ISO 8601.

``17 March 2023``, ``vendredi 17 mars 2023``, ``3/17/2023`` and ``17. März 2023``
all become ``2023-03-17``. The source puts day, month and year in different
orders, so a model that writes the year first must look at the end of
``17 March 2023`` and at the start of ``2023/03/17``: its cross-attention has to
cross over. Month and weekday names come from the Unicode CLDR through Babel,
so nothing is downloaded; every example is a pure function of a seed.

Splits are by calendar day: a date in the test set never appears in training,
in any format. The test set is the same whatever seed a training run uses.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import torch

from xattn.checks import checked, fmt_shape

__all__ = [
    "CharVocab",
    "DateExample",
    "DateTask",
    "TARGET_FIELDS",
    "render_date",
    "field_alignment",
    "field_alignment_chance",
]

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)

#: Where each field sits in the ISO target "YYYY-MM-DD": name -> (start, end).
TARGET_FIELDS = {"year": (0, 4), "month": (5, 7), "day": (8, 10)}

# Templates per language. {d} day, {dd} zero-padded day, {ord} English ordinal day,
# {month} month name, {mon} abbreviated month, {m}/{mm} month number, {Y} year,
# {weekday} day of the week (a distractor: it carries no target field).
TEMPLATES = {
    "en": [
        "{d} {month} {Y}",
        "{month} {d}, {Y}",
        "{weekday}, {month} {d}, {Y}",
        "{mon} {d} {Y}",
        "the {ord} of {month} {Y}",
        "{d}-{mon}-{Y}",
    ],
    "fr": ["{d} {month} {Y}", "{weekday} {d} {month} {Y}", "le {d} {month} {Y}"],
    "de": ["{d}. {month} {Y}", "{weekday}, {d}. {month} {Y}", "{d}. {mon} {Y}"],
    "es": ["{d} de {month} de {Y}", "{weekday}, {d} de {month} de {Y}"],
    "it": ["{d} {month} {Y}", "{weekday} {d} {month} {Y}"],
    "nl": ["{d} {month} {Y}", "{weekday} {d} {month} {Y}"],
    "pt": ["{d} de {month} de {Y}"],
    "numeric": ["{dd}.{mm}.{Y}", "{m}/{d}/{Y}", "{Y}/{mm}/{dd}", "{Y}.{mm}.{dd}"],
}
# Every source string must have one reading: dots put the day first, slashes the
# month first (US style), and a leading four-digit year is never a day or month.
FIRST_DAY, LAST_DAY = dt.date(1950, 1, 1), dt.date(2049, 12, 31)
SPLIT_SEED = 20_21_03_03  # fixes which days are test and validation days, for every run
N_TEST_DAYS, N_VAL_DAYS = 1000, 1000
FIELD_OF = {
    "d": "day",
    "dd": "day",
    "ord": "day",
    "month": "month",
    "mon": "month",
    "m": "month",
    "mm": "month",
    "Y": "year",
    "weekday": "weekday",
}


def _ordinal(n: int) -> str:
    suffix = (
        "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    )
    return f"{n}{suffix}"


@cache
def _names(locale: str) -> tuple[dict, dict, dict]:
    from babel.dates import get_day_names, get_month_names

    return (
        dict(get_month_names("wide", context="format", locale=locale)),
        dict(get_month_names("abbreviated", context="format", locale=locale)),
        dict(get_day_names("wide", context="format", locale=locale)),  # 0 = Monday
    )


def render_date(
    date: dt.date, template: str, locale: str = "en"
) -> tuple[str, dict[str, tuple[int, int]]]:
    """Write ``date`` with ``template`` in ``locale``; also return where each field is.

    Returns:
        ``(text, spans)`` where ``spans[field] = (start, end)`` indexes ``text``.
    """
    months, abbreviated, weekdays = _names("en" if locale == "numeric" else locale)
    values = {
        "d": str(date.day),
        "dd": f"{date.day:02d}",
        "ord": _ordinal(date.day),
        "month": months[date.month],
        "mon": abbreviated[date.month].rstrip("."),
        "m": str(date.month),
        "mm": f"{date.month:02d}",
        "Y": f"{date.year:04d}",
        "weekday": weekdays[date.weekday()],
    }
    text, spans = "", {}
    for literal, name in re.findall(r"([^{]*)(?:\{(\w+)\})?", template):
        text += literal
        if name:
            if name == "ord":  # only the digits of "3rd" carry the day
                spans["day"] = (len(text), len(text) + len(str(date.day)))
            else:
                spans[FIELD_OF[name]] = (len(text), len(text) + len(values[name]))
            text += values[name]
    return text, spans


@dataclass(frozen=True)
class DateExample:
    """One source string, its ISO target, and where the fields sit in the source."""

    source: str
    target: str
    spans: dict[str, tuple[int, int]] = field(compare=False)
    template: str = ""
    locale: str = ""

    def field_spans(self) -> dict[str, tuple[tuple[int, int], tuple[int, int]]]:
        """The true alignment: each target field's span in the target and in the source.

        Returns:
            ``name -> ((t0, t1), (s0, s1))`` for year, month and day: target
            characters ``t0`` to ``t1 - 1`` carry what source characters ``s0`` to
            ``s1 - 1`` say (as :func:`xattn.plotting.outline_spans` draws it).
        """
        return {name: (TARGET_FIELDS[name], self.spans[name]) for name in TARGET_FIELDS}


class CharVocab:
    """Characters to ids and back: ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2, ``<unk>`` 3"""

    def __init__(self, chars: Sequence[str]):
        self.itos = list(SPECIALS) + sorted(set(chars) - set(SPECIALS))
        self.stoi = {c: i for i, c in enumerate(self.itos)}
        self.pad_id, self.bos_id, self.eos_id, self.unk_id = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids = [self.stoi.get(c, self.unk_id) for c in text]
        return ([self.bos_id] if bos else []) + ids + ([self.eos_id] if eos else [])

    def decode(self, ids: Sequence[int]) -> str:
        """Ids to text, stopping at ``<eos>`` and skipping ``<pad>`` and ``<bos>``."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i not in (self.pad_id, self.bos_id):
                out.append(self.itos[i] if 0 <= i < len(self.itos) else SPECIALS[3])
        return "".join(out)


def _check_task(self, locales=tuple(TEMPLATES)) -> None:
    unknown = set(locales) - set(TEMPLATES)
    if unknown or not locales:
        raise ValueError(
            f"locales must be a non-empty subset of {sorted(TEMPLATES)}, got "
            f"{list(locales)}"
        )


def _check_examples(self, split, n, seed=0) -> None:
    if split not in self.days:
        raise ValueError(f"split must be one of {sorted(self.days)}, got {split!r}")
    if n < 1:
        raise ValueError(f"n must be positive, got {n}")


class DateTask:
    """Examples, splits, vocabularies and padded batches of the date task.

    Args:
        locales: which languages' templates to use (keys of ``TEMPLATES``).
    """

    @checked(_check_task)
    def __init__(self, locales: Sequence[str] = tuple(TEMPLATES)):
        self.locales = tuple(locales)
        self.formats = [(loc, t) for loc in self.locales for t in TEMPLATES[loc]]
        chars = set("0123456789-")
        for loc in self.locales:
            months, abbreviated, weekdays = _names("en" if loc == "numeric" else loc)
            for name in [
                *months.values(),
                *abbreviated.values(),
                *weekdays.values(),
                *TEMPLATES[loc],
            ]:
                chars |= set(re.sub(r"\{\w+\}", "", name))
        chars |= set("stndrh")  # English ordinal suffixes
        self.source_vocab = CharVocab(sorted(chars))
        self.target_vocab = CharVocab(list("0123456789-"))
        days = [
            FIRST_DAY + dt.timedelta(days=i)
            for i in range((LAST_DAY - FIRST_DAY).days + 1)
        ]
        random.Random(SPLIT_SEED).shuffle(days)
        self.days = {
            "test": days[:N_TEST_DAYS],
            "val": days[N_TEST_DAYS : N_TEST_DAYS + N_VAL_DAYS],
            "train": days[N_TEST_DAYS + N_VAL_DAYS :],
        }

    def example(self, date: dt.date, locale: str, template: str) -> DateExample:
        text, spans = render_date(date, template, locale)
        return DateExample(text, date.isoformat(), spans, template, locale)

    @checked(_check_examples)
    def examples(self, split: str, n: int, seed: int = 0) -> list[DateExample]:
        """``n`` examples from a split, a pure function of ``(split, n, seed)``.

        Days are drawn without repetition until the split runs out (so
        ``examples("test", 1000)`` holds each of the 1000 test days once), each
        written in a randomly chosen format.
        """
        rng = random.Random(f"{split}-{seed}")
        days = self.days[split]
        chosen = []
        while len(chosen) < n:
            chosen += rng.sample(days, min(n - len(chosen), len(days)))
        return [self.example(day, *rng.choice(self.formats)) for day in chosen]

    def encode(
        self, examples: Sequence[DateExample], device: torch.device | str | None = None
    ):
        """Pad a list of examples into id tensors.

        Returns:
            ``(src, tgt_in, tgt_out)``: the source characters (B, Lk); the target
            shifted right behind ``<bos>`` (B, Lq); and the target followed by
            ``<eos>`` (B, Lq), which the model learns to predict.
        """
        src = [self.source_vocab.encode(e.source) for e in examples]
        tgt = [self.target_vocab.encode(e.target) for e in examples]
        lk, lq = max(map(len, src)), max(map(len, tgt)) + 1
        pad, bos, eos = (
            self.source_vocab.pad_id,
            self.target_vocab.bos_id,
            self.target_vocab.eos_id,
        )
        src_t = torch.tensor([s + [pad] * (lk - len(s)) for s in src])  # (B, Lk)
        fill = [[pad] * (lq - 1 - len(t)) for t in tgt]
        tgt_in = torch.tensor([[bos, *t] + f for t, f in zip(tgt, fill)])  # (B, Lq)
        tgt_out = torch.tensor([[*t, eos] + f for t, f in zip(tgt, fill)])  # (B, Lq)
        return src_t.to(device), tgt_in.to(device), tgt_out.to(device)

    def batch(
        self, step: int, batch_size: int, seed: int = 0, rank: int = 0, device=None
    ):
        """The training batch of ``step``, a function of (step, batch size, seed, rank).

        Because no generator state is carried from step to step, a run resumed
        from a checkpoint at step s sees exactly the batches it would have seen.
        """
        examples = self.examples("train", batch_size, seed=hash_seed(seed, step, rank))
        return self.encode(examples, device)


def hash_seed(*parts: int) -> int:
    """One integer seed from several, stable across Python runs (unlike ``hash``)."""
    value = 0
    for p in parts:
        value = (value * 1_000_003 + int(p)) % (2**61 - 1)
    return value


def _check_examples_given(examples) -> None:
    if isinstance(examples, (str, bytes)) or not isinstance(examples, Sequence):
        raise ValueError(
            f"examples must be a list of DateExample, got {type(examples).__name__}"
        )
    if not examples:
        raise ValueError("examples must hold at least one DateExample, got none")
    other = next((e for e in examples if not isinstance(e, DateExample)), None)
    if other is not None:
        raise ValueError(
            f"examples must be DateExample objects, got {type(other).__name__}"
        )


def _check_field_alignment(weights, examples) -> None:
    if not isinstance(weights, torch.Tensor):
        raise ValueError(
            f"weights must be a tensor (..., B, Lq, Lk), got {type(weights).__name__}"
        )
    _check_examples_given(examples)
    if weights.dim() < 3 or weights.shape[-3] != len(examples):
        raise ValueError(
            f"weights must be (..., B, Lq, Lk) with B = {len(examples)} examples, got "
            f"{tuple(weights.shape)}"
        )
    last = max(end for _, end in TARGET_FIELDS.values())
    if weights.shape[-2] < last:
        raise ValueError(
            f"weights cover {weights.shape[-2]} target positions, the fields need "
            f"{last}"
        )
    if weights.shape[-1] < max(len(e.source) for e in examples):
        raise ValueError(
            f"weights {fmt_shape(weights)} cover {weights.shape[-1]} source "
            f"positions, the longest source has {max(len(e.source) for e in examples)}"
        )


@checked(_check_field_alignment)
def field_alignment(
    weights: torch.Tensor, examples: Sequence[DateExample]
) -> torch.Tensor:
    """How often the most-attended source character lies in the field being written.

    For every target character of a field (the year digits, the month digits,
    the day digits), take the source position with the largest weight and ask
    whether it lies in that field's source span (``"2021"``, ``"March"`` or
    ``"03"``, ``"3"``). Separators and ``<eos>`` are not counted.

    Args:
        weights: cross-attention weights for the batch ``encode(examples)``;
            decoder position t is the query that writes target character t.
        examples: the batch's examples, in order.

    Returns:
        The share of hits, one number per leading index (e.g. per layer and head).

    Shapes:
        weights (..., B, Lq, Lk) -> (...)
    """
    top = weights.argmax(-1)  # (..., B, Lq)
    hits = torch.zeros(weights.shape[:-3], device=weights.device)
    total = 0
    for b, example in enumerate(examples):
        for name, (t0, t1) in TARGET_FIELDS.items():
            s0, s1 = example.spans[name]
            chosen = top[..., b, t0:t1]  # (..., t1 - t0)
            hits += ((chosen >= s0) & (chosen < s1)).sum(-1)
            total += t1 - t0
    return hits / total


@checked(_check_examples_given)
def field_alignment_chance(examples: Sequence[DateExample]) -> float:
    """The :func:`field_alignment` of a model picking source characters at random."""
    shares = []
    for example in examples:
        for name, (t0, t1) in TARGET_FIELDS.items():
            s0, s1 = example.spans[name]
            shares += [(s1 - s0) / len(example.source)] * (t1 - t0)
    return sum(shares) / len(shares)
