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
# 第 2 章搭好了网络，第 3 章准备好了数据，这一章让网络学会分类：从亲手做的一个训练步，到一次完整的训练，最后读懂
# 曲线在说什么——模型在从没见过的图像上会表现得怎样。
#
# **本章你将学到**
#
# - softmax、交叉熵和一个训练步，先手算，再和 PyTorch 核对；
# - 带动量和权重衰减的 SGD；
# - 为什么每个选择（这里是学习率）都在验证集上做，而测试集只看一次；
# - 训练循环，以及本页的训练和完整方案的训练记录的对照；
# - 暂退法（dropout）有什么作用（在几个随机种子上实测），以及怎样从曲线上看出过拟合和欠拟合。
#
# 标题下方的运行说明写着本页运行了多久、在什么机器上运行；其中大部分时间花在学习率筛选（4.6 节）和主训练（4.8 节）上。

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # 在 Colab 上：安装 d2lite 和中文字体；在本地：什么也不做
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab：已安装 d2lite 和 mplfonts")

# %% [markdown]
# 所有可调的参数都在下一个单元格里，分三套设置：`FULL` 是本书的完整方案（全部 55000 张训练图像训练 10 轮，给 GPU
# 准备）；`CPU` 训练 2 轮，训练图像取 `budget_minutes` 分钟内跑得完的数量，几个实验的规模都很小；`QUICK_SETTING`
# 是测试用的。`d2lite.setting()` 有 GPU 时选 `FULL`，没有时选 `CPU`；环境变量 `D2LITE_SETTING=quick|cpu|full`
# 可以改掉这个选择。

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # 有 GPU 时为 "full"，没有时为 "cpu"，测试中为 "quick"
FULL = dict(
    subset=None,  # 留出验证集后剩下的全部 55_000 张训练图像，全部测试图像
    validation=5_000,  # 从 60_000 张训练图像中留出、供所有选择使用的图像数（4.3 节）
    budget_minutes=None,  # 不设时间预算：完整方案
    batch_size=128,  # AlexNet 论文的批量大小
    num_epochs=10,  # d2l 为这个网络在 Fashion-MNIST 上用的轮数
    momentum=0.9,  # 论文的取值
    weight_decay=5e-4,  # 论文的取值
    amp=True,  # 在 bf16 算得快的硬件上用 bf16 自动混合精度（见“性能说明”）
    channels_last=True,  # NHWC 内存布局（见“性能说明”）
    screen_lrs=(0.003, 0.01, 0.03),  # 已记录的筛选最初的网格（tools/lr_screen.py）
    screen_seeds=(0, 1, 2),  # 每个学习率、每个种子跑一次：种子间的差距就是噪声
    screen_images=25_600,  # 每次 200 步，批量 128
    screen_val=5_000,  # 每次筛选用来打分的验证图像数
    cnn_seconds=None,  # 小 CNN 的训练时间（4.8 节）；None：和主训练一样长
    dropout_ps=(0.0, 0.5, 0.9),  # 不用、论文的取值、原教程的取值（4.9 节）
    head_images=5_000,  # 用冻结特征训练全连接层的训练图像数
    head_val=5_000,  # 给它们打分的验证图像数
    head_epochs=10,
    head_seeds=(0, 1, 2),  # 每个暂退概率跑三次：三次之间的差距就是噪声
    head_batch=128,
    head_lr=0.01,  # 论文的学习率，每个暂退概率都一样
    eval_train=5_000,  # 在评估模式下测训练精度用的训练图像数（4.10 节）
    step_images=32,  # 亲手做的训练步用的小批量大小（4.4 节）
)
CPU = dict(
    subset=None,  # 先载入全部图像：用多少训练图像由 budget_minutes 决定
    validation=5_000,
    budget_minutes=10,  # 主训练（含验证评估）的时间预算，按运行它的 CPU 实测
    batch_size=128,
    num_epochs=2,  # 过两遍数据，两个验证点
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,  # 有 AVX512-BF16 或 AMX 的 CPU 上用 bf16，其他 CPU 上用 float32：d2lite 自动检查
    channels_last=True,
    screen_lrs=(0.01, 0.03, 0.1),  # 最初的网格；最好的学习率落在边上时，网格在那一端扩大约 3 倍
    screen_seeds=(0, 1),
    screen_images=3_072,  # 每次 24 步，批量 128
    screen_val=500,
    cnn_seconds=150,  # 小 CNN 的训练步骤时间：主训练预算的四分之一
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=2_000,  # 在这些特征上训练 9 次，每次 4 轮
    head_val=1_000,
    head_epochs=4,
    head_seeds=(0, 1, 2),
    head_batch=128,
    head_lr=0.01,
    eval_train=5_000,
    step_images=32,
)
QUICK_SETTING = dict(
    subset=(192, 96),  # 192 张训练 / 96 张测试图像
    validation=96,
    budget_minutes=None,
    batch_size=32,  # 6 步，实时曲线上有几个点
    num_epochs=1,  # 一轮：足够演示循环，远不够学会
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,
    channels_last=False,
    screen_lrs=(0.01, 0.03, 0.1),
    screen_seeds=(0, 1),
    screen_images=32,  # 1 步
    screen_val=32,
    cnn_seconds=0.5,
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=64,
    head_val=32,
    head_epochs=2,
    head_seeds=(0, 1, 2),
    head_batch=32,
    head_lr=0.01,
    eval_train=32,
    step_images=8,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}，"
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} 设置：{S}")

# %% tags=["hide-input"]
import copy
import dataclasses
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
    print("快速运行：子集极小，训练极短，下面打印的精度没有任何意义。")
elif SETTING == "cpu":
    print(f"CPU 设置：主训练跑 {S['num_epochs']} 轮，训练图像取这台 CPU 在 "
          f"{S['budget_minutes']} 分钟内跑得完的数量；4.8 节把完整方案的训练记录"
          "放在它旁边对照。")

# %% [markdown]
# ## 4.1 精度
#
# 对每张图像，网络输出 10 个分数 $o_{i1}, \dots, o_{i10}$，每个类别一个。分数最大的类别就是它的预测；$n$ 个样本上的
# 精度（也叫准确率）是预测与标签一致的样本所占的比例：
#
# $$\hat y_i = \operatorname*{argmax}_j o_{ij}, \qquad
#   \text{精度} = \frac{1}{n}\sum_{i=1}^{n} \mathbb{1}\left[\hat y_i = y_i\right].$$
#
# 我们在 4 个样本、3 个类别上检验 `d2lite.accuracy`，规模小到可以手数。

# %%
y_hat = torch.tensor([[0.1, 2.0, 0.3],   # argmax 为 1，标签 1：对
                      [1.5, 0.2, 0.1],   # argmax 为 0，标签 0：对
                      [0.2, 0.1, 3.0],   # argmax 为 2，标签 1：错
                      [0.9, 1.1, 0.0]])  # argmax 为 1，标签 1：对
y = torch.tensor([1, 0, 1, 1])
print("预测：", y_hat.argmax(dim=1).tolist(), " 标签：", y.tolist())
print("答对：", d2lite.accuracy(y_hat, y), " 精度：", d2lite.accuracy(y_hat, y) / len(y))

