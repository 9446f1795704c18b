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
# # 4 训练 AlexNet
#
# 第 2 章搭好了网络，第 3 章准备好了数据，这一章把两者接到一起：先弄清楚怎样衡量模型“答对了多少”，
# 再真正训练它，看着损失和精度曲线一点点变化。
#
# **本章你将学到**
#
# - 分类精度是什么，怎样从一批预测分数算出它；
# - 怎样在测试集上评估模型，而不碰模型的权重；
# - 一个训练步骤做了哪些事，`d2lite.train` 又在它外面加了什么（实时曲线、收尾的两行输出、每轮保存的检查点）；
# - 原教程用批量大小 1，本章为什么改用 128，依据是哪些实测数字；
# - 快速路径里的几个提速手段：数据常驻 GPU、bf16 混合精度、`channels_last`。
#
# ```{note}
# **运行时间**（2026-12-01 在一台 2 核 Intel Xeon（family 6 model 207，带 AMX）CPU 上实测）：
#
# - **CPU 设置**（没有 GPU 的机器默认跑的就是它，本页的输出也来自它）：训练 2 轮，训练图像的数量按手头这台 CPU
#   在 15 分钟预算内跑得完的来定。这次 4.2 节的规划选了 27520 张，整页用时 724 秒（约 12 分钟），最终测试精度 0.840。
#   在你自己的机器上，请看规划打印出的结果，以及训练开始几步后出现的 `estimate:` 一行：它们都是在你的 CPU 上实测的。
# - **快速设置**（384 张图像、1 轮；测试用）：约 20 秒，什么也学不会。
# - **完整设置**（6 万张图像、10 轮）：为 GPU 准备，本书尚未实测。
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 本章所有可调的参数都集中在下一个单元格里，并排写着三套设置：
#
# - `FULL`：本书真正的训练方案，全部 6 万张图像、10 轮，是给 GPU 准备的；
# - `CPU`：给没有 GPU 的机器用，训练 2 轮，训练图像取这台 CPU 在 `budget_minutes`（15）分钟内跑得完的数量，
#   十几分钟而不是几个小时就能跑完，而且确实能学到东西（这里测试精度 0.84）；
# - `QUICK_SETTING`：测试用的快速设置，子集极小，几秒钟跑完，什么也学不会。
#
# `d2lite.setting()` 找到 GPU 时选 `FULL`，找不到时选 `CPU`。环境变量 `D2LITE_SETTING`（取值
# `quick`、`cpu` 或 `full`）可以改掉这个选择；`D2LITE_QUICK=1` 是 `D2LITE_SETTING=quick` 的简写。

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # 有 GPU 时为 "full"，没有时为 "cpu"，测试中为 "quick"
FULL = dict(
    subset=None,  # 全部 60000 张训练图像和 10000 张测试图像
    budget_minutes=None,  # 不设时间预算：完整方案
    batch_size=128,  # d2l 公布的批量大小；批量为 1 时硬件大半在空转（见下文的表）
    num_epochs=10,  # d2l 公布的轮数，据其报告测试精度约 0.88
    lr=0.01,  # AlexNet 论文的学习率，也是下文 CPU 初筛中测试精度最好的
    momentum=0.9,  # 论文的取值；筛选中不带动量、lr 0.01 的 SGD 学得慢得多
    amp=True,  # bf16 快的硬件上（Ampere 及更新的 GPU、带 AVX512/AMX 的 CPU）用 bf16 自动混合精度
    channels_last=True,  # NHWC 内存布局，GPU 张量核心卷积喜欢的格式
    on_device=True,  # uint8 数据集整体放在设备上，批次也在设备上切
)
CPU = dict(
    subset=None,  # 先载入全部图像：用多少训练图像由 budget_minutes 决定
    budget_minutes=15,  # 整个训练（含评估）的时间预算，按运行它的这台 CPU 的实测速度来定（见 4.2）
    batch_size=128,
    num_epochs=2,  # 过两遍数据，曲线上有两个测试精度点
    lr=0.01,
    momentum=0.9,
    amp=True,  # 有 AVX512-BF16 或 AMX 的 CPU 上用 bf16，其他 CPU 上 d2lite 自动改用 float32
    channels_last=True,  # NHWC：在 AMD EPYC（Zen 4）上实测每秒 49.3 对 40.1 个样本，见 benchmarks/RESULTS.md
    on_device=True,  # 不启动 DataLoader 工作进程；整批用 F.interpolate 放大
)
QUICK_SETTING = dict(
    subset=(384, 192),  # 384 张训练 / 192 张测试：2 个空闲核心上约 20 秒
    budget_minutes=None,
    batch_size=32,  # 每轮 12 步，实时曲线上能有几个点
    num_epochs=1,  # 只过一遍：够演示流程，远不够学会
    lr=0.01,
    momentum=0.9,
    amp=True,
    channels_last=False,
    on_device=True,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}，"
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} 设置：{S}")

