"""Build the bilingual website into _build/html: a landing page plus one book per language.

    .venv/bin/python tools/build_book.py            # what `make book` runs: both editions
    .venv/bin/python tools/build_book.py --lang zh  # one edition only (quicker while writing)

What it does, in order:
1. Makes sure MathJax 3 is available locally (`npm pack mathjax@MATHJAX_VERSION` once, from the
   npm registry, checked against its published sha512, cached in _build/vendor), so that formulas
   render with no network: the pages load it from their own _static/mathjax/.
2. Builds book/en -> _build/html/en and book/zh -> _build/html/zh with Jupyter Book 1.x
   (Sphinx) from the top-level _config.yml and _toc.yml, the Chinese edition with the
   overrides in LANGUAGES below (interface language, search language, paths). The two builds
   run side by side in two processes. Warnings are errors (-W --keep-going). Notebooks are NOT
   executed: the site renders the outputs committed in book/<lang>/*.ipynb.
3. Writes the landing page book/landing.html to _build/html/index.html (+ .nojekyll, so that
   GitHub Pages serves the _static folders).
4. For the demo page (book/<lang>/demo.md): copies onnxruntime-web's WebAssembly runtime
   (ORT_VERSION from npm, checked the same way) to _build/html/vendor/onnxruntime-web/, and the
   site's model models/alexnet-fashion-mnist-int8.onnx to _build/html/models/ when it exists,
   with models/manifest.json saying which model there is (none: the page says how to make
   one) and its size. The runtime and the model load only when a reader asks.
It also fetches axe-core (AXE_VERSION, checked the same way, into _build/vendor), which is not
part of the site: tests/test_site.py injects it into every page for the accessibility scan.

Open _build/html/index.html from disk, or serve it: python -m http.server -d _build/html
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "_build"
OUT = BUILD / "html"  # the site: index.html, en/, zh/
CONFIG = ROOT / "_config.yml"
TOC = ROOT / "_toc.yml"

# MathJax 3.2.2 is the version Sphinx 7's mathjax extension is written for. Pinned with the
# registry's own integrity hash so that a fresh clone gets exactly these files.
MATHJAX_VERSION = "3.2.2"
MATHJAX_SHA512 = (
    "Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw=="
)
# The parts of the npm package that tex-mml-chtml.js needs (about 5 MB, not the package's 24):
# the component, TeX extensions it autoloads, the CHTML fonts, the menu and accessibility code.
MATHJAX_PARTS = ["tex-mml-chtml.js", "input", "output/chtml", "ui", "a11y", "adaptors"]
MATHJAX_STATIC = BUILD / "vendor" / f"mathjax-{MATHJAX_VERSION}"  # its mathjax/ -> _static/

# axe-core, the accessibility engine tests/test_site.py injects into every page (not part of the
# site). Fetched and checked the same way as MathJax, into _build/vendor.
AXE_VERSION = "4.14.1"
AXE_SHA512 = (
    "FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
)
AXE_JS = BUILD / "vendor" / f"axe-core-{AXE_VERSION}" / "axe.min.js"

# onnxruntime-web, the demo page's runtime: its WebAssembly build only (about 12 MB of the
# package's 100+), fetched and checked the same way, copied to _build/html/vendor/.
ORT_VERSION = "1.31.1"
ORT_SHA512 = (
    "5GeH+bWQ+HxM10z7erGlsWqryrwMbSvm/1tkIsKTT48g0fI19VXVVC435t4t7VsPdSQeS7NmuZPXrQ73k82URw=="
)
ORT_FILES = ["ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"]
ORT_VENDOR = BUILD / "vendor" / f"onnxruntime-web-{ORT_VERSION}"
SITE_MODEL = ROOT / "models" / "alexnet-fashion-mnist-int8.onnx"  # committed once (issue 23)

# Sphinx settings that differ between the editions; everything else is in _config.yml.
# (Sphinx names: html_theme_options.path_to_docs is _config.yml's repository.path_to_book.)
LANGUAGES = {
    "en": {},
    "zh": {
        "html_title": "AlexNet 图像分类：Fashion-MNIST",
        "language": "zh_CN",  # Chinese interface text: sidebar, search box, previous/next
        "html_search_language": "zh",  # jieba splits the Chinese text into words for the index
        # zh-search.js splits a Chinese query the same way (see the file); the others are
        # _config.yml's html_js_files, which this list replaces.
        "html_js_files": [
            "zh-search.js",
            "search-synonyms.js",
            "gradient-explorer.js",
            "site-a11y.js",
        ],
        # jieba's user dictionary: terms the book uses that jieba would cut in two (学习率)
        "html_search_options": {"dict": str(ROOT / "book" / "_ext" / "zh_search_words.txt")},
        "nb_code_prompt_show": "显示代码",  # the folded setup cells' toggle
        "nb_code_prompt_hide": "隐藏代码",
        "togglebutton_hint": "点击展开",  # the solutions' dropdowns
        "togglebutton_hint_hide": "点击收起",
        "html_theme_options": {"path_to_docs": "book/zh", "search_bar_text": "搜索本书……"},
    },
}


def npm_unpack(name: str, version: str, sha512: str, tmp: str) -> Path:
    """`npm pack name@version` into tmp, check its published sha512, unpack; return package/."""
    npm = shutil.which("npm")
    if npm is None:
        sys.exit(
            f"build_book: {name} comes from the npm registry, but `npm` is not installed. "
            "Install Node.js/npm (Debian/Ubuntu: sudo apt-get install npm) and run `make book` "
            "again."
        )
    print(f"build_book: fetching {name}@{version} from the npm registry (once)")
    subprocess.run(
        [npm, "pack", f"{name}@{version}", "--silent", "--pack-destination", tmp],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    tgz = Path(tmp) / f"{name}-{version}.tgz"
    digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if digest != sha512:
        sys.exit(f"build_book: {tgz.name} does not match its published sha512; not using it")
    with tarfile.open(tgz) as tar:
        tar.extractall(tmp, filter="data")
    return Path(tmp) / "package"


def vendor_npm(name: str, version: str, sha512: str, target: Path, files: dict[str, str]) -> None:
    """Fetch ``name@version`` (checked, see npm_unpack) and copy ``files`` (package path ->
    file name) into ``target``, all or nothing: only a complete copy gets the final name."""
    with tempfile.TemporaryDirectory() as tmp:
        package = npm_unpack(name, version, sha512, tmp)
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for source, dest in files.items():
            shutil.copy2(package / source, staging / dest)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)


def ensure_axe() -> Path:
    """Return the path of axe-core's axe.min.js (for the browser test), fetching it if needed."""
    if not AXE_JS.is_file():
        files = {"axe.min.js": "axe.min.js", "LICENSE": "LICENSE"}
        vendor_npm("axe-core", AXE_VERSION, AXE_SHA512, AXE_JS.parent, files)
    return AXE_JS


