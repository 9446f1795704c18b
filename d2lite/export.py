"""The trained network outside PyTorch: ONNX export with a parity check, and int8 weights.

    d2lite.export_onnx(net, "model.onnx")               # float32
    d2lite.export_onnx(net, "model-int8.onnx", int8=True)

The exported graph takes what the data set holds, a (B, 1, 28, 28) float batch in [0, 1]
(what :func:`prepare_image` returns), resizes it to the network's 224 x 224 inside the graph
with the same bilinear rule as training, and returns the 10 class probabilities. So a client,
the browser demo included, feeds 28 x 28 pixels and needs no resize code of its own.

``int8=True`` quantizes the weights of the dense layers (92% of AlexNet's 46.8 M weights) to
8 bits with onnxruntime's dynamic quantization: the file shrinks from about 187 MB to under a
third. The convolutions stay float32, because quantized convolution operators are not
available in every onnxruntime build (the browser's WebAssembly one among them).

Needs the optional packages ``onnx`` and ``onnxruntime`` (``pip install "d2lite[onnx]"``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from d2lite.loaders import _resize_batch

INPUT, OUTPUT = "image", "probabilities"  # the graph's names, which clients use
_EXTRA = 'pip install "d2lite[onnx]"  (or: pip install onnx onnxruntime onnxscript)'


def _require(*modules: str):
    """Import the optional packages, or say how to install them."""
    import importlib

    try:
        return [importlib.import_module(m) for m in modules]
    except ImportError as err:
        raise ImportError(f"ONNX export needs the package {err.name!r}: {_EXTRA}") from None


class FromDataSet(nn.Module):
    """``net`` behind the input pipeline: (B, 1, 28, 28) in [0, 1] -> resize -> softmax."""

    def __init__(self, net: nn.Module, size: int = 224):
        super().__init__()
        self.net, self.size = net, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.softmax(self.net(_resize_batch(x, self.size)), dim=1)  # training's resize


def export_onnx(
    net: nn.Module,
    path: str | os.PathLike,
    *,
    int8: bool = False,
    size: int = 224,
    check: torch.Tensor | None = None,
) -> Path:
    """Write ``net`` (float32, on the CPU, in eval mode) as an ONNX model at ``path``.

    The graph is :class:`FromDataSet`: 28 x 28 in, probabilities out, any batch size.
    ``check``: a (B, 1, 28, 28) batch; onnxruntime's probabilities on it must be within 1e-3
    of PyTorch's (float32), or give the same top-1 class (int8), else ``AssertionError``.
    Returns the path. The folder must exist; the file is replaced atomically.
    """
    (ort,) = _require("onnxruntime")
    _require("onnx", "onnxscript")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"{path.parent} does not exist: create it or give another path.")
    model = FromDataSet(net, size).float().cpu().eval()
    example = torch.zeros(2, 1, 28, 28)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        onnx_program = torch.onnx.export(
            model,
            (example,),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes={"x": {0: torch.export.Dim("batch")}},
            dynamo=True,
        )
        onnx_program.save(str(tmp))
        if int8:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            fp32, tmp = tmp, tmp.with_suffix(".int8")
            quantize_dynamic(
                fp32, tmp, op_types_to_quantize=["MatMul", "Gemm"], weight_type=QuantType.QInt8
            )
            fp32.unlink()
        if check is not None:
            check_parity(model, tmp, check, int8=int8)
        os.replace(tmp, path)
    finally:
        for leftover in (tmp, tmp.with_suffix(".int8")):
            leftover.unlink(missing_ok=True)
    return path


@functools.lru_cache(maxsize=2)
def _session(path: str, version: tuple[int, int]):
    (ort,) = _require("onnxruntime")
    return ort.InferenceSession(path, providers=["CPUExecutionProvider"])


def onnx_probabilities(path: str | os.PathLike, images: torch.Tensor) -> torch.Tensor:
    """Run the exported model at ``path`` on a (B, 1, 28, 28) batch with onnxruntime. The
    session is kept for the next call on the same file, until the file changes."""
    stat = Path(path).stat()
    session = _session(str(Path(path).resolve()), (stat.st_mtime_ns, stat.st_size))
    (out,) = session.run([OUTPUT], {INPUT: images.float().cpu().numpy()})
    return torch.from_numpy(out)


def check_parity(model: nn.Module, path: Path, images: torch.Tensor, int8: bool) -> None:
    with torch.inference_mode():
        want = model(images.float().cpu())
    got = onnx_probabilities(path, images)
    if int8:
        agree = (got.argmax(1) == want.argmax(1)).float().mean().item()
        assert agree >= 0.99, f"int8 model agrees with PyTorch on {agree:.1%} of the images"
    else:
        err = (got - want).abs().max().item()
        assert err <= 1e-3, f"ONNX and PyTorch probabilities differ by up to {err:.2e}"
