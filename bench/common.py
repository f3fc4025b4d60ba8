"""Timing helpers for the benchmark scripts: side-by-side, interleaved, medians, ratios.

CPU timings on a shared machine are noisy, so no script reports an absolute
time alone: every implementation runs in the same process, round after round in
rotating order, and the scripts report each one's median as a ratio to the
reference measured in the same rounds.
"""

from __future__ import annotations

from xattn.utils import interleaved_medians

__all__ = ["interleaved_medians", "markdown_table"]


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)
