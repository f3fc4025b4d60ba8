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
import csv
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nbgrader.preprocessors import ClearHiddenTests

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
DEFAULT_COURSE = os.environ.get("XATTN_COURSE", "course")
#: Seconds a cell may run when grading: generous, for a slow laptop; the chapters
#: that train load their weights instead while nbgrader runs them.
CELL_TIMEOUT_S = 900
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def assignment_id(notebook: Path | str) -> str:
    """``chapters/04_aggregation.ipynb`` -> ``ch04``."""
    stem = Path(notebook).stem
    prefix = stem.split("_", 1)[0]
    if not prefix.isdigit():
        raise ValueError(
            f"chapter notebooks are named NN_title.ipynb, got {Path(notebook).name}"
        )
    return f"ch{prefix}"


def chapter_notebooks(
    chapters: Path | str = "chapters", only: list[str] | None = None
) -> list[Path]:
    """The chapter notebooks, or those that ``only`` names.

    ``only`` takes chapter numbers (``3``, ``03``), assignment ids (``ch03``) or
    file stems (``03_weights``); an id that matches no chapter is an error.
    """
    notebooks = sorted(Path(chapters).glob("[0-9][0-9]_*.ipynb"))
    if not only:
        return notebooks
    chosen = []
    for wanted in only:
        key = wanted.removesuffix(".ipynb")
        if key.isdigit():
            key = f"ch{int(key):02d}"
        hits = [nb for nb in notebooks if key in (assignment_id(nb), nb.stem)]
        if not hits:
            ids = ", ".join(assignment_id(nb) for nb in notebooks)
            raise ValueError(f"no chapter matches {wanted!r}; the chapters are {ids}")
        chosen += [nb for nb in hits if nb not in chosen]
    return sorted(chosen)


class HideHiddenTests(ClearHiddenTests):
    """Feedback without hidden tests: their code goes, and tracebacks that quote it.

    nbgrader's feedback shows the autograded notebook, hidden tests included
    (jupyter/nbgrader#917). This preprocessor, set in the course's
    ``nbgrader_config.py``, removes the hidden regions from the test cells, and
    replaces the traceback of a failure inside one by the error's type and message.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        hidden = _hidden_lines(cell.source) if cell.cell_type == "code" else set()
        cell, resources = super().preprocess_cell(cell, resources, cell_index)
        for output in cell.get("outputs", []):
            if output.get("output_type") != "error" or not hidden:
                continue
            text = ANSI.sub("", "\n".join(output.get("traceback", [])))
            if any(line in text for line in hidden):
                output["traceback"] = [
                    f"{output.get('ename', 'Error')}: {output.get('evalue', '')}",
                    "(raised by a hidden test; its code is not shown)",
                ]
        return cell, resources


def _hidden_lines(source: str) -> set[str]:
    lines, inside = set(), False
    for line in source.splitlines():
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif inside and line.strip():
            lines.add(line.strip())
    return lines


CONFIG = f'''"""nbgrader settings of this course, written by xattn.coursework.

