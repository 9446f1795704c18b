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
# # 1 激活函数：从 sigmoid 到 ReLU
#
# AlexNet 相对 LeNet 的改动里，最不起眼、却最影响训练的一条，是把 sigmoid 换成了 ReLU。
# 这一章不讲大道理，而是把两个函数画出来、求导、再量一量梯度穿过多层网络之后还剩多少。
#
# **学习目标**
#
# - 说明网络为什么非要有非线性：没有激活函数，叠起来的线性层会合并成一层；
# - 写出 ReLU 和 sigmoid 的公式，并用 autograd 画出它们的导数；
# - 说清楚 ReLU 在 0 点“不可导”时，PyTorch 实际返回什么；
# - 用一个小实验量出梯度穿过一叠 sigmoid 层后如何消失，ReLU 层为何好得多，以及 He 初始化里的因子 2 从何而来；
# - 用一个小控件自己调层数、换函数，观察每一层的梯度，并看清 PyTorch 默认的偏置对它们有什么影响。
#
# ```{note}
# 本章只用很小的全连接网络，CPU 上就能跑完。快速设置省不了多少时间，因为不少时间花在启动内核和导入 PyTorch 上。
# 本页实际的用时、设置和硬件，写在网站上标题下方的运行说明里，也记录在 notebook 元数据的 `d2lite` 项中。
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 下面的参数单元格集中了本章所有可调的量。左边是完整设置，右边是测试和 CI 用的快速设置
# （环境变量 `D2LITE_QUICK=1` 时启用），两者只在测量的层数和重复次数上不同。

# %% tags=["parameters", "hide-input"]
import os

import d2lite

QUICK = d2lite.is_quick()
FULL = dict(
    depths=(1, 2, 4, 8, 12, 16, 20),  # 要测的层数：到 20 层时 sigmoid 的梯度已所剩无几
    width=64,  # 每层的神经元数：够宽，梯度范数才不会随随机种子大幅跳动
    batch=256,  # 每次测量用的输入个数
    repeats=5,  # 每个层数重复初始化几次再取平均
    widget_depth=16,  # 控件和静态图默认显示的层数
)
QUICK_SETTING = dict(depths=(1, 4, 8, 16), width=64, batch=64, repeats=2, widget_depth=16)
S = QUICK_SETTING if QUICK else FULL
print(
    f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} → {'快速' if QUICK else '完整'}设置：{S}"
)

# %% [markdown]
# 导入要用的库。`d2lite.use_cjk_font()` 让 matplotlib 用一款真正的中文字体（随 `mplfonts`
# 安装的思源黑体 / Noto Sans CJK），图上的中文才不会变成方框。

# %% tags=["hide-input"]
import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch import nn

LANG = "zh"  # 图中文字的语言
print("中文字体：", d2lite.use_cjk_font())

# %% [markdown]
# 本章的计算量很小，放在哪个设备上都行；按惯例仍然挑选并打印设备（GPU 优先，其次 Apple 的
# MPS，最后 CPU）。

# %% tags=["hide-input"]
device = d2lite.try_gpu()
print(f"设备：{device}，PyTorch {torch.__version__}")

# %% [markdown]
# ## 1.1 为什么需要非线性
#
# 一个全连接层计算 $\mathbf{h} = \mathbf{W}_1\mathbf{x} + \mathbf{b}_1$。在它上面直接再叠一层，中间什么也不加，
# 两层就会合并成一层：
#
# $$\mathbf{y} = \mathbf{W}_2(\mathbf{W}_1\mathbf{x} + \mathbf{b}_1) + \mathbf{b}_2
#   = \underbrace{\mathbf{W}_2\mathbf{W}_1}_{\mathbf{W}}\,\mathbf{x}
#   + \underbrace{\mathbf{W}_2\mathbf{b}_1 + \mathbf{b}_2}_{\mathbf{b}}.$$
#
# 同样的推理一层层做下去，再深的一叠线性层能表示的，也不超过单独一个线性层：光靠加深什么也得不到。
# 打破这种合并的，正是夹在层与层之间的激活函数。用代码验证一下：用 $\mathbf{W}_2\mathbf{W}_1$ 和
# $\mathbf{W}_2\mathbf{b}_1 + \mathbf{b}_2$ 拼出一个合并后的层：

# %%
torch.manual_seed(0)
lin1, lin2, merged = nn.Linear(5, 4), nn.Linear(4, 3), nn.Linear(5, 3)
with torch.no_grad():
    merged.weight.copy_(lin2.weight @ lin1.weight)  # W = W2 W1
    merged.bias.copy_(lin2.weight @ lin1.bias + lin2.bias)  # b = W2 b1 + b2
