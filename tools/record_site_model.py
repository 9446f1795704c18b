"""What the site's model is worth: models/alexnet-fashion-mnist-int8.json beside the .onnx.

    python tools/record_site_model.py        # after: python -m d2lite export ... --int8

The int8 model (8-bit dense layers, written by ``python -m d2lite export --int8``) and the
checkpoint it came from are both run on all 10,000 test images: the checkpoint in float32
PyTorch, the model in onnxruntime, through the same 28x28 -> 224x224 graph. The record says how
often they agree, each one's test accuracy, the model's size and SHA-256, the checkpoint's
SHA-256, and every test image's int8 prediction (one digit each), so that a test can check the
committed file against it without the checkpoint. The demo page shows the accuracy.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import sys
from pathlib import Path

import torch

import d2lite
from d2lite.export import FromDataSet

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "alexnet-fashion-mnist-int8.onnx"
CHECKPOINT = Path.home() / ".cache" / "d2lite" / "full-recipe.pt"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def predictions(net: torch.nn.Module, model: Path, images: torch.Tensor, batch: int = 250):
    """(PyTorch float32 classes, onnxruntime classes) of (N, 1, 28, 28) images in [0, 1]."""
    wrapped = FromDataSet(net).float().eval()
    torch_cls, onnx_cls = [], []
    for i in range(0, len(images), batch):
        x = images[i : i + batch]
        with torch.inference_mode():
            torch_cls.append(wrapped(x).argmax(1))
        onnx_cls.append(d2lite.onnx_probabilities(model, x).argmax(1))
        print(f"\r{i + len(x):,}/{len(images):,} test images", end="", flush=True)
    print()
    return torch.cat(torch_cls), torch.cat(onnx_cls)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkpoint", type=Path, default=CHECKPOINT, help="the run it was exported from"
    )
    p.add_argument("--onnx", type=Path, default=MODEL, help="the int8 model")
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST (default: $D2LITE_DATA, data/)")
    args = p.parse_args(argv)
    for path, what in ((args.checkpoint, "checkpoint"), (args.onnx, "ONNX model")):
        if not path.is_file():
            sys.exit(f"record_site_model: the {what} {path} does not exist (see --help).")
    arrays = d2lite.load_fashion_mnist_arrays(args.data_dir, download=False)
    images = arrays.test_images.float().div(255)[:, None]
    labels = arrays.test_labels.long()
    net = d2lite.alexnet()
    state = d2lite.load_checkpoint(args.checkpoint, net)
    print(f"checkpoint {args.checkpoint} (epoch {state['epoch']}), model {args.onnx}")
    fp32, int8 = predictions(net, args.onnx, images)
    record = dict(
        model=args.onnx.name,
        bytes=args.onnx.stat().st_size,
        sha256=sha256(args.onnx),
        checkpoint=dict(
            name=args.checkpoint.name, epoch=state["epoch"], sha256=sha256(args.checkpoint)
        ),
        test_images=len(labels),
        test_acc_int8=round((int8 == labels).double().mean().item(), 4),
        test_acc_float32=round((fp32 == labels).double().mean().item(), 4),
        agreement=round((int8 == fp32).double().mean().item(), 4),
        predictions_int8="".join(map(str, int8.tolist())),
        measured=dict(
            cpu=d2lite.device_name("cpu"),
            torch=torch.__version__,
            onnxruntime=__import__("onnxruntime").__version__,
            date=dt.date.today().isoformat(),
        ),
    )
    out = args.onnx.with_suffix(".json")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(
        f"test accuracy on {len(labels):,} images: int8 {record['test_acc_int8']}, float32 "
        f"{record['test_acc_float32']}; same class on {record['agreement']:.2%}; "
        f"{record['bytes'] / 2**20:.1f} MiB; written: {out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
