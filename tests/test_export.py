"""export.py: the network outside PyTorch, as ONNX (float32 and int8).

References: PyTorch's own forward pass on real test images (onnxruntime must agree with it) and
the operators onnxruntime-web's WebAssembly build runs. A LeNet trained for a moment (conftest's
``trained_lenet``) stands in for AlexNet: the same code, seconds instead of minutes. int8
agreement needs a trained network, whose top classes are not near-ties.
"""

from __future__ import annotations

import sys

import pytest
import torch
from conftest import onnx_reference

import d2lite

onnx = pytest.importorskip("onnx", reason="the optional extra: pip install 'd2lite[onnx]'")

# Operators the int8 model may use: each runs in onnxruntime-web's WebAssembly (CPU) build. The
# quantized convolutions (ConvInteger, QLinearConv) are the ones left out on purpose.
WEB_OPS = {
    "Conv", "Relu", "Sigmoid", "MaxPool", "AveragePool", "Flatten", "Reshape", "Gemm", "MatMul",
    "Add", "Mul", "Softmax", "Resize", "Constant", "Shape", "Gather", "Concat", "Cast",
    "Transpose", "Unsqueeze", "Squeeze", "Slice", "DynamicQuantizeLinear", "MatMulInteger",
    "DequantizeLinear", "QuantizeLinear",
}  # fmt: skip


@pytest.fixture(scope="module")
def images(fashion_arrays):
    return fashion_arrays.test_images[:200].float().div(255)[:, None]


def test_float32_model_matches_pytorch(trained_lenet, images, tmp_path):
    path = d2lite.export_onnx(trained_lenet, tmp_path / "m.onnx", size=28, check=images)
    got, want = d2lite.onnx_probabilities(path, images), onnx_reference(trained_lenet, images)
    assert (got - want).abs().max().item() <= 1e-3
    assert torch.equal(got.argmax(1), want.argmax(1))
    assert got.shape == (200, 10) and torch.allclose(got.sum(1), torch.ones(200), atol=1e-5)


def test_int8_model_agrees_and_uses_only_web_operators(trained_lenet, images, tmp_path):
    fp32 = d2lite.export_onnx(trained_lenet, tmp_path / "m.onnx", size=28)
    int8 = d2lite.export_onnx(trained_lenet, tmp_path / "m8.onnx", size=28, int8=True, check=images)
    got, want = d2lite.onnx_probabilities(int8, images), onnx_reference(trained_lenet, images)
    assert (got.argmax(1) == want.argmax(1)).float().mean().item() >= 0.99
    ops = {node.op_type for node in onnx.load(str(int8)).graph.node}
    assert "MatMulInteger" in ops  # the dense layers really are 8-bit
    assert ops <= WEB_OPS, ops - WEB_OPS
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size


def test_a_rewritten_file_is_run_afresh(trained_lenet, images, tmp_path):
    """onnx_probabilities keeps its session between calls: not past a change of the file."""
    path = d2lite.export_onnx(trained_lenet, tmp_path / "m.onnx", size=28)
    first = d2lite.onnx_probabilities(path, images[:8])
    torch.manual_seed(0)
    other = d2lite.lenet().eval()  # untrained: different probabilities
    d2lite.export_onnx(other, path, size=28)
    got = d2lite.onnx_probabilities(path, images[:8])
    assert (got - onnx_reference(other, images[:8])).abs().max().item() <= 1e-3
    assert (got - first).abs().max().item() > 0.1


def test_the_graph_takes_28x28_images_and_resizes_inside(trained_lenet, tmp_path):
    net = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(28), trained_lenet)  # takes any size
    path = d2lite.export_onnx(net, tmp_path / "m.onnx", size=56)  # 56: a resize is needed
    model = onnx.load(str(path))
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["probabilities"]
    assert "Resize" in {node.op_type for node in model.graph.node}


def test_a_failed_parity_check_writes_nothing(trained_lenet, images, tmp_path, monkeypatch):
    monkeypatch.setattr(
        d2lite.export, "onnx_probabilities", lambda path, x: torch.zeros(len(x), 10)
    )
    with pytest.raises(AssertionError, match="differ by up to"):
        d2lite.export_onnx(trained_lenet, tmp_path / "m.onnx", size=28, check=images)
    assert list(tmp_path.iterdir()) == []


def test_without_the_extra_export_says_how_to_install(trained_lenet, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # as if not installed
    with pytest.raises(ImportError, match=r'pip install "d2lite\[onnx\]"'):
        d2lite.export_onnx(trained_lenet, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
