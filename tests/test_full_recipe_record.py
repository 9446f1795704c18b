"""book/runs/full-recipe.json, the full recipe trained once (issue 21): its shape, its internal
arithmetic, and what chapters 4 and 5 print from it.

References: the record's own confusion matrix (the accuracy and the recalls must follow from it),
the data set's sizes, the committed conv1 filters, and the executed chapters' outputs, parsed
from the .ipynb files (both editions).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "book" / "runs"
LANGS = ("en", "zh")


@pytest.fixture(scope="module")
def record() -> dict:
    return json.loads((RUNS / "full-recipe.json").read_text())


def outputs(path: Path) -> str:
    """Every text output of an executed notebook, joined."""
    text = []
    for cell in nbformat.read(path, as_version=4).cells:
        for out in cell.get("outputs", []):
            text.append(out.get("text", "") + out.get("data", {}).get("text/plain", ""))
    return "\n".join(text)


def test_the_record_holds_what_the_issue_asks(record):
    assert {"command", "hardware", "torch", "times", "interruptions", "epochs", "final_test",
            "test", "speed", "cited", "filters"} <= record.keys()  # fmt: skip
    assert "--setting full" in record["command"]
    assert [e["epoch"] for e in record["epochs"]] == list(range(1, 11))
    for e in record["epochs"]:
        assert {"train_loss", "train_acc", "val_acc", "seconds", "examples_per_sec"} <= e.keys()
    assert record["train_images"] == 55_000  # 60,000 minus the 5,000 held out for validation
    t = record["times"]
    assert 0 < t["ran_seconds"] <= t["wall_seconds"] and t["started"] < t["finished"]
    for stop in record["interruptions"]:
        assert stop["at"] < stop["resumed"] and stop["steps_lost_at_least"] >= 0
    assert 0 < record["speed"]["mfu"] < 1
    assert sum(p.stat().st_size for p in RUNS.glob("full-recipe*")) < 2 * 2**20


def test_its_test_figures_follow_from_its_confusion_matrix(record):
    C = np.array(record["test"]["confusion_matrix"])
    assert C.shape == (10, 10) and C.sum() == record["final_test"]["images"] == 10_000
    assert C.sum(axis=1).tolist() == [1_000] * 10  # Fashion-MNIST's balanced test set
    assert np.trace(C) / C.sum() == pytest.approx(record["final_test"]["acc"], abs=1e-4)
    assert record["test"]["acc"] == record["final_test"]["acc"]  # re-measured from the weights
    recall = dict(zip(record["test"]["classes"], np.diag(C) / C.sum(axis=1)))
    assert recall == pytest.approx(record["test"]["per_class_recall"], abs=1e-4)


def test_the_conv1_filters_are_a_trained_first_layer(record):
    W = np.load(RUNS / record["filters"])
    assert W.shape == (96, 1, 11, 11) and W.dtype == np.float32 and np.isfinite(W).all()
    assert W.std() > 0.01  # far from the zeros of a missing file; Xavier's start is about 0.03


@pytest.mark.parametrize("lang", LANGS)
def test_chapters_4_and_5_print_the_records_figures(record, lang):
    acc, images = f"{record['final_test']['acc']:.3f}", f"{record['final_test']['images']:,}"
    ch4 = outputs(ROOT / "book" / lang / "04_training.ipynb")
    hours = f"{record['times']['ran_seconds'] / 3600:.1f}"
    for figure in (acc, images, hours, f"{record['train_images']:,}",
                   f"{record['epochs'][-1]['val_acc']:.3f}"):  # fmt: skip
        assert figure in ch4, f"chapter 4 ({lang}) does not print {figure}"
    ch5 = outputs(ROOT / "book" / lang / "05_prediction.ipynb")
    assert acc in ch5 and images in ch5
    for recall in record["test"]["per_class_recall"].values():
        assert f"{recall:.3f}" in ch5


@pytest.fixture(scope="module")
def continued() -> dict:
    return json.loads((RUNS / "full-recipe-continued.json").read_text())


def test_the_continuation_goes_on_from_the_recipes_last_epoch(record, continued):
    """The one continuation (issue 21): the same run to epoch 10, then 2 epochs at lr / 10."""
    n = len(record["epochs"])
    assert continued["epochs"][:n] == record["epochs"]  # the recipe's history, carried over
    assert [e["epoch"] for e in continued["epochs"][n:]] == [n + 1, n + 2]
    recipe_lr = float(re.search(r"--lr (\S+)", record["command"])[1])
    assert "--resume" in continued["command"] and continued["lr"] == pytest.approx(recipe_lr / 10)
    C = np.array(continued["test"]["confusion_matrix"])
    assert C.sum() == continued["final_test"]["images"] == 10_000
    assert np.trace(C) / C.sum() == pytest.approx(continued["final_test"]["acc"], abs=1e-4)
    assert continued["test"]["acc"] == continued["final_test"]["acc"]


@pytest.mark.parametrize("lang", LANGS)
def test_chapter_4_says_what_the_continuation_gave(record, continued, lang):
    ch4 = outputs(ROOT / "book" / lang / "04_training.ipynb")
    for e in continued["epochs"][len(record["epochs"]) :]:
        assert f"{e['val_acc']:.3f}" in ch4
    assert f"{continued['final_test']['acc']:.3f}" in ch4
    counts = continued["epochs"][-1]["val_acc"] > record["epochs"][-1]["val_acc"]  # its rule
    said = {
        "en": ("continuation counts", "continuation does not count"),
        "zh": ("算数：", "不算数"),
    }
    assert said[lang][0 if counts else 1] in ch4 and said[lang][1 if counts else 0] not in ch4
