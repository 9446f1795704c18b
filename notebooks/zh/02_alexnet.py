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
# # 2 AlexNet：从 LeNet 到 AlexNet
#
# 2012 年的 ImageNet 图像识别挑战赛上，AlexNet 以远超第二名的成绩夺冠，第一次让人们看到：
# 从数据中**学到**的特征，可以胜过研究者多年精心**设计**的特征。它的结构和 LeNet 一脉相承，
# 却更深、更宽，也换了激活函数和正则化手段。本章把这些差别逐条拆开，并用代码把它们数清楚。
#
# **学习目标**
#
# - 说出 AlexNet 相对 LeNet 的几项关键设计：深度、ReLU、暂退法（dropout）和权重衰减、逐步缩小的卷积窗口、重叠的最大汇聚、4096 宽的全连接层，以及双 GPU 拆分；
# - 知道原论文做了、而本书模型没有做的几件事：局部响应归一化、给出 $6\times6$ 末层特征图的 $227\times227$ 输入、随机裁剪和翻转；
# - 用 `d2lite.alexnet()` 构建模型，并逐层追踪一个 $1\times1\times224\times224$ 输入的形状；
# - 用 PyTorch 自带的 FLOP 计数器统计每一层的参数量和计算量；
# - 用 `d2lite.draw_layers` 直接从模型画出 LeNet 与 AlexNet 的结构对比图。
#
# ```{note}
# 本章除了练习 4 在 28×28 的图片上训练三个小小的 LeNet 之外，不训练模型，只做前向计算，CPU 上就能跑完。
# 本页实际的用时、设置和硬件，写在网站上标题下方的运行说明里，也记录在 notebook 元数据的 `d2lite` 项中。
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 参数单元格：完整设置与快速设置的区别在于计时所用的批量大小和重复次数，以及练习 4 训练多少步。

# %% tags=["parameters", "hide-input"]
import os

import d2lite

QUICK = d2lite.is_quick()
FULL = dict(
    side=224,  # 输入边长：AlexNet 的几何结构要求 224（见第 3 章）
    dropout=0.5,  # 论文中的取值；原教程用的是 0.9
    time_batch=16,  # 计时用的批量大小：足够大，单张图片的平均用时才稳定
    time_repeats=3,  # 计时重复次数，取最快的一次
    train_steps=400,  # 练习 4：最多训练 400 步，每步 128 张图片，不到一轮
)
QUICK_SETTING = dict(side=224, dropout=0.5, time_batch=2, time_repeats=1, train_steps=20)
S = QUICK_SETTING if QUICK else FULL
print(
    f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} → {'快速' if QUICK else '完整'}设置：{S}"
)

# %% tags=["hide-input"]
import itertools
import math
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display
from torch import nn

LANG = "zh"  # 图表文字的语言
print("中文字体：", d2lite.use_cjk_font())

# %% tags=["hide-input"]
device = d2lite.try_gpu()
print(f"设备：{device}，PyTorch {torch.__version__}")

