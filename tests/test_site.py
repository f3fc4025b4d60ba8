"""Both websites, opened in a real browser (headless Chromium).

The reader site (``_build/html``, `make book`) and the student site
(``_build/student/_build/html``, `make student-site`) are checked page by page.
Every page of the table of contents must load from the local site alone, show
rendered math (no raw TeX), load every image, show no error output, and have
no code block that scrolls sideways in a 1280-px-wide window. No page of
either site may show a line of a hidden test; the student site shows no
solution, and the reader site has every solution, collapsed. With
``XATTN_SCREENSHOTS=1`` a full-page screenshot of each page, and one of the first
explorer on each page that has one, go to ``_build/screenshots/`` (for a person to
look through; nothing reads them, and they cost more than the checks: 4 s for a
chapter, 14 s for the API page).

Needs both sites built (the test command builds them). Where no Chromium is
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
import warnings
from pathlib import Path

import pytest
import yaml
from test_coursework import protected_lines, unprotected_lines

ROOT = Path(__file__).resolve().parents[1]
SITES = {
    "reader": ROOT / "_build" / "html",
    "student": ROOT / "_build" / "student" / "_build" / "html",
}
BUILD = {"reader": "make book", "student": "make student-site"}
SHOTS = ROOT / "_build" / "screenshots"
SCREENSHOTS = os.environ.get("XATTN_SCREENSHOTS") == "1"
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


def notebook(page: str) -> dict | None:
    path = ROOT / f"{page}.ipynb"
    return json.loads(path.read_text()) if path.exists() else None


def solution_cell_count(nb: dict) -> int:
    return sum(
        bool(c.get("metadata", {}).get("nbgrader", {}).get("solution"))
        and c["cell_type"] == "code"
        for c in nb["cells"]
    )


def secret_lines(nb: dict, region: str) -> set[str]:
    """Lines of a notebook's solution or hidden-test regions found nowhere else in it.

    A fragment such as ``assert torch.allclose(`` that is also part of a visible
    line says nothing about the secret, so it does not count.
    """
    visible = unprotected_lines(nb)
    return {
        line
        for line in protected_lines(nb, (region,))
        if not any(line in other for other in visible)
    }


@pytest.fixture(scope="module")
def servers():
    urls, running = {}, []
    for name, site in SITES.items():
        if not (site / "index.html").exists():
            pytest.fail(
                f"no built {name} site at {site}: run `{BUILD[name]}` "
                "(the test command does)"
            )

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        handler = functools.partial(Quiet, directory=str(site))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        running.append(server)
        urls[name] = f"http://127.0.0.1:{server.server_address[1]}"
    yield urls
    for server in running:
        server.shutdown()


@pytest.fixture(scope="module")
def browser():
    path = find_chromium()
    if path is None:
        message = (
            "no Chromium found, so the real-browser test of the website cannot run; "
            "install one (Debian/Ubuntu: sudo apt-get install chromium; macOS: brew "
            "install --cask chromium) or point XATTN_CHROMIUM at a Chrome or Chromium "
            "binary"
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

SCROLLING = """() => Array.from(document.querySelectorAll('article pre'))
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => pre.textContent.split('\\n')
        .reduce((a, l) => l.length > a.length ? l : a, ''))"""


def load_quietly(tab, url: str) -> None:
    """Open a page and wait until its network has been quiet for half a second.

    About once in a run of both sites (one page load of 72, on a loaded machine and
    on an idle one), the network of a page that loads in 2 s did not fall quiet
    within 30 s; the same page loads at once when opened again. A page gets a second
    try (a warning names the requests still open), and fails if it stalls twice.
    """
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    pending: set = set()  # requests started and not yet finished or failed
    tab.on("request", lambda r: pending.add(r))
    tab.on("requestfinished", lambda r: pending.discard(r))
    tab.on("requestfailed", lambda r: pending.discard(r))
    for attempt in (1, 2):
        response = tab.goto(url, wait_until="load")
        assert response is not None and response.status == 200, f"{url} did not load"
        try:
            tab.wait_for_load_state("networkidle", timeout=30_000)
            return
        except PlaywrightTimeout:
            still = sorted(r.url for r in pending)
            if attempt == 2:
                raise AssertionError(
                    f"{url}: still loading after 30 s, twice: {still}"
                ) from None
            warnings.warn(f"{url}: still loading after 30 s: {still}", stacklevel=2)


@pytest.mark.parametrize("site", list(SITES))
@pytest.mark.parametrize("page", toc_pages())
def test_page_renders_offline(site, page, servers, browser):
    site_url = servers[site]
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
    load_quietly(tab, url)

    has_math = tab.evaluate("document.querySelectorAll('.math').length") > 0
    if has_math:
        tab.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=20_000,
        )
        tab.evaluate("MathJax.startup.promise")
        unrendered = tab.evaluate(
            "Array.from(document.querySelectorAll('span.math, div.math'))"
            ".filter(e => !e.querySelector('mjx-container'))"
            ".map(e => e.textContent.slice(0, 60))"
        )
        assert not unrendered, f"{page}: math left as raw TeX: {unrendered[:5]}"
        assert tab.evaluate("document.querySelectorAll('mjx-merror').length") == 0, (
            f"{page}: a TeX error"
        )

    prose = tab.evaluate(
        "(() => { const a = document.querySelector('article') || document.body;"
        " const c = a.cloneNode(true);"
        " c.querySelectorAll('pre, code, .cell_input, .cell_output, mjx-container,"
        " script, style').forEach(e => e.remove());"
        " return c.textContent; })()"
    )
    raw = RAW_TEX.search(prose)
    assert raw is None, f"{page}: raw TeX shows in the text: {raw.group(0)!r}"

    broken = tab.evaluate(
        "Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)"
    )
    assert not broken, f"{page}: images that did not load: {broken}"

    errors = tab.evaluate(
        "document.querySelectorAll('.output.traceback, .output.error, .output.stderr,"
        " .system-message, .problematic').length"
    )
    assert errors == 0, (
        f"{page}: shows {errors} error/traceback/stderr outputs or rendering problems"
    )
    body = tab.evaluate("document.body.innerText")
    assert "Traceback (most recent call last)" not in body, f"{page}: shows a traceback"

    scrolling = tab.evaluate(SCROLLING)
    assert not scrolling, (
        f"{page}: code blocks that scroll sideways, e.g. {scrolling[0]!r}"
    )

    nb = notebook(page)
    if nb is not None:
        # All of the page's text, collapsed cells included.
        text = tab.evaluate(
            "(document.querySelector('article') || document.body).textContent"
        )
        hidden_tests = secret_lines(nb, "HIDDEN TESTS")
        assert hidden_tests, f"{page}: no hidden tests to look for"
        hidden = [line for line in hidden_tests if line in text]
        assert not hidden, f"{site} site, {page}: hidden tests shown: {hidden[:3]}"
        solutions = secret_lines(nb, "SOLUTION")
        shown = [line for line in solutions if line in text]
        if site == "student":
            assert not shown, f"student site, {page}: solutions shown: {shown[:3]}"
        elif solutions:
            assert shown, f"reader site, {page}: the solutions are missing"
            collapsed = tab.locator(".tag_hide-input")
            assert collapsed.count() >= solution_cell_count(nb), (
                f"{page}: solutions must be collapsed"
            )
            for i in range(collapsed.count()):
                assert not collapsed.nth(i).locator(".cell_input").is_visible(), (
                    f"{page}: a solution is shown expanded"
                )

    assert not outside, (
        f"{page}: requested files from outside the site: {sorted(set(outside))[:5]}"
    )
    assert not console_errors, f"{page}: browser console errors: {console_errors[:5]}"

    if SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(
            path=str(SHOTS / f"{site}__{page.replace('/', '__')}.png"), full_page=True
        )
    context.close()


@pytest.mark.parametrize("site", list(SITES))
def test_every_toc_page_was_built(site):
    missing = [p for p in toc_pages() if not (SITES[site] / f"{p}.html").exists()]
    assert not missing, f"pages in _toc.yml with no HTML ({BUILD[site]}): {missing}"


def test_the_api_reference_is_in_the_index():
    index = (SITES["reader"] / "genindex.html").read_text()
    for name in (
        "attention_scores",
        "MultiHeadCrossAttention",
        "TrainConfig",
        "date_model",
    ):
        assert name in index, f"{name} is not in the site's index"


@pytest.mark.parametrize("site", list(SITES))
def test_downloadable_notebooks_keep_the_secrets(site):
    """The download button serves ``_sources/<page>.ipynb``: it must be as discreet
    as the page."""
    checked = 0
    for page in toc_pages():
        nb = notebook(page)
        if nb is None:
            continue
        copy = SITES[site] / "_sources" / f"{page}.ipynb"
        assert copy.exists(), f"{site} site offers no download of {page}"
        text = "\n".join(
            "".join(c["source"]) for c in json.loads(copy.read_text())["cells"]
        )
        hidden = [line for line in secret_lines(nb, "HIDDEN TESTS") if line in text]
        assert not hidden, f"{site} site, {copy.name}: hidden tests in the download"
        if site == "student":
            shown = [line for line in secret_lines(nb, "SOLUTION") if line in text]
            assert not shown, f"student site, {copy.name}: solutions in the download"
            # Every cell that is not an exercise's keeps its results, those after
            # the exercises too (chapter 8 resolves exercise 8.5 there).
            built = json.loads(copy.read_text())["cells"]
            for mine, theirs in zip(nb["cells"], built):
                if mine["cell_type"] == "code" and "nbgrader" not in mine["metadata"]:
                    assert theirs["outputs"] == mine["outputs"], (
                        f"student site, {copy.name}: a cell lost its outputs"
                    )
        checked += 1
    assert checked >= 9


# The interactive attention explorer (xattn.plotting.explore), on every page that has
# one, on both sites: a query token hovered over shows that row's largest weights,
# the layer and head selectors change the view, and nothing is fetched from outside.
EXPLORER_PAGES = [
    "chapters/08_training",
    "chapters/14_captioning",
    "chapters/15_listening",
    "chapters/17_reading",
]

READ_EXPLORER = """r => ({
    ready: r.dataset.ready, query: r.dataset.query, layer: r.dataset.layer,
    head: r.dataset.head,
    data: JSON.parse(r.querySelector('.xe-data').textContent),
    ranked: Array.from(r.querySelectorAll('.xe-k[data-rank]'))
        .map(k => [Number(k.dataset.j), Number(k.dataset.rank)]),
    caption: r.querySelector('.xe-caption').textContent})"""


def expected_row(data: dict, layer: int, head: str, query: int) -> list[float]:
    """The weights of one query as the page must show them: a head, or their mean."""
    heads = data["weights"][layer]
    chosen = heads if head == "mean" else [heads[int(head)]]
    n = len(chosen)
    return [
        sum(h[query][k] for h in chosen) / n / data["scale"]
        for k in range(len(data["keys"]))
    ]


def check_ranked(state: dict, label: str) -> None:
    """The keys marked 1, 2, 3 are the row's three largest weights, in order."""
    assert state["ready"] == "1", f"{label}: the explorer's script did not run"
    row = expected_row(
        state["data"], int(state["layer"]), state["head"], int(state["query"])
    )
    ranked = sorted(state["ranked"], key=lambda jr: jr[1])
    assert [r for _, r in ranked] == list(range(1, min(3, len(row)) + 1)), label
    shown = [row[j] for j, _ in ranked]
    best = sorted(row, reverse=True)[: len(shown)]
    assert shown == pytest.approx(best, abs=1e-9), (
        f"{label}: highlighted {shown}, the row's largest are {best}"
    )


