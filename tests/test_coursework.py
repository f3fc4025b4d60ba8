"""Coursework gate: student versions carry no solutions, and grading scores right.

For each chapter, in a fresh nbgrader course folder, make the student version
with nbgrader and submit four notebooks as four students:

- the instructor version, which must earn full marks. nbgrader grades the outputs
  it holds without running it again: ``pytest --nbval`` re-runs every chapter and
  fails on any output that differs, so the stored outputs are what a run gives,
  and a second run here would only repeat the first;
- the untouched student version, which must earn nothing, and finish;
- the instructor version with every exercise's *wrong* answer from
  ``tests/answers/<chapter>/exN.wrong.py`` (the bug a learner really writes),
  which must lose marks on every exercise;
- the instructor version with every exercise's *alternative* answer from
  ``exN.alternative.py`` (correct, written differently from the solution),
  which must earn full marks on every exercise.

The other three are run and graded by one ``nbgrader autograde`` run per chapter,
with the chapter's grading-time sizes (``xattn.run_settings().grading``), in kernels
without conftest.py's pins of the CPU kernels (``REPRODUCIBLE``), as an instructor's
``make grades`` runs them: the pins make stored outputs the same on every x86-64 CPU,
and no stored output is compared here, while MKL's compatible mode costs about half
again the time of a training step.
"""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path

import pytest