# %% [markdown]
# `accuracy` 返回的是答对的*个数*，这样大小不同的批量可以直接相加，最后再除一次。精度是我们报告的指标，却不是训练
# 的目标：稍微改动一个权重，要么一个预测都不变（梯度为零），要么翻转一个（跳变）。训练需要一个随每个权重平滑变化的
# 量：损失。
#
# ## 4.2 从分数到损失：softmax 与交叉熵
#
# softmax 把一张图像的 $q$ 个分数 $\mathbf o = (o_1, \dots, o_q)$ 变成概率：都是正数，加起来为 1，大小顺序和分数
# 一致。标签为 $y$ 的图像的交叉熵损失是正确类别所得概率的负对数，一个批量的损失是其中 $B$ 张图像的平均：
#
# $$\hat p_j = \frac{\exp(o_j)}{\sum_{k=1}^{q} \exp(o_k)}, \qquad
#   \ell(\mathbf o, y) = -\log \hat p_y = -o_y + \log \sum_{k=1}^{q} \exp(o_k), \qquad
#   L = \frac{1}{B} \sum_{i=1}^{B} \ell(\mathbf o_i, y_i).$$
#
# 什么都不懂的网络给 10 个类别各 $1/10$ 的概率，损失是 $\ln 10 \approx 2.303$，未训练的网络就从这里起步。损失对
# 分数的梯度是概率减去独热标签，$\hat p_j - \mathbb 1[j = y]$：正确类别的分数被往上推，其余分数往下压，推多推少
# 取决于错得多厉害。
#
# 一个 3 个类别的算例，$\mathbf o = (2.0, 1.0, 0.1)$，$y = 0$：$\exp(\mathbf o) = (7.389, 2.718, 1.105)$，和为
# $11.212$，所以 $\hat{\mathbf p} = (0.659, 0.242, 0.099)$，$\ell = -\ln 0.659 = 0.417$，梯度为
# $(-0.341, 0.242, 0.099)$。下面的单元格用 `F.cross_entropy` 和自动求导逐个核对。

# %%
o = torch.tensor([[2.0, 1.0, 0.1]], requires_grad=True)  # (1, 3)：一个样本，三个类别
label = torch.tensor([0])
p_hat = o.exp() / o.exp().sum()  # 手算 softmax
loss_by_hand = -p_hat[0, label].log()  # 手算交叉熵
loss_torch = F.cross_entropy(o, label)  # PyTorch：log-softmax 再对批量取平均
loss_torch.backward()  # 损失对分数的导数
print("softmax：", p_hat.detach().numpy().round(3), " 手算：", round(loss_by_hand.item(), 3),
      " F.cross_entropy：", round(loss_torch.item(), 3))
print("梯度：", o.grad.numpy().round(3), " p_hat - one_hot：",
      (p_hat - F.one_hot(label, 3)).detach().numpy().round(3))
assert torch.allclose(loss_by_hand, loss_torch) and torch.allclose(o.grad, p_hat - F.one_hot(label, 3))

# %% [markdown]
# `F.cross_entropy` 接收原始分数，用不会溢出的方式计算 $\log \sum_k \exp(o_k)$，所以 AlexNet 的最后一层后面没有
# softmax。
#
# ## 4.3 训练集、验证集和测试集
#
# 测试集用来估计训练好的模型在从没见过的图像上表现如何。每当我们看着测试精度做一个选择（学习率、训练轮数），这个
# 选择就会向这批具体的图像偏一点，估计也就不再诚实。所以：
#
# ```{important}
# 每个选择都在**验证集**上做：从 60000 张训练图像里留出 5000 张，永远不用来训练。**测试集**只在最后评估一次
# （4.10 节）。
# ```
#
# `d2lite.load_data_fashion_mnist_split` 每次运行都留出同一批验证图像，并在设备上逐批把图像从 28×28 放大到
# AlexNet 需要的 224×224。

# %%
train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=S["subset"], device=device,
    channels_last=S["channels_last"])
for part, it in (("训练集", train_iter), ("验证集", val_iter), ("测试集", test_iter)):
    print(f"{part:>10}：{len(it.images):6,} 张图像，{len(it):3} 个批量，每批最多 {it.batch_size} 张")
print("验证集每个类别的图像数：", torch.bincount(val_iter.labels.cpu(), minlength=10).tolist())

# %% [markdown]
# 模型就是第 2 章的 AlexNet，初始化单独作为一步写出来：和原教程一样用 Xavier 均匀分布初始化权重，偏置保留 PyTorch
# 的默认值。固定随机种子，结果才能复现。

# %%
d2lite.set_seed(0)  # 偏置、Xavier 权重和打乱顺序都由它决定
net = d2lite.alexnet()
d2lite.init_weights(net)
net.to(device)
print(f"{sum(p.numel() for p in net.parameters()):,} 个参数，位于 {device}")

# %% [markdown]
# ## 4.4 亲手做一个训练步
#
# 训练就是同一步的重复：算出一个批量的分数，算损失，用反向传播求梯度，再把每个权重沿梯度的反方向挪一小步。我们在
# 网络的一份副本上、用一个批量的前几张图像、以 float32 和论文的学习率亲手做一步。训练模式下暂退法是打开的，损失带有
# 随机性；为了公平地比较更新前后，我们另外在评估模式（关闭暂退法）下算一遍这个批量的损失。

# %%
X, y = next(iter(train_iter))
X, y = X[:S["step_images"]].float(), y[:S["step_images"]]  # (32, 1, 224, 224), (32,)
ETA = 0.01  # 论文的学习率，用于亲手做的训练步
step_net = copy.deepcopy(net)
opt = torch.optim.SGD(step_net.parameters(), lr=ETA, momentum=S["momentum"],
                      weight_decay=S["weight_decay"])


def batch_loss(model):
    """关闭暂退法、不记录计算图时这个批量的平均交叉熵：用来公平地比较更新前后。"""
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(X), y).item()


before = batch_loss(step_net)
step_net.train()  # 打开暂退法：训练时用的损失
loss = F.cross_entropy(step_net(X), y)
print(f"这个批量的损失：训练模式 {loss.item():.4f}，评估模式 {before:.4f}"
      f"（均匀瞎猜：ln 10 = {torch.log(torch.tensor(10.0)):.4f}）")

# %% [markdown]
# `loss.backward()` 给每个参数 `p` 的 `p.grad` 填上 $\partial L / \partial p$。梯度的范数表示损失在这里有多陡；它在
# 各层之间的分布很不均匀。

# %%
loss.backward()  # 损失对每个权重的导数，存进 p.grad
grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in step_net.parameters()))
for i in (0, 14, 20):  # 第一个卷积层、第一个全连接层、输出层
    print(f"第 {i:>2} 层 {type(step_net[i]).__name__:6} 权重 {tuple(step_net[i].weight.shape)}："
          f"梯度范数 {step_net[i].weight.grad.norm():.4f}")
print(f"全部 {sum(p.numel() for p in step_net.parameters()):,} 个参数：梯度范数 "
      f"{grad_norm:.4f}")

# %% [markdown]
# `opt.step()` 按 4.5 节的规则挪动每个权重；第一步就是 $\mathbf w \leftarrow \mathbf w - \eta\,\mathbf d$，其中
# $\mathbf d = \nabla L + \lambda \mathbf w$。按一阶近似，损失随之变化 $-\eta\, \nabla L \cdot \mathbf d$；下面的单元格
# 在更新前算出这个估计，再和实测的变化比较。

# %%
estimate = -ETA * sum((p.grad * (p.grad + S["weight_decay"] * p)).sum()  # -lr * grad . d
                     for p in step_net.parameters()).item()
opt.step()  # w <- w - lr * (grad + weight_decay * w)：第一步，动量缓冲区还是空的
after = batch_loss(step_net)
ratio_train = d2lite.glue("ratio_train", (after - before) / estimate)
print(f"同一个批量在评估模式下的损失：更新前 {before:.5f}，更新后 {after:.5f}"
      f"（{after - before:+.5f}）；一阶估计 {estimate:+.5f}；比值 {ratio_train:.2f}")
assert after < before, "沿梯度反方向走一步，这个批量的损失应该下降"

# %% [markdown]
# 损失下降了，下降量是估计值的 {glue:text}`ratio_train:.2f` 倍（见上面打印的比值）。这个估计属于梯度所来自的那个
# 损失：训练模式下、带着这一步随机暂退掩码的损失；而我们测的是另一个损失，评估模式下的损失。下面从同样的权重出发，
# 在关闭暂退法的情况下重做这一步，让梯度和所测的损失属于同一个函数：

# %%
check = copy.deepcopy(net).eval()  # 求梯度时也关闭暂退法
opt = torch.optim.SGD(check.parameters(), lr=ETA, momentum=S["momentum"],
                      weight_decay=S["weight_decay"])
