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
# 第 2 章搭好了网络，第 3 章准备好了数据，这一章让网络学会分类。我们从最小的一块讲起：在一个小批量上亲手做一个
# 训练步；再一步步搭成完整的训练；最后读懂曲线在说什么——模型在从没见过的图像上会表现得怎样。
#
# **本章你将学到**
#
# - 10 个分数怎样变成概率（softmax）和损失（交叉熵），先手算，再和 PyTorch 核对；
# - 一个训练步做了什么：损失、`backward()`、梯度、更新，以及更新之后同一个小批量上的损失确实下降；
# - 带动量和权重衰减的 SGD 写成公式是什么样，并和 `torch.optim.SGD` 逐步对照；
# - 为什么测试集只在最后看一次，而之前的每个选择（这里是学习率）都交给验证集；
# - AlexNet 论文的训练方案和本书的方案逐项对照，以及每处不同的理由；
# - 暂退法（dropout）作用在哪里，训练时和测试时怎样缩放，它对训练精度与验证精度之差有什么影响（实测）；
# - 怎样从训练精度、验证精度和测试精度看出过拟合和欠拟合。
#
# ```{note}
# **运行时间**（2026-12-02 在一台 2 核 Intel Xeon（family 6 model 207，带 AMX）CPU 上实测）：
#
# - **CPU 设置**（没有 GPU 的机器默认跑的就是它，本页的输出也来自它）：约 25 分钟，其中主训练约 10 分钟
#   （2 轮，训练图像的数量由 4.9 节的规划按手头这台 CPU 来定）。
# - **快速设置**（极小的子集、很短的一轮；测试用）：不到一分钟，什么也学不会。
# - **完整设置**（55000 张训练图像、10 轮）：为 GPU 准备，尚未实测。
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 本章所有可调的参数都集中在下一个单元格里，并排写着三套设置：
#
# - `FULL`：本书的完整方案，用全部 55000 张训练图像（6 万张减去验证集）训练 10 轮，是给 GPU 准备的；
# - `CPU`：给没有 GPU 的机器用。主训练跑 2 轮，训练图像取这台 CPU 在 `budget_minutes` 分钟内跑得完的数量；
#   两个实验（学习率筛选和暂退法实验）各有自己固定的小规模；
# - `QUICK_SETTING`：测试用的快速设置，子集极小，几秒钟跑完，什么也学不会。
#
# `d2lite.setting()` 找到 GPU 时选 `FULL`，找不到时选 `CPU`。环境变量 `D2LITE_SETTING`（取值
# `quick`、`cpu` 或 `full`）可以改掉这个选择；`D2LITE_QUICK=1` 是 `D2LITE_SETTING=quick` 的简写。

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # 有 GPU 时为 "full"，没有时为 "cpu"，测试中为 "quick"
FULL = dict(
    subset=None,  # 留出验证集后剩下的全部训练图像，全部 10000 张测试图像
    validation=5_000,  # 从训练图像中留出、供所有选择使用的图像数（4.3 节）
    budget_minutes=None,  # 不设时间预算：完整方案
    batch_size=128,  # AlexNet 论文的批量大小
    num_epochs=10,  # d2l 为这个网络在 Fashion-MNIST 上公布的轮数
    lr=0.01,  # 论文的初始学习率；4.7 节的筛选在验证集上检验它
    momentum=0.9,  # 论文的取值
    weight_decay=5e-4,  # 论文的取值
    amp=True,  # 在 bf16 算得快的硬件上用 bf16 自动混合精度（见“性能说明”）
    channels_last=True,  # NHWC 内存布局（见“性能说明”）
    screen_lrs=(0.003, 0.01, 0.03),  # 筛选要比较的学习率
    screen_seeds=(0, 1, 2),  # 每个种子短训一次：种子间的差距显示噪声有多大
    screen_images=25_600,  # 每次 200 步，批量 128
    screen_val=5_000,  # 每次筛选用来打分的验证图像数
    dropout_ps=(0.0, 0.5, 0.9),  # 不用、论文的取值、原教程的取值
    head_images=500,  # 暂退法实验（4.10 节）的训练图像：故意取得少，好让它过拟合
    head_val=5_000,  # 用来打分的验证图像数
    head_batch=32,  # 小批量：每轮的步数更多
    head_epochs=10,  # 不用暂退法时足够记住 500 张图像
    eval_train=5_000,  # 在评估模式下测训练精度用的训练图像数（4.11 节）
    step_images=32,  # 亲手做的那个训练步用的小批量大小（4.4 节）
    speed_batches=(1, 8, 32, 128),  # 4.12 节计时的批量大小
    speed_images=512,  # 每种批量大小计时的图像数（至少 2 步）
)
CPU = dict(
    subset=None,  # 先载入全部图像：用多少训练图像由 budget_minutes 决定
    validation=5_000,
    budget_minutes=10,  # 主训练（含验证评估）的时间预算，按运行它的 CPU 实测
    batch_size=128,
    num_epochs=2,  # 过两遍数据，两个验证点
    lr=0.01,
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,  # 有 AVX512-BF16 或 AMX 的 CPU 上用 bf16，其他 CPU 上用 float32：d2lite 自动检查
    channels_last=True,
    screen_lrs=(0.003, 0.01, 0.03),
    screen_seeds=(0, 1),  # 两个种子：这里约 6 分钟的筛选只够这么多
    screen_images=6_144,  # 每次 48 步，批量 128
    screen_val=1_000,
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=500,
    head_val=1_000,
    head_batch=32,
    head_epochs=10,
    eval_train=5_000,
    step_images=32,
    speed_batches=(1, 8, 32, 128),
    speed_images=32,
)
QUICK_SETTING = dict(
    subset=(192, 96),  # 192 张训练 / 96 张测试图像
    validation=96,
    budget_minutes=None,
    batch_size=32,  # 每轮 6 步，实时曲线上有几个点
    num_epochs=1,  # 只过一遍：够演示流程，远不够学会
    lr=0.01,
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,
    channels_last=False,
    screen_lrs=(0.01, 0.03),
    screen_seeds=(0,),
    screen_images=32,  # 1 步
    screen_val=32,
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=32,
    head_val=32,
    head_batch=32,
    head_epochs=1,
    eval_train=32,
    step_images=8,
    speed_batches=(1, 8),
    speed_images=2,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}，"
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} 设置：{S}")

# %% tags=["hide-input"]
import copy
import datetime
import inspect
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Code
from torch import nn

print("中文字体：", d2lite.use_cjk_font())

# %% [markdown]
# 训练放在能找到的最好的设备上：先找 CUDA GPU，再找苹果的 `mps`，最后才是 CPU。

# %% tags=["hide-input"]
device = d2lite.try_gpu()
name = d2lite.device_name(device)  # GPU 或 CPU 的型号
print(f"设备：{device}（{name}），torch {torch.__version__}，{torch.get_num_threads()} 个线程")
if QUICK:
    print("快速运行：只用极小的子集训练很短的一轮，下面打印的精度没有任何意义。")
elif SETTING == "cpu":
    print(f"CPU 设置：主训练跑 {S['num_epochs']} 轮，训练图像取这台 CPU 在 "
          f"{S['budget_minutes']} 分钟内跑得完的数量（在 4.9 节确定）。完整设置"
          "（GPU 上用 55000 张图像训练 10 轮）的最终精度预计会更高；"
          "这一点尚未实测。")

