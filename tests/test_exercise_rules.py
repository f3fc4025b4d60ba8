"""Rules an exercise states, tested with answers that break only the rule.

The coursework gate grades one wrong answer per exercise (``tests/answers/``): the bug
a learner most often writes. An exercise that also rules out a shortcut ("without
einsum") must reject an answer that is right but takes it; here each such answer
runs against the exercise's tests, hidden ones included, beside the solution and the
gate's alternative answer, which must pass.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SETUP = "import numpy as np\nimport torch\nimport xattn\n"


@functools.cache
def exercise_cells(stem: str) -> dict[str, str]:
    """A chapter's solution and test cells, by grade id (``ex1-tests``)."""
    cells = json.loads((ROOT / "chapters" / f"{stem}.ipynb").read_text())["cells"]
    return {
        c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"])
        for c in cells
        if c["metadata"].get("nbgrader", {}).get("grade_id")
    }


def passes(stem: str, exercise: str, answer: str) -> bool:
    """Whether an answer passes the exercise's tests (a Forbidden is an assertion)."""
    namespace: dict = {}
    exec(SETUP, namespace)
    exec(answer, namespace)
    try:
        exec(exercise_cells(stem)[f"{exercise}-tests"], namespace)
    except AssertionError:
        return False
    return True


BREAKS_THE_RULE = {
    "4.1 with einsum": (
        "04_aggregation",
        "ex1",
        """
def attend_one(query, k, v):
    scores = torch.einsum("d,ld->l", query, k) / query.shape[-1] ** 0.5
    return torch.einsum("l,ld->d", torch.softmax(scores, dim=0), v)
""",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS_THE_RULE))
def test_an_answer_that_breaks_the_stated_rule_fails(name):
    stem, exercise, answer = BREAKS_THE_RULE[name]
    assert not passes(stem, exercise, answer), name


@pytest.mark.parametrize("name", list(BREAKS_THE_RULE))
def test_the_solution_and_the_alternative_still_pass(name):
    stem, exercise, _ = BREAKS_THE_RULE[name]
    solution = exercise_cells(stem)[f"{exercise}-solution"]
    alternative = ROOT / "tests" / "answers" / stem / f"{exercise}.alternative.py"
    assert passes(stem, exercise, solution)
    assert passes(stem, exercise, alternative.read_text())
