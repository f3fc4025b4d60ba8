"""The built website, opened in a real browser (headless Chromium).

Every page of the table of contents must load from the local site alone, show
rendered math (no raw TeX), load every image, and show no error output. A
screenshot of each page goes to ``_build/screenshots/``.

Needs ``make book`` first (the test command does it). Where no Chromium is
installed the tests are skipped with a hint; under CI (``CI`` set) they fail
instead, so the gate cannot silently disappear.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM_NAMES = [
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
    "chrome",
]


def toc_pages() -> list[str]:
    """Every document named in _toc.yml, in order, as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]
    for part in toc.get("parts", []):
        for chapter in part["chapters"]:
            pages.append(chapter["file"])
    return pages


def find_chromium() -> str | None:
    explicit = os.environ.get("XATTN_CHROMIUM")
    if explicit:
        return explicit
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def solution_cell_count(page: str) -> int:
    path = ROOT / f"{page}.ipynb"
    if not path.exists():
        return 0
    cells = json.loads(path.read_text())["cells"]
    return sum(
        bool(c.get("metadata", {}).get("nbgrader", {}).get("solution"))
        and c["cell_type"] == "code"
        for c in cells
    )


@pytest.fixture(scope="module")
def site_url():
    if not (SITE / "index.html").exists():
        pytest.fail(
            f"no built site at {SITE}: run `make book` first (the README's test "
            "command does)"
        )

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(SITE))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    path = find_chromium()
    if path is None:
        message = (
            "no Chromium found, so the real-browser test of the website cannot run; "
            "install one "
            "(Debian/Ubuntu: sudo apt-get install chromium; macOS: brew install "
            "--cask chromium) "
            "or point XATTN_CHROMIUM at a Chrome or Chromium binary"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=path,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        yield b
        b.close()


# Text that must never show on a page: raw TeX that MathJax did not typeset, and
# tracebacks.
RAW_TEX = re.compile(
    r"\\(frac|sqrt|mathrm|mathbf|text|top|sum|exp|log|cdot|times|quad|left|right)\b"
    r"|\$[^$\n]{1,80}\$"
)


@pytest.mark.parametrize("page", toc_pages())
def test_page_renders_offline(page, site_url, browser):
    url = f"{site_url}/{page}.html"
    outside, console_errors = [], []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()

    def route(r):
        if r.request.url.startswith(site_url) or r.request.url.startswith("data:"):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    tab.route("**/*", route)
    tab.on(
        "console",
        lambda m: console_errors.append(m.text) if m.type == "error" else None,
    )
    tab.on("pageerror", lambda e: console_errors.append(str(e)))
    response = tab.goto(url, wait_until="load")
    assert response is not None and response.status == 200, f"{url} did not load"
    tab.wait_for_load_state("networkidle")

    has_math = tab.evaluate("document.querySelectorAll('.math').length") > 0
    if has_math:
        tab.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=20_000,
        )
        tab.evaluate("MathJax.startup.promise")
        unrendered = tab.evaluate(
            "Array.from(document.querySelectorAll('span.math, div.math'))"
            ".filter(e => !e.querySelector('mjx-container')).map(e => "
            "e.textContent.slice(0, 60))"
        )
        assert not unrendered, f"{page}: math left as raw TeX: {unrendered[:5]}"
        assert tab.evaluate("document.querySelectorAll('mjx-merror').length") == 0, (
            f"{page}: a TeX error"
        )

    prose = tab.evaluate(
        "(() => { const a = document.querySelector('article') || document.body; const "
        "c = a.cloneNode(true);"
        " c.querySelectorAll('pre, code, .cell_input, .cell_output, mjx-container, "
        "script, style').forEach(e => e.remove());"
        " return c.textContent; })()"
    )
    raw = RAW_TEX.search(prose)
    assert raw is None, f"{page}: raw TeX shows in the text: {raw.group(0)!r}"

    broken = tab.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > "
        "0)).map(i => i.src)"
    )
    assert not broken, f"{page}: images that did not load: {broken}"

    errors = tab.evaluate(
        "document.querySelectorAll('.output.traceback, .output.error, .output.stderr, "
        ".system-message, .problematic').length"
    )
    assert errors == 0, (
        f"{page}: shows {errors} error/traceback/stderr outputs or rendering problems"
    )
    body = tab.evaluate("document.body.innerText")
    assert "Traceback (most recent call last)" not in body, f"{page}: shows a traceback"

    expected_solutions = solution_cell_count(page)
    if expected_solutions:
        hidden = tab.locator(".tag_hide-input")
        assert hidden.count() >= expected_solutions, (
            f"{page}: solutions must be present, collapsed"
        )
        for i in range(hidden.count()):
            assert not hidden.nth(i).locator(".cell_input").is_visible(), (
                f"{page}: a solution is shown expanded"
            )

    assert not outside, (
        f"{page}: requested files from outside the site: {sorted(set(outside))[:5]}"
    )
    assert not console_errors, f"{page}: browser console errors: {console_errors[:5]}"

    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"{page.replace('/', '__')}.png"), full_page=True)
    context.close()


def test_every_toc_page_was_built():
    missing = [p for p in toc_pages() if not (SITE / f"{p}.html").exists()]
    assert not missing, f"pages in _toc.yml with no HTML (run `make book`): {missing}"