F.cross_entropy(check(X), y).backward()
grad_norm_eval = torch.sqrt(sum((p.grad ** 2).sum() for p in check.parameters()))
estimate_eval = -ETA * sum((p.grad * (p.grad + S["weight_decay"] * p)).sum()
                           for p in check.parameters()).item()
opt.step()
change = batch_loss(check) - before
ratio_eval = change / estimate_eval
print(f"关闭暂退法：变化 {change:+.5f}，估计 {estimate_eval:+.5f}，比值 {ratio_eval:.2f}")
print(f"梯度范数：关闭暂退法时 {grad_norm_eval:.4f}，打开时 {grad_norm:.4f}")
print(d2lite.glue("step_verdict", f"关闭暂退法时，损失的变化是一阶估计的 {ratio_eval:.2f} "
      "倍" + ("：两者一致，步子这么小时本该如此。" if 0.8 <= ratio_eval <= 1.25 else
              "：即使这么小的一步，损失也已经明显弯曲。")))
del step_net, check, opt  # 副本的任务完成了

# %% [markdown]
# {glue:text}`step_verdict` 打开暂退法时，梯度里有一部分是掩码带来的噪声：它改变了梯度的长度（比较上面打印的两个
# 范数），从而改变了估计，却不会降低评估模式下的损失。很多步之后，这部分噪声会互相抵消。在*自己那个*批量上有用的
# 一步，在别的图像上是否也有用，是本章后面一直在追问的问题。
#
# ## 4.5 带动量和权重衰减的 SGD
#
# 普通的随机梯度下降把权重挪动 $-\eta\,\mathbf g$，$\mathbf g$ 是小批量损失的梯度，$\eta$ 是学习率。AlexNet 的
# 方案在此之上加了两样东西；`torch.optim.SGD(params, lr=η, momentum=μ, weight_decay=λ)` 每一步按下面的顺序执行：
#
# $$\mathbf g \leftarrow \nabla_{\mathbf w} L + \lambda \mathbf w, \qquad
#   \mathbf v \leftarrow \mu \mathbf v + \mathbf g, \qquad
#   \mathbf w \leftarrow \mathbf w - \eta \mathbf v.$$
#
# **权重衰减** $\lambda$ 是惩罚项 $\tfrac{\lambda}{2}\lVert \mathbf w \rVert^2$ 的梯度：每一步都把每个权重往 0 拉
# 一点。**动量** $\mu$ 累加过去的梯度：每一步方向一致的分量越积越大，来回变号的分量互相抵消；梯度不变时，$\mathbf v$
# 稳定在 $\mathbf g/(1-\mu)$。下面的单元格手动执行这三行，并和 `torch.optim.SGD` 核对。

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
# ## 4.6 在验证集上选择学习率
#
# 学习率是最要紧的旋钮，而论文的 0.01 是为 ImageNet 选的。所以我们做一次筛选：每个学习率都从头短训一个新网络，在
# 验证图像上打分。只差随机种子（初始权重、批量顺序）的两次训练，结束时的精度本来就不一样；所以每个学习率按每个种子
# 各跑一次，种子之间的差距（最大减最小）告诉我们，差多少才算真有区别。
#
# 规则在看结果之前就定好：**取平均验证精度最高的学习率。** 如果它是试过的最小或最大的学习率，网格就在那一端扩大约
# 3 倍。发散的训练按 0 计。完整设置不在本页筛选，而是用一次更长的筛选的记录（见下文）。CPU 设置每次只训练 24 步：
# 足以分辨出发散或几乎不动的学习率，其余的学习率却拉不开多少差距，所以要把平均值和种子间的差距放在一起看。

# %%
screen_train, screen_val_all, _ = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=(S["screen_images"], 1),
    device=device, channels_last=S["channels_last"])
screen_val = d2lite.DeviceLoader(screen_val_all.images[:S["screen_val"]],
                                 screen_val_all.labels[:S["screen_val"]], S["batch_size"], 224,
                                 device=device, channels_last=S["channels_last"])


def short_run(lr, seed):
    """一个新的 AlexNet，以这个学习率短训一遍：返回它的验证精度（发散时为 0）。"""
    d2lite.set_seed(seed)  # 初始权重、批量顺序和暂退掩码
    model = d2lite.init_weights(d2lite.alexnet())
    try:
        h = d2lite.train(model, screen_train, screen_val, 1, lr, device, momentum=S["momentum"],
                         weight_decay=S["weight_decay"], amp=S["amp"],
                         channels_last=S["channels_last"], animator=False, verbose=False)
    except d2lite.TrainingDivergedError:
        return 0.0
    return h.test_acc[-1]  # train() 评估的那个数据集上的精度：这里是验证集

# %% [markdown]
# 筛选本身：完整设置下是记录，其他设置下是在这里跑的训练。

# %%
LADDER = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)  # 网格可以扩展到的学习率
mean_acc = lambda lr: sum(screen[lr, s] for s in S["screen_seeds"]) / len(S["screen_seeds"])
full_screen = d2lite.load_record("lr-screen-full")  # 完整设置的筛选（book/runs）
if SETTING == "full":  # tools/lr_screen.py 按这些规模筛选过一次：用它的记录
    assert full_screen["setting"]["images"] == S["screen_images"], "记录的规模不同"
    screen = {(r["lr"], r["seed"]): r["val_acc"] for r in full_screen["runs"]}
else:
    lrs, screen, t0 = sorted(S["screen_lrs"]), {}, time.perf_counter()
    while True:
        screen |= {(lr, s): short_run(lr, s) for lr in lrs for s in S["screen_seeds"]
                   if (lr, s) not in screen}
        best = max(lrs, key=mean_acc)
        i = LADDER.index(best) + (1 if best == lrs[-1] else -1)  # 再往外的下一个学习率
        if lrs[0] < best < lrs[-1] or not 0 <= i < len(LADDER):
            break
        lrs = sorted(lrs + [LADDER[i]])  # 最好的落在边上：在那一端扩展网格
    print(f"{len(screen)} 次训练，每次 {len(screen_train)} 步，共 {time.perf_counter() - t0:.0f} 秒")

# %% [markdown]
# 每个学习率一行：每个种子下的验证精度、它们的平均和差距。

# %%
lrs = sorted({lr for lr, _ in screen})
accs = {lr: [screen[lr, s] for s in S["screen_seeds"]] for lr in lrs}
spread = {lr: max(a) - min(a) for lr, a in accs.items()}  # 种子之间的差距：噪声
print("  学习率 | 各种子的验证精度    |  平均 | 差距")
for lr in lrs:
    print(f"{lr:7g} | " + " ".join(f"{a:.3f}" for a in accs[lr]).ljust(19)
          + f" | {mean_acc(lr):.3f} | {spread[lr]:.3f}")
LR, runner_up = sorted(lrs, key=mean_acc, reverse=True)[:2]  # 规则：平均最高者
lead, noise = mean_acc(LR) - mean_acc(runner_up), max(spread[LR], spread[runner_up])
assert SETTING != "full" or LR == full_screen["verdict"]["chosen_lr"]  # 记录自己的选择
print(f"选定：lr = {d2lite.glue('lr', LR):g}")

# %% [markdown]
# 第一名的领先是否超出噪声？下面把它和前两名中较大的那个种子差距相比。

# %%
lr_verdict = d2lite.glue("lr_verdict", (
    f"lr = {LR:g} 的平均验证精度最高，比 lr = {runner_up:g} 高 {lead:.3f}；"
    + (f"这个领先在种子之间的差距 {noise:.3f} 之内，"
       "筛选分不出这两个学习率" if lead <= noise else
       f"这个领先超出了种子之间的差距 {noise:.3f}")
    + ("。" if lrs[0] < LR < lrs[-1] else "，而且它落在网格的尽头。")))
print(lr_verdict)

# %% [markdown]
# 结论：{glue:text}`lr_verdict` 主训练使用 lr = {glue:text}`lr`。短的筛选能确定的是数量级（太小的学习率几乎不动，
# 太大的会发散）；相差 3 倍的两个学习率，结果常常落在彼此的噪声之内。
#
# 完整设置的筛选（`tools/lr_screen.py`：每次 200 步，三个种子）跑过一次，保存成了记录：

