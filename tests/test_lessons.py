"""A lesson reads like a lesson: short cells of mathematics, the scaffolding elsewhere.

A *lesson cell* is a code cell a reader sees: not an exercise's solution or test cell
(nbgrader's), and not tagged ``hide-*`` or ``remove-*`` (collapsed or left out on the
site). The budget, for every chapter:

- no lesson cell over 30 non-blank lines, and the median over the book at most 12;
- no ``raise`` in a lesson cell: input checks live in the package (``@checked``);
- no private ``xattn`` name imported or used (``xattn.checks``, ``xattn.grading``,
  underscored names): the page uses what a reader can use;
- no test machinery in sight: nbval's markers are cell tags, not comments; no
  ``# fmt: skip``; no ``autograding()`` switch (``xattn.run_settings()`` says it once).
"""

from __future__ import annotations

import ast
import json
import re
import statistics
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb"))
MAX_LINES, MAX_MEDIAN = 30, 12
PRIVATE_MODULES = ("xattn.checks", "xattn.grading")
MARKERS = re.compile(r"NBVAL_|nbval|fmt:\s*(skip|off)|autograding\s*\(")


def is_exercise(cell: dict) -> bool:
    meta = cell["metadata"].get("nbgrader", {})
    return bool(meta.get("solution") or meta.get("grade") or meta.get("task"))


def is_hidden(cell: dict) -> bool:
    return any(
        t.startswith(("hide-", "remove-")) for t in cell["metadata"].get("tags", [])
    )


def source(cell: dict) -> str:
    return "".join(cell["source"])


def lesson_cells(path: Path) -> list[tuple[int, str]]:
    """(index, source) of every lesson cell of a notebook."""
    cells = json.loads(path.read_text())["cells"]
    return [
        (i, source(c))
        for i, c in enumerate(cells)
        if c["cell_type"] == "code" and not is_exercise(c) and not is_hidden(c)
    ]


def non_blank(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def parse(text: str) -> ast.AST:
    # IPython magics and shell escapes start a line and are not Python.
    lines = [line for line in text.splitlines() if not re.match(r"\s*(%|!(?!=))", line)]
    return ast.parse("\n".join(lines))


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


def private_uses(tree: ast.AST) -> list[str]:
    """The private xattn modules and underscored xattn names a cell imports or uses."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xattn"):
            module = node.module or ""
            if module.startswith(PRIVATE_MODULES) or any(
                part.startswith("_") for part in module.split(".")
            ):
                found.append(f"from {module} import ...")
            found += [
                f"{module}.{a.name}" for a in node.names if a.name.startswith("_")
            ]
        elif isinstance(node, ast.Import):
            found += [
                a.name
                for a in node.names
                if a.name.startswith(PRIVATE_MODULES)
                or (a.name.startswith("xattn.") and "._" in a.name)
            ]
        elif isinstance(node, ast.Attribute):
            name = _dotted(node)
            if name.startswith("xattn.") and (
                name.startswith(PRIVATE_MODULES)
                or any(part.startswith("_") for part in name.split(".")[1:])
            ):
                found.append(name)
    return found


def raises(tree: ast.AST) -> int:
    return sum(isinstance(node, ast.Raise) for node in ast.walk(tree))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_lesson_cells_keep_to_the_budget(notebook):
    problems = []
    for i, text in lesson_cells(notebook):
        n = non_blank(text)
        if n > MAX_LINES:
            problems.append(f"cell {i}: {n} non-blank lines (at most {MAX_LINES})")
        tree = parse(text)
        if k := raises(tree):
            problems.append(f"cell {i}: {k} raise statement(s); checks go in xattn")
        if private := private_uses(tree):
            problems.append(f"cell {i}: private names {sorted(set(private))}")
        if m := MARKERS.search(text):
            problems.append(f"cell {i}: test machinery in sight ({m.group(0)!r})")
    assert not problems, f"{notebook.name}:\n" + "\n".join(problems)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_hidden_cells_show_no_test_machinery_either(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "code" and is_hidden(cell) and not is_exercise(cell):
            m = MARKERS.search(source(cell))
            assert not m, f"{notebook.name} cell {i}: {m.group(0)!r} (a tag instead)"


def test_the_median_lesson_cell_is_short():
    lengths = [non_blank(t) for nb in NOTEBOOKS for _, t in lesson_cells(nb)]
    assert statistics.median(lengths) <= MAX_MEDIAN, statistics.median(lengths)


def test_the_budget_catches_what_it_is_for():
    long_cell = "\n".join(f"x{i} = {i}" for i in range(MAX_LINES + 1))
    assert non_blank(long_cell + "\n\n\n") == MAX_LINES + 1
    assert raises(parse("def f(x):\n    if x < 0:\n        raise ValueError(x)")) == 1
    assert private_uses(parse("from xattn.checks import check_qkv")) != []
    assert private_uses(parse("import xattn.grading")) != []
    assert private_uses(parse("x = xattn.grading.autograding()")) != []
    assert private_uses(parse("from xattn.listen import _check_frames")) != []
    assert private_uses(parse("import xattn\nxattn.attention(q, k, v)")) == []
    assert MARKERS.search("# NBVAL_IGNORE_OUTPUT\nprint(t)")
    assert MARKERS.search("x = [1, 2]  # fmt: skip")
    assert not MARKERS.search("run = xattn.run_settings()")
    hidden = {"cell_type": "code", "metadata": {"tags": ["hide-input"]}, "source": ""}
    assert is_hidden(hidden) and not is_exercise(hidden)
