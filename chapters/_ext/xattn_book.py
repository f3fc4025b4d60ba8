"""Small fixes to the Jupyter Book 1 website, loaded as a local Sphinx extension.

Under Sphinx 7, the inline scripts that sphinx-togglebutton and sphinx-thebe add
end up twice in every page, and the second ``const THEBE_JS_URL`` throws a
"has already been declared" error in the browser console. This keeps the first
copy of each script. It also gives the theme a colour mode, without which it logs
"Got invalid theme mode" to the console on every page.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for script in scripts:
        # An inline script is registered once with filename None and once with "".
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique
    if not context.get("default_mode"):
        context["default_mode"] = "auto"


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
