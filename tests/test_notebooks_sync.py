"""The notebooks' bookkeeping: pairing, zh/en parity, the parameters cell, the repository URL.

    .venv/bin/python -m pytest tests/test_notebooks_sync.py

- every notebooks/<lang>/*.py has its book/<lang>/*.ipynb (and back) with the same cells;
- the Chinese and English editions of a chapter have the same code cells in the same order,
  compared with comments, whitespace and string contents removed (labels may be translated);
- each notebook has exactly one cell tagged `parameters`;
- all six chapters exist in both languages;
- the executed outputs carry no "Glyph ... missing" warning;
- the setup cell's repository URL is the one in _config.yml.
The negative tests at the end feed the same checks deliberately broken inputs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
LANGS = ("zh", "en")
CHAPTERS = (
    "01_activation",
    "02_alexnet",
    "03_data",
    "04_training",
    "05_prediction",
    "06_distributed",
)
sys.path.insert(0, str(ROOT / "tools"))
import set_repository  # noqa: E402
from notebook_parity import code_cells, normalise_code, parity_differences  # noqa: E402, F401

# ---------------------------------------------------------------------------------------------
# The checks (plain functions, so the negative tests can call them on broken copies)
# ---------------------------------------------------------------------------------------------


def cells_of(path: Path) -> list[tuple[str, str]]:
    """(cell type, source) of every cell, read with jupytext whatever the format."""
    nb = jupytext.read(path)
    return [(c.cell_type, c.source) for c in nb.cells]


def sync_differences(py: Path, ipynb: Path) -> list[str]:
    """Where a .py and its .ipynb disagree; an empty list when they agree cell for cell."""
    a, b = cells_of(py), cells_of(ipynb)
    problems = []
    if len(a) != len(b):
        problems.append(f"{py.name}: {len(a)} cells in the .py, {len(b)} in the .ipynb")
    for i, (ca, cb) in enumerate(zip(a, b)):
        if ca != cb:
            problems.append(
                f"{py.name} cell {i}: .py has {ca[0]} {ca[1][:60]!r}, "
                f".ipynb has {cb[0]} {cb[1][:60]!r}"
            )
    return problems


def parameter_cells(path: Path) -> int:
    nb = jupytext.read(path)
    return sum("parameters" in c.metadata.get("tags", []) for c in nb.cells)


def glyph_warnings(ipynb: Path) -> list[str]:
    nb = nbformat.read(ipynb, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            found += [
                f"cell {i}: {ln}" for ln in text.splitlines() if "Glyph" in ln and "missing" in ln
            ]
    return found


# ---------------------------------------------------------------------------------------------
# The project's notebooks
# ---------------------------------------------------------------------------------------------

SOURCES = sorted((ROOT / "notebooks").glob("*/[0-9][0-9]_*.py"))
EXECUTED = sorted((ROOT / "book").glob("*/[0-9][0-9]_*.ipynb"))


def test_every_source_has_its_executed_edition_and_back():
    py_names = {p.relative_to(ROOT / "notebooks").with_suffix("") for p in SOURCES}
    nb_names = {p.relative_to(ROOT / "book").with_suffix("") for p in EXECUTED}
    assert py_names, "no notebooks/<lang>/NN_*.py found"
    assert py_names - nb_names == set(), "run `make sync`: these .py have no .ipynb"
    assert nb_names - py_names == set(), "these .ipynb have no notebooks/<lang>/*.py source"


@pytest.mark.parametrize("py", SOURCES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_py_and_ipynb_agree(py):
    ipynb = ROOT / "book" / py.parent.name / f"{py.stem}.ipynb"
    if not ipynb.exists():
        pytest.fail(f"{ipynb} is missing")
    assert sync_differences(py, ipynb) == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_both_editions_exist(chapter):
    for lang in LANGS:
        assert (ROOT / "notebooks" / lang / f"{chapter}.py").is_file(), f"{lang}/{chapter}.py"
        assert (ROOT / "book" / lang / f"{chapter}.ipynb").is_file(), f"{lang}/{chapter}.ipynb"


PAIRS = [s for s in SOURCES if s.parent.name == "zh"]


@pytest.mark.parametrize("zh", PAIRS, ids=lambda p: p.stem)
def test_zh_and_en_have_the_same_code(zh):
    en = ROOT / "notebooks" / "en" / zh.name
    assert en.exists(), f"{en} is missing"
    assert parity_differences(zh, en) == []


@pytest.mark.parametrize("path", SOURCES + EXECUTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_exactly_one_parameters_cell(path):
    assert parameter_cells(path) == 1


@pytest.mark.parametrize("ipynb", EXECUTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_missing_glyph_warnings(ipynb):
    assert glyph_warnings(ipynb) == []


@pytest.mark.parametrize("ipynb", EXECUTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_executed_editions_record_how_they_ran(ipynb):
    meta = nbformat.read(ipynb, as_version=4).metadata.get("d2lite")
    assert meta, "execute it with tools/execute_notebooks.py"
    assert {"runtime_s", "hardware", "torch", "setting", "quick", "executed"} <= set(meta)


@pytest.mark.parametrize("ipynb", EXECUTED, ids=lambda p: str(p.relative_to(ROOT)))
def test_recorded_setting_is_the_one_the_outputs_show(ipynb):
    """The site's run note ("CPU setting", "quick setting", ...) comes from the metadata; it must
    name the setting that the page's own parameters cell printed, and a quick run must say so
    in its outputs."""
    import execute_notebooks

    nb = nbformat.read(ipynb, as_version=4)
    meta = nb.metadata["d2lite"]
    printed = execute_notebooks.chosen_setting(nb)
    assert printed in ("quick", "cpu", "full"), "the parameters cell printed no setting"
    assert meta["setting"] == printed and meta["quick"] is (printed == "quick")


def test_setup_cells_install_from_the_configured_repository():
    config = ROOT / "_config.yml"
    if not config.exists():
        pytest.skip("_config.yml does not exist yet (the site's configuration holds the URL)")
    url = set_repository.config_url(config.read_text(encoding="utf-8"))
    assert url, "_config.yml has no repository: url:"
    for path in SOURCES + EXECUTED:
        found = set_repository.notebook_urls(path.read_text(encoding="utf-8"))
        assert found == {url}, (
            f"{path.relative_to(ROOT)} installs from {found}, _config.yml says {url}"
        )
    records = set_repository.records_repository(set_repository.RECORDS.read_text(encoding="utf-8"))
    assert url.endswith("/" + records), f"d2lite/records.py fetches from {records}, not {url}"


# ---------------------------------------------------------------------------------------------
# Negative tests: the checks above must fail on broken inputs
# ---------------------------------------------------------------------------------------------

PY = """\
# %% [markdown]
# # Title

