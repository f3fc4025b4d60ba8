"""Checks of plain values: ints, bools, numbers, and the shape format of messages."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np
import torch


def fmt_shape(t: torch.Tensor | Sequence[int]) -> str:
    """Format a tensor's shape as ``(2, 3, 4)`` for error messages."""
    dims = tuple(t.shape) if isinstance(t, torch.Tensor) else tuple(t)
    return "(" + ", ".join(str(d) for d in dims) + ("," if len(dims) == 1 else "") + ")"


def _is_int(value: object) -> bool:
    """An integer (Python's or NumPy's), but not a bool, which Python counts as one."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: object, minimum: int = 0) -> None:
    """An integer (not a bool) that is at least ``minimum``."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_positive_int(name: str, value: object) -> None:
    """An integer >= 1: a size, a count, a length."""
    if not _is_int(value) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_bool(name: str, value: object) -> None:
    """True or False, not a truthy stand-in such as 1 or "yes"."""
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be True or False, got {value!r}")


def check_number(
    name: str,
    value: object,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """A finite real number (not a bool, not NaN) in [low, high], ends open if asked."""
    real = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    ok = real and math.isfinite(value)
    if ok:
        above = value > low if low_open else value >= low
        below = value < high if high_open else value <= high
        ok = above and below
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        interval = f"{left}{low:g}, {high:g}{right}"
        raise ValueError(f"{name} must be a finite number in {interval}, got {value!r}")


def check_dropout(value: object) -> None:
    """A dropout probability in [0, 1)."""
    check_number("dropout", value, 0.0, 1.0, high_open=True)
