# ---
# jupyter:
#   jupytext:
#     formats: book///ipynb,notebooks///py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 6 Beyond one GPU
#
# In 2012 AlexNet was too big for one graphics card, so its authors cut the network in two.
# Today the network fits easily and the problem is time: we give every GPU a whole copy of the
# model and a slice of each batch. This chapter shows what that takes, runs it with two
# processes on this machine's CPU, and checks that two processes sharing each batch train like
# one process taking it whole, to float32 rounding.
#
# **What you will learn**
#
# - how AlexNet split one model across two GPUs in 2012 (model parallelism), and why today's
#   default is a full copy of the model per GPU (data parallelism);
# - what `DistributedDataParallel` (DDP) does in each step, and why averaging the gradients of
#   $N$ shards gives the gradient of the whole global batch;
# - rank, local rank and world size; sharding the data and `set_epoch`; the `module.` prefix in
#   checkpoints;
# - how the global batch changes the learning rate (the linear scaling rule);
# - how to launch training with `torchrun` from a terminal, from a notebook, on several
#   machines and under SLURM;
# - what to expect from $N$ GPUs, worked out on paper for AlexNet: when communication eats
#   the speed-up.
#
# ```{note}
# **What runs** in each setting; the time this page took, with its setting and hardware, is in
# the run note under the title (on the website) and in the notebook's metadata under `d2lite`.
#
# - **CPU setting** (what produced the outputs on this page): two runs of 4 steps on a global
#   batch of 256 (1 process × 256 images, then 2 processes × 128); most of the page's time goes
#   into these two runs, each of which starts its own Python processes.
# - **Quick setting** (what the tests run): two runs of 2 steps on a global batch of 128
#   (1 × 128 and 2 × 64).
# - **Full setting**: with 2 or more CUDA GPUs, one process per GPU (NCCL); otherwise the CPU
#   setting's runs. Not measured: no multi-GPU machine was available for this book.
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# The knobs are those of the two training runs compared in section 6.7: how many processes,
# how many images each process takes per step, and how many steps. Each run trains on exactly
# one global batch of images, so one epoch is one step and the per-epoch losses that
# `d2lite.train` records are per-step losses. `d2lite.setting()` picks `FULL` with a GPU and `CPU`
# without one; the quick setting (`D2LITE_QUICK=1`) is what the tests run.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # "full" with a GPU, "cpu" without one, "quick" in the tests
FULL = dict(
    nproc=None,  # None: one process per GPU when CUDA has 2 or more, else 2 CPU processes
    batch_per_process=128,  # images per process per step; the global batch is nproc times this
    epochs=4,  # 4 steps to compare (one global batch of training images: 1 step an epoch)
    n_test=128,  # test images evaluated after each epoch, in both runs
)
CPU = dict(
    nproc=2,  # 2 processes on the CPU (gloo), sharing its cores
    batch_per_process=128,  # global batch 256: 1 x 256 against 2 x 128
    epochs=4,
    n_test=128,
)
QUICK_SETTING = dict(
    nproc=2,
    batch_per_process=64,  # global batch 128: 1 x 128 against 2 x 64, as tests/test_ddp.py
    epochs=2,  # 2 steps: seconds per run on 2 idle cores
    n_test=64,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}, "
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} setting: {S}")

# %% tags=["hide-input"]
import json
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

print("CJK font:", d2lite.use_cjk_font())

# %% tags=["hide-input"]
n_gpus = torch.cuda.device_count()
NPROC = S["nproc"] or (n_gpus if n_gpus >= 2 else 2)  # processes of the runs in section 6.7
DEVICE = "cuda" if S["nproc"] is None and n_gpus >= 2 else "cpu"
CPU_NAME = d2lite.device_name("cpu")
print(f"{n_gpus} CUDA GPU(s); CPU: {CPU_NAME}, {os.cpu_count()} cores; torch {torch.__version__}")
print(f"section 6.7 runs {NPROC} processes on {DEVICE} ({'NCCL' if DEVICE == 'cuda' else 'gloo'}), "
      f"{S['batch_per_process']} images each per step")

# %% [markdown]
# ## 6.1 2012: one model on two GPUs
#
# AlexNet was trained on two NVIDIA GTX 580 cards with 3 GB of memory each, for five to six days.
# Its 60 million parameters, their gradients and the activations of a batch of 128 images did not
# fit comfortably on one card (chapter 2 did the count), so Krizhevsky, Sutskever and Hinton put
# **half of every layer's kernels on each GPU**. The two halves talked only at certain layers:
# the third convolution and the dense layers read the feature maps of both GPUs, the others only
# those on their own card. Splitting one model across devices like this is called **model
# parallelism**.
#
# Splitting a layer by its kernels is exact: each card computes its share of the output
# channels, and putting the shares side by side gives the full layer. Here is conv2 (96 → 256
# channels) cut in two halves of 128 kernels.

# %%
net = d2lite.alexnet()
conv2 = net[3]  # Conv2d(96, 256, 5x5): chapter 2's second convolution
w, b = conv2.weight.detach(), conv2.bias.detach()  # (256, 96, 5, 5), (256,)
X = torch.randn(2, 96, 26, 26)  # (B, 96, 26, 26): what conv1 and its pooling hand to conv2
full = F.conv2d(X, w, b, padding=2)  # one device, all 256 kernels: (2, 256, 26, 26)
gpu0 = F.conv2d(X, w[:128], b[:128], padding=2)  # "GPU 0": kernels 0-127 -> (2, 128, 26, 26)
gpu1 = F.conv2d(X, w[128:], b[128:], padding=2)  # "GPU 1": kernels 128-255
print("max |full - (GPU 0 | GPU 1)|:", torch.cat([gpu0, gpu1], dim=1).sub(full).abs().max().item())

