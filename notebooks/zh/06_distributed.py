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
# # 6 不止一块 GPU
#
# 2012 年，一块显卡装不下 AlexNet，作者们只好把网络一分为二。如今网络轻松就能装下，瓶颈变成了时间：
# 我们给每块 GPU 一份完整的模型，再让它们分头处理每个批量的一部分。本章讲清楚这需要哪些东西，
# 在本机 CPU 上用两个进程真正跑一遍，并验证：两个进程分担每个批量，和一个进程独自处理整个批量，训练结果在
# float32 的舍入误差以内一致。
#
# **本章你将学到**
#
# - AlexNet 在 2012 年怎样把一个模型拆到两块 GPU 上（模型并行），以及为什么今天默认的做法是每块 GPU
#   放一份完整的模型（数据并行）；
# - `DistributedDataParallel`（DDP）每一步做了什么，为什么把 $N$ 个分片上的梯度取平均，
#   恰好等于整个全局批量上的梯度；
# - rank、local rank 与 world size；数据分片与 `set_epoch`；检查点里的 `module.` 前缀；
# - 全局批量怎样影响学习率（线性缩放规则）；
# - 怎样用 `torchrun` 启动训练：在终端里、在 notebook 里、在多台机器上、在 SLURM 集群上；
# - $N$ 块 GPU 能带来多少加速：以 AlexNet 为例在纸上算一算，通信什么时候会吃掉加速。
#
# ```{note}
# **各设置运行什么**；本页实际的用时、设置和硬件，写在网站上标题下方的运行说明里，也记录在 notebook 元数据的
# `d2lite` 项中。
#
# - **CPU 设置**（本页的输出来自它）：两次训练，各 4 步，全局批量 256（先是 1 个进程 × 256 张图，再是
#   2 个进程 × 128 张）；本页的时间大部分花在这两次训练上，每次都要启动自己的 Python 进程。
# - **快速设置**（测试用）：两次训练，各 2 步，全局批量 128（1 × 128 与 2 × 64）。
# - **完整设置**：有 2 块或更多 CUDA GPU 时每块 GPU 一个进程（NCCL），否则与 CPU 设置相同。
#   尚未实测：本书没有可用的多 GPU 机器。
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 可调的参数都属于 6.7 节对比的那两次训练：用几个进程、每个进程每步处理多少张图、训练多少步。
# 每次训练的训练集恰好是一个全局批量，所以一轮就是一步，`d2lite.train` 记录的每轮损失也就是每步的损失。
# `d2lite.setting()` 有 GPU 时选 `FULL`，没有时选 `CPU`；快速设置（`D2LITE_QUICK=1`）是测试用的那一套。

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # 有 GPU 时为 "full"，没有时为 "cpu"，测试中为 "quick"
FULL = dict(
    nproc=None,  # None：CUDA GPU 不少于 2 块时每块 GPU 一个进程，否则在 CPU 上开 2 个进程
    batch_per_process=128,  # 每个进程每步的图像数；全局批量是它的 nproc 倍
    epochs=4,  # 对比 4 步（训练集就是一个全局批量：每轮 1 步）
    n_test=128,  # 每轮结束后评估的测试图像数，两次训练相同
)
CPU = dict(
    nproc=2,  # 在 CPU 上开 2 个进程（gloo），共用这台机器的核心
    batch_per_process=128,  # 全局批量 256：1 × 256 对比 2 × 128
    epochs=4,
    n_test=128,
)
QUICK_SETTING = dict(
    nproc=2,
    batch_per_process=64,  # 全局批量 128：1 × 128 对比 2 × 64，与 tests/test_ddp.py 相同
    epochs=2,  # 2 步：在 2 个空闲核心上每次训练只要几秒
    n_test=64,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}，"
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} 设置：{S}")

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

print("中文字体：", d2lite.use_cjk_font())

# %% tags=["hide-input"]
n_gpus = torch.cuda.device_count()
NPROC = S["nproc"] or (n_gpus if n_gpus >= 2 else 2)  # 6.7 节两次训练用的进程数
DEVICE = "cuda" if S["nproc"] is None and n_gpus >= 2 else "cpu"
CPU_NAME = d2lite.device_name("cpu")
print(f"{n_gpus} 块 CUDA GPU；CPU：{CPU_NAME}，{os.cpu_count()} 个核心；torch {torch.__version__}")
print(f"6.7 节在 {DEVICE} 上运行 {NPROC} 个进程（{'NCCL' if DEVICE == 'cuda' else 'gloo'}），"
      f"每个进程每步 {S['batch_per_process']} 张图像")

# %% [markdown]
# ## 6.1 2012 年：一个模型拆到两块 GPU 上
#
# AlexNet 是在两块显存各 3 GB 的 NVIDIA GTX 580 上训练的，花了五六天。它的 6000 万个参数、这些参数的梯度，
# 再加上一个 128 张图的批量的激活值，一块卡很难装下（第 2 章算过这笔账）。于是 Krizhevsky、Sutskever 和 Hinton
# 把**每一层的卷积核分一半放到每块 GPU 上**。两半只在某些层交换数据：第三个卷积层和全连接层读取两块 GPU 上的
# 全部特征图，其余各层只读本卡上的那一半。像这样把一个模型拆到多个设备上，叫作**模型并行**。
#
# 按卷积核拆分一层是精确的：每块卡算出输出通道中属于自己的那一份，把两份并排拼起来就是完整的一层。
# 下面把 conv2（96 → 256 个通道）拆成各有 128 个卷积核的两半。

# %%
net = d2lite.alexnet()
conv2 = net[3]  # Conv2d(96, 256, 5x5)：第 2 章的第二个卷积层
w, b = conv2.weight.detach(), conv2.bias.detach()  # (256, 96, 5, 5)，(256,)
X = torch.randn(2, 96, 26, 26)  # (B, 96, 26, 26)：conv1 及其汇聚层交给 conv2 的输入
full = F.conv2d(X, w, b, padding=2)  # 一个设备，全部 256 个卷积核：(2, 256, 26, 26)
gpu0 = F.conv2d(X, w[:128], b[:128], padding=2)  # “GPU 0”：卷积核 0-127 -> (2, 128, 26, 26)
gpu1 = F.conv2d(X, w[128:], b[128:], padding=2)  # “GPU 1”：卷积核 128-255
print("max |完整一层 - (GPU 0 | GPU 1)|：", torch.cat([gpu0, gpu1], dim=1).sub(full).abs().max().item())