inputs = torch.randn(8, 5)  # 8 个输入，每个 5 个特征
print("两个线性层等于一个：", torch.allclose(lin2(lin1(inputs)), merged(inputs), atol=1e-6))
print("中间加一个 ReLU：", torch.allclose(lin2(torch.relu(lin1(inputs))), merged(inputs), atol=1e-6))

# %% [markdown]
# 本章余下的内容，讲的就是这里该放哪一种非线性函数。
#
# ## 1.2 ReLU
#
# ReLU（rectified linear unit，修正线性单元）只做一件事：负数变成 0，正数原样保留。
#
# $$\operatorname{ReLU}(x) = \max(x, 0)$$
#
# 它的导数也同样简单：$x<0$ 时为 0，$x>0$ 时为 1。我们不手算，而是让 autograd 对一整排输入
# 一次求导：对 $y$ 的每个元素都传入梯度 1，`x.grad` 里就是逐点的 $\mathrm{d}y/\mathrm{d}x$。

# %%
x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
y = torch.relu(x)
y.backward(torch.ones_like(x))  # 对每个元素求 dy/dx
relu_y, relu_grad = y.detach(), x.grad.clone()
print(relu_grad[::20])  # 每隔 20 个点看一眼：左边全是 0，右边全是 1

# %% [markdown]
# 把函数和导数并排画出来。这个画图函数后面还会用到。


# %% mystnb={"image": {"alt": "\u4e24\u5e45\u56fe\uff1a\u5de6\u56fe\u662f ReLU \u51fd\u6570\uff0cx \u4e3a\u8d1f\u65f6\u7b49\u4e8e 0\uff0cx \u4e3a\u6b63\u65f6\u662f\u4e00\u6761\u76f4\u7ebf\uff1b\u53f3\u56fe\u662f autograd \u7b97\u51fa\u7684\u5bfc\u6570\uff0cx \u4e3a\u8d1f\u65f6\u4e3a 0\uff0cx \u4e3a\u6b63\u65f6\u4e3a 1\u3002"}}
def plot_function_and_grad(x, y, grad, name):
    """左图画函数本身，右图画 autograd 算出的导数。"""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6))
    axes[0].plot(x.detach(), y)
    axes[1].plot(x.detach(), grad, color="C1")
    d2lite.set_axes(axes[0], "x", f"{name}(x)")
    d2lite.set_axes(axes[1], "x", f"{name}'(x)")
    axes[0].set_title(f"{name} 函数")
    axes[1].set_title("导数（由 autograd 计算）")
    fig.tight_layout()
    return fig


fig = plot_function_and_grad(x, relu_y, relu_grad, "ReLU")

# %% [markdown]
# ## 1.3 0 点处的“导数”
#
# 在 $x=0$ 处，ReLU 的左导数是 0、右导数是 1，严格说它在这里不可导。
# 凸分析里把 $[0, 1]$ 中的任何一个数都叫作它在 0 点的**次梯度**（subgradient），框架只需挑一个。
# 看看 PyTorch 挑了哪个：

# %%
z = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
torch.relu(z).sum().backward()
print("torch.relu 在 -1、0、1 处的梯度：", z.grad.tolist())

# %% [markdown]
# `torch.relu` 在 0 点取 0，也就是左导数。这并不是数学上唯一的答案：换一种写法，
# 同一个函数会得到别的次梯度。比如 `torch.maximum(z, 0)` 在两个参数相等时把梯度平分：

# %%
z.grad = None
torch.maximum(z, torch.zeros_like(z)).sum().backward()
print("torch.maximum(z, 0) 在 -1、0、1 处的梯度：", z.grad.tolist())

# %% [markdown]
# ```{note}
# 实际训练中，预激活值恰好等于浮点数 0 的情况极少，选哪个次梯度几乎不影响结果。
# 要记住的是另一件事：ReLU 的梯度要么是 0，要么是 1，信号要么被截断，要么原样通过，不会被打折。
# ```
#
# ## 1.4 sigmoid
#
# sigmoid 把任意实数压进区间 $(0, 1)$，所以也叫“挤压函数”：
#
# $$\sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,\bigl(1 - \sigma(x)\bigr).$$
#
# 它曾经很受欢迎，因为它像一个平滑的开关，符合“神经元要么激活、要么静默”的直觉。
# 同样用 autograd 求导，并顺手核对上面的解析式：

