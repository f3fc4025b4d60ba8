"""The website from the student versions: no solutions, no hidden tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from xattn.coursework._course import chapter_notebooks, release


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
