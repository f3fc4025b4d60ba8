"""The date task: correct renderings, one reading per string, splits apart."""

import datetime as dt
import re

import pytest
import torch

from xattn.data import (
    TARGET_FIELDS,
    TEMPLATES,
    CharVocab,
    DateTask,
    field_alignment,
    field_alignment_chance,
    hash_seed,
    render_date,
)

TASK = DateTask()
TWO = [
    TASK.example(dt.date(2021, 3, 3), "en", "{weekday}, {month} {d}, {Y}"),
    TASK.example(dt.date(1999, 12, 31), "numeric", "{Y}/{mm}/{dd}"),
]
_align, _chance = field_alignment, field_alignment_chance


def test_rendering_and_spans():
    d = dt.date(2021, 3, 3)
    text, spans = render_date(d, "{weekday}, {month} {d}, {Y}", "en")
    assert text == "Wednesday, March 3, 2021"
    assert {k: text[a:b] for k, (a, b) in spans.items()} == {
        "weekday": "Wednesday",
        "month": "March",
        "day": "3",
        "year": "2021",
    }
    assert render_date(d, "{d}. {month} {Y}", "de")[0] == "3. März 2021"
    assert render_date(d, "{d} de {month} de {Y}", "es")[0] == "3 de marzo de 2021"
    assert (
        render_date(dt.date(2021, 3, 22), "the {ord} of {month} {Y}", "en")[0]
        == "the 22nd of March 2021"
    )
    assert (
        render_date(dt.date(2021, 11, 13), "the {ord} of {month} {Y}", "en")[0]
        == "the 13th of November 2021"
    )


@pytest.mark.parametrize("locale", sorted(TEMPLATES))
def test_every_template_carries_day_month_and_year(locale):
    d = dt.date(1987, 10, 24)
    for template in TEMPLATES[locale]:
        text, spans = render_date(d, template, locale)
        assert {"day", "month", "year"} <= set(spans), template
        assert text[slice(*spans["year"])] == "1987"
        assert text[slice(*spans["day"])] == "24"


def test_every_source_string_has_one_reading():
    """No string may come from two different dates: the task would be unlearnable."""
    seen = {}
    day = dt.date(2000, 1, 1)
    while day.year < 2002:
        for locale, template in TASK.formats:
            text = render_date(day, template, locale)[0]
            assert seen.setdefault(text, day) == day, (
                f"{text!r} reads as {seen[text]} and {day}"
            )
        day += dt.timedelta(days=1)


