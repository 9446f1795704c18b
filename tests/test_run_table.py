"""The {run-table} directive of book/_ext/bilingual.py: how each chapter ran, read from the
executed notebooks' metadata, for the home pages. Hand-made notebooks, counted by hand."""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import bilingual  # noqa: E402


def chapter(folder: Path, name: str, title: str, meta: dict | None) -> None:
    nb = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": [f"# {title}\n", "\n", "x"]}],
        "metadata": {"d2lite": meta} if meta is not None else {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (folder / f"{name}.ipynb").write_text(json.dumps(nb), encoding="utf-8")


def rows_of(table) -> list[list[str]]:
    return [[entry.astext() for entry in row] for row in table.findall(bilingual.nodes.row)]


def test_one_row_per_chapter_with_the_total(tmp_path):
    hw = "Intel(R) Xeon(R) Processor, 2 cores"
    common = {"hardware": hw, "executed": "2026-12-06", "torch": "2.14.1"}
    chapter(
        tmp_path, "01_activation", "1 Activation", {"setting": "full", "runtime_s": 86.4, **common}
    )
    chapter(tmp_path, "04_training", "4 Training", {"setting": "cpu", "runtime_s": 1500, **common})
    chapter(tmp_path, "05_prediction", "5 Predictions", {"quick": True, "runtime_s": 20, **common})
    chapter(tmp_path, "06_distributed", "6 Beyond", None)  # not executed yet: left out
    (tmp_path / "index.md").write_text("# Home\n")  # not a chapter
    table, note = bilingual.run_table(tmp_path, "en")
    assert rows_of(table) == [
        ["Chapter", "Setting", "Runtime", "Hardware", "Executed", "torch"],
        ["1 Activation", "full setting", "86 s", hw, "2026-12-06", "2.14.1"],
        ["4 Training", "CPU setting", "25 min", hw, "2026-12-06", "2.14.1"],
        ["5 Predictions", "quick setting", "20 s", hw, "2026-12-06", "2.14.1"],
        ["All chapters", "", "27 min", "", "", ""],  # 86.4 + 1500 + 20 s = 26.8 min
    ]
    links = [ref["refuri"] for ref in table.findall(bilingual.nodes.reference)]
    assert links == ["01_activation.html", "04_training.html", "05_prediction.html"]
    assert "metadata" in note.astext()


def test_the_chinese_table_and_a_folder_without_runs(tmp_path):
    chapter(tmp_path, "03_data", "3 数据", {"setting": "full", "runtime_s": 9.2, "hardware": "CPU"})
    (table, _) = bilingual.run_table(tmp_path, "zh")
    assert rows_of(table)[1][:3] == ["3 数据", "完整设置", "9 秒"]
    assert rows_of(table)[-1][:3] == ["全部章节", "", "9 秒"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (message,) = bilingual.run_table(empty, "en")
    assert "execute_notebooks" in message.astext()
