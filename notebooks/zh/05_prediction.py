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
# # 5 预测与错误分析
#
# 一个测试精度数字掩盖了很多细节。本章加载第 4 章训练好的模型，一张张地看它的回答，
# 再追问：它最容易把哪些类别弄混？为什么？
#
# **本章你将学到**
#
# - 怎样加载检查点，并读出模型当初是怎样训练的；
# - 怎样把测试图像连同真实标签和预测标签一起画出来；
# - 怎样构造混淆矩阵，并从中读出每个类别的精度；
# - 怎样找出最常见的错误，并查看这些错误背后的图像。
#
# ```{note}
# **运行时间**（2026-11-28 在一台 2 核 Intel Xeon（Sapphire Rapids）CPU 上实测，加载第 4 章的检查点）：
#
# - **CPU 设置**（全部 10000 张测试图像；没有 GPU 的机器默认跑的就是它。本页的输出也来自它，
#   用的是第 4 章 CPU 设置训练出的模型）：约一分半钟（本页 94.9 秒，英文版 96.8 秒）。
# - **快速设置**（192 张测试图像；测试用）：约 10 秒。
# - **完整设置**（和 CPU 设置一样是全部 10000 张测试图像，模型来自第 4 章的完整设置）：为 GPU 准备，本书尚未实测。
# ```

# %%
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 可调的参数有两类：要分类多少张测试图像，以及万一找不到第 4 章的检查点时临时训练一个什么样的模型。
# 和第 4 章一样，`d2lite.setting()` 有 GPU 时选 `FULL`，没有时选 `CPU`；快速设置（`D2LITE_QUICK=1`）是测试用的那一套。

# %% tags=["parameters"]
import os

import d2lite

SETTING = d2lite.setting()  # 有 GPU 时为 "full"，没有时为 "cpu"，测试中为 "quick"
FULL = dict(
    n_test=None,  # 全部 10000 张测试图像：混淆矩阵的每一格都有足够的样本
    batch_size=128,  # 推理的批量（也是备用模型训练时的批量）
    n_show=18,  # 预测网格里的图像数，3 行 × 6 列
    n_mistakes=6,  # 每对易混类别展示几张出错的图
    fallback_train=None,  # 没有检查点？就用全部 60000 张图像训练……
    fallback_epochs=2,  # ……2 轮（这是 GPU 的活）
)
CPU = dict(
    n_test=None,  # 全部 10000 张测试图像：在 2 核 CPU 上约一分半钟
    batch_size=128,
    n_show=18,
    n_mistakes=6,
    fallback_train=12_000,  # 没有检查点？用 12000 张图像训练 1 轮：CPU 上几分钟
    fallback_epochs=1,
)
QUICK_SETTING = dict(
    n_test=192,  # CPU 上 AlexNet 处理 224×224 图像很慢：192 张（即第 4 章快速设置的测试集）让本章很快跑完
    batch_size=32,
    n_show=12,
    n_mistakes=6,
    fallback_train=256,  # 仅当第 4 章没运行过时才用：训练几秒钟
    fallback_epochs=1,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}，"
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} 设置：{S}")

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import torch

LANG = "zh"  # 类别名和图中文字使用本版的语言
print("中文字体：", d2lite.use_cjk_font())

# %%
device = d2lite.try_gpu()
name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
print(f"设备：{device}（{name}），torch {torch.__version__}")

# %% [markdown]
# ## 5.1 加载第 4 章的模型
#
# 先建一个空的 AlexNet，再按训练时的尺寸 224×224 加载测试图像。加载器同时保留了 28×28 的原图，
# 后面展示的就是这些原图。

# %%
CKPT = Path("checkpoints") / "alexnet_fashion_mnist.pt"
net = d2lite.alexnet().to(device)
train_iter, test_iter = d2lite.load_data_fashion_mnist(
    S["batch_size"], resize=224, subset=(S["fallback_train"], S["n_test"]), device=device)
print(f"{len(test_iter.dataset.images)} 张测试图像；检查点 {CKPT} "
      f"{'存在' if CKPT.exists() else '不存在'}")

# %% [markdown]
# `d2lite.load_checkpoint` 会拒绝损坏的文件和来自其他网络结构的文件，并返回当初保存的全部内容：
# 权重、轮数、训练历史。第 4 章还在检查点旁写了一个记录训练设置的小 JSON 文件。
# 如果检查点不存在（比如你直接打开了这一章），就在这里临时训练一个小模型，保证本章能独立运行。

