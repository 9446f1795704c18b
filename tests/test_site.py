"""The built website, checked in headless Chromium the way a reader would use it.

    make test-site            (or: .venv/bin/python -m pytest tests/test_site.py)

Needs Debian's Chromium and a CJK font (CI installs them; Playwright never downloads a browser):
    apt-get install -y chromium fonts-noto-cjk
The site in _build/html is built first (tools/build_book.py) when it is missing; after editing the
book, rebuild it with `make book`. Screenshots for review go to _build/screenshots/.
Every page is served from 127.0.0.1; any request to another host fails the test (the site must
work offline).
"""

from __future__ import annotations

import functools
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LANGS = ("en", "zh")
CHAPTERS = [c["file"] for c in yaml.safe_load((ROOT / "_toc.yml").read_text())["chapters"]]
FIRST = CHAPTERS[0]  # 01_activation: formulas, figures, the vanishing gradient
SEARCHES = {"zh": ["梯度消失", "激活函数"], "en": ["vanishing gradient", "sigmoid"]}


@pytest.fixture(scope="session")
def site() -> Path:
    """_build/html, built now (offline, -W) if it is not there yet."""
    if not all((SITE / lang / f"{FIRST}.html").is_file() for lang in LANGS):
        build = subprocess.run(
            [sys.executable, str(ROOT / "tools" / "build_book.py")],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert build.returncode == 0, (
            "building the site failed; run `make book` to see why\n" + build.stdout[-3000:]
        )
    return SITE


@pytest.fixture(scope="session")
def base_url(site: Path):
    """Serve the site on 127.0.0.1 at a free port, in a thread."""

    class QuietHandler(SimpleHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest's output readable
            pass

    handler = functools.partial(QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} not found. Install Debian's Chromium and a CJK font first:\n"
            "    sudo apt-get install -y chromium fonts-noto-cjk   (or: make system-deps)"
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A browser tab that records console errors, page errors and failed/external requests."""

    def __init__(self, context, base: str):
        self.base = base
        self.problems: list[str] = []
        context.route("**/*", self._only_local)
        self.page = context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))

    def _only_local(self, route):
        url = route.request.url
        if url.startswith((self.base, "file://", "data:", "blob:")):
            route.continue_()
        else:
            self.problems.append(f"request to another host (the site must work offline): {url}")
            route.abort()

    def _console(self, msg):
        if msg.type == "error":
            self.problems.append(f"console error: {msg.text}")

    def open(self, path: str):
        self.page.goto(self.base + path, wait_until="load")
        return self.page

    def assert_clean(self):
        assert not self.problems, "\n".join(self.problems)


@pytest.fixture
def tab(browser, base_url):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Page(context, base_url)
    context.close()


# 1. Landing pages ----------------------------------------------------------------------------


def test_landing_page_offers_both_languages(tab):
    page = tab.open("index.html")
    assert "AlexNet" in page.title()
    body = page.inner_text("body")  # the measured CPU time of a full epoch is stated, in both
    assert "25–30 minutes on a 2-core CPU" in body and "约需 25 到 30 分钟" in body
    page.click("a[hreflang=zh] >> nth=0")
    page.wait_for_url("**/zh/index.html")
    tab.open("index.html").click("a[hreflang=en] >> nth=0")
    page.wait_for_url("**/en/index.html")
    tab.assert_clean()


@pytest.mark.parametrize(
    "lang, html_lang, words",
    [("en", "en", ["How long it takes", "Search"]), ("zh", "zh-CN", ["需要多长时间", "搜索"])],
)
def test_edition_home_page_loads_in_its_language(tab, lang, html_lang, words):
    page = tab.open(f"{lang}/index.html")
    assert page.get_attribute("html", "lang") == html_lang
    text = page.inner_text("body") + page.inner_html("body")
    for word in words:  # content and interface text (the search box) in the edition's language
        assert word in text, f"{word!r} missing on {lang}/index.html"
    chapter_links = page.locator("nav.bd-links a.reference.internal")
    assert chapter_links.count() >= len(CHAPTERS), "the sidebar should list every chapter"
    tab.assert_clean()


# 2. Chapter pages: executed outputs shown, every image loaded ------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_shows_outputs_and_images(tab, lang, chapter):
    page = tab.open(f"{lang}/{chapter}.html")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")  # in case any image is lazy
    page.wait_for_function("[...document.images].every(img => img.complete)", timeout=15_000)
    broken = page.evaluate(
        "[...document.images].filter(img => img.naturalWidth === 0).map(img => img.src)"
    )
    assert not broken, f"images that did not load on {lang}/{chapter}.html: {broken}"
    assert page.locator("article img").count() > 0 or chapter != FIRST, "chapter 1 has figures"
    assert page.locator("article .cell_output").count() > 0, (
        f"book/{lang}/{chapter}.ipynb shows no outputs: the site renders executed notebooks "
        "(make execute)"
    )
    tab.assert_clean()


# 3. Formulas are typeset by the local MathJax ------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
def test_formulas_are_typeset_offline(tab, lang):
    page = tab.open(f"{lang}/{FIRST}.html")
    page.wait_for_selector("article mjx-container", timeout=20_000)
    assert page.locator("article mjx-container").count() > 0
    article_text = page.inner_text("article")
    assert "$$" not in article_text and "\\max" not in article_text, "raw TeX left on the page"
    mathjax = page.locator("script[src*='mathjax']").get_attribute("src")
    assert mathjax.startswith("_static/mathjax/"), f"MathJax should be served locally: {mathjax}"
    tab.assert_clean()


# 4. Language switch: same chapter, other language, and back ----------------------------------


def test_language_switch_goes_to_the_same_chapter_and_back(tab):
    page = tab.open(f"en/{FIRST}.html")
    switch = page.locator("a.lang-switch")
    assert switch.inner_text().strip() == "中文"
    switch.click()
    page.wait_for_url(f"**/zh/{FIRST}.html")
    assert page.get_attribute("html", "lang") == "zh-CN"
    switch = page.locator("a.lang-switch")
    assert switch.inner_text().strip() == "English"
    switch.click()
    page.wait_for_url(f"**/en/{FIRST}.html")
    assert page.get_attribute("html", "lang") == "en"
    tab.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
def test_chapter_has_launch_and_download_links(tab, lang):
    """Colab/Binder open this chapter's .ipynb in this language; the .py source downloads."""
    page = tab.open(f"{lang}/{FIRST}.html")
    links = page.eval_on_selector_all("a", "as => as.map(a => a.getAttribute('href'))")
    notebook = f"book/{lang}/{FIRST}.ipynb"
    assert any("colab.research.google.com" in h and h.endswith(notebook) for h in links if h)
    assert any("mybinder.org" in h and h.endswith(notebook) for h in links if h)
    for suffix in (".ipynb", ".py"):
        href = f"_sources/{FIRST}{suffix}"
        assert href in links, f"no download link {href}"
        response = page.request.get(tab.base + f"{lang}/{href}")
        assert response.ok and len(response.body()) > 0, f"{lang}/{href} does not download"


# 5. Search: a Chinese query finds the Chinese chapter, an English one the English chapter -----


@pytest.mark.parametrize(
    "lang, query", [(lang, q) for lang, queries in SEARCHES.items() for q in queries]
)
def test_search_finds_the_chapter(tab, lang, query):
    page = tab.open(f"{lang}/search.html?q={quote(query)}")
    page.wait_for_function(
        "document.querySelector('#search-results .search-summary')"
        " && document.querySelector('#search-results .search-summary').textContent.trim()",
        timeout=20_000,
    )
    hits = page.eval_on_selector_all(
        "#search-results ul.search li a", "as => as.map(a => a.getAttribute('href'))"
    )
    summary = page.inner_text("#search-results .search-summary")
    assert any(h.split("?")[0].endswith(f"{FIRST}.html") for h in hits), (
        f"searching {query!r} in {lang}/ did not find {FIRST}: {summary!r}, hits {hits}"
    )
    tab.assert_clean()


# 6. Screenshots for review -------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshot_chapter(browser, base_url, lang, scheme):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    tab = Page(context, base_url)
    page = tab.open(f"{lang}/{FIRST}.html")
    page.wait_for_selector("article mjx-container", timeout=20_000)
    page.evaluate("document.fonts.ready")
    suffix = "" if scheme == "light" else "_dark"
    page.screenshot(path=str(SHOTS / f"{lang}_{FIRST}{suffix}.png"), full_page=scheme == "light")
    if lang == "en" and scheme == "light":
        tab.open("index.html").screenshot(path=str(SHOTS / "landing.png"), full_page=True)
    context.close()
    tab.assert_clean()


# Pages opened from disk (file://) work too ---------------------------------------------------


def test_chapter_works_from_disk(browser, site):
    context = browser.new_context()
    tab = Page(context, "file://")
    page = tab.open(str((site / "zh" / f"{FIRST}.html").resolve()))
    page.wait_for_selector("article mjx-container", timeout=20_000)
    assert page.evaluate("[...document.images].every(img => img.naturalWidth > 0)")
    page.locator("a.lang-switch").click()
    page.wait_for_url(f"**/en/{FIRST}.html")
    context.close()
    tab.assert_clean()