# %% [markdown]
# The price is communication *inside* every forward and backward pass, wherever a layer needs
# maps held by the other card, and a design that depends on the number of GPUs. Memory grew
# faster than AlexNet: this book's version has 46.8 million parameters, 187 MB in float32, and
# an H200 has 141 GB. So the same network now fits on every GPU many times over, and chapter 2's
# count says where its weight sits.

# %%
rows = [r for r in d2lite.trace_shapes(net, torch.zeros(1, 1, 224, 224)) if r.params]
names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
total = sum(p.numel() for p in net.parameters())
forward_flops = sum(r.flops for r in rows)  # per image
dense = [r for r in rows if r.layer == "Linear"]
dense_params = d2lite.glue("dense_param_share", round(sum(r.params for r in dense) / total, 3))
dense_flops = d2lite.glue("dense_flop_share", round(sum(r.flops for r in dense) / forward_flops, 3))
conv_flops = d2lite.glue("conv_flop_share", round(1 - dense_flops, 3))
print(f"{total:,} parameters ({total / 1e6:.1f} M), {total * 4 / 1e6:.0f} MB in float32")
print(f"dense layers fc6-fc8: {dense_params:.1%} of the parameters, {dense_flops:.1%} of the "
      f"FLOPs; the convolutions: {conv_flops:.1%} of the FLOPs")

# %% [markdown]
# ## 6.2 Today: a full copy per GPU
#
# **Data parallelism** keeps the model whole and splits the data. Each of $N$ processes holds a
# complete replica and drives one GPU; each step, every process takes its own $b$ examples, so
# together they work on a **global batch** of $B = N b$. If each process computes the gradient of
# its mean loss $\frac{1}{b}\sum_{i \in S_k} \ell_i(\mathbf w)$ on its shard $S_k$, the average of
# these $N$ gradients is exactly the gradient of the mean loss over the global batch:
#
# $$\frac{1}{N}\sum_{k=1}^{N} \nabla \frac{1}{b}\sum_{i \in S_k} \ell_i(\mathbf w)
#   = \nabla \frac{1}{N b}\sum_{i \in S_1 \cup \dots \cup S_N} \ell_i(\mathbf w).$$
#
# Let us check it in this one process: the gradient on 8 images against the average of the
# gradients on two shards of 4 (dropout off, since its random masks would differ).

# %%
d2lite.set_seed(0)
model = d2lite.init_weights(d2lite.alexnet(dropout=0))
loader, _ = d2lite.load_data_fashion_mnist(8, resize=224, subset=(8, 8), device="cpu")
X, y = next(iter(loader))  # (8, 1, 224, 224): a global batch of N*b = 2*4 images


def gradient(X, y):
    """The gradient of the mean cross-entropy over (X, y), flattened into one vector."""
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


g_global = gradient(X, y)
g_mean = (gradient(X[:4], y[:4]) + gradient(X[4:], y[4:])) / 2  # 2 "processes" of 4
print(f"{g_global.numel():,} gradient values; max |global - mean of shards| = "
      f"{(g_global - g_mean).abs().max():.1e} (largest value {g_global.abs().max():.1e})")

# %% [markdown]
# The identity needs a loss that is a plain mean over examples. A layer whose output depends on
# the whole batch breaks it: BatchNorm normalises with each process's own batch statistics
# (PyTorch's `SyncBatchNorm` shares them), and AlexNet has none. Dropout draws different masks in
# each process, which changes the noise, not the correctness.
#
# ## 6.3 What DDP does in one step
#
# `torch.nn.parallel.DistributedDataParallel` wraps the model. When it is created it copies rank
# 0's weights to every process, so all replicas start equal. Then, every step:
#
# 1. **forward** on the local shard, as if alone;
# 2. **backward**: as gradients come out, DDP groups them into **buckets** of about 25 MB
#    (`bucket_cap_mb=25`, in MiB) and, as soon as a bucket is complete, starts an
#    **all-reduce** of it (a sum over all processes, divided by $N$) while the backward pass
#    carries on through the earlier layers: communication overlaps computation;
# 3. **optimizer step** in every process, with the same averaged gradient on the same weights:
#    the replicas stay identical without any weights ever being sent.
#
# Backward produces gradients from the last layer to the first. Filling 25 MB buckets in that
# order shows what AlexNet's first buckets hold:

# %%
BUCKET_BYTES = 25 * 2**20  # DDP's default bucket_cap_mb=25
layer_of = dict(zip(["0", "3", "6", "8", "10", "14", "17", "20"], names))  # module index -> name
buckets, current, size = [], [], 0
for key, p in reversed(list(model.named_parameters())):  # the order backward produces them
    index, kind = key.split(".")  # "14.weight" -> fc6.weight
    current.append(f"{layer_of[index]}.{kind}")
    size += p.numel() * 4  # float32 gradient bytes
    if size >= BUCKET_BYTES:  # a bucket closes once it holds at least 25 MiB
        buckets.append((current, size))
        current, size = [], 0
buckets += [(current, size)] if current else []
for i, (keys, nbytes) in enumerate(buckets):
    print(f"bucket {i}: {nbytes / 1e6:6.1f} MB  {', '.join(keys)}")

