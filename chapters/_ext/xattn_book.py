"""Small additions to the Jupyter Book 1 build, loaded as a local Sphinx extension.

1. The site shows the outputs stored in the notebooks (execution is off; the
   test command re-executes every notebook with nbval). A stored error output or
   a code cell that never ran is reported as a warning, which the build's
   warnings-as-errors turns into a failed build. (The student site skips the
   second check: its exercise cells come from nbgrader without outputs.)
2. Hidden tests stay hidden: the ``### BEGIN HIDDEN TESTS`` regions of the
   exercises' test cells are taken out of the page before it is rendered, and
   out of the copies of the notebooks the site offers for download
   (``_sources/``).
3. Every public name of the ``xattn`` package has a docstring, and every
   reference to one (``{py:func}`xattn.attention```) resolves; either failure
   is a warning, so a strict build fails.
4. Code blocks fit the project's 88-column lines: a slightly smaller code font
   and a narrower right-hand sidebar (``_static/xattn.css``).
5. Under Sphinx 7, the inline scripts that sphinx-togglebutton and sphinx-thebe
   add end up twice in every page, and the second ``const THEBE_JS_URL`` throws
   "has already been declared" in the browser console. The first copy of each
   script is kept. The theme also needs a colour mode; without one it logs
   "Got invalid theme mode" to the browser console on every page.
"""

import importlib
import inspect
import json
import pkgutil
from pathlib import Path
from typing import TypeVar

from sphinx.util import logging

logger = logging.getLogger(__name__)

HIDDEN_NOTE = "# (more tests, hidden here, run when the notebook is graded)"


def _check_stored_outputs(app, env, docnames):
    for docname in docnames:
        path = env.doc2path(docname)
        if not str(path).endswith(".ipynb"):
            continue
        cells = json.loads(open(path, encoding="utf-8").read())["cells"]
        code = [
            c
            for c in cells
            if c["cell_type"] == "code" and "".join(c["source"]).strip()
        ]
        for i, cell in enumerate(code):
            if (
                cell.get("execution_count") is None
                and not app.config.xattn_student_site
            ):
                logger.warning(
                    "code cell %d was never run; restart the kernel and run all",
                    i,
                    location=docname,
                )
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    logger.warning(
                        "code cell %d stores an error: %s: %s",
                        i,
                        out.get("ename"),
                        out.get("evalue"),
                        location=docname,
                    )


def strip_hidden_tests(source: str) -> str:
    """A cell's source without its hidden-test region, marked by one comment line."""
    lines, inside, out = source.split("\n"), False, []
    for line in lines:
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
            out.append(line[: len(line) - len(line.lstrip())] + HIDDEN_NOTE)
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out)


def _hide_hidden_tests(app, docname, source):
    if not str(app.env.doc2path(docname)).endswith(".ipynb"):
        return
    nb = json.loads(source[0])
    if strip_notebook(nb):
        source[0] = json.dumps(nb)


def strip_notebook(nb: dict) -> bool:
    """Take the hidden tests out of a notebook's cells; True if there were any."""
    changed = False
    for cell in nb["cells"]:
        text = (
            "".join(cell["source"])
            if isinstance(cell["source"], list)
            else cell["source"]
        )
        if cell["cell_type"] == "code" and "BEGIN HIDDEN TESTS" in text:
            cell["source"] = strip_hidden_tests(text)
            changed = True
    return changed


def _strip_downloads(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    for path in Path(app.outdir, "_sources").rglob("*.ipynb"):
        nb = json.loads(path.read_text(encoding="utf-8"))
        if strip_notebook(nb):
            path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def undocumented_public_names(package: str = "xattn") -> list[str]:
    """Public names (in each module's ``__all__``) without a docstring of their own."""
    root = importlib.import_module(package)
    missing = []
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # a command-line entry point: importing it would run it
        module = importlib.import_module(info.name)
        if not (module.__doc__ or "").strip():
            missing.append(info.name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if inspect.isfunction(obj) or inspect.isclass(obj):
                own = (
                    obj.__dict__.get("__doc__") if inspect.isclass(obj) else obj.__doc__
                )
                if not (own or "").strip():
                    missing.append(f"{info.name}.{name}")
    return missing


def _check_docstrings(app):
    for name in undocumented_public_names():
        logger.warning("%s is public but has no docstring", name)


def _unresolved_xattn_reference(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("refdomain") == "py" and target.split(".")[0].lstrip("~") == "xattn":
        if _is_type_variable(target.lstrip("~")):
            return None  # a signature's T or F: a type variable has no page
        logger.warning("reference to %s does not resolve", target, location=node)


def _is_type_variable(target: str) -> bool:
    module, _, name = target.rpartition(".")
    try:
        return isinstance(getattr(importlib.import_module(module), name), TypeVar)
    except (ImportError, AttributeError, ValueError):
        return False


def _add_static(app):
    static = str(Path(__file__).resolve().parent.parent / "_static")
    if static not in app.config.html_static_path:
        app.config.html_static_path.append(static)
    app.add_css_file("xattn.css")


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for script in scripts:
            # An inline script is registered once with filename None and once with "".
            key = (
                str(getattr(script, "filename", script) or ""),
                tuple(sorted(getattr(script, "attributes", {}).items())),
            )
            if key not in seen:
                seen.add(key)
                unique.append(script)
        context["script_files"] = unique
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def setup(app):
    app.add_config_value("xattn_student_site", False, "env")
    app.connect("builder-inited", _add_static)
    app.connect("builder-inited", _check_docstrings)
    app.connect("env-before-read-docs", _check_stored_outputs)
    app.connect("source-read", _hide_hidden_tests)
    app.connect("missing-reference", _unresolved_xattn_reference)
    app.connect("build-finished", _strip_downloads)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