# %% [markdown]
# ## 2.1 一段简短的历史
#
# 在 AlexNet 之前，计算机视觉的主流做法分两步：先由人设计特征提取器（如 SIFT、HOG），
# 再把特征交给 SVM 之类的分类器。卷积神经网络并不是新东西，LeNet 在 20 世纪 90 年代就已经能识别手写数字，
# 但在大尺寸的自然图像上，它一直没能赢过手工特征。
#
# 2012 年，Krizhevsky、Sutskever 和 Hinton 的 AlexNet 在 ImageNet 挑战赛上把 top-5 错误率降到了
# 15.3%[^paper]，第二名是 26.2%[^paper]。促成这次突破的有三样东西：百万量级的带标签图片（ImageNet）、
# 能做大规模并行计算的 GPU，以及下面这些让深层网络训练得动的设计。
#
# ## 2.2 设计上的选择
#
# AlexNet 与 LeNet 的思路相同：卷积层提取特征，汇聚层（pooling layer，也常译作“池化层”）缩小尺寸，全连接层做分类。不同之处在于：
#
# 1. **更深**：8 个带权重的层，即 5 个卷积层、2 个全连接隐藏层和 1 个全连接输出层。LeNet 只有 5 层。
# 2. **用 ReLU 取代会饱和的激活函数**：计算更简单，梯度也不会随层数迅速消失（见第 1 章）。本书的 LeNet 和原教程、
#    d2l 一样用 sigmoid，但原论文拿来对比的是 tanh：论文图 1 中，一个 4 层卷积网络在 CIFAR-10 上用 ReLU 达到
#    25%[^paper] 训练错误率的速度是用 tanh 的 6 倍[^paper]。LeNet-5 本身用的也是缩放过的 tanh，$1.7159\tanh(2a/3)$。练习 4 会在 LeNet 上检验这个对比。
# 3. **窗口逐步缩小**：第一层卷积窗口为 $11\times11$、步幅 4。网络看到的 ImageNet 图片边长 224 像素，是 MNIST（28 像素）的 8 倍，
#    物体也大得多，需要大窗口才能一眼看到一个完整的局部。之后窗口缩小到 $5\times5$，再到三个连续的 $3\times3$。
# 4. **最大汇聚**：在第 1、2、5 个卷积层之后各有一个 $3\times3$、步幅 2 的最大汇聚层。
#    窗口比步幅大，相邻窗口会有重叠。LeNet 用的是 $2\times2$ 的平均汇聚。
# 5. **更宽**：前两个卷积层的通道数是 LeNet 的 16 倍（96 和 256，而 LeNet 是 6 和 16），之后两层更是达到 384。
# 6. **两个 4096 宽的全连接层**，它们占了参数的绝大部分，用**暂退法**（论文取 p = 0.5）控制过拟合。
#    原教程说 LeNet 只用了权重衰减；AlexNet 也没有放弃权重衰减：它用 SGD 训练，动量 0.9、权重衰减
#    0.0005[^paper]，论文发现这一点点权重衰减对模型能否学起来很重要（它降低的是训练误差，而不只是测试误差）。
#    第 4 章训练时用的也是论文的这个值。
# 7. **数据增广**（data augmentation）：论文先把每张 ImageNet 图片缩放到短边 256 像素，再切出中央的 $256\times256$；训练时从中随机裁出
#    $224\times224$ 的小块，并加上它们的水平翻转（另有一种沿 RGB 像素主成分方向的颜色扰动）；测试时对 10 个
#    $224\times224$ 小块的预测取平均。本书则把整张 $28\times28$ 图片放大到 224（见第 3 章），不做数据增广。
# 8. **双 GPU 拆分**：当年一块 GTX 580 只有 3 GB 显存，装不下整个模型的训练，论文便把每一层的通道
#    一分为二，两块 GPU 各算一半，只在某些层之间交换数据。如今显存充裕，本书的模型不再拆分。
#
# 论文里有一部分本书没有采用，原教程和 d2l 也一样：**局部响应归一化**（local response normalization，LRN），
# 即把第 1、2 个卷积层的每个 ReLU 输出，除以同一位置上相邻通道的活跃程度。论文称它让 top-1 和 top-5 错误率
# 分别降低了 1.4[^paper] 和 1.2[^paper] 个百分点，但后来的工作没有看到这种好处：VGG（Simonyan 和 Zisserman，2014）报告说，
# LRN 在 ImageNet 上并不能降低错误率，却多占内存、多花时间；批量规范化（batch normalization，Ioffe 和 Szegedy，2015）
# 随后接过了让激活值保持稳定尺度的任务。
#
# ```{note}
# 上面有两个数字是对原教程的更正。原教程说 ImageNet 图片的宽和高是 MNIST 的 10 倍以上；对按原样存储的照片
# （每边几百像素）来说不少确实如此，但网络看到的图片边长是 224 像素，是 28 的 8 倍。原教程还说 AlexNet 的卷积通道数
# 是 LeNet 的 10 倍；实际数一下是 16 倍（$96/6 = 256/16 = 16$），384 通道的两层则是 24 倍。
# ```
#
# ## 2.3 模型
#
# `d2lite.alexnet()` 按原教程的结构逐层搭好 AlexNet，只是输入是单通道的灰度图，输出是 Fashion-MNIST 的 10 类。
# 暂退概率默认取论文中的 0.5；原教程取的是 0.9，会丢掉九成的隐藏单元，训练更慢。
#
# [^paper]: A. Krizhevsky、I. Sutskever、G. E. Hinton，*ImageNet Classification with Deep Convolutional
#     Neural Networks*，NIPS 2012：ILSVRC-2012 的结果（top-5 测试错误率 15.3%，第二名 26.2%），图 1
#     （CIFAR-10 上 ReLU 与 tanh 的对比），3.3 节（局部响应归一化：top-1 与 top-5 错误率分别降低 1.4 和
#     1.2 个百分点），第 5 节（SGD，动量 0.9，权重衰减 0.0005）。

# %%
net = d2lite.alexnet(dropout=S["dropout"])
print(net)

# %% [markdown]
# ## 2.4 逐层追踪形状
#
# 构造一个高和宽都是 224 的单通道输入，让它逐层穿过网络，记下每层的输出形状。
# `d2lite.trace_shapes` 同时记录每层的参数量和 FLOP 数，后面会用到。

# %%
X = torch.randn(1, 1, S["side"], S["side"])  # (批量大小, 通道数, 高, 宽)
rows = d2lite.trace_shapes(net, X)
print(f"{'层':<9}{'输出形状':<18}")
for r in rows:
    print(f"{r.layer:<10}{str(list(r.output_shape)):<22}")

