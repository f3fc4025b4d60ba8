"""Code that fits the page: ruff's lint and format over everything the project writes.

The line length (pyproject.toml, 88) is chosen with the site's code font so that no
code cell scrolls sideways; tests/test_site.py checks that in a browser.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUFF = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which(
    "ruff"
)
PATHS = ["xattn", "tests", "bench", "chapters", "conftest.py", ".ci"]


@pytest.mark.parametrize(
    "command", [["check"], ["format", "--check"]], ids=["check", "format"]
)
def test_ruff(command):
    assert RUFF, "ruff is not installed (it is in the test extra and the lock)"
    result = subprocess.run(
        [RUFF, *command, *PATHS], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_the_notebooks_are_in_what_ruff_checks():
    result = subprocess.run(
        [RUFF, "check", "--show-files", "chapters"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    listed = {Path(line.strip()).name for line in result.stdout.splitlines()}
    chapters = {p.name for p in (ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")}
    assert chapters <= listed, f"ruff does not check {sorted(chapters - listed)}"


MODULE_LINES = 400


def test_every_module_fits_in_one_sitting():
    """About 300 lines a module, none over 400: split a larger one by concept."""
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text().splitlines())
        for p in sorted((ROOT / "xattn").rglob("*.py"))
    }
    too_long = {path: n for path, n in sizes.items() if n > MODULE_LINES}
    assert not too_long, f"modules over {MODULE_LINES} lines: {too_long}"
