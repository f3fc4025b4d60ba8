"""Coursework gate: student versions carry no solutions, and autograding scores them right.

For each chapter, in a fresh nbgrader course folder: make the student version
with nbgrader, submit the instructor notebook as one student and the untouched
student notebook as another, autograde both, and read the exported grades.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from xattn import coursework

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def protected_lines(nb: dict) -> set[str]:
    """The code lines inside solution and hidden-test regions of an instructor notebook."""
    lines = set()
    for cell in nb["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if re.search(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", line):
                inside = "BEGIN" in line
                continue
            text = line.strip()
            # Short lines (`try:`, `return out`) may stand anywhere; substantive ones
            # may not leak.
            if inside and len(text) >= 12 and not text.startswith("#"):
                lines.add(text)
    return lines


def code_lines(nb: dict) -> set[str]:
    return {
        line.strip() for c in nb["cells"] for line in "".join(c["source"]).splitlines()
    }


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_version_and_autograding(notebook, tmp_path):
    course = tmp_path / "course"
    instructor = json.loads(notebook.read_text())
    (student_path,) = coursework.release(
        ROOT / "chapters", course, only=[notebook.stem]
    )
    student = json.loads(student_path.read_text())

    secret = protected_lines(instructor)
    assert secret, f"{notebook.name} has no solution code to protect"
    leaked = secret & code_lines(student)
    assert not leaked, (
        "solution or hidden-test code survives in the student version: "
        f"{sorted(leaked)[:5]}"
    )
    text = json.dumps(student)
    for marker in MARKERS:
        assert marker not in text, f"{marker!r} survives in the student version"
    n_solutions = sum(
        bool(c["metadata"].get("nbgrader", {}).get("solution"))
        for c in instructor["cells"]
    )
    assert text.count("raise NotImplementedError()") >= n_solutions
    assert all(
        not c.get("outputs") for c in student["cells"] if c["cell_type"] == "code"
    ), "outputs must be cleared"

    coursework.submit(course, "instructor", notebook)
    coursework.submit(course, "untouched", student_path)
    coursework.autograde(course, coursework.assignment_id(notebook))
    rows = {r["student_id"]: r for r in coursework.export_grades(course)}
    assert set(rows) == {"instructor", "untouched"}, "both submissions are graded"

    max_score = float(rows["instructor"]["max_score"])
    expected = sum(
        c["metadata"]["nbgrader"].get("points", 0)
        for c in instructor["cells"]
        if c["metadata"].get("nbgrader", {}).get("grade")
    )
    assert max_score == expected > 0
    assert float(rows["instructor"]["score"]) == max_score, (
        "the solutions must earn full marks"
    )
    assert float(rows["untouched"]["score"]) == 0.0, (
        "an untouched student notebook must earn nothing"
    )
    graded = (
        course
        / "autograded"
        / "untouched"
        / coursework.assignment_id(notebook)
        / notebook.name
    )
    assert graded.exists(), "the grading run must finish the untouched notebook"


def test_assignment_ids():
    assert coursework.assignment_id("chapters/04_aggregation.ipynb") == "ch04"
    with pytest.raises(ValueError, match="NN_title"):
        coursework.assignment_id("index.ipynb")
