"""Where one fast-path training step of AlexNet (224x224) spends its time: a torch.profiler table.

    python benchmarks/profile_step.py                        # CPU: batch 16, 3 profiled steps
    python benchmarks/profile_step.py --device cuda --batch-size 256 --steps 20

Same step as throughput.py's fast path (DeviceLoader batches, bf16 autocast where supported,
channels_last, SGD). Warm-up steps run first, unprofiled. Prints the operators sorted by their
own device time (CUDA) or CPU time, and the share of the total taken by convolutions, matrix
products and the data path (index + interpolate), so the result is readable at a glance.
"""

from __future__ import annotations

import argparse

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile

import d2lite
from d2lite.run.cli import HelpFormatter, count, positive_int


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument("--device", default=None, help="default: d2lite.try_gpu()")
    p.add_argument("--batch-size", type=positive_int, default=None, help="default: 256 GPU, 16 CPU")
    p.add_argument("--steps", type=positive_int, default=None, help="profiled steps; 20 GPU, 3 CPU")
    p.add_argument("--warmup", type=count, default=3, help="unprofiled steps first")
    p.add_argument("--rows", type=positive_int, default=25, help="rows of the table")
    p.add_argument("--data-dir", default=None, help="default: d2lite's search order")
    args = p.parse_args()
    device = d2lite.resolve_device(args.device)
    gpu = device.type == "cuda"
    batch = args.batch_size or (256 if gpu else 16)
    steps = args.steps or (20 if gpu else 3)
    if gpu:
        torch.backends.cudnn.benchmark = True

    train_iter, _ = d2lite.load_data_fashion_mnist(
        batch, resize=224, data_dir=args.data_dir, device=device, channels_last=True, download=False
    )
    net = d2lite.init_weights(d2lite.alexnet(), seed=0).to(device)
    net.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    batches = iter(train_iter)
    dtype = d2lite.amp_dtype(device, True)  # what d2lite.train(amp=True) runs in here
    amp_ctx, scaler = d2lite.autocast(device, dtype), d2lite.grad_scaler(device, dtype)

    def step() -> None:
        X, y = next(batches)  # the data path (gather + interpolate) is part of the step
        d2lite.train_step(net, X, y, loss_fn, opt, amp_ctx, scaler)

    for _ in range(args.warmup):
        step()
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if gpu else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        d2lite.sync(device)
    events = prof.key_averages()
    key = "self_cpu_time_total"
    if gpu:  # renamed from self_cuda_time_total in recent PyTorch releases
        key = (
            "self_device_time_total"
            if hasattr(events[0], "self_device_time_total")
            else "self_cuda_time_total"
        )
    name = d2lite.device_name(device)
    print(
        f"profile: {steps} fast-path steps, batch {batch}, on {device} ({name}), "
        f"torch {torch.__version__}, {str(dtype).removeprefix('torch.')}; sorted by {key}"
    )
    print(events.table(sort_by=key, row_limit=args.rows))
    times = {e.key: getattr(e, key, 0) or 0 for e in events}
    total = sum(times.values()) or 1
    groups = {
        "convolution": ("conv", "cudnn", "xmma", "implicit", "wgrad", "dgrad", "fprop"),
        "matmul (dense layers)": ("addmm", "mm", "gemm", "linear", "cutlass", "nvjet"),
        "data path (index, interpolate)": ("index", "upsample", "interpolate", "randperm"),
        "dtype casts (bf16 copies)": ("copy_", "_to_copy", "copy_kernel"),
        "optimizer (foreach/fused)": ("sgd", "foreach", "multi_tensor"),
    }
    print("share of profiled " + ("device" if gpu else "CPU") + " time (by op-name match):")
    for label, words in groups.items():
        t = sum(v for k, v in times.items() if any(w in k.lower() for w in words))
        print(f"  {label:<32} {100 * t / total:5.1f}%")
    print(
        f"  per step: {total / steps / 1000:.2f} ms of self time "
        f"-> {batch / (total / steps / 1e6):.0f} examples/s if nothing else ran"
    )


if __name__ == "__main__":
    main()
