"""Input checks shared by every public function, and `checked`, which attaches them.

Each check raises a ``ValueError`` whose message names the tensors, their full
shapes (or dtypes) and the rule that was broken, so that a learner who passes
the wrong thing reads what to change instead of a stack trace from deep inside
``einsum``.

A chapter builds the mathematics of a function in the open; the package ships
that same code, its *core*, with the checks attached by ``@checked(...)``::

    def _check_aggregate(weights, v):      # the rules, in the package only
        check_floating("weights", weights)
        ...

    @checked(_check_aggregate)
    def aggregate(weights, v):             # the core: what the chapter writes
        return torch.einsum("... q k, ... k d -> ... q d", weights, v)

``tests/test_drift.py`` compares the chapter's definition with the core (the
decorator left out), so the two never drift and the page shows no ``raise``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from xattn.checks._masks import (
    check_attn_mask,
    check_bias,
    check_blockwise,
    check_bool_mask,
    check_mask,
    check_memory_mask,
)
from xattn.checks._tensors import (
    check_boxes,
    check_floating,
    check_min_dim,
    check_qkv,
    check_scale,
    check_stream,
)
from xattn.checks._values import (
    check_bool,
    check_dropout,
    check_int,
    check_number,
    check_positive_int,
    fmt_shape,
)

__all__ = [
    "checked",
    "fmt_shape",
    "check_int",
    "check_positive_int",
    "check_bool",
    "check_number",
    "check_dropout",
    "check_floating",
    "check_min_dim",
    "check_bool_mask",
    "check_mask",
    "check_bias",
    "check_qkv",
    "check_scale",
    "check_stream",
    "check_memory_mask",
    "check_attn_mask",
    "check_blockwise",
    "check_boxes",
]


F = TypeVar("F", bound=Callable[..., Any])

# Whether this thread is inside a checked call. A public entry checks its inputs
# once; the cores it calls (themselves checked when called from outside) trust
# them, so a mask is not checked again at every layer it passes through.
_inside = threading.local()

_RAISES = """

Raises:
    ValueError: an input of the wrong type, shape, dtype or value; the message
        names it and the rule it breaks (see :ref:`input-checks`)."""


def _with_raises(doc: str) -> str:
    """``doc`` with a Raises section at its own indentation (docstrings indent)."""
    body = [line for line in doc.splitlines()[1:] if line.strip()]
    indent = min((len(line) - len(line.lstrip()) for line in body), default=0)
    return doc.rstrip() + _RAISES.replace("\n", "\n" + " " * indent)


def checked(*checks: Callable[..., None]) -> Callable[[F], F]:
    """Attach input checks to a core function or method.

    The function returned runs every check with the call's own arguments (a
    check has the core's signature and raises ``ValueError``), then the core.
    Inside another checked call, whose entry has already checked what it was
    given, the checks are skipped and the core runs alone; so is it while
    ``torch.compile`` traces. The core stays reachable as ``__wrapped__``.

    Args:
        checks: functions called as ``check(*args, **kwargs)`` before the core.
    """
    for check in checks:
        if not callable(check):
            raise ValueError(f"checks must be functions, got {type(check).__name__}")

    def attach(core: F) -> F:
        @functools.wraps(core)
        def entry(*args: Any, **kwargs: Any) -> Any:
            if getattr(_inside, "depth", 0) or torch.compiler.is_compiling():
                return core(*args, **kwargs)
            for check in checks:
                check(*args, **kwargs)
            _inside.depth = 1
            try:
                return core(*args, **kwargs)
            finally:
                _inside.depth = 0

        entry.checks = checks  # type: ignore[attr-defined]
        if core.__doc__ and "Raises:" not in core.__doc__:
            entry.__doc__ = _with_raises(core.__doc__)
        return entry  # type: ignore[return-value]

    return attach