# %%
if CKPT.exists():
    state = d2lite.load_checkpoint(CKPT, net, map_location=device)
    history = d2lite.History(**state["history"])
    meta = CKPT.with_suffix(".json")
    settings = json.loads(meta.read_text()) if meta.exists() else {"note": "没有设置文件"}
else:
    print("没有检查点：在这里临时训练一个替代模型（真正的模型由第 4 章训练）。")
    d2lite.set_seed(0)  # 先设种子再建模型，偏置的初始值也就固定了
    net = d2lite.init_weights(d2lite.alexnet()).to(device)
    history = d2lite.train(net, train_iter, test_iter, S["fallback_epochs"], 0.01, device,
                           momentum=0.9, amp=True, animator=False)
    settings = dict(subset=S["fallback_train"], num_epochs=S["fallback_epochs"],
                    setting=SETTING, quick=QUICK)
print("训练设置：", settings)

# %% [markdown]
# 训练历史记录了每一轮的情况，以及训练用的是哪台设备。

# %%
for row in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc):
    print("第 {} 轮：损失 {:.3f}，训练精度 {:.3f}，测试精度 {:.3f}".format(*row))
print(f"训练设备：{history.device}")
if settings.get("quick"):
    print("这个模型来自快速运行（很小的子集、只训练 1 轮），它的预测和瞎猜差不多。"
          "下面的图演示的是分析方法，并不代表 AlexNet 的真实水平。")
elif settings.get("setting") == "cpu":
    print("这个模型来自第 4 章的 CPU 设置（一半训练图像、训练 2 轮）。"
          "给 GPU 准备的完整设置让模型看到的样本是它的 10 倍。")

# %% [markdown]
# ## 5.2 预测结果一览
#
# `d2lite.predict` 按数据集顺序对前几张测试图像做预测，并把图像和标签一起返回；`d2lite.show_predictions`
# 负责画图。每张图上方是真实类别，下方是预测类别：答对显示绿色 ✓，答错显示红色 ✗。

# %%
p = d2lite.predict(net, test_iter, n=S["n_show"])
d2lite.show_predictions(p, lang=LANG, num_cols=6, scale=2.0)
plt.show()

# %% [markdown]
# ## 5.3 混淆矩阵
#
# 为了一次看清所有错误，我们用 `d2lite.predict_all` 对整个测试集做预测，再统计每个真实类别 $i$
# 被预测成类别 $j$ 的图像数，记作 $C_{ij}$。对角线上是答对的，其余格子都是错误，
# 格子的位置正好说明是哪两个类别弄混了。

# %%
labels, preds = d2lite.predict_all(net, test_iter)
C = d2lite.confusion_matrix(labels, preds)
print(f"{len(labels)} 张测试图像，精度 {C.trace().item() / C.sum().item():.3f}")
C

# %% [markdown]
# 一张数字表不如一幅图直观。下面把它画出来，两条坐标轴都标上类别名。

# %%
names = d2lite.TEXT_LABELS[LANG]
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(C, cmap="Blues")
ax.set_xticks(range(10), names, rotation=45, ha="right")
ax.set_yticks(range(10), names)
for i in range(10):
    for j in range(10):
        ax.text(j, i, int(C[i, j]), ha="center", va="center", fontsize=8,
                color="white" if C[i, j] > C.max() / 2 else "black")
ax.set_xlabel("预测类别")
ax.set_ylabel("真实类别")
ax.set_title(f"混淆矩阵（{len(labels)} 张测试图像）")
fig.colorbar(im, ax=ax)
plt.show()

# %% [markdown]
# ## 5.4 每个类别的精度
#
# 用对角线元素除以所在行的总数，就得到每个真实类别上的精度 $\text{acc}_i = C_{ii} / \sum_j C_{ij}$，
# 也叫该类别的召回率。

# %%
per_class = C.diag() / C.sum(dim=1).clamp(min=1)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.barh(names, per_class.tolist(), color="tab:blue")
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("该类别上的精度")
plt.show()
for i in per_class.argsort().tolist():
    print(f"{names[i]:>6}：{per_class[i]:.3f}（{int(C[i].sum())} 张中答对 {int(C[i, i])} 张）")

