"""The lookup task of chapter 5: a task whose right alignment is known.

The source is a short table of (symbol, digit) pairs, one per position, with
distinct symbols; each query is one of those symbols, and its answer is the digit
stored beside it::

    source   k:7  w:2  c:0  r:7  m:5
    queries  c  k  m
    answers  0  7  5        (read from positions 2, 0, 4)

The digits are drawn independently of the symbols, so only the right position
gives the answer. Symbols are the 26 letters, ids 1 to 26 (0 is padding); every
batch is a pure function of its seed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from xattn.checks import check_int, check_positive_int, checked

__all__ = [
    "SYMBOLS",
    "N_SYMBOLS",
    "N_DIGITS",
    "PAD",
    "IGNORE",
    "Lookup",
    "make_lookup",
    "source_tokens",
    "query_tokens",
]

SYMBOLS = list("abcdefghijklmnopqrstuvwxyz")  #: the symbols; letter i has id i + 1
N_SYMBOLS = len(SYMBOLS)  #: 26
N_DIGITS = 10  #: the digits 0 to 9 stored beside the symbols
PAD = 0  #: the symbol id of padding, in the sources and the queries
IGNORE = -100  #: the target of a padded query: ``F.cross_entropy`` skips it


class Lookup(NamedTuple):
    """A batch of lookups, all ``torch.long``; padded queries have target IGNORE
    and target_pos -1.

    Attributes:
        query: the symbol id each query asks for, PAD beyond ``query_len``.
        source: the symbol ids of the source, PAD beyond ``source_len``.
        digits: the digit stored at each source position, 0 at padding.
        target: the digit each query must return.
        target_pos: the source position holding it.
        source_len: the number of real source positions of each item.
        query_len: the number of real queries of each item.

    Shapes:
        query, target, target_pos (B, Lq); source, digits (B, Lk);
        source_len, query_len (B,)
    """

    query: torch.Tensor  # (B, Lq) symbol ids, PAD beyond query_len
    source: torch.Tensor  # (B, Lk) symbol ids, PAD beyond source_len
    digits: torch.Tensor  # (B, Lk) the digit at each source position (0 at padding)
    target: torch.Tensor  # (B, Lq) the digit each query must return
    target_pos: torch.Tensor  # (B, Lq) the source position holding it
    source_len: torch.Tensor  # (B,)
    query_len: torch.Tensor  # (B,)


def _check_make_lookup(n, seed, min_len=4, max_len=12, max_queries=6) -> None:
    check_positive_int("n", n)
    check_int("seed", seed)
    for name, value in (("min_len", min_len), ("max_len", max_len)):
        check_positive_int(name, value)
    check_positive_int("max_queries", max_queries)
    if not min_len <= max_len <= N_SYMBOLS:
        raise ValueError(
            f"need min_len <= max_len <= {N_SYMBOLS} (the symbols are distinct), "
            f"got min_len={min_len}, max_len={max_len}"
        )


@checked(_check_make_lookup)
def make_lookup(
    n: int, seed: int, min_len: int = 4, max_len: int = 12, max_queries: int = 6
) -> Lookup:
    """``n`` random lookups, the same for the same seed.

    Each has ``min_len`` to ``max_len`` source positions with distinct symbols
    and 1 to ``max_queries`` queries, each asking for one of its symbols.

    Shapes:
        -> Lookup with B = n, Lk = max_len, Lq = max_queries
    """
    rng = np.random.default_rng(seed)
    source_len = rng.integers(min_len, max_len + 1, size=n)  # (B,)
    query_len = rng.integers(1, max_queries + 1, size=n)  # (B,)
    # distinct symbols per item: the first max_len of a random permutation
    source = rng.random((n, N_SYMBOLS)).argsort(axis=1)[:, :max_len] + 1  # (B, Lk)
    digits = rng.integers(0, N_DIGITS, size=(n, max_len))  # (B, Lk)
    pos = (rng.random((n, max_queries)) * source_len[:, None]).astype(np.int64)
    real_key = np.arange(max_len) < source_len[:, None]  # (B, Lk)
    real_query = np.arange(max_queries) < query_len[:, None]  # (B, Lq)
    source = np.where(real_key, source, PAD)
    digits = np.where(real_key, digits, 0)
    query = np.where(real_query, np.take_along_axis(source, pos, axis=1), PAD)
    target = np.where(real_query, np.take_along_axis(digits, pos, axis=1), IGNORE)
    target_pos = np.where(real_query, pos, -1)
    arrays = query, source, digits, target, target_pos, source_len, query_len
    return Lookup(*(torch.as_tensor(a, dtype=torch.long) for a in arrays))


def source_tokens(batch: Lookup, b: int) -> list[str]:
    """The real source tokens of item ``b``, as ``"symbol:digit"``."""
    n = int(batch.source_len[b])
    symbols, digits = batch.source[b, :n].tolist(), batch.digits[b, :n].tolist()
    return [f"{SYMBOLS[s - 1]}:{d}" for s, d in zip(symbols, digits)]


def query_tokens(batch: Lookup, b: int) -> list[str]:
    """The real queries of item ``b``, as symbols."""
    n = int(batch.query_len[b])
    return [SYMBOLS[s - 1] for s in batch.query[b, :n].tolist()]
