"""Sphinx extension for the two editions of the book (book/en, book/zh).

Loaded through `sphinx: local_extensions:` in _config.yml. It adds, on every page:
- `lang_switch`: a link to the same page in the other edition, shown by
  book/_templates/lang-switch.html in the article header ("中文" on English pages, "English" on
  Chinese ones), plus <link rel="alternate" hreflang> tags;
- a ".py" entry in the theme's download menu: the chapter's Jupytext source
  notebooks/<lang>/<page>.py, copied to _sources/ after the build;
- a run note under a chapter's title from the notebook's metadata "d2lite" entry (written by
  tools/execute_notebooks.py), using any of: "runtime_s" (seconds) or "runtime" (text),
  "setting" ("quick", "cpu" or "full": which setting ran; older notebooks have only "quick",
  true/false), "hardware" (text), "executed" (date).

It also drops a script listed twice on a page (see `drop_duplicate_scripts`), provides the
`run-table` directive (each chapter's setting, runtime, hardware and date, read from the executed
notebooks' metadata: the index pages use it instead of typed figures), and the
`translation-status` directive: a table, built at build time from git and the .py sources, of
each chapter's last commit in each language and whether the two editions' code cells are in
parity (tools/notebook_parity.py, the check tests/test_notebooks_sync.py runs). The page
book/<lang>/translation.md uses it. The `run-table` directive is a table, built at build time
from the same metadata as the run notes, of how every chapter of the edition ran: its setting,
runtime, hardware, date and torch version, with the total; the home pages (book/<lang>/index.md)
use it, so that no runtime on them is typed by hand. The `model-record` directive states the
site model's measured test accuracy and file from models/alexnet-fashion-mnist-int8.json (the
demo pages use it).

The editions are sibling folders in the output (_build/html/en, _build/html/zh), so every link
is relative and the site works from disk (file://) as well as from a web server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

LABELS = {"en": "English", "zh": "中文"}
SWITCH_TITLE = {"en": "Read this page in English", "zh": "阅读本页的中文版"}
PY_TOOLTIP = {"en": "Download the Jupytext source (.py)", "zh": "下载 Jupytext 源文件（.py）"}
RUN_NOTE = {  # runtime label, hardware label
    "en": ("Runtime", "Outputs on this page were produced on"),
    "zh": ("运行时间", "本页输出的运行环境"),
}
SETTING_NAMES = {
    "en": {"quick": "quick setting", "cpu": "CPU setting", "full": "full setting"},
    "zh": {"quick": "快速设置", "cpu": "CPU 设置", "full": "完整设置"},
}
SOURCE_SUFFIXES = (".ipynb", ".md")  # what a page of the other edition may be written in


def edition(app: Sphinx) -> str:
    """'zh' for the Chinese edition (language zh_CN), else 'en'."""
    return "zh" if (app.config.language or "en").startswith("zh") else "en"


def other_edition(app: Sphinx) -> str:
    return "en" if edition(app) == "zh" else "zh"


def notebooks_dir(app: Sphinx, lang: str) -> Path:
    """notebooks/<lang>: the .py sources, two levels above book/<lang>."""
    return (Path(app.srcdir) / app.config.bilingual_notebooks_dir.format(lang=lang)).resolve()


def add_language_switch(app: Sphinx, pagename: str, templatename, context: dict, doctree) -> None:
    """Put the other edition's URL for this page into the template context."""
    other = other_edition(app)
    other_src = Path(app.srcdir).parent / other
    target = pagename
    generated = pagename not in app.env.found_docs  # search, genindex: both editions have them
    if not generated and not any(
        (other_src / f"{pagename}{suffix}").exists() for suffix in SOURCE_SUFFIXES
    ):
        target = "index"  # no such page in the other edition: go to its home page
    up = "../" * pagename.count("/")  # from this page back to the edition's root
    url = f"{up}../{other}/{target}.html"
    context["lang_switch"] = {
        "url": url,
        "lang": other,
        "label": LABELS[other],
        "title": SWITCH_TITLE[other],
    }
    here = f"{up}../{edition(app)}/{pagename}.html"
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="alternate" hreflang="{edition(app)}" href="{here}" />'
        f'\n<link rel="alternate" hreflang="{other}" href="{url}" />'
    )


