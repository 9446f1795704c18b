"""tools/check_numbers.py: a figure in the prose must come from the chapter's own run.

Each case is a small notebook built here, whose answer is read off by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_numbers  # noqa: E402


def notebook(
    markdown: str, printed: str = "", code: str = "lr = 0.01\nn = 5_000"
) -> nbformat.NotebookNode:
    cell = new_code_cell(code, outputs=[new_output("stream", name="stdout", text=printed)])
    return new_notebook(cells=[cell, new_markdown_cell(markdown)])


def flagged(nb) -> list[str]:
    return [p.split("'")[1] for p in check_numbers.unbacked(nb)]


def test_a_typed_figure_that_no_output_shows_is_flagged():
    nb = notebook("The run reached 0.843 in 25 minutes, on 55,000 images.", printed="val acc 0.829")
    assert flagged(nb) == ["0.843", "25", "55,000"]


def test_printed_glued_set_and_cited_figures_pass():
    text = (
        "It reached 0.829 ({glue:text}`acc:.3f` here) on 55,000 images at lr 0.01 with 5,000 "
        "held out, in {glue:text}`minutes` minutes; the tutorial reached 0.923[^t].\n\n"
        "[^t]: The seed tutorial, 100 epochs: 0.923 and 1.8 h."
    )
    assert flagged(notebook(text, printed="val acc 0.829 on 55000 images")) == []


def test_rounding_a_printed_figure_is_not_backing_it():
    assert flagged(notebook("about 0.84", printed="val acc 0.843")) == ["0.84"]


def test_sections_versions_sizes_years_code_and_math_are_not_figures():
    text = (
        "## 4.2 The loss\n\nAs 6.2 节 and section 4.10 say, torch 2.14.1 on Python 3.11 feeds "
        "224×224 images (`batch 0.5`, $p = 0.5$) as in the 1990s; see [it](http://x/1.5)."
    )
    assert flagged(notebook(text)) == []


def test_units_make_whole_numbers_figures_in_both_languages():
    assert flagged(notebook("约 25 分钟，快了 2 倍，占 95% 的计算，用时 86 s。")) == [
        "25",
        "2",
        "95",
        "86",
    ]


def test_the_command_line_exits_1_and_names_the_chapter(tmp_path, capsys):
    path = tmp_path / "04_training.ipynb"
    nbformat.write(notebook("It took 12.5 minutes."), path)
    assert check_numbers.main([str(path)]) == 1
    out = capsys.readouterr().out
    assert "04_training.ipynb: '12.5'" in out and "1 figure(s)" in out


def test_a_citation_may_follow_a_unit():
    text = "top-5 error 15.3%[^paper], 2.5×[^p] faster; 降低了 1.4[^paper] 个百分点，快 3 倍[^p]。"
    assert flagged(notebook(text)) == []


def test_an_admonitions_body_is_prose_and_a_code_blocks_is_not():
    text = (
        "```{note}\n**Runtime**: 225 s on a 2-core CPU.\n```\n\n"
        "```{admonition} Speed\n:class: dropdown\nIt sustained 40.8 examples/s.\n```\n\n"
        "```bash\npython train.py --lr 0.03 --minutes 12.5\n```\n\n"
        "  ```python\n  x = 1.5\n  ```\n"
    )
    assert flagged(notebook(text)) == ["225", "40.8"]


def test_a_code_block_inside_a_note_is_still_code():
    text = "````{note}\nIt took 3.5 minutes:\n```bash\nsleep 2.5\n```\n````"
    assert flagged(notebook(text)) == ["3.5"]


def test_a_footnote_definition_is_a_source_over_all_its_lines():
    text = (
        "Goyal et al. used batches of 8,192[^goyal].\n\n"
        "[^goyal]: P. Goyal et al., arXiv:1706.02677, 2017: 256 GPUs,\n"
        "    batches of up to 8,192 images, 5 epochs of warm-up.\n\n"
        "It took 3.5 minutes."
    )
    assert flagged(notebook(text)) == ["3.5"]


def test_a_citation_may_follow_the_unit():
    text = "Top-5 error 15.3%[^paper], 6 倍[^paper] faster, 1.4[^paper] points, but 26.2% here."
    assert flagged(notebook(text)) == ["26.2"]
