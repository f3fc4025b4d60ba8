"""The grading workflow, as an instructor follows chapters/instructors.md.

One course folder for the module: chapter 1 released and submitted by five
students (the solutions, a wrong answer, a misnamed file, a right file with a
stray copy beside it, a file that is not a notebook), chapter 2 released but
not assigned. Then grading,
the grades table, feedback, the course's nbgrader configuration, and what
`make clean` leaves alone.
"""

from __future__ import annotations

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_coursework import answers, protected_lines, substituted, unprotected_lines

from xattn import coursework

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "chapters" / "01_two_sequences.ipynb"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    folder = tmp_path_factory.mktemp("term") / "course"
    coursework.release(ROOT / "chapters", folder, only=["01", "ch02"])
    instructor = json.loads(CHAPTER.read_text())
    wrong = tmp_path_factory.mktemp("wrong") / CHAPTER.name
    wrong.write_text(
        json.dumps(substituted(instructor, answers(CHAPTER.stem, "wrong")))
    )
    coursework.submit(folder, "alice", CHAPTER)
    coursework.submit(folder, "bob", wrong)
    coursework.submit(folder, "carol", CHAPTER, name="01_two_sequences-Copy1.ipynb")
    coursework.submit(folder, "dave", CHAPTER)
    coursework.submit(folder, "dave", wrong, name="01_two_sequences (2).ipynb")
    broken = tmp_path_factory.mktemp("broken") / CHAPTER.name
    broken.write_text(CHAPTER.read_text()[:5000])  # cut off: not valid JSON
    coursework.submit(folder, "erin", broken)
    (folder / "grades.csv").write_text("student,assignment,score\nstale,ch01,99\n")
    rows, problems = coursework.grade(ROOT / "chapters", folder)
    return folder, rows, problems


