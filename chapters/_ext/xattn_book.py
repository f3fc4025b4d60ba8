"""Small additions to the Jupyter Book 1 build, loaded as a local Sphinx extension.

1. The site shows the outputs stored in the notebooks (execution is off; the
   test command re-executes every notebook with nbval). A stored error output or
   a code cell that never ran is reported as a warning, which the build's
   warnings-as-errors turns into a failed build.
2. Under Sphinx 7, the inline scripts that sphinx-togglebutton and sphinx-thebe
   add end up twice in every page, and the second ``const THEBE_JS_URL`` throws
   "has already been declared" in the browser console. The first copy of each
   script is kept.
3. The theme needs a colour mode; without one it logs "Got invalid theme mode"
   to the browser console on every page.
"""

import json

from sphinx.util import logging

logger = logging.getLogger(__name__)


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
            if cell.get("execution_count") is None:
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
    app.connect("env-before-read-docs", _check_stored_outputs)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