def add_py_download(app: Sphinx, pagename: str, templatename, context: dict, doctree) -> None:
    """Add the chapter's .py source to the theme's download menu (runs after the theme's)."""
    if not (notebooks_dir(app, edition(app)) / f"{pagename}.py").is_file():
        return
    for button in context.get("header_buttons", []):
        if button.get("label") == "download-buttons":
            button["buttons"].insert(
                1,
                {
                    "type": "link",
                    "url": f"{context['pathto']('_sources', 1)}/{pagename}.py",
                    "text": ".py",
                    "icon": "fas fa-file-code",
                    "tooltip": PY_TOOLTIP[edition(app)],
                    "label": "download-py-button",
                },
            )


def copy_py_sources(app: Sphinx, exception) -> None:
    """Copy notebooks/<lang>/<page>.py next to the .ipynb in _sources/ (the download target)."""
    if exception is not None or app.builder.format != "html":
        return
    src_dir = notebooks_dir(app, edition(app))
    for docname in sorted(app.env.found_docs):
        source = src_dir / f"{docname}.py"
        if source.is_file():
            target = Path(app.outdir) / "_sources" / f"{docname}.py"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def format_seconds(seconds: float, lang: str) -> str:
    """73 -> '1.2 min' / '1.2 分钟'; 12.3 -> '12 s' / '12 秒'."""
    if seconds < 90:
        return f"{seconds:.0f} s" if lang == "en" else f"{seconds:.0f} 秒"
    minutes = seconds / 60
    text = f"{minutes:.1f}" if minutes < 10 else f"{minutes:.0f}"
    return f"{text} min" if lang == "en" else f"{text} 分钟"


def add_run_note(app: Sphinx, doctree: nodes.document) -> None:
    """Insert "Runtime: 21 s, full setting · Outputs ... produced on: <hardware>, <date>"."""
    path = Path(app.env.doc2path(app.env.docname))
    if path.suffix != ".ipynb":
        return
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("d2lite", {})
    lang = edition(app)
    runtime_label, hardware_label = RUN_NOTE[lang]
    runtime = meta.get("runtime")
    if not runtime and isinstance(meta.get("runtime_s"), (int, float)):
        runtime = format_seconds(meta["runtime_s"], lang)
    setting = meta.get("setting")
    if setting not in SETTING_NAMES[lang] and isinstance(meta.get("quick"), bool):
        setting = "quick" if meta["quick"] else "full"
    if runtime and setting in SETTING_NAMES[lang]:
        runtime += ("，" if lang == "zh" else ", ") + SETTING_NAMES[lang][setting]
    hardware = meta.get("hardware")
    if hardware and meta.get("executed"):
        hardware += ("，" if lang == "zh" else ", ") + str(meta["executed"])
    if not (runtime or hardware):
        return
    sep = "：" if lang == "zh" else ": "
    para = nodes.paragraph()
    for label, value in ((runtime_label, runtime), (hardware_label, hardware)):
        if value:
            if len(para):
                para += nodes.Text(" · ")
            para += nodes.strong(text=f"{label}{sep}")
            para += nodes.Text(str(value))
    section = next(iter(doctree.findall(nodes.section)), None)
    if section is None:
        return
    title_index = next(i for i, child in enumerate(section) if isinstance(child, nodes.title))
    section.insert(title_index + 1, nodes.container("", para, classes=["run-note"]))


RUN_TABLE_TEXT = {
    "en": {
        "head": ("Chapter", "Setting", "Runtime", "Hardware", "Executed", "torch"),
        "total": "All chapters",
        "none": "No chapter has run metadata yet (run tools/execute_notebooks.py).",
        "built": "Read from the executed notebooks' metadata when this site was built.",
    },
    "zh": {
        "head": ("章节", "设置", "运行时间", "硬件", "运行日期", "torch"),
        "total": "全部章节",
        "none": "还没有哪一章带运行记录（请运行 tools/execute_notebooks.py）。",
        "built": "在构建本网站时从已运行的 notebook 的元数据中读出。",
    },
}


