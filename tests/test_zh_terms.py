"""One Chinese term per idea in the Chinese edition, as in 《动手学深度学习》 (zh.d2l.ai).

    .venv/bin/python -m pytest tests/test_zh_terms.py

Checked in every notebooks/zh/*.py and book/zh/*.md:
- pooling is 汇聚 (汇聚层, 最大汇聚): 池化 appears only inside a gloss 也常译作“…”;
- augmentation is 增广: no 数据增强 or 图像增强 (增强 alone may mean "strengthen");
- the book's training curves are 累计平均 (the mean of all values so far): no 滑动平均, which
  names a sliding window or an exponential moving average, neither of which the book computes;
- dropout is 暂退法. In the prose (markdown cells, without code blocks and `code` spans), the
  first 暂退… is the gloss 暂退法（dropout…）, and "dropout" appears only inside such a gloss.
  So a page never says dropout before 暂退法, nor on its own; code and `--dropout` are exempt.
The first three rules read the whole file (code comments, labels, and cell metadata whose
non-ASCII text jupytext writes as \\uXXXX). The negative tests at the end feed the checks
deliberately bad strings.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "notebooks" / "zh").glob("*.py")) + sorted(
    (ROOT / "book" / "zh").glob("*.md")
)

POOLING_GLOSS = re.compile(r"也常译作“[^”]*”")
AUGMENTATION = re.compile(r"(数据|图像)增强")
DROPOUT_GLOSS = re.compile(r"暂退法（[^）]*dropout[^）]*）", re.IGNORECASE)
FENCE = re.compile(r"\s*(`{3,})\s*(\S*)")  # ```bash, ```{note}, or a bare ```


def unescape(text: str) -> str:
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m[1], 16)), text)


def term_problems(text: str) -> list[str]:
    """Lines of `text` that use 池化 outside a gloss, 数据增强/图像增强, or 滑动平均."""
    problems = []
    for number, line in enumerate(unescape(text).splitlines(), start=1):
        if "池化" in POOLING_GLOSS.sub("", line):
            problems.append(f"line {number}: 池化 (the book says 汇聚): {line.strip()[:60]}")
        if AUGMENTATION.search(line):
            problems.append(f"line {number}: 增强 for augmentation (增广): {line.strip()[:60]}")
        if "滑动平均" in line:
            problems.append(f"line {number}: 滑动平均 (累计平均?): {line.strip()[:60]}")
    return problems


def prose(text: str, markdown: bool) -> str:
    """The prose of a page: its markdown cells (or the whole .md), without code blocks and
    `code` spans; a MyST directive (```{note}) keeps its text."""
    if not markdown:
        cells = jupytext.reads(text, fmt="py:percent").cells
        text = "\n\n".join(c.source for c in cells if c.cell_type == "markdown")
    kept, directives, code = [], 0, None
    for line in text.splitlines():
        m = FENCE.match(line)
        if code:  # inside a code block: skip it, up to its closing fence
            code = None if m and m[1] == code and not m[2] else code
        elif m and m[2].startswith("{"):
            directives += 1
        elif m and not m[2] and directives:
            directives -= 1
        elif m:
            code = m[1]
        else:
            kept.append(line)
    return re.sub(r"`[^`\n]*`", "", "\n".join(kept))


def dropout_problems(text: str) -> list[str]:
    """Where the prose says dropout outside the gloss 暂退法（dropout）, or first says 暂退…
    without it."""
    problems = []
    first = text.find("暂退")
    if first >= 0 and not DROPOUT_GLOSS.match(text, first):
        problems.append(f"first 暂退 is not 暂退法（dropout）: {text[first : first + 20]!r}")
    rest = DROPOUT_GLOSS.sub("", text)
    for m in re.finditer("dropout", rest, re.IGNORECASE):
        before = rest[max(0, m.start() - 20) : m.end()]
        problems.append(f"dropout outside 暂退法（dropout）: {before!r}")
    return problems


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_one_term_per_idea(path):
    text = path.read_text(encoding="utf-8")
    assert term_problems(text) == []
    assert dropout_problems(prose(text, markdown=path.suffix == ".md")) == []


def test_sources_found():
    assert len(SOURCES) >= 8, SOURCES


# ---------------------------------------------------------------------------------------------
# Negative tests: the checks must fail on deliberately bad strings
# ---------------------------------------------------------------------------------------------


def test_pooling_augmentation_and_mean_rules():
    assert term_problems("汇聚层（pooling layer，也常译作“池化层”）缩小尺寸") == []
    assert len(term_problems("最大池化层")) == 1
    assert len(term_problems('"alt": "\\u6700\\u5927\\u6c60\\u5316"')) == 1  # 最大池化, escaped
    assert len(term_problems("不做数据增强。\n图像增强")) == 2
    assert term_problems("暂退法增强了网络的泛化能力") == []  # 增强 that is not augmentation
    assert len(term_problems('label="训练精度（滑动平均）"')) == 1
    assert term_problems("训练精度（累计平均，暂退法打开）") == []


def test_dropout_rule():
    text = "用暂退法（dropout）控制过拟合。之后关掉暂退法：`--dropout 0`。"
    assert dropout_problems(text) != []  # the code span counts until prose() drops it
    assert dropout_problems(prose(text, markdown=True)) == []
    assert dropout_problems("倒置暂退法（inverted\ndropout）") == []  # a gloss may wrap
    assert len(dropout_problems("先关掉 dropout。后面才说暂退法（dropout）。")) == 1  # before
    assert len(dropout_problems("暂退法（dropout）。训练时 dropout 打开。")) == 1  # after
    assert len(dropout_problems("两个暂退层。暂退法（dropout）……")) == 1  # first 暂退 unglossed


def test_prose_of_a_percent_notebook_skips_code():
    py = (
        "# %% [markdown]\n# 暂退法（dropout）让过拟合更难。\n#\n# ```bash\n# --dropout 0\n# ```\n"
        "\n# %%\nnet = d2lite.alexnet(dropout=0)  # dropout 关掉\n"
    )
    text = prose(py, markdown=False)
    assert "让过拟合更难" in text and "--dropout" not in text and "alexnet" not in text
    assert dropout_problems(text) == []


def test_prose_keeps_directives_and_drops_code_blocks():
    md = "```{note}\n暂退法（dropout）\n```\n\n```bash\n--dropout 0\n```\n\n```\ndropout\n```\n之后"
    assert prose(md, markdown=True).split() == ["暂退法（dropout）", "之后"]