# %% [markdown]
# ## 4.1 分类精度
#
# 对每张图像，网络输出 10 个分数 $o_{i1}, \dots, o_{i10}$，每个类别一个。取分数最大的类别作为它的“硬预测”；
# 在 $n$ 个样本上，预测与标签一致的比例就是精度（accuracy，也常译作准确率或正确率）：
#
# $$\hat y_i = \operatorname*{argmax}_j o_{ij}, \qquad
#   \text{精度} = \frac{1}{n}\sum_{i=1}^{n} \mathbb{1}\left[\hat y_i = y_i\right].$$
#
# 这里的“精度”说的是答对的比例，和后文“混合精度”里的“精度”不是一回事：后者指浮点数的位数（数值精度）。
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
# 注意 `accuracy` 返回的是答对的**个数**而不是比例。这样不同大小的批量可以直接把个数相加，最后只除一次。
#
# 精度是我们报告的指标，却不是训练时优化的对象。精度对权重来说是阶梯函数：权重稍微一动，要么没有任何预测改变
# （梯度为零），要么某个预测突然翻转（函数跳变）。训练需要一个随每个权重平滑变化的量，这就是下一节的损失。
#
# ## 4.2 从分数到损失：softmax 与交叉熵
#
# softmax 把一张图像的 $q$ 个分数 $\mathbf o = (o_1, \dots, o_q)$ 变成概率：都是正数，加起来等于 1，
# 大小顺序和分数一样。
#
# $$\hat p_j = \operatorname{softmax}(\mathbf o)_j = \frac{\exp(o_j)}{\sum_{k=1}^{q} \exp(o_k)}.$$
#
# 标签为 $y$ 的图像，交叉熵损失是正确类别所得概率的负对数；一个小批量的损失是它 $B$ 张图像的平均：
#
# $$\ell(\mathbf o, y) = -\log \hat p_y = -o_y + \log \sum_{k=1}^{q} \exp(o_k), \qquad
#   L = \frac{1}{B} \sum_{i=1}^{B} \ell(\mathbf o_i, y_i).$$
#
# 正确类别的概率为 1 时损失为 0；这个概率趋于 0 时损失无限增大。一个什么都不会的网络给 10 个类别各 $1/10$，
# 损失是 $\ln 10 \approx 2.303$：未训练网络的损失就从这附近开始。损失对分数的梯度非常简单，就是预测概率减去
# 独热（one-hot）标签，$\partial \ell / \partial o_j = \hat p_j - \mathbb 1[j = y]$：正确类别的分数被往上推，
# 其余分数往下压，错得越多推得越狠。
#
# 手算一个 3 个类别的例子：分数 $\mathbf o = (2.0, 1.0, 0.1)$，标签 $y = 0$。
# $\exp(\mathbf o) = (7.389, 2.718, 1.105)$，总和 $11.212$，于是
# $\hat{\mathbf p} = (0.659, 0.242, 0.099)$，$\ell = -\ln 0.659 = 0.417$；梯度是
# $(0.659 - 1, 0.242, 0.099) = (-0.341, 0.242, 0.099)$。下面的单元格用 PyTorch 自己的 `F.cross_entropy`
# 和自动求导逐一核对这些数。

# %%
o = torch.tensor([[2.0, 1.0, 0.1]], requires_grad=True)  # (1, 3)：一个样本，三个类别
label = torch.tensor([0])
p_hat = o.exp() / o.exp().sum()  # 手算 softmax
loss_by_hand = -p_hat[0, label].log()  # 手算交叉熵
loss_torch = F.cross_entropy(o, label)  # PyTorch：log-softmax，再对小批量取平均
loss_torch.backward()  # 损失对分数的导数
print("softmax：", p_hat.detach().numpy().round(3), " 手算：", round(loss_by_hand.item(), 3),
      " F.cross_entropy：", round(loss_torch.item(), 3))
print("梯度：", o.grad.numpy().round(3), " p_hat - one_hot：",
      (p_hat - F.one_hot(label, 3)).detach().numpy().round(3))
assert torch.allclose(loss_by_hand, loss_torch) and torch.allclose(o.grad, p_hat - F.one_hot(label, 3))

# %% [markdown]
# `F.cross_entropy`（以及 `d2lite.train` 用的 `nn.CrossEntropyLoss`）接收的是原始分数而不是概率：它用一种
# 不会溢出的方式计算 $\log \sum_k \exp(o_k)$。所以 AlexNet 的最后一层后面没有 softmax。
#
# ## 4.3 训练集、验证集和测试集
#
# 测试集只有一个用途：估计训练好的模型在从没见过的图像上表现如何。每当我们看着测试精度做一个选择（学习率、
# 训练轮数、暂退概率），这个选择就会向这 1 万张具体的图像偏一点，测试精度也就不再是诚实的估计。所以本章遵守
# 一条规则：
#
# ```{important}
# 每个选择都在**验证集**上做：从 6 万张训练图像里留出 5000 张，永远不用来训练。**测试集**只在最后评估一次
# （4.11 节），那时所有选择都已经做完。
# ```
#
# `d2lite.load_data_fashion_mnist_split` 用固定的随机种子留出验证图像，所以每次运行、每一章留出的都是同一批。
# 图像从 28×28 放大到 AlexNet 需要的 224×224；加载器把整个 uint8 数据集放在设备上，每个批量都在设备上切分和
# 缩放（`DeviceLoader`，原因见“性能说明”）。

# %%
train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=S["subset"], device=device,
    channels_last=S["channels_last"])
for part, it in (("训练集", train_iter), ("验证集", val_iter), ("测试集", test_iter)):
    print(f"{part:>10}：{len(it.images):6,} 张图像，{len(it):3} 个批量，每批最多 {it.batch_size} 张")
print("验证集每个类别的图像数：", torch.bincount(val_iter.labels.cpu(), minlength=10).tolist())

# %% [markdown]
# 模型就是第 2 章的 AlexNet。权重初始化单独作为一步写出来（`d2lite.train` 不会悄悄替你做）：和原教程一样，
# 每个卷积层和全连接层的权重用 Xavier 均匀分布初始化，偏置保留 PyTorch 默认的小随机数。固定随机种子，结果才能复现。

# %%
d2lite.set_seed(0)  # 偏置、Xavier 权重和打乱顺序都由它决定
net = d2lite.alexnet()
d2lite.init_weights(net)
net.to(device)
print(f"{sum(p.numel() for p in net.parameters()):,} 个参数，位于 {device}")

# %% [markdown]
# ## 4.4 亲手做一个训练步
#
# `d2lite.train` 做的所有事情，都是同一个步骤的重复：算出一个小批量的分数，算损失，用反向传播求梯度，再把每个
# 权重沿梯度的反方向挪一小步。我们在网络的一份副本上亲手做一步（后面的正式训练从未改动的权重开始），用一个训练
# 批量的前 32 张图像（快速设置下是 8 张），用 float32 计算。
#
# 先算损失。处于训练模式时暂退法是打开的，训练所用的损失带有随机性；为了公平地比较更新前后，我们另外在评估
# 模式（关闭暂退法）下、不记录计算图地算一遍这个小批量的损失。

# %%
X, y = next(iter(train_iter))
X, y = X[:S["step_images"]].float(), y[:S["step_images"]]  # (32, 1, 224, 224), (32,)
step_net = copy.deepcopy(net)
opt = torch.optim.SGD(step_net.parameters(), lr=S["lr"], momentum=S["momentum"],
                      weight_decay=S["weight_decay"])


def batch_loss(model):
    """关闭暂退法、不记录计算图时这个小批量的平均交叉熵：用来公平地比较更新前后。"""
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(X), y).item()


