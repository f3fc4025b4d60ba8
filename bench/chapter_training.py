"""Run chapters with N threads: their timings, and any assert that fails.

The chapters that train time each training in a cell tagged ``nbval-ignore-output``.
This script executes a copy of each notebook with ``--threads`` threads (the stored
outputs use one) under the tests' CPU settings (``conftest.py``), and prints what
those timing cells printed, with the notebook's whole run time and every cell that
failed; the notebooks in ``chapters/`` are not changed. Every chapter's asserts must
hold with 1, 2 and 4 threads.

    .venv/bin/python bench/chapter_training.py --threads 2            # 14, 15, 16
    .venv/bin/python bench/chapter_training.py --threads 4 12_budget  # any chapter
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import conftest  # noqa: E402, F401  (the CPU settings the kernels inherit)

CHAPTERS = ["14_captioning", "15_listening", "16_perceiver"]


def timing_lines(nb: nbformat.NotebookNode) -> list[str]:
    """The printed text of the cells whose output the tests ignore: the timings."""
    lines = []
    for cell in nb.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if cell.cell_type != "code" or "nbval-ignore-output" not in tags:
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and " s" in out.get("text", ""):
                lines += out["text"].strip().splitlines()
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("chapters", nargs="*", default=CHAPTERS)
    args = parser.parse_args()
    # After conftest, which sets one thread for the tests.
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    os.environ["XATTN_PROGRESS"] = "0"
    failed = 0
    for stem in args.chapters:
        (path,) = (ROOT / "chapters").glob(f"{stem}*.ipynb")
        stem = path.stem
        nb = nbformat.read(path, as_version=4)
        client = NotebookClient(
            nb,
            timeout=900,
            kernel_name="python3",
            allow_errors=True,
            resources={"metadata": {"path": str(path.parent)}},
        )
        start = time.perf_counter()
        client.execute()
        seconds = time.perf_counter() - start
        print(f"## {stem}: whole notebook {seconds:.1f} s with {args.threads} threads")
        for line in timing_lines(nb):
            print(f"   {line}")
        for cell in nb.cells:  # an assert that fails with these threads is news
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    first = cell.source.splitlines()[0][:60]
                    print(f"   FAILED: {out['ename']} in the cell {first!r}")
                    print("   " + out.get("evalue", "")[:300])
                    failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
