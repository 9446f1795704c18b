"""Training throughput of AlexNet at 224x224: the seed's pipeline vs d2lite's fast path.

    python benchmarks/throughput.py                    # CPU-sized default, < 1 min on 2 cores
    python benchmarks/throughput.py --device cuda --batch-size 256 --steps 200 --compile
    python benchmarks/throughput.py --json out.json    # also save every figure

Both pipelines train the same AlexNet (same init, same SGD) in one process on one device, at
the same batch size, and report training examples/sec over the same number of timed steps:

1. seed: torchvision's FashionMNIST with transforms.Resize(224) + ToTensor (PIL, one image at a
   time) in DataLoader worker processes, fp32, NCHW, and the loss/accuracy read back to the
   host after every step (the seed's Accumulator calls float() on them);
2. fast: d2lite's DeviceLoader (uint8 dataset on the device, shuffle + gather + one batched
   F.interpolate there), bf16 autocast where supported, channels_last, metrics kept on the
   device, optionally torch.compile.

Timing: wall clock (time.perf_counter) with a device synchronize before reading the clock, so
the figure includes waiting for data. The warm-up steps (worker start-up, cuDNN autotuning,
torch.compile) are timed separately, and the first step (where compilation happens) on its own.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
import warnings
from collections.abc import Callable, Iterable, Iterator

import torch
import torchvision
from common import load_avg, matmul_rate
from torch import nn
from torchvision import transforms

import d2lite
from d2lite.run.cli import HelpFormatter, amp_choice, count, positive_int

RESIZE = 224  # AlexNet's input side: its first dense layer expects a 256x5x5 map
# The seed used 4 workers whatever the core count; PyTorch warns about that on 2 cores. We keep
# the seed's setting on purpose (it is what we compare against) and silence the warning.
warnings.filterwarnings("ignore", message="This DataLoader will create")


# ---------------------------------------------------------------------------------------------
# The two pipelines: each returns an endless batch iterator and a training-step function
# ---------------------------------------------------------------------------------------------


def torchvision_root(data_dir: str | None) -> str:
    """The folder torchvision wants (the one holding FashionMNIST/raw), found the d2lite way."""
    files = d2lite.find_data_dir(data_dir)
    raw = files["train_images"].parent if files else None
    if raw is None or raw.name != "raw" or raw.parent.name != "FashionMNIST":
        raise SystemExit(
            "The seed's pipeline reads Fashion-MNIST through torchvision, which needs "
            "<root>/FashionMNIST/raw/. Pass --data-dir <root> or set D2LITE_DATA."
        )
    return str(raw.parent.parent)


def forever(loader: Iterable) -> Iterator:
    """Cycle through a loader epoch after epoch (a long GPU run may pass an epoch's end)."""
    while True:
        yield from loader


def seed_pipeline(args, device: torch.device, net: nn.Module, opt: torch.optim.Optimizer):
    """The seed's way: PIL resize per image in workers, fp32, a host read-back every step."""
    trans = transforms.Compose([transforms.Resize(RESIZE), transforms.ToTensor()])
    train = torchvision.datasets.FashionMNIST(
        root=torchvision_root(args.data_dir), train=True, transform=trans, download=False
    )
    loader = torch.utils.data.DataLoader(
        train,
        args.batch_size,
        shuffle=True,
        num_workers=args.workers,  # new workers each epoch,
        pin_memory=device.type == "cuda",
    )  # as in the seed
    loss_fn = nn.CrossEntropyLoss()

    def step(X: torch.Tensor, y: torch.Tensor) -> None:
        X, y = X.to(device), y.to(device)
        loss, y_hat = d2lite.train_step(net, X, y, loss_fn, opt)  # float32: no autocast
        # The seed's Accumulator turns both into Python floats: the host waits for the device.
        float(loss) * len(y), float((y_hat.argmax(1) == y).sum())

    return forever(loader), step


def amp_label(device: torch.device, amp: bool | str) -> str:
    """What --amp really runs in here: bf16, fp16 (with a gradient scaler) or fp32."""
    dtype = d2lite.amp_dtype(device, amp)
    return {torch.bfloat16: "bf16", torch.float16: "fp16+scaler"}.get(dtype, "fp32")


def fast_pipeline(args, device: torch.device, net: nn.Module, opt: torch.optim.Optimizer):
    """d2lite's fast path: data on the device, bf16 autocast, channels_last, no host sync."""
    train_iter, _ = d2lite.load_data_fashion_mnist(
        args.batch_size,
        resize=RESIZE,
        data_dir=args.data_dir,
        device=device,
        channels_last=args.channels_last,
        download=False,
    )
    if args.channels_last:
        net.to(memory_format=torch.channels_last)  # NHWC: what tensor-core convolutions want
    model = torch.compile(net) if args.compile else net
    loss_fn = nn.CrossEntropyLoss()
    dtype = d2lite.amp_dtype(device, args.amp)  # decided once, as d2lite.train does
    amp_ctx, scaler = d2lite.autocast(device, dtype), d2lite.grad_scaler(device, dtype)
    metric = d2lite.Accumulator(2)  # loss sum, correct predictions: 0-d tensors on the device

    def step(X: torch.Tensor, y: torch.Tensor) -> None:
        loss, y_hat = d2lite.train_step(model, X, y, loss_fn, opt, amp_ctx, scaler)
        metric.add(loss * len(y), (y_hat.argmax(1) == y).sum())  # stays on the device

    return forever(train_iter), step


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def measure(name: str, make: Callable, args, device: torch.device) -> dict:
    """Build one pipeline, run its warm-up steps, then time ``args.steps`` training steps."""
    d2lite.set_seed(args.seed)
    net = d2lite.init_weights(d2lite.alexnet()).to(device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)  # same for both pipelines
    t0 = time.perf_counter()
    batches, step = make(args, device, net, opt)
    X, y = next(batches)  # the first batch: worker start-up / copying the dataset to the device
    setup_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    step(X, y)  # first step: torch.compile, cuDNN autotuning, allocator growth happen here
    d2lite.sync(device)
    first_step_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(args.warmup - 1):
        step(*next(batches))
    d2lite.sync(device)
    warmup_rest_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for _ in range(args.steps):
        step(*next(batches))  # data loading is inside the timed region on purpose
    d2lite.sync(device)
    seconds = time.perf_counter() - t0
    examples = args.steps * args.batch_size
    result = dict(
        pipeline=name,
        setup_s=setup_s,
        first_step_s=first_step_s,
        warmup_rest_s=warmup_rest_s,
        timed_steps=args.steps,
        timed_s=seconds,
        examples=examples,
        examples_per_sec=examples / seconds,
    )
    print(
        f"  {name:<5} {result['examples_per_sec']:10.1f} ex/s  ({examples} examples in "
        f"{seconds:.2f} s; setup {setup_s:.2f} s, first step {first_step_s:.2f} s, "
        f"other {args.warmup - 1} warm-up step(s) {warmup_rest_s:.2f} s)",
        flush=True,
    )
    batches.close()  # stop the seed's workers now: left running, they would keep prefetching
    del batches  # and steal CPU from the next pipeline (measured: fast 80 -> 17 ex/s on 2 cores)
    gc.collect()
    return result


def flops_per_example() -> int:
    """Training FLOPs per example: the forward FLOPs that d2lite.trace_shapes counts (PyTorch's
    FlopCounterMode, a multiply-add = 2) at 224x224, times 3 (backward costs about twice the
    forward: gradients of the inputs and of the weights)."""
    rows = d2lite.trace_shapes(d2lite.alexnet(), torch.zeros(1, 1, RESIZE, RESIZE))
    return 3 * sum(r.flops for r in rows)


def model_flops_utilisation(runs: dict, args, device: torch.device) -> dict:
    """Each pipeline's achieved model FLOP/s and its share of a dense matmul's rate, measured
    now, on the same device, in the dtype that pipeline computes in."""
    per_example = flops_per_example()
    dtypes = {"seed": torch.float32, "fast": d2lite.amp_dtype(device, args.amp)}
    rates: dict[str, float] = {}
    out = {"flops_per_example": per_example, "matmul_n": args.matmul_n}
    for name, run in runs.items():
        label = str(dtypes[name]).removeprefix("torch.")
        if label not in rates:
            rates[label] = matmul_rate(device, dtypes[name], args.matmul_n)
        achieved = run["examples_per_sec"] * per_example
        mfu = achieved / rates[label]
        out[name] = dict(dtype=label, achieved_flops=achieved, matmul_flops=rates[label], mfu=mfu)
        print(
            f"  {name:<5} MFU {100 * mfu:5.1f} %  ({achieved / 1e9:.0f} GFLOP/s of model FLOPs "
            f"[{per_example / 1e9:.2f} GFLOP per example] vs {rates[label] / 1e9:.0f} GFLOP/s "
            f"for a {args.matmul_n}x{args.matmul_n} {label} matmul)"
        )
    return out


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=HelpFormatter)
    p.add_argument(
        "--device",
        default=None,
        help="cuda, cuda:1, mps or cpu; default: d2lite.try_gpu() (cuda > mps > cpu)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        default=None,
        help="same for both pipelines; default: 128 on a GPU (the issue's figure), "
        "32 on a CPU (so the whole run stays under a minute on 2 cores)",
    )
    p.add_argument(
        "--steps",
        type=positive_int,
        default=None,
        help="timed steps per pipeline; default: 100 on a GPU, 6 on a CPU",
    )
    p.add_argument(
        "--warmup",
        type=positive_int,
        default=None,
        help="untimed steps first (>= 1); default: 10 on a GPU, 2 on a CPU",
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the fast path's model")
    p.add_argument(
        "--amp",
        type=amp_choice,
        default=True,
        help="the fast path's autocast dtype: auto (d2lite.amp_dtype's choice for the device: "
        "bf16, fp16 with a scaler, or fp32), bf16, fp16 or fp32 (default: auto)",
    )
    p.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="channels_last (NHWC) memory format in the fast path",
    )
    p.add_argument(
        "--workers",
        type=count,
        default=4,
        help="DataLoader workers of the seed's pipeline (the seed used 4)",
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="folder holding FashionMNIST/raw; default: d2lite's search order "
        "($D2LITE_DATA, the project's data/, Debian's package folder)",
    )
    p.add_argument(
        "--only",
        choices=["seed", "fast"],
        default=None,
        help="run one pipeline only (e.g. for profiling)",
    )
    p.add_argument(
        "--matmul-n",
        type=positive_int,
        default=2048,
        help="side of the square matmul whose rate is MFU's denominator",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (init and shuffling)")
    p.add_argument("--json", default=None, help="also write every figure to this JSON file")
    return p.parse_args()


def main() -> dict:
    args = parse_args()
    device = d2lite.resolve_device(args.device)
    gpu = device.type == "cuda"
    args.batch_size = args.batch_size or (128 if gpu else 32)
    args.steps = args.steps or (100 if gpu else 6)
    args.warmup = max(1, args.warmup if args.warmup is not None else (10 if gpu else 2))
    if gpu:
        torch.backends.cudnn.benchmark = True  # both pipelines: fastest conv per input shape

    info = dict(
        device=str(device),
        device_name=d2lite.device_name(device),
        torch=torch.__version__,
        torchvision=torchvision.__version__,
        cpu_cores=os.cpu_count(),
        torch_threads=torch.get_num_threads(),
        load_avg_before=load_avg(),
        batch_size=args.batch_size,
        steps=args.steps,
        warmup=args.warmup,
        workers=args.workers,
        amp=args.amp,
        channels_last=args.channels_last,
        compile=args.compile,
        resize=RESIZE,
        time=time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    )
    print(
        f"AlexNet {RESIZE}x{RESIZE} training throughput on {device} ({info['device_name']}), "
        f"torch {torch.__version__}, {os.cpu_count()} CPU cores, "
        f"{torch.get_num_threads()} torch threads, load average {info['load_avg_before']}"
    )
    print(
        f"  batch {args.batch_size}, {args.warmup} warm-up + {args.steps} timed steps each; "
        f"seed: PIL resize in {args.workers} workers, fp32; fast: DeviceLoader, "
        f"amp={amp_label(device, args.amp)}, channels_last={args.channels_last}, "
        f"compile={args.compile}",
        flush=True,
    )

    runs = {}
    if args.only in (None, "seed"):
        runs["seed"] = measure("seed", seed_pipeline, args, device)
    if args.only in (None, "fast"):
        runs["fast"] = measure("fast", fast_pipeline, args, device)
    info["load_avg_after"] = load_avg()
    result = dict(info=info, runs=runs)
    if len(runs) == 2:
        result["ratio"] = runs["fast"]["examples_per_sec"] / runs["seed"]["examples_per_sec"]
        print(
            f"  fast / seed = {result['ratio']:.2f}x  (load average after: "
            f"{info['load_avg_after']})"
        )
    result["mfu"] = model_flops_utilisation(runs, args, device)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return result


if __name__ == "__main__":
    main()