# %%
rec = full_screen["verdict"]
for r in sorted(rec["mean_val_acc"], key=float):
    print(f"lr {r:>6}：平均验证精度 {rec['mean_val_acc'][r]:.3f}，差距 {rec['seed_spread'][r]:.3f}")
full_lr_verdict = d2lite.glue("full_lr_verdict", (
    f"选定 lr = {rec['chosen_lr']:g}，比 lr = {rec['runner_up_lr']:g} 高 {rec['lead']:.3f}，"
    + ("没有超出" if rec["within_noise"] else "超出了") + "种子之间的差距"))
print(f"{full_screen['started'][:10]} 记录于 {full_screen['hardware']}：{full_lr_verdict}")

# %% [markdown]
# 完整设置的记录{glue:text}`full_lr_verdict`；完整设置就用这个学习率训练。
#
# ## 4.7 训练循环
#
# `d2lite.train` 就是把 4.4 节的那一步放进循环。`train_step` 处理一个批量：在本次训练的自动混合精度上下文里做前向
# 计算，算损失，`backward()`，再让优化器走一步。下面的代码在构建网页时直接从 `d2lite/engine.py` 读出，所以不会和
# 真正运行的代码脱节：

# %%
Code(inspect.getsource(d2lite.train_step), language="python")

# %% [markdown]
# `train_epoch` 把数据过一遍，每个批量调用一次 `train_step`，损失之和与答对个数都在设备上累加。长时间训练额外需要的
# 东西（曲线、进度行、检查点、Ctrl-C）都通过 `on_step` 接口从外面接上：

# %%
Code(inspect.getsource(d2lite.train_epoch), language="python")

# %% [markdown]
# `train` 建好 4.5 节的 `torch.optim.SGD`，每轮结束后在交给它的数据集（这里是验证集）上评估，写检查点，损失变成
# NaN 或爆炸时停下，最后返回 `History`。
#
# ## 4.8 训练网络
#
# Krizhevsky、Sutskever 和 Hinton（2012）在 ImageNet 上用左栏的方案训练 AlexNet；本书保留能照搬到 Fashion-MNIST
# 和以分钟计的时间预算上的部分：
#
# | | AlexNet 论文（ImageNet） | 本书（Fashion-MNIST） | 为什么不同 |
# |---|---|---|---|
# | 批量大小、动量、权重衰减 | 128、0.9、5·10⁻⁴ | 相同 | |
# | 学习率 | 0.01，验证误差不再下降时除以 10 | 在验证集上选择（4.6 节）：本页为 {glue:text}`lr`，完整设置为 0.01；保持不变 | 我们的训练比论文短得多 |
# | 训练轮数 | 约 90 轮，在两块 GPU 上跑了五六天 | 按时间预算取子集训练 2 轮（CPU），10 轮（完整） | 时间 |
# | 权重初始化 | 标准差 0.01 的高斯分布，部分偏置为 1 | Xavier 均匀分布，PyTorch 默认的偏置 | 原教程的选择 |
# | 暂退法 | 两个隐藏全连接层中 p = 0.5 | 相同（4.9 节） | |
# | 数据 | 224×224 的彩色裁剪、翻转、颜色扰动 | 28×28 的灰度图放大到 224×224，不做增广 | 在这里，2 轮的训练加了增广反而更差（`benchmarks/RESULTS.md`） |
#
# CPU 设置按时间预算确定训练规模：`d2lite.plan_budget` 先在这台机器上计时几个批量，再取 `budget_minutes` 分钟内
# 跑得完的训练图像数（见[性能说明](performance.md)）。

# %%
if S["budget_minutes"]:  # CPU 设置：取这里在预算内跑得完的训练图像数
    shared = d2lite.shared_choice("plan")  # 构建本书时，另一种语言版本已做出的规划
    plan = d2lite.BudgetPlan(**shared) if shared else d2lite.plan_budget(
        net, train_iter, val_iter, S["budget_minutes"], S["num_epochs"], device=device,
        amp=S["amp"], channels_last=S["channels_last"])
    d2lite.share_choice("plan", dataclasses.asdict(plan))  # 让两个语言版本用同样的数据训练
    train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
        S["batch_size"], resize=224, validation=S["validation"], subset=(plan.n_train, None),
        device=device, channels_last=S["channels_last"])
    print(f"实测每秒训练 {plan.train_examples_per_sec:.1f} 个、评估 "
          f"{plan.eval_examples_per_sec:.1f} 个样本：每轮 {plan.n_train:,} 张训练图像可在 "
          f"{S['budget_minutes']} 分钟内跑完（估计 "
          f"{plan.estimate_s / 60:.1f} 分钟）")
print(f"每轮 {len(train_iter)} 个训练批量，每批 {S['batch_size']} 张")

# %% [markdown]
# 在检查点旁边，我们把这次训练的设置写进一个 JSON 文件，第 5 章会读它。

# %%
CKPT = Path("checkpoints") / "alexnet_fashion_mnist.pt"
CKPT.parent.mkdir(exist_ok=True)
run = dict(S, lr=LR, setting=SETTING, quick=QUICK, device=str(device), device_name=name,
           torch=torch.__version__, date=datetime.date.today().isoformat(),
           train_images=len(train_iter.images), evaluated_each_epoch="validation")
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))
print(run)

# %% [markdown]
# 现在开始训练。图上的训练损失和训练精度是本轮到目前为止的累计平均，在暂退法打开时测得；验证精度在每轮结束后、
# 关闭暂退法时测得（所以训练初期它可能高于训练精度）。

# %% mystnb={"image": {"alt": "\u968f\u8f6e\u6570\u53d8\u5316\u7684\u8bad\u7ec3\u66f2\u7ebf\uff1a\u8bad\u7ec3\u635f\u5931\uff08\u5b9e\u7ebf\uff09\u3001\u8bad\u7ec3\u7cbe\u5ea6\uff08\u865a\u7ebf\uff09\uff0c\u4ee5\u53ca\u6bcf\u8f6e\u7ed3\u675f\u65f6\u7684\u9a8c\u8bc1\u7cbe\u5ea6\uff08\u5e26\u5706\u70b9\u7684\u70b9\u5212\u7ebf\uff09\u3002"}}
d2lite.set_seed(0)  # 批量顺序和暂退掩码，不受前面运行过什么的影响
t0 = time.perf_counter()
history = d2lite.train(
    net, train_iter, val_iter, S["num_epochs"], LR, device,
    momentum=S["momentum"], weight_decay=S["weight_decay"], amp=S["amp"],
    channels_last=S["channels_last"], checkpoint=CKPT,
    animator=d2lite.Animator(xlabel="轮数", ylabel="损失 / 精度",
                             xlim=[0, S["num_epochs"]],
                             legend=["训练损失", "训练精度", "验证精度"],
                             fmts=("-", "m--", "g-.o")),
)
run_seconds = time.perf_counter() - t0  # 整个训练：训练步骤、评估、检查点

# %% [markdown]
# `train` 返回训练历史，每轮一条。`examples/s` 按训练步骤的墙钟时间计算，包括读取数据，不包括评估。这个单元格还把
# 验证精度和训练用时补进 JSON 文件：

# %%
for row in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc,
               history.examples_per_sec, history.seconds):
    print("第 {} 轮：损失 {:.3f}，训练精度 {:.3f}，验证精度 {:.3f}，"
          "每秒 {:.1f} 个样本，{:.0f} 秒".format(*row))
run.update(val_acc=history.test_acc[-1], run_seconds=round(run_seconds))
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))  # 写进检查点旁边的 JSON（第 5 章会读）
budget_s = 60 * (S["budget_minutes"] or 0)
budget_verdict = d2lite.glue("budget_verdict", (
    f"这次训练用了 {run_seconds:.0f} 秒，预算是 {budget_s:.0f} 秒："
    + (f"超出 {run_seconds / budget_s - 1:.0%}。" if run_seconds > budget_s
       else f"还剩 {1 - run_seconds / budget_s:.0%}。") if budget_s else
    f"这个设置不设时间预算；这次训练用了 {run_seconds:.0f} 秒。"))