# %% [markdown]
# 下面把它与原教程打印的形状表逐行核对（表是从教程中抄来的数据，不是由代码生成的）：

# %%
SEED_TABLE = [  # 原教程的输出：层名与输出形状
    ("Conv2d", (1, 96, 54, 54)),
    ("ReLU", (1, 96, 54, 54)),
    ("MaxPool2d", (1, 96, 26, 26)),
    ("Conv2d", (1, 256, 26, 26)),
    ("ReLU", (1, 256, 26, 26)),
    ("MaxPool2d", (1, 256, 12, 12)),
    ("Conv2d", (1, 384, 12, 12)),
    ("ReLU", (1, 384, 12, 12)),
    ("Conv2d", (1, 384, 12, 12)),
    ("ReLU", (1, 384, 12, 12)),
    ("Conv2d", (1, 256, 12, 12)),
    ("ReLU", (1, 256, 12, 12)),
    ("MaxPool2d", (1, 256, 5, 5)),
    ("Flatten", (1, 6400)),
    ("Linear", (1, 4096)),
    ("ReLU", (1, 4096)),
    ("Dropout", (1, 4096)),
    ("Linear", (1, 4096)),
    ("ReLU", (1, 4096)),
    ("Dropout", (1, 4096)),
    ("Linear", (1, 10)),
]
print("与原教程的形状表完全一致：", [(r.layer, r.output_shape) for r in rows] == SEED_TABLE)

# %% [markdown]
# 形状的变化可以用卷积的输出公式验证：边长为 $n$、窗口 $k$、填充 $p$、步幅 $s$ 时，输出边长为
# $\lfloor (n + 2p - k)/s \rfloor + 1$。第一层：$\lfloor (224 + 2 - 11)/4 \rfloor + 1 = 54$；
# 第一个汇聚层：$\lfloor (54 - 3)/2 \rfloor + 1 = 26$。最后一个汇聚层输出 $256\times5\times5$，
# 展平后正好是第一个全连接层的 6400 个输入。
#
# 原论文的几何结构与此不同。它的第一个卷积层没有填充，而原教程（也就是本书）用的是 `padding=1`；论文的特征图依次是
# $55\times55$、$27\times27$、$13\times13$，最后是 $6\times6$，所以 fc6 收到 $6\times6\times256 = 9216$ 个输入。
# 论文正文写的输入尺寸是 $224\times224$，可 55 只能由 $\lfloor (227 - 11)/4 \rfloor + 1$ 得到：算术上需要的是
# $227\times227$，这是一个广为人知的笔误。对按论文方式布置的副本（3 个颜色通道、conv1 不填充、fc6 改为 9216 个输入）
# 做同样的形状追踪，两列数字都能核对：

# %%
paper = d2lite.alexnet(in_channels=3, num_classes=1000)
paper[0].padding = (0, 0)  # 论文的 conv1 不填充
paper[14] = nn.Linear(256 * 6 * 6, 4096)  # fc6 改成与它收到的 6x6 特征图匹配
paper_rows = d2lite.trace_shapes(paper, torch.randn(1, 3, 227, 227))
print(f"{'层':<10}{'本书（224，填充 1）':<17}{'原论文（227，不填充）'}")
for i in (0, 2, 5, 12, 13):  # conv1 和三个汇聚层，然后是 Flatten
    print(f"{rows[i].layer:<11}{str(list(rows[i].output_shape[1:])):<24}{list(paper_rows[i].output_shape[1:])}")
print(f"fc6 的输入数：本书 {rows[13].output_shape[1]}，原论文 {paper_rows[13].output_shape[1]}")

# %% [markdown]
# 末层特征图每边多出的这 3 个像素，让 fc6 多了 $4096 \times (9216 - 6400) \approx 1150$ 万个权重；解答 3 还会回到这一点。
#
# ## 2.5 参数量与计算量
#
# 只有卷积层和全连接层带参数。FLOP 由 PyTorch 自带的 `torch.utils.flop_counter` 统计，
# 一次乘加算 2 个 FLOP。把带参数的层挑出来列表：

# %%
weighted = [r for r in rows if r.params > 0]
names = [f"conv{i + 1}" for i in range(5)] + [f"fc{i + 6}" for i in range(3)]
total_params, total_flops = sum(r.params for r in rows), sum(r.flops for r in rows)
print(f"{'层':<7}{'输出形状':<16}{'参数量':>9}{'占比':>6}{'MFLOP':>10}{'占比':>6}")
for name, r in zip(names, weighted):
    print(
        f"{name:<8}{str(list(r.output_shape[1:])):<20}{r.params:>12,}{r.params / total_params:>8.1%}"
        f"{r.flops / 1e6:>10.1f}{r.flops / total_flops:>8.1%}"
    )