# %%
x.grad = None
y = torch.sigmoid(x)
y.backward(torch.ones_like(x))
sigmoid_y, sigmoid_grad = y.detach(), x.grad.clone()
print("autograd 与 σ(1-σ) 一致：", torch.allclose(sigmoid_grad, sigmoid_y * (1 - sigmoid_y)))
print(f"导数的最大值：{sigmoid_grad.max():.4f}（在 x = {x[sigmoid_grad.argmax()].item():.1f} 处）")

# %% mystnb={"image": {"alt": "\u4e24\u5e45\u56fe\uff1a\u5de6\u56fe\u662f\u4ece 0 \u5347\u5230 1 \u7684 S \u5f62 sigmoid \u51fd\u6570\uff1b\u53f3\u56fe\u662f\u5b83\u7684\u5bfc\u6570\uff0c\u4e00\u6761\u949f\u5f62\u66f2\u7ebf\uff0c\u5728 x = 0 \u5904\u8fbe\u5230\u6700\u5927\u503c 0.25\uff0c|x| \u8d85\u8fc7 5 \u540e\u51e0\u4e4e\u4e3a 0\u3002"}}
fig = plot_function_and_grad(x, sigmoid_y, sigmoid_grad, "sigmoid")

# %% [markdown]
# 右图说明了两件事。第一，导数最大也只有 $0.25$；第二，输入的绝对值一旦超过 5 左右，
# 导数就几乎为 0，这时函数“饱和”了，上游参数几乎收不到任何更新信号。
#
# ## 1.5 梯度为什么会消失：量一量
#
# 反向传播时，每经过一层，梯度都要乘上这一层激活函数的导数（再乘上权重矩阵）。
# sigmoid 每次至多乘 0.25，层数一多，乘积便以指数速度趋于 0。
# 我们搭一叠 `depth` 个“全连接层 + 激活函数”，用 `d2lite.init_weights`（与原教程相同的
# Xavier 初始化）初始化，从输出端传回一个固定的随机梯度，再看**第一层**权重收到的梯度有多大。


# %%
def make_stack(activation, depth, width):
    """depth 个（全连接 + 激活）层，最后接一个全连接输出层。"""
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    return d2lite.init_weights(nn.Sequential(*layers, nn.Linear(width, width)))


def layer_grad_norms(activation, depth, seed, builder=make_stack):
    """每个全连接层权重梯度的范数，从输入端（第 1 层）到输出端。"""
    torch.manual_seed(seed)
    net = builder(activation, depth, S["width"]).to(device)
    X = torch.randn(S["batch"], S["width"], device=device)  # (B, width)
    net(X).backward(torch.randn(S["batch"], S["width"], device=device) / S["batch"])
    return [m.weight.grad.norm().item() for m in net if isinstance(m, nn.Linear)]


print(layer_grad_norms(nn.Sigmoid, 2, seed=0))  # 三个全连接层，第一层的梯度最小

# %% [markdown]
# 对每个层数重复 `repeats` 次（每次换一组随机初始化），取第一层梯度范数的平均值：

# %%
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "ReLU": nn.ReLU}
first = {name: [] for name in ACTIVATIONS}
for depth in S["depths"]:
    for name, act in ACTIVATIONS.items():
        norms = [layer_grad_norms(act, depth, seed)[0] for seed in range(S["repeats"])]
        first[name].append(sum(norms) / len(norms))

print(f"{'层数':>4}{'sigmoid':>12}{'ReLU':>12}{'ReLU/sigmoid':>15}")
for i, depth in enumerate(S["depths"]):
    s, r = first["sigmoid"][i], first["ReLU"][i]
    print(f"{depth:>6}{s:>12.2e}{r:>12.2e}{r / s:>15.1e}")

# %% [markdown]
# 表中每行是第一层权重梯度的范数。画在对数坐标上，两条线都近似直线，也就是按层数指数衰减，
# 但斜率差得很远：

# %% mystnb={"image": {"alt": "\u5bf9\u6570\u5750\u6807\u56fe\uff1a\u7b2c\u4e00\u5c42\u68af\u5ea6\u7684\u8303\u6570\u968f\u7f51\u7edc\u6df1\u5ea6\u7684\u53d8\u5316\u3002\u4e24\u6761\u7ebf\u90fd\u8fd1\u4f3c\u76f4\u7ebf\u4e0b\u964d\uff0csigmoid \u90a3\u6761\u6bd4 ReLU \u90a3\u6761\u9661\u5f97\u591a\u3002"}}
fig, ax = plt.subplots(figsize=(5, 3.2))
for name, values in first.items():
    ax.semilogy(S["depths"], values, "o-", label=name)
