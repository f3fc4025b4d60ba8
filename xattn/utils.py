"""Reproducibility, device choice, a chapter's run settings, and timing."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from xattn.grading import autograding

__all__ = [
    "seed_everything",
    "get_device",
    "RunSettings",
    "run_settings",
    "autocast_dtype",
    "median_seconds",
    "interleaved_medians",
]

log = logging.getLogger("xattn")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (every device) so a run can be repeated."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an int in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def get_device(name: str | torch.device | None = None) -> torch.device:
    """The device to compute on: the one named, else CUDA, then Apple MPS, then CPU.

    The environment variable ``XATTN_DEVICE`` (e.g. ``cpu``) overrides the
    automatic choice, which lets a GPU machine reproduce the CPU outputs.
    """
    name = name if name is not None else os.environ.get("XATTN_DEVICE") or None
    if name is None:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as e:
        raise ValueError(
            f"unknown device {name!r}: use 'cpu', 'cuda', 'cuda:N' or 'mps'"
        ) from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {name!r} asked for, but CUDA is not available here; use 'cpu'"
        )
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise ValueError(
            f"device {name!r} asked for, but only {torch.cuda.device_count()} CUDA "
            "devices exist"
        )
    if device.type == "mps" and not _mps_available():
        raise ValueError(
            f"device {name!r} asked for, but Apple MPS is not available here; use 'cpu'"
        )
    return device


T = TypeVar("T")


@dataclass(frozen=True)
class RunSettings:
    """Where a chapter runs, and so how big it runs: read once, in its first cell.

    A chapter states its sizes with :meth:`pick` (``STEPS = run.pick(cpu=100,
    gpu=300, grading=10)``), so the whole difference between a laptop, a GPU and
    a class being graded stands in one place.

    Attributes:
        device: the device :func:`get_device` chose.
        grading: whether nbgrader is executing the notebook to grade it
            (:func:`xattn.grading.autograding`): then a chapter trains briefly or
            loads shipped weights, and leaves out the checks of what a full run
            reaches, so that a class grades quickly.
    """

    device: torch.device
    grading: bool

    @property
    def accelerated(self) -> bool:
        """Whether the device is a GPU (CUDA or Apple MPS)."""
        return self.device.type != "cpu"

    @property
    def full(self) -> bool:
        """Whether the chapter runs at full size (not while nbgrader grades)."""
        return not self.grading

    def pick(self, cpu: T, gpu: T | None = None, grading: T | None = None) -> T:
        """The value for this run: ``grading`` while nbgrader grades, else ``gpu``
        on a GPU, else ``cpu``; a value left out (None) falls back to ``cpu``."""
        if self.grading and grading is not None:
            return grading
        if self.accelerated and gpu is not None:
            return gpu
        return cpu

    def __str__(self) -> str:
        return (
            f"{self.device.type}, {'graded (small)' if self.grading else 'full size'}"
        )


def run_settings(device: str | torch.device | None = None) -> RunSettings:
    """The :class:`RunSettings` of this run: :func:`get_device` and whether nbgrader
    is grading."""
    return RunSettings(device=get_device(device), grading=autograding())


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The low-precision dtype to autocast to on this device, or None for float32.

    bfloat16 on CUDA devices that support it (it needs no loss scaling); float32
    elsewhere: CPU autocast is slower than float32 on most laptops, and MPS
    autocast is still incomplete.
    """
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def median_seconds(
    fn: Callable[[], object],
    repeats: int = 5,
    warmup: int = 1,
    device: torch.device | str | None = None,
) -> float:
    """The median wall-clock time of ``fn()`` over ``repeats`` calls, in seconds.

    ``warmup`` calls run first and are not timed (the first call of a kernel
    often pays for allocation or compilation). On a CUDA ``device`` every call
    waits for the GPU to finish, since kernels otherwise return before their
    work is done. A median is robust to the occasional slow call of a busy
    machine; times are still for comparing implementations side by side in one
    run, not across machines. While nbgrader grades a submission
    (:func:`xattn.grading.autograding`) one call is timed and none is warmed up:
    a grader reads no times, and a class's notebooks grade faster.
    """
    for name, value, low in (("repeats", repeats, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not callable(fn):
        raise ValueError(f"fn must be a function of no arguments, got {fn!r}")
    sync = torch.device(device).type == "cuda" if device is not None else False
    if autograding():
        repeats, warmup = 1, 0

    def call() -> None:
        fn()
        if sync:
            torch.cuda.synchronize()

    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def interleaved_medians(
    fns: dict[str, Callable[[], object]],
    rounds: int = 5,
    warmup: int = 2,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Median seconds per call of each function, timed side by side.

    Every function runs ``warmup`` times untimed, then ``rounds`` rounds time one
    call of each, in an order that rotates from round to round, so that a slow
    stretch of a busy machine falls on all of them alike. Compare the results as
    ratios measured in the same run. On a CUDA ``device`` each call waits for the
    GPU to finish. While nbgrader grades a submission one round is timed and none
    is warmed up, as in :func:`median_seconds`.
    """
    for name, value, low in (("rounds", rounds, 1), ("warmup", warmup, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    if not isinstance(fns, dict) or not fns or not all(map(callable, fns.values())):
        raise ValueError(
            f"fns must be a non-empty dict of name -> function of no arguments, "
            f"got {fns!r}"
        )
    sync = torch.device(device).type == "cuda" if device is not None else False
    if autograding():
        rounds, warmup = 1, 0

    def call(fn: Callable[[], object]) -> None:
        fn()
        if sync:
            torch.cuda.synchronize()

    names = list(fns)
    for _ in range(warmup):
        for name in names:
            call(fns[name])
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            call(fns[name])
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}
