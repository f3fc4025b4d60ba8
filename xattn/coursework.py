"""Coursework from the chapters with nbgrader: student versions, autograding, a grades table.

Each chapter notebook is one nbgrader assignment, ``chNN``. The notebooks in
``chapters/`` are the instructor versions: their exercises follow nbgrader's
conventions (``### BEGIN SOLUTION`` regions, locked test cells with points,
``### BEGIN HIDDEN TESTS``). This module only lays out an nbgrader course
directory and calls nbgrader's own commands; it strips nothing by hand.

Command line (from the repository root)::

    python -m xattn.coursework release            # -> _build/course/release/chNN/NN_name.ipynb
    python -m xattn.coursework grade              # autograde _build/course/submitted/<student>/chNN/
                                                  # -> _build/course/grades.csv

A submission is a student's notebook copied to
``<course>/submitted/<student>/<chNN>/<notebook name>.ipynb``.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["assignment_id", "release", "submit", "autograde", "export_grades", "main"]

log = logging.getLogger("xattn")

# Generous per-cell limit: the training chapters run one long cell on a slow CPU.
CELL_TIMEOUT_S = 900


def assignment_id(notebook: Path | str) -> str:
    """``chapters/04_aggregation.ipynb`` -> ``ch04``."""
    stem = Path(notebook).stem
    prefix = stem.split("_", 1)[0]
    if not prefix.isdigit():
        raise ValueError(
            f"chapter notebooks are named NN_title.ipynb, got {Path(notebook).name}"
        )
    return f"ch{prefix}"


def _nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "nbgrader",
        *args,
        f"--CourseDirectory.root={course}",
        f"--Execute.timeout={CELL_TIMEOUT_S}",
    ]
    log.info("running %s", " ".join(cmd))
    # nbgrader runs the `alembic` command of its own environment, found on PATH.
    env = dict(
        os.environ,
        PATH=os.pathsep.join(
            [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
        ),
    )
    result = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {args[0]} failed "
            f"({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def _chapter_notebooks(chapters: Path, only: list[str] | None) -> list[Path]:
    notebooks = sorted(chapters.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {assignment_id(f"{c}_x") if c.isdigit() else c for c in only}
        notebooks = [
            nb for nb in notebooks if assignment_id(nb) in wanted or nb.stem in wanted
        ]
        if not notebooks:
            raise ValueError(f"no chapter notebook matches {only} in {chapters}")
    return notebooks


def release(
    chapters: Path | str = "chapters",
    course: Path | str = "_build/course",
    only: list[str] | None = None,
) -> list[Path]:
    """Make the student version of each chapter with ``nbgrader generate_assignment``.

    Returns the student notebooks, ``<course>/release/chNN/NN_title.ipynb``.
    """
    chapters, course = Path(chapters).resolve(), Path(course).resolve()
    released = []
    for notebook in _chapter_notebooks(chapters, only):
        aid = assignment_id(notebook)
        source = course / "source" / aid
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, source / notebook.name)
        _nbgrader(course, "generate_assignment", aid, "--force")
        released.append(course / "release" / aid / notebook.name)
    return released


def submit(course: Path | str, student: str, notebook: Path | str) -> Path:
    """Place a student's notebook where ``nbgrader autograde`` looks for it."""
    notebook = Path(notebook)
    target = (
        Path(course).resolve()
        / "submitted"
        / student
        / assignment_id(notebook)
        / notebook.name
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(notebook, target)
    return target


def autograde(course: Path | str, assignment: str, student: str | None = None) -> None:
    """Run ``nbgrader autograde`` on every submission of an assignment (or one student's)."""
    args = ["autograde", assignment, "--force", "--create"]
    if student:
        args.append(f"--student={student}")
    _nbgrader(Path(course).resolve(), *args)


def export_grades(
    course: Path | str, to: Path | str | None = None
) -> list[dict[str, str]]:
    """Write the grades table with ``nbgrader export`` and return its rows."""
    course = Path(course).resolve()
    to = Path(to).resolve() if to else course / "grades.csv"
    _nbgrader(course, "export", f"--to={to}")
    with open(to, newline="") as f:
        return list(csv.DictReader(f))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m xattn.coursework", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("command", choices=["release", "grade"])
    parser.add_argument(
        "--chapters", default="chapters", help="folder of the instructor notebooks"
    )
    parser.add_argument(
        "--course", default="_build/course", help="the nbgrader course folder"
    )
    parser.add_argument(
        "--only", nargs="*", help="chapter numbers or assignment ids, e.g. 03 ch04"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "release":
        for path in release(args.chapters, args.course, args.only):
            log.info("student version: %s", path)
        return 0
    submitted = Path(args.course) / "submitted"
    assignments = sorted({p.name for p in submitted.glob("*/*") if p.is_dir()})
    if not assignments:
        log.error("no submissions under %s/<student>/<chNN>/", submitted)
        return 1
    for aid in assignments:
        if args.only and aid not in args.only:
            continue
        autograde(args.course, aid)
    rows = export_grades(args.course)
    log.info("%-10s %-8s %6s / %s", "student", "assign.", "score", "max")
    for row in rows:
        log.info(
            "%-10s %-8s %6s / %s",
            row["student_id"],
            row["assignment"],
            row["score"],
            row["max_score"],
        )
    log.info("grades table: %s", Path(args.course) / "grades.csv")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
