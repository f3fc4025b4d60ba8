"""Grading submissions with ``nbgrader autograde``, the grades table, feedback."""

from __future__ import annotations

import csv
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from xattn.coursework._course import (
    DEFAULT_COURSE,
    _nbgrader,
    assignment_id,
    chapter_notebooks,
    nbgrader_api,
    release,
)

log = logging.getLogger("xattn")


@dataclass(frozen=True)
class GradingFailure:
    """A submission nbgrader could not grade (not a notebook, a kernel that died)."""

    student: str
    assignment: str
    log: str

    def __str__(self) -> str:
        return (
            f"{self.student}, {self.assignment}: nbgrader could not grade the "
            "submission (a file that is not a valid notebook, or a kernel that died); "
            f"the details are in {self.log}; fix or replace the file and grade again"
        )


@dataclass(frozen=True)
class Problem:
    """A submission that cannot be graded as it is, and what to do about it."""

    student: str
    assignment: str
    files: tuple[str, ...]
    expected: str

    def __str__(self) -> str:
        found = ", ".join(self.files) or "no notebook"
        return (
            f"{self.student}, {self.assignment}: found {found}; "
            f"rename the submission to {self.expected} and grade again"
        )


def check_submissions(
    course: Path | str, notebooks: list[Path]
) -> tuple[dict[str, list[str]], dict[str, list[Problem]]]:
    """Per assignment: the students whose submission can be graded, and the problems.

    A student folder for an assignment must hold the chapter's notebook under its
    own file name; anything else (``03_weights-Copy1.ipynb``) is reported with
    what to rename, and that student is left out of grading, nobody else.
    """
    submitted = Path(course) / "submitted"
    good: dict[str, list[str]] = {}
    problems: dict[str, list[Problem]] = {}
    for notebook in notebooks:
        aid = assignment_id(notebook)
        good[aid], problems[aid] = [], []
        for folder in sorted(submitted.glob(f"*/{aid}")):
            student = folder.parent.name
            files = sorted(p.name for p in folder.glob("*.ipynb"))
            if notebook.name in files:
                good[aid].append(student)
                extra = [f for f in files if f != notebook.name]
                if extra:
                    log.warning(
                        "%s, %s: ignoring %s beside %s",
                        student,
                        aid,
                        ", ".join(extra),
                        notebook.name,
                    )
            else:
                problems[aid].append(Problem(student, aid, tuple(files), notebook.name))
    return good, problems


def autograde(
    course: Path | str,
    assignment: str,
    student: str | None = None,
    notebook: str | None = None,
    exclude: list[str] | tuple[str, ...] = (),
    *,
    execute: bool = True,
) -> list[str]:
    """Run ``nbgrader autograde`` on an assignment's submissions.

    nbgrader grades every submission it can and names the ones it could not;
    those are returned, and its whole output is kept in
    ``<course>/logs/autograde-<chNN>.log``. Any other failure raises.

    Args:
        course: the course folder.
        assignment: ``chNN``.
        student: only this student's submission.
        notebook: only the notebook of this name (no ``.ipynb``); others are ignored.
        exclude: students to leave out.
        execute: run the notebooks (nbgrader's default). False grades the outputs
            the notebooks already hold, without running them: for a notebook whose
            outputs come from a run of it that is known to be faithful (the
            instructor's version, which ``pytest --nbval`` re-runs and compares),
            never for a student's, whose outputs could say anything.

    Returns:
        the students whose submission could not be graded.
    """
    course = Path(course).resolve()
    settings: dict[str, dict] = {}
    if not execute:
        settings = {"Execute": {"enabled": False}, "ClearOutput": {"enabled": False}}
    if notebook:
        settings["CourseDirectory"] = {"notebook_id": notebook}
    submitted = sorted((course / "submitted").glob(f"*/{assignment}"))
    students = (
        [student]
        if student
        else [
            folder.parent.name
            for folder in submitted
            if folder.is_dir() and folder.parent.name not in exclude
        ]
    )
    logs, failed = [], []
    with nbgrader_api(course, **settings) as api:
        for name in students:
            result = api.autograde(assignment, name, force=True, create=True)
            logs.append(f"## {name}\n{result.get('log', '')}{result.get('error', '')}")
            if not result["success"]:
                failed.append(name)
    folder = course / "logs"
    folder.mkdir(exist_ok=True)
    (folder / f"autograde-{assignment}.log").write_text("\n".join(logs))
    return failed