# %% [markdown]
# 代价是每一次前向和反向传播*内部*都要通信（凡是某层需要另一块卡上的特征图的地方），而且网络的设计
# 取决于 GPU 的数量。显存的增长比 AlexNet 快：本书的版本有 4680 万个参数，float32 下是 187 MB，
# 而一块 H200 有 141 GB。所以同样的网络如今能在每块 GPU 上装下很多份。第 2 章的统计告诉我们它的分量在哪里：

# %%
rows = [r for r in d2lite.trace_shapes(net, torch.zeros(1, 1, 224, 224)) if r.params]
names = ["conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8"]
total = sum(p.numel() for p in net.parameters())
forward_flops = sum(r.flops for r in rows)  # 每张图像
dense = [r for r in rows if r.layer == "Linear"]
dense_params = d2lite.glue("dense_param_share", round(sum(r.params for r in dense) / total, 3))
dense_flops = d2lite.glue("dense_flop_share", round(sum(r.flops for r in dense) / forward_flops, 3))
conv_flops = d2lite.glue("conv_flop_share", round(1 - dense_flops, 3))
print(f"{total:,} 个参数（{total / 1e6:.1f} M），float32 下 {total * 4 / 1e6:.0f} MB")
print(f"全连接层 fc6-fc8：占参数的 {dense_params:.1%}，占 FLOPs 的 {dense_flops:.1%}；"
      f"卷积层占 FLOPs 的 {conv_flops:.1%}")

# %% [markdown]
# ## 6.2 今天：每块 GPU 一份完整的模型
#
# **数据并行**让模型保持完整，拆分的是数据。$N$ 个进程各持有一份完整的模型副本，各驱动一块 GPU；每一步，
# 每个进程取自己的 $b$ 个样本，合起来处理一个大小为 $B = N b$ 的**全局批量**。设每个进程在自己的分片 $S_k$ 上
# 计算平均损失 $\frac{1}{b}\sum_{i \in S_k} \ell_i(\mathbf w)$ 的梯度，那么这 $N$ 个梯度的平均值恰好就是
# 全局批量上平均损失的梯度：
#
# $$\frac{1}{N}\sum_{k=1}^{N} \nabla \frac{1}{b}\sum_{i \in S_k} \ell_i(\mathbf w)
#   = \nabla \frac{1}{N b}\sum_{i \in S_1 \cup \dots \cup S_N} \ell_i(\mathbf w).$$
#
# 在当前这一个进程里验证一下：8 张图像上的梯度，对比两个各 4 张图的分片上梯度的平均。这里关掉了暂退法（dropout），
# 否则两边抽到的随机掩码不同。

# %%
d2lite.set_seed(0)
model = d2lite.init_weights(d2lite.alexnet(dropout=0))
loader, _ = d2lite.load_data_fashion_mnist(8, resize=224, subset=(8, 8), device="cpu")
X, y = next(iter(loader))  # (8, 1, 224, 224)：N*b = 2*4 张图像组成的全局批量


def gradient(X, y):
    """(X, y) 上平均交叉熵损失的梯度，展平成一个向量。"""
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


g_global = gradient(X, y)
g_mean = (gradient(X[:4], y[:4]) + gradient(X[4:], y[4:])) / 2  # 2 个各 4 张图的“进程”
print(f"共 {g_global.numel():,} 个梯度值；max |全局梯度 - 分片梯度的平均| = "
      f"{(g_global - g_mean).abs().max():.1e}（最大的梯度值为 {g_global.abs().max():.1e}）")

# %% [markdown]
# 这个等式要求损失是各样本损失的简单平均。输出依赖整个批量的层会破坏它：BatchNorm 用每个进程自己批量的统计量
# 做归一化（PyTorch 的 `SyncBatchNorm` 会在进程间共享这些统计量），好在 AlexNet 里没有这种层。
# 暂退法在每个进程里抽取不同的掩码，这改变的是噪声，不影响正确性。
#
# ## 6.3 DDP 在一步里做了什么
#
# `torch.nn.parallel.DistributedDataParallel` 把模型包起来。创建时，它把 rank 0 的权重复制到所有进程，
# 所以所有副本从同样的权重出发。之后每一步：
#
# 1. **前向传播**：在本地的分片上计算，就像只有自己一样；
# 2. **反向传播**：梯度一边算出来，DDP 一边把它们装进约 25 MB 的**桶**（bucket，`bucket_cap_mb=25`，
#    单位是 MiB）；一个桶装满，就立即对它发起**全归约**（all-reduce：在所有进程间求和，再除以 $N$），
#    与此同时反向传播继续计算前面的层：通信与计算重叠；
# 3. **优化器更新**：每个进程用同样的平均梯度更新同样的权重，于是各副本始终保持一致，
#    整个过程中从不需要传送权重。
#
# 反向传播从最后一层往前产生梯度。按这个顺序把梯度装进 25 MB 的桶，就能看出 AlexNet 最先装满的桶里是什么：

# %%
BUCKET_BYTES = 25 * 2**20  # DDP 默认的 bucket_cap_mb=25
layer_of = dict(zip(["0", "3", "6", "8", "10", "14", "17", "20"], names))  # 模块编号 -> 层名
buckets, current, size = [], [], 0
for key, p in reversed(list(model.named_parameters())):  # 反向传播产生梯度的顺序
    index, kind = key.split(".")  # "14.weight" -> fc6.weight
    current.append(f"{layer_of[index]}.{kind}")
    size += p.numel() * 4  # float32 梯度的字节数
    if size >= BUCKET_BYTES:  # 桶里至少有 25 MiB 时就封桶
        buckets.append((current, size))
        current, size = [], 0
buckets += [(current, size)] if current else []
for i, (keys, nbytes) in enumerate(buckets):
    print(f"桶 {i}：{nbytes / 1e6:6.1f} MB  {', '.join(keys)}")