print(f"合计：{total_params:,} 个参数，每张图片前向 {total_flops / 1e9:.3f} GFLOP")
conv_params = d2lite.glue("conv_param_share", sum(r.params for r in weighted[:5]) / total_params)
conv_flops = d2lite.glue("conv_flop_share", sum(r.flops for r in weighted[:5]) / total_flops)
dense_params = d2lite.glue("dense_param_share", sum(r.params for r in weighted[5:]) / total_params)
print(f"conv1-conv5：占参数的 {conv_params:.1%}，占 FLOPs 的 {conv_flops:.1%}；"
      f"fc6-fc8：占参数的 {dense_params:.1%}")

# %% [markdown]
# 这些数可以手算核对。卷积层的参数量是 $c_\text{out}(c_\text{in}k^2 + 1)$，FLOP 是
# $2\,c_\text{out} h_\text{out} w_\text{out} c_\text{in} k^2$；全连接层的参数量是 $n_\text{out}(n_\text{in}+1)$，FLOP 是 $2 n_\text{in} n_\text{out}$。
# 以 conv2 和 fc6 为例：

# %%
conv2 = dict(params=256 * (96 * 5 * 5 + 1), flops=2 * 256 * 26 * 26 * 96 * 5 * 5)
fc6 = dict(params=4096 * (6400 + 1), flops=2 * 6400 * 4096)
print(
    "conv2 手算与计数器一致：",
    (conv2["params"], conv2["flops"]) == (weighted[1].params, weighted[1].flops),
)
print(
    "fc6 手算与计数器一致：",
    (fc6["params"], fc6["flops"]) == (weighted[5].params, weighted[5].flops),
)

# %% [markdown]
# 把两列占比画出来，分工一目了然：卷积层只占约 {glue:text}`conv_param_share:.0%` 的参数，却做了
# {glue:text}`conv_flop_share:.1%` 的计算（上面最后一行）；全连接层正好相反。

# %% mystnb={"image": {"alt": "AlexNet \u5404\u5e26\u6743\u91cd\u5c42\u7684\u6761\u5f62\u56fe\uff1a\u6bcf\u5c42\u5360\u53c2\u6570\u91cf\u7684\u6bd4\u4f8b\u548c\u5360\u8ba1\u7b97\u91cf\uff08FLOPs\uff09\u7684\u6bd4\u4f8b\u3002\u5377\u79ef\u5c42\u53c2\u6570\u5360\u6bd4\u5c0f\u3001\u8ba1\u7b97\u5360\u6bd4\u5927\uff0cfc6 \u548c fc7 \u6070\u597d\u76f8\u53cd\u3002"}}
fig, ax = plt.subplots(figsize=(7, 3))
pos = torch.arange(len(names)).float()
ax.bar(pos - 0.2, [r.params / total_params for r in weighted], 0.4, label="参数量占比")
ax.bar(pos + 0.2, [r.flops / total_flops for r in weighted], 0.4, label="计算量（FLOP）占比")
d2lite.set_axes(ax, "层", "占全网络的比例", legend=["参数量占比", "计算量（FLOP）占比"])
ax.set_xticks(pos.tolist(), names)
ax.set_title("AlexNet 各层的参数量与计算量")
fig.tight_layout()

# %% [markdown]
# 原教程（和不少资料）说这两个 4096 宽的全连接层“拥有将近 1 GB 的参数”。训练要占多少内存，模型自己就能说清：
# 以 32 位浮点存储的参数，每个参数的梯度和动量，以及反向传播需要的每一层的输出。

# %%
fc67 = {key: sum(p.numel() for i in (14, 17) for p in model[i].parameters())  # fc6 和 fc7
        for key, model in (("here", net), ("paper", paper))}
acts = sum(math.prod(r.output_shape) for r in rows)  # 一张图片在每一层的输出
memory = dict(  # 供下面的注释引用
    fc67_here=f"{fc67['here'] / 1e4:.0f} 万", fc67_here_mb=fc67["here"] * 4 / 1e6,
    fc67_paper=f"{fc67['paper'] / 1e4:.0f} 万", fc67_paper_mb=fc67["paper"] * 4 / 1e6,
    state_gb=3 * 60e6 * 4 / 1e9,  # 论文 6000 万个参数的权重、梯度和动量
    acts=f"{acts / 1e4:.0f} 万", acts_mb=acts * 4 / 1e6,
    acts_gb=acts * 4 * 128 / 1e9)  # 论文每批 128 张
for key, value in memory.items():
    d2lite.glue(key, value)
print(f"fc6 + fc7：本书 {fc67['here']:,} 个参数（{memory['fc67_here_mb']:.0f} MB），"
      f"论文布置 {fc67['paper']:,} 个（{memory['fc67_paper_mb']:.0f} MB）")
