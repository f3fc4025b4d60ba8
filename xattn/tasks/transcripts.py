"""Scoring a transcript: the edit distance and the character error rate (CER).

The edit distance (Levenshtein's) counts the fewest insertions, deletions and
substitutions that turn one sequence into another; the CER sums it over a test
set and divides by the number of true characters. A spurious extra character
costs as much as a missing one, so a CER can exceed 1.
"""

from __future__ import annotations

from collections.abc import Sequence

from xattn.checks import checked

__all__ = ["edit_distance", "character_error_rate"]


def _check_sequence(name: str, value: object) -> None:
    if not isinstance(value, (str, list, tuple)):
        raise ValueError(
            f"{name} must be a str, list or tuple, got {type(value).__name__}"
        )


def _check_edit_distance(a, b) -> None:
    _check_sequence("a", a)
    _check_sequence("b", b)


@checked(_check_edit_distance)
def edit_distance(a: Sequence, b: Sequence) -> int:
    """Levenshtein distance: fewest insertions, deletions and substitutions.

    Dynamic programming over one row: ``row[j]`` is the distance between the
    prefix of ``a`` read so far and ``b[:j]``.

    Shapes:
        two sequences (str, list or tuple) of any lengths -> an int
    """
    row = list(range(len(b) + 1))  # a[:0] against b[:j]: j insertions
    for i, x in enumerate(a, start=1):
        diag, row[0] = row[0], i
        for j, y in enumerate(b, start=1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (x != y))
    return row[-1]


def _check_character_error_rate(hyps, refs) -> None:
    for name, texts in (("hyps", hyps), ("refs", refs)):
        if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
            raise ValueError(
                f"{name} must be a list of strings, not {type(texts).__name__}"
            )
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise ValueError(
                    f"{name} must hold strings, got {type(text).__name__} at {i}"
                )
    if len(hyps) != len(refs) or not refs:
        raise ValueError(
            f"hyps and refs must be non-empty and as many: {len(hyps)} vs {len(refs)}"
        )
    if sum(len(r) for r in refs) == 0:
        raise ValueError("the references must hold at least one character")


@checked(_check_character_error_rate)
def character_error_rate(hyps: Sequence[str], refs: Sequence[str]) -> float:
    """Total edit distance over total reference length (may exceed 1).

    Shapes:
        hyps and refs: N strings each -> a float
    """
    total = sum(len(r) for r in refs)
    return sum(edit_distance(h, r) for h, r in zip(hyps, refs)) / total