# %% tags=["hide-input"]
import datetime
import json
from pathlib import Path

import torch

print("中文字体：", d2lite.use_cjk_font())

# %% [markdown]
# 训练放在能找到的最好的设备上：先找 CUDA GPU，再找苹果的 `mps`，最后才是 CPU。

# %% tags=["hide-input"]
device = d2lite.try_gpu()
name = d2lite.device_name(device)  # GPU 或 CPU 的型号
print(f"设备：{device}（{name}），torch {torch.__version__}，{torch.get_num_threads()} 个线程")
if QUICK:
    print("快速运行：只用一个很小的子集训练 1 轮，下面打印的精度没有任何意义。")
elif SETTING == "cpu":
    print(f"CPU 设置：训练 {S['num_epochs']} 轮，训练图像取这台 CPU 在 {S['budget_minutes']} "
          "分钟内跑得完的数量（在 4.2 节确定）。完整设置（GPU 上用全部 6 万张图像训练 10 轮）"
          "的最终精度预计会更高。")

# %% [markdown]
# ## 4.1 分类精度
#
# 对每张图像，网络输出 10 个分数 $o_{i1}, \dots, o_{i10}$，每个类别一个。取分数最大的类别作为它的“硬预测”；
# 在 $n$ 个样本上，预测与标签一致的比例就是精度（accuracy，也常译作准确率或正确率）：
#
# $$\hat y_i = \operatorname*{argmax}_j o_{ij}, \qquad
#   \text{精度} = \frac{1}{n}\sum_{i=1}^{n} \mathbb{1}\left[\hat y_i = y_i\right].$$
#
# 先用一个 4 个样本、3 个类别的小例子检验 `d2lite.accuracy`，结果可以直接心算核对。

# %%
y_hat = torch.tensor([[0.1, 2.0, 0.3],   # 最大值在第 1 类，标签 1：对
                      [1.5, 0.2, 0.1],   # 最大值在第 0 类，标签 0：对
                      [0.2, 0.1, 3.0],   # 最大值在第 2 类，标签 1：错
                      [0.9, 1.1, 0.0]])  # 最大值在第 1 类，标签 1：对
y = torch.tensor([1, 0, 1, 1])
print("预测：", y_hat.argmax(dim=1).tolist(), " 标签：", y.tolist())
print("答对：", d2lite.accuracy(y_hat, y), " 精度：", d2lite.accuracy(y_hat, y) / len(y))

# %% [markdown]
# 注意 `accuracy` 返回的是答对的**个数**而不是比例。这样不同大小的批次可以直接把个数相加，最后只除一次。
#
# ```{note}
# 我们并不直接优化精度。精度对权重来说是阶梯函数：权重稍微一动，要么没有任何预测改变（梯度为零），
# 要么某个预测突然翻转（函数跳变）。所以训练时最小化的是光滑的交叉熵损失，精度则是我们真正关心、
# 拿来观察的指标。
# ```

# %% [markdown]
# ## 4.2 数据与模型
#
# 数据仍由第 3 章的加载函数提供，并从 28×28 放大到 AlexNet 需要的 224×224。打开 `on_device` 后，
# 加载器是一个 `DeviceLoader`：整个 uint8 数据集一次性拷到设备上，每个批次的打乱、切分和缩放都在设备上完成。

# %%
train_iter, test_iter = d2lite.load_data_fashion_mnist(
    S["batch_size"], resize=224, subset=S["subset"],
    device=device if S["on_device"] else None)
