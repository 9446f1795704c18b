"""The record of the book's full recipe, trained once: book/runs/full-recipe.json and the conv1
filters beside it (book/runs/full-recipe-conv1.npy), which chapters 4 and 5 show.

    python tools/record_full_run.py     # the run's files in ~/.cache/d2lite: see --help

It reads what the run left behind: the checkpoint (the trained weights), the ``--history`` JSON of
``python -m d2lite train`` (per-epoch loss, accuracy, validation accuracy, seconds, and the final
test evaluation) and the console log that the run's wrapper script appended to, one segment per
start:

    === started 2026-12-05T12:20:07Z on AMD EPYC at commit ec510f4; load: 1.22 1.31 1.30
    === command: .venv/bin/python -m d2lite train --setting full ...
    resumed from ... in epoch 3 after step 120      (the run's own lines)
    [epoch 3/10] step 172/430, 62.2 examples/s ...
    === exit 143 at 2026-12-05T15:00:00Z

From the log come the command, the dates, the wall time (first start to last exit), the time
the run really ran (the sum of its segments) and each interruption, with the steps it lost: the
last step a segment printed minus the step the next one resumed from (a lower bound, since the
progress lines come every fifth of an epoch; 0 after SIGTERM, which saves the exact step).

Then it measures, on this machine: the test set's predictions (per-class recall and the
confusion matrix; the test accuracy must equal the run's own final evaluation), and the rate
of a dense matmul in the run's dtype, against which the run's sustained examples/s gives its
model FLOPs utilisation (MFU). Run it on an idle machine, and on the machine that trained.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

import d2lite

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from common import matmul_rate  # noqa: E402  (benchmarks/common.py)
from throughput import flops_per_example  # noqa: E402  (3 x the forward FLOPs at 224x224)

RECORD = ROOT / "book" / "runs" / "full-recipe.json"
FILTERS = ROOT / "book" / "runs" / "full-recipe-conv1.npy"
CITED = {  # what the book compares this run with; figures from elsewhere, marked as citations
    "tutorial": {"test_acc": 0.923, "source": "the seed tutorial: 100 epochs at batch 1 on a GPU"},
    "d2l": {
        "test_acc": 0.88,
        "source": "Dive into Deep Learning, section 8.1 (AlexNet), 10 epochs",
    },
}

_START = re.compile(r"^=== started (\S+) on (.+) at commit (\S+); load: (.*)$")
_EXIT = re.compile(r"^=== exit (\d+) at (\S+)$")
_STEP = re.compile(r"^\[epoch (\d+)/(\d+)\] step (\d+)/(\d+)")
_RESUMED = re.compile(r"^resumed from \S+ (?:in epoch (\d+) after step (\d+)|after epoch (\d+))")


def _time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def parse_log(text: str) -> list[dict]:
    """The run's segments, one per start of the wrapper script, in order. Each: started,
    ended (None when the segment has no exit line: killed), exit status, CPU, commit, load,
    command, resumed_at and last_seen (global steps: epochs done x steps per epoch + step)."""
    segments: list[dict] = []
    per_epoch = 0
    for line in text.splitlines():
        if m := _START.match(line):
            segments.append(
                dict(
                    started=m[1],
                    ended=None,
                    status=None,
                    cpu=m[2],
                    commit=m[3],
                    load=m[4],
                    command=None,
                    resumed=(0, 0),
                    seen=None,
                )
            )
        elif not segments:
            continue
        elif line.startswith("=== command: "):
            segments[-1]["command"] = line.removeprefix("=== command: ").strip()
        elif m := _EXIT.match(line):
            segments[-1].update(status=int(m[1]), ended=m[2])
        elif m := _STEP.match(line):
            segments[-1]["seen"], per_epoch = (int(m[1]) - 1, int(m[3])), int(m[4])
        elif m := _RESUMED.match(line):  # (epochs done, steps done in the next one)
            segments[-1]["resumed"] = (int(m[1]) - 1, int(m[2])) if m[1] else (int(m[3]), 0)
    for seg in segments:
        seen = seg.pop("seen") or seg["resumed"]
        seg["resumed_at"] = seg["resumed"][0] * per_epoch + seg.pop("resumed")[1]
        seg["last_seen"] = seen[0] * per_epoch + seen[1]
    return segments


def interruptions(segments: list[dict]) -> list[dict]:
    """Each stop before the end, and the steps it lost: what the stopped segment had done
    (its last progress line) and the next segment did not get back."""
    out = []
    for seg, nxt in zip(segments, segments[1:]):
        out.append(
            dict(
                at=seg["ended"],
                how="SIGTERM (exit 143)"
                if seg["status"] == 143
                else "killed (no exit line)"
                if seg["status"] is None
                else f"exit {seg['status']}",
                resumed=nxt["started"],
                resumed_at_step=nxt["resumed_at"],
                steps_lost_at_least=max(0, seg["last_seen"] - nxt["resumed_at"]),
            )
        )
    return out


def run_times(segments: list[dict]) -> dict:
    """Wall time from the first start to the last exit, and the time the run really ran."""
    done = [s for s in segments if s["ended"]]
    ran = sum((_time(s["ended"]) - _time(s["started"])).total_seconds() for s in done)
    return dict(
        started=segments[0]["started"],
        finished=segments[-1]["ended"],
        wall_seconds=round(
            (_time(segments[-1]["ended"]) - _time(segments[0]["started"])).total_seconds()
        ),
        ran_seconds=round(ran),
        segments_without_end=sum(1 for s in segments if not s["ended"]),
    )


def _given_lr(command: str | None) -> float | None:
    """The learning rate the command gave (--lr X or --lr=X); None where it gave none."""
    m = re.search(r"--lr[ =](\S+)", command or "")
    return float(m[1]) if m else None


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next(
        (ln.split(":", 1)[1].split() for ln in text.splitlines() if ln.startswith("flags")), []
    )
    return sorted(f for f in flags if f in ("avx512f", "avx512_bf16", "amx_bf16", "amx_tile"))


def test_set_figures(net: torch.nn.Module, data_dir, amp: bool, images: int) -> dict:
    """Predictions on the test images the run evaluated (all 10,000 for the full recipe),
    evaluated as train evaluated them."""
    _, _, test_iter = d2lite.load_data_fashion_mnist_split(
        256,
        resize=224,
        validation=5000,
        data_dir=data_dir,
        subset=(None, images) if images < 10_000 else None,
        device="cpu",
        channels_last=True,
    )
    net = net.to(memory_format=torch.channels_last)
    with d2lite.autocast(torch.device("cpu"), d2lite.amp_dtype("cpu", amp)):
        labels, preds = d2lite.predict_all(net, test_iter)
    C = d2lite.confusion_matrix(labels, preds)
    recall = (C.diag().double() / C.sum(1).double()).tolist()
    names = d2lite.get_fashion_mnist_labels(range(10))
    return dict(
        images=len(labels),
        acc=round(float((labels == preds).double().mean()), 4),
        per_class_recall={n: round(r, 4) for n, r in zip(names, recall)},
        confusion_matrix=C.tolist(),
        classes=names,
    )


def record(args) -> dict:
    for path in (args.checkpoint, args.history, args.log):
        if not Path(path).is_file():
            sys.exit(f"record_full_run: {path} does not exist: give the run's files (see --help).")
    segments = parse_log(Path(args.log).read_text())
    if not segments or segments[-1]["status"] != 0:
        sys.exit(
            f"record_full_run: {args.log} does not end with '=== exit 0': the run has not "
            "finished. Resume it (the same command with --resume), then record it."
        )
    history = json.loads(Path(args.history).read_text())
    if "test" not in history:
        sys.exit(
            f"record_full_run: {args.history} has no final test evaluation: was the run "
            "made with a validation split (--validation N)?"
        )
    net = d2lite.alexnet()
    state = d2lite.load_checkpoint(args.checkpoint, net)
    print(
        f"checkpoint {args.checkpoint}: epoch {state['epoch']}; log {args.log}: "
        f"{len(segments)} segment(s)",
        flush=True,
    )

    amp = history["amp_dtype"] != "float32"
    test = test_set_figures(net, args.data_dir, amp, history["test"]["images"])
    if abs(test["acc"] - history["test"]["acc"]) > 1e-3:
        sys.exit(
            f"record_full_run: the checkpoint's test accuracy {test['acc']} is not the run's "
            f"own {history['test']['acc']:.4f}: is it the same run's checkpoint?"
        )
    dtype = getattr(torch, history["amp_dtype"])
    steps_images = sum(ex * s for ex, s in zip(history["examples_per_sec"], history["seconds"]))
    sustained = steps_images / sum(history["seconds"])
    per_example = flops_per_example()
    matmul = matmul_rate(torch.device("cpu"), dtype, args.matmul_n)
    epochs = [
        dict(
            epoch=e,
            train_loss=round(loss, 4),
            train_acc=round(a, 4),
            val_acc=round(v, 4),
            seconds=round(s, 1),
            examples_per_sec=round(x, 1),
        )
        for e, loss, a, v, s, x in zip(
            history["epoch"],
            history["train_loss"],
            history["train_acc"],
            history["test_acc"],
            history["seconds"],
            history["examples_per_sec"],
        )
        if e > 0
    ]
    np.save(args.filters, net[0].weight.detach().float().numpy().astype(np.float32))
    first = segments[0]
    return dict(
        command=first["command"],
        lr=_given_lr(first["command"]),
        hardware=dict(
            cpu=first["cpu"],
            flags=_cpu_flags(),
            cores=torch.get_num_threads(),
            device=history["device"],
        ),
        torch=torch.__version__,
        commit=first["commit"],
        amp_dtype=history["amp_dtype"],
        times=run_times(segments),
        interruptions=interruptions(segments),
        epochs=epochs,
        train_images=round(steps_images / len(epochs)),
        final_test=dict(
            acc=round(history["test"]["acc"], 4),
            loss=round(history["test"]["loss"], 4),
            images=history["test"]["images"],
        ),
        test=test,
        speed=dict(
            sustained_examples_per_sec=round(sustained, 1),
            training_flops_per_example=per_example,
            matmul_flops=round(matmul),
            matmul=f"{args.matmul_n}x{args.matmul_n} {history['amp_dtype']}, measured by this tool",
            mfu=round(sustained * per_example / matmul, 4),
        ),
        cited=CITED,
        filters=Path(args.filters).name,
        recorded=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    )


def main(argv=None) -> None:
    cache = Path.home() / ".cache" / "d2lite"
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--checkpoint", default=str(cache / "full-recipe.pt"))
    p.add_argument("--history", default=str(cache / "full-recipe.json"))
    p.add_argument("--log", default=str(cache / "full-recipe.log"))
    p.add_argument("--data-dir", default=None, help="Fashion-MNIST (default: $D2LITE_DATA, data/)")
    p.add_argument("--out", default=str(RECORD))
    p.add_argument("--filters", default=str(FILTERS))
    p.add_argument("--matmul-n", type=int, default=2048)
    args = p.parse_args(argv)
    rec = record(args)
    Path(args.out).write_text(json.dumps(rec, indent=1) + "\n")
    print(
        f"test acc {rec['final_test']['acc']}, MFU {rec['speed']['mfu']:.1%}; "
        f"written: {args.out}, {args.filters}"
    )


if __name__ == "__main__":
    main()