# %% [markdown]
# 全连接层的梯度占了 {glue:text}`dense_param_share:.0%` 的字节（6.1 节的统计），在反向传播一开始就全部算好了；
# 而承担 {glue:text}`conv_flop_share:.0%` 计算量的卷积层还在后面：
# 它们的反向传播能把大部分通信掩盖掉。（一个很大的张量会独占一个桶，不管上限是多少。DDP 自己的规则写在
# C++ 的 `Reducer` 里：一开始只有一个桶，第一步之后再按梯度实际到达的顺序重建各个桶；在 torch 2.14 下
# 用两个 gloo 进程查看 DDP 的日志，重建后恰好是这三个桶：67.3、104.9 和 14.9 MB。）
#
# 全归约是怎样搬运数据的？NCCL 常用的算法是**环**（ring）：把 $N$ 块 GPU 排成一个圈，把 $S$ 字节的梯度切成
# $N$ 块。先做 $N-1$ 轮 *reduce-scatter*：每块 GPU 把一块数据传给邻居，同时把收到的那块加到自己的数据上，
# 直到每块 GPU 都持有一块完整求和后的数据；再做 $N-1$ 轮 *all-gather*：求和后的各块沿着圈传一遍。
# 每块 GPU 发送（同时也接收）
#
# $$2\,\frac{N-1}{N}\,S \text{ 字节（每一步）,}$$
#
# 不管有多少块 GPU，都不到 $2S$：环形全归约在每块 GPU 上的开销不随 $N$ 增长，这正是数据并行能够扩展的原因。
# 6.9 节会把具体数字代进去。
#
# ## 6.4 进程、rank 与 `torchrun`
#
# DDP 为每块 GPU 运行一个**进程**。`torchrun` 负责启动这些进程，并通过环境变量告诉每个进程它是谁。
# **`WORLD_SIZE`** 是整个作业（所有机器合计）的进程数；**`RANK`** 是进程在所有机器上的编号，
# 从 0 到 `WORLD_SIZE`−1，这个编号叫作 rank（秩），rank 0 负责打印和保存；**`LOCAL_RANK`** 是进程在*本机*上的
# 编号，从 0 到 $n$−1，它决定进程驱动哪一块 GPU。两台机器、每台 4 块 GPU 时：
#
# | 机器 | `LOCAL_RANK` | `RANK` | `WORLD_SIZE` |
# | --- | --- | --- | --- |
# | 0 | 0, 1, 2, 3 | 0, 1, 2, 3 | 8 |
# | 1 | 0, 1, 2, 3 | 4, 5, 6, 7 | 8 |
#
# 在终端里、在仓库目录下，本书的训练既可以作为一个进程运行，也可以用同样的选项作为多个进程运行：
#
# ```bash
# python -m d2lite train --setting quick                       # 1 个进程
# torchrun --nproc_per_node=2 -m d2lite train --setting cpu    # 本机 2 个进程
# torchrun --nproc_per_node=4 -m d2lite train --setting full   # 4 块 GPU：cuda:0 … cuda:3
# python -m d2lite train --help                                # 全部选项及其默认值
# ```
#
# 在 notebook 里，我们以子进程的方式、从仓库根目录（放着 `d2lite` 包的那个目录）启动同样的命令，
# 用的是 `python -m torch.distributed.run`，`torchrun` 命令实际运行的就是它。下面的辅助函数运行一条命令，
# 只留下值得看的几行输出，并且显示命令时用文件名代替本机的路径。

# %%
ROOT = Path(d2lite.__file__).resolve().parents[1]  # d2lite/__init__.py 往上两级：仓库根目录
WORK = tempfile.TemporaryDirectory(prefix="d2lite-ch6-")  # 两次训练写的文件，读完就删除
TMP = Path(WORK.name)


def shown(cmd: list[str]) -> str:
    """你会在终端里敲的样子：写成 `python`，并用文件名代替完整路径。"""
    words = ["python" if a == sys.executable else Path(a).name if a.startswith(str(TMP)) else a
             for a in cmd]
    return " \\\n    ".join(textwrap.wrap(" ".join(words), 88, break_on_hyphens=False))


def run(cmd: list[str], keep: tuple[str, ...]) -> tuple[list[str], float]:
    """在仓库根目录运行 cmd；返回输出中含有 keep 里某个词的那些行，以及所用的墙钟秒数
    （含进程启动）。"""
    print("$", shown(cmd))
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:  # 先给 d2lite 自己的 "error:" 行：torchrun 的失败报告会把它淹没
        said = [line for line in proc.stderr.splitlines() if "error:" in line]
        raise RuntimeError(f"退出状态 {proc.returncode}：{' / '.join(said)}\n"
                           f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return [line for line in proc.stdout.splitlines() if any(k in line for k in keep)], seconds


# %% [markdown]
# 先看一个十来行的脚本，由 `torchrun` 启动两份：每个进程加入进程组，打印 `torchrun` 告诉它的信息，
# 再对一个代替“梯度”的数（它的 rank + 1）做全归约。CPU 上的后端是 **gloo**；在 GPU 上则是 NCCL（见下面的说明）。

# %%
WHO = """\
import os

import torch
import torch.distributed as dist

dist.init_process_group("gloo")  # 其他进程在哪里，torchrun 设好的环境变量会告诉它
rank, world = dist.get_rank(), dist.get_world_size()
grad = torch.tensor([rank + 1.0])  # 代替本进程梯度的一个数
dist.all_reduce(grad)  # 所有进程之和，现在每个进程里都有
print(f"RANK={os.environ['RANK']} LOCAL_RANK={os.environ['LOCAL_RANK']} "
      f"WORLD_SIZE={os.environ['WORLD_SIZE']}：我的梯度 {rank + 1}，"
      f"全归约之和 {grad.item():g}，平均 {grad.item() / world:g}")
dist.destroy_process_group()
"""
(TMP / "who.py").write_text(WHO)
lines, seconds = run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                      "--nproc_per_node=2", str(TMP / "who.py")], keep=("RANK=",))
print(*sorted(lines), sep="\n")  # 两个进程打印的先后顺序不定
print(f"（{seconds:.1f} 秒，大部分花在启动三次 Python 并导入 torch 上）")

# %% [markdown]
# ```{admonition} NCCL 还是 gloo？
# :class: note
# 进程组需要一个*后端*，也就是实际执行集合通信的库。**NCCL**（NVIDIA Collective Communications Library）
# 直接在 GPU 显存上工作：它把全归约作为 GPU 的“核函数”来执行，同一台机器的 GPU 之间走 NVLink/NVSwitch，
# 机器之间走 InfiniBand 或 RoCE（配合 GPUDirect RDMA），梯度从不经过 CPU 中转。它只处理 CUDA 张量。
# **gloo**（来自 Meta）在 CPU 张量上通过 TCP 工作：CPU 训练、没有 NVIDIA GPU 的机器以及少量控制消息都用它。
# `d2lite.init_distributed` 在设备是 CUDA GPU 时选 NCCL（每个进程固定使用 `cuda:LOCAL_RANK`），否则选 gloo；
# 它还另外保留一个小的 gloo 进程组，专门用来让各进程对一些标志（现在停下吗？现在保存吗？）达成一致，
# 这样这些消息永远不必等 GPU。
# ```
#
# ## 6.5 每个进程一份数据：采样器与 `set_epoch`
#
# 每个进程必须看到不同的样本，合起来又要覆盖全部样本，而且彼此之间不必通信。PyTorch 的 `DistributedSampler`
# 靠一个共享的随机种子做到这一点：每个进程为这一轮抽取*同一个*数据排列，编号为 `rank` 的进程从位置 `rank`
# 开始，每隔 `world_size` 个取一个样本。`d2lite.DeviceLoader` 的分片方式与此相同（测试会把它和
# `DistributedSampler` 逐一比较）。下面是 12 个样本在 2 个进程间的分片：