def test_splits_do_not_overlap_and_the_test_set_is_fixed():
    train, val, test = (set(TASK.days[s]) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert (
        len(train) + len(val) + len(test)
        == (dt.date(2049, 12, 31) - dt.date(1950, 1, 1)).days + 1
    )
    again = DateTask()
    assert again.examples("test", 200) == TASK.examples("test", 200)
    assert {e.target for e in TASK.examples("test", 500)} <= {
        d.isoformat() for d in test
    }
    train_batch = TASK.examples("train", 2000, seed=3)
    assert not {e.target for e in train_batch} & {d.isoformat() for d in test}


def test_batches_are_a_pure_function_of_step_and_seed():
    a = TASK.batch(7, 16, seed=1)
    b = TASK.batch(7, 16, seed=1)
    c = TASK.batch(8, 16, seed=1)
    d = TASK.batch(7, 16, seed=1, rank=1)
    assert all((x == y).all() for x, y in zip(a, b))
    assert not (a[0].shape == c[0].shape and (a[0] == c[0]).all())
    assert not (a[0].shape == d[0].shape and (a[0] == d[0]).all())
    assert hash_seed(1, 2) != hash_seed(2, 1)


def test_encode_pads_and_shifts_the_target():
    examples = [
        TASK.example(dt.date(2021, 3, 3), "en", "{d} {month} {Y}"),
        TASK.example(dt.date(1999, 12, 31), "numeric", "{dd}.{mm}.{Y}"),
    ]
    src, tgt_in, tgt_out = TASK.encode(examples)
    sv, tv = TASK.source_vocab, TASK.target_vocab
    assert src.shape == (2, len("3 March 2021"))
    assert (
        sv.decode(src[0].tolist()) == "3 March 2021"
        and sv.decode(src[1].tolist()) == "31.12.1999"
    )
    assert (src[1, len("31.12.1999") :] == sv.pad_id).all()
    assert tgt_in[0, 0] == tv.bos_id and tgt_out[0, -1] == tv.eos_id
    assert (tgt_in[:, 1:] == tgt_out[:, :-1]).all()
    assert tv.decode(tgt_out[1].tolist()) == "1999-12-31"
    assert TARGET_FIELDS == {"year": (0, 4), "month": (5, 7), "day": (8, 10)}


def test_every_character_the_task_writes_is_in_the_vocabulary():
    for e in TASK.examples("train", 3000, seed=9):
        assert TASK.source_vocab.unk_id not in TASK.source_vocab.encode(e.source), (
            e.source
        )
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", e.target)


def test_vocab_round_trip_and_specials():
    v = CharVocab("abc")
    assert v.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert v.decode(v.encode("cab", bos=True, eos=True) + [0, 0]) == "cab"
    assert v.encode("z") == [v.unk_id]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: DateTask(locales=["xx"]), "locales must be a non-empty subset"),
        (lambda: TASK.examples("dev", 3), "split must be one of"),
        (lambda: TASK.examples("train", 0), "n must be positive"),
        (lambda: _align([[0.5]], TWO), "weights must be a tensor"),
        (lambda: _align(torch.zeros(2, 11, 40), []), "at least one DateExample"),
        (lambda: _align(torch.zeros(2, 11, 40), "ab"), "a list of DateExample"),
        (lambda: _align(torch.zeros(1, 11, 40), [1]), "DateExample objects, got int"),
        (lambda: _align(torch.zeros(3, 11, 40), TWO), "B = 2 examples"),
        (lambda: _align(torch.zeros(2, 9, 40), TWO), "the fields need 10"),
        (lambda: _align(torch.zeros(2, 11, 5), TWO), "the longest source has 24"),
        (lambda: _chance([]), "at least one DateExample"),
    ],
)
def test_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_field_alignment_scores_perfect_and_wrong_attention():
    from xattn.data import field_alignment, field_alignment_chance

    examples = [
        TASK.example(dt.date(2021, 3, 3), "en", "{d} {month} {Y}"),
        TASK.example(dt.date(1999, 12, 31), "numeric", "{Y}/{mm}/{dd}"),
    ]
    src, tgt_in, _ = TASK.encode(examples)
    perfect = torch.zeros(2, tgt_in.shape[1], src.shape[1])
    wrong = torch.zeros_like(perfect)
    for b, e in enumerate(examples):
        for name, (t0, t1) in TARGET_FIELDS.items():
            s0, s1 = e.spans[name]
            perfect[b, t0:t1, s0] = 1.0
            other = next(p for p in range(len(e.source)) if not s0 <= p < s1)
            wrong[b, t0:t1, other] = 1.0
    assert field_alignment(perfect, examples).item() == 1.0
    assert field_alignment(wrong, examples).item() == 0.0
    # a leading (layer or head) axis
    both = field_alignment(torch.stack([perfect, wrong]), examples)
    assert both.tolist() == [1.0, 0.0]
    chance = field_alignment_chance(examples)
    assert 0.1 < chance < 0.5
    with pytest.raises(ValueError, match="B = 2 examples"):
        field_alignment(perfect[:1], examples)


def test_the_test_set_holds_every_test_day_once():
    examples = TASK.examples("test", 1000)
    assert len({e.target for e in examples}) == 1000
    # more than there are days: they repeat
    assert len(TASK.examples("val", 2500)) == 2500


def test_field_spans_pair_each_target_field_with_its_source_span():
    example = TASK.example(dt.date(2023, 3, 17), "fr", "{weekday} {d} {month} {Y}")
    spans = example.field_spans()
    assert list(spans) == ["year", "month", "day"]  # no weekday: it writes nothing
    assert [example.target[t0:t1] for (t0, t1), _ in spans.values()] == [
        "2023",
        "03",
        "17",
    ]
    assert [example.source[s0:s1] for _, (s0, s1) in spans.values()] == [
        "2023",
        "mars",
        "17",
    ]