print(budget_verdict)

# %% [markdown]
# {glue:text}`budget_verdict` 如果规划之后机器变忙了，或者规划时计时的几个批量比整个训练能维持的速度快，训练就会
# 超出预算。
#
# ### 完整方案的训练记录
#
# 本书在命令行里把完整方案跑过一次（`python -m d2lite train --setting full`），并保存了它的记录。下面的单元格把它的
# 曲线画在本页训练的旁边，并用两条参考线标出两个已发表的测试精度：原教程的 0.923[^tutorial] 和 d2l 的 0.88[^d2l]。

# %%
full = d2lite.load_record("full-recipe")  # book/runs/full-recipe.json
ep = [e["epoch"] for e in full["epochs"]]
full_test_acc = d2lite.glue("full_test_acc", full["final_test"]["acc"])
full_hours = d2lite.glue("full_hours", full["times"]["ran_seconds"] / 3600)
full_cpu = d2lite.glue("full_cpu", f"{full['hardware']['cpu']}（{full['hardware']['cores']} 个线程）")
full_val_acc = d2lite.glue("full_val_acc", full["epochs"][-1]["val_acc"])
print(f"完整方案：{d2lite.glue('full_epochs', len(ep))} 轮，每轮 {full['train_images']:,} "
      f"张训练图像，在 {full_cpu} 上实际运行 {full_hours:.1f} 小时")
print(f"最后一轮：训练精度 {full['epochs'][-1]['train_acc']:.3f}，验证精度 {full_val_acc:.3f}；"
      f"测试精度 {full_test_acc:.3f}（{full['final_test']['images']:,} 张测试图像，只评估一次）")

# %% mystnb={"image": {"alt": "\u968f\u8f6e\u6570\u53d8\u5316\u7684\u4e24\u5e45\u5c0f\u56fe\u3002\u5de6\uff1a\u5b8c\u6574\u65b9\u6848\u8bad\u7ec3\u8bb0\u5f55\u548c\u672c\u9875\u8bad\u7ec3\u7684\u8bad\u7ec3\u635f\u5931\u3002\u53f3\uff1a\u4e24\u8005\u7684\u8bad\u7ec3\u7cbe\u5ea6\u548c\u9a8c\u8bc1\u7cbe\u5ea6\uff0c\u4ee5\u53ca\u539f\u6559\u7a0b\u548c d2l \u5df2\u53d1\u8868\u7684\u6d4b\u8bd5\u7cbe\u5ea6\u4e24\u6761\u6c34\u5e73\u53c2\u8003\u7ebf\u3002"}}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.2))
ax1.plot(ep, [e["train_loss"] for e in full["epochs"]], "b-o", markersize=3)
ax1.plot(history.epoch, history.train_loss, "r-s")
d2lite.set_axes(ax1, xlabel="轮数", ylabel="训练损失", legend=["完整方案", "本页"])
ax2.plot(ep, [e["train_acc"] for e in full["epochs"]], "b--")
ax2.plot(ep, [e["val_acc"] for e in full["epochs"]], "b-o", markersize=3)
ax2.plot(history.epoch, history.train_acc, "r--")
ax2.plot(history.epoch, history.test_acc, "r-s")
ax2.axhline(full["cited"]["tutorial"]["test_acc"], color="grey", linestyle=":")
ax2.axhline(full["cited"]["d2l"]["test_acc"], color="grey", linestyle="-.")
d2lite.set_axes(ax2, xlabel="轮数", ylabel="精度",
                legend=["完整：训练精度", "完整：验证精度", "本页：训练精度",
                        "本页：验证精度", "原教程：测试精度", "d2l：测试精度"])
plt.tight_layout()
plt.show()

# %% [markdown]
# 完整方案在 {glue:text}`full_cpu` 上训练了 {glue:text}`full_epochs` 轮，实际运行 {glue:text}`full_hours:.1f`
# 小时，最后一轮的验证精度为 {glue:text}`full_val_acc:.3f`，测试精度为 {glue:text}`full_test_acc:.3f`（见上面的
# 输出）：同样的方案用全部训练图像多训练几轮，能走到这里。
#
# 到最后一轮，它的验证精度仍在上升。AlexNet 论文的做法是：验证精度不再提高时，把学习率除以 10。所以本书给自己留了
# 一次继续训练的机会，而且在开跑之前就定好了：从第 10 轮的检查点出发，用十分之一的学习率再训练两轮
# （`python -m d2lite train --setting full --epochs 12 --lr 0.001 --resume`；恢复训练时保留权重和动量，并按给出的
# `--lr` 训练）。只有最后的验证精度高于第 10 轮，这次继续才算数。测试集不参与这个决定，和之前一样，只在最后评估一次。

# %%
cont = d2lite.load_record("full-recipe-continued")  # book/runs/full-recipe-continued.json
for e in cont["epochs"][len(ep):]:  # 完整方案之后的那几轮
    print(f"第 {e['epoch']} 轮，学习率 {cont['lr']}：训练精度 {e['train_acc']:.3f}，"
          f"验证精度 {e['val_acc']:.3f}")
for stop in cont["interruptions"]:
    print(f"中断（{stop['how']}）：损失了 {stop['steps_lost_at_least']} 步")
cont_val_acc = d2lite.glue("cont_val_acc", cont["epochs"][-1]["val_acc"])
cont_test_acc = d2lite.glue("cont_test_acc", cont["final_test"]["acc"])
print(f"测试精度 {cont_test_acc:.3f}（{cont['final_test']['images']:,} 张测试图像，只评估一次）；"
      f"实际运行 {cont['times']['ran_seconds'] / 60:.0f} 分钟")
cont_verdict = d2lite.glue("cont_verdict", (
    f"验证精度从 {full_val_acc:.3f} 变为 {cont_val_acc:.3f}，所以这次继续"
    + (f"算数：它的测试精度是 {cont_test_acc:.3f}，"
       f"第 {ep[-1]} 轮之后是 {full_test_acc:.3f}。" if cont_val_acc > full_val_acc else
       f"不算数，完整方案的结果仍是 {full_test_acc:.3f}。记录在案：继续训练后的模型在测试集上得到 "
       f"{cont_test_acc:.3f}。")))
print(cont_verdict)

# %% [markdown]
# {glue:text}`cont_verdict`
#
# ### 28×28 上的小 CNN，用同一个时钟比较
#
# 原教程把图像放大到 224×224，只是为了让 AlexNet 放得进去，它自己也说这通常不是明智的做法。代价有多大？下面的单元格
# 在 28×28 的图像上训练 `d2lite.lenet`（d2l 的 LeNet-5，激活函数换成 ReLU），优化器和学习率相同，训练步骤共用
# `cnn_seconds` 秒（完整设置下和主训练一样长），在同一批验证图像上打分。

# %%
small_train, small_val, _ = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], validation=S["validation"], subset=S["subset"], device=device)  # 28x28
d2lite.set_seed(0)
small = d2lite.init_weights(d2lite.lenet(activation="relu")).to(device)
opt = torch.optim.SGD(small.parameters(), lr=LR, momentum=S["momentum"],
                      weight_decay=S["weight_decay"])
budget = S["cnn_seconds"] or sum(history.seconds)  # 训练步骤的秒数
epochs = d2lite.shared_choice("cnn_epochs")  # 构建本书时，另一种语言版本训练的轮数
small_curve, spent, seen = [], 0.0, 0
while (spent < budget) if epochs is None else (len(small_curve) < epochs):  # 整轮整轮地训练
    stats = d2lite.train_epoch(small, small_train, nn.CrossEntropyLoss(), opt, device)
    spent, seen = spent + stats.seconds, seen + stats.examples
    small_curve.append((spent, d2lite.evaluate_accuracy_gpu(small, small_val)))
