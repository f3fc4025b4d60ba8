"""The book build: warnings and stored notebook errors fail it; MathJax is local."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
JUPYTER_BOOK = Path(sys.executable).parent / "jupyter-book"


def make_book(tmp: Path, outputs: list[dict]) -> Path:
    """A two-page book with the project's own configuration and one stored notebook."""
    (tmp / "chapters").mkdir()
    shutil.copy(ROOT / "_config.yml", tmp / "_config.yml")
    shutil.copytree(ROOT / "chapters" / "_ext", tmp / "chapters" / "_ext")
    shutil.copy(
        ROOT / "chapters" / "references.bib", tmp / "chapters" / "references.bib"
    )
    (tmp / "_toc.yml").write_text(
        "format: jb-book\nroot: chapters/index\nchapters:\n  - file: chapters/nb\n"
    )
    (tmp / "chapters" / "index.md").write_text("# Home\n\nMath: $x^2$.\n")
    cell = {
        "cell_type": "code",
        "execution_count": 1,
        "metadata": {},
        "source": ["1 / 0"],
        "outputs": outputs,
    }
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# A notebook"]},
            cell,
        ],
        "metadata": {
            "kernelspec": {
                "name": "python3",
                "display_name": "Python 3",
                "language": "python",
            }
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp / "chapters" / "nb.ipynb").write_text(json.dumps(nb))
    return tmp


def build(book: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(JUPYTER_BOOK), "build", str(book), "--warningiserror", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_a_clean_notebook_builds(tmp_path):
    ok = build(
        make_book(
            tmp_path,
            [
                {
                    "output_type": "execute_result",
                    "execution_count": 1,
                    "metadata": {},
                    "data": {"text/plain": "0.5"},
                }
            ],
        )
    )
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    assert (
        tmp_path / "_build" / "html" / "_static" / "mathjax" / "tex-chtml.js"
    ).exists()


@pytest.mark.parametrize(
    "output, message",
    [
        (
            {
                "output_type": "error",
                "ename": "ZeroDivisionError",
                "evalue": "division by zero",
                "traceback": [],
            },
            "stores an error: ZeroDivisionError",
        ),
        (
            {
                "output_type": "stream",
                "name": "stderr",
                "text": "UserWarning: careful\n",
            },
            "stderr",
        ),
    ],
    ids=["stored error", "stderr output"],
)
def test_a_notebook_error_or_warning_fails_the_build(tmp_path, output, message):
    failed = build(make_book(tmp_path, [output]))
    assert failed.returncode != 0
    assert message in failed.stdout + failed.stderr


def test_configuration_keeps_the_gates():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off", (
        "the site shows the outputs nbval checks"
    )
    assert config["execute"]["allow_errors"] is False
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    for pattern in (".venv", "_build", "tests/**", "xattn/**"):
        assert pattern in config["exclude_patterns"]


def test_no_third_party_mathjax_is_committed():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True
    ).stdout.lower()
    if not tracked:
        pytest.skip("not a git checkout")
    assert "mathjax" not in tracked.replace("sphinx-mathjax-offline", "")