print(f"6000 万个参数连同梯度和动量：{memory['state_gb']:.2f} GB")
print(f"激活值：每张图片 {acts:,} 个数（{memory['acts_mb']:.1f} MB），"
      f"每批 128 张共 {memory['acts_gb']:.2f} GB")

# %% [markdown]
# ```{note}
# 实际数一下就知道不是这样：本书模型的 fc6 与 fc7 共约 {glue:text}`fc67_here`个参数，以 32 位浮点存储约
# {glue:text}`fc67_here_mb:.0f` MB；原论文的 fc6 有 9216 个输入，两层合计约 {glue:text}`fc67_paper`个参数、
# {glue:text}`fc67_paper_mb:.0f` MB。训练时还要为每个参数保存梯度和动量，论文的整个网络约有 6000 万个参数，
# 参数、梯度、动量三份合计约 {glue:text}`state_gb:.1f` GB。激活值也差不多要这么多：把上面形状追踪中各层的输出加起来，
# 每张图片约 {glue:text}`acts`个数（{glue:text}`acts_mb:.1f` MB），反向传播需要保留其中的大部分，论文每批 128 张图片，
# 合计约 {glue:text}`acts_gb:.1f` GB。两者相加，还没算计算时的临时空间，
# 就已接近一块 GTX 580 的 3 GB 的一半。论文明确说，正是这 3 GB 显存限制了能训练的网络规模，
# 把每一层拆到两块显卡上，每块卡的负担就减半了。
# ```
#
# 计算量要在真实硬件上才有意义。下面对一个小批量做几次前向计算（评估模式，不求梯度），取最快的一次：

# %%
net_dev = net.to(device).eval()
Xb = torch.randn(S["time_batch"], 1, S["side"], S["side"], device=device)
times = []
with torch.inference_mode():
    net_dev(Xb)  # 预热一次，不计时
    for _ in range(S["time_repeats"]):
        start = time.perf_counter()
        net_dev(Xb).sum().item()  # .item() 等待 GPU 算完
        times.append(time.perf_counter() - start)
per_image = min(times) / S["time_batch"]
print(
    f"{device}，批量大小 {S['time_batch']}：每张图片 {per_image * 1e3:.1f} ms，"
    f"约 {total_flops / per_image / 1e9:.1f} GFLOP/s（仅前向）"
)

# %% [markdown]
# 训练时每一步还要反向传播，计算量约为前向的 3 倍。第 4 章会看到，这正是在 CPU 上训练 AlexNet 很慢的原因。
#
# ## 2.6 LeNet 与 AlexNet 的对比
#
# 原教程用一张示意图对比两个网络。`d2lite.draw_layers` 直接从模型画出这张图：每个卷积层、汇聚层或全连接层一个方框，
# 方框里写着层的配置，右边是该层输出的形状（来自 `trace_shapes`）；激活函数和暂退层并入前一层的方框，因为它们不改变形状。
# 两列共用纵轴，所以两个网络的方框一样高，LeNet 那一列明显更短：

# %% mystnb={"image": {"alt": "\u4e24\u5217\u65b9\u6846\uff0c\u6bcf\u5c42\u4e00\u4e2a\u65b9\u6846\uff0c\u8f93\u5165\u5728\u6700\u4e0a\u9762\uff1a\u5de6\u8fb9\u662f\u8f83\u77ed\u7684 LeNet\uff0c\u53f3\u8fb9\u662f\u957f\u5f97\u591a\u7684 AlexNet\u3002\u6bcf\u4e2a\u65b9\u6846\u5199\u660e\u5c42\u7684\u7c7b\u578b\u548c\u8bbe\u7f6e\uff0c\u65c1\u8fb9\u662f\u8f93\u51fa\u5f62\u72b6\uff1b\u5377\u79ef\u5c42\u3001\u6c47\u805a\u5c42\u548c\u5168\u8fde\u63a5\u5c42\u989c\u8272\u4e0d\u540c\u3002"}}
lenet, X_lenet = d2lite.lenet(), torch.randn(1, 1, 28, 28)
fig, axes = plt.subplots(1, 2, figsize=(11, 6.5), sharey=True)
lenet_boxes = d2lite.draw_layers(lenet, X_lenet, ax=axes[0], title="LeNet（输入 28×28）", lang=LANG)
alexnet_boxes = d2lite.draw_layers(net, X, ax=axes[1], title="AlexNet（输入 224×224）", lang=LANG)
fig.tight_layout()

# %% [markdown]
# 最后把两者的主要指标放进一张表。所有数字都由代码从模型里数出来：


