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
# # 3 数据：Fashion-MNIST
#
# AlexNet 原本是为 ImageNet 设计的，但在 ImageNet 上训练到收敛，即便用现代 GPU 也要以小时甚至天计。
# 本书改用 Fashion-MNIST：10 类服饰的灰度小图，规模和 MNIST 手写数字一样，却难得多。
# 训练之前，先把数据本身看清楚。
#
# **学习目标**
#
# - 说出 Fashion-MNIST 的规模和 10 个类别（中英文名称）；
# - 画出训练集的前 18 张图片，并检查类别是否均衡；
# - 计算每一类的平均图像和像素的统计量；
# - 解释为什么要把 28×28 的图片放大到 224×224、双线性插值怎样填出新的像素，以及这样做的代价；
# - 读出一个小批量的形状，并知道 d2lite 到哪里查找数据。
#
# ```{note}
# 本章只读取数据、画图，任何 CPU 都能跑。
# 本页实际的用时、设置和硬件，写在网站上标题下方的运行说明里，也记录在 notebook 元数据的 `d2lite` 项中。
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 参数单元格：快速设置用更小的批量大小，计时也只读两个小批量。

# %% tags=["parameters", "hide-input"]
import os

import d2lite

QUICK = d2lite.is_quick()
FULL = dict(
    batch_size=128,  # 批量大小，即每个小批量的图片数：第 4 章训练时用的量级
    resize=224,  # 放大后的边长：AlexNet 接受 193 到 224，这里和原教程一样取 224
    time_batches=10,  # 计时读取的小批量个数：够多，平均值才稳定
)
QUICK_SETTING = dict(batch_size=32, resize=224, time_batches=2)
S = QUICK_SETTING if QUICK else FULL
print(
    f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} → {'快速' if QUICK else '完整'}设置：{S}"
)

# %% tags=["hide-input"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

LANG = "zh"  # 类别名和图中文字的语言
print("中文字体：", d2lite.use_cjk_font())

# %% tags=["hide-input"]
device = d2lite.try_gpu()
print(f"设备：{device}，PyTorch {torch.__version__}")

# %% [markdown]
# ## 3.1 规模与类别
#
# `d2lite.load_fashion_mnist_arrays()` 把整个数据集读成 `uint8` 张量：训练集 60,000 张、测试集 10,000 张，
# 每张是 $28\times28$ 的单通道灰度图。四个张量加起来只有约 55 MB，可以整个放进内存。

# %%
arrays = d2lite.load_fashion_mnist_arrays()
for name in ("train_images", "train_labels", "test_images", "test_labels"):
    t = getattr(arrays, name)
    print(
        f"{name:<13} 形状 {str(tuple(t.shape)):<16} {t.dtype}  {t.numel() * t.element_size() / 1e6:5.1f} MB"
    )

# %% [markdown]
# 10 个类别都是服饰。标签只是 0 到 9 的整数，`d2lite.TEXT_LABELS` 给出它们的中英文名称：

# %%
for i, (en, zh) in enumerate(zip(d2lite.TEXT_LABELS["en"], d2lite.TEXT_LABELS["zh"])):
    print(f"{i}  {zh}\t{en}")

# %% [markdown]
# ## 3.2 看一看前 18 张图片
#
# 按原始顺序取训练集的前 18 张，排成 2 行 9 列，标题是用 `get_fashion_mnist_labels` 转换出的类别名。

# %% mystnb={"image": {"alt": "\u524d 18 \u5f20\u8bad\u7ec3\u56fe\u50cf\uff0c\u6392\u6210\u4e24\u884c\u3001\u6bcf\u884c\u4e5d\u5f20\uff1a\u9ed1\u8272\u80cc\u666f\u4e0a\u7684\u7070\u5ea6\u670d\u88c5\u56fe\u7247\uff0c\u6bcf\u5f20\u6807\u6709\u7c7b\u522b\u540d\u79f0\u3002"}}
X18, y18 = arrays.train_images[:18], arrays.train_labels[:18]
axes = d2lite.show_images(X18, 2, 9, titles=d2lite.get_fashion_mnist_labels(y18, lang=LANG))