# %% [markdown]
# The dense layers' gradients, {glue:text}`dense_param_share:.0%` of the bytes (section 6.1's
# count), are complete right at the start of the backward pass, and the convolutions, which do
# {glue:text}`conv_flop_share:.0%` of the arithmetic, are still to come: their backward
# hides most of the communication. (A large tensor gets a bucket to itself, whatever the cap.
# DDP's own rule, in its C++ `Reducer`, starts with one bucket and rebuilds the buckets after the
# first step in the order the gradients actually arrived; DDP's logging in torch 2.14 with two
# gloo processes reported exactly these three: 67.3, 104.9 and 14.9 MB.)
#
# How does an all-reduce move the data? NCCL's usual algorithm, the **ring**, arranges the $N$
# GPUs in a circle and cuts the $S$ bytes of gradients into $N$ chunks. In $N-1$ rounds of
# *reduce-scatter* each GPU passes one chunk to its neighbour and adds the one it receives, until
# every GPU holds one chunk fully summed; in $N-1$ rounds of *all-gather* the summed chunks go
# round the circle. Each GPU sends, and receives,
#
# $$2\,\frac{N-1}{N}\,S \text{ bytes per step,}$$
#
# almost $2S$ however many GPUs there are: the ring's cost per GPU does not grow with $N$, which is
# why data parallelism scales. Section 6.9 puts numbers on it.
#
# ## 6.4 Processes, ranks and `torchrun`
#
# DDP runs one **process** per GPU. `torchrun` starts them and tells each who it is through
# environment variables. **`WORLD_SIZE`** is the number of processes in the job, over all
# machines; **`RANK`** numbers them 0 … `WORLD_SIZE`−1 over all machines (rank 0 prints and saves);
# **`LOCAL_RANK`** numbers them 0 … $n$−1 on *this* machine, and says which GPU to drive. On two
# machines with four GPUs each:
#
# | machine | `LOCAL_RANK` | `RANK` | `WORLD_SIZE` |
# | --- | --- | --- | --- |
# | 0 | 0, 1, 2, 3 | 0, 1, 2, 3 | 8 |
# | 1 | 0, 1, 2, 3 | 4, 5, 6, 7 | 8 |
#
# From a terminal, in the repository, the book's training runs as one process or, with the same
# options, as several:
#
# ```bash
# python -m d2lite train --setting quick                       # 1 process
# torchrun --nproc_per_node=2 -m d2lite train --setting cpu    # 2 processes on this machine
# torchrun --nproc_per_node=4 -m d2lite train --setting full   # 4 GPUs: cuda:0 ... cuda:3
# python -m d2lite train --help                                # every option, with its default
# ```
#
# From a notebook we start the same commands as subprocesses, from the repository root (the
# folder that holds the `d2lite` package), with `python -m torch.distributed.run`, which is what
# the `torchrun` command runs. The helper below runs one, keeps the lines worth reading, and shows
# the command with file names instead of this machine's paths.

# %%
ROOT = Path(d2lite.__file__).resolve().parents[1]  # d2lite/__init__.py -> the repository root
WORK = tempfile.TemporaryDirectory(prefix="d2lite-ch6-")  # the runs' files, deleted once read
TMP = Path(WORK.name)


def shown(cmd: list[str]) -> str:
    """The command as you would type it: `python`, and file names instead of full paths."""
    words = ["python" if a == sys.executable else Path(a).name if a.startswith(str(TMP)) else a
             for a in cmd]
    return " \\\n    ".join(textwrap.wrap(" ".join(words), 88, break_on_hyphens=False))


