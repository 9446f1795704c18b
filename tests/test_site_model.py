"""The committed model (models/alexnet-fashion-mnist-int8.onnx) against its record.

References: the real test labels, the record written by tools/record_site_model.py when the
model was exported (its predictions and accuracies), the full recipe's own record
(book/runs/full-recipe.json, its float32 test accuracy), and the operators onnxruntime-web runs.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from test_export import WEB_OPS

import d2lite
from d2lite.run import predict_export

onnx = pytest.importorskip("onnx", reason="the optional extra: pip install 'd2lite[onnx]'")

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "alexnet-fashion-mnist-int8.onnx"
N = 500  # test images re-run here: a few seconds of AlexNet on 2 cores


@pytest.fixture(scope="module")
def record() -> dict:
    assert MODEL.is_file(), f"{MODEL} is missing: the site's demo and predict need it (issue 23)"
    return json.loads(MODEL.with_suffix(".json").read_text())


def test_the_model_is_the_recorded_file_and_fits_the_site(record):
    assert hashlib.sha256(MODEL.read_bytes()).hexdigest() == record["sha256"]
    assert MODEL.stat().st_size == record["bytes"] <= 64 * 2**20
    model = onnx.load(str(MODEL))
    ops = {node.op_type for node in model.graph.node}
    assert "MatMulInteger" in ops and ops <= WEB_OPS, ops - WEB_OPS
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert predict_export.SITE_MODEL == MODEL


def test_the_records_accuracy_is_its_predictions_against_the_labels(record, fashion_arrays):
    labels = fashion_arrays.test_labels.long()
    predicted = torch.tensor([int(c) for c in record["predictions_int8"]])
    assert len(predicted) == record["test_images"] == len(labels) == 10_000
    assert round((predicted == labels).double().mean().item(), 4) == record["test_acc_int8"]
    full = json.loads((ROOT / "book" / "runs" / "full-recipe.json").read_text())
    assert record["checkpoint"]["epoch"] == len(full["epochs"])
    # 8-bit dense layers cost at most half a point against the run's own test accuracy
    assert record["test_acc_int8"] >= full["final_test"]["acc"] - 0.005
    assert record["agreement"] >= 0.99


def test_the_model_here_predicts_what_the_record_says(record, fashion_arrays):
    images = fashion_arrays.test_images[:N].float().div(255)[:, None]
    probs = d2lite.onnx_probabilities(MODEL, images)
    assert torch.allclose(probs.sum(1), torch.ones(N), atol=1e-4)
    recorded = torch.tensor([int(c) for c in record["predictions_int8"][:N]])
    # another CPU may round a near-tie the other way; a different model would differ widely
    assert (probs.argmax(1) == recorded).float().mean().item() >= 0.99