def grades_table(
    course: Path | str,
    notebooks: list[Path],
    failed: dict[str, list[str]] | None = None,
) -> list[dict[str, str]]:
    """One row per student and assigned chapter: status, score and maximum.

    Only the chapters in ``notebooks`` appear; a student without a gradable
    submission of one is listed as "not submitted" or "needs renaming", with no
    score, and one whose submission nbgrader could not grade (``failed``, per
    assignment) as "could not be graded", whatever an earlier run recorded.
    """
    failed = failed or {}
    from nbgrader.api import Gradebook, MissingEntry

    course = Path(course).resolve()
    aids = [assignment_id(nb) for nb in notebooks]
    good, problems = check_submissions(course, notebooks)
    students = sorted(
        {p.parent.name for p in (course / "submitted").glob("*/*") if p.is_dir()}
    )
    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            for aid in aids:
                row = {
                    "student": student,
                    "assignment": aid,
                    "status": "not submitted",
                    "score": "",
                    "max_score": "",
                }
                if any(p.student == student for p in problems[aid]):
                    row["status"] = "needs renaming"
                elif student in failed.get(aid, ()):
                    row["status"] = "could not be graded"
                elif student in good[aid]:
                    try:
                        submission = gradebook.find_submission(aid, student)
                    except MissingEntry:
                        row["status"] = "not graded"
                    else:
                        row.update(
                            status="graded",
                            score=f"{submission.score:g}",
                            max_score=f"{submission.max_score:g}",
                        )
                rows.append(row)
    return rows


def write_grades(rows: list[dict[str, str]], path: Path | str) -> Path:
    """Write the grades table, whole or not at all (a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(
            f, fieldnames=["student", "assignment", "status", "score", "max_score"]
        )
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


def grade(
    chapters: Path | str = "chapters",
    course: Path | str = DEFAULT_COURSE,
    only: list[str] | None = None,
) -> tuple[list[dict[str, str]], list[Problem]]:
    """Autograde every gradable submission of the assigned chapters; write grades.csv.

    The assigned chapters are those ``only`` names, or else every chapter that
    anyone submitted. A request that names no chapter, or finds no submission,
    is refused before anything changes. Otherwise the old table is removed
    first, so a run that fails part way leaves none rather than stale grades.
    A submission nbgrader cannot grade is reported (a :class:`GradingFailure`)
    and listed as "could not be graded"; the others are graded all the same.

    Returns:
        the table's rows, and the submissions that need the instructor: misnamed
        ones (:class:`Problem`) and ones that could not be graded.
    """
    course = Path(course).resolve()
    table = course / "grades.csv"
    notebooks = chapter_notebooks(chapters, only)
    if not only:
        submitted = {p.name for p in (course / "submitted").glob("*/*") if p.is_dir()}
        notebooks = [nb for nb in notebooks if assignment_id(nb) in submitted]
    if not notebooks:
        raise ValueError(
            f"no submissions under {course / 'submitted'}/<student>/<chNN>/"
        )
    table.unlink(missing_ok=True)
    good, problems = check_submissions(course, notebooks)
    failed: dict[str, list[str]] = {}
    failures: list[GradingFailure] = []
    for notebook in notebooks:
        aid = assignment_id(notebook)
        source = course / "source" / aid
        if not (source / notebook.name).exists():
            release(chapters, course, only=[notebook.stem])
        if good[aid]:
            started = time.perf_counter()
            bad = [p.student for p in problems[aid]]
            failed[aid] = autograde(course, aid, notebook=notebook.stem, exclude=bad)
            seconds = time.perf_counter() - started
            n = len(good[aid]) - len(failed[aid])
            plural = "" if n == 1 else "s"
            log.info("graded %d submission%s of %s in %.0f s", n, plural, aid, seconds)
            log_file = course / "logs" / f"autograde-{aid}.log"
            failures += [GradingFailure(s, aid, str(log_file)) for s in failed[aid]]
    rows = grades_table(course, notebooks, failed)
    write_grades(rows, table)
    return rows, [p for aid in problems for p in problems[aid]] + failures


def feedback(
    course: Path | str = DEFAULT_COURSE,
    only: list[str] | None = None,
    chapters: Path | str = "chapters",
) -> list[Path]:
    """Write an HTML report per graded submission with ``nbgrader generate_feedback``.

    Returns the reports, ``<course>/feedback/<student>/<chNN>/<notebook>.html``.
    """
    course = Path(course).resolve()
    autograded = {p.name for p in (course / "autograded").glob("*/*") if p.is_dir()}
    for notebook in chapter_notebooks(chapters, only):
        aid = assignment_id(notebook)
        if aid in autograded:
            _nbgrader(course, "generate_feedback", aid, "--force")
    return sorted((course / "feedback").glob("*/*/*.html"))