def run(cmd: list[str], keep: tuple[str, ...]) -> tuple[list[str], float]:
    """Run cmd from the repository root; return its output lines that contain one of the
    words in keep, and the wall-clock seconds it took (process start-up included)."""
    print("$", shown(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:  # d2lite's own "error:" line first: torchrun's report buries it
        said = [line for line in proc.stderr.splitlines() if "error:" in line]
        raise RuntimeError(f"exit status {proc.returncode}: {' / '.join(said)}\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return [line for line in proc.stdout.splitlines() if any(k in line for k in keep)], seconds


# %% [markdown]
# First a ten-line script, started twice by `torchrun`: each process joins the process group,
# prints what `torchrun` told it, and all-reduces a stand-in "gradient" (its rank + 1). The CPU
# backend is **gloo**; on GPUs it would be NCCL (see the note below).

# %%
WHO = """\
import os

import torch
import torch.distributed as dist

dist.init_process_group("gloo")  # torchrun's environment says where the other processes are
rank, world = dist.get_rank(), dist.get_world_size()
grad = torch.tensor([rank + 1.0])  # a stand-in for this process's gradient
dist.all_reduce(grad)  # the sum over all processes, now in every process
print(f"RANK={os.environ['RANK']} LOCAL_RANK={os.environ['LOCAL_RANK']} "
      f"WORLD_SIZE={os.environ['WORLD_SIZE']}: my gradient {rank + 1}, "
      f"all-reduced sum {grad.item():g}, mean {grad.item() / world:g}")
dist.destroy_process_group()
"""
(TMP / "who.py").write_text(WHO)
lines, seconds = run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                      "--nproc_per_node=2", str(TMP / "who.py")], keep=("RANK=",))
print(*sorted(lines), sep="\n")  # the two processes print in either order
print(f"({seconds:.1f} s, most of it starting Python and importing torch three times)")

# %% [markdown]
# ```{admonition} NCCL or gloo?
# :class: note
# The process group needs a *backend*, the library that carries out the collectives.
# **NCCL** (NVIDIA's Collective Communications Library) works on GPU memory directly: it runs the
# all-reduce as GPU kernels, uses NVLink/NVSwitch between the GPUs of a machine and InfiniBand or
# RoCE (with GPUDirect RDMA) between machines, and never copies the gradients through the CPU.
# It only handles CUDA tensors. **gloo** (from Meta) works on CPU tensors over TCP: the choice for
# CPU training, for a machine without NVIDIA GPUs, and for small control messages.
# `d2lite.init_distributed` picks NCCL when the device is a CUDA GPU (each process pinned to
# `cuda:LOCAL_RANK`) and gloo otherwise; it also keeps a small gloo group for the flags the
# processes agree on (stop now? save now?), so those never wait for the GPU.
# ```
#
# ## 6.5 Each process its own shard: the sampler and `set_epoch`
#
# Every process must see different examples, and together all of them, without having to talk.
# PyTorch's `DistributedSampler` does this with a shared seed: every process draws the *same*
# permutation of the data for the epoch, and process `rank` takes every `world_size`-th
# example from position `rank`. `d2lite.DeviceLoader` shards the same way (the tests compare it
# with `DistributedSampler`). Here are the shards of 12 examples for 2 processes:

# %%
images, labels = torch.zeros(12, 28, 28, dtype=torch.uint8), torch.arange(12)  # label = index
shards = [d2lite.DeviceLoader(images, labels, 3, shuffle=True, seed=0, rank=r, world_size=2)
          for r in range(2)]
for epoch in range(2):
    for shard in shards:
        shard.set_epoch(epoch)  # this epoch's permutation: seed + epoch
    seen = [torch.cat([y for _, y in shard]).tolist() for shard in shards]
    print(f"epoch {epoch}: rank 0 {seen[0]}, rank 1 {seen[1]}; "
          f"disjoint and complete: {sorted(seen[0] + seen[1]) == list(range(12))}")

# %% [markdown]
# The permutation is drawn from `seed + epoch`, so the sampler must be told the epoch. Forget
# `sampler.set_epoch(epoch)` in your own loop and every epoch repeats epoch 0's order, silently:
# no error, just worse shuffling. `d2lite.train` calls it before each epoch.

# %%
forgetful = d2lite.DeviceLoader(images, labels, 3, shuffle=True, seed=0, rank=0, world_size=2)
orders = [torch.cat([y for _, y in forgetful]).tolist() for _ in range(2)]  # no set_epoch
print(f"without set_epoch: {orders[0]} then {orders[1]}: the same order every epoch")

# %% [markdown]
# ## 6.6 The global batch and the learning rate
#
# With $N$ processes of $b$ examples, one step averages $B = Nb$ gradients and the run takes $N$
# times fewer steps per epoch. SGD with a mean gradient over $B$ examples takes steps of about the
# same length whatever $B$ is, so with fewer steps it travels less far per epoch. The **linear
# scaling rule** compensates: when the batch is multiplied by $k$, multiply the learning rate by
# $k$. Goyal et al. (2017, *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*) trained
# ResNet-50 on 256 GPUs with a global batch of 8,192[^goyal] and $\eta = 0.1 \cdot B / 256$ to the
# accuracy of batch 256, with a **warm-up**: the rate grows linearly from the small-batch value
# over the first 5 epochs[^goyal], because the large rate is unstable while the weights are still
# far from good ones. Beyond about 8k the rule broke down in their experiments. This book states
# these results as context; it has not measured them.
#
# `python -m d2lite train` applies the rule: `--batch-size` is per process, and the default
# learning rate is `d2lite.BASE_LR` times the number of processes (no warm-up). `BASE_LR` is the
# rate that the full setting's learning-rate screen chose for batch 128 (chapter 4, recorded in
# the repository's `book/runs/lr-screen-full.json`), {glue:text}`screen_lr:g`; the cell reads the
# record and checks that the two agree.
#
# [^goyal]: P. Goyal et al., *Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*,
#     [arXiv](https://arxiv.org/abs/1706.02677), 2017: ResNet-50 on ImageNet, 256 GPUs, minibatches of up to 8,192 images,
#     a gradual warm-up over the first 5 epochs.

# %%
screen = d2lite.load_record("lr-screen-full")  # chapter 4's screen of the full setting
chosen = d2lite.glue("screen_lr", screen["verdict"]["chosen_lr"])
assert d2lite.BASE_LR == chosen, "BASE_LR is no longer the rate the recorded screen chose"
print(f"the full setting's screen chose lr {chosen:g} for batch 128: d2lite.BASE_LR")
for n in (1, 2, 4, 8):
    print(f"{n} process(es) x batch 128 = global batch {n * 128:5d}: "
          f"default lr {d2lite.BASE_LR * n:g}")

# %% [markdown]
# ## 6.7 Two processes against one: the same training
#
# If DDP does what section 6.2 says, $N$ processes of $b$ examples and one process of $N b$
# examples compute the same gradients and take the same steps. We run both with the command line
# of `d2lite`, here on the CPU (`--device cpu`, gloo), and compare the losses step by step and
# the final weights. To make them agree to float32 rounding we switch off what would differ
# for other reasons: `--dropout 0` (the masks are random per process), `--amp fp32`
# (bf16 rounds differently for different batch shapes), `--deterministic` and
# `--no-channels-last`; `--weight-decay 0` and the same `--lr 0.01` for both, since both train on
# the same global batch. The two runs see the same images in the same order: the global batch of
# step $k$ is the same set of images whether one process takes it or two share it.

# %%
n, b = NPROC, S["batch_per_process"]
COMMON = ["--subset", f"{n * b},{S['n_test']}",  # one global batch of training images
          "--epochs", str(S["epochs"]), "--lr", "0.01", "--device", DEVICE,
          "--amp", "fp32", "--dropout", "0", "--deterministic", "--no-channels-last",
          "--weight-decay", "0"]
SHOW = ("global batch", "loss ", "examples/sec")  # the lines worth reading
lines, seconds_one = run([sys.executable, "-m", "d2lite", "train", *COMMON,
                          "--batch-size", str(n * b), "--checkpoint", str(TMP / "one.pt"),
                          "--history", str(TMP / "one.json")], keep=SHOW)
print(*lines, sep="\n")
print(f"({seconds_one:.0f} s)")

# %% [markdown]
# Now the same training as $N$ processes of $b$ images, launched the way a terminal would
# launch `torchrun`:

# %%
lines, seconds_two = run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          f"--nproc_per_node={n}", "-m", "d2lite", "train", *COMMON,
                          "--batch-size", str(b), "--checkpoint", str(TMP / "two.pt"),
                          "--history", str(TMP / "two.json")], keep=SHOW)