# %% tags=["parameters"]
import d2lite
QUICK = d2lite.is_quick()  # the quick setting

# %%
x = 1  # a comment
print(f"x is {x:d}", "label")
"""


def _pair(tmp_path: Path, py_text: str) -> tuple[Path, Path]:
    py = tmp_path / "01_demo.py"
    py.write_text(py_text)
    ipynb = tmp_path / "01_demo.ipynb"
    jupytext.write(jupytext.read(py), ipynb)
    return py, ipynb


def test_sync_check_catches_an_edited_cell(tmp_path):
    py, ipynb = _pair(tmp_path, PY)
    assert sync_differences(py, ipynb) == []
    py.write_text(PY.replace("x = 1", "x = 2"))
    assert len(sync_differences(py, ipynb)) == 1
    py.write_text(PY + "\n# %%\ny = 3\n")
    assert sync_differences(py, ipynb)  # an extra cell


def test_sync_check_catches_a_changed_cell_type(tmp_path):
    py, ipynb = _pair(tmp_path, PY)
    py.write_text(PY.replace("# %% [markdown]\n# # Title", "# %%\n# # Title"))
    assert sync_differences(py, ipynb)


def test_parity_ignores_comments_whitespace_and_strings(tmp_path):
    zh, en = tmp_path / "zh.py", tmp_path / "en.py"
    zh.write_text(PY)
    en.write_text(
        PY.replace("# the quick setting", "# 快速设置")
        .replace("x = 1", "x  =  1\n\n")
        .replace('f"x is {x:d}", "label"', 'f"x 等于 {x:d}，共 {1 + 1} 个", "标签"')
    )
    assert parity_differences(zh, en) == []


def test_parity_catches_different_code(tmp_path):
    zh, en = tmp_path / "zh.py", tmp_path / "en.py"
    zh.write_text(PY)
    en.write_text(PY.replace("x = 1", "x = 2"))
    assert len(parity_differences(zh, en)) == 1
    # A whole f-string is one string, so its fields may differ (a label may reorder them).
    en.write_text(PY.replace("{x:d}", "{x + 1:d}"))
    assert parity_differences(zh, en) == []
    en.write_text(PY + "\n# %%\nprint(2)\n")
    assert parity_differences(zh, en)  # an extra code cell
    en.write_text(PY.replace("import d2lite\n", "import d2lite\nimport os\n"))
    assert parity_differences(zh, en)


def test_parity_handles_magics():
    a = 'import sys\nif "google.colab" in sys.modules:\n    %pip install -q "x @ git+https://a/b"\n'
    b = a.replace("https://a/b", "https://c/d") + "# 注释\n"
    assert normalise_code(a) == normalise_code(b)
    assert normalise_code(a) != normalise_code(a.replace("%pip", "%conda"))


def test_parity_ignores_trailing_commas_but_not_other_commas():
    assert normalise_code("f(a, b)\n") == normalise_code("f(\n    a,\n    b,\n)\n")
    assert normalise_code("x = (1,)\n") == normalise_code("x = (1)\n")  # known blind spot
    assert normalise_code("f(a, b)\n") != normalise_code("f(a)\n")


def test_parameters_check_counts_tags(tmp_path):
    py, _ = _pair(tmp_path, PY)
    assert parameter_cells(py) == 1
    py.write_text(PY.replace('# %% tags=["parameters"]', "# %%"))
    assert parameter_cells(py) == 0
    py.write_text(PY.replace("# %%\nx = 1", '# %% tags=["parameters"]\nx = 1'))
    assert parameter_cells(py) == 2


def test_glyph_check_finds_warnings(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("plot()")])
    nb.cells[0].outputs = [
        nbformat.v4.new_output(
            "stream",
            name="stderr",
            text="UserWarning: Glyph 35044 (\\N{CJK UNIFIED IDEOGRAPH-88E4}) missing from "
            "font(s) DejaVu Sans.\n",
        )
    ]
    path = tmp_path / "x.ipynb"
    nbformat.write(nb, path)
    assert len(glyph_warnings(path)) == 1


def test_repository_url_helpers():
    cfg = "title: x\nrepository:\n  url: https://github.com/a/b  # the repo\n  branch: main\n"
    assert set_repository.config_url(cfg) == "https://github.com/a/b"
    cell = '    %pip install -q mplfonts "d2lite @ git+https://github.com/a/b"\n'
    assert set_repository.notebook_urls(cell) == {"https://github.com/a/b"}
    assert set_repository.notebook_urls(cell.replace("/a/b", "/a/c")) != {"https://github.com/a/b"}
    assert re.search("/x/y", set_repository.replace_config_url(cfg, "https://github.com/x/y"))