d2lite.set_axes(ax, "层数（全连接 + 激活）", "第一层权重梯度的范数", yscale="log")
ax.legend()
ax.set_title(f"梯度随层数衰减（每点平均 {S['repeats']} 次初始化）")
fig.tight_layout()

# %% [markdown]
# 用最深的两个点估计每多一层梯度乘上的因子：

# %%
d0, d1 = S["depths"][-2], S["depths"][-1]
for name, values in first.items():
    factor = d2lite.glue(f"factor_{name}", float((values[-1] / values[-2]) ** (1 / (d1 - d0))))
    print(f"{name:>8}：每多一层，第一层的梯度约乘以 {factor:.2f}")

# %% [markdown]
# sigmoid 每层大约乘上 0.25 左右，恰好是它导数的上限：预激活值都落在 0 附近，导数几乎处处接近
# 0.25，20 层之后梯度就只剩 $10^{-12}$ 量级，第一层基本学不动。
#
# ReLU 在单元激活的地方导数恰好是 1，能通过的梯度一点也不打折；它损失的只是被关掉的那一半单元。
# 这里的层都是 $64\times64$ 的方阵，Xavier 初始化的权重方差为 $1/64 = 1/n_\text{in}$，
# 梯度穿过全连接层时大小基本不变；关掉一半单元，梯度的平方范数就减半，所以每层的因子约为
# $\sqrt{1/2}\approx 0.71$，实测是 {glue:text}`factor_ReLU:.2f`。
#
# He（Kaiming）初始化修补的正是这一点，它的因子 2 两行就能推出来。设某层计算
# $z = \sum_{i=1}^{n_\text{in}} w_i x_i$，输入是 ReLU 的输出 $x_i = \operatorname{ReLU}(u_i)$，$u_i$ 关于 0 对称，
# 权重彼此独立、均值为 0。ReLU 把 $u$ 的负半边清零、正半边原样保留，所以 $E[x_i^2] = \tfrac12\operatorname{Var}(u)$，于是
#
# $$\operatorname{Var}(z) = n_\text{in}\operatorname{Var}(w)\,E[x^2]
#   = \tfrac12\, n_\text{in}\operatorname{Var}(w)\operatorname{Var}(u).$$
#
# 要让 $\operatorname{Var}(z) = \operatorname{Var}(u)$ 逐层保持，就必须取 $\operatorname{Var}(w) = 2/n_\text{in}$：
# 这就是 He 初始化，权重比 Xavier 的大 $\sqrt2$ 倍。Xavier 的 $1/n_\text{in}$（对方阵层而言）是为 0 附近近似线性的
# 单元（如 tanh）推导的，那时 $E[x^2] \approx \operatorname{Var}(u)$；换成 ReLU，它每层都会丢掉一半的平方大小，
# 前向如此，按同样的道理反向也如此。用 He 的方差，不论网络多深，第一层的梯度都基本不变（见练习 1）。
#
# 这张表对 AlexNet 意味着什么？AlexNet 有 8 个带权重的层（5 个卷积层、3 个全连接层），其中 7 个后面接激活函数，
# 所以该看层数为 8 的那一行（8 个块再加输出层，比 AlexNet 多一个激活函数，估计数量级足够了）：

# %%
i = S["depths"].index(8)  # 最接近 AlexNet 8 个带权重层的那一行
s, r = first["sigmoid"][i], first["ReLU"][i]
print(f"层数 8：第一层的梯度，sigmoid 为 {s:.1e}，ReLU 为 {r:.1e}（相差 {r / s:,.0f} 倍）")

# %% [markdown]
# 在 AlexNet 这样的深度上，sigmoid 网络交给第一层的梯度比 ReLU 网络少几千倍，负责学习边缘的第一个卷积层
# 几乎不动，顶上的全连接层却照常在学。这里的网络是全连接的，不是卷积网络，所以这个数字只是 AlexNet 的数量级估计，
# 不是对 AlexNet 本身的测量。
#
# ```{note}
# 这里量的是刚初始化时的梯度。训练中，sigmoid 的预激活一旦被推到饱和区（$|x|$ 很大），
# 导数会远小于 0.25，消失得更快；ReLU 则可能出现一直输出 0 的“死神经元”。两种问题都存在，
# 但前者在深网络中几乎必然发生，这是 AlexNet 选择 ReLU 的主要原因之一。（AlexNet 论文本身拿来和 ReLU 对比的是
# tanh，不是 sigmoid：第 2 章给出论文里的数字，第 2 章的练习 4 会亲手试一试。）
# ```
#
# ## 1.6 自己动手：逐层查看梯度
#
# 下面的控件可以选择激活函数和层数（“全连接 + 激活”块的个数，输出层另外叠在最上面），画出同一个网络里每一个全连接层收到的梯度。
# 它是一个 ipywidgets 控件，需要运行中的内核（本地 Jupyter 或 Colab）；在网页上，请使用后面预先算好的版本。


