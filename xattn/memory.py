"""Measuring how much memory tensors take while a computation runs.

Both measures count bytes of tensor storage, exactly and the same on every run,
on any device: the peak of what the computation's operations allocate at one
time (:func:`peak_tensor_bytes`), and what autograd keeps for the backward pass
(:func:`saved_tensor_bytes`). Neither sees the allocator's own overhead, nor the
private scratch space a fused kernel uses inside one operation; for those, a
process's resident memory or ``torch.cuda.max_memory_allocated`` is the measure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

__all__ = ["peak_tensor_bytes", "saved_tensor_bytes"]


class _PeakTracker(TorchDispatchMode):
    """Adds up the storage each operation allocates; subtracts it once it is freed."""

    def __init__(self):
        super().__init__()
        self.live: dict[int, tuple[StorageWeakRef, int]] = {}
        self.now = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inputs = {
            StorageWeakRef(t.untyped_storage()).cdata
            for t in tree_flatten((args, kwargs))[0]
            if isinstance(t, torch.Tensor)
        }
        out = func(*args, **kwargs)
        for key in [key for key, (ref, _) in self.live.items() if ref.expired()]:
            self.now -= self.live.pop(key)[1]
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            ref = StorageWeakRef(storage)
            # A view or an in-place result reuses an input's storage: nothing new.
            if ref.cdata in inputs or ref.cdata in self.live:
                continue
            self.live[ref.cdata] = (ref, storage.nbytes())
            self.now += storage.nbytes()
            self.peak = max(self.peak, self.now)
        return out


def _check_fn(fn) -> None:
    if not callable(fn):
        raise ValueError(f"fn must be a function of no arguments, got {fn!r}")


# Both measures check ``fn`` themselves rather than by @checked: inside a checked
# call the xattn functions that ``fn`` runs would skip their own checks, and the
# memory measured would not be that of an ordinary call.


def peak_tensor_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn()``; return its result and the most bytes of new tensors alive at once.

    Every tensor a PyTorch operation creates while ``fn`` runs counts from its
    creation until its last reference is gone (views count once); tensors that
    existed before do not count. The peak is exact for operations that return
    what they allocate, which is all of them but the scratch space inside a
    fused kernel.
    """
    _check_fn(fn)
    tracker = _PeakTracker()
    with tracker:
        result = fn()
    return result, tracker.peak


def saved_tensor_bytes(fn: Callable[[], Any]) -> tuple[Any, int]:
    """Run ``fn()``; return its result and the bytes autograd saves for the backward.

    Counts each storage that autograd packs for a backward pass once, inputs
    included (attention saves q, k and v). Call it with inputs that require
    gradients, and without ``torch.no_grad``, or nothing is saved.
    """
    _check_fn(fn)
    seen: dict[int, int] = {}
    keep: list[torch.Tensor] = []  # hold every saved tensor, so ids are not reused

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen.setdefault(StorageWeakRef(storage).cdata, storage.nbytes())
        keep.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        result = fn()
    return result, sum(seen.values())