# %% [markdown]
# 图片已经居中、裁好，背景是纯黑（像素值 0）。有些类别单看一张就容易混淆，比如 T恤、套衫和衬衫，
# 第 5 章的混淆矩阵会印证这一点。
#
# ## 3.3 类别是否均衡
#
# 数一数每一类各有多少张：

# %%
train_counts = torch.bincount(arrays.train_labels.long(), minlength=10)
test_counts = torch.bincount(arrays.test_labels.long(), minlength=10)
print("训练集：", train_counts.tolist())
print("测试集：", test_counts.tolist())

# %% [markdown]
# 每类在训练集中恰好 6000 张、在测试集中恰好 1000 张，完全均衡。这意味着“全部猜同一类”只能得到 10% 的精度，
# 精度本身就是一个公平的指标，不需要再看按类别加权的分数。这里的精度（accuracy）指预测正确的样本所占的比例，
# 也常叫准确率（第 4 章细讲）；它和第 4 章“混合精度”里表示数值精确程度的“精度”（precision）不是一回事。

# %% mystnb={"image": {"alt": "\u6bcf\u4e2a\u7c7b\u522b\u8bad\u7ec3\u56fe\u50cf\u6570\u91cf\u7684\u6761\u5f62\u56fe\uff1a\u5341\u6839\u67f1\u5b50\u4e00\u6837\u9ad8\uff0c\u6bcf\u7c7b\u90fd\u662f 6000 \u5f20\u3002"}}
fig, ax = plt.subplots(figsize=(8, 2.8))
names = d2lite.get_fashion_mnist_labels(range(10), lang=LANG)
ax.bar(range(10), train_counts.tolist())
ax.set_xticks(range(10), names, rotation=30)
ax.set_ylabel("训练集中的图片数")
ax.set_title("每一类的样本数")
fig.tight_layout()

# %% [markdown]
# ## 3.4 每一类的平均图像
#
# 把同一类的 6000 张图片逐像素取平均，得到这一类的“典型轮廓”。如果某两类的平均图像很像，
# 模型区分它们时也会更吃力。

# %% mystnb={"image": {"alt": "\u5341\u4e2a\u7c7b\u522b\u5404\u81ea\u7684\u5e73\u5747\u56fe\u50cf\uff0c\u6392\u6210\u4e24\u884c\u3001\u6bcf\u884c\u4e94\u5f20\uff1aT \u6064\u3001\u88e4\u5b50\u3001\u5957\u5934\u886b\u3001\u8fde\u8863\u88d9\u3001\u5916\u5957\u3001\u51c9\u978b\u3001\u886c\u886b\u3001\u8fd0\u52a8\u978b\u3001\u5305\u548c\u77ed\u9774\u7684\u6a21\u7cca\u8f6e\u5ed3\u3002"}}
labels = arrays.train_labels.long()
means = [arrays.train_images[labels == c].float().mean(0) / 255 for c in range(10)]  # 10 × (28, 28)
axes = d2lite.show_images(means, 2, 5, titles=names, scale=1.8)

# %% [markdown]
# T恤、套衫、外套和衬衫的平均图像都是一件“有袖的上衣”，主要差别在袖长和领口；
# 凉鞋、运动鞋和短靴则都朝左放，区别在鞋帮的高度。
#
# ## 3.5 像素的统计量
#
# 读入的像素是 0 到 255 的整数，加载器会把它除以 255 变成 $[0, 1]$ 中的小数（与 `transforms.ToTensor` 相同）。
# 在训练集上算均值和标准差：

# %%
pixels = arrays.train_images.float() / 255  # (60000, 28, 28)
test_pixels = arrays.test_images.float() / 255
print(f"训练集：均值 {pixels.mean():.4f}，标准差 {pixels.std():.4f}")
print(f"测试集：均值 {test_pixels.mean():.4f}，标准差 {test_pixels.std():.4f}")
print(f"恰好为 0 的像素（黑色背景）占 {(arrays.train_images == 0).float().mean():.1%}")

# %% [markdown]
# 均值 0.2860、标准差 0.3530，说明图片整体偏暗：一半左右的像素是纯黑的背景。直方图（纵轴取对数）看得更清楚：