# %% tags=["remove-output"]
def plot_layers(names, depth, ax=None):
    """一张图里画出每个全连接层的梯度范数，横轴从输入端到输出端。"""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for name in names:
        ax.semilogy(
            range(1, depth + 2),
            layer_grad_norms(ACTIVATIONS[name], depth, seed=0),
            "o-",
            label=name,
        )
    d2lite.set_axes(ax, "第几个全连接层（1 = 输入端）", "权重梯度的范数", yscale="log")
    ax.legend()
    ax.set_title(f"各层的梯度：{depth} 个块 + 输出层")
    return ax


def show_layers(activation, depth):
    plot_layers([activation], depth)
    plt.show()


control = widgets.interactive(
    show_layers,
    activation=widgets.Dropdown(options=list(ACTIVATIONS), value="sigmoid", description="激活函数"),
    depth=widgets.IntSlider(value=S["widget_depth"], min=1, max=24, description="层数"),
)
display(control)

# %% [markdown]
# 网页上没有内核，所以下一个单元格把控件能给出的每一种视图都预先算好（两种激活函数、1 到 24 的每一种层数，
# 约一秒钟），把这些数字存进页面；网站自带的一个小脚本（`book/_static/gradient-explorer.js`）负责画图：
# 拖动滑块，图就会重画，不需要 Python，也不需要联网。在 Jupyter 里这里只显示一行说明，上面的控件才是实时的版本。

# %%
import html
import json

from IPython.display import HTML

views = {  # 控件能给出的每一种选择：2 种激活函数 × 24 种层数，约一秒钟
    name: {depth: layer_grad_norms(ACTIVATIONS[name], depth, seed=0) for depth in range(1, 25)}
    for name in ACTIVATIONS
}
data = json.dumps(dict(lang=LANG, depth=S["widget_depth"], views=views))
HTML(f'<div class="grad-explorer" data-explorer="{html.escape(data)}">'
     '<p><em>交互式图表显示在本书的网站上；在 Jupyter 里请使用上面的控件。</em></p></div>')


# %% [markdown]
# 静态图：两种激活函数，`widget_depth` = 16 个块再加输出层，共 17 个全连接层；与控件的默认视图相同，只是把两条曲线放在一起。

# %% mystnb={"image": {"alt": "\u5bf9\u6570\u5750\u6807\u56fe\uff1a\u4e00\u4e2a\u7531 16 \u4e2a\u5757\u52a0\u8f93\u51fa\u5c42\u7ec4\u6210\u7684\u7f51\u7edc\u4e2d\uff0c\u4ece\u8f93\u5165\u7aef\u5230\u8f93\u51fa\u7aef 17 \u4e2a\u5168\u8fde\u63a5\u5c42\u7684\u6743\u91cd\u68af\u5ea6\u8303\u6570\u3002sigmoid \u7684\u66f2\u7ebf\u671d\u8f93\u51fa\u7aef\u4e0a\u5347\u4e86\u5c06\u8fd1\u5341\u4e2a\u6570\u91cf\u7ea7\uff0cReLU \u7684\u66f2\u7ebf\u5728\u9760\u8fd1\u8f93\u5165\u7684\u4e00\u534a\u51e0\u4e4e\u662f\u5e73\u7684\uff0c\u4e4b\u540e\u7f13\u6162\u4e0a\u5347\u3002"}}
plot_layers(list(ACTIVATIONS), S["widget_depth"]).figure.tight_layout()

# %% [markdown]
# 越靠近输入端，sigmoid 网络的梯度越小，17 个全连接层下来相差将近十个数量级。收不到梯度的层学不到东西，
# 深的 sigmoid 网络于是训练得像一个浅得多的网络，而丢掉的恰恰是前面那些本该提取边缘、纹理等基础特征的层。
#
# ReLU 的曲线值得再看一眼：靠近输入的一半几乎是平的，之后却在上升，输出端的梯度约为输入端的
# {glue:text}`rise_make_stack_seed0:.0f` 倍（下一段之后的单元格会打印出来）。
# 一层权重的梯度等于这一层的输入乘以从上面传回来的梯度。在 Xavier 初始化下，每经过一个 ReLU 层，两者的平方大小
# 都减半（正是 He 的推导里缺的那个因子 2）：输入在前向中减半，梯度在反向中减半，所以逐层看应当正好抵消，曲线应当是平的。
# 打破平衡的是偏置。`d2lite.init_weights` 和原教程一样，只重新初始化权重，偏置保留 PyTorch 的默认值，
# 在 $\pm 1/\sqrt{64} = \pm 0.125$ 之间均匀抽取。每一层都把偏置的方差 $0.125^2/3 \approx 0.005$ 加到预激活上，
# 于是前向信号降到这个水平（大约十个块之内）就不再变小，反向的梯度却朝输入端继续变小。在剩下的大约 8 层里，
# 梯度每层 $\sqrt2$ 的变化不再有东西抵消，$\sqrt2^{\,8} = 16$。把偏置设为 0，这段上升就消失了：


