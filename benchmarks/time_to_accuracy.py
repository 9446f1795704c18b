"""Time to a target test accuracy: AlexNet (224x224) on Fashion-MNIST, one recipe, N seeds.

    python benchmarks/time_to_accuracy.py --quick               # CPU check, ~1-2 min on 2 cores
    python benchmarks/time_to_accuracy.py --device cuda --seeds 3 --target 0.923 --epochs 10
    python benchmarks/time_to_accuracy.py --device cuda --seeds 3 --target 0.923 0.93 --epochs 18

For each seed it trains until the highest target is reached or --epochs run out, evaluates on
the whole test set after every epoch, and reports the training time at which each target was
first reached. Only training is timed (device synchronised at the end of each epoch, before
evaluation): evaluation and the one-off warm-up (torch.compile, cuDNN autotuning) are
excluded and reported separately, as airbench does. Then mean, standard deviation and range.

The recipe (defaults; benchmarks/README.md says why each was chosen and what was measured):
    batch 256, SGD with Nesterov momentum 0.9, weight decay 5e-4, peak lr 0.02 after a linear
    warm-up over the first 15% of the steps, then linear decay to 0 at --epochs (per step);
    label smoothing 0.1; on-device augmentation: random horizontal flip + random translation
    by up to 2 px (of 28, i.e. 16 px at 224); dropout 0.5; bf16 autocast; channels_last.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

import d2lite
from d2lite.run.cli import HelpFormatter, count, positive_int

RESIZE = 224  # AlexNet needs 224x224 (its first dense layer expects 256x5x5)

# The recipe's defaults (GPU-sized). --quick replaces some of them for a CPU check.
RECIPE = dict(
    batch_size=256,  # big enough to fill an H100, small enough for ~230 updates per epoch
    optimizer="sgd",  # SGD+Nesterov: AlexNet's own optimiser, cheap per step, no extra state
    lr=0.02,  # AlexNet paper: 0.01 at batch 128, scaled linearly to batch 256
    momentum=0.9,
    weight_decay=5e-4,  # the AlexNet paper's value
    schedule="linear",  # warm-up then linear decay to 0: every step of the budget counts
    warmup=0.15,  # fraction of all steps spent warming up (no BatchNorm: start gently)
    label_smoothing=0.1,  # softer targets: better calibrated, a little more accuracy
    augment="flip,translate",  # garments are left-right symmetric; small shifts are free
    dropout=0.5,  # the paper's value (the seed's 0.9 slows learning a lot)
    epochs=10,  # the budget the schedule is laid out over, and the cap
)
# 2 seeds x 64 steps of batch 32: ~1.5 min on 2 idle cores. lr 0.01: at batch 32 it learnt
# twice as fast as the seed's plain SGD (RESULTS.md). 0.3 is about where 64 steps get to.
QUICK = dict(
    train_subset=1024, test_subset=500, batch_size=32, epochs=2, seeds=2, targets=[0.3], lr=0.01
)


# ---------------------------------------------------------------------------------------------
# Data on the device, with augmentation done there on the 28x28 uint8 images
# ---------------------------------------------------------------------------------------------


def augment(x: torch.Tensor, kinds: set[str]) -> torch.Tensor:
    """Random flip / translation of a (B, 28, 28) uint8 batch, on its device, no Python loop.

    Done before the resize on 28x28 bytes: 64 times fewer pixels than at 224x224.
    """
    B, H, W = x.shape
    if "flip" in kinds:
        flip = torch.rand(B, 1, 1, device=x.device) < 0.5
        x = torch.where(flip, x.flip(-1), x)
    if "translate" in kinds:
        pad = 2  # up to 2 px each way (16 px at 224): garments stay whole
        xp = F.pad(x, (pad, pad, pad, pad))  # (B, 32, 32), zeros = the background colour
        dy, dx = torch.randint(0, 2 * pad + 1, (2, B, 1), device=x.device)
        rows = (dy + torch.arange(H, device=x.device))[:, :, None]  # (B, 28, 1)
        cols = (dx + torch.arange(W, device=x.device))[:, None, :]  # (B, 1, 28)
        x = xp[torch.arange(B, device=x.device)[:, None, None], rows, cols]  # (B, 28, 28)
    return x


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, kinds: set[str]):
    """One epoch of shuffled, augmented, resized batches; drops the last partial batch so that
    every step has the same shape (torch.compile and cuDNN autotuning then run once)."""
    order = torch.randperm(len(images)).to(images.device)
    for b in range(len(images) // batch_size):
        idx = order[b * batch_size : (b + 1) * batch_size]
        x = augment(images[idx], kinds)  # (B, 28, 28) uint8
        x = x.unsqueeze(1).float().div_(255)  # (B, 1, 28, 28) in [0, 1], like ToTensor
        x = F.interpolate(x, size=(RESIZE, RESIZE), mode="bilinear", align_corners=False)
        yield x.contiguous(memory_format=torch.channels_last), labels[idx]  # (B, 1, 224, 224)


# ---------------------------------------------------------------------------------------------
# Optimiser and per-step learning-rate schedule
# ---------------------------------------------------------------------------------------------


def make_optimizer(args, net: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    if args.optimizer == "sgd":
        return torch.optim.SGD(
            net.parameters(),
            lr=args.lr,
            momentum=args.momentum,
            nesterov=args.momentum > 0,
            weight_decay=args.weight_decay,
            fused=device.type == "cuda" or None,
        )  # one kernel for all params
    if args.optimizer == "adamw":
        return torch.optim.AdamW(
            net.parameters(),
            lr=args.lr,
            weight_decay=args.weight_decay,
            fused=device.type == "cuda" or None,
        )
    raise ValueError(f"unknown optimizer {args.optimizer!r}")


def make_schedule(opt: torch.optim.Optimizer, total: int, schedule: str, warmup: float):
    """PyTorch's LambdaLR, stepped after every training step: a linear warm-up over the first
    ``warmup`` of the ``total`` steps, then the decay (constant, linear or cosine) to the end."""
    w = max(1, round(warmup * total))

    def factor(step: int) -> float:  # the multiplier of the peak lr at this step
        if step < w:
            return (step + 1) / w
        t = (step - w) / max(1, total - w)  # 0 -> 1 over the decay phase
        decay = {"constant": 1.0, "linear": max(0.0, 1.0 - t)}
        return decay.get(schedule, 0.5 * (1 + math.cos(math.pi * t)))  # else cosine

    if schedule not in ("constant", "linear", "cosine"):
        raise ValueError(f"unknown schedule {schedule!r}")
    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


# ---------------------------------------------------------------------------------------------
# One run
# ---------------------------------------------------------------------------------------------


def reinit(net: nn.Module, seed: int) -> None:
    """Fresh weights in place (so a compiled model need not be compiled again)."""
    torch.manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            m.reset_parameters()  # biases get PyTorch's default, as in d2lite.init_weights
    d2lite.init_weights(net)


def run(args, seed: int, data, net, model, device, steps: int | None = None, log=print) -> dict:
    """Train from fresh weights with ``seed``; stop at the highest target or after
    ``args.epochs``. With ``steps`` set: run only that many steps, untimed (warm-up)."""
    train_x, train_y, test_iter = data
    d2lite.set_seed(seed)
    reinit(net, seed)
    opt = make_optimizer(args, net, device)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    dtype = d2lite.amp_dtype(device, args.amp)  # decided once a run, as d2lite.train does
    amp_ctx, scaler = d2lite.autocast(device, dtype), d2lite.grad_scaler(device, dtype)
    kinds = set(filter(None, args.augment.split(",")))
    per_epoch = len(train_x) // args.batch_size
    total = per_epoch * args.epochs
    targets = sorted(args.targets)
    reached: dict[float, tuple[float, int]] = {}  # target -> (train seconds, epoch)
    schedule = make_schedule(opt, total, args.schedule, args.warmup)
    train_s, step, acc, curve = 0.0, 0, float("nan"), []
    for epoch in range(1, args.epochs + 1):
        model.train()
        metric = d2lite.Accumulator(3)  # loss sum, correct, examples: tensors on the device
        d2lite.sync(device)
        t0 = time.perf_counter()
        for X, y in batches(train_x, train_y, args.batch_size, kinds):
            loss, y_hat = d2lite.train_step(model, X, y, loss_fn, opt, amp_ctx, scaler)
            schedule.step()  # per step: the next step's lr
            metric.add(loss * len(y), (y_hat.argmax(1) == y).sum(), len(y))
            step += 1
            if steps is not None and step >= steps:
                d2lite.sync(device)
                return dict(warmup_steps=step, seconds=time.perf_counter() - t0)
        d2lite.sync(device)  # the epoch's work is done before the clock is read
        train_s += time.perf_counter() - t0
        # --- evaluation: not timed ---
        acc = d2lite.evaluate_accuracy_gpu(net, test_iter, device, args.amp)
        curve.append(acc)
        train_l = metric[0] / metric[2]
        if not math.isfinite(train_l):
            log(f"    seed {seed}: loss {train_l} in epoch {epoch}: diverged (lower --lr)")
            break
        for t in targets:
            if acc >= t and t not in reached:
                reached[t] = (train_s, epoch)
        log(
            f"    seed {seed} epoch {epoch:3d}: loss {train_l:.3f}, train acc "
            f"{metric[1] / metric[2]:.3f}, test acc {acc:.4f}, train time {train_s:7.2f} s"
        )
        if len(reached) == len(targets):
            break
    return dict(
        seed=seed,
        reached={str(t): reached.get(t) for t in targets},
        epochs=epoch,
        final_acc=acc,
        train_s=train_s,
        test_acc_per_epoch=curve,
    )


def summary(results: list[dict], targets: list[float]) -> list[str]:
    """Mean, standard deviation and range of the time to each target, over the seeds."""
    lines = []
    for t in sorted(targets):
        hits = [r["reached"][str(t)] for r in results if r["reached"][str(t)] is not None]
        head = f"  target {t:.3f}: reached by {len(hits)}/{len(results)} seed(s)"
        if hits:
            secs = [h[0] for h in hits]
            eps = [h[1] for h in hits]
            sd = statistics.stdev(secs) if len(secs) > 1 else 0.0
            head += (
                f"; train time mean {statistics.mean(secs):.2f} s, sd {sd:.2f} s, "
                f"range {min(secs):.2f}-{max(secs):.2f} s; epochs {eps}"
            )
        lines.append(head)
    finals = [r["final_acc"] for r in results]
    lines.append(
        f"  final test acc: mean {statistics.mean(finals):.4f}, "
        f"range {min(finals):.4f}-{max(finals):.4f}"
    )
    return lines


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument(
        "--target",
        dest="targets",
        type=float,
        nargs="+",
        default=None,
        help="test accuracy target(s); the run stops at the highest "
        "(default 0.923, the seed's figure; --quick: 0.3)",
    )
    p.add_argument(
        "--seeds",
        type=positive_int,
        default=None,
        help="number of seeds, 0..N-1 (default 3; --quick: 2)",
    )
    p.add_argument("--device", default=None, help="default: d2lite.try_gpu()")
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"budget and cap; the lr schedule ends here (default {RECIPE['epochs']}"
        f"; --quick: {QUICK['epochs']})",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help=f"default {RECIPE['batch_size']} (--quick: {QUICK['batch_size']})",
    )
    p.add_argument(
        "--optimizer",
        choices=["sgd", "adamw"],
        default=RECIPE["optimizer"],
        help="sgd uses Nesterov momentum",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"peak learning rate (default {RECIPE['lr']}; --quick: {QUICK['lr']})",
    )
    p.add_argument(
        "--momentum",
        type=float,
        default=RECIPE["momentum"],
        help="SGD momentum (Nesterov when > 0)",
    )
    p.add_argument(
        "--weight-decay",
        type=float,
        default=RECIPE["weight_decay"],
        help="L2 penalty (AlexNet paper)",
    )
    p.add_argument(
        "--schedule",
        choices=["linear", "cosine", "constant"],
        default=RECIPE["schedule"],
        help="decay after the warm-up, per step",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=RECIPE["warmup"],
        help="fraction of all steps with a linear lr warm-up",
    )
    p.add_argument(
        "--label-smoothing",
        type=float,
        default=RECIPE["label_smoothing"],
        help="cross-entropy label smoothing",
    )
    p.add_argument(
        "--augment",
        default=RECIPE["augment"],
        help="comma-separated subset of flip,translate; '' for none",
    )
    p.add_argument(
        "--dropout",
        type=float,
        default=RECIPE["dropout"],
        help="dropout of the two 4096-wide dense layers",
    )
    p.add_argument(
        "--amp",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mixed precision where it is fast here (d2lite.amp_dtype: bf16, fp16 or fp32)",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument(
        "--compile-mode",
        default=None,
        help="torch.compile mode, e.g. max-autotune (default: PyTorch's default)",
    )
    p.add_argument(
        "--warmup-steps",
        type=count,
        default=None,
        help="untimed steps before the seeds (compile, autotuning); "
        "default 20 on a GPU, 0 on a CPU",
    )
    p.add_argument(
        "--train-subset",
        type=positive_int,
        default=None,
        help="train on a fixed random subset (default all 60,000; --quick: 1024)",
    )
    p.add_argument(
        "--test-subset",
        type=positive_int,
        default=None,
        help="evaluate on a fixed random subset (default all 10,000; --quick: 500)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="default: d2lite's search order "
        "($D2LITE_DATA, the project's data/, Debian's package folder)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="CPU-sized check: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()),
    )
    p.add_argument("--json", default=None, help="also write every figure to this JSON file")
    args = p.parse_args()
    fill = dict(RECIPE, seeds=3, targets=[0.923], train_subset=None, test_subset=None)
    if args.quick:
        fill.update(QUICK)
    for k, v in fill.items():
        if getattr(args, k, None) is None:
            setattr(args, k, v)
    return args


def main() -> dict:
    args = parse_args()
    device = d2lite.resolve_device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fastest conv algorithm for our fixed shapes
    # The book's own loader: the same fixed subsets, uint8 on the device (47 MB at most).
    train_loader, test_iter = d2lite.load_data_fashion_mnist(
        500,
        resize=RESIZE,
        data_dir=args.data_dir,
        subset=(args.train_subset, args.test_subset),
        device=device,
        channels_last=True,
        download=False,
    )
    train_x, train_y = train_loader.images, train_loader.labels  # batched with augmentation below
    test_x = test_iter.images
    net = d2lite.alexnet(dropout=args.dropout).to(device).to(memory_format=torch.channels_last)
    model = torch.compile(net, mode=args.compile_mode) if args.compile else net
    data = (train_x, train_y, test_iter)

    settings = {
        k: getattr(args, k)
        for k in (
            "batch_size",
            "optimizer",
            "lr",
            "momentum",
            "weight_decay",
            "schedule",
            "warmup",
            "label_smoothing",
            "augment",
            "dropout",
            "epochs",
            "amp",
            "compile",
            "compile_mode",
            "train_subset",
            "test_subset",
            "targets",
            "seeds",
        )
    }
    name = d2lite.device_name(device)
    print(
        f"time to accuracy: AlexNet {RESIZE}x{RESIZE} on {device} ({name}), torch "
        f"{torch.__version__}, {os.cpu_count()} CPU cores, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    print(
        f"  train {len(train_x)} / test {len(test_x)} examples; "
        + ", ".join(f"{k}={v}" for k, v in settings.items())
    )
    print(
        "  timing: training only (synchronised per epoch); evaluation after each epoch and "
        "the warm-up are excluded",
        flush=True,
    )

    warmup_steps = (
        args.warmup_steps if args.warmup_steps is not None else (20 if device.type == "cuda" else 0)
    )
    warm = None
    if warmup_steps > 0:  # compile + autotune once, on throwaway weights
        t0 = time.perf_counter()
        run(args, -1, data, net, model, device, steps=warmup_steps)
        d2lite.evaluate_accuracy_gpu(net, test_iter, device, args.amp)
        warm = time.perf_counter() - t0
        print(f"  warm-up: {warmup_steps} steps + one evaluation in {warm:.2f} s (not counted)")

    results = [run(args, seed, data, net, model, device) for seed in range(args.seeds)]
    lines = summary(results, args.targets)
    print("\n".join(lines))
    out = dict(
        settings=settings,
        device=str(device),
        device_name=name,
        torch=torch.__version__,
        warmup_s=warm,
        runs=results,
        summary=lines,
        time=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    return out


if __name__ == "__main__":
    main()