print(*lines, sep="\n")
print(f"({seconds_two:.0f} s)")

# %% [markdown]
# Only rank 0 printed. Each run wrote its history (`--history`, JSON) and its final weights
# (`--checkpoint`); side by side:

# %%
h1, h2 = (json.loads((TMP / f"{name}.json").read_text()) for name in ("one", "two"))
w1, w2 = (torch.load(TMP / f"{name}.pt", map_location="cpu", weights_only=True)["model"]
          for name in ("one", "two"))
WORK.cleanup()  # both runs' files are read: the two checkpoints (weights and momentum) go now
print(f"step   1 x {n * b} loss   {n} x {b} loss    |difference|")
for step, (l1, l2) in enumerate(zip(h1["train_loss"], h2["train_loss"]), start=1):
    print(f"{step:4d}   {l1:.7f}     {l2:.7f}     {abs(l1 - l2):.1e}")
loss_diff = d2lite.glue("ddp_loss_diff", max(abs(l1 - l2)
                                               for l1, l2 in zip(h1["train_loss"], h2["train_loss"])))
weight_diff = d2lite.glue("ddp_weight_diff", max((w1[k] - w2[k]).abs().max().item() for k in w1))
print(f"max |loss diff| {loss_diff:.1e}, max |weight diff| {weight_diff:.1e} over "
      f"{sum(v.numel() for v in w1.values()):,} weights; test accuracy {h1['test']['acc']:.4f} "
      f"and {h2['test']['acc']:.4f}")
if DEVICE == "cpu":  # float32 sums in a different order: agreement to rounding, not bit for bit
    assert loss_diff < 1e-5 and weight_diff < 1e-4

# %% [markdown]
# The two runs agree to float32 rounding, not bit for bit: the last line above prints the largest
# differences. Adding the same numbers in a different order (one batch against its two halves and
# an all-reduce) changes the last bits, and nothing more: in this run at most
# {glue:text}`ddp_loss_diff:.1e` in a loss and {glue:text}`ddp_weight_diff:.1e` in a weight. The
# losses barely move in so few steps (about $\ln 10 \approx 2.30$, a guess among ten classes): the
# point is that they move in step. How fast was each?

# %%
speed = {"nproc": d2lite.glue("ddp_nproc", n)}
for key, label, h, seconds in (("one", f"1 process x {n * b}", h1, seconds_one),
                               ("two", f"{n} processes x {b}", h2, seconds_two)):
    eps = h["examples_per_sec"][1:] or h["examples_per_sec"]  # the first step warms up
    speed[key] = d2lite.glue(f"ddp_speed_{key}", round(sum(eps) / len(eps), 1))
    d2lite.glue(f"ddp_seconds_{key}", round(seconds))
    print(f"{label:>16}: {speed[key]:6.1f} training examples/s, {seconds:5.0f} s "
          f"for the whole command, on {DEVICE} ({d2lite.device_name(DEVICE)})")
ratio = d2lite.glue("ddp_ratio", round(speed["two"] / speed["one"], 2))
print(f"{n} processes / 1 process: {ratio:.2f} times the training examples/s; {SETTING} setting, "
      f"{os.cpu_count()} cores, torch {torch.__version__}")

# %% [markdown]
# Do not read these two lines as the speed-up of data parallelism. Both runs use the same two
# cores: one process with two threads, or two processes with one thread each (`torchrun` sets
# `OMP_NUM_THREADS=1` for every process unless you set it). The arithmetic is the same, and the
# two processes also all-reduce 187 MB through gloo every step, after starting a second process
# and a process group. On 2 cores the two lines change a lot from
# run to run. In this page's run the {glue:text}`ddp_nproc:d` processes trained at
# {glue:text}`ddp_ratio:.2f` times the examples per second of one process
# ({glue:text}`ddp_speed_two:.1f` against {glue:text}`ddp_speed_one:.1f`), and their whole command
# took {glue:text}`ddp_seconds_two:d` s against {glue:text}`ddp_seconds_one:d` s for the single
# process, start-up included. Where the two processes come out ahead, a likely reason, not
# measured here: the two threads of one process wait for each other at the end of every
# operation, which costs most when other jobs take the cores in turn, while two one-thread
# processes wait for each other once a step, at the all-reduce. A real speed-up comes only from
# processes that each bring hardware of their own: a GPU, or a machine. On 2 CPU cores the point
# of this section is correctness.
#
# ### Checkpoints: the `module.` prefix
#
# DDP keeps the model as its attribute `module`, so `ddp_model.state_dict()` names every tensor
# `module.0.weight` instead of `0.weight`, and the file no longer loads into a plain model. The
# wrapper below stands in for DDP (which needs a process group):