# %%
def zero_bias_stack(activation, depth, width):
    """先 make_stack，再把所有偏置设为 0。"""
    net = make_stack(activation, depth, width)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    return net


for label, builder in (("默认偏置", make_stack), ("偏置为 0", zero_bias_stack)):
    ratios = []
    for seed in range(S["repeats"]):
        g = layer_grad_norms(nn.ReLU, S["widget_depth"], seed, builder)
        ratios.append(g[-1] / g[0])  # 输出端 / 输入端
    mean = torch.tensor(ratios).log().mean().exp().item()  # 各随机种子的几何平均
    d2lite.glue(f"rise_{builder.__name__}_seed0", float(ratios[0]))  # rise_make_stack_seed0 等
    d2lite.glue(f"rise_{builder.__name__}_mean", mean)
    print(f"{label}：输出端 / 输入端，种子 0（即上图）为 {ratios[0]:.2f}，"
          f"{len(ratios)} 个种子平均 {mean:.2f}")

# %% [markdown]
# 再看那个“下限”本身：一批输入向前传播时，每个块输出的均方值，旁边是由偏置的方差预测的水平。

# %%
bias_var = d2lite.glue("bias_variance", (1 / S["width"] ** 0.5) ** 2 / 3)  # U(±1/√64)：0.125²/3
print(f"默认偏置的方差 (1/√{S['width']})² / 3 = {bias_var:.4f}")
for label, builder in (("默认偏置", make_stack), ("偏置为 0", zero_bias_stack)):
    torch.manual_seed(0)
    h, signal = torch.randn(S["batch"], S["width"]), []
    with torch.no_grad():
        for layer in builder(nn.ReLU, S["widget_depth"], S["width"]):
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                signal.append(h.pow(2).mean().item())  # 每个块之后
    print(f"{label}，第 1、4、7、10、13、16 块：", " ".join(f"{v:.4f}" for v in signal[::3]))

