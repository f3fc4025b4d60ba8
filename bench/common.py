"""Timing helpers for the benchmark scripts: side-by-side, interleaved, medians, ratios.

CPU timings on a shared machine are noisy, so no script reports an absolute
time alone: every implementation runs in the same process, round after round in
rotating order, and the scripts report each one's median as a ratio to the
reference measured in the same rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved_medians(
    fns: dict[str, Callable[[], None]],
    rounds: int,
    warmup: int = 2,
    device: torch.device | None = None,
) -> dict[str, float]:
    """Median seconds per call of each function, round-robin in rotating order."""
    device = torch.device("cpu") if device is None else device
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    sync(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            sync(device)
            start = time.perf_counter()
            fns[name]()
            sync(device)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
