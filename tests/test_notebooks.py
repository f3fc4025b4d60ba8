"""The chapter notebooks as stored: complete, in order, clean, shaped like a chapter."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
IDS = [p.stem for p in NOTEBOOKS]


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_every_chapter_is_in_the_table_of_contents_and_back():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = {c["file"] for part in toc["parts"] for c in part["chapters"]}
    chapters = {f"chapters/{p.stem}" for p in NOTEBOOKS}
    assert chapters <= files, (
        f"notebooks missing from _toc.yml: {sorted(chapters - files)}"
    )
    for f in files:
        assert (ROOT / f"{f}.ipynb").exists() or (ROOT / f"{f}.md").exists(), (
            f"_toc.yml names a missing page {f}"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_outputs_come_from_a_clean_restart_and_run_all(path):
    nb = load(path)
    counts = [c.get("execution_count") for c in code_cells(nb) if source(c).strip()]
    assert None not in counts, (
        f"{path.name}: cells without stored output; restart and run all"
    )
    assert counts == list(range(1, len(counts) + 1)), (
        f"{path.name}: cells were not run once each, top to bottom"
    )
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_no_errors_warnings_or_skips_are_stored(path):
    nb = load(path)
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", (
                f"{path.name} code cell {i}: stored error {out.get('ename')}"
            )
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), (
                f"{path.name} code cell {i}: stderr output (a warning?): "
                f"{''.join(out['text'])[:200]}"
            )
        assert "NBVAL_SKIP" not in source(cell), (
            f"{path.name}: NBVAL_SKIP hides a cell from the tests"
        )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_ignored_outputs_are_followed_by_a_compared_check(path):
    cells = code_cells(load(path))
    for i, cell in enumerate(cells):
        if "NBVAL_IGNORE_OUTPUT" in source(cell):
            assert i + 1 < len(cells), f"{path.name}: the last cell ignores its output"
            follower = cells[i + 1]
            assert "NBVAL_IGNORE_OUTPUT" not in source(follower) and follower.get(
                "outputs"
            ), (
                f"{path.name} code cell {i}: an ignored output must be followed by a "
                "cell whose output is compared"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_chapter_has_figures_exercises_and_citations(path):
    nb = load(path)
    figures = sum(
        "image/png" in out.get("data", {})
        for c in code_cells(nb)
        for out in c.get("outputs", [])
    )
    assert figures >= 2, (
        f"{path.name}: a chapter needs at least two figures, found {figures}"
    )
    graded = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade")]
    assert 3 <= len(graded) <= 5, (
        f"{path.name}: 3 to 5 autograded exercises, found {len(graded)}"
    )
    text = "".join(source(c) for c in nb["cells"] if c["cell_type"] == "markdown")
    assert re.search(r"\{cite(:[pt])?\}`", text), (
        f"{path.name}: cite at least one source from the bibliography"
    )
    assert text.lstrip().startswith("# "), (
        f"{path.name}: the first cell is the chapter's title"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_exercise_cells_follow_nbgrader_conventions(path):
    nb = load(path)
    ids = []
    for cell in nb["cells"]:
        meta = cell["metadata"].get("nbgrader")
        if not meta:
            continue
        ids.append(meta["grade_id"])
        assert meta.get("schema_version") == 3
        text = source(cell)
        if meta.get("solution"):
            assert "### BEGIN SOLUTION" in text and "### END SOLUTION" in text, (
                f"{meta['grade_id']}: no solution region"
            )
            assert "hide-input" in cell["metadata"].get("tags", []), (
                f"{meta['grade_id']}: solutions are collapsed on the site"
            )
        if meta.get("grade"):
            assert meta.get("points", 0) > 0 and meta.get("locked"), (
                f"{meta['grade_id']}: graded cells are locked, with points"
            )
            assert "assert" in text, (
                f"{meta['grade_id']}: a test cell without an assert can not fail"
            )
    assert len(ids) == len(set(ids)), f"{path.name}: duplicate nbgrader grade_id"
