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