# %%
class Wrapper(nn.Module):
    """What DDP looks like from the outside: the model is its attribute `module`."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module


plain = d2lite.alexnet(dropout=0)
print("wrapped keys:", list(Wrapper(plain).state_dict())[:2], "...")
try:
    plain.load_state_dict(Wrapper(d2lite.alexnet(dropout=0)).state_dict())
except RuntimeError as err:
    print("loading them into a plain model:", str(err).splitlines()[1].strip()[:64], "...")
print("keys in two.pt:", list(w2)[:2], "... (saved by d2lite from the 2-process run)")
plain.load_state_dict(w2)  # plain keys: loads as it is, strict

# %% [markdown]
# In your own DDP code, save `ddp_model.module.state_dict()` on rank 0 only, and let every rank
# load the file when resuming. `d2lite` saves plain keys (and `d2lite.load_checkpoint` also accepts
# files with `module.` or `torch.compile`'s `_orig_mod.` prefixes), writes the file from rank 0,
# and stores every rank's random-number state, so that a resumed run continues exactly.
#
# ## 6.8 Several machines
#
# On two machines, each runs one `torchrun` that starts the processes of its GPUs. They find each
# other through a **rendezvous**: a small key-value store that `torchrun` hosts at one agreed
# address (`c10d`, on the machine named in `--rdzv-endpoint`), under a job id that keeps
# separate jobs apart. The same command runs on both machines:
#
# ```bash
# # on node0 AND on node1 (node0 hosts the rendezvous on port 29400):
# torchrun --nnodes=2 --nproc_per_node=4 \
#          --rdzv-backend=c10d --rdzv-endpoint=node0:29400 --rdzv-id=alexnet-1 \
#          -m d2lite train --setting full --checkpoint /shared/runs/alexnet.pt --resume
# ```
#
# With the rendezvous the machines' order is decided when they meet. The older static form names
# it instead: `--node-rank=0` on node0 and `--node-rank=1` on node1, with
# `--master-addr=node0 --master-port=29500` in place of the three `--rdzv-*` options.
#
# On a cluster with SLURM, one batch script does the same: SLURM picks the machines, `srun` starts
# one `torchrun` on each (`--ntasks-per-node=1`), and the first machine of the job hosts the
# rendezvous:

# %% [markdown]
r"""
```bash
#!/bin/bash
#SBATCH --job-name=alexnet-ddp
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1          # one torchrun per machine; it starts the GPU processes
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=02:00:00
#SBATCH --signal=TERM@120            # SIGTERM 2 minutes before the time limit

export D2LITE_DATA=/shared/data/fashion-mnist
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

srun torchrun --nnodes="$SLURM_NNODES" --nproc_per_node=4 \
     --rdzv-backend=c10d --rdzv-endpoint="$HEAD:29400" --rdzv-id="$SLURM_JOB_ID" \
     -m d2lite train --setting full \
     --checkpoint /shared/runs/alexnet.pt --checkpoint-every 10min --resume
```
"""

# %% [markdown]
# Put the checkpoint on a **disk every machine sees** (NFS, Lustre, ...): rank 0 writes it, and on
# resume every rank of every machine reads it. A checkpoint on node0's local disk would leave
# node1's processes without weights. With `--resume` the same script both starts a new run
# and continues an interrupted one; when the time limit nears, SLURM sends SIGTERM, `torchrun`
# passes it to the processes, and `d2lite` stops them all at the same step and saves first.
#
# ## 6.9 What to expect from $N$ GPUs, on paper
#
# No multi-GPU machine was available for this book, so this section computes instead of
# measuring. Each step every GPU computes its forward and backward pass, then (partly overlapped)
# all-reduces the 187 MB of float32 gradients. Computation per step we count: training costs
# about 3 times the forward pass (the backward pass computes gradients for both the inputs and
# the weights of each layer). Its *speed* we have to assume, and the figure below depends on it.

# %%
GPU_BATCH = 128  # images per GPU per step
ASSUMED_TFLOPS = 100  # ASSUMPTION, not measured: sustained bf16 TFLOP/s of one H100/H200-class GPU
grad_bytes = total * 4  # one float32 gradient per parameter
step_flops = 3 * forward_flops * GPU_BATCH
compute_ms = step_flops / (ASSUMED_TFLOPS * 1e12) * 1e3
print(f"gradients: {grad_bytes / 1e6:.0f} MB per step; compute: {step_flops / 1e9:.0f} GFLOP "
      f"per GPU per step -> {compute_ms:.1f} ms at the assumed {ASSUMED_TFLOPS} TFLOP/s")

# %% [markdown]
# The assumed 100 TFLOP/s is about a tenth of the dense bf16 peak of an H100 or H200 (about 990
# TFLOP/s): AlexNet's layers are small, its first convolution has a single input channel, and real
# training also waits for data. Treat it as an order of magnitude. For the links we take the
# usable bandwidth in each direction: NVLink between the GPUs of one H100/H200 machine (about 450
# GB/s), PCIe 4.0 x16 between cards without NVLink (about 25 GB/s of its 32), and 100 Gb/s
# Ethernet between machines (about 12 GB/s). With the ring's $2\frac{N-1}{N}S$ bytes, the time of
# a step lies between two bounds: perfect overlap, $\max(t_\text{compute}, t_\text{comm})$, and
# none, $t_\text{compute} + t_\text{comm}$.

# %%
LINKS = {"NVLink": 450, "PCIe 4.0 x16": 25, "100 Gb/s Ethernet": 12}  # GB/s per direction


def comm_ms(n: int, gb_per_s: float) -> float:
    """Ring all-reduce of the gradients: 2 (n-1)/n of their bytes sent by each GPU."""
    return 2 * (n - 1) / n * grad_bytes / (gb_per_s * 1e9) * 1e3


def speedup(n: int, gb_per_s: float, overlap: bool) -> float:
    """Examples/s of n GPUs over one GPU's, at the same batch per GPU."""
    t = comm_ms(n, gb_per_s)
    return n * compute_ms / (max(compute_ms, t) if overlap else compute_ms + t)