from conftest import REPRODUCIBLE
from xattn import coursework

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
ANSWERS = ROOT / "tests" / "answers"
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def protected_lines(
    nb: dict, regions: tuple[str, ...] = ("SOLUTION", "HIDDEN TESTS")
) -> set[str]:
    """Lines inside the solution and hidden-test regions of an instructor's notebook."""
    pattern = re.compile(rf"### (BEGIN|END) ({'|'.join(regions)})")
    lines = set()
    for cell in nb["cells"]:
        inside = False
        for line in "".join(cell["source"]).splitlines():
            if re.search(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", line):
                inside = bool(pattern.search(line)) and "BEGIN" in line
                continue
            text = line.strip()
            # Short lines (`try:`, `return out`) may stand anywhere; substantive ones
            # may not leak.
            if inside and len(text) >= 12 and not text.startswith("#"):
                lines.add(text)
    return lines


def unprotected_lines(nb: dict) -> set[str]:
    """The lines outside every solution and hidden-test region."""
    lines, inside = set(), False
    for cell in nb["cells"]:
        for line in "".join(cell["source"]).splitlines():
            if re.search(r"### (BEGIN|END) (SOLUTION|HIDDEN TESTS)", line):
                inside = "BEGIN" in line
            elif not inside:
                lines.add(line.strip())
    return lines


def code_lines(nb: dict) -> set[str]:
    return {
        line.strip() for c in nb["cells"] for line in "".join(c["source"]).splitlines()
    }


def exercises(nb: dict) -> dict[str, dict]:
    """Per exercise (``ex1``, ...): its solution's grade id, its test cells' points."""
    found: dict[str, dict] = {}
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        if not meta:
            continue
        name = meta["grade_id"].split("-", 1)[0]
        entry = found.setdefault(name, {"solution": None, "tests": {}})
        if meta.get("solution"):
            entry["solution"] = meta["grade_id"]
        if meta.get("grade"):
            entry["tests"][meta["grade_id"]] = meta["points"]
    return found


def answers(stem: str, kind: str) -> dict[str, str]:
    """``{"ex1": source, ...}`` from tests/answers/<stem>/exN.<kind>.py."""
    return {
        p.name.split(".")[0]: p.read_text()
        for p in sorted((ANSWERS / stem).glob(f"ex*.{kind}.py"))
    }


def substituted(nb: dict, replacements: dict[str, str]) -> dict:
    """The notebook with each named exercise's solution cell replaced by an answer."""
    nb = copy.deepcopy(nb)
    done = set()
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader", {})
        name = meta.get("grade_id", "").split("-", 1)[0]
        if meta.get("solution") and name in replacements:
            cell["source"] = replacements[name]
            cell["outputs"], cell["execution_count"] = [], None
            done.add(name)
    assert done == set(replacements), (
        f"no solution cell for {sorted(set(replacements) - done)}"
    )
    return nb


def cell_scores(
    course: Path, aid: str, notebook: str, student: str, grade_ids
) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {
            g: gradebook.find_grade(g, notebook, aid, student).score for g in grade_ids
        }


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_version_and_autograding(notebook, tmp_path, monkeypatch):
    course = tmp_path / "course"
    aid = coursework.assignment_id(notebook)
    instructor = json.loads(notebook.read_text())
    (student_path,) = coursework.release(
        ROOT / "chapters", course, only=[notebook.stem]
    )
    student = json.loads(student_path.read_text())

    # A line may stand in a visible test too (a `with forbidden(...)` repeated below).
    secret = protected_lines(instructor) - unprotected_lines(instructor)
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

    found = exercises(instructor)
    wrong, alternative = (
        answers(notebook.stem, "wrong"),
        answers(notebook.stem, "alternative"),
    )
    assert set(wrong) == set(found), (
        f"a wrong answer for every exercise: {sorted(found)} vs {sorted(wrong)}"
    )
    assert set(alternative) == set(found), (
        f"an alternative answer for every exercise: {sorted(alternative)}"
    )
    for kind, nb in (
        ("wrong", substituted(instructor, wrong)),
        ("alternative", substituted(instructor, alternative)),
    ):
        path = tmp_path / kind / notebook.name
        path.parent.mkdir()
        path.write_text(json.dumps(nb))
        coursework.submit(course, kind, path)
    coursework.submit(course, "instructor", notebook)
    coursework.submit(course, "untouched", student_path)

    # Grading the instructor's stored outputs is sound only for a notebook that was
    # run: every test cell carries its execution count and no error.
    for cell in instructor["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade"):
            assert cell.get("execution_count"), (
                f"{notebook.name} was not run: `make execute NB={notebook}`"
            )
            assert all(o["output_type"] != "error" for o in cell["outputs"])
    for name in REPRODUCIBLE:
        monkeypatch.delenv(name, raising=False)
    started = time.perf_counter()
    coursework.autograde(course, aid, student="instructor", execute=False)
    coursework.autograde(course, aid, exclude=["instructor"])
    print(f"{aid}: 4 submissions graded in {time.perf_counter() - started:.0f} s")
    table = coursework.grades_table(course, [notebook])
    rows = {r["student"]: r for r in table}
    assert set(rows) == {"instructor", "untouched", "wrong", "alternative"}, (
        "every submission is graded"
    )
    assert all(r["status"] == "graded" for r in table)

    expected = sum(
        points for entry in found.values() for points in entry["tests"].values()
    )
    assert float(rows["instructor"]["max_score"]) == expected > 0
    assert float(rows["instructor"]["score"]) == expected, (
        "the solutions must earn full marks"
    )
    assert float(rows["untouched"]["score"]) == 0.0, (
        "an untouched student notebook must earn nothing"
    )
    graded = course / "autograded" / "untouched" / aid / notebook.name
    assert graded.exists(), "the grading run must finish the untouched notebook"

    tests = {g: p for entry in found.values() for g, p in entry["tests"].items()}
    for kind in ("wrong", "alternative"):
        scores = cell_scores(course, aid, notebook.stem, kind, tests)
        for name, entry in found.items():
            got = sum(scores[g] for g in entry["tests"])
            full = sum(entry["tests"].values())
            if kind == "wrong":
                assert got < full, (
                    f"{name}'s wrong answer "
                    f"(tests/answers/{notebook.stem}/{name}.wrong.py) got full marks"
                )
            else:
                assert got == full, f"{name}'s alternative answer got {got} of {full}"


def test_every_chapter_has_its_answers_and_nothing_else():
    stems = {p.stem for p in NOTEBOOKS}
    assert {p.name for p in ANSWERS.iterdir() if p.is_dir()} == stems
    for stem in stems:
        names = {p.name for p in (ANSWERS / stem).glob("*.py")}
        assert all(re.fullmatch(r"ex\d+\.(wrong|alternative)\.py", n) for n in names), (
            names
        )


def test_the_instructor_page_counts_the_answers_there_are():
    guide = (ROOT / "chapters" / "instructors.md").read_text()
    rows = re.findall(r"^\| (\d+)\. [^|]+ \| (\d+) \| (\d+) \| (\d+) \|$", guide, re.M)
    assert len(rows) == len(NOTEBOOKS)
    for number, n_exercises, n_wrong, n_alternative in rows:
        (notebook,) = [p for p in NOTEBOOKS if p.stem.startswith(f"{int(number):02d}_")]
        found = exercises(json.loads(notebook.read_text()))
        assert int(n_exercises) == len(found)
        assert int(n_wrong) == len(answers(notebook.stem, "wrong")) == len(found)
        assert (
            int(n_alternative)
            == len(answers(notebook.stem, "alternative"))
            == len(found)
        )


def test_assignment_ids():
    assert coursework.assignment_id("chapters/04_aggregation.ipynb") == "ch04"
    with pytest.raises(ValueError, match="NN_title"):
        coursework.assignment_id("index.ipynb")
