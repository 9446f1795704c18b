"""The built website, checked in headless Chromium the way a reader would use it.

    make test-site            (or: .venv/bin/python -m pytest tests/test_site.py)

Needs Debian's Chromium and a CJK font (CI installs them; Playwright never downloads a browser):
    apt-get install -y chromium fonts-noto-cjk
The site in _build/html is built first (tools/build_book.py) when it is missing; after editing the
book, rebuild it with `make book`. Screenshots for review go to _build/screenshots/.
Every page is served from 127.0.0.1; any request to another host fails the test (the site must
work offline).

Besides loading, it checks the site as readers use it (issue 14): setup cells folded so a page
opens with its lesson, a solution behind a toggle for every exercise, chapter 1's control working
with no kernel, the generated translation-status page, an axe-core scan of every page in light
and dark mode (axe-core comes from npm through tools/build_book.py, like MathJax, and is injected
into Debian's Chromium), figures' alt text in the page's language, every page at a phone's 390 px,
and searches with the words readers use.
"""

from __future__ import annotations

import functools
import json
import re
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
TOC_FILES = [c["file"] for c in yaml.safe_load((ROOT / "_toc.yml").read_text())["chapters"]]
# The chapters are the notebooks; the TOC also lists the generated translation-status page.
CHAPTERS = [c for c in TOC_FILES if (ROOT / "book" / "en" / f"{c}.ipynb").is_file()]
PAGES = ["index", *TOC_FILES]  # every page of an edition that a reader reaches from the sidebar
FIRST = CHAPTERS[0]  # 01_activation: formulas, figures, the vanishing gradient
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402
from notebook_parity import parity_differences  # noqa: E402

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


# 7. The site as readers use it (issue 14) ---------------------------------------------------
# These tests share one browser context per colour scheme and reuse its tab: loading a page is
# what costs time on a 2-core machine, so each check visits each page once.


