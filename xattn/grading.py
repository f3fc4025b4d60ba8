"""Helpers for the exercises' test cells: rules checked by behaviour, not by source.

An exercise that says "without ``torch.log_softmax``" is graded by running the
learner's function while that function raises, not by searching its source
for a name: a correct answer that spells things differently still passes, and
a wrong one with a decoy comment still fails.

    with forbidden("torch.log_softmax", "torch.Tensor.log_softmax"):
        out = stable_log_softmax(scores)  # fails if it calls either
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from torch import nn

__all__ = ["Forbidden", "autograding", "raises", "forbidden", "no_module_calls"]


class Forbidden(AssertionError):
    """Raised when an exercise's answer calls something its statement rules out."""


def autograding() -> bool:
    """Whether nbgrader is executing this notebook (``autograde`` or ``validate``).

    nbgrader sets ``NBGRADER_EXECUTION`` in the kernel's environment while it runs a
    submission; a chapter that trains uses this to load the weights it would
    train (they ship in ``xattn.pretrained``) and keep grading a class fast.
    """
    return os.environ.get("NBGRADER_EXECUTION") in ("autograde", "validate")


def raises(exception: type[BaseException], call: Callable[[], Any]) -> bool:
    """Whether ``call()`` raises ``exception`` (any other exception propagates)."""
    try:
        call()
    except exception:
        return True
    return False


def _resolve(target: str) -> tuple[Any, str]:
    """``"torch.nn.functional.softmax"`` -> (module torch.nn.functional, "softmax")."""
    parts = target.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            owner: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for name in parts[cut:-1]:
            owner = getattr(owner, name)
        if not hasattr(owner, parts[-1]):
            raise ValueError(f"{target} does not exist")
        return owner, parts[-1]
    raise ValueError(f"cannot import the owner of {target}")


@contextlib.contextmanager
def forbidden(
    *targets: str,
    namespace: dict[str, Any] | None = None,
    when: Callable[..., bool] | None = None,
    reason: str = "",
) -> Iterator[None]:
    """Make the named functions raise :class:`Forbidden` while the block runs.

    Args:
        targets: dotted names, e.g. ``"torch.logsumexp"`` or ``"torch.Tensor.reshape"``.
        namespace: a notebook's ``globals()``: names in it bound to a target
            (``from xattn import combine_masks``) are replaced too, as are those
            in ``__main__`` (a notebook's own) and in every ``xattn`` module, so a
            re-export (``xattn.box_iou`` for ``xattn.detection.box_iou``) is
            forbidden with the function.
        when: forbid a call only when ``when(*args, **kwargs)`` is true (e.g. only
            for 4-D tensors); other calls go through.
        reason: appended to the message, e.g. "use the identity".
    """
    saved: list[tuple[Any, str, Any, bool]] = []
    try:
        for target in targets:
            owner, name = _resolve(target)
            value = getattr(owner, name)
            static = inspect.getattr_static(owner, name)
            if isinstance(owner, type) and inspect.isdatadescriptor(static):
                # An attribute such as Tensor.T: guard the getter.
                getter = _guard(
                    target, lambda self, d=static: d.__get__(self), when, reason
                )
                replacement = property(getter)
            else:
                replacement = _guard(target, value, when, reason)
            before = (owner, name, vars(owner).get(name), name in vars(owner))
            setattr(owner, name, replacement)
            # Recorded only once it is in place: a failed setattr has nothing to undo.
            saved.append(before)
            # The same function under other names: re-exports (xattn.box_iou is
            # xattn.detection.box_iou), imports into other modules, the notebook's.
            for space in _namespaces(namespace):
                for key, bound in list(space.items()):
                    if bound is value and not key.startswith("__"):
                        space[key] = replacement
                        saved.append((space, key, bound, True))
        yield
    finally:
        failures = []
        for owner, name, value, existed in reversed(saved):
            try:
                if isinstance(owner, dict):
                    owner[name] = value
                elif existed:
                    setattr(owner, name, value)
                else:
                    delattr(owner, name)
            except Exception as error:  # restore the others before reporting
                failures.append(f"{name}: {error}")
        if failures:
            raise RuntimeError(f"could not restore {'; '.join(failures)}")


def _namespaces(namespace: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Where else a forbidden function may be bound: every xattn module, the
    notebook's ``__main__`` and the namespace the caller names."""
    spaces = [
        vars(module)
        for name, module in list(sys.modules.items())
        if module is not None and (name == "xattn" or name.startswith("xattn."))
    ]
    main = sys.modules.get("__main__")
    for extra in (vars(main) if main is not None else None, namespace):
        if extra is not None and all(extra is not s for s in spaces):
            spaces.append(extra)
    return spaces


def _guard(target: str, fn: Callable, when: Callable[..., bool] | None, reason: str):
    def guarded(*args, **kwargs):
        if when is None or when(*args, **kwargs):
            suffix = f": {reason}" if reason else ""
            raise Forbidden(f"this exercise's answer may not call {target}{suffix}")
        return fn(*args, **kwargs)

    return guarded


@contextlib.contextmanager
def no_module_calls(*modules: nn.Module, reason: str = "") -> Iterator[None]:
    """Make calling any of ``modules`` or their submodules raise :class:`Forbidden`."""

    def refuse(module, args):
        suffix = f": {reason}" if reason else ""
        raise Forbidden(
            f"this exercise's answer may not call {type(module).__name__}{suffix}"
        )

    handles = [
        m.register_forward_pre_hook(refuse) for root in modules for m in root.modules()
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