X, y = next(iter(train_iter))
print(type(train_iter).__name__, f"每轮 {len(train_iter)} 个批次，第一个批次",
      tuple(X.shape), X.dtype, X.device)

# %% [markdown]
# 模型就是第 2 章的 AlexNet。权重初始化单独作为一步写出来（`d2lite.train` 不会悄悄替你做）：
# 和原教程一样，对每个卷积层和全连接层用 Xavier 均匀分布初始化，并固定随机种子，以便复现。

# %%
d2lite.set_seed(0)  # 偏置、Xavier 权重和打乱顺序都由它决定
net = d2lite.alexnet()
d2lite.init_weights(net)
net.to(device)
print(f"{sum(p.numel() for p in net.parameters()):,} 个参数，位于 {device}")

# %% [markdown]
# ### 按时间预算确定 CPU 上的训练规模
#
# 一轮训练要多久，主要取决于 CPU，而不是这个笔记本里的任何设置：同一段代码，在带 AMX 的 Xeon 上比在
# 不带 AMX 的 AMD EPYC 上快一倍左右，在一台正忙着别的事的笔记本电脑上还会慢好几倍。所以 CPU 设置不写死
# 训练图像的数量。`d2lite.plan_budget` 先在模型的一份副本上计时几个训练批次和评估批次（模型本身和随机数
# 状态都不受影响），再按整个训练（含每轮在测试集上的评估）不超过 `budget_minutes` 分钟，算出能用多少张
# 训练图像。它会打印测到的速度和选定的规模；想训练得更久、更好，就在参数单元格里调大 `budget_minutes`。
# 其他设置下这一步什么也不改。

# %%
if S["budget_minutes"]:  # CPU 设置：在这台机器上，预算内跑得完多少训练图像就用多少
    plan = d2lite.plan_budget(net, train_iter, test_iter, S["budget_minutes"], S["num_epochs"],
                              device=device, amp=S["amp"], channels_last=S["channels_last"])
    print(plan)
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        S["batch_size"], resize=224, subset=(plan.n_train, None), device=device)
print(f"每轮 {len(train_iter)} 个训练批次，每批 {S['batch_size']} 张")

# %% [markdown]
# ## 4.3 在测试集上评估
#
# `d2lite.evaluate_accuracy_gpu` 让模型把 `test_iter` 过一遍，返回精度。有两个细节值得留意：
# 它先调用 `net.eval()` 切换到评估模式，暂退法（dropout）因此关闭，结果是确定的；
# 它在 `torch.inference_mode()` 下运行，PyTorch 不为反向传播记录计算图，省内存、跑得快，也不可能误改权重。
# 评估结束后，它会把模型切回原来的模式，所以在训练中途调用它，也不会让后面的训练步骤悄悄关掉 dropout。
# 还没训练的网络，大约十次能蒙对一次。

# %%
acc0 = d2lite.evaluate_accuracy_gpu(net, test_iter, amp=S["amp"])
print(f"未训练时的测试精度：{acc0:.3f}（随机猜：0.100）；评估之后模型仍处于 "
      f"{'训练' if net.training else '评估'}模式")

# %% [markdown]
# ## 4.4 批量大小：为什么不沿用原教程的 1？
#
# 原教程以 `batch_size = 1` 训练了 100 轮，在一块没有注明型号的 GPU 上得到 0.923 的测试精度，
# 速度是每秒 928 个样本。照这个速度，100 轮需要 60000 × 100 / 928 秒：

# %%
seed_hours = 60_000 * 100 / 928 / 3600
print(f"原教程那次训练：{seed_hours:.1f} 小时")