# %% mystnb={"image": {"alt": "\u8bad\u7ec3\u96c6\u50cf\u7d20\u503c\uff080 \u5230 1\uff09\u7684\u76f4\u65b9\u56fe\uff0c\u7eb5\u8f74\u4e3a\u5bf9\u6570\u5750\u6807\uff1a0 \u5904\u6709\u4e00\u6839\u5f88\u9ad8\u7684\u67f1\u5b50\uff08\u9ed1\u8272\u80cc\u666f\uff09\uff0c\u5176\u4f59\u53d6\u503c\u4e00\u76f4\u5206\u5e03\u5230 1\uff0c\u6570\u91cf\u4f4e\u5f97\u591a\u3002"}}
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.hist(pixels.flatten().numpy(), bins=51, log=True)
d2lite.set_axes(ax, "像素值（缩放到 [0, 1]）", "像素个数", yscale="log")
ax.set_title("训练集的像素分布")
fig.tight_layout()

# %% [markdown]
# ```{note}
# 本书和原教程一样，只把像素缩放到 $[0, 1]$，不做标准化。若改为减去均值 0.2860、除以标准差 0.3530，
# 输入就变成均值 0、方差 1，通常能让训练稍快一些（见练习）。
# ```
#
# ## 3.6 从 28×28 放大到 224×224
#
# 原教程在读取数据时把每张图片放大到 $224\times224$。`d2lite.FashionMNISTDataset` 用双线性插值完成这一步。
# 把同一张图放大前后并排画出来；右边两幅是同一块中心区域：原图中的 $7\times7$ 个像素，和放大后对应的 $56\times56$ 个像素。

# %% mystnb={"image": {"alt": "\u540c\u4e00\u5f20\u8bad\u7ec3\u56fe\u50cf\u7684 28\u00d728 \u539f\u56fe\u548c\u653e\u5927\u5230 224\u00d7224 \u7684\u7248\u672c\uff0c\u4ee5\u53ca\u4e24\u8005\u4e2d\u540c\u4e00\u5757\u4e2d\u5fc3\u533a\u57df\u7684\u7279\u5199\uff1a\u539f\u56fe\u662f\u4e00\u683c\u4e00\u683c\u7684\u50cf\u7d20\uff0c\u53cc\u7ebf\u6027\u653e\u5927\u540e\u53d8\u6210\u5e73\u6ed1\u7684\u8fc7\u6e21\u3002"}}
dataset = d2lite.FashionMNISTDataset(arrays.train_images, arrays.train_labels, resize=S["resize"])
big, label = dataset[0]  # (1, 224, 224)
small = arrays.train_images[0]  # (28, 28)
crops = [
    small[10:17, 10:17],
    big[0, 80:136, 80:136],
]  # 同一块区域：28 上的 7 像素 = 224 上的 56 像素
axes = d2lite.show_images(
    [small, big[0], *crops],
    1,
    4,
    scale=2.4,
    titles=[
        f"原图 {tuple(small.shape)}",
        f"放大后 {tuple(big.shape[1:])}",
        "原图中心 7×7",
        "放大后对应的 56×56",
    ],
)

# %% [markdown]
# 放大并没有带来新的信息：每个新像素都是至多 4 个原像素的加权平均，即它落点周围 $2\times2$ 的邻居，图片只是更平滑了。
# 双线性插值就是先沿一个方向、再沿另一个方向做线性插值，所以可以写成 $W^\top\,\text{图像}\,W$，其中 $W$ 是
# $28\times224$ 的权重矩阵，每一列是某个输出位置分给 28 个原位置的权重。数一数它的非零元素，再拿数据集自己放大的图片核对这个公式：

# %%
W = F.interpolate(torch.eye(28)[:, None, :], size=224, mode="linear", align_corners=False)[:, 0, :]
reads = (W > 0).sum(0)  # (224,) 沿一个方向，每个输出位置读取的原位置个数
per_pixel = torch.bincount((reads[:, None] * reads[None, :]).flatten())  # 换成二维
print("数据集的图片 == W^T 图像 W：", torch.allclose(big[0], W.T @ (small.float() / 255) @ W, atol=1e-6))
print(f"每个输出像素每个方向至多读取 {reads.max().item()} 个原像素；224×224 个输出像素中，"
      f"{per_pixel[4]:,} 个读取 4 个，{per_pixel[2]:,} 个读取 2 个（边上），{per_pixel[1]} 个读取 1 个（角上）")