# %%
def summary(model, X):
    rows, layers = d2lite.trace_shapes(model, X), [type(m).__name__ for m in model]
    return dict(
        weight_layers=layers.count("Conv2d") + layers.count("Linear"),
        convs=layers.count("Conv2d"),
        params=sum(r.params for r in rows),
        flops=sum(r.flops for r in rows),
        act="sigmoid" if "Sigmoid" in layers else "ReLU",
        pool="最大汇聚" if "MaxPool2d" in layers else "平均汇聚",
        dropout="有" if "Dropout" in layers else "无",
    )


labels = dict(weight_layers="带权重的层", convs="其中卷积层",
              params="参数量", flops="每张图片的 FLOP", act="激活函数",
              pool="汇聚方式", dropout="暂退法")
table = {"LeNet": summary(lenet, X_lenet), "AlexNet": summary(net, X)}
html = "<tr><th>由模型数出</th><th>LeNet</th><th>AlexNet</th></tr>"
for key, label in labels.items():
    a, b = (f"{t[key]:,}" if isinstance(t[key], int) else t[key] for t in table.values())
    html += f"<tr><td>{label}</td><td>{a}</td><td>{b}</td></tr>"
display(HTML(f"<table>{html}</table>"))
ratios = {key: d2lite.glue(f"{key}_ratio", table["AlexNet"][key] / table["LeNet"][key])
          for key in ("params", "flops")}
print(f"AlexNet / LeNet：参数量 {ratios['params']:.0f} 倍，计算量 {ratios['flops']:.0f} 倍")

# %% [markdown]
# 参数量多了约 {glue:text}`params_ratio:.0f` 倍，每张图片的计算量多了 {glue:text}`flops_ratio:.0f` 倍。这样规模的网络，只有在 ImageNet 这样大的数据集和 GPU 这样的算力面前才有意义，
# 这也是它直到 2012 年才出现的原因。
#
# ## 小结
#
# - AlexNet 有 8 个带权重的层（5 个卷积层 + 3 个全连接层），用 ReLU（论文对比的是 tanh：在 CIFAR-10 上达到
#   25%[^paper] 训练错误率要慢 6 倍[^paper]），用暂退法、权重衰减（0.0005[^paper]）和数据增广（从短边缩放到 256 的图片中随机裁出 $224\times224$，
#   加上水平翻转）控制过拟合，卷积窗口从 $11\times11$ 缩小到 $5\times5$ 再到 $3\times3$，在第 1、2、5 个卷积层后做
#   $3\times3$、步幅 2 的最大汇聚。论文中的局部响应归一化这里没有采用：后来的工作发现它没有好处，批量规范化取代了它。
# - 一个 $1\times1\times224\times224$ 的输入依次变成 $96\times54\times54$、……、$256\times5\times5$，展平为 6400 维，与原教程的形状表完全一致。
#   按论文的布置（$227\times227$ 输入、conv1 不填充），第一层输出 $55\times55$，fc6 收到 $6\times6\times256 = 9216$ 个值。
# - 本书的模型共有 46,764,746 个参数，每张图片的前向计算为 1.876 GFLOP（PyTorch 的 FLOP 计数器）。
#   全连接层占了约 {glue:text}`dense_param_share:.0%` 的参数，卷积层则占了 {glue:text}`conv_flop_share:.1%`
#   的计算量。
# - 与 LeNet 相比，AlexNet 的参数量约多 {glue:text}`params_ratio:.0f` 倍，计算量多 {glue:text}`flops_ratio:.0f` 倍。
#
# ## 练习
#
# 1. 把第一个卷积层的步幅从 4 改成 2，输出形状会怎样变化？哪一层会报错，为什么？（提示：`d2lite.AlexNet.forward` 里的输入尺寸检查按步幅 4 计算，$224\times224$ 的输入照样放行；重新运行 2.4 节的形状追踪，把 Flatten 那一行与 fc6 的 6400 个输入对比，再用 $s=2$ 重算一遍输出尺寸公式。）
# 2. 去掉 fc6 和 fc7，直接从 6400 维接到 10 类输出，参数量和计算量各减少多少？
# 3. 原论文的输入是 3 通道的彩色图像。用 `d2lite.alexnet(in_channels=3, num_classes=1000)` 重新统计参数量。
#    它与论文的 6000 万差多少？差在哪里？
# 4. 论文图 1 的结论在 Fashion-MNIST 上的 LeNet 里成立吗？在 $28\times28$ 的图像上训练三个 LeNet，分别用 sigmoid、tanh 和 ReLU
#    （替换 `d2lite.lenet()` 里的 `nn.Sigmoid` 模块），从同样的初始化（`d2lite.init_weights`）出发，用 SGD（学习率 0.1、
#    动量 0.9），小批量大小 128，最多训练 `train_steps` 步。最近 20 个小批量的平均训练错误率降到 25% 以下，各需要多少步？
#    （总共至多 1200 个小步，代码会打印用了多久。）

