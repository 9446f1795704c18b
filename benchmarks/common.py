"""Small helpers shared by the benchmark scripts that the library has no use for: the machine's
load and its matmul rate. What they share with the library (d2lite.sync, the argparse types and
help formatter of d2lite.run.cli) they import from it.

The scripts run as `python benchmarks/NAME.py`, so Python finds this file beside them.
"""

from __future__ import annotations

import os
import time

import torch

import d2lite


def load_avg() -> str:
    """The 1/5/15-minute load average (the machine may be shared: timings are noisy then)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def matmul_rate(device: torch.device, dtype: torch.dtype, n: int = 2048, repeats: int = 3) -> float:
    """FLOP/s of an n x n @ n x n matmul in ``dtype`` on ``device``: best of ``repeats`` timings
    of a few back-to-back products, after one warm-up product (2 n^3 FLOPs each)."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up: kernel choice, allocation
    d2lite.sync(device)
    flops = 2 * n**3
    per_repeat = max(1, int(2e10 // flops))  # about 20 GFLOP a timing: long enough for a clock
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_repeat):
            a @ b
        d2lite.sync(device)
        best = max(best, per_repeat * flops / (time.perf_counter() - t0))
    return best