# %%
images, labels = torch.zeros(12, 28, 28, dtype=torch.uint8), torch.arange(12)  # 标签 = 下标
shards = [d2lite.DeviceLoader(images, labels, 3, shuffle=True, seed=0, rank=r, world_size=2)
          for r in range(2)]
for epoch in range(2):
    for shard in shards:
        shard.set_epoch(epoch)  # 本轮的排列：由 seed + epoch 决定
    seen = [torch.cat([y for _, y in shard]).tolist() for shard in shards]
    print(f"第 {epoch} 轮：rank 0 {seen[0]}，rank 1 {seen[1]}；"
          f"互不重叠且覆盖全部：{sorted(seen[0] + seen[1]) == list(range(12))}")

# %% [markdown]
# 排列由 `seed + epoch` 决定，所以必须告诉采样器现在是第几轮。如果在自己写的训练循环里忘了调用
# `sampler.set_epoch(epoch)`，每一轮都会悄无声息地重复第 0 轮的顺序：不报错，只是打乱得更差。
# `d2lite.train` 会在每轮开始前调用它。

# %%
forgetful = d2lite.DeviceLoader(images, labels, 3, shuffle=True, seed=0, rank=0, world_size=2)
orders = [torch.cat([y for _, y in forgetful]).tolist() for _ in range(2)]  # 没有调用 set_epoch
print(f"不调用 set_epoch：先是 {orders[0]}，然后是 {orders[1]}：每一轮顺序都一样")

# %% [markdown]
# ## 6.6 全局批量与学习率
#
# $N$ 个进程各处理 $b$ 个样本时，一步要平均 $B = Nb$ 个梯度，每轮的步数则减少为原来的 $1/N$。用 $B$ 个样本的
# 平均梯度做 SGD，不论 $B$ 多大，每一步迈出的距离都差不多，步数少了，每轮走的路也就短了。**线性缩放规则**
# 用来弥补这一点：批量大小乘以 $k$，学习率也乘以 $k$。Goyal 等人（2017，*Accurate, Large Minibatch SGD:
# Training ImageNet in 1 Hour*）在 256 块 GPU 上用 8,192[^goyal] 的全局批量和 $\eta = 0.1 \cdot B / 256$
# 训练 ResNet-50，达到了批量 256 时的精度；他们还用了**预热**（warm-up）：在前 5 轮[^goyal]里，学习率从小批量时的值
# 线性增长到目标值，因为权重离好的解还很远时，大学习率不稳定。在他们的实验中，批量超过约 8k 之后这条规则就失效了。
# 本书只把这些结果作为背景介绍，并没有实测。
#
# `python -m d2lite train` 采用了这条规则：`--batch-size` 指每个进程的批量大小，默认学习率是 `d2lite.BASE_LR`
# 乘以进程数（没有预热）。`BASE_LR` 是完整设置的学习率筛选（第 4 章，记录在仓库的 `book/runs/lr-screen-full.json` 里）
# 为批量 128 选出的学习率 {glue:text}`screen_lr:g`；下面的单元格读取这份记录，并检查两者一致。
#
# [^goyal]: P. Goyal 等，*Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour*，[arXiv](https://arxiv.org/abs/1706.02677)，2017：
#     在 ImageNet 上训练 ResNet-50，256 块 GPU，小批量最大 8,192 张图像，前 5 轮逐渐预热。

# %%
screen = d2lite.load_record("lr-screen-full")  # 第 4 章对完整设置做的学习率筛选
chosen = d2lite.glue("screen_lr", screen["verdict"]["chosen_lr"])
assert d2lite.BASE_LR == chosen, "BASE_LR 已经不是记录里筛选出的学习率"
print(f"完整设置的筛选为批量 128 选出的学习率 {chosen:g}：即 d2lite.BASE_LR")
for n in (1, 2, 4, 8):
    print(f"{n} 个进程 × 批量 128 = 全局批量 {n * 128:5d}："
          f"默认学习率 {d2lite.BASE_LR * n:g}")

# %% [markdown]
# ## 6.7 两个进程对一个进程：同样的训练
#
# 如果 DDP 真像 6.2 节说的那样工作，那么 $N$ 个各处理 $b$ 个样本的进程，和一个处理 $N b$ 个样本的进程，
# 会算出同样的梯度、迈出同样的步子。我们用 `d2lite` 的命令行把两种方式都跑一遍，这里在 CPU 上
# （`--device cpu`，gloo），然后逐步比较损失，再比较最终的权重。为了让两者在 float32 舍入误差以内一致，
# 我们关掉会因其他原因产生差别的东西：`--dropout 0`（每个进程的掩码是随机的）、`--amp fp32`（批量形状不同时，
# bf16 的舍入方式不同）、`--deterministic` 和 `--no-channels-last`；两次训练都用 `--weight-decay 0` 和同样的
# `--lr 0.01`，因为它们训练的是同样大小的全局批量。两次训练看到的图像和顺序也相同：第 $k$ 步的全局批量，
# 不论由一个进程独自处理还是两个进程分担，都是同一组图像。

# %%
n, b = NPROC, S["batch_per_process"]
COMMON = ["--subset", f"{n * b},{S['n_test']}",  # 训练图像恰好是一个全局批量
          "--epochs", str(S["epochs"]), "--lr", "0.01", "--device", DEVICE,
          "--amp", "fp32", "--dropout", "0", "--deterministic", "--no-channels-last",
          "--weight-decay", "0"]
SHOW = ("global batch", "loss ", "examples/sec")  # 值得看的那几行（命令行的输出是英文）
lines, seconds_one = run([sys.executable, "-m", "d2lite", "train", *COMMON,
                          "--batch-size", str(n * b), "--checkpoint", str(TMP / "one.pt"),
                          "--history", str(TMP / "one.json")], keep=SHOW)