before = batch_loss(step_net)
step_net.train()  # 打开暂退法：训练时用的损失
loss = F.cross_entropy(step_net(X), y)
print(f"这个小批量的损失：训练模式 {loss.item():.4f}，评估模式 {before:.4f}"
      f"（均匀瞎猜：ln 10 = {torch.log(torch.tensor(10.0)):.4f}）")

# %% [markdown]
# `loss.backward()` 执行反向传播：给每个参数 `p` 的 `p.grad` 填上 $\partial L / \partial p$。梯度的范数表示
# 损失在这里有多陡；它在各层之间的分布很不均匀。

# %%
loss.backward()  # 损失对每个权重的导数，存进 p.grad
grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in step_net.parameters()))
for i in (0, 14, 20):  # 第一个卷积层、第一个全连接层、输出层
    print(f"第 {i:>2} 层 {type(step_net[i]).__name__:6} 权重 {tuple(step_net[i].weight.shape)}："
          f"梯度范数 {step_net[i].weight.grad.norm():.4f}")
print(f"全部 {sum(p.numel() for p in step_net.parameters()):,} 个参数：梯度范数 "
      f"{grad_norm:.4f}")

# %% [markdown]
# `opt.step()` 按 4.5 节的规则挪动每个权重；第一步时它就是 $w \leftarrow w - \eta\,(\nabla_w L + \lambda w)$。
# 然后我们再在同一个小批量上量一次损失。按一阶近似，沿梯度反方向走一步长为 $\eta$ 的步，损失大约下降
# $\eta \lVert \nabla L \rVert^2$；实测的下降不必和它完全一致（求梯度时暂退法打开，测量时关闭），但应该是下降。

# %%
opt.step()  # w <- w - lr * (grad + weight_decay * w)：第一步，动量缓冲区还是空的
after = batch_loss(step_net)
print(f"同一个小批量在评估模式下的损失：更新前 {before:.4f}，更新后 {after:.4f}"
      f"（{after - before:+.4f}）；一阶近似的估计 {-S['lr'] * grad_norm.item() ** 2:+.4f}")
assert after < before, "沿梯度反方向走一步，这个小批量的损失应该下降"
del step_net, opt  # 副本的任务完成了

# %% [markdown]
# 训练就是这么回事：把这一步在成千上万个小批量上重复。一步只保证*它自己那个*小批量上的损失变小；在别的图像上
# 是否也变小，是本章后面一直在追问的问题。
#
# ## 4.5 带动量和权重衰减的 SGD
#
# 普通的随机梯度下降把权重 $\mathbf w$ 挪动 $-\eta\,\mathbf g$，$\mathbf g$ 是小批量损失的梯度，$\eta$ 是
# 学习率。AlexNet 的方案在此之上加了两样东西；`torch.optim.SGD(params, lr=η, momentum=μ, weight_decay=λ)`
# 每一步按下面的顺序执行：
#
# $$\mathbf g \leftarrow \nabla_{\mathbf w} L + \lambda \mathbf w, \qquad
#   \mathbf v \leftarrow \mu \mathbf v + \mathbf g, \qquad
#   \mathbf w \leftarrow \mathbf w - \eta \mathbf v.$$
#
# - **权重衰减** $\lambda$ 给梯度加上 $\lambda \mathbf w$，也就是 $\tfrac{\lambda}{2}\lVert \mathbf w \rVert^2$
#   的梯度：对大权重的惩罚，每一步都把每个权重往 0 拉一点。
# - **动量** $\mu$ 维护过去梯度的累加 $\mathbf v$（PyTorch 用第一个梯度作为它的初值）。每一步方向一致的分量
#   越积越大，来回变号的分量互相抵消。如果梯度一直不变，$\mathbf v$ 会稳定在 $\mathbf g/(1-\mu)$：$\mu = 0.9$
#   时每一步走 $10\eta$ 倍的梯度，是同样学习率下普通 SGD 的十倍。
#
# 论文把学习率写在速度里面：$\mathbf v \leftarrow 0.9\,\mathbf v - 0.0005\,\eta\,\mathbf w - \eta\,\nabla L$，
# $\mathbf w \leftarrow \mathbf w + \mathbf v$。学习率不变时两种写法得到同样的权重（论文的 $\mathbf v$ 是
# PyTorch 的 $-\eta$ 倍），只在学习率刚改变后的几步里有差别。下面的单元格在一个小张量上手动执行这三行，跑三步，
# 并和 `torch.optim.SGD` 核对。

# %%
lr, mu, lam = 0.1, 0.9, 0.05  # 取较大的值，三步之内就能看出效果
w_torch = torch.tensor([1.0, -2.0], requires_grad=True)
sgd = torch.optim.SGD([w_torch], lr=lr, momentum=mu, weight_decay=lam)
w, v = torch.tensor([1.0, -2.0]), torch.zeros(2)
for step in range(3):
    grad = 2 * w  # L(w) = |w|^2 的梯度
    g = grad + lam * w  # 权重衰减
    v = g if step == 0 else mu * v + g  # 动量（缓冲区以第一个梯度为初值）
    w = w - lr * v
    sgd.zero_grad()
    (w_torch ** 2).sum().backward()
    sgd.step()
    print(f"第 {step + 1} 步：手算 {w.numpy().round(4)}，torch.optim.SGD "
          f"{w_torch.detach().numpy().round(4)}")
assert torch.allclose(w, w_torch.detach())

# %% [markdown]
# ## 4.6 论文的方案与本书的方案
#
# Krizhevsky、Sutskever 和 Hinton（2012）在 120[^paper4] 万张 ImageNet 图像上用左栏的方案训练 AlexNet。本书在
# Fashion-MNIST 上训练：6 万张小灰度图、10 个类别，时间预算以分钟计而不是以天计。能照搬的照搬，其余的逐项说明理由：
#
# | | AlexNet 论文（ImageNet） | 本书（Fashion-MNIST） | 为什么不同 |
# |---|---|---|---|
# | 批量大小 | 128 | 128 | 相同 |
# | 优化器 | SGD，动量 0.9 | SGD，动量 0.9 | 相同 |
# | 权重衰减 | 5·10⁻⁴ | 5·10⁻⁴ | 相同 |
# | 学习率 | 0.01 | 0.01，在验证集上检验（4.7 节） | 起点相同；在这里它是一个要检验的选择 |
# | 学习率调度 | 验证误差不再下降时除以 10；约 90 轮里降了 3 次 | 不变 | 我们的训练（CPU 上 2 轮，完整设置 10 轮）比论文的 90 轮短得多；4.11 节的验证曲线可以看出它是否已经走平 |
# | 训练轮数 | 约 90 轮，在两块 GTX 580 GPU 上跑了五六天 | 按时间预算取子集训练 2 轮（CPU），10 轮（完整） | 时间 |
# | 权重初始化 | $\mathcal N(0, 0.01^2)$；conv2、conv4、conv5 和两个隐藏全连接层的偏置为 1，其余为 0 | Xavier 均匀分布的权重，PyTorch 默认的偏置 | 原教程的选择；下一个单元格在训练开始时把两者都量一量 |
# | 暂退法 | 两个隐藏全连接层中 p = 0.5；测试时把输出乘以 0.5 | 同样的层中 p = 0.5；训练时把保留的单元乘以 2，测试时什么也不做 | 期望相同；这是 PyTorch 的约定（4.10 节） |
# | 数据 | 从 256×256 的 RGB 图像中裁出 224×224，水平翻转，颜色扰动 | 28×28 的灰度图放大到 224×224，不做数据增广 | 在这里，2 轮的训练加了增广反而更差（`benchmarks/RESULTS.md`） |
# | 归一化 | conv1 和 conv2 之后做局部响应归一化 | 不做 | d2l 的 AlexNet 去掉了它；VGG 论文（2014）发现它没有帮助 |
# | 硬件 | 模型拆到两块 GPU 上 | 一台设备；在算得快的硬件上用 bf16 | 如今一台设备就放得下（见“性能说明”） |
#
# 初始化这一行很容易实测。我们用两种方式各建一个网络，让一个小批量通过并做反向传播，看两件事：10 个分数在不同
# 图像之间相差多少（如果几乎不变，网络还分不清这些图像），以及传到第一个卷积层的梯度有多大。