nbgrader's own commands (autograde, generate_feedback, the formgrader) read this file
when they run in this folder, so they behave like `make grades` and `make feedback`.
"""

from xattn.coursework import HideHiddenTests
from nbgrader.preprocessors import GetGrades
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor

c = get_config()  # noqa: F821 (nbgrader provides it)
# Per cell: room for a slow laptop (the training chapters load their weights when
# graded).
c.Execute.timeout = {CELL_TIMEOUT_S}
# Feedback shows visible tests and results, never hidden test code (nbgrader#917).
feedback = [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
c.GenerateFeedback.preprocessors = feedback
'''


def write_config(course: Path | str) -> Path:
    """Write the course's ``nbgrader_config.py`` (timeout; feedback, no hidden tests).

    Returns the file's path.
    """
    path = Path(course) / "nbgrader_config.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(CONFIG)
    return path


def _nbgrader(
    course: Path, *args: str, check: bool = True
) -> subprocess.CompletedProcess:
    course = Path(course).resolve()
    write_config(course)
    cmd = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={course}"]
    log.debug("running %s", " ".join(cmd))
    # nbgrader runs the `alembic` command of its own environment, found on PATH.
    path = os.pathsep.join(
        [str(Path(sys.executable).parent), os.environ.get("PATH", "")]
    )
    result = subprocess.run(
        cmd, capture_output=True, text=True, cwd=course, env=dict(os.environ, PATH=path)
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"nbgrader {args[0]} failed "
            f"({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result


def release(
    chapters: Path | str = "chapters",
    course: Path | str = DEFAULT_COURSE,
    only: list[str] | None = None,
) -> list[Path]:
    """Make the student version of each chapter with ``nbgrader generate_assignment``.

    Returns the student notebooks, ``<course>/release/chNN/NN_title.ipynb``.
    """
    course = Path(course).resolve()
    released = []
    for notebook in chapter_notebooks(chapters, only):
        aid = assignment_id(notebook)
        source = course / "source" / aid
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, source / notebook.name)
        _nbgrader(course, "generate_assignment", aid, "--force")
        released.append(course / "release" / aid / notebook.name)
    return released


def submit(
    course: Path | str, student: str, notebook: Path | str, name: str | None = None
) -> Path:
    """Place a student's notebook where grading looks (``name``: another file name)."""
    notebook = Path(notebook)
    folder = (
        Path(course).resolve() / "submitted" / student / assignment_id(name or notebook)
    )
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (name or notebook.name)
    shutil.copy2(notebook, target)
    return target


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

    Returns:
        the students whose submission could not be graded.
    """
    course = Path(course).resolve()
    args = ["autograde", assignment, "--force", "--create"]
    if student:
        args.append(f"--student={student}")
    if notebook:
        args.append(f"--CourseDirectory.notebook_id={notebook}")
    if exclude:
        args.append(f"--CourseDirectory.student_id_exclude={','.join(exclude)}")
    result = _nbgrader(course, *args, check=False)
    output = f"{result.stdout}\n{result.stderr}"
    logs = course / "logs"
    logs.mkdir(exist_ok=True)
    (logs / f"autograde-{assignment}.log").write_text(output)
    failed = sorted(
        set(
            re.findall(
                rf"error processing assignment '{re.escape(assignment)}' "
                r"for student '([^']+)'",
                output,
            )
        )
    )
    if result.returncode != 0 and not failed:
        raise RuntimeError(
            f"nbgrader autograde failed ({result.returncode}):\n{output[-4000:]}"
        )
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
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebook, source / notebook.name)
            _nbgrader(course, "generate_assignment", aid, "--force")
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


def _student_notebook(instructor: Path, student_version: Path) -> dict:
    """The student version, with the instructor's outputs of every cell but the
    exercises' own (their solution and test cells stay as nbgrader made them)."""
    original = json.loads(instructor.read_text())
    student = json.loads(student_version.read_text())
    if len(original["cells"]) != len(student["cells"]):
        raise RuntimeError(f"{student_version} does not have {instructor}'s cells")
    for a, b in zip(original["cells"], student["cells"]):
        if b["cell_type"] == "code" and not a["metadata"].get("nbgrader"):
            b["outputs"], b["execution_count"] = a["outputs"], a["execution_count"]
        if b["metadata"].get("nbgrader", {}).get("solution"):
            # The reader site folds the solutions away; here there is none to hide.
            tags = b["metadata"].get("tags", [])
            b["metadata"]["tags"] = [t for t in tags if t != "hide-input"]
    return student


def build_student_site(
    root: Path | str = ".",
    out: Path | str = "_build/student",
    chapters: Path | str = "chapters",
) -> Path:
    """Build the website from the student versions: no solutions, no hidden tests.

    The chapters keep their figures and printed results, those of the cells
    between and after the exercises too; the exercise cells are as the students
    get them. Returns the folder of the site.
    """
    root, out = Path(root).resolve(), Path(out).resolve()
    book, course = out / "book", out / "course"
    shutil.rmtree(book, ignore_errors=True)
    book.mkdir(parents=True)
    shutil.copy2(root / "_toc.yml", book / "_toc.yml")
    config = (root / "_config.yml").read_text()
    config = config.replace('title: "xattn', 'title: "xattn (student edition)')
    config = config.replace(
        "  config:\n", "  config:\n    xattn_student_site: true\n", 1
    )
    (book / "_config.yml").write_text(config)
    shutil.copytree(
        root / chapters,
        book / "chapters",
        ignore=shutil.ignore_patterns("*.ipynb", ".*"),
    )
    for notebook in chapter_notebooks(root / chapters):
        (student_version,) = release(root / chapters, course, only=[notebook.stem])
        nb = _student_notebook(notebook, student_version)
        (book / "chapters" / notebook.name).write_text(
            json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        )
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    cmd = [
        str(jupyter_book),
        "build",
        str(book),
        "--warningiserror",
        "--keep-going",
        "--path-output",
        str(out),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            "the student site did not "
            f"build:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return out / "_build" / "html"


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


if __name__ == "__main__":
    raise SystemExit(main())
