"""Training time to the result, for the chapters that train on scenes and speech.

Chapters 14 to 16 train their models inside the notebook and time each training in a
cell marked ``# NBVAL_IGNORE_OUTPUT``. This script executes a copy of each notebook
with ``--threads`` threads (the stored outputs use one) and prints what those timing
cells printed, with the notebook's whole run time; the notebooks in ``chapters/`` are
not changed. The results printed next to the times are the chapter's asserts' inputs,
so a run whose training fell short shows it.

    OMP_NUM_THREADS=2 .venv/bin/python bench/chapter_training.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ["14_captioning", "15_listening", "16_perceiver"]


def timing_lines(nb: nbformat.NotebookNode) -> list[str]:
    """The printed text of the cells whose output the tests ignore: the timings."""
    lines = []
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.source.startswith(
            "# NBVAL_IGNORE_OUTPUT"
        ):
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and " s" in out.get("text", ""):
                lines += out["text"].strip().splitlines()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("chapters", nargs="*", default=CHAPTERS)
    args = parser.parse_args()
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(args.threads)
    os.environ["XATTN_PROGRESS"] = "0"
    for stem in args.chapters:
        path = ROOT / "chapters" / f"{stem}.ipynb"
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


if __name__ == "__main__":
    main()
