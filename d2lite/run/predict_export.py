"""The trained model from a terminal: ``python -m d2lite predict`` and ``python -m d2lite export``.

    python -m d2lite predict shoe.jpg shirt.png                # the committed int8 ONNX model
    python -m d2lite predict --checkpoint run.pt --json shoe.jpg
    python -m d2lite export --checkpoint run.pt --onnx model.onnx [--int8]

Every path given is checked before any work starts; a problem is one line on stderr, exit 1.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import torch

from d2lite.export import export_onnx
from d2lite.fashion_mnist import DataError, load_fashion_mnist_arrays
from d2lite.models import alexnet
from d2lite.run.checkpoints import CheckpointError, load_checkpoint
from d2lite.your_image import ImageError, predict_image

ROOT = Path(__file__).resolve().parents[2]
SITE_MODEL = ROOT / "models" / "alexnet-fashion-mnist-int8.onnx"  # the site demo's model


class UsageError(Exception):
    """A path or option that cannot work; the message says what to do instead."""


def add_commands(commands, formatter) -> None:
    p = commands.add_parser(
        "predict",
        help="classify image files (see python -m d2lite predict --help)",
        formatter_class=formatter,
        description="Classify image files with a trained AlexNet: any format, size or colour "
        "mode Pillow reads. Each image is brought into Fashion-MNIST's form first "
        "(d2lite.prepare_image). Prints the top classes per image.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--checkpoint", help="a checkpoint written by python -m d2lite train")
    model.add_argument(
        "--onnx",
        default=None,
        help=f"an ONNX model written by python -m d2lite export; with neither this nor "
        f"--checkpoint, the site's model {SITE_MODEL.relative_to(ROOT)}",
    )
    p.add_argument(
        "--top",
        type=int,
        default=3,
        choices=range(1, 11),
        metavar="K",
        help="classes shown per image, 1 to 10",
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")

    p = commands.add_parser(
        "export",
        help="write a checkpoint as an ONNX model (see python -m d2lite export --help)",
        formatter_class=formatter,
        description="Write a trained AlexNet as an ONNX model that takes 28x28 images in [0, 1] "
        "(N, 1, 28, 28), resizes them to 224 inside the graph, and returns the 10 class "
        "probabilities. Checked against PyTorch on test images before it is written. Needs "
        'pip install "d2lite[onnx]".',
    )
    p.add_argument("--checkpoint", required=True, help="a checkpoint written by train")
    p.add_argument("--onnx", required=True, metavar="FILE.onnx", help="the model to write")
    p.add_argument(
        "--int8",
        action="store_true",
        help="8-bit weights in the dense layers (about a third of the size)",
    )
    p.add_argument(
        "--check",
        type=int,
        default=200,
        metavar="N",
        help="test images the parity check runs on (0: no check)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="Fashion-MNIST, for the check (default: $D2LITE_DATA, then data/)",
    )


def _existing(path: str | os.PathLike, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"{what} {path} does not exist.")
    return path


def _load_net(checkpoint: Path) -> torch.nn.Module:
    net = alexnet()
    state = load_checkpoint(checkpoint, net)
    net.eval()
    history = state.get("history") or {}
    acc = (history.get("test_acc") or [None])[-1]
    said = f", {history.get('eval_set', 'test')} acc {acc:.3f}" if acc is not None else ""
    print(
        f"model: checkpoint {checkpoint} (after epoch {state.get('epoch')}{said})", file=sys.stderr
    )
    return net


def run_predict(args) -> int:
    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        raise UsageError(f"No such image file: {', '.join(missing)}.")
    if args.checkpoint:
        model = _load_net(_existing(args.checkpoint, "The checkpoint"))
    else:
        onnx = Path(args.onnx) if args.onnx else SITE_MODEL
        if not onnx.is_file():
            raise UsageError(
                f"The ONNX model {onnx} does not exist. Give --checkpoint run.pt, or make the "
                "model: python -m d2lite export --checkpoint run.pt --onnx "
                f"{onnx} --int8"
            )
        model = onnx
        print(f"model: ONNX {onnx}", file=sys.stderr)
    results, failed = [], 0
    for image in args.images:
        try:
            top = predict_image(model, image, top=args.top)
            results.append(
                {"image": image, "top": [{"class": c, "probability": round(p, 4)} for c, p in top]}
            )
            if not args.json:
                print(f"{image}: " + ", ".join(f"{c} {p:.3f}" for c, p in top))
        except ImageError as err:
            failed += 1
            results.append({"image": image, "error": str(err)})
            print(f"python -m d2lite predict: {image}: {err}", file=sys.stderr)
    if args.json:
        print(json.dumps(results, indent=1, ensure_ascii=False))
    return 1 if failed else 0


def run_export(args) -> int:
    checkpoint = _existing(args.checkpoint, "The checkpoint")
    out = Path(args.onnx).expanduser()
    if not out.parent.is_dir():
        raise UsageError(f"The folder {out.parent} does not exist: create it first.")
    if not os.access(out.parent, os.W_OK):
        raise UsageError(f"The folder {out.parent} is not writable: give another --onnx path.")
    if args.check < 0:
        raise UsageError(f"--check must be 0 or more, got {args.check}.")
    check = None
    if args.check:
        try:
            arrays = load_fashion_mnist_arrays(args.data_dir, download=False)
        except DataError as err:
            raise UsageError(
                f"{err} (or pass --check 0 to export without the parity check)"
            ) from None
        check = arrays.test_images[: args.check].float().div(255)[:, None]
    net = _load_net(checkpoint)
    path = export_onnx(net, out, int8=args.int8, check=check)
    size = path.stat().st_size / 2**20
    checked = f"; matches PyTorch on {len(check)} test images" if check is not None else ""
    print(
        f"wrote {path} ({size:.1f} MiB, {'int8 dense layers' if args.int8 else 'float32'}{checked})"
    )
    return 0


def main(args) -> int:
    try:
        return run_predict(args) if args.command == "predict" else run_export(args)
    except (UsageError, ImageError, CheckpointError, ImportError, AssertionError) as err:
        print(f"python -m d2lite {args.command}: error: {err}", file=sys.stderr)
        return 1