# %% [markdown]
# 每步只喂一张图，对 GPU 来说很不划算：每一步都要发射同样几十个小内核，时间耗在 Python 和内核启动上，
# 大部分运算单元却闲着。批量大了，每个内核才有足够的活干。即便在这台 CPU 上也能看出这一点。
# 我们用 `benchmarks/batch_size_cpu.py` 测了 AlexNet 训练步骤的速度（224×224，带动量的 SGD，
# 数据在内存中，先预热一步再计时）：
#
# | 批量 | 数据类型 | 每秒样本数，墙钟（第 1 / 2 / 3 次） | 每 CPU 秒样本数（第 1 / 2 / 3 次） |
# |---:|:---:|---:|---:|
# | 1 | fp32 | 0.6 / 0.4 / 1.3 | 1.5 / 1.3 / 1.3 |
# | 1 | bf16 | 0.3 / 0.5 / 1.1 | 0.9 / 1.1 / 1.1 |
# | 32 | fp32 | 5.9 / 3.9 / 15.1 | 14.2 / 12.6 / 14.3 |
# | 32 | bf16 | 10.9 / 3.2 / 19.2 | 19.9 / 15.4 / 18.5 |
# | 128 | fp32 | 5.6 / 9.9 / 15.7 | 14.7 / 16.3 / 15.3 |
# | 128 | bf16 | 11.9 / 24.3 / 37.9 | 33.4 / 35.5 / 35.6 |
#
# 测量于 2026-11-28，虚拟机中的 2 核 Intel Xeon（Sapphire Rapids，带 AMX），torch 2.14.1，2 个线程，
# 每种设置计时 8 到 10 秒，共测三次。前两次机器同时在跑别人的任务（2 个核心上负载 8 到 12），
# 墙钟数字明显偏低；第 3 次时机器几乎空闲（负载约 1）。最后一列除以的是本进程实际分到的 CPU 时间（`time.process_time()`），
# 受其他任务的干扰小得多，三次结果相差不超过约 25%。结论并不含糊：每步一张图时，每 CPU 秒处理的样本
# 比批量 32 或 128 少约 10 到 25 倍；bf16 只在大批量时才划算，原因多半是 autocast 每一步都要把 4700 万个权重重新转换成 bf16，
# 这笔开销只有大批量才摊得薄。
#
# 《动手学深度学习》（d2l）训练的是同一个网络，公布的设置是**批量 128、学习率 0.01（不带动量的 SGD）、
# 10 轮**，在 GPU 上报告的测试精度约为 **0.88**——这是它公布的数字，不是我们测的。本章保留批量 128
# 和 10 轮，另加上 AlexNet 论文用的动量 0.9。学习率则来自在 CPU 上用 `benchmarks/lr_sweep_cpu.py`
# 做的一次简短筛选：
#
# | 学习率 | 动量 | 训练损失 | 训练精度 | 测试精度 |
# |---:|---:|---:|---:|---:|
# | 0.01 | 0（d2l 的设置） | 2.295 | 0.138 | 0.419 |
# | 0.003 | 0.9 | 2.286 | 0.165 | 0.445 |
# | **0.01** | **0.9** | 2.015 | 0.260 | **0.489** |
# | 0.03 | 0.9 | 1.882 | 0.334 | 0.431 |
#
# 每行只跑一次，2026-11-28，同一台 CPU：固定的 6144 张训练图像子集（批量 128，共 48 步，1 轮）和
# 1000 张测试图像，28→224，bf16，随机种子 0；在这台共用机器上每行约 4 到 5 分钟。学习率相同时，
# 加上动量的短训练比普通 SGD 学得快得多。几个带动量的设置里，0.03 把训练损失降得最低，测试精度却不如 0.01；
# 0.003 则几乎没动。我们选 **学习率 0.01、动量 0.9**，这也正是 AlexNet 论文的选择。
# 动量会把过去的步长累加起来：梯度稳定之后，每一步大约走 lr / (1 − 动量) = 0.1 倍的梯度，
# 是同样学习率下普通 SGD 的十倍，这就是带动量的几次训练学得快得多的原因。
# 在十分之一的数据上训练 1 轮只是一次初筛，算不上证明，真正的检验是在 GPU 上的完整训练。
#
# 下面把实测速度换算成完整跑一轮要花的 CPU 时间。一个“CPU 小时”是一个核心满负荷工作一小时；
# 本进程用 2 个线程，所以墙钟时间最多能缩短到 CPU 时间的一半。另外，这些计时都很短（预热一步之后只跑几步），
# 会低估长时间训练的速度：批量 128 时每 CPU 秒 34.8 个样本，在 2 个核心上折合每秒约 70 个样本，
# 而后面的训练实际能维持每秒约 108 个。估算时应以训练自己打印的速度为准。