print(*lines, sep="\n")
print(f"（{seconds_one:.0f} 秒）")

# %% [markdown]
# 再把同样的训练交给 $N$ 个各处理 $b$ 张图的进程，启动方式和在终端里运行 `torchrun` 一样：

# %%
lines, seconds_two = run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          f"--nproc_per_node={n}", "-m", "d2lite", "train", *COMMON,
                          "--batch-size", str(b), "--checkpoint", str(TMP / "two.pt"),
                          "--history", str(TMP / "two.json")], keep=SHOW)
print(*lines, sep="\n")
print(f"（{seconds_two:.0f} 秒）")

# %% [markdown]
# 只有 rank 0 打印了输出。每次训练都写下了自己的训练历史（`--history`，JSON）和最终的权重（`--checkpoint`）；
# 把它们并排放在一起：

# %%
h1, h2 = (json.loads((TMP / f"{name}.json").read_text()) for name in ("one", "two"))
w1, w2 = (torch.load(TMP / f"{name}.pt", map_location="cpu", weights_only=True)["model"]
          for name in ("one", "two"))
WORK.cleanup()  # 两次训练的文件都已读完：两个检查点（权重和动量）现在删除
print(f"步   1 × {n * b} 的损失   {n} × {b} 的损失    |差|")
for step, (l1, l2) in enumerate(zip(h1["train_loss"], h2["train_loss"]), start=1):
    print(f"{step:2d}   {l1:.7f}      {l2:.7f}      {abs(l1 - l2):.1e}")
loss_diff = d2lite.glue("ddp_loss_diff", max(abs(l1 - l2)
                                               for l1, l2 in zip(h1["train_loss"], h2["train_loss"])))
weight_diff = d2lite.glue("ddp_weight_diff", max((w1[k] - w2[k]).abs().max().item() for k in w1))
print(f"损失的最大差 {loss_diff:.1e}，权重的最大差 {weight_diff:.1e}（共 "
      f"{sum(v.numel() for v in w1.values()):,} 个权重）；测试精度 {h1['test']['acc']:.4f} "
      f"和 {h2['test']['acc']:.4f}")
if DEVICE == "cpu":  # float32 按不同的顺序求和：在舍入误差以内一致，并非逐位相同
    assert loss_diff < 1e-5 and weight_diff < 1e-4

# %% [markdown]
# 两次训练在 float32 的舍入误差以内一致，但不是逐位相同：损失和权重的最大差见上面输出的最后一行，这次分别是
# {glue:text}`ddp_loss_diff:.1e` 和 {glue:text}`ddp_weight_diff:.1e`。差别来自把同样的数
# 按不同的顺序相加（一整个批量，对比它的两半再加一次全归约），只改变最后几位，别无其他。步数这么少，损失几乎没动
# （约为 $\ln 10 \approx 2.30$，相当于在十个类别里瞎猜）：要看的是两者每一步都动得一样。各自跑得多快？

# %%
speed = {"nproc": d2lite.glue("ddp_nproc", n)}
for key, label, h, seconds in (("one", f"1 个进程 × {n * b}", h1, seconds_one),
                               ("two", f"{n} 个进程 × {b}", h2, seconds_two)):
    eps = h["examples_per_sec"][1:] or h["examples_per_sec"]  # 第一步是预热
    speed[key] = d2lite.glue(f"ddp_speed_{key}", round(sum(eps) / len(eps), 1))
    d2lite.glue(f"ddp_seconds_{key}", round(seconds))
    print(f"{label:>10}：每秒 {speed[key]:6.1f} 个训练样本，整条命令 {seconds:5.0f} 秒，"
          f"设备 {DEVICE}（{d2lite.device_name(DEVICE)}）")
ratio = d2lite.glue("ddp_ratio", round(speed["two"] / speed["one"], 2))
print(f"{n} 个进程 / 1 个进程：每秒训练样本数是 {ratio:.2f} 倍；{SETTING} 设置，"
      f"{os.cpu_count()} 个核心，torch {torch.__version__}")

# %% [markdown]
# 别把这两行当成数据并行的加速比。两次训练用的是同样的两个核心：要么一个进程开两个线程，要么两个进程各开一个线程
# （除非你自己设置，`torchrun` 会给每个进程设 `OMP_NUM_THREADS=1`）。要做的计算一样多，而两个进程每一步还要通过
# gloo 全归约 187 MB，开始前还要多启动一个进程、建立进程组。在本页这次运行里，{glue:text}`ddp_nproc:d` 个进程
# 每秒处理的训练样本是一个进程的 {glue:text}`ddp_ratio:.2f` 倍（{glue:text}`ddp_speed_two:.1f` 对
# {glue:text}`ddp_speed_one:.1f`），整条命令（连同启动）用了 {glue:text}`ddp_seconds_two:d` 秒，
# 单个进程则是 {glue:text}`ddp_seconds_one:d` 秒。
#
# 在 2 个核心上，这两行数字每次运行都相差不少。两个进程领先时，一个可能的原因（这里没有实测）：一个进程的两个线程在每个运算结束时都要互相等待，别的任务轮流占用核心时，这种等待的代价格外大；两个单线程
# 的进程每一步只在全归约时互相等待一次。真正的加速只能来自各自带着自己硬件的进程：一块 GPU，或者一台机器。
# 在 2 个 CPU 核心上，本节要说明的是正确性。
#
# ### 检查点：`module.` 前缀
#
# DDP 把模型存为自己的属性 `module`，所以 `ddp_model.state_dict()` 里每个张量的名字都成了 `module.0.weight`
# 而不是 `0.weight`，这样的文件就不能直接加载到普通的模型里。下面用一个包装类代替 DDP（DDP 需要进程组）：

# %%
class Wrapper(nn.Module):
    """从外面看，DDP 就是这样：模型是它的属性 `module`。"""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module


plain = d2lite.alexnet(dropout=0)
print("包装后的键：", list(Wrapper(plain).state_dict())[:2], "……")
try:
    plain.load_state_dict(Wrapper(d2lite.alexnet(dropout=0)).state_dict())
except RuntimeError as err:
    print("加载到普通模型：", str(err).splitlines()[1].strip()[:64], "……")
print("two.pt 里的键：", list(w2)[:2], "……（由 d2lite 在两个进程的训练中保存）")
plain.load_state_dict(w2)  # 键没有前缀：直接严格加载