# %% [markdown]
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行（测试也会在快速设置下运行它们），
# 正文引用的数字都来自本页的运行。

# %% [markdown]
# :::{admonition} 解答 1：步幅改为 2
# :class: dropdown
# 步幅为 2 时，第一个卷积层输出的边长是 $\lfloor(224 + 2 - 11)/2\rfloor + 1 = 108$，而不是 54；之后的三个
# 最大汇聚层依次得到 53、26、12。卷积层本身接受任何尺寸，所以直到 Flatten 那一行都不会报错：到达 fc6 的是
# $256 \times 12 \times 12 = 36{,}864$ 个特征，而 fc6 是按 6400 个输入建的，矩阵乘法于是失败。
# `d2lite.AlexNet.forward` 里的输入尺寸检查按步幅 4 计算，所以 $224\times224$ 的输入照样放行；形状追踪（像代码
# 这样逐层运行）才能看出真正出错的位置。fc6 需要 36,864 个输入，光它自己就要约 {glue:text}`fc6_stride2`个权重。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 1 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 1 \u7684\u4ee3\u7801"}
net_s2 = d2lite.alexnet()
net_s2[0].stride = (2, 2)  # 第一个卷积层，步幅改为 2
h = torch.randn(1, 1, 224, 224)
for layer in net_s2:
    try:
        h = layer(h)
    except RuntimeError as err:
        print(f"{type(layer).__name__} 出错：{str(err).splitlines()[0]}")
        break
    if not isinstance(layer, (nn.ReLU, nn.Dropout)):
        print(f"{type(layer).__name__:>10} -> {tuple(h.shape)}")
assert h.shape[1] == 256 * 12 * 12  # Flatten 输出 36,864 个特征，fc6 需要 6400 个
weights = d2lite.glue("fc6_stride2", f"{h.shape[1] * 4096 / 1e8:.2f} 亿")
print(f"{h.shape[1]:,} 个输入的 fc6：{h.shape[1] * 4096:,} 个权重（{weights}）")

# %% [markdown]
# :::{admonition} 解答 2：去掉 fc6 和 fc7
# :class: dropdown
# 把 6400 个特征直接接到 10 个输出，可以省下 42,976,768 个参数，占整个网络的 91.9%；但每张图像的计算量只
# 减少了 {glue:text}`flops_total` FLOPs 中的 {glue:text}`flops_saved`，即 4.6%。参数集中在全连接层，计算集中在卷积层。头部这么小的网络，每一步
# 只会快一点点，却失去了 fc6、fc7 带来的容量（暂退法约束的正是这部分容量）。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 2 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 2 \u7684\u4ee3\u7801"}
k = next(i for i, m in enumerate(net) if isinstance(m, nn.Flatten))
short = nn.Sequential(*list(net)[: k + 1], nn.Linear(6400, 10))  # 卷积部分 + 一个全连接层
short_rows = d2lite.trace_shapes(short, X)
p0, f0 = sum(r.params for r in rows), sum(r.flops for r in rows)
p1, f1 = sum(r.params for r in short_rows), sum(r.flops for r in short_rows)
print(f"参数量：{p0:,} -> {p1:,}（减少 {p0 - p1:,}，{(p0 - p1) / p0:.1%}）")
print(f"计算量：{f0:,} -> {f1:,} FLOPs（减少 {f0 - f1:,}，{(f0 - f1) / f0:.1%}）")
assert p0 - p1 == 6400 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10 - (6400 * 10 + 10)
saved = d2lite.glue("flops_saved", f"{(f0 - f1) / 1e4:.0f} 万")
of_all = d2lite.glue("flops_total", f"{f0 / 1e8:.1f} 亿")
print(f"换成中文的单位：{of_all} FLOPs 中的 {saved}")