# %%
measured = {  # 这台 CPU 每 CPU 秒处理的样本数，取上表三次测量的平均
    (1, "fp32"): 1.4, (1, "bf16"): 1.0,
    (32, "fp32"): 13.7, (32, "bf16"): 17.9,
    (128, "fp32"): 15.4, (128, "bf16"): 34.8,
}
for (batch, dtype), eps in measured.items():
    print(f"批量 {batch:>3} {dtype}：每 CPU 秒 {eps:4.1f} 个样本 -> 6 万张图像的一轮"
          f"要花 {60_000 / eps / 3600:4.1f} 个 CPU 小时")

# %% [markdown]
# ## 4.5 训练循环
#
# `d2lite.train` 就是原教程的 `train` 函数，只是更结实，并且拆成了一件事一个函数。`train_step` 处理一个
# 批次：在本次训练的自动混合精度上下文里做前向计算，算损失，`backward()`，再让优化器走一步。下面显示的是
# 库里的原样代码，构建网页时直接从 `d2lite.py` 读出，所以不会和真正运行的代码脱节：

# %%
import inspect

from IPython.display import Code

Code(inspect.getsource(d2lite.train_step), language="python")

# %% [markdown]
# `train_epoch` 把数据过一遍：每个批次调用一次 `train_step`，损失之和与答对个数都留在设备上累加，每轮只在
# 大约 5 个记录点读出来；在记录点上它检查损失是否发散，给曲线添一个点，并刷新进度行：

# %%
Code(inspect.getsource(d2lite.train_epoch), language="python")

# %% [markdown]
# `train` 把它们串起来：为整个训练一次性选定设备和自动混合精度的数据类型，从检查点续训，每轮结束后评估并
# 写检查点，还显示一行带剩余时间的进度。在这些之外，它还会检查参数；损失变成 NaN 或无穷大，或者爆炸到均匀瞎猜时损失（ln 10 ≈ 2.30）的
# 1000 倍以上时，给出明确的报错；按下 Ctrl-C 能干净地停下；最后返回记录了每一轮结果的 `History`。

# %% [markdown]
# 快速路径就是三个开关，各有各的理由：
#
# - **数据放在设备上**（`DeviceLoader`）：uint8 图像只拷到 GPU 一次（47 MB），打乱、分批以及 28→224 的缩放
#   （对整批调用 `F.interpolate`）都在 GPU 上完成，GPU 不必再等 CPU 工作进程（原教程的流程就是在这样的
#   工作进程里用 PIL 一张张地缩放图片）；
# - **`amp=True`**：前向计算在 autocast 下用 16 位浮点格式进行，权重和优化器状态仍保持 float32。用哪种格式由
#   `d2lite.amp_dtype` 在每次训练开始时按硬件一次定好：Ampere 及更新的 GPU、带 AVX512-BF16 或 AMX 的 CPU 用
#   bfloat16；免费托管笔记本常见的 T4 和 V100 的张量核心只支持 fp16、不支持 bf16，就用 float16；其他硬件（更老的
#   GPU、只有 AVX2 的 CPU、苹果的 `mps`）用 float32。bf16 的指数范围和 float32 相同；float16 则不然（最大只到
#   65504，小于约 6·10⁻⁸ 的梯度会变成 0），所以这时 `train` 会加上梯度缩放器：`backward()` 之前先把损失放大，
#   更新之前再把梯度缩回去，梯度溢出的那一步直接跳过。实际用了哪种格式记录在 `history.amp_dtype` 里；
# - **`channels_last=True`**：激活值按“高-宽-通道”的顺序存放，GPU 张量核心的卷积内核、新款 CPU 上 oneDNN 的
#   卷积内核都可以直接读取这种布局。
#
# 在 GPU 上，`train` 还会打开 `cudnn.benchmark`：对每种输入形状先把各种卷积算法计时一遍，再一直用最快的那个。
# 不同运行选中的算法可能不同，结果因此不能逐位复现；`d2lite.set_seed(0, deterministic=True)` 会关掉它。
#
# 开始训练前，先把这次的设置写进检查点旁边的一个 JSON 文件，第 5 章就能说清它加载的是怎样训练出来的模型。
# `checkpoints/` 文件夹不纳入 git。

