"""The nbgrader course folder: assignment ids, its config, nbgrader's commands,
student versions and submissions."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nbgrader.preprocessors import ClearHiddenTests

log = logging.getLogger("xattn")


# The course folder (documented in xattn.coursework).
DEFAULT_COURSE = os.environ.get("XATTN_COURSE", "course")
# Seconds a cell may run when grading: generous, for a slow laptop; the chapters
# that train load their weights instead while nbgrader runs them.
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


@contextlib.contextmanager
def nbgrader_api(course: Path | str, **settings: dict) -> Iterator[Any]:
    """nbgrader's Python API on a course, as its command line would run there.

    The course's ``nbgrader_config.py`` is written and read, ``settings`` are added
    to it (``Execute={"enabled": False}``), and while the block runs the current
    folder is the course and ``PATH`` finds this environment's ``alembic``, which
    nbgrader runs. One process for every command: nbgrader's own command line
    spends seconds starting before each one.
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    course = Path(course).resolve()
    config_file = write_config(course)
    config = PyFileConfigLoader(config_file.name, path=str(course)).load_config()
    config.CourseDirectory.root = str(course)
    for section, values in settings.items():
        for key, value in values.items():
            config[section][key] = value
    cwd, path = os.getcwd(), os.environ.get("PATH", "")
    os.chdir(course)
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    try:
        yield NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    finally:
        os.chdir(cwd)
        os.environ["PATH"] = path


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
    notebooks = [nb.resolve() for nb in chapter_notebooks(chapters, only)]
    with nbgrader_api(course) as api:
        for notebook in notebooks:
            aid = assignment_id(notebook)
            source = course / "source" / aid
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(notebook, source / notebook.name)
            result = api.generate_assignment(aid, force=True)
            if not result["success"]:
                raise RuntimeError(
                    f"nbgrader generate_assignment {aid} failed:\n"
                    f"{result.get('log', '')[-4000:]}\n{result.get('error', '')}"
                )
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