# %%
def paper_init(model):
    """论文的初始化：权重取 N(0, 0.01^2)；conv2、conv4、conv5、fc6、fc7 的偏置为 1，其余为 0。"""
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]  # conv1-5, fc6-8
    for i, m in enumerate(layers):
        nn.init.normal_(m.weight, mean=0.0, std=0.01)
        nn.init.constant_(m.bias, 1.0 if i in (1, 3, 4, 5, 6) else 0.0)
    return model


for init_name, init in (("Xavier（本书）", d2lite.init_weights), ("N(0, 0.01^2)（论文）", paper_init)):
    d2lite.set_seed(0)
    model = init(d2lite.alexnet()).to(device).eval()  # 评估模式：比较时没有暂退法的噪声
    scores = model(X)  # (32, 10)
    F.cross_entropy(scores, y).backward()
    print(f"{init_name:>20}：分数在图像之间的标准差 {scores.std(dim=0).mean():.5f}，"
          f"conv1 的梯度范数 {model[0].weight.grad.norm():.2e}，损失 {F.cross_entropy(scores, y):.4f}")
del model

# %% [markdown]
# 用论文的初始化时，10 个分数几乎不随图像变化，传到第一个卷积层的梯度也比 Xavier 初始化时小得多（见打印出的范数）：
# 网络起步很慢。论文训练 90 轮，慢一点起步无所谓；只训练两轮就等不起了，所以本书沿用原教程的 Xavier 初始化。
#
#
# [^paper4]: A. Krizhevsky、I. Sutskever、G. E. Hinton，*ImageNet Classification with Deep
#     Convolutional Neural Networks*，NeurIPS 2012。
# ## 4.7 在验证集上选择学习率
#
# 学习率是最要紧的旋钮，而论文的 0.01 是为 ImageNet 选的，不是为这份数据选的。所以我们做一次筛选：几个学习率，
# 每个都从头短训一下，在验证图像上打分。每个学习率只跑一次会误导人：两次只差随机种子（初始权重和批量顺序）的训练，
# 结束时的精度本来就不一样。所以每个学习率按每个种子各跑一次，种子之间的差距告诉我们，差多少才算真有区别。
#
# 规则在看结果之前就定好：**取平均验证精度最高的学习率。** 在 CPU 上每次筛选只训练 48 步（6144 张图像；
# 2 个种子，在这台机器上整个筛选约 6 分钟）；完整设置每次训练 200 步，用 3 个种子。发散的训练按精度 0 计。

# %%
screen_train, screen_val_all, _ = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=(S["screen_images"], 1),
    device=device, channels_last=S["channels_last"])
screen_val = d2lite.DeviceLoader(screen_val_all.images[:S["screen_val"]],
                                 screen_val_all.labels[:S["screen_val"]], S["batch_size"], 224,
                                 device=device, channels_last=S["channels_last"])


def short_run(lr, seed):
    """用这个学习率从头短训一个 AlexNet（很短的一轮）；返回（训练损失，验证精度）。"""
    d2lite.set_seed(seed)  # 初始权重、批量顺序和暂退掩码
    model = d2lite.init_weights(d2lite.alexnet())
    try:
        h = d2lite.train(model, screen_train, screen_val, 1, lr, device, momentum=S["momentum"],
                         weight_decay=S["weight_decay"], amp=S["amp"],
                         channels_last=S["channels_last"], animator=False, verbose=False)
    except d2lite.TrainingDivergedError:
        return float("nan"), 0.0
    return h.train_loss[-1], h.test_acc[-1]  # test_acc：train() 评估的那个数据集，这里是验证集


t0 = time.perf_counter()
screen = {(lr, seed): short_run(lr, seed) for lr in S["screen_lrs"] for seed in S["screen_seeds"]}
print(f"{len(screen)} 次训练，每次 {len(screen_train)} 步，用时 {time.perf_counter() - t0:.0f} 秒")

# %% [markdown]
# 每一行是一个学习率，每一列是它在一个种子下的结果。

# %%
means = {}
print("  学习率 | " + " | ".join(f"种子 {s}：损失 / 验证精度" for s in S["screen_seeds"])
      + " | 平均验证精度")
for lr in S["screen_lrs"]:
    runs = [screen[lr, s] for s in S["screen_seeds"]]
    means[lr] = sum(acc for _, acc in runs) / len(runs)
    print(f"{lr:7} | " + " | ".join(f"{loss:13.3f} / {acc:.3f}" for loss, acc in runs)
          + f" | {means[lr]:.3f}")
LR = max(means, key=means.get)  # 规则：平均验证精度最高
print(f"选定：学习率 = {LR}（论文的取值：0.01）")

# %% [markdown]
# 相信这张表之前，先读懂它。损失一栏是这次短训全部步数上训练损失的累计平均（不是最后一步的损失），起点约为 $\ln 10 = 2.30$；损失还没离开
# 2.30 的学习率，几乎还没开始学。把行与行之间的差距和同一行里种子之间的差距比一比：如果两者一样大，这次筛选就
# 分不出这两个学习率，需要更长的筛选。短的筛选偏爱大学习率，因为它们起步快；而论文是在长时间训练之后才降低学习率的。
# 筛选能确定的是数量级：小了十倍的学习率几乎还停在起点。
#
# 主训练使用规则选出的学习率 `LR`。
#
# ## 4.8 训练循环
#
# `d2lite.train` 就是把 4.4 节的那一步放进循环，外面再加上更结实的处理。`train_step`
# 处理一个批量：在本次训练的自动混合精度上下文里做前向计算，算损失，`backward()`，再让优化器走一步。下面显示的是
# 库里的原样代码，构建网页时直接从 `d2lite/engine.py` 读出，所以不会和真正运行的代码脱节：

# %%
Code(inspect.getsource(d2lite.train_step), language="python")

# %% [markdown]
# `train_epoch` 把数据过一遍：每个批量调用一次 `train_step`，损失之和与答对个数都留在设备上累加，到一轮结束时
# 才读出一次，所以中途处理器从不等待设备。整个循环就是这些。长时间训练额外需要的东西都从外面接上，接口是每一步之后
# 调用的 `on_step`（见 `d2lite/run/trainer.py`）：每轮大约 5 个记录点上检查损失是否发散、给曲线添一个点、刷新进度行，
# 还有一轮之中的检查点和收到 SIGTERM 时的停止：

# %%
Code(inspect.getsource(d2lite.train_epoch), language="python")