def exercise_explorer(tab, root, label: str) -> dict:
    """Hover over queries and change the selectors; check the view each time."""
    state = root.evaluate(READ_EXPLORER)
    check_ranked(state, f"{label} (as loaded)")
    data = state["data"]
    buttons = root.locator(".xe-q")
    n_queries = buttons.count()
    assert n_queries == len(data["queries"])
    for q in sorted({0, n_queries // 2, n_queries - 1}):
        buttons.nth(q).hover()
        state = root.evaluate(READ_EXPLORER)
        assert state["query"] == str(q), f"{label}: hovering query {q} did nothing"
        check_ranked(state, f"{label}, query {q}")
    layers, heads = len(data["layers"]), len(data["heads"])
    root.locator(".xe-layer").select_option(str(0))
    root.locator(".xe-head").select_option(str(heads - 1))
    state = root.evaluate(READ_EXPLORER)
    assert (state["layer"], state["head"]) == ("0", str(heads - 1)), label
    check_ranked(state, f"{label}, layer 0 head {heads - 1}")
    root.locator(".xe-head").select_option("mean")
    root.locator(".xe-layer").select_option(str(layers - 1))
    buttons.nth(n_queries - 1).click()  # a tap
    state = root.evaluate(READ_EXPLORER)
    check_ranked(state, f"{label}, tapped")
    return state


def open_tab(browser, site_url: str | None):
    outside, console_errors = [], []
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()

    def route(r):
        url = r.request.url
        if url.startswith("data:") or (site_url and url.startswith(site_url)):
            r.continue_()
        elif site_url is None and url.startswith("file:"):
            r.continue_()
        else:
            outside.append(url)
            r.abort()

    tab.route("**/*", route)
    tab.on(
        "console",
        lambda m: console_errors.append(m.text) if m.type == "error" else None,
    )
    tab.on("pageerror", lambda e: console_errors.append(str(e)))
    return context, tab, outside, console_errors


def test_the_explorer_responds_on_a_page_of_its_own(browser, tmp_path):
    """Independent of the chapters: every layout, saved as a standalone page."""
    import torch

    from xattn.plotting import explore

    g = torch.Generator().manual_seed(0)
    w = torch.softmax(3 * torch.randn(2, 3, 4, 12, generator=g), -1)
    truth = torch.eye(4, 12, dtype=torch.bool)
    keys = ["<pad>", "</script>", " "] + [f"k{i}" for i in range(9)]
    page = "".join(
        explore(w, list("abcd"), keys, truth=truth, **kw).html
        for kw in (
            {},
            dict(layout="grid", grid=(3, 4), image=torch.rand(3, 24, 32)),
            dict(layout="strip", image=torch.randn(8, 12)),
        )
    )
    path = tmp_path / "explorers.html"
    path.write_text(f"<!doctype html><html><body>{page}</body></html>")
    context, tab, outside, errors = open_tab(browser, None)
    tab.goto(path.as_uri())
    roots = tab.locator(".xattn-explorer")
    assert roots.count() == 3
    for i in range(3):
        state = exercise_explorer(tab, roots.nth(i), f"standalone explorer {i}")
        assert state["data"]["keys"] == keys
    assert not outside and not errors, (outside, errors)
    context.close()


def explorer_pages() -> list[str]:
    """The pages whose notebook stores an explorer's output."""
    pages = []
    for page in toc_pages():
        nb = notebook(page)
        if nb and any(
            "xattn-explorer" in "".join(o.get("data", {}).get("text/html", ""))
            for c in nb["cells"]
            if c["cell_type"] == "code"
            for o in c.get("outputs", [])
        ):
            pages.append(page)
    return pages


def test_the_chapters_that_should_have_an_explorer_do():
    assert set(EXPLORER_PAGES) <= set(explorer_pages())


@pytest.mark.parametrize("site", list(SITES))
@pytest.mark.parametrize("page", explorer_pages())
def test_explorers_respond_on_the_site(site, page, servers, browser):
    site_url = servers[site]
    context, tab, outside, errors = open_tab(browser, site_url)
    tab.goto(f"{site_url}/{page}.html", wait_until="load")
    roots = tab.locator(".xattn-explorer")
    assert roots.count() >= 1, f"{site} site, {page}: no explorer on the page"
    for i in range(roots.count()):
        exercise_explorer(tab, roots.nth(i), f"{site} site, {page}, explorer {i}")
    roots.nth(0).locator(".xe-q").nth(0).hover()
    if SCREENSHOTS:
        SHOTS.mkdir(parents=True, exist_ok=True)
        roots.nth(0).screenshot(
            path=str(SHOTS / f"explorer__{site}__{page.replace('/', '__')}.png")
        )
    assert not outside, f"{page}: fetched from outside the site: {outside[:3]}"
    assert not errors, f"{page}: browser console errors: {errors[:3]}"
    context.close()