# %% [markdown]
# 自己写 DDP 代码时，只在 rank 0 上保存 `ddp_model.module.state_dict()`，恢复训练时让每个 rank 都加载这个文件。
# `d2lite` 保存的是没有前缀的键（`d2lite.load_checkpoint` 也接受带 `module.` 或 `torch.compile` 的 `_orig_mod.`
# 前缀的文件），只由 rank 0 写文件，并保存每个 rank 的随机数状态，所以恢复后的训练能精确地接着跑下去。
#
# ## 6.8 多台机器
#
# 用两台机器时，每台机器各运行一个 `torchrun`，由它启动本机各块 GPU 的进程。它们通过 **rendezvous**（汇合点）
# 找到彼此：`torchrun` 在一个约定的地址上（`c10d` 后端，位于 `--rdzv-endpoint` 指定的机器上）维护一个小的
# 键值存储，并用一个作业 ID 把不同的作业分开。两台机器运行同一条命令：
#
# ```bash
# # 在 node0 和 node1 上都运行（node0 在 29400 端口上提供汇合点）：
# torchrun --nnodes=2 --nproc_per_node=4 \
#          --rdzv-backend=c10d --rdzv-endpoint=node0:29400 --rdzv-id=alexnet-1 \
#          -m d2lite train --setting full --checkpoint /shared/runs/alexnet.pt --resume
# ```
#
# 用汇合点时，各台机器的先后次序在汇合时才确定。较早的静态写法则直接指定次序：在 node0 上写 `--node-rank=0`，
# 在 node1 上写 `--node-rank=1`，并用 `--master-addr=node0 --master-port=29500` 代替那三个 `--rdzv-*` 选项。
#
# 在用 SLURM 管理的集群上，一个批处理脚本就能完成同样的事：SLURM 分配机器，`srun` 在每台机器上启动一个
# `torchrun`（`--ntasks-per-node=1`），作业的第一台机器提供汇合点：

# %% [markdown]
r"""
```bash
#!/bin/bash
#SBATCH --job-name=alexnet-ddp
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1          # 每台机器一个 torchrun，由它启动各 GPU 的进程
#SBATCH --gpus-per-node=4
#SBATCH --cpus-per-task=16
#SBATCH --time=02:00:00
#SBATCH --signal=TERM@120            # 到时限前 2 分钟发送 SIGTERM

export D2LITE_DATA=/shared/data/fashion-mnist
HEAD=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)

srun torchrun --nnodes="$SLURM_NNODES" --nproc_per_node=4 \
     --rdzv-backend=c10d --rdzv-endpoint="$HEAD:29400" --rdzv-id="$SLURM_JOB_ID" \
     -m d2lite train --setting full \
     --checkpoint /shared/runs/alexnet.pt --checkpoint-every 10min --resume
```
"""

# %% [markdown]
# 检查点要放在**每台机器都能访问的磁盘**上（NFS、Lustre 等）：rank 0 写它，恢复训练时每台机器的每个 rank 都要读它。
# 检查点如果放在 node0 的本地磁盘上，node1 的进程就拿不到权重。有了 `--resume`，同一个脚本既能开始新的训练，
# 也能接着被中断的训练继续；快到时限时，SLURM 发送 SIGTERM，`torchrun` 把它转发给各个进程，`d2lite`
# 让所有进程在同一步停下，并先保存检查点。
#
# ## 6.9 $N$ 块 GPU 能带来什么：纸上估算
#
# 本书没有可用的多 GPU 机器，所以这一节只做计算，不做测量。每一步，每块 GPU 先完成自己的前向和反向传播，
# 再（部分重叠地）对 187 MB 的 float32 梯度做全归约。每步的计算量可以数出来：训练大约是前向传播的 3 倍
# （反向传播要为每一层同时计算对输入和对权重的梯度）。计算的*速度*则只能假设，下面的图取决于这个假设。

# %%
GPU_BATCH = 128  # 每块 GPU 每步的图像数
ASSUMED_TFLOPS = 100  # 假设值，并非实测：一块 H100/H200 级 GPU 训练 AlexNet 时持续的 bf16 TFLOP/s
grad_bytes = total * 4  # 每个参数一个 float32 梯度
step_flops = 3 * forward_flops * GPU_BATCH
compute_ms = step_flops / (ASSUMED_TFLOPS * 1e12) * 1e3
print(f"梯度：每步 {grad_bytes / 1e6:.0f} MB；计算：每块 GPU 每步 {step_flops / 1e9:.0f} GFLOP，"
      f"按假设的 {ASSUMED_TFLOPS} TFLOP/s 计 -> {compute_ms:.1f} 毫秒")

# %% [markdown]
# 假设的 100 TFLOP/s 约为 H100 或 H200 稠密 bf16 峰值（约 990 TFLOP/s）的十分之一：AlexNet 的层都很小，
# 第一个卷积层只有一个输入通道，真实的训练还要等数据。请把它当作数量级来看。连接的带宽取每个方向上实际可用的值：
# 同一台 H100/H200 机器内 GPU 之间的 NVLink（约 450 GB/s），没有 NVLink 的卡之间的 PCIe 4.0 x16
# （理论 32 GB/s，实际约 25 GB/s），以及机器之间的 100 Gb/s 以太网（约 12 GB/s）。按环形全归约的
# $2\frac{N-1}{N}S$ 字节计算，一步的时间介于两个界限之间：完全重叠时为 $\max(t_\text{计算}, t_\text{通信})$，
# 完全不重叠时为 $t_\text{计算} + t_\text{通信}$。

# %%
LINKS = {"NVLink": 450, "PCIe 4.0 x16": 25, "100 Gb/s 以太网": 12}  # 每个方向的 GB/s


def comm_ms(n: int, gb_per_s: float) -> float:
    """梯度的环形全归约：每块 GPU 发送梯度字节数的 2 (n-1)/n 倍。"""
    return 2 * (n - 1) / n * grad_bytes / (gb_per_s * 1e9) * 1e3


def speedup(n: int, gb_per_s: float, overlap: bool) -> float:
    """每块 GPU 批量相同时，n 块 GPU 每秒处理的样本数是一块 GPU 的几倍。"""
    t = comm_ms(n, gb_per_s)
    return n * compute_ms / (max(compute_ms, t) if overlap else compute_ms + t)


print(f"{'N':>3}    通信毫秒  不重叠加速比  完全重叠加速比    连接")
for link, bw in LINKS.items():
    for n_gpu in (2, 4, 8):
        print(f"{n_gpu:>3}{comm_ms(n_gpu, bw):>12.1f}"
              f"{speedup(n_gpu, bw, False):>14.1f}{speedup(n_gpu, bw, True):>16.1f}    {link}")