# %% [markdown]
# `train` 把它们串起来：它建好 4.5 节的 `torch.optim.SGD`，为整个训练一次性选定设备和数值格式，每轮结束后在
# 交给它的数据集上评估（这里是验证集），写检查点，并显示一行带剩余时间的进度。损失变成 NaN 或无穷大，或者爆炸到
# 均匀瞎猜时损失（$\ln 10 \approx 2.30$）的 1000 倍以上时，它给出明确的报错；按下 Ctrl-C 能干净地停下；最后返回
# 记录了每一轮结果的 `History`。检查点怎样在中断后保住进度，以及 `amp`、`channels_last` 这两个提速开关，都在
# “性能说明”里讲。
#
# ## 4.9 训练网络
#
# ### 按时间预算确定 CPU 上的训练规模
#
# 一轮训练要多久，主要取决于 CPU，而不是这个 notebook 里的任何设置。所以 CPU 设置不写死训练图像的数量。
# `d2lite.plan_budget` 先在模型的一份副本上计时几个训练批量和评估批量（模型本身和随机数状态都不受影响），再按整个
# 训练（含每轮在验证集上的评估）不超过 `budget_minutes` 分钟，算出能用多少张训练图像。它会打印测到的速度和选定的
# 规模；想训练得更久、更好，就在参数单元格里调大 `budget_minutes`。其他设置下这一步什么也不改。

# %%
if S["budget_minutes"]:  # CPU 设置：在这台机器上，预算内跑得完多少训练图像就用多少
    plan = d2lite.plan_budget(net, train_iter, val_iter, S["budget_minutes"], S["num_epochs"],
                              device=device, amp=S["amp"], channels_last=S["channels_last"])
    print(plan)
    train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
        S["batch_size"], resize=224, validation=S["validation"], subset=(plan.n_train, None),
        device=device, channels_last=S["channels_last"])
print(f"每轮 {len(train_iter)} 个训练批量，每批 {S['batch_size']} 张")

# %% [markdown]
# 开始训练前，先把这次的设置写进检查点旁边的一个 JSON 文件，第 5 章就能说清它加载的是怎样训练出来的模型。
# `checkpoints/` 文件夹不纳入 git。

# %%
CKPT = Path("checkpoints") / "alexnet_fashion_mnist.pt"
CKPT.parent.mkdir(exist_ok=True)
run = dict(S, lr=LR, setting=SETTING, quick=QUICK, device=str(device), device_name=name,
           torch=torch.__version__, date=datetime.date.today().isoformat(),
           evaluated_each_epoch="validation")
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))
print(run)

# %% [markdown]
# 现在开始训练：用筛选选出的学习率、动量 0.9、权重衰减 5·10⁻⁴。在 Jupyter 里，下面的图每轮大约重画 5 次：
# 训练损失（实线）、训练精度（虚线），以及每轮结束时的验证精度（点划线，每轮一个点）。
#
# 训练曲线上的点是*本轮到目前为止的累计平均*，是在暂退法打开时测的，而且每轮重新开始平均，所以曲线在每轮交界处
# 会跳一下。验证精度是在每轮结束时关闭暂退法测的，所以训练初期它可能高于训练精度。

# %% mystnb={"image": {"alt": "\u968f\u8f6e\u6570\u53d8\u5316\u7684\u8bad\u7ec3\u66f2\u7ebf\uff1a\u8bad\u7ec3\u635f\u5931\uff08\u5b9e\u7ebf\uff09\u3001\u8bad\u7ec3\u7cbe\u5ea6\uff08\u865a\u7ebf\uff09\uff0c\u4ee5\u53ca\u6bcf\u8f6e\u7ed3\u675f\u65f6\u7684\u9a8c\u8bc1\u7cbe\u5ea6\uff08\u5e26\u5706\u70b9\u7684\u70b9\u5212\u7ebf\uff09\u3002"}}
d2lite.set_seed(0)  # 批量顺序和暂退掩码，不受上面运行过什么的影响
history = d2lite.train(
    net, train_iter, val_iter, S["num_epochs"], LR, device,
    momentum=S["momentum"], weight_decay=S["weight_decay"], amp=S["amp"],
    channels_last=S["channels_last"], checkpoint=CKPT,
    animator=d2lite.Animator(xlabel="轮数", ylabel="损失 / 精度",
                             xlim=[0, S["num_epochs"]],
                             legend=["训练损失", "训练精度", "验证精度"],
                             fmts=("-", "m--", "g-.o")),
)

# %% [markdown]
# 收尾的几行输出沿用原教程的格式：最后一轮的训练损失、训练精度，以及在原教程放测试精度的位置上，我们的验证精度；
# 然后是训练速度。`examples/sec` 按训练步骤的墙钟时间计算，包括读取数据，不包括评估。`train` 还返回训练历史
# （每轮一条），并且每轮结束后都写了检查点：

# %%
for row in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc,
               history.examples_per_sec, history.seconds):
    print("第 {} 轮：损失 {:.3f}，训练精度 {:.3f}，验证精度 {:.3f}，"
          "每秒 {:.1f} 个样本，{:.0f} 秒".format(*row))
state = d2lite.load_checkpoint(CKPT, d2lite.alexnet())
print(f"{CKPT}：{CKPT.stat().st_size / 1e6:.0f} MB，第 {state['epoch']} 轮")

# %% [markdown]
# ## 4.10 暂退法作用在哪里
#
# AlexNet 有两个暂退层，分别在两个 4096 宽的全连接层的 ReLU 之后（第 2 章）。训练时，每个暂退层以概率 $p$ 把每个
# 单元置零，对每张图像、每一步都独立抽取，并把保留下来的单元乘以 $1/(1-p)$：
#
# $$h' = \frac{m}{1-p}\,h, \qquad m \sim \text{Bernoulli}(1-p).$$
#
# 这个缩放让期望保持不变，$\mathbb E[h'] = h$，所以测试时这一层什么也不用做。这叫*倒置*暂退法（inverted
# dropout），`nn.Dropout` 就是这样做的。论文的做法正好反过来：训练时不缩放，测试时把输出乘以 $1-p = 0.5$。两种做法
# 给下一层的输入期望相同；倒置的做法让训练好的网络在预测时原样使用。究竟是哪种行为，取决于模块的模式：`train()`
# 打开掩码，`eval()` 关闭掩码。

# %%
drop = nn.Dropout(p=0.5)
h = torch.ones(2, 8)
d2lite.set_seed(0)
print("训练模式：\n", drop.train()(h))  # 约一半是 0，其余是 1 / (1 - 0.5) = 2
print("评估模式：\n", drop.eval()(h))  # 原样不变
big = torch.ones(100_000)
print(f"训练模式下 100000 个单元的平均值：{drop.train()(big).mean():.3f}（倒置暂退法），"
      f"论文的做法：训练时 {(big * (torch.rand(100_000) > 0.5)).mean():.3f}，"
      f"测试时再乘以 0.5，也是 0.500")

# %% [markdown]
# 这就是 `d2lite.evaluate_accuracy_gpu` 在评估前先切换到 `eval()`、评估后再切回原来模式的原因：如果暂退法
# 开着，每次评估的都是一个不同的随机网络。
#
# 暂退法换来了什么？它的用途是让过拟合更难：一个单元不能指望别的某个单元一定在场，网络就没法简单地死记硬背。过拟合
# 要在少量图像上训练很久才显现出来，用整个 AlexNet 在 CPU 上做不起。好在暂退法只作用在全连接部分，实验可以只在那里
# 便宜地做。我们保留刚训练好的网络的五个卷积层并冻结它们，对 500 张训练图像和 1000 张验证图像各算一次它们输出的
# 6400 个特征。然后取训练好的三个全连接层（fc6、fc7、fc8 以及其间的两个暂退层）的一份副本，只在这 500 张图像上继续
# 训练：小批量大小 32，训练 10 轮，$p$ 分别取 $0$、$0.5$（论文的取值）和 $0.9$（原教程的取值）。对 4300 万个权重来说，
# 这么少的图像很容易记住：这是有意制造的过拟合。在第一轮之前和每轮结束后，我们在同样的 500 张训练图像上*用评估模式*
# 测精度，也在验证图像上测精度。