# %%
CKPT = Path("checkpoints") / "alexnet_fashion_mnist.pt"
CKPT.parent.mkdir(exist_ok=True)
run = dict(S, setting=SETTING, quick=QUICK, device=str(device), device_name=name,
           torch=torch.__version__, date=datetime.date.today().isoformat())
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))
print(run)

# %% [markdown]
# 现在开始训练。在 Jupyter 里，下面的图每轮大约刷新 5 次：实线是训练损失，虚线是训练精度，
# 带圆点的点划线是每轮结束时的测试精度。这里自己建了一个 `Animator`，好让坐标轴和图例用中文。
#
# 曲线里有两处容易看错。训练曲线上的每个点都是**本轮到目前为止的平均值**，每轮开始时从头算起：
# 第 2 轮的第一个点只平均了已经训练过的模型看到的几个批次，所以曲线在第 1 轮处会跳一下。
# 另外，测试精度可能高于训练精度：训练精度是整轮的平均，包括了一开始较差的批次，而且是在 dropout
# 打开时测的；测试精度则是在每轮结束、dropout 关闭时测的。

# %% mystnb={"image": {"alt": "\u8bad\u7ec3\u66f2\u7ebf\uff0c\u6a2a\u8f74\u662f\u8f6e\u6570\uff1a\u5b9e\u7ebf\u662f\u8bad\u7ec3\u635f\u5931\uff0c\u865a\u7ebf\u662f\u8bad\u7ec3\u7cbe\u5ea6\uff0c\u70b9\u5212\u7ebf\u4e0a\u7684\u5706\u70b9\u662f\u6bcf\u8f6e\u7ed3\u675f\u65f6\u7684\u6d4b\u8bd5\u7cbe\u5ea6\u3002"}}
history = d2lite.train(
    net, train_iter, test_iter, S["num_epochs"], S["lr"], device,
    momentum=S["momentum"], amp=S["amp"],
    channels_last=S["channels_last"],
    checkpoint=CKPT,
    animator=d2lite.Animator(xlabel="轮次", ylabel="损失 / 精度", xlim=[0, S["num_epochs"]],
                             legend=["训练损失", "训练精度", "测试精度"],
                             fmts=("-", "m--", "g-.o")),
)

# %% [markdown]
# 最后两行和原教程一样：第一行是最后一轮的训练损失、训练精度和测试精度，第二行是训练速度和所用设备。
# 这里的 `examples/sec` 按训练步骤的墙钟时间计算，包含取数据，不含评估；只有同一硬件、同一设置下的数字才能相互比较。
#
# `train` 还会返回训练历史，每轮一条：

# %%
for row in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc,
               history.examples_per_sec, history.seconds):
    print("第 {} 轮：损失 {:.3f}，训练精度 {:.3f}，测试精度 {:.3f}，"
          "每秒 {:.1f} 个样本，用时 {:.0f} 秒".format(*row))
if QUICK:
    print(f"这是快速运行（{S['subset'][0]} 张图像，{S['num_epochs']} 轮，设备 {device}），"
          "上面的精度没有任何意义。取消 D2LITE_QUICK 和 D2LITE_SETTING 就会真正训练。")
else:  # 用本次运行自己的速度估算完整设置：6 万张图像训练 10 轮
    eps = sum(history.examples_per_sec) / len(history.examples_per_sec)
    print(f"按本次每秒 {eps:.0f} 个样本的速度，完整设置（6 万张图像、10 轮）在 {name} 上"
          f"大约要训练 {10 * 60_000 / eps / 3600:.1f} 小时")

# %% [markdown]
# 检查点里存着权重、优化器的动量缓冲、轮数、训练历史和随机数状态，每轮结束后以原子方式写入。
# 训练如果中途被打断，调用 `train(..., checkpoint=CKPT, resume=True)` 会从最后一个完整结束的轮次接着练：
# 被打断的那一轮从头重跑，打乱顺序也和原来一样，所以结果与不间断的训练相同。

# %%
state = d2lite.load_checkpoint(CKPT, d2lite.alexnet())
print(f"{CKPT}：{CKPT.stat().st_size / 1e6:.0f} MB，第 {state['epoch']} 轮，"
      f"测试精度 {state['history']['test_acc'][-1]:.3f}，由 torch {state['torch_version']} 保存")

