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

from xattn.grading import Forbidden

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


def failure(stem: str, exercise: str, answer: str) -> AssertionError | None:
    """The failed check (a Forbidden is one) of the exercise's tests; None: passes."""
    namespace: dict = {}
    exec(SETUP, namespace)
    exec(answer, namespace)
    try:
        exec(exercise_cells(stem)[f"{exercise}-tests"], namespace)
    except AssertionError as error:
        return error
    return None


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
    "4.1 with torch.functional.einsum": (
        "04_aggregation",
        "ex1",
        """
import torch.functional


def attend_one(query, k, v):
    scores = torch.functional.einsum("d,ld->l", query, k) / query.shape[-1] ** 0.5
    return torch.softmax(scores, dim=0) @ v
""",
    ),
    "4.1 with numpy's einsum": (
        "04_aggregation",
        "ex1",
        """
def attend_one(query, k, v):
    scores = np.einsum("d,ld->l", query.numpy(), k.numpy()) / query.shape[-1] ** 0.5
    return torch.softmax(torch.from_numpy(scores), dim=0).to(v.dtype) @ v
""",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS_THE_RULE))
def test_an_answer_that_breaks_the_stated_rule_fails(name):
    stem, exercise, answer = BREAKS_THE_RULE[name]
    assert isinstance(failure(stem, exercise, answer), Forbidden), name


@pytest.mark.parametrize("name", list(BREAKS_THE_RULE))
def test_the_solution_and_the_alternative_still_pass(name):
    stem, exercise, _ = BREAKS_THE_RULE[name]
    solution = exercise_cells(stem)[f"{exercise}-solution"]
    alternative = ROOT / "tests" / "answers" / stem / f"{exercise}.alternative.py"
    assert failure(stem, exercise, solution) is None
    assert failure(stem, exercise, alternative.read_text()) is None