d2lite.share_choice("cnn_epochs", len(small_curve))
print(f"LeNet：{len(small_curve)} 轮，每秒 {seen / spent:,.0f} 个样本，"
      f"{spent:.0f} 秒后验证精度 {small_curve[-1][1]:.3f}")

# %% [markdown]
# 两条曲线用同一个时钟：验证精度随训练步骤秒数（不含评估）的变化。AlexNet 的点来自主训练的各轮。

# %% mystnb={"image": {"alt": "\u9a8c\u8bc1\u7cbe\u5ea6\u968f\u8bad\u7ec3\u6b65\u9aa4\u79d2\u6570\u7684\u53d8\u5316\uff0c\u65f6\u95f4\u8f74\u4e3a\u5bf9\u6570\u523b\u5ea6\uff1a224\u00d7224 \u56fe\u50cf\u4e0a\u7684 AlexNet\uff08\u4e3b\u8bad\u7ec3\u7684\u5404\u8f6e\uff09\u548c 28\u00d728 \u56fe\u50cf\u4e0a\u7684\u4e00\u4e2a LeNet \u5f0f\u5c0f CNN\uff08\u6bcf\u8f6e\u4e00\u4e2a\u70b9\uff09\u3002"}}
alex_t = [sum(history.seconds[:i + 1]) for i in range(len(history.seconds))]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(alex_t, history.test_acc, "r-s")
ax.plot([t for t, _ in small_curve], [a for _, a in small_curve], "b-o", markersize=3)
d2lite.set_axes(ax, xlabel="训练步骤的秒数", ylabel="验证精度", xscale="log",
                legend=["AlexNet，224×224", "LeNet，28×28"])
plt.show()

# %% [markdown]
# 由两次训练算出的比较：

# %%
alex_then = [a for t, a in zip(alex_t, history.test_acc) if t <= spent]  # LeNet 结束时 AlexNet 的成绩
speedup = d2lite.glue("cnn_speedup", (seen / spent) / (sum(
    e * s for e, s in zip(history.examples_per_sec, history.seconds)) / alex_t[-1]))
cnn_verdict = d2lite.glue("cnn_verdict", (
    f"28×28 图像上的 LeNet 用 {spent:.0f} 秒训练步骤达到验证精度 "
    f"{small_curve[-1][1]:.3f}；那时 AlexNet "
    + (f"已达到 {max(alex_then):.3f}" if alex_then else "还没跑完第一轮")
    + f"，它最终在 {alex_t[-1]:.0f} 秒后达到 {history.test_acc[-1]:.3f}。"))
print(cnn_verdict, f"LeNet 每秒处理的图像数是 AlexNet 的 {speedup:.0f} 倍。")

# %% [markdown]
# {glue:text}`cnn_verdict` LeNet 每秒处理的图像数是 AlexNet 的 {glue:text}`cnn_speedup:.0f` 倍（见上面的输出）。
# AlexNet 的大部分计算花在放大后的图像上，而多出来的像素并没有带来更多细节。AlexNet 的规模要在 ImageNet 那样又大又
# 细致的图像上才划算；本书在 Fashion-MNIST 上训练它，是因为 AlexNet 是本书的主题，而不是因为它适合这份数据。
#
# ## 4.9 暂退法
#
# AlexNet 有两个暂退层，分别在两个 4096 宽的全连接层的 ReLU 之后（第 2 章）。训练时，每个暂退层以概率 $p$ 把每个
# 单元置零，对每张图像、每一步都独立抽取，并把保留下来的单元乘以 $1/(1-p)$：
#
# $$h' = \frac{m}{1-p}\,h, \qquad m \sim \text{Bernoulli}(1-p).$$
#
# 这个缩放让期望保持不变，$\mathbb E[h'] = h$，所以推理时这一层什么也不用做。`nn.Dropout` 就是这样做的，这叫
# *倒置*暂退法；论文的做法是推理时把输出乘以 $1-p$。究竟是哪种行为，取决于模块的模式：`train()` 打开掩码，`eval()`
# 关闭掩码。

# %%
drop = nn.Dropout(p=0.5)
h = torch.ones(2, 8)
d2lite.set_seed(0)
print("训练模式：\n", drop.train()(h))  # 约一半为 0，其余为 1 / (1 - 0.5) = 2
print("评估模式：\n", drop.eval()(h))  # 不变
big = torch.ones(100_000)
print(f"训练模式下 100,000 个单元的平均值：{drop.train()(big).mean():.3f}（倒置）；"
      f"论文的做法：训练时 {(big * (torch.rand(100_000) > 0.5)).mean():.3f}，"
      f"推理时再乘以 0.5 = 0.500")

# %% [markdown]
# 所以 `d2lite.evaluate_accuracy_gpu` 在 `eval()` 模式下评估。
#
# 暂退法换来了什么？它让死记硬背更难：一个单元不能指望别的单元一定在场。过拟合要在少量图像上训练很久才显现，用整个
# AlexNet 在 CPU 上做不起。好在暂退法只作用在全连接层，我们就在那里测：冻结刚训练好的网络的卷积层，对几千张训练图像
# 和一批验证图像各算一次它们输出的 6,400 个特征。

# %%
features = net[:14].eval()  # conv1 ……最后一个汇聚层和展平：(B, 6400)，冻结
amp_ctx = d2lite.autocast(device, d2lite.amp_dtype(device, S["amp"]))  # 和 train() 的用法相同


def feats(images, labels):
    """这些图像的冻结特征，只算一次：(N, 6400) float32，(N,)。"""
    loader = d2lite.DeviceLoader(images, labels, S["batch_size"], 224, device=device,
                                 channels_last=S["channels_last"])
    with torch.inference_mode(), amp_ctx:
        out = [(features(Xb).float(), yb) for Xb, yb in loader]
    return torch.cat([f for f, _ in out]), torch.cat([t for _, t in out])


F_train, y_train = feats(train_iter.images[:S["head_images"]], train_iter.labels[:S["head_images"]])
F_val, y_val = feats(val_iter.images[:S["head_val"]], val_iter.labels[:S["head_val"]])
print("特征：", tuple(F_train.shape), "训练，", tuple(F_val.shape), "验证")

# %% [markdown]
# 在这些特征上，我们从头训练 AlexNet 的全连接层（6400 → 4096 → 4096 → 10），每个暂退概率、每个种子各一次：
# $p = 0$、$0.5$（论文的取值）和 $0.9$（原教程的取值）。每轮结束后，在评估模式下测验证图像上的精度，也在同样多的
# 训练图像上测精度。

# %%
def dense_layers(p):
    """暂退概率为 p、重新初始化的 AlexNet 全连接层：6400 -> 4096 -> 4096 -> 10。"""
    return d2lite.init_weights(nn.Sequential(
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p),
        nn.Linear(4096, 10))).to(device)


def accuracies(model):
    """评估模式下的（训练，验证）精度：在 len(F_val) 张训练图像上和在 F_val 上。"""
    model.eval()
    n = len(F_val)
    with torch.inference_mode(), amp_ctx:
        return tuple((model(Fx).argmax(1) == yx).float().mean().item()
                     for Fx, yx in ((F_train[:n], y_train[:n]), (F_val, y_val)))

# %% [markdown]
# 训练循环：每轮打乱一次，每个小批量一次 `train_step`。几次训练之间只有暂退概率和种子不同。

# %%
def train_dense(p, seed):
    """用暂退概率 p 训练新的全连接层；返回每轮的 [(训练精度, 验证精度)]。"""
    d2lite.set_seed(seed)  # 初始权重、打乱顺序和暂退掩码
    model = dense_layers(p)
    opt = torch.optim.SGD(model.parameters(), lr=S["head_lr"], momentum=S["momentum"],
                          weight_decay=S["weight_decay"],
                          fused=device.type != "mps")  # 每次更新只把权重过一遍
    curve = []
    for _ in range(S["head_epochs"]):
        model.train()  # 打开暂退法
        for b in torch.randperm(len(y_train), device=device).split(S["head_batch"]):
            d2lite.train_step(model, F_train[b], y_train[b], nn.CrossEntropyLoss(), opt, amp_ctx)
        curve.append(accuracies(model))
    return curve


