"""The package as a library: every public name documented and referenced, packaging."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: the same parser, as a package (pytest needs it)
    import tomli as tomllib

import pytest
from torch import nn

import xattn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "chapters" / "_ext"))
from xattn_book import strip_hidden_tests, undocumented_public_names  # noqa: E402


def public_names() -> dict[str, object]:
    """Every public name, named as the API page lists it (``xattn.X`` if top-level).

    A private module (``xattn.checks._masks``) holds code that a public module
    hands on under its own name; it has no names of its own to document.
    """
    names = {}
    for info in pkgutil.walk_packages(xattn.__path__, "xattn."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        for name in module.__all__:
            full = f"xattn.{name}" if name in xattn.__all__ else f"{info.name}.{name}"
            names[full] = getattr(module, name)
    return names


def api_entries() -> list[str]:
    """The names documented on chapters/api.md, in order, with repeats."""
    entries, current = [], None
    for line in (ROOT / "chapters" / "api.md").read_text().splitlines():
        if m := re.match(r"\.\. currentmodule:: (\S+)", line):
            current = m.group(1)
        if m := re.match(r"\.\. auto(function|class|data):: (\S+)", line):
            entries.append(f"{current}.{m.group(2)}")
    return entries


def test_every_top_level_name_is_in_a_module_all():
    names = public_names()
    assert all(f"xattn.{n}" in names for n in xattn.__all__)


def test_the_api_page_documents_every_public_name_once():
    entries = api_entries()
    assert len(entries) == len(set(entries)), "a name documented twice"
    assert set(entries) == set(public_names())


def test_every_public_name_has_a_docstring():
    assert undocumented_public_names() == []


def test_the_docstring_check_finds_what_is_missing(tmp_path, monkeypatch):
    package = tmp_path / "fakepkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package."""\n')
    (package / "good.py").write_text(
        '"""A module."""\n__all__ = ["f"]\n\ndef f():\n    """Documented."""\n'
    )
    (package / "bad.py").write_text(
        '__all__ = ["g", "C"]\n\ndef g():\n    pass\n\nclass C:\n    pass\n'
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert sorted(undocumented_public_names("fakepkg")) == [
        "fakepkg.bad",
        "fakepkg.bad.C",
        "fakepkg.bad.g",
    ]


def _init_parameters(cls) -> list[str]:
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", "args", "kwargs")]


@pytest.mark.parametrize(
    "name",
    [
        n
        for n, obj in public_names().items()
        if inspect.isclass(obj) and issubclass(obj, nn.Module)
    ],
)
def test_modules_document_their_constructor_arguments(name):
    """help(xattn.X) shows what each argument of xattn.X(...) means."""
    cls = public_names()[name]
    doc = inspect.getdoc(cls) or ""
    assert "Args:" in doc, f"{name}'s docstring has no Args section"
    args = doc.split("Args:", 1)[1]
    missing = [
        p for p in _init_parameters(cls) if not re.search(rf"^\s+{p}\b", args, re.M)
    ]
    assert not missing, f"{name}'s docstring does not describe {missing}"


def test_chapters_link_their_first_mention_of_a_package_name():
    entries = set(api_entries())
    mention = re.compile(r"(\{py:\w+\})?`([^`<]*<)?~?(xattn\.[A-Za-z_][\w.]*)")
    for path in sorted((ROOT / "chapters").glob("[0-9][0-9]_*.ipynb")):
        seen = set()
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for role, _, name in mention.findall("".join(cell["source"])):
                target = name if name in entries else "xattn." + name.split(".")[-1]
                if target not in entries or target in seen:
                    continue
                seen.add(target)
                assert role, (
                    f"{path.name}: the first mention of {name} is not a link to the "
                    "API page"
                )


def test_hidden_tests_are_taken_out_of_the_page():
    source = "\n".join(
        [
            "assert f(1) == 1",
            "### BEGIN HIDDEN TESTS",
            "assert f(2) == 4",
            "### END HIDDEN TESTS",
        ]
    )
    shown = strip_hidden_tests(source)
    assert "f(2)" not in shown and "BEGIN" not in shown and "assert f(1) == 1" in shown
    assert "hidden here, run when the notebook is graded" in shown


def test_packaging_ships_the_types_marker_licence_and_checkpoints():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert (ROOT / "xattn" / "py.typed").exists()
    assert "py.typed" in project["tool"]["setuptools"]["package-data"]["xattn"]
    licence = (ROOT / "LICENSE").read_text()
    assert project["project"]["license"] == "MIT" and licence.startswith("MIT License")
    data = project["tool"]["setuptools"]["package-data"]["xattn"]
    assert "checkpoints/*.pt" in data
    # The explorer's script and styles, read when it renders.
    assert {"plotting/*.js", "plotting/*.css"} <= set(data)
    readme = (ROOT / "README.md").read_text()
    assert "## Use xattn in your own project" in readme


def test_the_readme_example_runs():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Use xattn in your own project", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the layer example and the explorer example"
    namespace: dict = {}
    for code in blocks:  # one after the other, as a reader would paste them
        exec(compile(code, "README.md", "exec"), namespace)
    assert tuple(namespace["out"].shape) == (2, 10, 256)
    assert tuple(namespace["weights"].shape) == (2, 8, 10, 49)
    shown = namespace["explore"](
        namespace["w"][0], ["le", "chat", "noir"], ["the", "black", "cat", "sat", "."]
    )
    assert repr(shown) == (
        "Explorer(1 layer x 8 heads, 3 queries x 5 keys, layout 'tokens')"
    )


def test_importing_a_command_line_entry_point_runs_nothing(monkeypatch):
    """The book's build imports every module (for its docstrings), ``__main__`` too.

    Under ``jupyter-book build .`` an entry point that ran on import would read
    ``build`` as its command and stop the build.
    """
    monkeypatch.setattr(sys, "argv", ["jupyter-book", "build", "."])
    entry_points = [
        info.name
        for info in pkgutil.walk_packages(xattn.__path__, "xattn.")
        if info.name.endswith(".__main__")
    ]
    assert entry_points, (
        "expected python -m entry points (xattn.train, xattn.coursework)"
    )
    for name in entry_points:
        sys.modules.pop(name, None)
        importlib.import_module(name)  # a SystemExit here fails the test
    undocumented_public_names()  # what the build runs: it imports every module