# %% [markdown]
# 保留默认偏置时，ReLU 的梯度曲线上升约 {glue:text}`rise_make_stack_seed0:.0f` 倍（各种子平均
# {glue:text}`rise_make_stack_mean:.1f`）；偏置为 0 时曲线是平的，上图所用的种子为
# {glue:text}`rise_zero_bias_stack_seed0:.2f`，平均 {glue:text}`rise_zero_bias_stack_mean:.2f`。
# 前向信号说明了原因：有默认偏置时，它一块接一块地减半，从第十块左右起稳定在偏置的方差
# {glue:text}`bias_variance:.3f` 附近（到了下限，
# 预激活的方差 $q$ 满足 $q = q/2 + 0.005$，即 $q = 0.01$，ReLU 保留其中一半）；偏置为 0 时它一直减半下去。
# 偏置很小，但在深的网络里，曲线的形状由它们决定：“初始化时的梯度”取决于初始化的每一个细节，而不只是激活函数。
#
# ## 小结
#
# - 没有非线性，叠起来的线性层会合并成一层：$\mathbf{W}_2(\mathbf{W}_1\mathbf{x}+\mathbf{b}_1)+\mathbf{b}_2$
#   就是权重为 $\mathbf{W}_2\mathbf{W}_1$、偏置为 $\mathbf{W}_2\mathbf{b}_1+\mathbf{b}_2$ 的单个层。
# - ReLU 为 $\max(x, 0)$，导数非 0 即 1；sigmoid 为 $1/(1+e^{-x})$，导数不超过 0.25，
#   在 $|x|$ 较大时趋近于 0。两者的导数都可以直接用 autograd 求出并画出来。
# - ReLU 在 0 点不可导，任何 $[0, 1]$ 中的数都是次梯度；`torch.relu` 取 0，
#   `torch.maximum(z, 0)` 取 0.5，实际影响可以忽略。
# - 在我们的测量中（Xavier 初始化），sigmoid 网络第一层的梯度每多一层约缩小为原来的 1/4，
#   20 层后只剩 $10^{-12}$ 量级；ReLU 每层只乘以约 {glue:text}`factor_ReLU:.1f`，配合 He 初始化则基本不衰减：ReLU 把一半输入清零，
#   $E[\operatorname{ReLU}(u)^2] = \operatorname{Var}(u)/2$，要保持方差就得取 $\operatorname{Var}(w) = 2/n_\text{in}$。
#   在 AlexNet 的深度（8 个带权重的层）上，sigmoid 第一层得到的梯度比 ReLU 少几千倍。
# - 在同一个 ReLU 网络里，梯度朝输出端上升约 {glue:text}`rise_make_stack_seed0:.0f` 倍，原因是 `d2lite.init_weights` 保留了 PyTorch 默认的偏置；
#   偏置为 0 时曲线是平的。
# - 这就是 AlexNet 用 ReLU 取代 sigmoid 的原因之一：更深的网络也能得到有效的梯度，而且计算更省（不需要求指数）。
#
# ## 练习
#
# 1. 把 `make_stack` 里的 `d2lite.init_weights` 换成对每个 `nn.Linear` 调用
#    `nn.init.kaiming_normal_(m.weight, nonlinearity="relu")`，重新测量。ReLU 那一列有什么变化？sigmoid 呢？
#    （提示：在 `d2lite.init_weights` 之后遍历网络，重新初始化每个全连接层的权重。Kaiming 的方差是
#    $2/n_\text{in}$，是 Xavier 在这些层上的两倍；把这个 2 与 ReLU 关掉的单元比例对照，再与 sigmoid 的 0.25 对照。）
# 2. 在 `ACTIVATIONS` 里加入 `nn.Tanh` 和 `nn.LeakyReLU`。tanh 的导数最大是多少？它的梯度衰减介于两者之间吗？
# 3. 在 `make_stack` 里，`d2lite.init_weights` 之后把每个全连接层的权重乘以 4（放在 `torch.no_grad()` 中），
#    重新测量。两列数字和每层的因子各有什么变化？（提示：反向传播时每一层都要乘上放大了 4 倍的权重。
#    ReLU 的导数仍然非 0 即 1，没有东西抵消这个 4，把它的因子与 $4\times0.69$ 比一比；sigmoid 的预激活
#    分布宽了 4 倍，有一部分进入饱和区，平均导数会变小，但会小到原来的四分之一吗？）
# 4. 用 `torch.where(z > 0, z, 0.0)` 实现 ReLU，它在 0 点返回的梯度是多少？为什么？

# %% [markdown]
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行（测试也会在快速设置下运行它们）。
# 正文引用的数字来自本页的运行（完整设置）；快速设置测量的深度较少，打印的数字会略有不同。

# %% [markdown]
# :::{admonition} 解答 1：He 初始化
# :class: dropdown
# 改用 He 初始化后，ReLU 的每层因子从 0.69 变成 1.00：第一层的梯度完全不再随深度变小。He 初始化的方差
# $2/n_\text{in}$ 让每个全连接层的平方增益翻倍，恰好补上 ReLU 关掉的那一半单元（在 Xavier 下，平方大小每层
# 乘以 1/2，于是 $2 \times 1/2 = 1$）。sigmoid 只从 0.24 提高到 0.32，约为 $\sqrt{2}$ 倍：权重大了 $\sqrt{2}$ 倍，
# 但它导数最大只有 0.25 这一上限仍然起作用。He 初始化是为 ReLU 准备的办法，救不了 sigmoid。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 1 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 1 \u7684\u4ee3\u7801"}
def first_grad(builder, activation, depth):
    """第一层权重梯度范数在 `repeats` 个随机种子上的平均值（同 1.5 节）。"""
    norms = []
    for seed in range(S["repeats"]):
        torch.manual_seed(seed)
        net = builder(activation, depth, S["width"]).to(device)
        X = torch.randn(S["batch"], S["width"], device=device)
        net(X).backward(torch.randn(S["batch"], S["width"], device=device) / S["batch"])
        norms.append(net[0].weight.grad.norm().item())
    return sum(norms) / len(norms)


def he_stack(activation, depth, width):
    """先 make_stack，再换成 He（Kaiming）权重：方差 2 / n_in，是这里 Xavier 的两倍。"""
    net = make_stack(activation, depth, width)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def per_layer_factor(builder, activation):
    """每多一层，第一层的梯度乘上的因子（用最深的两个深度计算）。"""
    g0, g1 = first_grad(builder, activation, d0), first_grad(builder, activation, d1)
    return (g1 / g0) ** (1 / (d1 - d0))


