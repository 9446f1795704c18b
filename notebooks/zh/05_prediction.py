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

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# 可调的参数有两类：要分类多少张测试图像，以及万一找不到第 4 章的检查点时临时训练一个什么样的模型。
# 和第 4 章一样，`d2lite.setting()` 有 GPU 时选 `FULL`，没有时选 `CPU`；快速设置（`D2LITE_QUICK=1`）是测试用的那一套。

# %% tags=["parameters", "hide-input"]
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
    fallback_budget_minutes=None,  # GPU 上不设时间预算
)
CPU = dict(
    n_test=None,  # 全部 10000 张测试图像：在 2 核 CPU 上约一分半钟
    batch_size=128,
    n_show=18,
    n_mistakes=6,
    fallback_train=None,  # 没有检查点？训练 1 轮，图像数量按下面的时间预算来定
    fallback_epochs=1,
    fallback_budget_minutes=10,  # 替代模型的训练时间预算，按这台 CPU 的实测速度确定规模
)
QUICK_SETTING = dict(
    n_test=192,  # CPU 上 AlexNet 处理 224×224 图像很慢：192 张（即第 4 章快速设置的测试集）让本章很快跑完
    batch_size=32,
    n_show=12,
    n_mistakes=6,
    fallback_train=256,  # 仅当第 4 章没运行过时才用：训练几秒钟
    fallback_epochs=1,
    fallback_budget_minutes=None,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}，"
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} 设置：{S}")

# %% tags=["hide-input"]
import json
from pathlib import Path

import matplotlib.pyplot as plt
import torch

LANG = "zh"  # 类别名和图中文字使用本版的语言
print("中文字体：", d2lite.use_cjk_font())