# %%
features = net[:14].eval()  # conv1 …… pool3、展平：(B, 6400)，冻结的部分
amp_ctx = d2lite.autocast(device, d2lite.amp_dtype(device, S["amp"]))  # 和 train() 用的一样


def feats(images, labels):
    """这些图像经冻结的卷积层得到的特征，只算一次：(N, 6400)，(N,)。"""
    loader = d2lite.DeviceLoader(images, labels, S["batch_size"], 224, device=device,
                                 channels_last=S["channels_last"])
    with torch.inference_mode(), amp_ctx:
        out = [(features(Xb).float(), yb) for Xb, yb in loader]
    return torch.cat([f for f, _ in out]), torch.cat([t for _, t in out])


F_train, y_train = feats(train_iter.images[:S["head_images"]], train_iter.labels[:S["head_images"]])
F_val, y_val = feats(val_iter.images[:S["head_val"]], val_iter.labels[:S["head_val"]])
print("特征：", tuple(F_train.shape), "（训练），", tuple(F_val.shape), "（验证）")

# %% [markdown]
# 循环就是 4.4 节那一步的重复：每轮打乱一次，然后每个小批量做一步 SGD，优化器设置和本章其余部分相同。几次训练之间
# 只有暂退概率不同。

# %%
def head_accuracy(head):
    """评估模式下全连接层在冻结特征上的（训练，验证）精度。"""
    head.eval()
    with torch.inference_mode(), amp_ctx:
        return ((head(F_train).argmax(1) == y_train).float().mean().item(),
                (head(F_val).argmax(1) == y_val).float().mean().item())


def train_head(p, seed=0):
    """以暂退概率 p，在这几张训练图像上继续训练训练好的 fc6-fc8 的一份副本；
    返回训练前和每轮之后的精度。"""
    d2lite.set_seed(seed)  # 打乱顺序和暂退掩码
    head = nn.Sequential(*copy.deepcopy(list(net[14:])))  # fc6、ReLU、暂退层、fc7……fc8
    for m in head:
        if isinstance(m, nn.Dropout):
            m.p = p
    opt = torch.optim.SGD(head.parameters(), lr=LR, momentum=S["momentum"],
                          weight_decay=S["weight_decay"])
    curve = [head_accuracy(head)]
    for _ in range(S["head_epochs"]):
        head.train()
        order = torch.randperm(len(y_train), device=device)
        for batch in order.split(S["head_batch"]):
            opt.zero_grad()
            with amp_ctx:
                scores = head(F_train[batch])  # (B, 10)
            F.cross_entropy(scores.float(), y_train[batch]).backward()
            opt.step()
        curve.append(head_accuracy(head))
    return curve


t0 = time.perf_counter()
curves = {p: train_head(p) for p in S["dropout_ps"]}
for p, curve in curves.items():
    (tr, va), best = curve[-1], max(v for _, v in curve)
    print(f"暂退概率 p = {p}：{len(curve) - 1} 轮后训练精度 {tr:.3f}，验证精度 {va:.3f}，"
          f"差距 {tr - va:+.3f}（起点 {curve[0][0] - curve[0][1]:+.3f}；最高验证精度 "
          f"{best:.3f}）")
print(f"{time.perf_counter() - t0:.0f} 秒")

# %% mystnb={"image": {"alt": "\u4e09\u5e45\u5c0f\u56fe\uff0c\u6bcf\u4e2a\u6682\u9000\u6982\u7387\uff080\u30010.5\u30010.9\uff09\u4e00\u5e45\uff1a\u5728 500 \u5f20\u56fe\u50cf\u4e0a\u7ee7\u7eed\u8bad\u7ec3\u65f6\uff0c\u5168\u8fde\u63a5\u5c42\u7684\u8bad\u7ec3\u7cbe\u5ea6\uff08\u5b9e\u7ebf\uff09\u548c\u9a8c\u8bc1\u7cbe\u5ea6\uff08\u865a\u7ebf\uff09\u968f\u8f6e\u6570\u7684\u53d8\u5316\u3002"}}
fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 2.8), sharey=True)
for ax, (p, curve) in zip(axes, curves.items()):
    epochs = range(len(curve))  # 0：继续训练之前
    ax.plot(epochs, [a for a, _ in curve], "-", label="训练（评估模式）")
    ax.plot(epochs, [b for _, b in curve], "--", label="验证")
    d2lite.set_axes(ax, xlabel="轮数", ylabel="精度" if p == 0 else None,
                    legend=["训练（评估模式）", "验证"] if p == 0 else None)
    ax.set_title(f"暂退概率 p = {p}")
plt.tight_layout()
plt.show()

# %% [markdown]
# 从左到右读这三幅图。三次训练的起点相同，都是训练好的网络在这些图像上原有的精度。不用暂退法时，全连接层最快记住
# 这 500 张图像，和验证曲线之间的差距拉得最大：它们记住的是这些图像，而不是类别。$p = 0.5$ 时训练曲线上升得慢一些，
# 差距也更小；$p = 0.9$ 时（每一步丢掉十分之九的单元）上升得更慢。打印出的差距就是测量结果；每种设置只用一个种子，
# 所以各行之间一两个百分点的差别在噪声之内。本章保留论文的 $p = 0.5$。
#
# ## 4.11 过拟合、泛化与测试集
#
# 描述一个训练好的模型要三个数。*训练精度*说明它对学过的图像拟合得多好；*验证精度*说明它在没训练过的图像上表现
# 如何，前面的每个选择都依据它；*测试精度*是在没有任何选择看过的图像上再问一遍同样的问题。训练精度和验证精度相差
# 很大就是**过拟合**：模型记住的是训练图像，而不是类别。训练精度很低是**欠拟合**：模型连见过的图像都还没学会，对一次
# 很短的训练来说，这意味着需要训练更久。差距小而精度高，就是**泛化**得好。
#
# `train` 打印的训练精度是暂退法打开时的累计平均，测量时权重还在变。为了公平比较，我们现在在评估模式下、在一组
# 固定的训练图像上重新测一次。然后，所有选择都已做完，我们评估测试集：本章唯一的一次。

# %%
train_sample = d2lite.DeviceLoader(train_iter.images[:S["eval_train"]],
                                   train_iter.labels[:S["eval_train"]], S["batch_size"], 224,
                                   device=device, channels_last=S["channels_last"])
train_acc = d2lite.evaluate_accuracy_gpu(net, train_sample, amp=S["amp"])
val_acc = history.test_acc[-1]  # 由 train() 在最后一轮结束后测得
test_acc = d2lite.evaluate_accuracy_gpu(net, test_iter, amp=S["amp"])  # 唯一一次看测试集
run.update(test_acc=test_acc, val_acc=val_acc, train_acc_eval_mode=train_acc)
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))  # 第 5 章会读它
print(f"训练精度 {train_acc:.3f}（评估模式，{len(train_sample.images):,} 张训练图像）\n"
      f"验证精度 {val_acc:.3f}（{len(val_iter.images):,} 张验证图像）\n"
      f"测试精度 {test_acc:.3f}（{len(test_iter.images):,} 张测试图像，只评估这一次）")