t0 = time.perf_counter()
curves = {(p, s): train_dense(p, s) for p in S["dropout_ps"] for s in S["head_seeds"]}
print(f"{len(curves)} 次训练，每次 {S['head_epochs']} 轮，共 {time.perf_counter() - t0:.0f} 秒")

# %% [markdown]
# 最后一轮之后，每个暂退概率一行：训练精度和验证精度在各种子上的平均与差距（最大减最小），以及两个平均之差。

# %%
final = {p: torch.tensor([curves[p, s][-1] for s in S["head_seeds"]]) for p in S["dropout_ps"]}
print("    p | 训练精度：平均，差距 | 验证精度：平均，差距 | 差")
for p, a in final.items():  # a: (种子数, 2)，训练和验证
    print(f"{p:5} | {a[:, 0].mean():12.3f}，{a[:, 0].max() - a[:, 0].min():.3f} | "
          f"{a[:, 1].mean():12.3f}，{a[:, 1].max() - a[:, 1].min():.3f} | "
          f"{a[:, 0].mean() - a[:, 1].mean():+.3f}")
best, second = sorted(final, key=lambda p: final[p][:, 1].mean(), reverse=True)[:2]
lead = (final[best][:, 1].mean() - final[second][:, 1].mean()).item()
noise = max((final[q][:, 1].max() - final[q][:, 1].min()).item() for q in (best, second))
collapsed = [p for p, a in final.items() if a[:, 0].min() < 0.2]  # 接近随机猜测：0.1

# %% [markdown]
# 由这张表得出的结论：

# %%
drop_verdict = d2lite.glue("drop_verdict", (
    f"p = {best} 泛化得最好，平均验证精度 {final[best][:, 1].mean():.3f}，"
    f"比 p = {second} 高 {lead:.3f}；"
    + (f"这个领先在种子之间的差距 {noise:.3f} 之内，"
       "这个实验分不出两者。" if lead <= noise else
       f"这个领先超出了种子之间的差距 {noise:.3f}。")
    + "训练精度与验证精度之差："
    + "，".join(f"p = {p} 时 {a[:, 0].mean() - a[:, 1].mean():+.3f}" for p, a in final.items())
    + "。" + "".join(f"p = {p} 时至少有一次训练在自己的训练图像上退化到了随机猜测的"
                    "水平。" for p in collapsed)))
print(drop_verdict)

# %% mystnb={"image": {"alt": "\u4e09\u5e45\u5c0f\u56fe\uff0c\u6bcf\u4e2a\u6682\u9000\u6982\u7387\u4e00\u5e45\uff1a\u4ece\u5934\u8bad\u7ec3\u7684\u5168\u8fde\u63a5\u5c42\u7684\u8bad\u7ec3\u7cbe\u5ea6\u548c\u9a8c\u8bc1\u7cbe\u5ea6\u968f\u8f6e\u6570\u7684\u53d8\u5316\uff0c\u7ebf\u4e3a\u5404\u79cd\u5b50\u7684\u5e73\u5747\uff0c\u8272\u5e26\u4e3a\u5404\u79cd\u5b50\u7684\u8303\u56f4\u3002"}}
fig, axes = plt.subplots(1, len(S["dropout_ps"]), figsize=(3.3 * len(S["dropout_ps"]), 2.8))
for ax, p in zip(axes, S["dropout_ps"]):
    c = torch.tensor([curves[p, s] for s in S["head_seeds"]])  # (种子数, 轮数, 2)
    epochs = range(1, c.shape[1] + 1)
    for k, style, label in ((0, "b-", "训练（评估模式）"), (1, "g--", "验证")):
        ax.plot(epochs, c[:, :, k].mean(0), style, label=label)
        ax.fill_between(epochs, c[:, :, k].min(0).values, c[:, :, k].max(0).values,
                        color=style[0], alpha=0.2)
    d2lite.set_axes(ax, xlabel="轮数", ylabel="精度" if p == S["dropout_ps"][0] else None)
    if p == S["dropout_ps"][0]:
        ax.legend()  # 只给两条均值线加图例，阴影带不加
    ax.set_title(f"暂退概率 p = {p}")
plt.tight_layout()
plt.show()

# %% [markdown]
# {glue:text}`drop_verdict` 暂退法起作用时，训练精度和验证精度之差会随 $p$ 增大而缩小。这能不能换来更高的验证精度，
# 取决于不用暂退法时这几层过拟合得有多厉害；而在几千张图像上训练几轮，只是一个短小的检验。每幅小图有自己的纵轴刻度：
# 比较时看数字，不看高低。主训练在这个实验之前就用了论文的 $p = 0.5$。
#
# ## 4.10 过拟合、泛化与测试集
#
# *训练精度*说明模型对学过的图像拟合得多好；*验证精度*说明它在没训练过的图像上表现如何；*测试精度*是在没有任何选择
# 看过的图像上再问一遍同样的问题。训练精度和验证精度相差很大就是**过拟合**：模型记住的是图像，而不是类别。训练精度
# 很低是**欠拟合**。差距小而精度高，就是**泛化**得好。
#
# `train` 打印的训练精度是暂退法打开时的累计平均，所以我们在评估模式下、在一部分训练图像上重新测一次。然后，所有
# 选择都已做完，我们评估测试集：本章唯一的一次。

# %%
train_sample = d2lite.DeviceLoader(train_iter.images[:S["eval_train"]],
                                   train_iter.labels[:S["eval_train"]], S["batch_size"], 224,
                                   device=device, channels_last=S["channels_last"])
train_acc = d2lite.glue("train_acc", d2lite.evaluate_accuracy_gpu(net, train_sample, amp=S["amp"]))
val_acc = d2lite.glue("val_acc", history.test_acc[-1])  # train() 在最后一轮之后测得
test_acc = d2lite.glue("test_acc", d2lite.evaluate_accuracy_gpu(net, test_iter, amp=S["amp"]))
run.update(test_acc=test_acc, val_acc=val_acc, train_acc_eval_mode=train_acc)
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))  # 第 5 章会读它
print(f"训练精度 {train_acc:.3f}（评估模式，{len(train_sample.images):,} 张训练图像）\n"
      f"验证精度 {val_acc:.3f}（{len(val_iter.images):,} 张验证图像）\n"
      f"测试精度 {test_acc:.3f}（{len(test_iter.images):,} 张测试图像，只评估一次）")

# %% [markdown]
# 下图把主训练的曲线和最后的三个数放在一起。

# %% mystnb={"image": {"alt": "\u4e3b\u8bad\u7ec3\u7684\u7cbe\u5ea6\u968f\u8f6e\u6570\u7684\u53d8\u5316\uff1a\u6682\u9000\u6cd5\u6253\u5f00\u65f6\u8bad\u7ec3\u7cbe\u5ea6\u7684\u7d2f\u8ba1\u5e73\u5747\uff08\u865a\u7ebf\uff09\u3001\u6bcf\u8f6e\u7ed3\u675f\u540e\u7684\u9a8c\u8bc1\u7cbe\u5ea6\uff08\u5706\u70b9\uff09\uff0c\u4ee5\u53ca\u6700\u540e\u4e00\u8f6e\u65f6\u8bc4\u4f30\u6a21\u5f0f\u4e0b\u7684\u8bad\u7ec3\u7cbe\u5ea6\uff08\u53c9\u53f7\uff09\u548c\u6d4b\u8bd5\u7cbe\u5ea6\uff08\u661f\u53f7\uff09\u3002"}}
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(history.epoch, history.train_acc, "m--o")
ax.plot(history.epoch, history.test_acc, "g-.o")
ax.plot(history.epoch[-1], train_acc, "bx", markersize=10)
ax.plot(history.epoch[-1], test_acc, "r*", markersize=12)
d2lite.set_axes(ax, xlabel="轮数", ylabel="精度", xlim=[0.8, history.epoch[-1] + 0.2],
                legend=["训练精度（累计平均，暂退法打开）", "验证精度", "训练精度（评估模式）",
                        "测试精度（仅一次）"])
