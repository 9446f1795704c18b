"""Every figure in a chapter's prose comes from that chapter's own run: a checker.

    python tools/check_numbers.py                      # every executed chapter, both languages
    python tools/check_numbers.py book/en/04_training.ipynb

A run-dependent figure in a markdown cell (an accuracy, a time, a speed, a count, a ratio) must
be one of:
- glued: written as {glue:text}`name` (or `name:.3f`), so that myst-nb puts the value this run
  computed there (d2lite.glue in a code cell keeps it);
- printed: the same number appears in one of the notebook's outputs (55,000 and 55000 count as
  the same number; a rounded 0.84 for a printed 0.843 does not);
- a setting: the number appears in the notebook's code (a learning rate of 0.01, 5_000 images);
- cited: followed by a footnote reference, e.g. "the tutorial's 0.923[^tutorial]", whose
  footnote names the source.

What counts as a figure: a decimal number (0.843, 1.05), a number with thousands separators
(55,000), and any number followed by a unit of time, a percentage or a ratio (25 minutes, 86 s,
95%, 3×, 12 分钟, 2 倍). Not figures: version numbers (torch 2.14.1, Python 3.11), section and
equation numbers (4.10, (2.3), 6.2 节), sizes (224×224), and anything in code, math, links'
targets or HTML tags. The body of a MyST admonition (```{note}, ```{admonition}, ...) is prose
and is read; a fenced code block (```python, ```bash, ```{code-block}) is not.
Exit status 1 when a figure is unbacked; each is listed with its chapter and context.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]

_FENCE = re.compile(  # a fenced block: ```python ... ``` or ```{note} ... ```
    r"^[ \t]*(?P<fence>`{3,})(?P<info>[^\n]*)\n(?P<body>.*?)^[ \t]*(?P=fence)[ \t]*$", re.S | re.M
)
_PROSE_DIRECTIVE = re.compile(  # MyST directives whose body a reader reads as text
    r"\{(?:note|admonition|tip|hint|important|warning|caution|attention|danger|error|seealso|"
    r"topic|sidebar|margin|dropdown|epigraph)\}"
)
_REMOVE = [
    re.compile(r"\$\$.*?\$\$", re.S),  # display math
    re.compile(r"\$[^$\n]+\$"),  # inline math
    re.compile(r"\{glue(?::\w+)?\}`[^`]*`"),  # glued figures: backed by construction
    re.compile(r"`[^`\n]*`"),  # inline code
    re.compile(r"\]\([^)]*\)"),  # a link's target
    re.compile(r"<[^>\n]+>"),  # HTML tags and their attributes
    re.compile(r"^\[\^[^\]]+\]:.*(?:\n[ \t]+\S.*)*", re.M),  # footnote definitions, indented
    # continuation lines included: where a citation is sourced
    re.compile(r"^#+\s*[\d.]+", re.M),  # a heading's section number
    re.compile(r"\d+\s?[×x]\s?\d+(?:\s?[×x]\s?\d+)*"),  # sizes: 224×224, 96 × 11 × 11
]
_UNIT = (
    r"(?:\s?(?:%|×|x\b|倍|秒|分钟|小时|ms\b|s\b|sec\b|seconds?\b|min\b|minutes?\b|h\b|hours?\b))"
)
_FIGURE = re.compile(
    r"(?<![\w.])(?!(?:19|20)\d\ds\b)(?:"  # not a decade (the 1990s)
    rf"(?P<num>\d{{1,3}}(?:,\d{{3}})+(?:\.\d+)?|\d+\.\d+|\d+(?={_UNIT}))"
    r")(?P<rest>[\w.]*)"
    rf"(?:{_UNIT})?(?P<cite>\[\^[^\]]+\])?"  # 15.3%[^paper], 6 倍[^paper]: cited
)
_VERSION_WORDS = re.compile(
    r"(?:python|pytorch|torch|torchvision|cuda|numpy|version|jupyter book|myst-nb|itu-r|"
    r"onnxruntime(?:-web)?|v|节|章|section|chapter|equation|式)\s*$",
    re.I,
)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:[,_]\d{3})*(?:\.\d+)?(?:e-?\d+)?")


def _value(text: str) -> float:
    return float(text.replace(",", "").replace("_", ""))


def _fenced(m: re.Match) -> str:
    """An admonition's body, its options (`:class: dropdown`) left out; a code block: nothing."""
    if not _PROSE_DIRECTIVE.match(m["info"].strip()):
        return " "
    return "\n" + _FENCE.sub(_fenced, re.sub(r"^:\w[\w-]*:.*$", " ", m["body"], flags=re.M))


def prose(cell_source: str) -> str:
    """The markdown a reader reads as text: code, math, links' targets and glue roles removed."""
    cell_source = _FENCE.sub(_fenced, cell_source)
    for pattern in _REMOVE:
        cell_source = pattern.sub(" ", cell_source)
    return cell_source


def figures(text: str) -> list[tuple[str, bool, str]]:
    """``(figure, cited, context)`` for each run-dependent number in ``text`` (already prose)."""
    out = []
    for m in _FIGURE.finditer(text):
        num, rest = m["num"], m["rest"]
        if rest[:1] == "." and rest[1:2].isdigit():  # 2.14.1: a version, not a figure
            continue
        before = text[max(0, m.start() - 20) : m.start()]
        after = text[m.end() : m.end() + 3]
        if _VERSION_WORDS.search(before) or before.rstrip().endswith(("(", "§")) and "." in num:
            continue
        if "." in num and after.lstrip().startswith("节"):  # 6.2 节: a section
            continue
        context = text[max(0, m.start() - 40) : m.end() + 20].replace("\n", " ")
        out.append((num, bool(m["cite"]), context.strip()))
    return out


def _output_text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if "text" in output:
                parts.append(output["text"])
            for key in ("text/plain", "text/html", "text/markdown"):
                value = output.get("data", {}).get(key)
                if value:
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def unbacked(nb) -> list[str]:
    """The figures of ``nb``'s markdown that are not glued, printed, set in its code or cited."""
    outputs = _output_text(nb)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    known = {_value(n) for n in _NUMBER.findall(outputs + "\n" + code)}
    problems = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for num, cited, context in figures(prose(cell.source)):
            if cited or _value(num) in known:
                continue
            problems.append(f"{num!r} in: …{context}…")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: book/*/0*.ipynb")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((ROOT / "book").glob("*/0*.ipynb"))
    total = 0
    for path in paths:
        problems = unbacked(nbformat.read(path, as_version=4))
        total += len(problems)
        for problem in problems:
            print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {problem}")
    print(f"{total} figure(s) in the prose that no output, setting or citation backs")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