# %% [markdown]
# 那为什么还要放大？因为 AlexNet 的结构是为 224 左右的输入设计的：$11\times11$、步幅 4 的第一层卷积
# 和三次 $3\times3$、步幅 2 的最大汇聚把边长一步步缩小，每一步都向下取整；最后的特征图必须恰好是 $5\times5$，
# 展平后才是第一个全连接层需要的 6400 维（见第 2 章）。边长从 193 到 224 都能得到这个结果，原教程选的 224 是其中最大的。
# 直接喂 28×28 的图片，形状就对不上：

# %%
try:
    d2lite.alexnet()(torch.zeros(1, 1, 28, 28))
except d2lite.InputSizeError as err:
    print("InputSizeError:", err)

# %% [markdown]
# 代价也很直接：像素数变成原来的 $(224/28)^2 = 64$ 倍，一个小批量的内存、每张图片的计算量都随之增长。
# 这是为了沿用 AlexNet 原本的结构而付出的代价，并不是提升精度的手段；如果专门为 28×28 设计网络，
# 可以用小得多的模型达到相近的精度。
#
# ## 3.7 一个小批量的形状
#
# `d2lite.load_data_fashion_mnist` 与原教程的同名函数用法一样，返回训练和测试两个迭代器。取出一个训练小批量：

# %%
train_iter, test_iter = d2lite.load_data_fashion_mnist(S["batch_size"], resize=S["resize"])
X, y = next(iter(train_iter))
print(
    f"X：{tuple(X.shape)} {X.dtype}，取值范围 [{X.min():.2f}, {X.max():.2f}]，{X.numel() * 4 / 1e6:.1f} MB"
)
print(f"y：{tuple(y.shape)} {y.dtype}，前 8 个标签 {y[:8].tolist()}")
print(f"每轮：训练 {len(train_iter)} 个小批量，测试 {len(test_iter)} 个小批量")

# %% [markdown]
# `X` 的四个维度依次是（批量大小，通道数，高，宽）。训练集每一轮都会重新打乱顺序，测试集保持原序。
#
# 放大不仅让模型更贵，也让读数据更贵。对比一下不放大和放大到 224 时读取一个小批量的用时
# （每次都重新建立加载器，第一个小批量要启动工作进程，不计入平均）：


# %%
def seconds_per_batch(resize):
    loader, _ = d2lite.load_data_fashion_mnist(S["batch_size"], resize=resize)
    it = iter(loader)
    next(it)  # 第一个小批量包含工作进程的启动时间，不计时
    start = time.perf_counter()
    for _ in range(S["time_batches"]):
        next(it)
    return (time.perf_counter() - start) / S["time_batches"]


t28, t224 = seconds_per_batch(None), seconds_per_batch(S["resize"])
print(
    f"{device}、批量大小 {S['batch_size']}、{d2lite.default_num_workers()} 个工作进程：28×28 每批 {t28 * 1e3:.1f} ms，"
    f"{S['resize']}×{S['resize']} 每批 {t224 * 1e3:.1f} ms（{t224 / t28:.0f} 倍）"
)

# %% [markdown]
# 在这台 CPU 上，这点开销无关紧要：每个 128 张的小批量多花几十毫秒，而训练一步本身就要一秒以上
# （第 4 章在这里的训练速度大约每秒 100 个样本），占大头的是模型的计算。换到 GPU 上情况就反过来了：
# 训练一步快得多，GPU 要停下来等 CPU 一张张地放大图片，读数据就成了瓶颈。
# 针对这种情况，`load_data_fashion_mnist(..., device=device)` 提供了另一条路：
# 把整个 `uint8` 数据集一次性放到设备上，再对每个小批量整体插值（细节见 `d2lite.DeviceLoader` 的文档）。
#
# ## 3.8 数据从哪里来
#
# d2lite 在导入时不下载任何东西。它依次在 `data_dir` 参数、`$D2LITE_DATA`、项目的 `data/` 文件夹和 Debian 软件包
# `dataset-fashion-mnist` 的文件夹里查找那四个文件，都找不到时才用 torchvision 下载。离线且哪里都没有数据时，
# 它会抛出 `DataNotFoundError`，列出查找过的每一个位置和三种解决办法（详见 README）。本次运行找到的文件：