# %% mystnb={"image": {"alt": "\u6298\u7ebf\u56fe\uff1a\u6570\u636e\u5e76\u884c\u8bad\u7ec3 AlexNet \u7684\u4f30\u7b97\u52a0\u901f\u6bd4\u968f GPU \u6570\u91cf\uff081 \u5230 16\uff09\u7684\u53d8\u5316\uff0c\u5206\u522b\u5bf9\u5e94 NVLink\u3001PCIe 4.0 \u548c 100 Gb/s \u4ee5\u592a\u7f51\uff0c\u5e76\u753b\u51fa\u901a\u4fe1\u4e0e\u8ba1\u7b97\u91cd\u53e0\u548c\u4e0d\u91cd\u53e0\u4e24\u79cd\u60c5\u5f62\u3002NVLink \u7d27\u8d34\u7406\u60f3\u7684\u5bf9\u89d2\u7ebf\uff0cPCIe \u548c\u4ee5\u592a\u7f51\u8fdc\u4f4e\u4e8e\u5b83\u3002"}}
counts = [1, 2, 4, 8, 16]
fig, ax = plt.subplots(figsize=(6.5, 4))
ax.plot(counts, counts, color="grey", linestyle=":", label="理想：一块 GPU 的 N 倍")
for (link, bw), color in zip(LINKS.items(), ["tab:green", "tab:orange", "tab:red"]):
    ax.fill_between(counts, [speedup(c, bw, False) for c in counts],
                    [speedup(c, bw, True) for c in counts], color=color, alpha=0.25)
    ax.plot(counts, [speedup(c, bw, True) for c in counts], color=color, label=link)
ax.set_xscale("log", base=2)
ax.set_yscale("log", base=2)
ax.set_xticks(counts, [str(c) for c in counts])
ax.set_yticks([0.5, 1, 2, 4, 8, 16], ["0.5", "1", "2", "4", "8", "16"])
ax.set_xlabel("GPU 数量 N")
ax.set_ylabel("相对一块 GPU 的加速比")
ax.set_title(f"AlexNet，每块 GPU 批量 {GPU_BATCH}，计算 {compute_ms:.1f} 毫秒（假设）")
ax.legend(title="色带：从不重叠到完全重叠", fontsize=8, title_fontsize=8)
ax.grid(alpha=0.3)
plt.show()

# %% [markdown]
# 在这些假设下，AlexNet 的数据并行在 NVLink 上是划算的：全归约不到一毫秒，只有计算时间的十分之一，
# 8 块 GPU 接近一块的 8 倍。走 PCIe 时，2 块 GPU 的全归约就和计算一样长，8 块时接近计算的两倍，所以即使重叠得很好，
# 8 块 GPU 也只有一块的 3 到 4 倍。走 100 Gb/s 以太网时，两台各有一块 GPU 的机器反而*比*一块 GPU *慢*，
# 8 块也只快一倍左右。问题出在 AlexNet 的结构上：它的全连接层占了 {glue:text}`dense_param_share:.0%`
# 的参数，要发送的字节也占这么多，却只承担 {glue:text}`dense_flop_share:.1%` 的计算（6.1 节）。Krizhevsky 在 2014 年得出了同样的结论（*One weird trick for parallelizing
# convolutional neural networks*）：卷积层用数据并行，全连接层用模型并行。以卷积为主的网络（比如 ResNet）
# 每个 FLOP 要发送的字节少得多，扩展性更好；加大每块 GPU 的批量（每发送一个字节对应更多的计算）也有帮助。
# 本机的 2 个 CPU 进程与这些都无关：它们共用同样的两个核心，本来就不该指望有加速（见 6.7 节）。
#
# ## 小结
#
# - AlexNet（2012）把一个模型拆到两块 3 GB 的 GPU 上，每块放一半卷积核，只在少数几层交换数据：这是模型并行。
#   如今这种规模的模型在每块 GPU 上都装得下，数据并行让每块 GPU 持有一份完整的副本，处理全局批量 $B = Nb$
#   中属于自己的一份。
# - DDP 在开始时复制 rank 0 的权重；每一步在本地做前向和反向传播，一边反向传播一边按约 25 MB 的桶对梯度做全归约，
#   然后每个副本做同样的优化器更新。$N$ 个分片梯度的平均就是全局批量的梯度，所以 6.7 节里 2 个各处理 $b$ 张图
#   的进程和 1 个处理 $2b$ 张图的进程训练得一样，只差 float32 的舍入误差。
# - `torchrun` 为每块 GPU 启动一个进程，并设置 `RANK`、`LOCAL_RANK` 和 `WORLD_SIZE`。采样器把每一轮共享的排列
#   分成分片；每轮都要调用 `set_epoch`。由 rank 0 保存去掉包装的模型（没有 `module.` 前缀），
#   并放在每台机器都能访问的磁盘上。
# - 线性缩放规则让学习率随全局批量增大，并配合预热（Goyal 等人，2017）；`python -m d2lite train`
#   的默认学习率是 `d2lite.BASE_LR`（{glue:text}`screen_lr:g`，第 4 章的筛选选出的学习率）× 进程数。
# - GPU 用 NCCL，CPU 用 gloo。环形全归约每步在每块 GPU 上发送约 $2S$ 字节：对 AlexNet 的 187 MB 来说，
#   走 NVLink 不值一提，走 PCIe 或以太网则比计算还久。
#
# ## 练习
#
# 1. 6.7 节关掉了暂退法。如果用 `--dropout 0.5`，2 个进程 × $b$ 的训练还会和 1 个进程 × $2b$ 的一样吗？它还算正确的数据并行训练吗？
# 2. 分别计算 $N = 2$、8、64 和 1024 块 GPU 时每块 GPU 每步发送的字节数。极限是多少？这对大规模作业意味着什么？
# 3. 把每块 GPU 的批量从 128 提高到 512，重新计算 8 块 GPU 走 100 Gb/s 以太网时的加速比。要想训练结果同样好，
#    还有什么必须跟着改？
# 4. Krizhevsky 的“one weird trick”：只对卷积层用数据并行，全连接层改为拆到各块 GPU 上。每步还剩多少字节的梯度
#    需要全归约？8 块 GPU 走 PCIe 时的加速比会怎样？
# 5. 如果每个进程用自己的种子打乱数据，比如 `seed=rank`，会出什么问题？用 2 个进程的 `d2lite.DeviceLoader` 找出答案。