ax.set_xticks(history.epoch)
plt.show()

# %% [markdown]
# 由这三个数算出它们说明了什么：训练精度与验证精度之差，验证精度到最后一轮是否还在上升，以及测试精度与验证精度之差
# 是否超出两组图像数量决定的抽样噪声。

# %%
gap = train_acc - val_acc
rising = history.test_acc[-1] > history.test_acc[-2] if len(history.test_acc) > 1 else None
sampling = 2 * (val_acc * (1 - val_acc) / len(val_iter.images)
                + test_acc * (1 - test_acc) / len(test_iter.images)) ** 0.5  # 2 个标准误
fit_verdict = d2lite.glue("fit_verdict", (
    f"训练精度减验证精度为 {gap:+.3f}；验证精度"
    + {True: "到最后一轮还在上升。", False: "到最后一轮已经不再上升。",
       None: "只在一轮之后测过。"}[rising]
    + f"测试精度与验证精度相差 {test_acc - val_acc:+.3f}，"
    + ("没有超出" if abs(test_acc - val_acc) <= sampling else "超出了")
    + f"两组图像的抽样噪声（约 ±{sampling:.3f}）。"))
print(fit_verdict)

# %% [markdown]
# 这次训练的三个数：训练精度 {glue:text}`train_acc:.3f`（评估模式）、验证精度 {glue:text}`val_acc:.3f`、测试精度
# {glue:text}`test_acc:.3f`（见上面的输出）。{glue:text}`fit_verdict` 没有按测试集调过任何选择时，测试精度和验证精度
# 应该只差抽样噪声。验证曲线还在上升，说明该*训练更久*，而不是*加强正则化*。
#
# 原教程的训练展示的是另一种情形：用批量大小 1 训练 100 轮后，它打印出训练精度 0.988[^tutorial]（累计平均，暂退法
# 打开），而测试精度是 0.923[^tutorial]。它几乎完美地拟合了训练图像，这个差距就是过拟合，尽管用了暂退法。可以对照
# 完整方案最后一轮的训练精度和验证精度（4.8 节）。
#
# ## 小结
#
# - 训练最小化交叉熵损失 $-\log \operatorname{softmax}(\mathbf o)_y$，它对分数的梯度是 $\hat{\mathbf p}$ 减去独热
#   标签；精度是我们报告的指标。
# - 一个训练步就是前向、损失、`backward()`、`opt.step()`。{glue:text}`step_verdict` 打开暂退法时，掩码的噪声会进入
#   梯度和估计。
# - `torch.optim.SGD` 执行 $\mathbf g \leftarrow \nabla L + \lambda \mathbf w$，
#   $\mathbf v \leftarrow \mu \mathbf v + \mathbf g$，$\mathbf w \leftarrow \mathbf w - \eta \mathbf v$，本书沿用
#   论文的批量大小 128、动量 0.9 和权重衰减 5·10⁻⁴。
# - 选择在验证集上做；测试集只评估一次。学习率在多个种子上筛选，规则事先定好：本页选了 {glue:text}`lr`；完整设置
#   的记录{glue:text}`full_lr_verdict`。
# - 完整方案训练 {glue:text}`full_epochs` 轮，达到测试精度 {glue:text}`full_test_acc:.3f`。唯一的一次继续训练（学习率
#   降为十分之一，再训练两轮）按验证集来判断：{glue:text}`cont_verdict` 28×28 图像上的小 CNN 每秒处理的图像数是
#   AlexNet 的 {glue:text}`cnn_speedup:.0f` 倍。
# - 暂退法在训练时以概率 $p$ 把单元置零、把其余单元乘以 $1/(1-p)$，在评估模式下什么也不做。在冻结特征上训练的
#   全连接层上：{glue:text}`drop_verdict`
#
# ## 练习
#
# 1. 一个模型给正确类别的概率是 0.9，它的交叉熵损失是多少？如果只给 0.01 呢？为什么损失对“自信地答错”的惩罚重得多？
# 2. 给 4.5 节的动量规则喂一个永远不变的梯度 $g = 1$，$\mu = 0.9$。$v$ 最终会有多大？多少步之后离这个值不到 1%？
# 3. 论文每当验证误差不再下降，就把学习率除以 10。用 `torch.optim.lr_scheduler.ReduceLROnPlateau` 在一串验证误差上
#    做同样的事，并说明训练循环里哪一行应该调用它。
# 4. 本页的学习率筛选，最后胜出的学习率领先的幅度可能还在种子之间的差距之内。为什么不在测试集上评估每个候选，
#    用测试精度来分出高下？那样报告出来的测试精度意味着什么？可以怎么做？
#
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行。
#
# :::{admonition} 解答 1：自信地答错
# :class: dropdown
# $-\ln 0.9 = 0.105$，$-\ln 0.01 = 4.6$。$\hat p_y \to 0$ 时损失没有上限，所以一次自信的错误抵得上几十个略有犹豫的
# 正确回答，而且它的梯度 $\hat p_y - 1 \approx -1$ 推得很猛。
# :::
#
# :::{admonition} 解答 2：梯度不变时的动量
# :class: dropdown
# $v_t = 1 + 0.9 + \dots + 0.9^{t-1} = (1 - 0.9^t)/(1 - 0.9)$，趋于 $10$；当 $0.9^t < 0.01$，即
# $t = \lceil \ln 0.01 / \ln 0.9 \rceil = 44$ 步之后，离 10 不到 1%。动量要几十步才能达到完整的十倍加速，忘掉一个梯度
# 也是同样的节奏。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 2 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 2 \u7684\u4ee3\u7801"} tags=["hide-cell"]
v, mu, t = 0.0, 0.9, 0
while abs(v - 10) >= 0.1:  # 直到离极限 10 不到 1%
    v, t = mu * v + 1.0, t + 1  # 每一步 g = 1
print(f"{t} 步后 v = {v:.3f}（极限 1 / (1 - {mu}) = {1 / (1 - mu):.0f}）")

# %% [markdown]
# :::{admonition} 解答 3：论文的学习率调度
# :class: dropdown
# `ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=...)` 在传给它的值连续 `patience` 次没有改进时把学习率
# 除以 10。它每轮调用一次，放在验证评估之后：`scheduler.step(1 - val_acc)`。下面的代码喂给它一串编出来的验证误差。
# :::

# %% mystnb={"code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 3 \u7684\u4ee3\u7801", "code_prompt_show": "\u663e\u793a\u89e3\u7b54 3 \u7684\u4ee3\u7801"} tags=["hide-cell"]
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=1)
for epoch, val_err in enumerate([0.30, 0.22, 0.19, 0.19, 0.195, 0.15, 0.14, 0.14, 0.141], 1):
    plateau.step(val_err)  # 每轮验证评估之后
    print(f"第 {epoch} 轮：验证误差 {val_err:.3f} -> 学习率 {opt.param_groups[0]['lr']:.0e}")

# %% [markdown]
# :::{admonition} 解答 4：测试集不能用来分高下
# :class: dropdown
# 在测试集上做选择，测试集就成了训练的一部分：报告出来的精度是几个候选在这批图像上的最好成绩，会高估所选模型在新图像上的表现；
# 比较的候选越多、彼此越接近，高估得越多。测试集从此不再是一次全新的检验，而我们没有第二个测试集。可以换成这些做法：
# 用更多的种子或更长的筛选，让种子之间的差距缩小；两者分不出高下时，选差距更小的那个，或者选惯用的那个；
# 或者两个都可以接受，并说明这个选择在噪声之内，本页就是这样做的。测试集只在所有选择都做完之后评估一次。
# :::

# %% [markdown]
# [^tutorial]: 本书所依据的原教程（中文）：批量大小 1、学习率 0.01，在一块没有注明型号的 GPU 上训练 100 轮；它最后打印的是训练损失 0.034、训练精度 0.988、测试精度 0.923。
#
# [^d2l]: 《动手学深度学习》8.1 节（AlexNet）：批量大小 128、学习率 0.01，训练 10 轮；测试精度约 0.88。