def ensure_ort() -> Path:
    """Return the folder holding onnxruntime-web's WebAssembly files, fetching them if needed."""
    if not all((ORT_VENDOR / name).is_file() for name in ORT_FILES):
        files = {f"dist/{name}": name for name in ORT_FILES}
        files["package.json"] = "package.json"  # its licence: MIT
        vendor_npm("onnxruntime-web", ORT_VERSION, ORT_SHA512, ORT_VENDOR, files)
    return ORT_VENDOR


def copy_demo_files() -> None:
    """The demo's runtime and model, into the site (shared by both editions). The page reads
    models/manifest.json to learn whether there is a model and how big it is."""
    shutil.rmtree(OUT / "vendor" / "onnxruntime-web", ignore_errors=True)
    shutil.copytree(ensure_ort(), OUT / "vendor" / "onnxruntime-web")
    models = OUT / "models"
    shutil.rmtree(models, ignore_errors=True)
    models.mkdir(parents=True)
    manifest = {"model": None, "bytes": 0}
    if SITE_MODEL.is_file():
        shutil.copy2(SITE_MODEL, models / SITE_MODEL.name)
        manifest = {"model": SITE_MODEL.name, "bytes": SITE_MODEL.stat().st_size}
    else:
        name = SITE_MODEL.relative_to(ROOT)
        print(f"build_book: no {name}: the demo page will say how to make it")
    (models / "manifest.json").write_text(json.dumps(manifest) + "\n")


