"""Small helpers shared by the benchmark scripts: what we run on, clocks, argparse help.

The scripts run as `python benchmarks/NAME.py`, so Python finds this file beside them.
"""

from __future__ import annotations

import argparse
import os
import time

import torch


def sync(device: torch.device) -> None:
    """Wait for queued device work, so a host clock read afterwards means something."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_avg() -> str:
    """The 1/5/15-minute load average (the machine may be shared: timings are noisy then)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


class Help(argparse.ArgumentDefaultsHelpFormatter):
    """Show "(default: ...)" except where the help text already explains a None default."""

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)


def positive_int(text: str) -> int:
    """argparse type: a whole number >= 1, with a message that says what was wrong."""
    return _int_at_least(text, 1)


def count(text: str) -> int:
    """argparse type: a whole number >= 0 (e.g. worker processes)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
    return value


def amp_choice(text: str) -> bool | str:
    """argparse type for --amp: auto (the device's fast dtype, d2lite.amp_dtype), bf16, fp16,
    fp32."""
    key = text.strip().lower()
    if key == "auto":
        return True
    if key in ("bf16", "fp16", "fp32"):
        return key
    raise argparse.ArgumentTypeError(f"expected auto, bf16, fp16 or fp32, got {text!r}")


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 3) -> float:
    """FLOP/s of an n x n @ n x n matmul in ``dtype`` on ``device``: best of ``repeats`` timings
    of a few back-to-back products, after one warm-up product (2 n^3 FLOPs each)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up: kernel choice, allocation
    sync(device)
    flops = 2 * n**3
    per_repeat = max(1, int(2e10 // flops))  # about 20 GFLOP a timing: long enough for a clock
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_repeat):
            a @ b
        sync(device)
        best = max(best, per_repeat * flops / (time.perf_counter() - t0))
    return best