# %%
source, root = Path(arrays.source), os.environ.get("D2LITE_DATA")
if root and source.is_relative_to(Path(root).expanduser()):  # 显示 $D2LITE_DATA，而不是这台机器上的路径
    shown = (Path("$D2LITE_DATA") / source.relative_to(Path(root).expanduser())).as_posix()
else:
    shown = f".../{source.parent.name}/{source.name}"
print("读取自", shown + "：", "、".join(sorted(p.name for p in d2lite.find_data_dir().values())))

# %% [markdown]
# ## 小结
#
# - Fashion-MNIST 有 60,000 张训练图片和 10,000 张测试图片，都是 $28\times28$ 的灰度图，共 10 类服饰，
#   每类在训练集和测试集中分别恰好有 6000 和 1000 张。
# - 缩放到 $[0, 1]$ 后，训练集像素的均值为 0.2860、标准差为 0.3530，约一半像素是纯黑背景。
# - 上衣类（T恤、套衫、外套、衬衫）的平均图像非常相似，是最容易混淆的一组。
# - 为了沿用 AlexNet 的结构，图片被放大到 $224\times224$：信息没有增加（每个新像素至多是 4 个原像素的加权平均），
#   像素数却多了 64 倍，读数据和计算都随之变贵。
# - 一个小批量的形状是（批量大小，1，224，224）；数据按 `data_dir`、`D2LITE_DATA`、项目 `data/`、Debian 软件包、联网下载的顺序查找。
#
# ## 练习
#
# 1. 在测试集上重新计算每一类的平均图像，与训练集的相比有差别吗？
# 2. 计算每一类的像素均值。哪一类最亮，哪一类最暗？这与平均图像的印象一致吗？
# 3. 把 `resize` 改成 227（常说的原论文输入尺寸），本书的 AlexNet 还能运行吗？用第 2 章的输出尺寸公式说明：
#    为什么恰好是边长 193 到 224 能得到 $5\times5$ 的特征图？再用代码试一试 192、193、224 和 225。
# 4. 把一个训练小批量标准化：从 `d2lite.load_data_fashion_mnist(128, resize=224)` 取出 `X`，计算
#    `(X - 0.2860) / 0.3530`，打印结果的均值和标准差。它们恰好是 0 和 1 吗？改用 `resize=None` 再做一次，
#    并解释两者的差别。

# %% [markdown]
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行（测试也会在快速设置下运行它们），
# 正文引用的数字都来自本页的运行。

# %% [markdown]
# :::{admonition} 解答 1：测试集的平均图像
# :class: dropdown
# 看上去一样：测试集与训练集的平均图像逐像素比较，最大差别在 0.021 到 0.046 之间（取值范围 0 到 1，裤子差得
# 最多）。测试集和训练集长得一样，所以测试精度才能公平地估计模型在这类图像上的表现。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 1 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 1 \u7684\u4ee3\u7801", "image": {"alt": "\u6d4b\u8bd5\u96c6\u5341\u4e2a\u7c7b\u522b\u5404\u81ea\u7684\u5e73\u5747\u56fe\u50cf\uff0c\u4e0e\u8bad\u7ec3\u96c6\u7684\u5e73\u5747\u56fe\u50cf\u770b\u4e0a\u53bb\u4e00\u6837\u3002"}}
test_labels = arrays.test_labels.long()
test_means = [arrays.test_images[test_labels == c].float().mean(0) / 255 for c in range(10)]
axes = d2lite.show_images(test_means, 2, 5, titles=names, scale=1.8)
gaps = [(t - m).abs().max().item() for t, m in zip(test_means, means)]
print("测试集与训练集平均图像的最大像素差：",
      ", ".join(f"{n} {g:.3f}" for n, g in zip(names, gaps)))
assert max(gaps) < 0.2