# %% [markdown]
# :::{admonition} 解答 3：原论文的输入和类别数
# :class: dropdown
# 3 个输入通道、1000 个类别时，模型有 50,844,008 个参数，比本书的多 4,079,262 个：第一个卷积层多了
# $96 \times 2 \times 11^2 = 23{,}232$ 个（多两个输入通道），最后一层多了 $4096 \times 990 + 990 = 4{,}056{,}030$
# 个（多 990 个类别），代码检查了这个和。原论文报告的是约 6000 万。差距主要来自 fc6：论文中它看到的是
# $6\times6\times256$ 的特征图，9216 个输入、{glue:text}`fc6_paper`个权重；本书的结构给出的是
# $5\times5\times256$，6400 个输入、{glue:text}`fc6_here`个权重。按 2.4 节的论文布置，模型有 62,378,344 个参数；双 GPU 拆分时，conv2、conv4 和 conv5 只看得到
# 同一块 GPU 上那一半的上层通道，这三层的权重因此减半，剩下 60,965,224 个，正是论文所说的“6000 万”。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 3 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 3 \u7684\u4ee3\u7801"}
big = d2lite.alexnet(in_channels=3, num_classes=1000)
n_big = sum(p.numel() for p in big.parameters())
n_ours = sum(p.numel() for p in net.parameters())
print(f"3 个通道、1000 类：{n_big:,} 个参数（比本书的多 {n_big - n_ours:,} 个）")
conv1_extra = 96 * 2 * 11 * 11  # 第一个卷积层多了两个输入通道
fc8_extra = 4096 * 990 + 990  # 最后一层多了 990 个类别
assert n_big - n_ours == conv1_extra + fc8_extra
n_paper = sum(p.numel() for p in paper.parameters())  # 2.4 节的论文布置
split = sum(paper[i].weight.numel() // 2 for i in (3, 8, 10))  # conv2、4、5 只看得到一半通道
print(f"论文布置：{n_paper:,} 个参数，双 GPU 拆分后 {n_paper - split:,} 个")
fc6_w = {key: d2lite.glue(key, f"{model[14].weight.numel() / 1e4:.0f} 万")
         for key, model in (("fc6_paper", paper), ("fc6_here", net))}
print(f"fc6 的权重：论文布置 {fc6_w['fc6_paper']}，本书 {fc6_w['fc6_here']}")

# %% [markdown]
# :::{admonition} 解答 4：LeNet 上的 sigmoid、tanh 与 ReLU
# :class: dropdown
# 从同样的初始化出发，把训练错误率降到 25% 以下，tanh 用了 {glue:text}`steps_tanh:d` 步，ReLU 用了
# {glue:text}`steps_ReLU:d` 步，sigmoid 用了 {glue:text}`steps_sigmoid:d` 步（到 `train_steps` 为止；
# 这时它最近 20 个小批量的错误率是 {glue:text}`err_sigmoid:.0%`）；tanh 和 ReLU 之中，先做到的是
# {glue:text}`first_of_two`；tanh 的步数是 ReLU 的 {glue:text}`tanh_over_relu:.1f` 倍，
# 而论文图 1 里 tanh 用的时间是 ReLU 的 6 倍[^paper]。在 LeNet 上，差距大的是 sigmoid，它的导数从不超过 0.25；
# tanh 和 ReLU 都能以斜率 1 把梯度传回去，而且在为 tanh 这类单元设计的 Xavier 初始化下，tanh 每层损失的梯度
# 甚至更少（见第 1 章解答 2）。论文的 6 倍[^paper]来自另一个网络、另一个数据集，每个网络的学习率也是分别调过的；
# ReLU 的优势会随着深度增加、随着预激活大到让 tanh 饱和而变大。每种激活函数只跑了一次，只是一个样本：
# 换别的随机种子，步数会变，变多少要多跑几次才知道。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 4 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 4 \u7684\u4ee3\u7801"}
train_28, _ = d2lite.load_data_fashion_mnist(128, device=device)  # 28x28，数据放在设备上


def steps_to_25_percent(activation):
    """用 `activation` 训练一个 LeNet，直到最近 20 个小批量的训练错误率低于 25%。"""
    torch.manual_seed(0)  # 每种激活函数都用同样的初始权重、同样的小批量
    model = nn.Sequential(*(activation() if isinstance(m, nn.Sigmoid) else m for m in d2lite.lenet()))
    model = d2lite.init_weights(model).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    errors = []
    for X28, y28 in itertools.islice(train_28, S["train_steps"]):
        _, y_hat = d2lite.train_step(model, X28, y28, nn.CrossEntropyLoss(), optimizer)
        errors.append((y_hat.argmax(1) != y28).float().mean().item())
        if len(errors) >= 20 and sum(errors[-20:]) / 20 < 0.25:
            break
    return len(errors), sum(errors[-20:]) / len(errors[-20:])


start = time.perf_counter()
steps = {}
for name, act in (("sigmoid", nn.Sigmoid), ("tanh", nn.Tanh), ("ReLU", nn.ReLU)):
    steps[name], err = steps_to_25_percent(act)
    d2lite.glue(f"steps_{name}", steps[name])
    d2lite.glue(f"err_{name}", err)
    print(f"{name:>8}：{steps[name]:>4} 步，最近 20 个小批量的训练错误率 {err:.2f}")
d2lite.glue("first_of_two", "tanh" if steps["tanh"] < steps["ReLU"] else
            "ReLU" if steps["ReLU"] < steps["tanh"] else "两者同时（平局）")
d2lite.glue("tanh_over_relu", steps["tanh"] / steps["ReLU"])
print(f"三次训练在 {device} 上共用 {time.perf_counter() - start:.0f} 秒")
assert steps["sigmoid"] >= max(steps["tanh"], steps["ReLU"])