# %% [markdown]
# ## 小结
#
# - 精度是“得分最高的类别恰好等于标签”的样本所占的比例。我们按批统计答对的个数，最后统一相除。
# - 评估时模型处于 `eval` 模式（关闭 dropout），并在 `torch.inference_mode()` 下运行（不建计算图）。
# - 一个训练步骤：前向计算、交叉熵损失、反向传播、SGD 更新。`d2lite.train` 在外面加上实时曲线、
#   收尾的两行输出、返回的训练历史和每轮一个检查点。
# - 批量为 1 浪费硬件：我们在 CPU 上实测过（见上表），原教程的 100 轮按它报告的每秒 928 个样本也要约 1.8 小时。
#   本章采用 d2l 公布的批量 128 和 10 轮，再加动量 0.9，学习率 0.01 来自 CPU 上的简短筛选。
# - 在 GPU 上，数据常驻设备、bf16 自动混合精度和 `channels_last` 的用意是消除取数据的瓶颈、让张量核心忙起来。
#   本书还没有在 GPU 上实测它们；目前测到的所有数字都在 `benchmarks/RESULTS.md` 里。
#
# ## 练习
#
# 1. 把精度例子里的 `y_hat` 改成有两个类别并列最大的分数。`argmax` 会选哪一个？在真实数据上这要紧吗？
# 2. 不用 `evaluate_accuracy_gpu`，在 `net.train()`（dropout 打开）状态下评估训练好的模型。
#    连续算两次，精度相差多少？
# 3. 在你的机器上运行 `benchmarks/batch_size_cpu.py --batch-sizes 8 64 256`。批量增大到多少时速度不再上升？
#    如果有 GPU，分别在开、关 `amp` 时再测一次。
# 4. 用 `momentum=0`、`lr=0.01`（d2l 的设置）训练同样的轮数，把曲线和本章的对比一下。
# 5. 训练到第 2 轮中途时用 *Kernel → Interrupt* 打断，再以 `resume=True` 调用 `train`。
#    它从哪一轮开始？最后的训练历史和不间断训练的一样吗？

# %% [markdown]
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行（测试也会在快速设置下运行它们），
# 所以页面上打印的结果是真实的，和本页其余输出来自同一次运行。
#
# :::{admonition} 解答 1：分数并列
# :class: dropdown
# `argmax` 返回并列最大值中的**第一个**（PyTorch 文档写明了这一点），所以并列时算作预测编号较小的那个类别：
# 它恰好是标签就算对，否则算错。下面的代码演示了这一点。在真实数据上这几乎无关紧要：由一张图像算出的 10 个
# float32 分数几乎不可能恰好相等。唯一的例外是一个坏掉的网络，所有输出都一样（比如全是 0）：它会把每张图都
# “预测”成类别 0，精度恰好等于类别 0 所占的比例，在 Fashion-MNIST 上是 0.1，看上去像随机猜测，其实不是。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 1 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 1 \u7684\u4ee3\u7801"}
tied = torch.tensor([[2.0, 2.0, 0.1],   # 类别 0 和 1 并列
                     [0.3, 1.0, 1.0]])  # 类别 1 和 2 并列
print("argmax picks:", tied.argmax(dim=1).tolist())
print("标签 0、1 → 答对", d2lite.accuracy(tied, torch.tensor([0, 1])),
      " 标签 1、2 → 答对", d2lite.accuracy(tied, torch.tensor([1, 2])))
assert tied.argmax(dim=1).tolist() == [0, 1]  # 并列的类别中的第一个

# %% [markdown]
# :::{admonition} 解答 2：打开 dropout 评估
# :class: dropdown
# 在训练模式下，每次调用都会在 fc6 和 fc7 里随机丢掉一半单元（其余的乘以 2），同样的图像每次得到的分数都略有不同：
# 打开 dropout 时算两次，精度彼此不同，而且通常比评估模式下略低；评估模式每次的结果都一样。代码固定用 4 个测试
# 批量，所以两次调用之间只有 dropout 在变。精度变动多少取决于模型：未经训练或几乎没训练的网络（快速设置）的
# 回答大多接近瞎猜，这些数字没有多少意义。这也正是 `evaluate_accuracy_gpu` 先切换到 `eval` 模式的原因。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 2 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 2 \u7684\u4ee3\u7801"}
import itertools