# %% tags=["hide-input"]
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
    if S["fallback_budget_minutes"]:  # CPU 设置：预算内跑得完多少张就用多少张
        plan = d2lite.plan_budget(net, train_iter, test_iter, S["fallback_budget_minutes"],
                                  S["fallback_epochs"], device=device, amp=True)
        print(plan)
        train_iter, _ = d2lite.load_data_fashion_mnist(
            S["batch_size"], resize=224, subset=(plan.n_train, S["n_test"]), device=device)
    history = d2lite.train(net, train_iter, test_iter, S["fallback_epochs"], 0.01, device,
                           momentum=0.9, amp=True, animator=False)
    settings = dict(subset=len(train_iter.images), num_epochs=S["fallback_epochs"],
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
    print(f"这个模型来自第 4 章的 CPU 设置（在 {settings.get('device_name', '那台 CPU')} 上按 "
          f"{settings.get('budget_minutes')} 分钟的预算确定训练图像数量，"
          f"训练 {settings.get('num_epochs')} 轮）。"
          "给 GPU 准备的完整设置则用全部 6 万张图像训练 10 轮。")

# %% [markdown]
# ## 5.2 预测结果一览
#
# `d2lite.predict` 按数据集顺序对前几张测试图像做预测，并把图像和标签一起返回；`d2lite.show_predictions`
# 负责画图。每张图上方是真实类别，下方是预测类别：答对显示绿色 ✓，答错显示红色 ✗。

# %% mystnb={"image": {"alt": "\u6d4b\u8bd5\u56fe\u50cf\u7f51\u683c\u3002\u6bcf\u5f20\u56fe\u4e0a\u65b9\u662f\u771f\u5b9e\u7c7b\u522b\uff0c\u4e0b\u65b9\u662f\u9884\u6d4b\u7c7b\u522b\uff1a\u9884\u6d4b\u6b63\u786e\u65f6\u4e3a\u7eff\u8272\u5e76\u5e26 \u2713\uff0c\u9519\u8bef\u65f6\u4e3a\u7ea2\u8272\u5e76\u5e26 \u2717\u3002"}}
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

# %% mystnb={"image": {"alt": "\u4ee5\u70ed\u529b\u56fe\u8868\u793a\u7684\u6df7\u6dc6\u77e9\u9635\uff1a\u7eb5\u8f74\u662f\u771f\u5b9e\u7c7b\u522b\uff0c\u6a2a\u8f74\u662f\u9884\u6d4b\u7c7b\u522b\uff0c\u6bcf\u4e2a\u683c\u5b50\u6807\u7740\u6d4b\u8bd5\u56fe\u50cf\u7684\u6570\u91cf\uff0c\u84dd\u8272\u8d8a\u6df1\uff0c\u56fe\u50cf\u8d8a\u591a\u3002"}}
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

# %% mystnb={"image": {"alt": "\u6a2a\u5411\u6761\u5f62\u56fe\uff1a\u5341\u4e2a\u7c7b\u522b\u5404\u81ea\u7684\u7cbe\u5ea6\uff0c\u523b\u5ea6\u4ece 0 \u5230 1\u3002"}}
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
# 在本页这次运行中，衬衫远远落在其他类别后面：召回率只有 0.369（1000 张测试图像只认对 369 张），
# 其余各类都在 0.76 以上。混淆矩阵里衬衫那一行说明了其他衬衫的去向：261 张被认成 T恤，161 张被认成外套；
# 另外还有 172 张套衫被认成外套。这几类都是形状相近的上衣（第 3 章里这四类的平均图像主要只在袖长和领口上不同），
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

# %% mystnb={"image": {"alt": "\u6a21\u578b\u8ba4\u9519\u7684 28\u00d728 \u6d4b\u8bd5\u56fe\u50cf\uff0c\u6bcf\u5bf9\u6613\u6df7\u6dc6\u7684\u7c7b\u522b\u4e00\u884c\uff1b\u6bcf\u5f20\u56fe\u7684\u6807\u9898\u662f\u5b83\u7684\u771f\u5b9e\u7c7b\u522b\uff0c\u7bad\u5934\u540e\u9762\u662f\u88ab\u8bef\u8ba4\u6210\u7684\u7c7b\u522b\u3002"}}
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

# %% [markdown]
# ## 练习解答
#
# 每个解答都是折叠的：先自己做，再展开看。解答里的代码和本章其他代码一起运行（测试也会在快速设置下运行它们），
# 所以页面上打印的结果来自与本页其余部分相同的模型。
#
# :::{admonition} 解答 1：无序类别对
# :class: dropdown
# $C + C^\top$ 把每种混淆的两个方向加在一起，$C_{ab} + C_{ba}$，所以它是对称的，每个无序类别对只需看对角线
# 上方的一次。如果某一对类别在两个方向上都会混淆，排名就会变化：两个中等大小的格子加起来可能超过最大的单向格子。
# 上身衣物之间常常如此，衬衫会被认成 T 恤，T 恤也会被认成衬衫。下面的代码打印本页模型中最大的三对，并给出两个方向各自的次数。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 1 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 1 \u7684\u4ee3\u7801"}
sym = C + C.T  # C[a, b] + C[b, a]：两个方向的混淆加在一起
assert torch.equal(sym, sym.T)
upper = torch.triu(sym, diagonal=1)  # 每个无序类别对只取一次，去掉对角线
top_sym = torch.topk(upper.flatten(), k=3)
for k, c in zip(top_sym.indices.tolist(), top_sym.values.tolist()):
    a, b = divmod(k, 10)
    if c > 0:
        print(f"{names[a]:>6} ↔ {names[b]:<6}：共 {c:4d} 次"
              f"（一个方向 {int(C[a, b])} 次，另一个方向 {int(C[b, a])} 次）")

# %% [markdown]
# :::{admonition} 解答 2：按行归一化的混淆矩阵
# :class: dropdown
# 每一行除以该行总数后，计数变成了比例：对角线变成每个类别的精度（召回率），一行中其余的格子说明这一类的图像
# 被分到了哪里。各类别测试图像数量不同时（例如快速设置里的子集，或者任何不平衡的真实数据集），这种画法更合适，
# 因为小类别的错误不会再被大类别淹没。想知道“有多少张图像受影响”时，原始计数仍然是正确的视角。在完整的
# Fashion-MNIST 测试集上每一类都恰好有 1000 张图像，两张图只差这一个倍数。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 2 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 2 \u7684\u4ee3\u7801", "image": {"alt": "\u6309\u884c\u5f52\u4e00\u5316\u7684\u6df7\u6dc6\u77e9\u9635\u70ed\u529b\u56fe\uff0c\u53d6\u503c\u4ece 0 \u5230 1\uff1a\u7eb5\u8f74\u662f\u771f\u5b9e\u7c7b\u522b\uff0c\u6a2a\u8f74\u662f\u9884\u6d4b\u7c7b\u522b\u3002"}}
R = C.float() / C.sum(dim=1, keepdim=True).clamp(min=1)  # 每一行之和为 1
assert torch.allclose(R.sum(dim=1)[C.sum(dim=1) > 0], torch.ones(1))
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(R, cmap="Blues", vmin=0, vmax=1)
ax.set_xticks(range(10), names, rotation=45, ha="right")
ax.set_yticks(range(10), names)
ax.set_xlabel("预测类别")
ax.set_ylabel("真实类别")
ax.set_title("按行归一化的混淆矩阵")
fig.colorbar(im, ax=ax)
plt.show()

# %% [markdown]
# :::{admonition} 解答 3：浏览测试集
# :class: dropdown
# `start` 决定网格从测试集的哪个位置开始；代码展示接下来的 `n_show` 张图像，并列出其中认错的图像在测试集中的下标。
# 哪些错误你自己也会犯，要由你来判断：找一找看不出领子的衬衫，或者形状同样暗沉的套头衫和外套。每次把 `start`
# 加上 `n_show` 就能继续往后翻。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 3 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 3 \u7684\u4ee3\u7801", "image": {"alt": "\u7b2c\u4e8c\u4e2a\u6d4b\u8bd5\u56fe\u50cf\u7f51\u683c\uff0c\u7d27\u63a5\u5728\u7b2c\u4e00\u4e2a\u7f51\u683c\u4e4b\u540e\uff0c\u6bcf\u5f20\u56fe\u6807\u6709\u771f\u5b9e\u7c7b\u522b\u548c\u9884\u6d4b\u7c7b\u522b\u3002"}}
start = S["n_show"]  # 紧接在上面那个网格之后的图像
p2 = d2lite.predict(net, test_iter, n=S["n_show"], start=start)
d2lite.show_predictions(p2, lang=LANG, num_cols=6, scale=2.0)
plt.show()
wrong = torch.nonzero(~p2.correct).flatten()
print("这些图像中认错的（测试集下标）：", [start + int(i) for i in wrong])

# %% [markdown]
# :::{admonition} 解答 4：信心十足还是拿不定主意？
# :class: dropdown
# 代码没有再遍历整个测试集，而是只把最容易混淆的那对类别里认错的图像送进网络，处理方式与数据加载器完全相同
# （缩放到 [0, 1]，用双线性插值放大到 224×224），然后打印真实类别的 softmax 概率、预测类别的概率，以及其余八个
# 类别的概率之和。错误类别的概率接近 1，说明模型信心十足地犯了错；两个概率相近，说明它几乎拿不定主意。训练得好的
# 模型在情有可原的错误（衬衫与 T 恤）上往往拿不定主意，而快速设置得到的模型几乎没学到东西，会把概率分散到许多
# 类别上。请以本页模型实际打印的数字为准，不要只听这段话。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 4 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 4 \u7684\u4ee3\u7801"}
import torch.nn.functional as F

if pairs:
    t, q = pairs[0]
    idx = torch.nonzero((labels == t) & (preds == q)).flatten()[:S["n_mistakes"]]
    X = F.interpolate(images[idx].unsqueeze(1).float() / 255, size=(224, 224),
                      mode="bilinear", align_corners=False)  # 与数据加载器的处理方式相同
    net.eval()
    with torch.inference_mode():
        P = torch.softmax(net(X.to(device)).float(), dim=1).cpu()  # (k, 10)
    assert torch.allclose(P.sum(dim=1), torch.ones(len(idx)), atol=1e-4)
    for k, i in enumerate(idx.tolist()):
        print(f"图像 {i}：P({names[t]}) = {P[k, t]:.2f}，P({names[q]}) = {P[k, q]:.2f}，"
              f"其他类别 {1 - P[k, t] - P[k, q]:.2f}")

# %% [markdown]
# :::{admonition} 解答 5：训练 1 轮、3 轮和 10 轮
# :class: dropdown
# 用相同的随机种子和设置，把第 4 章的模型分别训练 `num_epochs` 为 1、3、10 轮，每个检查点各存一个文件名，
# 再在这里逐个载入并计算混淆矩阵；把三个按行归一化的矩阵并排画出来，比较起来最方便。可以预期，外形毫不相似的
# 类别之间的错误（把包认成裤子、把鞋认成上衣）最先消失：模型一学会粗略的形状，它们就没有了。衬衫、T 恤、
# 套头衫和外套之间的混淆减少得最慢，10 轮之后仍会剩下一些，因为在 28×28 像素下，这几类只在领口和袖子附近差几个像素。
# 训练 10 轮需要 GPU；在 CPU 上，用 CPU 设置分别训练 1、2、3 轮也能看出同样的趋势，在本书的双核 CPU 上每次不到 20 分钟。
# :::
