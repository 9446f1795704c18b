"""tools/record_site_model.py: the site model's record. Its full run (AlexNet on 10,000 test
images) is what models/alexnet-fashion-mnist-int8.json holds and tests/test_site_model.py checks;
here its parts run on a small stand-in: a LeNet behind a pooling layer, so that it takes the
224 x 224 input that the tool's wrapper makes.

References: PyTorch's own forward pass through the same wrapper, and onnxruntime on the same
file in one call (the tool calls it batch by batch)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
from conftest import onnx_reference

import d2lite

pytest.importorskip("onnxruntime", reason="the optional extra: pip install 'd2lite[onnx]'")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import record_site_model as tool  # noqa: E402


@pytest.fixture(scope="module")
def at_224(trained_lenet):
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(28), trained_lenet).eval()


def test_both_predictions_cover_every_image_batch_by_batch(at_224, fashion_arrays, tmp_path):
    images = fashion_arrays.test_images[:70].float().div(255)[:, None]
    model = d2lite.export_onnx(at_224, tmp_path / "m.onnx")  # float32: the same classes
    fp32, onnx = tool.predictions(at_224, model, images, batch=32)  # 32 + 32 + 6
    want = onnx_reference(at_224, images, size=224).argmax(1)
    assert fp32.shape == onnx.shape == (70,)
    assert torch.equal(fp32, want)
    assert torch.equal(onnx, d2lite.onnx_probabilities(model, images).argmax(1))
    assert (onnx == want).float().mean().item() >= 0.98  # float32 ONNX against PyTorch


def test_a_missing_file_is_named_before_any_work(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    model.write_bytes(b"")
    with pytest.raises(SystemExit, match=r"the checkpoint .*nowhere\.pt does not exist"):
        tool.main(["--checkpoint", str(tmp_path / "nowhere.pt"), "--onnx", str(model)])
    with pytest.raises(SystemExit, match=r"the ONNX model .*nowhere\.onnx does not exist"):
        tool.main(["--checkpoint", str(model), "--onnx", str(tmp_path / "nowhere.onnx")])
    assert not model.with_suffix(".json").exists()  # no record written


def test_the_sha256_is_the_files(tmp_path):
    import hashlib

    path = tmp_path / "blob"
    path.write_bytes(bytes(range(256)) * 5000)  # over one 1 MiB block
    assert tool.sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