def accuracy_on(net, batches, dropout_on):
    """在固定的几个批量上算精度：打开 dropout（训练模式）或关闭（评估模式）。"""
    net.train(dropout_on)
    with torch.inference_mode():
        correct = sum(d2lite.accuracy(net(X), y) for X, y in batches)
    net.eval()
    return correct / sum(len(y) for _, y in batches)


batches = list(itertools.islice(test_iter, 4))  # 每次都用同样的 4 个测试批量
on1, on2 = accuracy_on(net, batches, True), accuracy_on(net, batches, True)
off1, off2 = accuracy_on(net, batches, False), accuracy_on(net, batches, False)
print(f"打开 dropout（训练模式）：{on1:.3f}，{on2:.3f}　关闭 dropout（评估模式）：{off1:.3f}，{off2:.3f}")
assert not net.training and 0 <= min(on1, on2, off1, off2) <= max(on1, on2, off1, off2) <= 1

# %% [markdown]
# :::{admonition} 解答 3：速度在哪里不再增长
# :class: dropdown
# 答案是你自己机器上的那张表，4.4 节示范了怎样读它。在本书的双核 CPU 上，float32 下每个 CPU 秒处理的样本数
# 从批量 1 到 32 增长了约十倍（1.4 到 13.7），再到 128 就几乎不涨了（15.4）：几十张图已经让两个核心忙不过来。
# bf16 则一直涨到 128（17.9 到 34.8），因为大批量摊薄了每步把权重转换成 bf16 的开销。一个批量的计算量填满
# 硬件之后，速度就不再增长，再加大批量只会多占内存。GPU 的运算单元比两个 CPU 核心多得多，它的曲线要到大得多的
# 批量才变平；`amp`（Ampere 及更新的 GPU 上用 bf16）则把整条曲线往上抬。请在空闲的机器上测墙钟速度；机器被
# 别人共用时，像表中那样比较每个 CPU 秒处理的样本数。
# :::
#
# :::{admonition} 解答 4：学习率 0.01 的普通 SGD
# :class: dropdown
# 4.4 节学习率筛选的第一行正是这个设置，只训练了很短的一轮：训练损失 2.295（均匀瞎猜是 ln 10 ≈ 2.303），
# 测试精度 0.419；动量 0.9 时则是 2.015 和 0.489。完整训练时可以预期同样的情形被拉长：损失在 2.30 附近停留
# 更久才开始下降，每条曲线都落后于本章的曲线。原因在于有效步长：动量 0.9 时，梯度稳定后每步大约移动
# 学习率 / (1 − 0.9) = 0.1 倍的梯度，没有动量时只有 0.01 倍，小了十倍。只要轮数够多，普通 SGD 也能训练好
# （d2l 报告在 GPU 上用这个学习率训练 10 轮约得 0.88），只是更慢。想在 CPU 上亲眼看到，就用 `momentum=0`
# 跑一遍 CPU 设置，逐轮比较两份训练历史。
# :::
#
# :::{admonition} 解答 5：中断与恢复
# :class: dropdown
# `train(..., checkpoint=CKPT, resume=True)` 载入最后一个**完整**轮次（第 1 轮）结束时写下的检查点，从第 2 轮的
# 第一个批量重新开始；中断前第 2 轮已经跑过的批量作废。检查点还恢复了随机数状态，第 2 轮的打乱顺序和 dropout
# 掩码都与不间断的运行相同，所以在 CPU 上训练历史里的损失和精度完全一样，只有计时字段（`seconds`、
# `examples_per_sec`）不同。在 GPU 上，`cudnn.benchmark` 重启后可能选中不同的卷积算法，因此只能期望前几位
# 小数一致，而不是逐位相同（`d2lite.set_seed(0, deterministic=True)` 可以消除这一差别）。本项目的测试在真实
# 数据上检查了这一点（`tests/test_reliability.py`），还会向真实的训练进程发送 Ctrl-C 来检查（`tests/test_fault_injection.py`）。
# :::
