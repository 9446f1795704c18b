"""The learning-rate screen of chapter 4's full setting, run once and kept.

    python tools/lr_screen.py                       # -> book/runs/lr-screen-full.json
    python tools/lr_screen.py --out ~/.cache/d2lite/lr-screen-full.json --seeds 0 1 2

Each run trains a fresh AlexNet (``set_seed(seed)``, then ``init_weights``) for one pass over
``--images`` training images at one learning rate, with the full setting's recipe (batch 128,
momentum 0.9, weight decay 5e-4, amp, channels_last), and scores it on the first ``--val``
images of the 5,000 held-out validation images: exactly what section 4.6 of chapter 4 does,
at the full setting's sizes. The test set is never read.

The rule, fixed before the runs: the rate with the highest mean validation accuracy over the
seeds (a run that diverges counts as 0). When the best rate is at an end of the grid, the grid
grows at that end by a factor of about 3 (0.01 -> 0.03 -> 0.1, 0.01 -> 0.003 -> 0.001) and the
new rate is run with every seed, until the best is inside the grid. The verdict also says
whether the winner's lead over the runner-up is within the seed-to-seed spread (noise).

Runs go seed by seed (every rate with seed 0, then seed 1...), and each finished run is written
to the record at once: after an interruption, run the same command again and it skips the runs
that are done (it refuses a record made with other settings). Chapter 4's full setting shows
this record instead of screening again (a full screen is about an hour on a 2-core CPU).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

import d2lite

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "book" / "runs" / "lr-screen-full.json"
# Chapter 4's FULL setting (notebooks/<lang>/04_training.py); tests/test_lr_screen.py checks
# that these stay equal to it.
SCREEN = dict(
    lrs=(0.003, 0.01, 0.03),
    seeds=(0, 1, 2),
    images=25_600,  # 200 steps of batch 128 per run
    val=5_000,
    validation=5_000,
    batch_size=128,
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,
    channels_last=True,
)
LADDER = (0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # where the grid may grow


def verdict(runs: list[dict]) -> dict:
    """Means and spreads per rate, the rule's choice, and whether it is inside the grid and
    beyond the noise. ``runs``: dicts with ``lr``, ``seed``, ``val_acc``."""
    lrs = sorted({r["lr"] for r in runs})
    accs = {lr: [r["val_acc"] for r in runs if r["lr"] == lr] for lr in lrs}
    means = {lr: sum(a) / len(a) for lr, a in accs.items()}
    spread = {lr: max(a) - min(a) for lr, a in accs.items()}
    best = max(lrs, key=means.get)
    ranked = sorted(lrs, key=means.get, reverse=True)
    runner_up = ranked[1] if len(ranked) > 1 else None
    lead = means[best] - means[runner_up] if runner_up is not None else math.inf
    noise = max(spread[best], spread[runner_up]) if runner_up is not None else 0.0
    return {
        "rule": "highest mean validation accuracy over the seeds",
        "mean_val_acc": {str(lr): round(means[lr], 4) for lr in lrs},
        "seed_spread": {str(lr): round(spread[lr], 4) for lr in lrs},
        "chosen_lr": best,
        "runner_up_lr": runner_up,
        "lead": round(lead, 4),
        "inside_grid": lrs[0] < best < lrs[-1],
        "within_noise": lead <= noise,
    }


def next_rate(runs: list[dict], seeds: list[int]) -> float | None:
    """The rate the grid grows by, or None when the best rate is inside it (or at the ladder's
    end). Only asked once every rate has every seed."""
    v = verdict(runs)
    lrs = sorted({r["lr"] for r in runs})
    if v["inside_grid"]:
        return None
    i = LADDER.index(v["chosen_lr"])
    step = -1 if v["chosen_lr"] == lrs[0] else 1
    return LADDER[i + step] if 0 <= i + step < len(LADDER) else None


def short_run(lr: float, seed: int, loaders, setting: dict, device) -> dict:
    """A fresh AlexNet, one pass at ``lr``: its last running train loss and its val accuracy."""
    train_iter, val_iter = loaders
    d2lite.set_seed(seed)  # the initial weights, the batch order and the dropout masks
    net = d2lite.init_weights(d2lite.alexnet())
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        h = d2lite.train(
            net,
            train_iter,
            val_iter,
            1,
            lr,
            device,
            momentum=setting["momentum"],
            weight_decay=setting["weight_decay"],
            amp=setting["amp"],
            channels_last=setting["channels_last"],
            animator=False,
            verbose=False,
        )
        loss, acc, diverged = h.train_loss[-1], h.test_acc[-1], False  # test_acc: the set
    except d2lite.TrainingDivergedError:  # train evaluated, here the validation images
        loss, acc, diverged = None, 0.0, True
    return {
        "lr": lr,
        "seed": seed,
        "train_loss": loss,
        "val_acc": acc,
        "diverged": diverged,
        # Another busy process on the same cores inflates the wall time (not the accuracy):
        # this process's CPU time and the 1-minute load show it.
        "seconds": round(time.perf_counter() - t0, 1),
        "cpu_seconds": round(time.process_time() - cpu0, 1),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def load_record(path: Path, setting: dict) -> dict:
    if not path.exists():
        return {"setting": setting, "runs": []}
    record = json.loads(path.read_text(encoding="utf-8"))
    if record.get("setting") != setting:
        sys.exit(
            f"lr_screen: {path} holds a screen with other settings:\n"
            f"  {record.get('setting')}\nnot\n  {setting}\n"
            "Give another --out, or delete that file to start this screen afresh."
        )
    return record


def save_record(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)  # never a half-written record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=RECORD, help="the record (JSON)")
    parser.add_argument(
        "--lrs",
        type=float,
        nargs="+",
        default=list(SCREEN["lrs"]),
        help="the starting grid (each on the ladder 1e-4, 3e-4 ... 1)",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=list(SCREEN["seeds"]),
        help="one run per seed and rate: at least 2, so the spread shows",
    )
    parser.add_argument(
        "--images", type=int, default=SCREEN["images"], help="training images per run"
    )
    parser.add_argument("--val", type=int, default=SCREEN["val"], help="validation images")
    parser.add_argument(
        "--data-dir",
        default=None,
        help="Fashion-MNIST folder (default: D2LITE_DATA, the project's data/, then a download)",
    )
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        parser.error("give at least 2 seeds: one run per rate cannot tell a rate from noise")
    if bad := [lr for lr in args.lrs if lr not in LADDER]:
        parser.error(f"--lrs {bad} not on the ladder {list(LADDER)}")
    setting = {
        **SCREEN,
        "lrs": sorted(args.lrs),
        "seeds": list(args.seeds),
        "images": args.images,
        "val": args.val,
    }
    setting = json.loads(json.dumps(setting))  # tuples as lists: equal to what is read back
    out = args.out.expanduser()
    record = load_record(out, setting)  # checked before any data is read or any run starts

    device = d2lite.try_gpu()
    train_iter, val_all, _ = d2lite.load_data_fashion_mnist_split(
        setting["batch_size"],
        resize=224,
        validation=setting["validation"],
        subset=(setting["images"], 1),
        device=device,
        channels_last=setting["channels_last"],
        data_dir=args.data_dir,
    )
    val_iter = d2lite.DeviceLoader(
        val_all.images[: setting["val"]],
        val_all.labels[: setting["val"]],
        setting["batch_size"],
        224,
        device=device,
        channels_last=setting["channels_last"],
    )
    record.update(
        command="python tools/lr_screen.py " + " ".join(sys.argv[1:] if argv is None else argv),
        hardware=d2lite.device_name(device),
        device=str(device),
        torch=torch.__version__,
        python=platform.python_version(),
        amp_dtype=str(d2lite.amp_dtype(device, setting["amp"])).replace("torch.", ""),
    )
    record.setdefault("started", dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    print(
        f"screen on {record['hardware']} ({device}, {record['amp_dtype']}): "
        f"{len(train_iter)} steps of {setting['batch_size']} per run, "
        f"{setting['val']} validation images; record: {out}",
        flush=True,
    )

    lrs = sorted(set(setting["lrs"]) | {r["lr"] for r in record["runs"]})  # grown ones too
    while True:
        for seed in setting["seeds"]:
            for lr in lrs:
                if any(r["lr"] == lr and r["seed"] == seed for r in record["runs"]):
                    continue
                run = short_run(lr, seed, (train_iter, val_iter), setting, device)
                record["runs"].append(run)
                save_record(out, record)
                loss = "diverged" if run["diverged"] else f"loss {run['train_loss']:.3f}"
                print(
                    f"lr {lr:<7} seed {seed}: val acc {run['val_acc']:.3f}, {loss} "
                    f"({run['seconds']:.0f} s)",
                    flush=True,
                )
        grow = next_rate(record["runs"], setting["seeds"])
        if grow is None:
            break
        print(f"the best rate is at the grid's edge: adding lr {grow}", flush=True)
        lrs.append(grow)
    record["verdict"] = verdict(record["runs"])
    record["finished"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    record["train_seconds"] = round(sum(r["seconds"] for r in record["runs"]), 1)
    save_record(out, record)
    print(json.dumps(record["verdict"], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