# %% [markdown]
# 在本页这次运行中，衬衫远远落在其他类别后面：召回率只有 0.251（1000 张测试图像只认对 251 张），
# 其余各类都在 0.79 以上。混淆矩阵里衬衫那一行说明了其他衬衫的去向：266 张被认成 T恤，216 张被认成套衫，
# 200 张被认成外套。这三类都是形状和衬衫相近的上衣（第 3 章里这四类的平均图像主要只在袖长和领口上不同），
# 而衬衫自己的特征，比如领子和纽扣，在 28×28 的图上只占寥寥几个像素。
#
# ## 5.5 最容易混淆的类别
#
# 非对角线上最大的几个格子，就是模型最常犯的错误。训练充分的 AlexNet 通常会在上装之间犯迷糊
# （衬衫、T恤、套衫、外套），偶尔也会分错几种鞋；几乎没训练过的模型则会把许多类别一股脑儿归到同一类。
# 下面列出最大的三个格子。

# %%
off = C.clone()
off.fill_diagonal_(0)
top = torch.topk(off.flatten(), k=3)
pairs = [(int(k) // 10, int(k) % 10) for k, c in zip(top.indices, top.values) if c > 0]
for t, q in pairs:
    print(f"真实 {names[t]:>4} -> 预测 {names[q]:<4}：{int(C[t, q]):4d} 次"
          f"（占该类别的 {C[t, q] / C[t].sum():.0%}）")

# %% [markdown]
# 光看数字说不出错误的**原因**。下面列出每种错误背后的几张测试图像，用的是 28×28 的原图
# （网络看到的是放大到 224×224 的版本）。`predict_all` 按顺序遍历测试集，所以 `labels` 和 `preds`
# 的第 $k$ 个位置对应数据集里的第 $k$ 张图像。

# %%
images = test_iter.dataset.images.cpu()  # (n_test, 28, 28) 的 uint8 原图
assert torch.equal(test_iter.dataset.labels.cpu(), labels)  # 顺序与预测结果一致
for t, q in pairs:
    idx = torch.nonzero((labels == t) & (preds == q)).flatten()[:S["n_mistakes"]]
    d2lite.show_images(images[idx], 1, S["n_mistakes"], scale=1.4,
                       titles=[f"{names[t]}\n→ {names[q]}"] * len(idx),
                       title_colors=["tab:red"] * len(idx))
    plt.show()

# %% [markdown]
# 在 28×28 像素下，衬衫和 T 恤的差别只在领口和袖子附近的几行像素；模型认错的许多衬衫，换成人来看也会犹豫。
# 如果错误发生在长得毫不相像的类别之间（比如把包认成裤子），那说明模型还没学到位：快速设置训练出的模型常犯这种错，训练过的模型则很少。
#
# ## 小结
#
# - `d2lite.load_checkpoint` 恢复权重，并返回保存时的轮数和训练历史；旁边的 JSON 文件记录训练设置。
#   没有检查点时，本章会临时训练一个替代模型，因此总能独立运行。
# - `d2lite.predict` 和 `d2lite.show_predictions` 用本章的语言展示测试图像的真实标签与预测标签，
#   答对为绿色 ✓，答错为红色 ✗。
# - 混淆矩阵 $C_{ij}$ 统计真实类别 $i$ 被预测为 $j$ 的次数。对角线除以行和得到每个类别的精度，
#   非对角线上最大的格子就是最常见的错误。
# - 看一看错误背后的图像，就能判断模型错得情有可原（衬衫与 T 恤），还是根本没学会。
#
# ## 练习
#
# 1. 把混淆矩阵对称化为 $C + C^\top$，列出最容易混淆的**无序**类别对。排名有变化吗？
# 2. 把 $C$ 的每一行归一化为和为 1，再画一次。各类别测试图像数量不同时，哪种画法更合适？
# 3. 修改 `d2lite.predict(..., start=...)`，浏览测试集的其他部分，找一个你自己也会认错的例子。
# 4. 对最容易混淆的那对类别，打印每张错图在这两个类别上的 softmax 概率。模型是信心十足地犯错，还是几乎拿不定主意？
#    提示：网络输出的是未归一化的分数（logits），`predict_all` 只保留了其中最大值的位置。自己遍历 `test_iter`，
#    在 `eval` 模式和 `torch.inference_mode()` 下保存 `torch.softmax(net(X), dim=1)`（对全部 10 个类别），
#    再令 `t, q = pairs[0]`，在出错图像的下标处取第 `t` 列和第 `q` 列。这两个概率之和不一定是 1，
#    剩下的分给了其他八个类别。
# 5. 把第 4 章的模型分别训练 1 轮、3 轮和 10 轮，比较三个混淆矩阵。哪些错误最先消失？
