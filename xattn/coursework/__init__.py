"""Coursework from the chapters with nbgrader: student versions, grading, feedback.

Each chapter notebook is one nbgrader assignment, ``chNN``. The notebooks in
``chapters/`` are the instructor versions: their exercises follow nbgrader's
conventions (``### BEGIN SOLUTION`` regions, locked test cells with points,
``### BEGIN HIDDEN TESTS``). This module lays out an nbgrader course folder,
writes its ``nbgrader_config.py`` and calls nbgrader's own commands; it strips
nothing by hand.

The course folder (``course/`` unless ``--course`` or ``XATTN_COURSE`` says
otherwise) holds a term's submissions and grades, so it lives outside the build
folder, no make target deletes it, and git ignores it. Command line::

    python -m xattn.coursework release [--only 03 04]  # -> course/release/chNN/
    python -m xattn.coursework grade [--only 03]       # -> course/grades.csv
    python -m xattn.coursework feedback [--only 03]    # -> course/feedback/...html
    python -m xattn.coursework student-site            # -> _build/student/html

A submission is a student's notebook at
``course/submitted/<student>/<chNN>/<the chapter's file name>.ipynb``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from xattn.coursework import _course
from xattn.coursework._course import (
    HideHiddenTests,
    assignment_id,
    chapter_notebooks,
    release,
    submit,
    write_config,
)
from xattn.coursework._grading import (
    GradingFailure,
    Problem,
    autograde,
    check_submissions,
    feedback,
    grade,
    grades_table,
    write_grades,
)
from xattn.coursework._site import build_student_site

__all__ = [
    "DEFAULT_COURSE",
    "CELL_TIMEOUT_S",
    "Problem",
    "GradingFailure",
    "HideHiddenTests",
    "assignment_id",
    "chapter_notebooks",
    "write_config",
    "release",
    "submit",
    "check_submissions",
    "autograde",
    "grades_table",
    "write_grades",
    "grade",
    "feedback",
    "build_student_site",
    "main",
]

log = logging.getLogger("xattn")

#: The course folder: ``XATTN_COURSE``, else ``course`` (in the current directory).
DEFAULT_COURSE = _course.DEFAULT_COURSE
#: Seconds a cell may run when grading: generous, for a slow laptop; the chapters
#: that train load their weights or train briefly while nbgrader runs them.
CELL_TIMEOUT_S = _course.CELL_TIMEOUT_S


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m xattn.coursework`` and a command (``--help``)."""
    parser = argparse.ArgumentParser(
        prog="python -m xattn.coursework", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "command", choices=["release", "grade", "feedback", "student-site"]
    )
    parser.add_argument(
        "--chapters", default="chapters", help="folder of the instructor notebooks"
    )
    parser.add_argument(
        "--course",
        default=DEFAULT_COURSE,
        help="the nbgrader course folder (default %(default)s)",
    )
    parser.add_argument(
        "--only", nargs="*", help="chapter numbers or assignment ids, e.g. 03 ch04"
    )
    parser.add_argument(
        "--out", default="_build/student", help="student-site: where to build it"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        if args.command == "release":
            for path in release(args.chapters, args.course, args.only):
                log.info("student version: %s", path)
        elif args.command == "grade":
            rows, problems = grade(args.chapters, args.course, args.only)
            log.info(
                "%-12s %-8s %-14s %6s / %s",
                "student",
                "assign.",
                "status",
                "score",
                "max",
            )
            for row in rows:
                log.info("%-12s %-8s %-14s %6s / %s", *row.values())
            log.info("grades table: %s", Path(args.course).resolve() / "grades.csv")
            for problem in problems:
                log.error("not graded: %s", problem)
            return 1 if problems else 0
        elif args.command == "feedback":
            for path in feedback(args.course, args.only, args.chapters):
                log.info("feedback: %s", path)
        else:
            log.info(
                "student site: %s",
                build_student_site(".", args.out, args.chapters) / "index.html",
            )
    except ValueError as error:
        log.error("%s", error)
        return 2
    return 0