def run_metadata(path: Path, lang: str) -> dict:
    """How one executed chapter ran, as text for a table row: the notebook's metadata "d2lite"
    entry (written by tools/execute_notebooks.py) and the title of its first heading."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    meta = nb.get("metadata", {}).get("d2lite", {})
    title = path.stem
    for cell in nb.get("cells", []):
        source = "".join(cell.get("source", []))
        if cell.get("cell_type") == "markdown" and source.startswith("# "):
            title = source.splitlines()[0][2:].strip()
            break
    setting = meta.get("setting")
    if setting not in SETTING_NAMES[lang] and isinstance(meta.get("quick"), bool):
        setting = "quick" if meta["quick"] else "full"
    seconds = meta.get("runtime_s")
    return {
        "page": path.stem,
        "title": title,
        "setting": SETTING_NAMES[lang].get(setting, setting or ""),
        "seconds": seconds if isinstance(seconds, (int, float)) else None,
        "runtime": format_seconds(seconds, lang) if isinstance(seconds, (int, float)) else "",
        "hardware": str(meta.get("hardware", "")),
        "executed": str(meta.get("executed", "")),
        "torch": str(meta.get("torch", "")),
    }


def run_table(folder: Path, lang: str) -> list[nodes.Node]:
    """The table of how each chapter (folder/NN_*.ipynb) ran, with a total row, and a note."""
    text = RUN_TABLE_TEXT[lang]
    rows = [run_metadata(path, lang) for path in sorted(folder.glob("[0-9][0-9]_*.ipynb"))]
    rows = [r for r in rows if r["runtime"] or r["hardware"]]
    if not rows:
        return [nodes.paragraph("", text["none"])]
    table = nodes.table(classes=["run-table"])
    group = nodes.tgroup(cols=6)
    table += group
    for width in (30, 12, 12, 26, 12, 8):
        group += nodes.colspec(colwidth=width)
    head, body = nodes.thead(), nodes.tbody()
    group += head
    group += body
    head += TranslationStatus._row([nodes.Text(h) for h in text["head"]])
    for r in rows:
        link = nodes.reference("", r["title"], refuri=f"{r['page']}.html")
        cells = [link] + [nodes.Text(r[k]) for k in ("setting", "runtime", "hardware", "executed")]
        body += TranslationStatus._row(cells + [nodes.literal("", r["torch"])])
    timed = [r["seconds"] for r in rows if r["seconds"] is not None]
    if timed:
        total = format_seconds(sum(timed), lang)
        body += TranslationStatus._row(
            [nodes.strong("", text["total"]), nodes.Text(""), nodes.strong("", total)]
            + [nodes.Text("")] * 3
        )
    return [table, nodes.paragraph("", text["built"], classes=["run-table__note"])]


class RunTable(SphinxDirective):
    """``{run-table}``: how every chapter of this edition ran (see :func:`run_table`)."""

    def run(self) -> list[nodes.Node]:
        folder = Path(self.env.srcdir)
        for path in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
            self.env.note_dependency(str(path))
        return run_table(folder, edition(self.env.app))


MODEL_RECORD = Path(__file__).resolve().parents[2] / "models" / "alexnet-fashion-mnist-int8.json"
MODEL_RECORD_TEXT = {
    "en": {
        "none": "This copy of the project has no model record yet (models/alexnet-fashion-mnist-"
        "int8.json, written by tools/record_site_model.py after the export).",
        "acc": "On all {n:,} test images the 8-bit model classifies {int8:.1%} correctly, the "
        "32-bit checkpoint it came from {fp32:.1%}; the two give the same class for {agree:.2%} "
        "of the images.",
        "file": "The file: {mb:.1f} MB, exported from epoch {epoch} of the full recipe's run; "
        "measured on {cpu} with onnxruntime {ort} on {date}.",
    },
    "zh": {
        "none": "本项目的这份副本还没有模型记录（models/alexnet-fashion-mnist-int8.json，导出后由 "
        "tools/record_site_model.py 写出）。",
        "acc": "在全部 {n:,} 张测试图像上，8 位模型分类正确的比例是 {int8:.1%}，"
        "它所来自的 32 位检查点是 {fp32:.1%}；两者给出相同类别的图像占 {agree:.2%}。",
        "file": "模型文件：{mb:.1f} MB，导出自完整方案那次训练的第 {epoch} 轮；"
        "于 {date} 在 {cpu} 上用 onnxruntime {ort} 测得。",
    },
}


class ModelRecord(SphinxDirective):
    """``{model-record}``: the site model's measured accuracy and file, read at build time from
    the record tools/record_site_model.py wrote beside it (never typed into the page)."""

    def run(self) -> list[nodes.Node]:
        text = MODEL_RECORD_TEXT[edition(self.env.app)]
        self.env.note_dependency(str(MODEL_RECORD))
        if not MODEL_RECORD.is_file():
            return [nodes.paragraph("", text["none"], classes=["model-record"])]
        r = json.loads(MODEL_RECORD.read_text(encoding="utf-8"))
        m = r["measured"]
        acc = text["acc"].format(
            n=r["test_images"],
            int8=r["test_acc_int8"],
            fp32=r["test_acc_float32"],
            agree=r["agreement"],
        )
        file = text["file"].format(
            mb=r["bytes"] / 2**20,
            epoch=r["checkpoint"]["epoch"],
            cpu=m["cpu"],
            ort=m["onnxruntime"],
            date=m["date"],
        )
        return [
            nodes.paragraph("", acc, classes=["model-record"]),
            nodes.paragraph("", file, classes=["model-record"]),
        ]


def drop_duplicate_scripts(app: Sphinx, pagename: str, templatename, context: dict, doctree):
    """Keep one copy of each script.

    sphinx-thebe registers an inline script (`const THEBE_JS_URL = ...`) after the builder has
    started; Sphinx 7.4 then lists it twice, and the second copy throws "Identifier
    'THEBE_JS_URL' has already been declared" in the browser console on every page.
    """
    seen, unique = set(), []
    for script in context.get("script_files", []):
        name = getattr(script, "filename", script) or ""  # an inline script has None or ""
        key = (str(name), repr(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"] = unique


STATUS_TEXT = {
    "en": {
        "head": ("Chapter", "中文: last commit", "English: last commit", "Code cells"),
        "same": "same code",
        "differs": "differ: {problem}",
        "no_git": "unknown (no git history)",
        "dirty": " + uncommitted changes",
        "all_same": "The editions are in step: every chapter has the same code in both languages.",
        "some_differ": "The editions are not in step: {n} chapter(s) have different code.",
        "built": "Checked when this site was built, from the sources in notebooks/zh and /en.",
    },
    "zh": {
        "head": ("章节", "中文版最后一次提交", "英文版最后一次提交", "代码"),
        "same": "一致",
        "differs": "不一致：{problem}",
        "no_git": "未知（没有 git 历史）",
        "dirty": " + 尚未提交的修改",
        "all_same": "两个版本同步：每一章两种语言的代码都相同。",
        "some_differ": "两个版本不同步：有 {n} 章的代码不同。",
        "built": "在构建本网站时根据 notebooks/zh 和 notebooks/en 中的源文件检查。",
    },
}


def last_commit(root: Path, path: Path) -> dict | None:
    """The last commit that changed `path` (hash, date, subject), or None without git history."""
    try:
        out = subprocess.run(
            ["git", "log", "-1", "--format=%H%x09%h%x09%cs%x09%s", "--", str(path)],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", str(path)],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if not out:
        return None
    full, short, date, subject = out.split("\t", 3)
    return {"hash": full, "short": short, "date": date, "subject": subject, "dirty": bool(dirty)}


def chapter_title(source: Path) -> str:
    """The first Markdown heading of a percent-format notebook (`# # 1 Activation ...`)."""
    for line in source.read_text(encoding="utf-8").splitlines():
        if line.startswith("# # "):
            return line[4:].strip()
    return source.stem


class TranslationStatus(SphinxDirective):
    """A table: each chapter, its last commit in each language, and zh/en code parity."""

    def run(self) -> list[nodes.Node]:
        root = Path(self.env.srcdir).resolve().parents[1]  # book/<lang> -> the repository
        if str(root / "tools") not in sys.path:
            sys.path.insert(0, str(root / "tools"))
        from notebook_parity import parity_differences

        lang = edition(self.env.app)
        text = STATUS_TEXT[lang]
        repo = (self.config.html_theme_options or {}).get("repository_url", "").rstrip("/")
        sources = sorted((root / "notebooks" / "zh").glob("[0-9][0-9]_*.py"))
        for path in (root / "notebooks" / "zh", root / "notebooks" / "en"):
            self.env.note_dependency(str(path))

        table = nodes.table(classes=["translation-status"])
        group = nodes.tgroup(cols=4)
        table += group
        for width in (30, 25, 25, 20):
            group += nodes.colspec(colwidth=width)
        head, body = nodes.thead(), nodes.tbody()
        group += head
        group += body
        head += self._row([nodes.Text(h) for h in text["head"]])
        differing = 0
        for zh in sources:
            en = root / "notebooks" / "en" / zh.name
            own = root / "notebooks" / lang / zh.name
            link = nodes.reference("", chapter_title(own), refuri=f"{zh.stem}.html")
            cells = [link]
            for src in (zh, en):
                commit = last_commit(root, src.relative_to(root)) if src.is_file() else None
                cells.append(self._commit(commit, repo, text))
            problems = parity_differences(zh, en) if en.is_file() else [f"{en.name} missing"]
            if problems:
                differing += 1
                status = text["differs"].format(problem=problems[0])
            else:
                status = text["same"]
            kind = "differs" if problems else "same"
            mark = nodes.inline(
                "", ("✗ " if problems else "✓ ") + status, classes=[f"translation-status__{kind}"]
            )
            cells.append(mark)
            body += self._row(cells)
        summary = text["some_differ"].format(n=differing) if differing else text["all_same"]
        verdict = nodes.paragraph(
            "", "", nodes.strong("", summary), classes=["translation-status__verdict"]
        )
        return [verdict, table, nodes.paragraph("", text["built"])]

    @staticmethod
    def _row(contents: list[nodes.Node]) -> nodes.row:
        row = nodes.row()
        for content in contents:
            entry = nodes.entry()
            entry += nodes.paragraph("", "", content)
            row += entry
        return row

    @staticmethod
    def _commit(commit: dict | None, repo: str, text: dict) -> nodes.Node:
        if commit is None:
            return nodes.Text(text["no_git"])
        # The date and the short hash (linked to the commit, its subject as the tooltip): enough to
        # see which edition changed last, and narrow enough for a phone.
        span = nodes.inline()
        label = f"{commit['date']} · {commit['short']}"
        if repo:
            span += nodes.reference(
                "", label, refuri=f"{repo}/commit/{commit['hash']}", reftitle=commit["subject"]
            )
        else:
            span += nodes.literal("", label)
        if commit["dirty"]:
            span += nodes.Text(text["dirty"])
        return span


def setup(app: Sphinx) -> dict:
    app.add_config_value("bilingual_notebooks_dir", "../../notebooks/{lang}", "html")
    app.add_directive("translation-status", TranslationStatus)
    app.add_directive("run-table", RunTable)
    app.add_directive("model-record", ModelRecord)
    # Synchronous, in <head>, before the theme's deferred script: see the file's comment.
    app.add_js_file("theme-early.js", priority=100)
    app.connect("html-page-context", add_language_switch)
    app.connect("html-page-context", add_py_download, priority=600)  # theme adds its menu at 501
    app.connect("html-page-context", drop_duplicate_scripts)
    app.connect("doctree-read", add_run_note)
    app.connect("build-finished", copy_py_sources)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