# %% [markdown]
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行（测试也会在快速设置下运行它们）。
#
# :::{admonition} 解答 1：数据并行中的暂退法
# :class: dropdown
# 不会再精确到最后几位：每个进程抽取自己的暂退掩码（`d2lite` 有意给各进程不同的随机数流，`seed + 1 + rank`），
# 而单个进程独自处理整个全局批量时，又会抽到另一些掩码。损失和权重会像两次不同种子的训练那样逐渐分开。但它仍然是正确的：
# 每个样本都得到一个独立的随机掩码，和在单个进程里一样，平均后的梯度是同一个期望梯度的无偏估计。真正不能发生的，
# 是所有进程都抽到*同样的*掩码，那样不同分片上的噪声就相关了。
# :::
#
# :::{admonition} 解答 2：每块 GPU 的通信量随 N 的变化
# :class: dropdown
# $2\frac{N-1}{N}S$ 从 $S$（$N = 2$ 时为 187 MB）增长到 $2S$（374 MB）为止，再也不会超过：64 块 GPU 时已经达到
# 极限的 {glue:text}`share_at_64:.0%`。环形全归约在每块 GPU 上的通信量不随作业规模增长，这就是数据并行能扩展到上千块 GPU 的原因。
# 增长的是延迟：$2(N-1)$ 轮，每轮都有固定的启动开销，所以在 $N$ 很大、消息很小时，NCCL 还会改用树形算法。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 2 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 2 \u7684\u4ee3\u7801"} tags=["hide-cell"]
d2lite.glue("share_at_64", (64 - 1) / 64)  # N = 64 时 2 (N-1)/N S 与极限 2S 之比
for n_gpu in (2, 8, 64, 1024):
    sent = 2 * (n_gpu - 1) / n_gpu * grad_bytes
    print(f"N = {n_gpu:5d}：每块 GPU 每步 {sent / 1e6:5.0f} MB"
          f"（是极限 2S = {2 * grad_bytes / 1e6:.0f} MB 的 {sent / (2 * grad_bytes):.1%}）")

# %% [markdown]
# :::{admonition} 解答 3：加大每块 GPU 的批量
# :class: dropdown
# 每步的图像多了 3 倍，每步的计算量也变成 4 倍，而要发送的梯度仍是 187 MB：通信的分量只剩四分之一，
# 8 块 GPU 走以太网的加速比从约 2 倍提高到 4 到 8 倍之间（代码会打印出来）。但全局批量随之变成 $8 \times 512 = 4096$：
# 按线性缩放规则，学习率要跟着增大，变成批量 128 时的 {glue:text}`screen_lr:g` 的 4096 / 128 = 32 倍，并配合预热；
# 每轮的步数也只有一块 GPU、批量 128 时的 1/32（代码把两者都打印出来）。精度能否保持要靠实测；
# Goyal 等人在 ResNet-50 上一直保持到约 8k。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 3 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 3 \u7684\u4ee3\u7801"} tags=["hide-cell"]
bw = LINKS["100 Gb/s 以太网"]
for batch in (128, 512):
    c_ms = 3 * forward_flops * batch / (ASSUMED_TFLOPS * 1e12) * 1e3
    t_ms = comm_ms(8, bw)
    print(f"每块 GPU 批量 {batch}：计算 {c_ms:5.1f} 毫秒，通信 {t_ms:.1f} 毫秒 -> 8 块 GPU "
          f"{8 * c_ms / (c_ms + t_ms):.1f} 倍（不重叠）到 {8 * c_ms / max(c_ms, t_ms):.1f} 倍"
          f"（完全重叠）；全局批量 {8 * batch} = {8 * batch // 128} × 128，按线性规则学习率 "
          f"{d2lite.BASE_LR * 8 * batch / 128:g}")

# %% [markdown]
# :::{admonition} 解答 4：只对卷积层做数据并行
# :class: dropdown
# 卷积层只占 8% 的参数，所以只剩约 15 MB 的梯度需要全归约；8 块 GPU 走 PCIe 时，通信从 13 毫秒降到约 1 毫秒，
# 在这个估算中加速比又接近 8 倍了。代价转移到了别处：全连接层拆开以后，各块 GPU 必须交换进入 fc6、fc7 和 fc8
# 的激活值（每张图几千个数，反向时还有它们的梯度），这部分随批量增长，而不是随参数增长。对 AlexNet 来说这笔交易更划算；
# 代码算出了字节数。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 4 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 4 \u7684\u4ee3\u7801"} tags=["hide-cell"]
conv_bytes = sum(r.params for r in rows if r.layer == "Conv2d") * 4
bw = LINKS["PCIe 4.0 x16"]
t_conv = 2 * 7 / 8 * conv_bytes / (bw * 1e9) * 1e3
print(f"卷积层的梯度：{conv_bytes / 1e6:.1f} MB（占全部的 {conv_bytes / grad_bytes:.1%}）")
print(f"8 块 GPU 走 PCIe：通信 {t_conv:.1f} 毫秒，而不是 {comm_ms(8, bw):.1f} 毫秒；加速比 "
      f"{8 * compute_ms / (compute_ms + t_conv):.1f} 到 {8 * compute_ms / max(compute_ms, t_conv):.1f} 倍，"
      f"而不是 {speedup(8, bw, False):.1f} 到 {speedup(8, bw, True):.1f} 倍")

# %% [markdown]
# :::{admonition} 解答 5：每个进程用不同的种子
# :class: dropdown
# 这样每个进程抽到的排列各不相同，“从我的排列里每隔一个取一个”就拼不到一起了：有些样本同时落进两个分片，
# 也有同样多的样本哪个分片都没落进。代码对 12 个样本数了一下。用共享的种子时，各分片互不重叠又覆盖全部样本；
# 这就是为什么 `d2lite.DeviceLoader` 拒绝没有 `seed` 的分片打乱加载器，也是为什么 `DistributedSampler` 有一个
# 在所有进程里都必须相同的 `seed` 参数。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 5 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 5 \u7684\u4ee3\u7801"} tags=["hide-cell"]
own = [d2lite.DeviceLoader(images, labels, 3, shuffle=True, seed=r, rank=r, world_size=2)
       for r in range(2)]  # 错误的做法：seed=rank
seen = [set(torch.cat([y for _, y in shard]).tolist()) for shard in own]
print(f"rank 0 {sorted(seen[0])}，rank 1 {sorted(seen[1])}")
print(f"同时在两个分片里：{sorted(seen[0] & seen[1])}；哪个分片都不在："
      f"{sorted(set(range(12)) - seen[0] - seen[1])}")