# %% [markdown]
# 下图把主训练的曲线和最后的三个数放在一起。

# %% mystnb={"image": {"alt": "\u4e3b\u8bad\u7ec3\u7684\u7cbe\u5ea6\u968f\u8f6e\u6570\u7684\u53d8\u5316\uff1a\u6682\u9000\u6cd5\u6253\u5f00\u65f6\u8bad\u7ec3\u7cbe\u5ea6\u7684\u7d2f\u8ba1\u5e73\u5747\uff08\u865a\u7ebf\uff09\u3001\u6bcf\u8f6e\u7ed3\u675f\u540e\u7684\u9a8c\u8bc1\u7cbe\u5ea6\uff08\u5706\u70b9\uff09\uff0c\u4ee5\u53ca\u6700\u540e\u4e00\u8f6e\u65f6\u8bc4\u4f30\u6a21\u5f0f\u4e0b\u7684\u8bad\u7ec3\u7cbe\u5ea6\uff08\u53c9\u53f7\uff09\u548c\u6d4b\u8bd5\u7cbe\u5ea6\uff08\u661f\u53f7\uff09\u3002"}}
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(history.epoch, history.train_acc, "m--o", label="训练精度（累计平均，暂退法打开）")
ax.plot(history.epoch, history.test_acc, "g-.o", label="验证精度")
ax.plot(history.epoch[-1], train_acc, "bx", markersize=10, label="训练精度（评估模式）")
ax.plot(history.epoch[-1], test_acc, "r*", markersize=12, label="测试精度（仅一次）")
d2lite.set_axes(ax, xlabel="轮数", ylabel="精度", xlim=[0.8, history.epoch[-1] + 0.2],
                legend=["训练精度（累计平均，暂退法打开）", "验证精度", "训练精度（评估模式）",
                        "测试精度（仅一次）"])
ax.set_xticks(history.epoch)
plt.show()

# %% [markdown]
# 在这次训练里，训练精度和验证精度靠得很近：2 轮远不足以让 4700 万个参数过拟合；而且到最后一轮验证精度还在上升，
# 这说明该*训练更久*，而不是*加强正则化*，也说明论文那条降低学习率的规则还不会触发。测试精度和验证精度很接近，
# 没有按测试集调过任何选择时本该如此；两者之间的差别是几千张图像的抽样噪声。
#
# 原教程的训练展示的是另一种情形。它用批量大小 1 训练 100 轮（代码单元格里写的是 `batch_size = 1` 和
# `lr, num_epochs = 0.01, 100`），打印出训练损失 0.034[^tutorial]、训练精度 0.988[^tutorial]，而测试精度是 0.923[^tutorial]：它几乎完美地拟合了
# 训练图像，6.5[^tutorial] 个百分点的差距就是过拟合，尽管用了暂退法。（它的训练精度和我们的一样，是暂退法打开时的累计平均，
# 所以在评估模式下测出的差距还会再大一点。）
#
# [^tutorial]: 原教程自己打印出的结果（AlexNet、Fashion-MNIST，在 GPU 上以批量大小 1 训练 100 轮）：
#     引自那次训练，不是本书测得的。
#
# ## 4.12 批量大小与速度
#
# 原教程每步一张图、训练 100 轮，在一块没有注明型号的 GPU 上速度是每秒 928 个样本。它的计时器只包住训练步骤本身
# （把批量搬到 GPU、前向、反向、更新、数答对的个数）；读取下一个批量和在测试集上的评估都在计时之外。所以
# 60000 × 100 / 928 秒只是这次训练耗时的下限：

# %%
seed_hours = 60_000 * 100 / 928 / 3600
print(f"原教程那次训练：光训练步骤就至少 {seed_hours:.1f} 小时")

# %% [markdown]
# 每步一张图，任何现代处理器大部分时间都闲着：每一步都要执行同样几十个运算，每个运算的活都太少，填不满硬件。
# 下面的单元格在这台机器上对几种批量大小计时 AlexNet 的训练步骤（`d2lite.measure_speed`，在网络的副本上，先预热
# 一步），并列出主训练实际维持的速度：