def ensure_mathjax() -> Path:
    """Return a folder holding mathjax/tex-mml-chtml.js, fetching MathJax from npm if needed."""
    target = MATHJAX_STATIC / "mathjax"
    if (target / "tex-mml-chtml.js").is_file():
        return MATHJAX_STATIC
    with tempfile.TemporaryDirectory() as tmp:
        npm_unpack("mathjax", MATHJAX_VERSION, MATHJAX_SHA512, tmp)
        es5 = Path(tmp) / "package" / "es5"
        staging = MATHJAX_STATIC.with_name(MATHJAX_STATIC.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        for part in MATHJAX_PARTS:
            src, dst = es5 / part, staging / "mathjax" / part
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst)
            else:
                shutil.copy2(src, dst)
        shutil.copy2(Path(tmp) / "package" / "LICENSE", staging / "mathjax" / "LICENSE")
        shutil.rmtree(MATHJAX_STATIC, ignore_errors=True)
        staging.rename(MATHJAX_STATIC)  # only a complete copy ever gets the final name
    return MATHJAX_STATIC


def build_edition(lang: str) -> int:
    """Build book/<lang> into _build/<lang>/html (runs in its own process); return Sphinx's status.

    Each edition has its own build folder because MyST-NB writes beside the output folder
    (_build/<lang>/jupyter_execute); main() then copies the pages to _build/html/<lang>.
    """
    from jupyter_book.sphinx import build_sphinx
    from sphinx.util.console import nocolor

    nocolor()  # plain text in _build/logs/<lang>.log

    overrides = {
        "external_toc_path": TOC.as_posix(),
        "latex_individualpages": False,  # jupyter-book expects the key
        "html_static_path": ["../_static", str(MATHJAX_STATIC)],
        **LANGUAGES[lang],
    }
    result = build_sphinx(
        ROOT / "book" / lang,
        BUILD / lang / "html",
        doctreedir=BUILD / lang / ".doctrees",
        noconfig=True,
        path_config=str(CONFIG),
        confoverrides=overrides,
        builder="html",
        freshenv=True,  # re-read every page: a change to book/_ext or a template is never missed
        warningiserror=True,  # -W
        keep_going=True,  # --keep-going: report every warning, then fail
    )
    return result if isinstance(result, int) else 1


def write_landing() -> None:
    """_build/html/index.html from book/landing.html, with the repository address filled in."""
    url = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))["repository"]["url"].rstrip("/")
    html = (ROOT / "book" / "landing.html").read_text(encoding="utf-8")
    name = url.split("/")[-1]  # the folder `git clone` makes
    html = html.replace("{{ repository_url }}", url).replace("{{ repository_name }}", name)
    (OUT / "index.html").write_text(html, encoding="utf-8")
    (OUT / ".nojekyll").write_text("")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lang", choices=sorted(LANGUAGES), help="one edition (default: all)")
    parser.add_argument("--edition", choices=sorted(LANGUAGES), help=argparse.SUPPRESS)  # worker
    args = parser.parse_args()
    if args.edition:  # a worker process started below
        return build_edition(args.edition)

    start = time.perf_counter()
    ensure_mathjax()
    ensure_axe()  # not part of the site: the browser test's accessibility scan
    ensure_ort()  # the demo page's runtime
    langs = [args.lang] if args.lang else list(LANGUAGES)
    logs = BUILD / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # One process per edition: Sphinx keeps global state, and the two builds run in parallel.
    procs = {}
    for lang in langs:
        log = (logs / f"{lang}.log").open("w", encoding="utf-8")
        cmd = [sys.executable, __file__, "--edition", lang]
        procs[lang] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT), log)
    failed = []
    for lang, (proc, log) in procs.items():
        code = proc.wait()
        log.close()
        log_path = logs / f"{lang}.log"
        text = log_path.read_text(encoding="utf-8")
        problems = [ln for ln in text.splitlines() if "WARNING" in ln or "ERROR" in ln]
        status = "ok" if code == 0 else f"FAILED (exit {code})"
        print(f"build_book: {lang}: {status}, {len(problems)} warning(s); log: {log_path}")
        if code != 0:
            failed.append(lang)
            print("\n".join(problems) if problems else text[-4000:])
        shutil.rmtree(OUT / lang, ignore_errors=True)
        if (BUILD / lang / "html" / "index.html").is_file():
            skip = shutil.ignore_patterns(".buildinfo")
            shutil.copytree(BUILD / lang / "html", OUT / lang, ignore=skip)
    write_landing()
    copy_demo_files()
    print(f"build_book: {OUT / 'index.html'} ({time.perf_counter() - start:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
