"""The command line: chapter 4's training from a terminal or a cluster job, and the trained
model's use (``predict``, ``export``: run/predict_export.py).

    python -m d2lite train --setting quick
    torchrun --nproc_per_node=2 -m d2lite train --setting quick --checkpoint run.pt
    python -m d2lite predict --checkpoint run.pt shoe.jpg

``python -m d2lite train --help`` lists every option with its default. Bad arguments exit with
status 2, data or checkpoint problems with 1 (one line, no traceback), a run stopped by SIGTERM
with 143.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

import d2lite.run.predict_export as predict_export
from d2lite.ddp import Distributed, _gather, distributed, init_distributed
from d2lite.device import SETTINGS, set_seed, setting
from d2lite.engine import evaluate
from d2lite.fashion_mnist import DataError, load_fashion_mnist_arrays
from d2lite.loaders import load_data_fashion_mnist, load_data_fashion_mnist_split
from d2lite.metrics import History
from d2lite.models import InputSizeError, alexnet, init_weights
from d2lite.run.budget import plan_budget
from d2lite.run.checkpoints import CheckpointError, _read_state
from d2lite.run.progress import Progress
from d2lite.run.resume import _parse_every
from d2lite.run.trainer import TrainingDivergedError, train

# The chapter 4 settings, for a terminal or a cluster job. batch_size is per process.
CLI_SETTINGS = {
    "quick": dict(subset=(384, 192), validation=96, budget_minutes=None, batch_size=32, epochs=1),
    "cpu": dict(subset=None, validation=5000, budget_minutes=15, batch_size=128, epochs=2),
    "full": dict(subset=None, validation=5000, budget_minutes=None, batch_size=128, epochs=10),
}
BASE_LR = 0.01  # chapter 4's rate for one process's batch; N processes: N x BASE_LR


# --- argparse types, public: the benchmark scripts use them too ----------------------------------


def _typed(convert: Callable[[str], Any], ok: Callable[[Any], bool], need: str):
    """An argparse type: ``convert`` the text, then require ``ok(value)`` ("must be ``need``")."""
    noun = "an integer" if convert is int else "a number"

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"{text!r} must be {need}")
        return value

    parse.__doc__ = f"argparse type: {noun} that must be {need}."
    return parse


positive_int = _typed(int, lambda v: v >= 1, "at least 1")
count = _typed(int, lambda v: v >= 0, "0 or more")
positive_float = _typed(float, lambda v: math.isfinite(v) and v > 0, "a finite number > 0")
_epochs = _typed(int, lambda v: v >= 0, "0 or more (0 only evaluates)")
_fraction = _typed(float, lambda v: 0 <= v < 1, "in [0, 1)")
AMP_CHOICES = ("auto", "bf16", "fp16", "fp32")


def amp_choice(text: str) -> bool | str:
    """argparse type for ``--amp``: "auto" is True (the device's fast dtype, see
    :func:`amp_dtype`); "bf16", "fp16" and "fp32" force one."""
    key = text.strip().lower()
    if key not in AMP_CHOICES:
        raise argparse.ArgumentTypeError(f"{text!r} is not auto, bf16, fp16 or fp32")
    return True if key == "auto" else key


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` that states each default, "(default: ...)", except where the default is None
    (the help text then says what None means)."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def _subset_arg(text: str) -> tuple[int, int | None]:
    """``N`` training images, or ``N,M`` training and test images."""
    parts = text.split(",")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if not 1 <= len(sizes) <= 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give N training images or N,M training and test images, e.g. 384,192"
        )
    return sizes[0], sizes[1] if len(sizes) == 2 else None


def _by_setting(key: str) -> str:
    """'quick 1, cpu 2, full 10': a setting-dependent default, for --help."""

    def shown(v):
        return "all" if v is None else ",".join(map(str, v)) if isinstance(v, tuple) else v

    return "default by --setting: " + ", ".join(
        f"{name} {shown(values[key])}" for name, values in CLI_SETTINGS.items()
    )


def _cli_parser():
    parser = argparse.ArgumentParser(
        prog="python -m d2lite",
        description="Train AlexNet on Fashion-MNIST from a terminal, alone or as "
        "`torchrun --nproc_per_node=N -m d2lite train ...` (DDP); classify your own images "
        "with the trained model (predict); write it as an ONNX model (export).",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = commands.add_parser(
        "train",
        help="train AlexNet (see python -m d2lite train --help)",
        formatter_class=HelpFormatter,
        description="Train AlexNet on Fashion-MNIST with d2lite.train. Under torchrun every "
        "process trains on its own shard and DDP averages the gradients. "
        "The defaults that depend on --setting are chapter 4's quick / cpu / full "
        "settings (CLI_SETTINGS in d2lite/run/cli.py).",
    )
    p.add_argument(
        "--setting",
        choices=SETTINGS,
        default=None,
        help="quick (seconds), cpu (fits --budget-minutes) or full (GPU); default: "
        "D2LITE_SETTING, else full with a GPU and cpu without",
    )
    p.add_argument(
        "--epochs",
        type=_epochs,
        default=None,
        help=f"passes over the training data; {_by_setting('epochs')}",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="examples per step in EACH process; the global batch is this times "
        f"the number of processes; {_by_setting('batch_size')}",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        default=None,
        help=f"learning rate for the global batch; default {BASE_LR} x the number "
        "of processes (the linear scaling rule: N processes make the global "
        "batch N times the batch that rate was chosen for)",
    )
    p.add_argument("--momentum", type=float, default=0.9, help="SGD momentum")
    p.add_argument("--weight-decay", type=float, default=5e-4, help="L2 weight decay (paper)")
    p.add_argument(
        "--dropout", type=_fraction, default=0.5, help="dropout in the two hidden dense layers"
    )
    p.add_argument(
        "--amp",
        type=amp_choice,
        default="auto",
        metavar="{auto,bf16,fp16,fp32}",
        help="autocast dtype; auto: bf16 where it is fast, fp16 + scaler on V100/T4, else fp32",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="NHWC memory layout",
    )
    p.add_argument("--compile", action="store_true", help="wrap the model in torch.compile")
    p.add_argument(
        "--device",
        default=None,
        help="cpu, cuda, mps; default the best there is (cuda:LOCAL_RANK under torchrun)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding Fashion-MNIST (default: $D2LITE_DATA, then data/)",
    )
    p.add_argument(
        "--subset",
        type=_subset_arg,
        default=None,
        metavar="N[,M]",
        help=f"train on N images (and test on M): a fixed random choice; {_by_setting('subset')}",
    )
    p.add_argument(
        "--validation",
        type=count,
        default=None,
        metavar="N",
        help="training images held out (chapter 4's split) and evaluated after every epoch; "
        "the test set is then evaluated once, after the last epoch. 0: no validation set, the "
        f"test set after every epoch (the tutorial's way); {_by_setting('validation')}",
    )
    p.add_argument(
        "--budget-minutes",
        type=positive_float,
        default=None,
        help="size the training set to fit this many minutes, measured first; "
        f"{_by_setting('budget_minutes').replace('all', 'none')}",
    )
    p.add_argument("--checkpoint", default=None, help="checkpoint file, written every epoch")
    p.add_argument(
        "--checkpoint-every",
        default=None,
        metavar="N|DURATION",
        help="also write it inside epochs: every N steps, or e.g. 10min",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from --checkpoint, at its learning rate unless --lr is given; with more "
        "--epochs than its run had, a continuation (e.g. --epochs 12 --lr 0.001)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the weights, the data order and dropout"
    )
    p.add_argument(
        "--deterministic",
        action="store_true",
        help="deterministic kernels: identical runs on a CPU (slower on a GPU)",
    )
    p.add_argument(
        "--history",
        default=None,
        metavar="FILE.json",
        help="write the History (per-epoch loss, accuracy, speed) as JSON",
    )
    p.add_argument(
        "--progress",
        choices=Progress.MODES,
        default=None,
        help="progress line mode (default: tty in a terminal, else lines)",
    )
    predict_export.add_commands(commands, HelpFormatter)
    return parser


def _cli_options(args, parser) -> dict:
    """The run's options: the setting's values, overridden by the ones given."""
    name = args.setting or setting()
    options = dict(CLI_SETTINGS[name], setting=name)
    for key in ("subset", "validation", "budget_minutes", "batch_size", "epochs"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.subset is not None and args.budget_minutes is None:
        options["budget_minutes"] = None  # an explicit size wins over the setting's budget
    if args.resume and not args.checkpoint:
        parser.error("--resume needs --checkpoint FILE to resume from")
    if args.checkpoint_every is not None:
        every = args.checkpoint_every
        args.checkpoint_every = int(every) if every.isdigit() else every
        try:
            _parse_every(args.checkpoint_every, args.checkpoint)
        except ValueError as err:
            parser.error(f"--checkpoint-every: {err}")
    if args.device is not None:
        try:
            torch.device(args.device)
        except RuntimeError:
            parser.error(f"--device {args.device!r} is not a device: use cpu, cuda or mps")
    return options


def _cli_data(args, options: dict, device: torch.device, subset):
    """``(train, evaluated every epoch, test once at the end or None)``: with a validation
    split, chapter 4's (held out with seed 0, whatever --seed is); without, the tutorial's."""
    common = dict(
        resize=224,
        data_dir=args.data_dir,
        subset=subset,
        device=device,
        channels_last=args.channels_last,
    )
    if options["validation"]:
        return load_data_fashion_mnist_split(
            options["batch_size"],
            validation=options["validation"],
            seed=0,
            shuffle_seed=args.seed,
            **common,
        )
    return (*load_data_fashion_mnist(options["batch_size"], seed=args.seed, **common), None)


def _cli_budget(args, options: dict, net: nn.Module, loaders, device, world: Distributed):
    """Size the training set to the budget; under torchrun the slowest process decides."""
    plan = plan_budget(
        net,
        *loaders[:2],
        options["budget_minutes"],
        max(options["epochs"], 1),
        device=device,
        amp=args.amp,
        channels_last=args.channels_last,
    )
    per_process = min(_gather(plan.n_train))
    n_train = min(per_process * world.world_size, len(loaders[0].images))
    if world.is_main:
        print(plan)
        if world.world_size > 1:
            print(f"{world.world_size} processes: {n_train:,} training images in all")
    test_n = options["subset"][1] if options["subset"] else None
    return _cli_data(args, options, device, (n_train, test_n))


def _say_what_it_uses(args, loaders) -> None:
    """One line for the data (where it was read, how many images in each part), one for the
    checkpoint (which file, and whether it continues it)."""
    source = Path(load_fashion_mnist_arrays(args.data_dir, download=False).source).resolve()
    parts = zip(("training", "validation", "test"), loaders)
    counts = ", ".join(f"{len(it.dataset.images):,} {name}" for name, it in parts if it is not None)
    print(f"data: {source} ({counts} images)")
    if args.checkpoint:
        how = "continued (--resume)" if args.resume else "written"
        every = f" and every {args.checkpoint_every}" if args.checkpoint_every else ""
        print(f"checkpoint: {Path(args.checkpoint).resolve()}, {how} after every epoch{every}")


def _write_history(path: str | None, history: History | None, test: dict | None = None) -> None:
    """The History as JSON, with the final test evaluation under "test" when there was one."""
    if path and history is not None and distributed().is_main:
        record = history.to_dict() | ({"test": test} if test else {})
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(record, indent=1) + "\n")
        print(f"history written to {path}")


def _final_test(net: nn.Module, test_iter, device, args, history: History) -> dict | None:
    """The one look at the test set, after the last epoch (not after an interrupted run)."""
    if test_iter is None or history.interrupted:
        return None
    loss, acc = evaluate(net, test_iter, device, amp=args.amp)
    n = len(test_iter.dataset.images)
    if distributed().is_main:
        print(
            f"test acc {acc:.4f}, test loss {loss:.4f} ({n:,} test images, evaluated once, "
            "after the last epoch)",
            flush=True,
        )
    return {"acc": acc, "loss": loss, "images": n}


def _checkpoint_lr(path: str) -> float | None:
    """The rate the checkpoint's run trained at last (None: no checkpoint yet). --resume without
    --lr goes on at it; with --lr it goes on at the rate given (a continuation)."""
    if not Path(path).is_file():
        return None
    optimizer = _read_state(Path(path), "cpu", mmap=True).get("optimizer") or {}  # not the weights
    return (optimizer.get("param_groups") or [{}])[0].get("lr")


def _cli_train(args, parser) -> int:
    options = _cli_options(args, parser)
    world, device = init_distributed(args.device)
    set_seed(args.seed, deterministic=args.deterministic)  # the same weights on every rank
    loaders = _cli_data(args, options, device, options["subset"])
    net = init_weights(alexnet(dropout=args.dropout), seed=args.seed)
    if options["budget_minutes"] and options["epochs"]:
        loaders = _cli_budget(args, options, net, loaders, device, world)
    global_batch = options["batch_size"] * world.world_size
    resumed_lr = _checkpoint_lr(args.checkpoint) if args.resume and not args.lr else None
    lr = args.lr or resumed_lr or BASE_LR * world.world_size
    if world.is_main:
        _say_what_it_uses(args, loaders)
        rule = (
            "as given"
            if args.lr
            else "the checkpoint's"
            if resumed_lr
            else f"= {BASE_LR} x {world.world_size} process(es), the linear scaling rule"
        )
        print(
            f"{options['setting']} setting: {options['epochs']} epoch(s), "
            f"{len(loaders[0])} steps per epoch, batch {options['batch_size']} per process "
            f"x {world.world_size} process(es) = global batch {global_batch}; lr {lr:g} "
            f"({rule})",
            flush=True,
        )
    # Under torchrun each rank's dropout and other random draws get their own stream.
    torch.manual_seed(args.seed + 1 + world.rank)
    history = None
    try:
        history = train(
            net,
            *loaders[:2],
            options["epochs"],
            lr,
            device,
            momentum=args.momentum,
            weight_decay=args.weight_decay,
            amp=args.amp,
            channels_last=args.channels_last,
            compile=args.compile,
            animator=True,  # in a terminal: one line per epoch (loss, train acc, val acc)
            checkpoint=args.checkpoint,
            resume=args.resume,
            checkpoint_every=args.checkpoint_every,
            progress=args.progress,
        )
    except (SystemExit, CheckpointError) as err:  # SIGTERM (143), a failed write: keep both
        _write_history(args.history, getattr(err, "history", None))
        if world.is_main and args.checkpoint and getattr(err, "history", None) is not None:
            print(
                "To continue from the checkpoint: run the same command again with --resume.",
                flush=True,
            )
        raise
    _write_history(args.history, history, _final_test(net, loaders[2], device, args, history))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m d2lite train [options]``; ``--help`` lists the options with their
    defaults. Bad arguments exit with status 2, a run stopped by SIGTERM with 143."""
    parser = _cli_parser()
    args = parser.parse_args(argv)
    if args.command != "train":
        return predict_export.main(args)
    try:
        return _cli_train(args, parser)
    except (DataError, CheckpointError, InputSizeError, TrainingDivergedError) as err:
        print(f"python -m d2lite train: error: {err}", file=sys.stderr)
        return 1
    finally:
        if distributed().world_size > 1:
            torch.distributed.destroy_process_group()