print(f"{'link':<18}{'N':>3}{'comm ms':>9}{'speed-up, no overlap':>22}{'full overlap':>14}")
for link, bw in LINKS.items():
    for n_gpu in (2, 4, 8):
        print(f"{link:<18}{n_gpu:>3}{comm_ms(n_gpu, bw):>9.1f}"
              f"{speedup(n_gpu, bw, False):>22.1f}{speedup(n_gpu, bw, True):>14.1f}")

# %% mystnb={"image": {"alt": "Line chart of the estimated speed-up of data-parallel AlexNet against the number of GPUs, from 1 to 16, for NVLink, PCIe 4.0 and 100 Gb/s Ethernet, with and without overlap of communication and computation. NVLink stays close to the ideal diagonal; PCIe and Ethernet fall far below it."}}
counts = [1, 2, 4, 8, 16]
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(counts, counts, color="grey", linestyle=":", label="ideal: N times one GPU")
for (link, bw), color in zip(LINKS.items(), ["tab:green", "tab:orange", "tab:red"]):
    ax.fill_between(counts, [speedup(c, bw, False) for c in counts],
                    [speedup(c, bw, True) for c in counts], color=color, alpha=0.25)
    ax.plot(counts, [speedup(c, bw, True) for c in counts], color=color, label=link)
