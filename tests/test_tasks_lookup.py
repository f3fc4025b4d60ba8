"""The lookup task: one right key per query, the digit beside it, padding as padding."""

import pytest
import torch

import xattn
from xattn.tasks.lookup import (
    IGNORE,
    N_DIGITS,
    PAD,
    SYMBOLS,
    make_lookup,
    query_tokens,
    source_tokens,
)


def test_every_query_has_one_right_key_holding_its_answer():
    batch = make_lookup(500, seed=7)
    real_query = batch.target_pos >= 0  # (B, Lq)
    at = batch.target_pos.clamp(min=0)
    assert (batch.source.gather(1, at) == batch.query)[real_query].all()
    assert (batch.digits.gather(1, at) == batch.target)[real_query].all()
    matches = (batch.query[:, :, None] == batch.source[:, None, :]).sum(-1)
    assert (matches[real_query] == 1).all()
    assert ((batch.target >= 0) & (batch.target < N_DIGITS))[real_query].all()


def test_padding_is_padding_and_lengths_stay_in_range():
    batch = make_lookup(300, seed=3, min_len=2, max_len=5, max_queries=3)
    assert batch.source.shape == (300, 5) and batch.query.shape == (300, 3)
    real_key = xattn.padding_mask(batch.source_len, max_len=5)
    assert ((batch.source != PAD) == real_key).all()
    assert (batch.digits[~real_key] == 0).all()
    real_query = xattn.padding_mask(batch.query_len, max_len=3)
    assert (batch.query[~real_query] == PAD).all()
    assert (batch.target[~real_query] == IGNORE).all()
    assert (batch.target_pos[~real_query] == -1).all()
    assert batch.source_len.min() >= 2 and batch.source_len.max() <= 5
    assert batch.query_len.min() >= 1


def test_the_same_seed_gives_the_same_batch_and_another_does_not():
    a, b, c = make_lookup(20, seed=1), make_lookup(20, seed=1), make_lookup(20, seed=2)
    assert all(torch.equal(s, t) for s, t in zip(a, b))
    assert not torch.equal(a.source, c.source)
    assert all(t.dtype == torch.long for t in a)


def test_tokens_read_the_real_positions_only():
    batch = make_lookup(5, seed=5)
    for b in range(5):
        keys, queries = source_tokens(batch, b), query_tokens(batch, b)
        assert len(keys) == int(batch.source_len[b])
        assert len(queries) == int(batch.query_len[b])
        symbol, digit = keys[int(batch.target_pos[b, 0])].split(":")
        assert symbol == queries[0] and int(digit) == int(batch.target[b, 0])
        assert all(q in SYMBOLS for q in queries)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n=0, seed=1), "n must be a positive int"),
        (dict(n=3, seed=-1), "seed must be an int >= 0"),
        (dict(n=3, seed=1, min_len=5, max_len=4), "need min_len <= max_len <= 26"),
        (dict(n=3, seed=1, max_len=27), "need min_len <= max_len <= 26"),
        (dict(n=3, seed=1, max_queries=0), "max_queries must be a positive int"),
    ],
)
def test_bad_sizes_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_lookup(**kwargs)