@pytest.fixture(scope="module")
def reader(browser, base_url):
    """A light-mode desktop tab kept for the whole module (its problems are checked per test)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="light")
    page = Page(context, base_url)
    yield page
    context.close()


def _visit(tab: Page, path: str):
    tab.problems.clear()
    return tab.open(path)


FIRST_SECTION_JS = "document.querySelector('article section section, article h2')"


@pytest.mark.parametrize("lang", LANGS)
def test_setup_cells_are_folded_so_the_page_opens_with_its_lesson(reader, lang):
    """Install, parameters, imports and device cells are folded (hide-input) on the site: above
    the first section no code is visible, only prose, outputs and the toggles; the .ipynb keeps
    the cells visible (the tag is only read by the site)."""
    toggle = {"en": "Show code cell source", "zh": "显示代码"}[lang]
    for chapter in CHAPTERS:
        page = _visit(reader, f"{lang}/{chapter}.html")
        found = page.evaluate(
            """() => {
              const first = document.querySelector('article h2');
              const before = (el) => first.compareDocumentPosition(el)
                                      & Node.DOCUMENT_POSITION_PRECEDING;
              const inputs = [...document.querySelectorAll('article .cell_input')].filter(before);
              return {
                visible: inputs.filter((el) => el.checkVisibility()).length,
                folded: [...document.querySelectorAll('article .tag_hide-input')]
                          .filter(before).length,
                toggles: [...document.querySelectorAll('article .tag_hide-input summary')]
                           .filter(before).map((s) => s.innerText.trim()),
              };
            }"""
        )
        assert found["visible"] == 0, f"{lang}/{chapter}: code visible before the first section"
        assert found["folded"] == 4, f"{lang}/{chapter}: expected 4 folded setup cells, {found}"
        assert all(t.startswith(toggle) for t in found["toggles"]), found["toggles"]
        reader.assert_clean()
        nb = json.loads((ROOT / "book" / lang / f"{chapter}.ipynb").read_text(encoding="utf-8"))
        hidden = [c for c in nb["cells"] if c["metadata"].get("jupyter", {}).get("source_hidden")]
        assert not hidden, f"book/{lang}/{chapter}.ipynb hides cells in Jupyter too"
    # Opening a toggle shows the code.
    page = _visit(reader, f"{lang}/{FIRST}.html")
    details = page.locator("article .tag_hide-input details").first
    assert not details.locator(".cell_input").is_visible()
    details.locator("summary").click()
    assert details.locator(".cell_input").is_visible()
    reader.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
def test_every_exercise_has_a_solution_behind_a_toggle(reader, lang):
    exercises, solutions = {"en": ("Exercises", "Solutions"), "zh": ("练习", "练习解答")}[lang]
    for chapter in CHAPTERS:
        page = _visit(reader, f"{lang}/{chapter}.html")
        page.wait_for_selector("article .toggle-button")  # sphinx-togglebutton has run
        counts = page.evaluate(
            """([ex, sol]) => {
              const section = (title) => [...document.querySelectorAll('article section')]
                .find((s) => s.querySelector(':scope > h2')
                             && s.querySelector(':scope > h2').textContent.trim()
                                 .replace(/#$/, '') === title);
              const e = section(ex), s = section(sol);
              if (!e || !s) return null;
              const drops = [...s.querySelectorAll('.admonition.dropdown')];
              return {
                exercises: e.querySelectorAll(':scope > ol > li').length,
                solutions: drops.length,
                hidden: drops.filter((d) => d.classList.contains('toggle-hidden')).length,
                code: s.querySelectorAll('.tag_hide-cell details').length,
              };
            }""",
            [exercises, solutions],
        )
        assert counts, f"{lang}/{chapter}: no '{exercises}' or '{solutions}' section"
        assert counts["exercises"] >= 4 and counts["solutions"] == counts["exercises"], counts
        assert counts["hidden"] == counts["solutions"], "solutions must start folded"
        assert counts["code"] >= 2, f"{lang}/{chapter}: code solutions fold too ({counts})"
    # Open one: its text appears.
    first = page.locator("article .admonition.dropdown").first
    body = first.locator("p").last
    assert not body.is_visible()
    first.locator(".admonition-title").click()
    body.wait_for(state="visible")
    reader.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
def test_chapter_1_control_works_offline(reader, lang):
    """The precomputed gradient control: moving the slider or the menu redraws the figure."""
    page = _visit(reader, f"{lang}/{FIRST}.html")
    root = page.locator(".grad-explorer")
    root.locator("svg").wait_for()
    line = root.locator("path.grad-explorer__line[data-activation]")
    assert line.count() == 1 and line.get_attribute("data-activation") == "sigmoid"
    before, label_before = line.get_attribute("d"), root.locator("svg").get_attribute("aria-label")
    assert root.locator("circle").count() == 17  # 16 blocks + the output layer
    slider = root.locator("input[type=range]")
    slider.fill("4")
    assert root.locator("output").inner_text() == "4"
    assert root.locator("circle").count() == 5
    assert line.get_attribute("d") != before
    label = root.locator("svg").get_attribute("aria-label")
    assert label != label_before and ("4-layer" in label if lang == "en" else "4 层" in label)
    sigmoid_4 = line.get_attribute("d")
    root.locator("select").select_option("ReLU")
    assert line.get_attribute("data-activation") == "ReLU" and line.get_attribute("d") != sigmoid_4
    root.locator("select").select_option("both")
    assert root.locator("path.grad-explorer__line[data-activation]").count() == 2
    # The labels are the page's: <label for> names both controls, in the page's language.
    names = {"en": ["activation", "depth"], "zh": ["激活函数", "层数"]}[lang]
    assert root.locator("label").all_inner_texts() == names
    reader.assert_clean()  # no kernel, no request to another host


def _git_short(path: Path) -> str:
    out = subprocess.run(
        ["git", "log", "-1", "--format=%cs · %h", "--", str(path.relative_to(ROOT))],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@pytest.mark.parametrize("lang", LANGS)
def test_translation_status_page(reader, lang):
    """Generated at build time: each chapter, each language's last commit, code parity."""
    page = _visit(reader, f"{lang}/index.html")
    page.locator("nav.bd-links a[href='translation.html']").click()
    page.wait_for_url(f"**/{lang}/translation.html")
    rows = page.locator("table.translation-status tbody tr")
    assert rows.count() == len(CHAPTERS)
    for i, chapter in enumerate(CHAPTERS):
        cells = rows.nth(i).locator("td").all_inner_texts()
        assert rows.nth(i).locator("a").first.get_attribute("href") == f"{chapter}.html"
        for column, edition in ((1, "zh"), (2, "en")):
            expected = _git_short(ROOT / "notebooks" / edition / f"{chapter}.py")
            if not expected:  # a copy without git history: the page must say so
                expected = {"en": "unknown (no git history)", "zh": "未知（没有 git 历史）"}[lang]
            assert cells[column].startswith(expected), (chapter, edition, cells)
        zh, en = (ROOT / "notebooks" / e / f"{chapter}.py" for e in ("zh", "en"))
        in_parity = not parity_differences(zh, en)
        assert cells[3].startswith("✓" if in_parity else "✗"), (chapter, cells[3])
    verdict = page.locator(".translation-status__verdict").inner_text()
    assert verdict, "the page says whether the editions are in step"
    reader.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
def test_every_figure_has_alt_text_in_its_language(reader, lang):
    han = re.compile(r"[\u4e00-\u9fff]")
    for chapter in CHAPTERS:
        page = _visit(reader, f"{lang}/{chapter}.html")
        alts = page.eval_on_selector_all("article img", "imgs => imgs.map(i => i.alt)")
        assert alts, f"{lang}/{chapter} has no figures"
        for alt in alts:
            assert len(alt) > 20 and not re.search(r"\.(png|jpe?g|svg)$|_images/", alt), (
                f"{lang}/{chapter}: an image without real alt text: {alt!r}"
            )
            assert bool(han.search(alt)) == (lang == "zh"), f"{lang}/{chapter}: {alt!r}"
    reader.assert_clean()


AXE_IMPACTS = ("serious", "critical")


# Records every colour transition that starts before the page has loaded: the first paint must
# already be in the reader's theme (book/_static/theme-early.js), not fade into it.
RECORD_FADES_JS = """
window.__fades = [];
document.addEventListener("transitionrun", (e) => {
  if (document.readyState !== "complete" && /color/.test(e.propertyName)) {
    const el = e.target, name = `${el.tagName.toLowerCase()}.${[...el.classList].join(".")}`;
    window.__fades.push(`${name} ${e.propertyName}`);
  }
}, true);
"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violations(browser, base_url, scheme):
    """axe-core on every page of both editions (and the landing page) in one colour scheme.
    Writes the counts of every impact to _build/screenshots/axe-<scheme>.json."""
    axe = build_book.ensure_axe().read_text(encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    context.add_init_script(RECORD_FADES_JS)
    tab = Page(context, base_url)
    # Whether a scan lands inside a fade that starts at load depended on this machine's speed
    # (issue 19: black-on-dark text mid-fade on a 2-core AMD EPYC, never on the Xeon). Every
    # animation runs 100x slower here, so a fade at load is always scanned mid-way.
    cdp = context.new_cdp_session(tab.page)
    cdp.send("Animation.enable")
    cdp.send("Animation.setPlaybackRate", {"playbackRate": 0.01})
    paths = ["index.html"] + [f"{lang}/{p}.html" for lang in LANGS for p in [*PAGES, "search"]]
    found, counts = [], {}
    for path in paths:
        page = tab.open(path)
        page.evaluate("document.fonts.ready.then(() => true)")  # the page as a reader sees it
        if path != "index.html":  # the landing page is a plain page without the theme
            theme = page.evaluate("document.documentElement.dataset.theme")
            assert theme == scheme, f"{path} shows the {theme} theme, not {scheme}"
            fades = page.evaluate("window.__fades")
            assert not fades, f"{path}: colours fade while the page loads (a flash): {fades[:5]}"
        page.add_script_tag(content=axe)
        violations = page.evaluate(
            "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
            "v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))})))"
        )
        for v in violations:
            counts[v["impact"]] = counts.get(v["impact"], 0) + len(v["nodes"])
            if v["impact"] in AXE_IMPACTS:
                found.append(f"{path}: {v['id']} ({v['impact']}) on {v['nodes'][:3]}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / f"axe-{scheme}.json").write_text(json.dumps({"pages": len(paths), **counts}))
    context.close()
    assert not found, f"{len(found)} serious/critical axe violations:\n" + "\n".join(found)
    tab.assert_clean()


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_phone_width_every_page_fits_and_the_controls_stay_reachable(
    browser, base_url, lang, scheme
):
    """At 390 px nothing scrolls sideways, and the language switch and search are on screen."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True, color_scheme=scheme
    )
    tab = Page(context, base_url)
    for name in PAGES:
        page = tab.open(f"{lang}/{name}.html")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"{lang}/{name}.html is {width} px wide at 390 px"
        for selector in ("a.lang-switch", ".bd-header-article button.search-button"):
            box = page.locator(selector).bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= 390, (name, selector, box)
        if name == FIRST:
            page.screenshot(path=str(SHOTS / f"phone_{lang}_{FIRST}_{scheme}.png"))
    # The search opens and finds; the language switch goes to the other edition.
    page = tab.open(f"{lang}/{FIRST}.html")
    page.locator(".bd-header-article button.search-button").tap()
    field = page.locator("#pst-search-dialog input[name=q]")
    field.wait_for(state="visible")
    field.fill("ReLU")
    field.press("Enter")
    page.wait_for_url(f"**/{lang}/search.html?q=ReLU*")
    # Wait for the results: the search fetches each hit's page for its excerpt.
    page.wait_for_function(
        "[...document.querySelectorAll('#search-results ul.search li')].length > 0"
        " && document.querySelector('#search-results .search-summary')?.textContent.trim()",
        timeout=20_000,
    )
    page.wait_for_load_state("networkidle")
    page = tab.open(f"{lang}/{FIRST}.html")
    page.locator("a.lang-switch").tap()
    page.wait_for_url(f"**/{'zh' if lang == 'en' else 'en'}/{FIRST}.html")
    context.close()
    tab.assert_clean()


# What readers type, and the page that explains it.
SYNONYM_SEARCHES = [
    ("zh", "准确率", "04_training"),  # the book says 精度
    ("zh", "暂退法", "02_alexnet"),  # dropout
    ("zh", "池化", "02_alexnet"),  # pooling: the book says 汇聚
    ("zh", "学习率", "04_training"),  # learning rate (jieba alone cuts it into 学习 + 率)
    ("en", "accuracy", "04_training"),
    ("en", "dropout", "02_alexnet"),
    ("en", "learning rate", "04_training"),
]


def _search(tab: Page, lang: str, query: str) -> list[str]:
    page = tab.open(f"{lang}/search.html?q={quote(query)}")
    page.wait_for_function(
        "document.querySelector('#search-results .search-summary')"
        " && document.querySelector('#search-results .search-summary').textContent.trim()",
        timeout=20_000,
    )
    return page.eval_on_selector_all(
        "#search-results ul.search li a", "as => as.map(a => a.getAttribute('href'))"
    )


@pytest.mark.parametrize("lang, query, chapter", SYNONYM_SEARCHES)
def test_search_finds_what_readers_call_it(reader, lang, query, chapter):
    reader.problems.clear()
    hits = _search(reader, lang, query)
    pages = [h.split("#")[0].split("?")[0] for h in hits]
    assert f"{chapter}.html" in pages, f"{query!r} in {lang}/ found {hits}, not {chapter}"
    if (lang, query) == ("en", "accuracy"):
        assert any(h.endswith("04_training.html#accuracy") for h in hits), "the section itself"
    reader.assert_clean()


@pytest.mark.parametrize(
    "lang, query, terms",
    [
        ("zh", "准确率", ["精度"]),
        ("zh", "丢弃法", ["暂退法"]),
        ("zh", "池化", ["汇聚"]),
        ("zh", "学习率", ["学习率"]),  # one word, from the jieba words in book/_ext
        ("en", "step size", ["learning", "rate"]),
        ("en", "drop-out", ["dropout"]),
        ("en", "correct rate", ["accuracy"]),
    ],
)
def test_search_maps_synonyms_to_the_books_terms(reader, lang, query, terms):
    """The query splitter (search-synonyms.js, with zh-search.js in Chinese) replaces readers'
    words with the book's before searching."""
    reader.problems.clear()
    _search(reader, lang, query)
    assert reader.page.evaluate("(q) => splitQuery(q)", query) == terms
    reader.assert_clean()


# The demo page: the trained network in the browser (issue 23) --------------------------------
# The model is served by the test itself: a LeNet exported here (conftest's trained_lenet, the
# same export code as the site's AlexNet), so the page's whole path runs on every machine:
# manifest -> runtime -> model -> preprocessing -> inference. Its answers are checked against
# onnxruntime in Python on the same input, and the input against d2lite.prepare_image.

SAMPLES = ROOT / "book" / "_static" / "demo" / "samples"


def _serve_model(context, model: Path | None) -> None:
    """Answer the page's models/ requests: the manifest, and the model when there is one."""
    manifest = {"model": model.name, "bytes": model.stat().st_size} if model else {"model": None}
    context.route("**/models/manifest.json", lambda r: r.fulfill(json=manifest))
    if model:
        context.route(f"**/models/{model.name}", lambda r: r.fulfill(body=model.read_bytes()))


@pytest.fixture(scope="module")
def demo_model(trained_lenet, tmp_path_factory) -> Path:
    import d2lite

    path = tmp_path_factory.mktemp("demo") / "lenet-int8.onnx"
    return d2lite.export_onnx(trained_lenet, path, size=28, int8=True)


@pytest.mark.parametrize("lang", LANGS)
def test_demo_classifies_a_test_image_as_python_does(browser, base_url, demo_model, lang):
    import d2lite

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Page(context, base_url)
    _serve_model(context, demo_model)  # registered last: runs before the offline guard
    page = tab.open(f"{lang}/demo.html")
    root = page.locator("#d2lite-demo")
    page.wait_for_function("document.querySelector('#d2lite-demo').dataset.state === 'idle'")
    assert "MB)" in page.inner_text(".demo-load")  # the model's size, before any download
    page.locator(".demo-sample").nth(7).click()  # the sneaker, before the model is loaded
    page.wait_for_function("document.querySelector('#d2lite-demo').dataset.input")
    sample = SAMPLES / page.locator(".demo-sample img").nth(7).get_attribute("src").split("/")[-1]
    seen = torch_tensor(json.loads(root.get_attribute("data-input"))).reshape(1, 1, 28, 28)
    want = d2lite.prepare_image(sample)[None]
    assert (seen - want).abs().mean().item() <= 2 / 255
    page.click(".demo-load")
    page.wait_for_function(
        "['answered', 'error'].includes(document.querySelector('#d2lite-demo').dataset.state)",
        timeout=120_000,
    )
    assert root.get_attribute("data-state") == "answered", page.inner_text(".demo-status")
    probs = torch_tensor(json.loads(root.get_attribute("data-probs")))
    python = d2lite.onnx_probabilities(demo_model, seen)[0]
    assert (probs - python).abs().max().item() < 1e-4
    names = page.locator(".demo-result .demo-class").all_inner_texts()
    labels = d2lite.get_fashion_mnist_labels(python.argsort(descending=True)[:3], lang=lang)
    assert names == labels  # the page's top three, in the page's language
    top = d2lite.predict_image(demo_model, sample, top=1)  # the file, decoded by Pillow
    assert d2lite.get_fashion_mnist_labels(python.argsort(descending=True)[:1]) == [top[0][0]]
    page.locator(".demo-pad").screenshot(path=str(SHOTS / f"demo-{lang}-pad.png"))
    page.screenshot(path=str(SHOTS / f"demo-{lang}.png"), full_page=True)
    tab.assert_clean()
    context.close()


def test_demo_reads_a_drawing_and_says_when_there_is_no_model(browser, base_url):
    context = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True)
    tab = Page(context, base_url)
    _serve_model(context, None)
    page = tab.open("en/demo.html")
    page.wait_for_function("document.querySelector('#d2lite-demo').dataset.state === 'no-model'")
    assert "python -m d2lite export" in page.inner_text(".demo-status")
    assert page.locator(".demo-load").is_disabled()
    box = page.locator(".demo-pad").bounding_box()
    page.mouse.move(box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    for fx, fy in ((0.7, 0.2), (0.7, 0.8), (0.3, 0.8), (0.3, 0.2)):  # a square outline
        page.mouse.move(box["x"] + fx * box["width"], box["y"] + fy * box["height"], steps=5)
    page.mouse.up()
    page.wait_for_function("document.querySelector('#d2lite-demo').dataset.input")
    seen = json.loads(page.locator("#d2lite-demo").get_attribute("data-input"))
    assert len(seen) == 28 * 28 and max(seen) == 1 and min(seen) == 0
    tab.assert_clean()
    context.close()


SITE_MODEL = ROOT / "models" / "alexnet-fashion-mnist-int8.onnx"


@pytest.mark.parametrize("lang", LANGS)
def test_demo_page_states_the_site_models_record(tab, lang):
    """The accuracy under "The model" is the record's, written at build time, not typed."""
    record = json.loads(SITE_MODEL.with_suffix(".json").read_text())
    page = tab.open(f"{lang}/demo.html")
    text = " ".join(page.locator("p.model-record").all_inner_texts())
    for value in (record["test_acc_int8"], record["test_acc_float32"]):
        assert f"{value:.1%}" in text
    assert f"{record['test_images']:,}" in text and record["measured"]["date"] in text
    tab.assert_clean()


def test_demo_runs_the_site_model_as_recorded(browser, base_url):
    """The committed AlexNet itself, as the built site serves it, on a sample test image: the
    page's probabilities are onnxruntime's in Python on the page's input, its class the one
    d2lite.predict_image gives for the file."""
    import d2lite

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = Page(context, base_url)
    page = tab.open("en/demo.html")
    root = page.locator("#d2lite-demo")
    page.wait_for_function("document.querySelector('#d2lite-demo').dataset.state === 'idle'")
    page.click(".demo-load")
    page.wait_for_function(
        "['ready', 'error'].includes(document.querySelector('#d2lite-demo').dataset.state)",
        timeout=120_000,
    )
    sample = page.locator(".demo-sample img").nth(6).get_attribute("src").split("/")[-1]
    page.locator(".demo-sample").nth(6).click()  # the shirt: the class it finds hardest
    page.wait_for_function(
        "['answered', 'error'].includes(document.querySelector('#d2lite-demo').dataset.state)",
        timeout=120_000,
    )
    assert root.get_attribute("data-state") == "answered", page.inner_text(".demo-status")
    seen = torch_tensor(json.loads(root.get_attribute("data-input"))).reshape(1, 1, 28, 28)
    probs = torch_tensor(json.loads(root.get_attribute("data-probs")))
    python = d2lite.onnx_probabilities(SITE_MODEL, seen)[0]
    assert (probs - python).abs().max().item() < 1e-3
    top = d2lite.predict_image(SITE_MODEL, SAMPLES / sample, top=1)  # decoded by Pillow
    assert d2lite.get_fashion_mnist_labels([int(probs.argmax())]) == [top[0][0]]
    tab.assert_clean()
    context.close()


def torch_tensor(values):
    import torch

    return torch.tensor(values, dtype=torch.float32)


@pytest.mark.parametrize("lang", LANGS)
def test_index_run_table_is_the_notebooks_metadata(tab, lang):
    """The index's "how long it takes" table is read from the executed notebooks, not typed."""
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from bilingual import SETTING_NAMES, format_seconds

    page = tab.open(f"{lang}/index.html")
    rows = page.locator("table.run-table tbody tr")
    want = []
    for path in sorted((ROOT / "book" / lang).glob("[0-9][0-9]_*.ipynb")):
        meta = json.loads(path.read_text(encoding="utf-8"))["metadata"]["d2lite"]
        want.append([SETTING_NAMES[lang][meta["setting"]], format_seconds(meta["runtime_s"], lang),
                     meta["hardware"], str(meta["executed"])])  # fmt: skip
    got = [row.locator("td").all_inner_texts()[1:5] for row in rows.all()]
    assert [[cell.strip() for cell in row] for row in got[:-1]] == want  # the last row: the total
    tab.assert_clean()
