"""tools/execute_notebooks.py: runs a notebook in this interpreter's kernel and records how.

.venv/bin/python -m pytest tests/test_execute_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import execute_notebooks  # noqa: E402

PROBE = """\
# %%
import os, sys
print(sys.executable)
print(os.getcwd())
print(os.environ.get("D2LITE_QUICK"))

# %%
# what matplotlib prints when a font lacks a glyph (Chinese shown as boxes)
print("UserWarning: Glyph 35044 missing from font(s) DejaVu Sans.", file=sys.stderr)
"""


def test_executes_with_this_python_in_the_notebooks_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("D2LITE_QUICK", "1")
    path = tmp_path / "probe.ipynb"
    jupytext.write(jupytext.reads(PROBE, fmt="py:percent"), path)
    seconds, glyphs = execute_notebooks.execute(path)
    nb = nbformat.read(path, as_version=4)
    executable, cwd, quick = nb.cells[0].outputs[0].text.splitlines()
    assert Path(executable).resolve() == Path(sys.executable).resolve()
    assert Path(cwd).resolve() == tmp_path.resolve()
    assert quick == "1"
    meta = nb.metadata["d2lite"]
    assert meta["quick"] is True and meta["runtime_s"] > 0 and "cores" in meta["hardware"]
    assert seconds > 0
    assert glyphs, "the missing-glyph warning in the output should be reported"


def test_maps_book_paths_to_sources():
    src = execute_notebooks.source_of(ROOT / "book" / "zh" / "01_activation.ipynb")
    assert src == ROOT / "notebooks" / "zh" / "01_activation.py"
    assert execute_notebooks.paired_ipynb(src) == ROOT / "book" / "zh" / "01_activation.ipynb"


PARAMS = """\
# %% tags=["parameters"]
print({line!r})

# %%
print("-> full setting: a later cell is not the parameters cell")
"""


def _run_params(tmp_path, line: str) -> dict:
    path = tmp_path / "params.ipynb"
    jupytext.write(jupytext.reads(PARAMS.format(line=line), fmt="py:percent"), path)
    execute_notebooks.execute(path)
    return nbformat.read(path, as_version=4).metadata["d2lite"]


def test_records_the_setting_the_parameters_cell_printed(tmp_path, monkeypatch):
    """The metadata holds what the notebook chose (its parameters cell's printed line, in
    either language), not a guess from the environment: the environment says quick here."""
    monkeypatch.setenv("D2LITE_QUICK", "1")
    monkeypatch.delenv("D2LITE_SETTING", raising=False)
    for line, setting in [
        ("D2LITE_SETTING='', D2LITE_QUICK='' -> cpu setting: {'subset': (30000, None)}", "cpu"),
        ("D2LITE_QUICK='0' → full setting: {'depths': [1, 2]}", "full"),
        ("D2LITE_QUICK='1' → 快速设置：{'n': 1}", "quick"),
        ("D2LITE_QUICK='0' → 完整设置：{'n': 1}", "full"),
        ("D2LITE_SETTING='cpu'，D2LITE_QUICK='' -> cpu 设置：{}", "cpu"),
    ]:
        meta = _run_params(tmp_path, line)
        assert meta["setting"] == setting, line
        assert meta["quick"] is (setting == "quick"), line


def test_no_printed_setting_falls_back_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.delenv("D2LITE_SETTING", raising=False)
    monkeypatch.setenv("D2LITE_QUICK", "1")
    meta = _run_params(tmp_path, "no setting printed here")
    assert meta["setting"] is None and meta["quick"] is True


CHOOSER = """\
# %%
import random
import d2lite
value = d2lite.shared_choice("n")  # None unless the other edition recorded it
value = random.random() if value is None else value
d2lite.share_choice("n", value)
print(value)
"""


def test_a_chapters_second_edition_reuses_the_firsts_choice(tmp_path, monkeypatch):
    """Both editions of a chapter executed by one command print the same speed-dependent choice
    (here a random number stands in for a measured speed); the next command chooses afresh,
    unless --reuse-decisions."""
    monkeypatch.setattr(execute_notebooks, "ROOT", tmp_path)
    monkeypatch.setattr(execute_notebooks, "DECISIONS", tmp_path / "_build" / "decisions")
    for lang in ("zh", "en"):
        (tmp_path / "notebooks" / lang).mkdir(parents=True)
        (tmp_path / "notebooks" / lang / "07_probe.py").write_text(CHOOSER)

    def run(*flags: str) -> list[str]:
        assert execute_notebooks.main([*flags]) == 0
        return [
            nbformat.read(tmp_path / "book" / lang / "07_probe.ipynb", 4).cells[0].outputs[0].text
            for lang in ("zh", "en")
        ]

    first = run()
    assert first[0] == first[1]
    again = run()
    assert again[0] == again[1] != first[0]
    assert run("--reuse-decisions") == again