# %% [markdown]
# :::{admonition} 解答 2：最亮和最暗的类别
# :class: dropdown
# 最亮的是外套（0.385）和套头衫（0.377），其次是包；最暗的是凉鞋（0.137）和运动鞋（0.168），其次是裤子
# （0.223）。这与平均图像的印象一致：外套和套头衫的衣身和长袖占满了大半个画面，凉鞋大多是带子，带子之间是黑色
# 的空隙，裤子则很窄。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 2 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 2 \u7684\u4ee3\u7801"}
class_means = torch.stack([m.mean() for m in means])  # 每一类的像素均值，取值在 [0, 1]
order = class_means.argsort(descending=True).tolist()
for c in order:
    print(f"{names[c]:>12}: {class_means[c]:.3f}")
print("最亮：", names[order[0]], "  最暗：", names[order[-1]])

# %% [markdown]
# :::{admonition} 解答 3：227 与边长 193 到 224
# :class: dropdown
# 不能：边长 227 时，第一个卷积层得到 $\lfloor(227 + 2 - 11)/4\rfloor + 1 = 55$，三个汇聚层依次得到 27、13、6，
# 是 $6\times6$ 的特征图，而 fc6 需要 $5\times5\times256$，模型会抛出 `InputSizeError`。倒过来推：最后一个汇聚层
# 输入为 11 或 12 时输出 5；前一个汇聚层输入为 23 到 26 时输出 11 或 12；第一个汇聚层输入为 47 到 54 时输出
# 23 到 26；第一个卷积层当 $\lfloor(n - 9)/4\rfloor$ 为 46 到 53 时输出 47 到 54，也就是 $n$ 从 193 到 224。代码证实了
# 这一点：192 和 225 报错，193 和 224 可以运行。（原论文的 227 配的是不加填充的第一个卷积层：
# $\lfloor(227 - 11)/4\rfloor + 1 = 55$，它的汇聚层最后得到 $6\times6$。）
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 3 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 3 \u7684\u4ee3\u7801"}
net_check = d2lite.alexnet().eval()


def conv_side(n, k, s=1, p=0):
    """第 2 章的输出尺寸公式：floor((n + 2p - k) / s) + 1。"""
    return (n + 2 * p - k) // s + 1


def feature_side(n):
    n = conv_side(n, 11, 4, 1)  # conv1
    n = conv_side(n, 3, 2)  # 汇聚；conv2（5x5，填充 2）不改变尺寸
    n = conv_side(n, 3, 2)  # 汇聚；conv3-5（3x3，填充 1）不改变尺寸
    return conv_side(n, 3, 2)  # 汇聚


fits = [n for n in range(150, 260) if feature_side(n) == 5]
print(f"能得到 5x5 特征图的边长：{fits[0]} 到 {fits[-1]}")
for side in (192, 193, 224, 225, 227):
    try:
        out = net_check(torch.zeros(1, 1, side, side))
        print(f"{side}：输出 {tuple(out.shape)}")
    except d2lite.InputSizeError:
        print(f"{side}：InputSizeError（特征图 {feature_side(side)}x{feature_side(side)}）")
assert (fits[0], fits[-1]) == (193, 224)

# %% [markdown]
# :::{admonition} 解答 4：标准化一个小批量
# :class: dropdown
# 接近，但不恰好是 0 和 1：0.2860 和 0.3530 是全部 60,000 张 28×28 训练图像的均值和标准差，一个 128 张的小批量只是
# 其中的一个样本。对同样的图像，224×224 时的标准差比 28×28 时小：双线性插值用相邻像素的平均值填充新像素，
# 把黑色背景与衣物之间的陡峭边缘变得平缓，而均值几乎不变。所以，用于标准化的统计量应当在网络实际看到的图像上计算。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 4 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 4 \u7684\u4ee3\u7801"}
for resize in (224, None):
    torch.manual_seed(0)  # 同样的打乱顺序，两种尺寸用的是同样的 128 张图像
    it, _ = d2lite.load_data_fashion_mnist(128, resize=resize)
    Xb, _ = next(iter(it))
    Z = (Xb - 0.2860) / 0.3530
    print(f"resize={resize}: {tuple(Xb.shape)}, mean {Z.mean():+.3f}, std {Z.std():.3f}")
