"""Seconds to autograde one full submission of each chapter, as ``make grades`` runs it.

For each chapter, in a fresh course folder: release it (nbgrader), submit the
instructor's version as one student, and time ``nbgrader autograde`` of that one
submission, start to finish, with the machine's default threads and none of the
tests' CPU pins (an instructor's ``make grades`` sets none). Each submission must earn
full marks. The table in chapters/instructors.md comes from this script.

    .venv/bin/python bench/grading.py                  # every chapter
    .venv/bin/python bench/grading.py 09_decoding      # some
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from xattn import coursework

ROOT = Path(__file__).resolve().parents[1]


def main(stems: list[str]) -> int:
    chapters = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
    chosen = [p for p in chapters if not stems or p.stem in stems]
    unknown = set(stems) - {p.stem for p in chapters}
    if unknown:
        names = [p.stem for p in chapters]
        print(f"no chapter named {sorted(unknown)}; the chapters: {names}")
        return 2
    print("chapter                   seconds  score")
    for notebook in chosen:
        with tempfile.TemporaryDirectory() as folder:
            course = Path(folder) / "course"
            coursework.release(ROOT / "chapters", course, only=[notebook.stem])
            coursework.submit(course, "someone", notebook)
            started = time.perf_counter()
            failed = coursework.autograde(
                course,
                coursework.assignment_id(notebook),
                student="someone",
                notebook=notebook.stem,
            )
            seconds = time.perf_counter() - started
            (row,) = coursework.grades_table(course, [notebook])
        score = f"{row['score']} of {row['max_score']}"
        print(f"{notebook.stem:25s} {seconds:7.1f}  {score}")
        if failed or row["status"] != "graded" or row["score"] != row["max_score"]:
            print(f"{notebook.stem}: not graded to full marks: {row}")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