factors = {(init, name): per_layer_factor(builder, act)
           for init, builder in (("Xavier", make_stack), ("He", he_stack))
           for name, act in ACTIVATIONS.items()}
for (init, name), f in factors.items():
    print(f"{init:>6} {name:>8}: 每层因子 {f:.2f}")
assert factors["He", "ReLU"] > factors["Xavier", "ReLU"]

# %% [markdown]
# :::{admonition} 解答 2：tanh 与 LeakyReLU
# :class: dropdown
# tanh 的导数 $1 - \tanh^2(x)$ 在 $x = 0$ 处取得最大值 1，是 sigmoid 的 0.25 的四倍；输入较小时 tanh 几乎就是
# 恒等函数。在 Xavier 初始化下（它本来就是为 tanh 这类单元设计的），tanh 的每层因子是 0.95，所以答案是否定的：
# 它并不介于两者之间，在这次测量中它损失的梯度比 ReLU 还少，因为 ReLU 关掉了一半单元。tanh 的麻烦在后面：
# 预激活变大后，它会像 sigmoid 一样饱和。PyTorch 默认斜率（代码打印出来的 0.01）的 LeakyReLU 在这里和 ReLU
# 差不多（两者的因子打印在相邻两行）：这么小的斜率在负半轴上几乎传不回任何梯度。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 2 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 2 \u7684\u4ee3\u7801"}
xs = torch.linspace(-6, 6, 1201, requires_grad=True)
torch.tanh(xs).sum().backward()
print(f"tanh 导数的最大值： {xs.grad.max():.4f} (x = {xs[xs.grad.argmax()].item():.2f})")
assert abs(xs.grad.max().item() - 1) < 1e-6

MORE = dict(ACTIVATIONS, tanh=nn.Tanh, LeakyReLU=nn.LeakyReLU)
print(f"LeakyReLU 默认的负半轴斜率：{nn.LeakyReLU().negative_slope}")
more = {name: per_layer_factor(make_stack, act) for name, act in MORE.items()}
for name, f in sorted(more.items(), key=lambda kv: kv[1]):
    print(f"{name:>10}: 每层因子 {f:.2f}")
assert more["sigmoid"] < more["tanh"]

# %% [markdown]
# :::{admonition} 解答 3：权重放大 4 倍
# :class: dropdown
# ReLU 的每层因子从 0.69 升到 2.89，是原来的 4.2 倍，接近 $4 \times 0.69 = 2.76$：没有任何东西抵消变大的权重，
# 梯度于是**爆炸**，最深的网络里第一层的梯度约为 $5 \times 10^{9}$。sigmoid 的因子只升高了 2.7 倍，从 0.24 到
# 0.64：预激活的分布宽了 4 倍，一部分单元进入饱和区，那里的导数远小于 0.25，平均导数下降，抵掉了 4 倍中的一部分。
# 它的梯度仍然在消失，只是慢一些（最深时约为 $3 \times 10^{-4}$）。缩放权重是一种很粗糙的手段：太小，一切都会消失；
# 太大，ReLU 就会爆炸。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 3 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 3 \u7684\u4ee3\u7801"}
def scaled_stack(activation, depth, width, scale=4.0):
    """make_stack，再把每个全连接层的权重乘以 `scale`。"""
    net = make_stack(activation, depth, width)
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(scale)
    return net


for name, act in ACTIVATIONS.items():
    f1, f4 = per_layer_factor(make_stack, act), per_layer_factor(scaled_stack, act)
    g = first_grad(scaled_stack, act, S["depths"][-1])
    print(f"{name:>8}: 每层因子 {f1:.2f} -> {f4:.2f} ({f4 / f1:.1f}x); "
          f"最深时第一层的梯度 {g:.1e}")

# %% [markdown]
# :::{admonition} 解答 4：用 torch.where 写 ReLU
# :class: dropdown
# `torch.where(w > 0, w, 0.0)` 在 0 点返回的梯度是 0。autograd 对被选中的那个分支求导：在 $w = 0$ 处条件
# `w > 0` 不成立，输出来自常数 0.0，它的导数是 0。如果写成 `w >= 0`，就会选中 `w`，梯度变成 1。框架返回哪个
# 次梯度，取决于函数是怎么写的，而不是数学本身。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 4 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 4 \u7684\u4ee3\u7801"}
w = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
torch.where(w > 0, w, 0.0).sum().backward()
print("torch.where(w > 0, w, 0.0) 在 -1、0、1 处的梯度：", w.grad.tolist())
assert w.grad.tolist() == [0.0, 0.0, 1.0]