ax.set_xscale("log", base=2)
ax.set_yscale("log", base=2)
ax.set_xticks(counts, [str(c) for c in counts])
ax.set_yticks([0.5, 1, 2, 4, 8, 16], ["0.5", "1", "2", "4", "8", "16"])
ax.set_xlabel("number of GPUs N")
ax.set_ylabel("speed-up over one GPU")
ax.set_title(f"AlexNet, batch {GPU_BATCH} per GPU, {compute_ms:.1f} ms compute (assumed)")
ax.legend(title="band: no overlap to full overlap", fontsize=8, title_fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# Under these assumptions data parallelism on AlexNet pays off on NVLink: the all-reduce takes
# under a millisecond, a tenth of the compute, and 8 GPUs come close to 8 times one. Over PCIe the
# all-reduce takes as long as the compute at 2 GPUs and nearly twice as long at 8, so 8 GPUs give 3
# to 4 times one, even with good overlap. Over 100 Gb/s Ethernet two machines with one GPU each
# would be *slower* than one GPU, and eight about twice as fast. The culprit is AlexNet's shape:
# its dense layers hold {glue:text}`dense_param_share:.0%` of the parameters, hence as large a share
# of the bytes to send, for {glue:text}`dense_flop_share:.1%` of the arithmetic (section 6.1). Krizhevsky drew the same conclusion in 2014 (*One weird trick for parallelizing
# convolutional neural networks*): data parallelism for the convolutions, model parallelism for the
# dense layers. Networks built mostly of convolutions, such as ResNets, send far fewer bytes per
# FLOP and scale better; a larger batch per GPU (more compute per byte sent) also helps. On this
# machine's 2 CPU processes nothing of this applies: they share the same two cores, so no speed-up
# is to be expected from them (section 6.7).
#
# ## Summary
#
# - AlexNet (2012) split one model across two 3 GB GPUs, half the kernels on each, talking at a
#   few layers: model parallelism. Today a model of its size fits on every GPU, and data
#   parallelism gives each GPU a full replica and a slice of the global batch $B = Nb$.
# - DDP copies rank 0's weights at the start; each step runs forward and backward locally,
#   all-reduces the gradients in buckets of about 25 MB while backward continues, and every
#   replica takes the same optimizer step. The mean of the $N$ shard gradients is the gradient of
#   the global batch, so 2 processes of $b$ images trained like 1 process of $2b$ here, to
#   float32 rounding.
# - `torchrun` starts one process per GPU and sets `RANK`, `LOCAL_RANK` and `WORLD_SIZE`. The
#   sampler shards each epoch's shared permutation; call `set_epoch` every epoch. Save the
#   unwrapped model (no `module.` prefix) from rank 0, on a disk every machine sees.
# - The linear scaling rule raises the learning rate with the global batch, with a warm-up
#   (Goyal et al. 2017); `python -m d2lite train` defaults to `d2lite.BASE_LR`
#   ({glue:text}`screen_lr:g`, the rate chapter 4's screen chose) × the number of processes.
# - NCCL for GPUs, gloo for CPUs. A ring all-reduce sends about $2S$ bytes per GPU per step: for
#   AlexNet's 187 MB that is nothing over NVLink and more than the compute over PCIe or Ethernet.
#
# ## Exercises
#
# 1. Section 6.7 switched dropout off. With `--dropout 0.5`, would 2 processes × $b$ still train
#    like 1 process × $2b$? Would it still be correct data-parallel training?
# 2. Compute the bytes each GPU sends per step for $N = 2, 8, 64$ and 1,024 GPUs. What is the
#    limit, and what does it mean for large jobs?
# 3. Raise the batch per GPU from 128 to 512 and recompute the speed-up of 8 GPUs on 100 Gb/s
#    Ethernet. What else must change in the training for the result to be as good?
# 4. Krizhevsky's "one weird trick": keep data parallelism only for the convolutions, and split
#    the dense layers across the GPUs instead. How many gradient bytes are left to all-reduce
#    per step, and what does that do to PCIe's speed-up with 8 GPUs?
# 5. What goes wrong if each process shuffles with its own seed, say `seed=rank`? Use
#    `d2lite.DeviceLoader` with 2 processes to find out.

# %% [markdown]
# ## Solutions
#
# Each solution is folded: try the exercise first, then open it. The code of a solution runs with
# the rest of the notebook (the tests run it too, in the quick setting).
#
# :::{admonition} Solution 1: dropout in data parallelism
# :class: dropdown
# No longer to the last bit: each process draws its own dropout masks (`d2lite` seeds the
# processes' random streams differently on purpose, `seed + 1 + rank`), and a single process
# taking the whole global batch would draw yet other masks. The losses and weights would drift
# apart like two runs with different seeds. It is still correct: every example gets an
# independent random mask, as it would in one process, and the averaged gradient is an unbiased
# estimate of the same expected gradient. What must not happen is every process drawing the
# *same* masks, which would make the noise of different shards correlated.
# :::
#
# :::{admonition} Solution 2: traffic per GPU as N grows
# :class: dropdown
# $2\frac{N-1}{N}S$ grows from $S$ (187 MB at $N = 2$) towards $2S$ (374 MB) and never beyond:
# at 64 GPUs it is already {glue:text}`share_at_64:.0%` of the limit. The per-GPU traffic of a ring all-reduce does not
# grow with the size of the job, which is why data parallelism scales to thousands of GPUs. What
# grows is the latency: $2(N-1)$ rounds, each with a fixed start-up cost, which is why NCCL also
# uses tree algorithms for large $N$ and small messages.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 2", "code_prompt_hide": "Hide the code of solution 2"}
d2lite.glue("share_at_64", (64 - 1) / 64)  # 2 (N-1)/N S against the limit 2S, at N = 64
for n_gpu in (2, 8, 64, 1024):
    sent = 2 * (n_gpu - 1) / n_gpu * grad_bytes
    print(f"N = {n_gpu:5d}: {sent / 1e6:5.0f} MB per GPU per step "
          f"({sent / (2 * grad_bytes):.1%} of the limit 2S = {2 * grad_bytes / 1e6:.0f} MB)")

# %% [markdown]
# :::{admonition} Solution 3: a larger batch per GPU
# :class: dropdown
# Four times the images per step means four times the compute per step, while the gradients to
# send stay 187 MB: communication weighs four times less, and the speed-up of 8 GPUs on Ethernet
# rises from about 2 to between 4 and 8 (the code prints it). But the global batch is then $8 \times 512 = 4096$: by the
# linear scaling rule the learning rate must grow with it, to 4096 / 128 = 32 times the
# {glue:text}`screen_lr:g` of batch 128, with a warm-up, and there are 32 times fewer steps per
# epoch than with batch 128 on one GPU (the code prints both). Whether the accuracy holds must be
# measured; Goyal et al. kept it up to about 8k for ResNet-50.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 3", "code_prompt_hide": "Hide the code of solution 3"}
bw = LINKS["100 Gb/s Ethernet"]
for batch in (128, 512):
    c_ms = 3 * forward_flops * batch / (ASSUMED_TFLOPS * 1e12) * 1e3
    t_ms = comm_ms(8, bw)
    print(f"batch {batch} per GPU: compute {c_ms:5.1f} ms, comm {t_ms:.1f} ms -> 8 GPUs "
          f"{8 * c_ms / (c_ms + t_ms):.1f}x (no overlap) to {8 * c_ms / max(c_ms, t_ms):.1f}x "
          f"(full overlap); global batch {8 * batch} = {8 * batch // 128} x 128, linear-rule lr "
          f"{d2lite.BASE_LR * 8 * batch / 128:g}")

# %% [markdown]
# :::{admonition} Solution 4: data parallelism for the convolutions only
# :class: dropdown
# The convolutions hold only 8% of the parameters, so only about 15 MB of gradients are left to
# all-reduce, and over PCIe that takes about 1 ms for 8 GPUs instead of 13: the speed-up comes
# close to 8 again in this estimate. The price moves elsewhere: with the dense layers split, the
# GPUs must exchange the activations entering fc6, fc7 and fc8 (a few thousand numbers per
# image, and their gradients on the way back), which grows with the batch rather than with the
# parameters. For AlexNet that is the better trade; the code counts the bytes.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 4", "code_prompt_hide": "Hide the code of solution 4"}
conv_bytes = sum(r.params for r in rows if r.layer == "Conv2d") * 4
bw = LINKS["PCIe 4.0 x16"]
t_conv = 2 * 7 / 8 * conv_bytes / (bw * 1e9) * 1e3
print(f"convolution gradients: {conv_bytes / 1e6:.1f} MB ({conv_bytes / grad_bytes:.1%} of all)")
print(f"8 GPUs over PCIe: comm {t_conv:.1f} ms instead of {comm_ms(8, bw):.1f} ms; speed-up "
      f"{8 * compute_ms / (compute_ms + t_conv):.1f}x to {8 * compute_ms / max(compute_ms, t_conv):.1f}x "
      f"instead of {speedup(8, bw, False):.1f}x to {speedup(8, bw, True):.1f}x")

# %% [markdown]
# :::{admonition} Solution 5: a different seed in every process
# :class: dropdown
# Each process then draws a different permutation, and "every second example of my permutation"
# no longer fits together: some examples land in both shards, and as many land in neither. The
# code counts them for 12 examples. With a shared seed the shards are disjoint and complete; that
# is why `d2lite.DeviceLoader` refuses a sharded, shuffled loader without a `seed`, and why
# `DistributedSampler` has a `seed` argument that must be the same in every process.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 5", "code_prompt_hide": "Hide the code of solution 5"}
own = [d2lite.DeviceLoader(images, labels, 3, shuffle=True, seed=r, rank=r, world_size=2)
       for r in range(2)]  # the mistake: seed=rank
seen = [set(torch.cat([y for _, y in shard]).tolist()) for shard in own]
print(f"rank 0 {sorted(seen[0])}, rank 1 {sorted(seen[1])}")
print(f"in both shards: {sorted(seen[0] & seen[1])}; in neither: "
      f"{sorted(set(range(12)) - seen[0] - seen[1])}")
