"""BLEU (Papineni et al. 2002): how many of a caption's n-grams the reference has.

:func:`bleu` is corpus BLEU with one reference per candidate: the clipped n-gram
precisions for n = 1 .. 4 summed over the corpus, their geometric mean, and a
brevity penalty for candidates shorter than their references.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from xattn.checks import check_positive_int, checked

__all__ = ["ngram_counts", "bleu"]


def _check_words(name: str, words) -> None:
    if isinstance(words, (str, bytes)) or not isinstance(words, Sequence):
        raise ValueError(
            f"{name} must be a list of words, not {type(words).__name__}: split a "
            "string first"
        )


def _check_ngram_counts(words, n) -> None:
    _check_words("words", words)
    check_positive_int("n", n)


@checked(_check_ngram_counts)
def ngram_counts(words: Sequence[str], n: int) -> Counter:
    """How often each run of ``n`` consecutive words occurs (none if fewer words)."""
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _check_bleu(candidates, references, max_n=4) -> None:
    check_positive_int("max_n", max_n)
    for name, seqs in (("candidates", candidates), ("references", references)):
        if isinstance(seqs, (str, bytes)) or not isinstance(seqs, Sequence):
            raise ValueError(
                f"{name} must be a list of word lists, got {type(seqs).__name__}"
            )
    if len(candidates) != len(references) or not candidates:
        raise ValueError(
            "candidates and references must be non-empty lists of the same length, "
            f"got {len(candidates)} and {len(references)}"
        )
    for name, seqs in (("candidates", candidates), ("references", references)):
        if any(isinstance(s, str) for s in seqs):
            raise ValueError(
                f"{name} must be lists of words, not strings: split them first"
            )
        for s in seqs:
            _check_words(name, s)


@checked(_check_bleu)
def bleu(
    candidates: Sequence[Sequence[str]],
    references: Sequence[Sequence[str]],
    max_n: int = 4,
) -> float:
    """Corpus BLEU of Papineni et al. (2002), one reference per candidate.

    The geometric mean of the clipped n-gram precisions for n = 1 .. max_n, summed
    over the corpus, times the brevity penalty ``min(1, exp(1 - r / c))`` for
    candidate length c and reference length r. No smoothing: a corpus with no
    matching n-gram of some order scores 0.

    Shapes:
        candidates, references: B lists of words each -> a float in [0, 1]
    """
    matched, total = [0] * max_n, [0] * max_n
    c_len = sum(len(c) for c in candidates)
    r_len = sum(len(r) for r in references)
    for cand, ref in zip(candidates, references):
        for n in range(1, max_n + 1):
            counts, ref_counts = ngram_counts(cand, n), ngram_counts(ref, n)
            matched[n - 1] += sum(min(k, ref_counts[g]) for g, k in counts.items())
            total[n - 1] += max(len(cand) - n + 1, 0)
    if c_len == 0 or min(matched) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matched, total)) / max_n
    brevity = min(0.0, 1 - r_len / c_len)
    return math.exp(log_p + brevity)
