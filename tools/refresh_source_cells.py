"""Refresh the outputs of the cells that show d2lite's own code (chapter 4, section 4.7).

    .venv/bin/python tools/refresh_source_cells.py

Those cells display ``Code(inspect.getsource(d2lite.NAME), language="python")``: their output is
a pure function of the library (d2lite/engine.py), so after an edit it can be recomputed without
re-running a 15-minute training notebook. tests/test_engine.py checks that the saved
outputs match the library, so the page cannot drift from the code that runs.
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path

import nbformat
from IPython.core.formatters import format_display_data
from IPython.display import Code

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
import d2lite  # noqa: E402

PATTERN = re.compile(r'Code\(inspect\.getsource\(d2lite\.(\w+)\), language="python"\)')


def refresh(path: Path) -> int:
    nb = nbformat.read(path, as_version=4)
    changed = 0
    for cell in nb.cells:
        m = PATTERN.search(cell.source) if cell.cell_type == "code" else None
        if not m:
            continue
        data, metadata = format_display_data(
            Code(inspect.getsource(getattr(d2lite, m[1])), language="python")
        )
        count = cell.get("execution_count")
        cell.outputs = [
            nbformat.v4.new_output(
                "execute_result", data=data, metadata=metadata, execution_count=count
            )
        ]
        changed += 1
    nbformat.write(nb, path)
    return changed


if __name__ == "__main__":
    for lang in ("en", "zh"):
        for nb_path in sorted((ROOT / "book" / lang).glob("*.ipynb")):
            n = refresh(nb_path)
            if n:
                print(f"{nb_path.relative_to(ROOT)}: {n} cell(s) refreshed")