def read_table(folder: Path) -> list[dict[str, str]]:
    with open(folder / "grades.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_every_good_submission_is_graded_and_the_bad_one_reported(course):
    folder, rows, problems = course
    by_student = {r["student"]: r for r in rows}
    assert (
        by_student["alice"]["status"] == "graded"
        and by_student["alice"]["score"] == "6"
    )
    assert by_student["bob"]["status"] == "graded"
    assert float(by_student["bob"]["score"]) < 6
    assert by_student["dave"]["score"] == "6", (
        "a stray copy beside the right file is ignored"
    )
    assert by_student["carol"] == {
        "student": "carol",
        "assignment": "ch01",
        "status": "needs renaming",
        "score": "",
        "max_score": "",
    }
    renaming, broken = problems
    assert isinstance(renaming, coursework.Problem)
    message = str(renaming)
    assert "carol" in message and "01_two_sequences-Copy1.ipynb" in message
    assert "rename the submission to 01_two_sequences.ipynb" in message
    assert (
        folder / "submitted" / "carol" / "ch01" / "01_two_sequences-Copy1.ipynb"
    ).exists()


def test_a_submission_nbgrader_cannot_read_is_reported_and_the_rest_graded(course):
    folder, rows, problems = course
    by_student = {r["student"]: r for r in rows}
    assert by_student["erin"]["status"] == "could not be graded"
    assert by_student["erin"]["score"] == ""
    assert by_student["alice"]["score"] == "6", "the others are graded all the same"
    failure = problems[-1]
    assert isinstance(failure, coursework.GradingFailure)
    assert (failure.student, failure.assignment) == ("erin", "ch01")
    log = Path(failure.log)
    assert log.exists() and "erin" in log.read_text()
    assert "fix or replace the file and grade again" in str(failure)


def test_the_table_is_written_afresh_with_only_the_assigned_chapters(course):
    folder, rows, _ = course
    table = read_table(folder)
    assert table == rows
    assert {r["assignment"] for r in table} == {"ch01"}, (
        "ch02 was released, not assigned"
    )
    assert "stale" not in {r["student"] for r in table}


def test_a_chapter_nobody_submitted_is_not_submitted_rather_than_zero(course):
    folder, _, _ = course
    rows, _ = coursework.grade(ROOT / "chapters", folder, only=["ch01", "2"])
    ch02 = [r for r in rows if r["assignment"] == "ch02"]
    assert len(ch02) == 5 and all(
        r["status"] == "not submitted" and r["score"] == "" for r in ch02
    )


def test_grade_and_release_take_the_same_ids_and_refuse_unknown_ones(course, caplog):
    folder, _, _ = course
    chapters = ROOT / "chapters"
    by_number = coursework.chapter_notebooks(chapters, ["3"])
    assert by_number == coursework.chapter_notebooks(chapters, ["03"])
    assert by_number == coursework.chapter_notebooks(chapters, ["ch03", "03_weights"])
    with pytest.raises(
        ValueError, match="no chapter matches '99'; the chapters are ch01"
    ):
        coursework.chapter_notebooks(chapters, ["99"])
    before = (folder / "grades.csv").read_text()
    code = coursework.main(["grade", "--only", "99", "--course", str(folder)])
    assert code == 2
    assert "no chapter matches '99'" in caplog.text
    assert (folder / "grades.csv").read_text() == before, (
        "a typo is refused before anything changes: the last table stays"
    )


def hidden_lines_in(report: Path) -> list[str]:
    """Lines of chapter 1's hidden tests that show in an HTML feedback report."""
    text = html.unescape(re.sub(r"<[^>]+>", "", report.read_text()))
    instructor = json.loads(CHAPTER.read_text())
    hidden = protected_lines(instructor, ("HIDDEN TESTS",)) - unprotected_lines(
        instructor
    )
    assert hidden
    visible = protected_lines(instructor, ("SOLUTION",))
    return [line for line in hidden - visible if line in text]


def test_plain_nbgrader_in_the_course_folder_behaves_like_make_feedback(course):
    """An instructor who runs nbgrader by hand, in the course folder, gets the same
    settings: the course's nbgrader_config.py is read from there."""
    folder, _, _ = course
    config = (folder / "nbgrader_config.py").read_text()
    assert f"c.Execute.timeout = {coursework.CELL_TIMEOUT_S}" in config
    report = folder / "feedback" / "bob" / "ch01" / "01_two_sequences.html"
    report.unlink(missing_ok=True)
    bin_dir = Path(sys.executable).parent
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    subprocess.run(
        [sys.executable, "-m", "nbgrader", "generate_feedback", "ch01", "--force"],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    assert report.exists()
    assert not hidden_lines_in(report), "plain nbgrader showed the hidden tests"


def test_feedback_names_the_failing_exercise_and_hides_hidden_tests(course):
    folder, _, _ = course
    reports = coursework.feedback(folder, only=["01"])
    bob = folder / "feedback" / "bob" / "ch01" / "01_two_sequences.html"
    assert bob in reports and (folder / "feedback" / "alice" / "ch01").exists()
    # The report's text as a reader sees it: tags (and syntax highlighting) removed.
    text = html.unescape(re.sub(r"<[^>]+>", "", bob.read_text()))
    instructor = json.loads(CHAPTER.read_text())
    assert any(line in text for line in unprotected_lines(instructor) if len(line) > 30)
    shown = hidden_lines_in(bob)
    assert not shown, f"hidden test code in the feedback: {shown[:3]}"
    assert "BEGIN HIDDEN TESTS" not in text
    # Bob's wrong answer to exercise 1.2 fails a hidden test: the report says so, there.
    assert "Exercise 1.2" in text
    after = text[text.index("Exercise 1.2") :]
    assert re.search(r"Score:\s*0(\.0)?\s*/\s*2", after), (
        "the failing exercise shows 0 of 2"
    )
    assert "raised by a hidden test" in after


def test_make_clean_leaves_the_course_folder(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "_build" / "html").mkdir(parents=True)
    grades = tmp_path / "course" / "grades.csv"
    grades.parent.mkdir()
    grades.write_text("student,assignment,status,score,max_score\n")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True)
    assert not (tmp_path / "_build").exists() and grades.exists()
    for target in ("clean", "book", "student", "grades", "feedback", "student-site"):
        dry = subprocess.run(
            ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True
        )
        assert not re.search(r"rm\s+-\w*\s+\S*course", dry.stdout), (
            f"make {target} would delete the course"
        )