# %%
rates = {}
for b in S["speed_batches"]:
    it = d2lite.DeviceLoader(train_iter.images[:max(b, 8) * 4], train_iter.labels[:max(b, 8) * 4],
                             b, 224, device=device, channels_last=S["channels_last"])
    rates[b] = d2lite.measure_speed(net, it, it, device=device, amp=S["amp"],
                                    channels_last=S["channels_last"],
                                    steps=max(2, S["speed_images"] // b))[0]
print(f"在 {name} 上计时训练步骤，{history.amp_dtype}，短计时：")
print("批量 | 每秒样本数 | 55000 张图像的一轮")
for b, eps in rates.items():
    print(f"{b:5} | {eps:10.1f} | {55_000 / eps / 60:5.0f} 分钟")
eps_run = sum(history.examples_per_sec) / len(history.examples_per_sec)
print(f"主训练（批量 {S['batch_size']}）在 {sum(history.seconds):.0f} 秒里维持的速度："
      f"每秒 {eps_run:.1f} 个样本")

# %% [markdown]
# 每一行只计时几秒钟的训练步骤，而且受当时机器上其他任务的影响，所以要预计有几个百分点的噪声，机器被共用时更多；
# 出于同样的原因，短计时和长时间训练维持的速度也可能略有出入。要看的是趋势：每步一张图，每秒完成的工作远少于批量
# 128。论文、d2l 和本书都用批量 128 训练，也是这个原因。各种设备上的数据类型规则、内存布局、CPU 设置背后的测量以及
# 之前各轮的基准测试，都在[性能说明](performance.md)里。
#
# ## 小结
#
# - 精度是最高分类别等于标签的样本所占的比例；训练时最小化的则是平滑的交叉熵损失
#   $-\log \operatorname{softmax}(\mathbf o)_y$，它对分数的梯度是 $\hat{\mathbf p}$ 减去独热标签。
# - 一个训练步就是前向、损失、`backward()`、`opt.step()`；亲手做一步，它降低了自己那个小批量上的损失。
#   `torch.optim.SGD` 执行的是 $\mathbf g \leftarrow \nabla L + \lambda \mathbf w$，
#   $\mathbf v \leftarrow \mu \mathbf v + \mathbf g$，$\mathbf w \leftarrow \mathbf w - \eta \mathbf v$。
# - 选择在从训练图像中留出的验证集上做；测试集只在最后评估一次。学习率筛选每个学习率用两三个种子，因为每个学习率
#   只跑一次短训练，分不出差别在种子噪声之内的学习率。
# - 本书保留论文的批量大小 128、动量 0.9、权重衰减 5·10⁻⁴、学习率 0.01 和暂退概率 0.5；学习率保持不变（训练很短），
#   沿用原教程的 Xavier 初始化，不做数据增广，也不做局部响应归一化。
# - 暂退法在训练模式下以概率 $p$ 把单元置零、把其余单元乘以 $1/(1-p)$，在评估模式下什么也不做。在全连接层上实测，
#   它让小训练集拟合得更慢，训练精度与验证精度之差更小。
# - 批量大小为 1 浪费硬件：原教程的 100 轮，按它报告的每秒 928 个样本，光训练步骤就至少要 1.8 小时。它的损失 0.034[^tutorial]、
#   训练精度 0.988[^tutorial] 与测试精度 0.923[^tutorial] 并列，说明长时间训练后模型过拟合了。
# - AlexNet 早已被更高效的架构超越；今天还学它，是因为它是从浅层网络走向深层网络的关键一步，而且它的大部分方案
#   （ReLU、暂退法、带动量和权重衰减的 SGD、GPU）至今仍在使用。
#
# ## 练习
#
# 1. 把精度例子里的 `y_hat` 改成有两个类别并列最大的分数。`argmax` 会选哪一个？在真实数据上这要紧吗？
# 2. 一个模型给正确类别的概率是 0.9，它的交叉熵损失是多少？如果只给 0.01 呢？为什么损失对“自信地答错”的惩罚
#    比对“犹豫不决”重得多？
# 3. 给 4.5 节的动量规则喂一个永远不变的梯度 $g = 1$，$\mu = 0.9$。$v$ 最终会有多大？多少步之后离这个值不到 1%？
# 4. 论文每当验证误差不再下降，就把学习率除以 10。用 `torch.optim.lr_scheduler.ReduceLROnPlateau` 在一串验证误差上
#    做同样的事，并说明训练循环里哪一行应该调用它。
# 5. 在你的机器上运行 `benchmarks/batch_size_cpu.py --batch-sizes 8 64 256`。批量增大到多少时速度不再上升？
#    如果有 GPU，分别在开、关 `amp` 时再测一次。
# 6. 主训练到第 2 轮中途时用 *Kernel → Interrupt* 打断，再以 `resume=True` 调用 `train`。它从哪一轮开始？最后的
#    训练历史和不间断训练的一样吗？

# %% [markdown]
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行（测试也会在快速设置下运行它们），
# 所以页面上打印的结果是真实的。
#
# :::{admonition} 解答 1：分数并列
# :class: dropdown
# `argmax` 返回并列最大值中的**第一个**（PyTorch 文档写明了这一点），所以并列时算作预测编号较小的那个类别：
# 它恰好是标签就算对，否则算错。下面的代码演示了这一点。在真实数据上这几乎无关紧要：由一张图像算出的 10 个
# float32 分数几乎不可能恰好相等。唯一的例外是一个坏掉的网络，所有输出都一样（比如全是 0）：它会把每张图都
# “预测”成类别 0，精度恰好等于类别 0 所占的比例，在 Fashion-MNIST 上是 0.1，看上去像随机猜测，其实不是。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 1 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 1 \u7684\u4ee3\u7801"} tags=["hide-cell"]
tied = torch.tensor([[2.0, 2.0, 0.1],   # 类别 0 和 1 并列
                     [0.3, 1.0, 1.0]])  # 类别 1 和 2 并列
print("argmax picks:", tied.argmax(dim=1).tolist())
print("标签 0、1 → 答对", d2lite.accuracy(tied, torch.tensor([0, 1])),
      " 标签 1、2 → 答对", d2lite.accuracy(tied, torch.tensor([1, 2])))
assert tied.argmax(dim=1).tolist() == [0, 1]  # 并列的类别中的第一个

# %% [markdown]
# :::{admonition} 解答 2：自信地答错
# :class: dropdown
# $-\ln 0.9 = 0.105$，$-\ln 0.01 = 4.6$。损失按 $-\log \hat p_y$ 增长，$\hat p_y \to 0$ 时没有上限，所以一次自信的
# 错误抵得上几十个略有犹豫的正确回答，而且它的梯度 $\hat p_y - 1 \approx -1$ 推得很猛。接近均匀的 $0.1$ 这种犹豫
# 不决的回答，损失是 $\ln 10 = 2.3$。精度把 $0.9$ 和一个勉强胜出的 $0.3$ 算成一样；损失则会一直奖励对正确类别更有把握。
# :::
#
# :::{admonition} 解答 3：梯度不变时的动量
# :class: dropdown
# $v_t = 1 + 0.9 + 0.9^2 + \dots + 0.9^{t-1} = (1 - 0.9^t)/(1 - 0.9)$，趋于 $1/(1-0.9) = 10$。当 $0.9^t < 0.01$，
# 即 $t = \lceil \ln 0.01 / \ln 0.9 \rceil = 44$ 步之后，它离 10 不到 1%。所以动量要几十步才能达到完整的十倍加速，
# 忘掉一个梯度也是同样的节奏：22 步之前的梯度仍有 $0.9^{22} \approx 0.1$ 的权重。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 3 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 3 \u7684\u4ee3\u7801"} tags=["hide-cell"]
v, mu, t = 0.0, 0.9, 0
while abs(v - 10) >= 0.1:  # 直到离极限 10 不到 1%
    v, t = mu * v + 1.0, t + 1  # 每一步 g = 1
print(f"{t} 步后 v = {v:.3f}（极限 1 / (1 - {mu}) = {1 / (1 - mu):.0f}）")

# %% [markdown]
# :::{admonition} 解答 4：论文的学习率调度
# :class: dropdown
# `ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=...)` 在传给它的值连续 `patience` 次没有改进时把学习率
# 除以 10。它每轮调用一次，放在验证评估之后，传入验证误差：`scheduler.step(1 - val_acc)`。（传给 `d2lite.train`
# 的调度器被调用时不带参数，所以这个调度器需要你自己写循环，或者每轮调用一次 `train` 并设 `resume=True`。）下面的代码
# 喂给它一串编出来的验证误差，其中两次走平。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 4 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 4 \u7684\u4ee3\u7801"} tags=["hide-cell"]
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=1)
for epoch, val_err in enumerate([0.30, 0.22, 0.19, 0.19, 0.195, 0.15, 0.14, 0.14, 0.141], 1):
    plateau.step(val_err)  # 每轮验证评估之后
    print(f"第 {epoch} 轮：验证误差 {val_err:.3f} -> 学习率 {opt.param_groups[0]['lr']:.0e}")

# %% [markdown]
# :::{admonition} 解答 5：速度在哪里不再增长
# :class: dropdown
# 答案是你自己机器上的那张表。一个批量的计算量填满硬件之后，速度就不再增长，再加大批量只会多占内存。几十张图就能让
# 两个 CPU 核心忙起来；bf16 在更大的批量上还会继续变快，因为大批量把每步把权重转换成 bf16 的开销分摊到了更多图像上
# （本书的测量见[性能说明](performance.md)）。GPU 的运算单元多得多，它的曲线要到大得多的批量才变平；`amp`（Ampere
# 及更新的 GPU 上用 bf16）则把整条曲线往上抬。请在空闲的机器上测量；机器被别人共用时，比较每个 CPU 秒处理的样本数。
# :::
#
# :::{admonition} 解答 6：中断与续训
# :class: dropdown
# `train(..., checkpoint=CKPT, resume=True)` 加载最后一个*已完成*的轮次（第 1 轮）结束时写下的检查点，从第 1 个批量
# 开始重新跑第 2 轮；中断前第 2 轮已经跑过的批量作废。检查点同时恢复了随机数状态，所以第 2 轮的打乱顺序和暂退掩码都
# 和不间断训练时一样，在 CPU 上训练历史里的损失和精度完全相同，只有计时字段（`seconds`、`examples_per_sec`）不同。
# 在 GPU 上，重启后 `cudnn.benchmark` 可能选中不同的卷积算法，所以只能预期结果在小数点后几位一致，而不是逐位相同。
# 项目的测试在真实数据上检查了这一点（`tests/test_resume.py`），还向真实的训练进程发送 Ctrl-C 做了检查
# （`tests/test_fault_injection.py`）。
# :::
