"""The benchmark scripts run end to end on tiny settings and report figures that agree with
themselves; bad arguments stop them with a message before any work starts.

They are measuring tools, so these tests check what they print and write, never how fast
anything is (speed goals live in benchmarks/RESULTS.md, measured with `make bench`).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import d2lite

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run_bench(script: str, *args: str, data: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(BENCH.parent))  # this checkout's d2lite
    if data is not None:
        env["D2LITE_DATA"] = str(data)
    return subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_throughput_reports_both_pipelines_and_their_ratio(fashion_root, tmp_path):
    out = tmp_path / "tp.json"
    r = run_bench(
        "throughput.py",
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--workers",
        "0",
        "--matmul-n",
        "256",
        "--json",
        str(out),
        data=fashion_root,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    info, runs = res["info"], res["runs"]
    assert info["device"] == "cpu" and info["torch"] == torch.__version__
    assert (info["batch_size"], info["steps"], info["warmup"]) == (2, 2, 1)
    for name in ("seed", "fast"):
        run = runs[name]
        assert run["examples"] == 2 * 2 and run["timed_steps"] == 2  # warm-up not counted
        assert run["examples_per_sec"] == pytest.approx(run["examples"] / run["timed_s"])
    ratio = runs["fast"]["examples_per_sec"] / runs["seed"]["examples_per_sec"]
    assert res["ratio"] == pytest.approx(ratio)
    assert f"fast / seed = {ratio:.2f}x" in r.stdout  # the printed ratio is the written one
    # the amp label names what really ran: bf16 only where the CPU has fast bf16 kernels
    bf16 = d2lite.amp_dtype(torch.device("cpu"), True) == torch.bfloat16
    assert ("amp=bf16," in r.stdout) is bf16
    # MFU: achieved model FLOP/s = examples/s x training FLOPs per example, over the matmul rate
    mfu = res["mfu"]
    assert mfu["flops_per_example"] == pytest.approx(3 * alexnet_forward_flops(), rel=1e-6)
    for name in ("seed", "fast"):
        m = mfu[name]
        assert m["achieved_flops"] == pytest.approx(
            runs[name]["examples_per_sec"] * mfu["flops_per_example"]
        )
        assert m["mfu"] == pytest.approx(m["achieved_flops"] / m["matmul_flops"])
        assert m["matmul_flops"] > 0 and f"{name:<5} MFU {100 * m['mfu']:5.1f} %" in r.stdout
    assert mfu["seed"]["dtype"] == "float32"
    assert mfu["fast"]["dtype"] == str(d2lite.amp_dtype("cpu", True)).removeprefix("torch.")


def alexnet_forward_flops() -> int:
    """Forward FLOPs of d2lite's AlexNet at 1x224x224 counted by hand from each layer's output
    shape (a multiply-add = 2 FLOPs): 2 * Cout*H*W * Cin*k*k per convolution, 2 * in * out per
    dense layer. An independent check of trace_shapes' FlopCounterMode figure."""
    net, flops = d2lite.alexnet(), []

    def count(m, inputs, out):
        if isinstance(m, torch.nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            flops.append(2 * out[0].numel() * m.in_channels * k)
        elif isinstance(m, torch.nn.Linear):
            flops.append(2 * m.in_features * m.out_features)

    for m in net.modules():
        m.register_forward_hook(count)
    with torch.no_grad():
        net.eval()(torch.zeros(1, 1, 224, 224))
    return sum(flops)


def test_time_to_accuracy_reports_each_seed_and_the_summary(fashion_root, tmp_path):
    out = tmp_path / "tta.json"
    r = run_bench(
        "time_to_accuracy.py",
        "--device",
        "cpu",
        "--train-subset",
        "64",
        "--test-subset",
        "32",
        "--batch-size",
        "16",
        "--epochs",
        "1",
        "--seeds",
        "2",
        "--target",
        "0.0",
        "1.01",
        "--json",
        str(out),
        data=fashion_root,
    )
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert res["settings"]["train_subset"] == 64 and res["settings"]["seeds"] == 2
    assert [run["seed"] for run in res["runs"]] == [0, 1]
    for run in res["runs"]:
        assert run["epochs"] == 1 and len(run["test_acc_per_epoch"]) == 1
        assert 0.0 <= run["final_acc"] <= 1.0 and run["train_s"] > 0
        seconds, epoch = run["reached"]["0.0"]  # any accuracy reaches 0.0, in epoch 1
        assert epoch == 1 and seconds == pytest.approx(run["train_s"])
        assert run["reached"]["1.01"] is None  # no accuracy reaches 1.01: recorded as not reached
    assert "reached by 2/2 seed(s)" in r.stdout and "reached by 0/2 seed(s)" in r.stdout


def _private_d2lite_names(code: str) -> list[str]:
    """Every private d2lite name ``code`` reaches for: ``d2lite._x``, ``d2lite.m._x``,
    ``from d2lite(.m) import _x``."""
    found = []
    for n in ast.walk(ast.parse(code)):
        if isinstance(n, ast.Attribute) and n.attr.startswith("_"):
            if ast.unparse(n.value).split(".")[0] == "d2lite":
                found.append(ast.unparse(n))
        if isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "d2lite":
            found += [f"{n.module}.{a.name}" for a in n.names if a.name.startswith("_")]
    return found


def test_benchmarks_call_the_library_not_copies_of_it():
    """No benchmark re-implements the training step or reaches for a private d2lite name: the
    figures time the code the book runs (d2lite.train_step)."""
    probe = (
        "import d2lite\nfrom d2lite.run.cli import _typed\nd2lite._x, d2lite.run.cli._y, d2lite.y"
    )
    assert _private_d2lite_names(probe) == [
        "d2lite.run.cli._typed",
        "d2lite._x",
        "d2lite.run.cli._y",
    ]
    for path in sorted(BENCH.glob("*.py")):
        code = path.read_text(encoding="utf-8")
        backward = [
            n.lineno
            for n in ast.walk(ast.parse(code))
            if isinstance(n, ast.Attribute) and n.attr in ("backward", "zero_grad")
        ]
        assert _private_d2lite_names(code) == [], f"{path.name} uses private d2lite names"
        assert backward == [], f"{path.name} has its own training step (lines {backward})"
    assert "d2lite.train_step(" in (BENCH / "throughput.py").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "script, args, message",
    [
        ("throughput.py", ["--steps", "0"], "argument --steps: '0' must be at least 1"),
        ("throughput.py", ["--batch-size", "-1"], "argument --batch-size: '-1' must be at least 1"),
        ("throughput.py", ["--workers", "two"], "argument --workers: 'two' is not an integer"),
        (
            "throughput.py",
            ["--amp", "fp8"],
            "argument --amp: 'fp8' is not auto, bf16, fp16 or fp32",
        ),
        ("time_to_accuracy.py", ["--seeds", "0"], "argument --seeds: '0' must be at least 1"),
        ("batch_size_cpu.py", ["--batch-sizes", "32", "0"], "'0' must be at least 1"),
        ("lr_sweep_cpu.py", ["--epochs", "0"], "argument --epochs: '0' must be at least 1"),
        ("profile_step.py", ["--warmup", "-1"], "argument --warmup: '-1' must be 0 or more"),
    ],
)
def test_bad_arguments_stop_with_a_message(script, args, message):
    r = run_bench(script, *args)
    assert r.returncode == 2  # argparse's usage error, before any data is read
    assert message in r.stderr and "Traceback" not in r.stderr
