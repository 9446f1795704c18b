"""Training examples/sec of AlexNet (1x224x224) at several batch sizes, fp32 vs amp=True.

Run:  python benchmarks/batch_size_cpu.py [--batch-sizes 1 32 128] [--seconds 20] [--device cpu]

It backs chapter 4's choice of batch size: each setting trains for about ``--seconds`` of
wall time on real Fashion-MNIST images (resized 28->224 on the device, d2lite's fast path)
after one warm-up step, and prints examples/sec with the hardware. Timing excludes warm-up
and evaluation. On a shared machine wall-clock numbers are noisy: compare the per-CPU-second
column, and run it twice.
"""

import argparse
import datetime
import time

import torch
from torch import nn

import d2lite
from d2lite.run.cli import positive_int


def measure(
    batch_size: int, amp: bool, seconds: float, device: torch.device
) -> tuple[float, float, int]:
    """(examples per wall second, examples per CPU second, steps) over about ``seconds``.

    CPU seconds are this process's user+system time over all its threads
    (``time.process_time``): on a machine shared with other jobs they move far less than wall
    time, so they are the fairer figure for comparing settings. On a GPU use the wall figure.
    """
    torch.manual_seed(0)
    net = d2lite.init_weights(d2lite.alexnet()).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    train_iter, _ = d2lite.load_data_fashion_mnist(
        batch_size, resize=224, subset=(max(4096, batch_size * 4), 16), device=device
    )
    batches = iter(train_iter)
    dtype = d2lite.amp_dtype(device, amp)  # what amp=True runs in here: bf16, fp16 or fp32
    amp_ctx, scaler = d2lite.autocast(device, dtype), d2lite.grad_scaler(device, dtype)

    def step() -> None:
        nonlocal batches
        try:
            X, y = next(batches)
        except StopIteration:
            batches = iter(train_iter)
            X, y = next(batches)
        d2lite.train_step(net, X, y, loss_fn, opt, amp_ctx, scaler)

    step()  # warm-up: allocations, kernel choice
    d2lite.sync(device)
    n, t0, c0 = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds or n == 0:
        step()
        n += 1
    d2lite.sync(device)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return n * batch_size / wall, n * batch_size / cpu, n


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--batch-sizes",
        type=positive_int,
        nargs="+",
        default=[1, 32, 128],
        help="batch sizes to measure (default: 1 32 128)",
    )
    p.add_argument(
        "--seconds",
        type=float,
        default=20.0,
        help="timed wall seconds per setting, after warm-up (default: 20)",
    )
    p.add_argument("--device", default=None, help="default: d2lite.try_gpu()")
    args = p.parse_args()
    device = d2lite.resolve_device(args.device)
    hw = d2lite.device_name(device)
    print(
        f"{datetime.date.today()}  {hw}  ({device}, {torch.get_num_threads()} threads), "
        f"torch {torch.__version__}"
    )
    print("AlexNet 1x224x224, SGD momentum 0.9, data on the device (d2lite fast path)")
    if d2lite.amp_dtype(device, True) == torch.float32:
        print("fp32* = amp asked, but this device has no fast bf16/fp16: d2lite computed float32")
    print(f"{'batch':>6} {'dtype':>6} {'steps':>6} {'examples/s':>11} {'per CPU-s':>10}")
    for b in args.batch_sizes:
        for amp in (False, True):
            eps, per_cpu_s, n = measure(b, amp, args.seconds, device)
            # amp: bf16 or fp16 where fast, else float32 (AVX2-only CPUs, old GPUs, MPS)
            dtype = d2lite.amp_dtype(device, amp)
            label = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(
                dtype, "fp32*" if amp else "fp32"
            )
            print(
                f"{b:>6} {label:>6} {n:>6} {eps:>11.1f} {per_cpu_s:>10.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
