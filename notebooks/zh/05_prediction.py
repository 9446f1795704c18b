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
# 追问它最容易把哪些类别弄混、为什么，最后再打开网络，看看它学到了什么、拿不准时又在看图像的哪里。
#
# 学完这一章，你将能够：
#
# - 加载检查点，并读出模型当初是怎样训练的；
# - 把测试图像连同真实标签和预测标签一起画出来；
# - 构造混淆矩阵，并从中读出每个类别的精度；
# - 找出最常见的错误，并查看这些错误背后的图像；
# - 查看训练好的网络内部：第一层卷积核在训练前后的样子、一张图像逐层的特征图，
#   以及两类上衣容易混淆时网络凭图像的哪个部位作答（Grad-CAM 和遮挡实验）；
# - 只训练了几分钟的模型，和本书完整配方（训练了好几个小时、只训练一次并记录下来）的模型有什么不同：
#   把两者的卷积核、每个类别的召回率和混淆情况并排比较。
# - 怎样把你自己的图片变成数据集的形式，以及这种做法在哪里失效。
#
# ```{note}
# 本页的时间大多花在对测试图像分类上（CPU 设置和完整设置是全部 10000 张，测试用的快速设置是 192 张）；
# 查看网络内部只多花一点时间。本页实际的用时、设置和硬件，写在网站上标题下方的运行说明里，
# 也记录在 notebook 元数据的 `d2lite` 项中。
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
    batch_size=128,  # 推理时的批量大小（也是备用模型训练时的批量大小）
    n_show=18,  # 预测网格里的图像数，3 行 × 6 列
    n_mistakes=6,  # 每对易混类别展示几张出错的图，两个方向各占一半
    occlusion_patch=32,  # 遮挡方块在 224×224 输入上的边长：相当于 28×28 原图的 4×4 像素……
    occlusion_stride=16,  # ……每次移动 16 像素：每张图 13×13 = 169 次前向计算
    fallback_train=None,  # 没有检查点？就用全部 60000 张图像训练……
    fallback_epochs=2,  # ……2 轮（这是 GPU 的活）
    fallback_budget_minutes=None,  # GPU 上不设时间预算
)
CPU = dict(
    n_test=None,  # 全部 10000 张测试图像：在 2 核 CPU 上约一分半钟
    batch_size=128,
    n_show=18,
    n_mistakes=6,
    occlusion_patch=32,
    occlusion_stride=16,  # 4 张图 × 169 次前向计算：在 2 核 CPU 上远不到一分钟
    fallback_train=None,  # 没有检查点？训练 1 轮，图像数量按下面的时间预算来定
    fallback_epochs=1,
    fallback_budget_minutes=10,  # 替代模型的训练时间预算，按这台 CPU 的实测速度确定规模
)
QUICK_SETTING = dict(
    n_test=192,  # CPU 上 AlexNet 处理 224×224 图像很慢：192 张（即第 4 章快速设置的测试集）让本章很快跑完
    batch_size=32,
    n_show=12,
    n_mistakes=6,
    occlusion_patch=112,  # 粗略：每张图 3×3 = 9 次前向计算，几秒钟
    occlusion_stride=56,
    fallback_train=256,  # 仅当第 4 章没运行过时才用：训练几秒钟
    fallback_epochs=1,
    fallback_budget_minutes=None,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}，"
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} 设置：{S}")

# %% tags=["hide-input"]
import datetime
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
# 权重、轮数、训练历史。第 4 章还在检查点旁写了一个小 JSON 文件，记录训练设置，并在唯一一次评估测试集之后
# 补上最终的各项精度。如果检查点不存在（比如你直接打开了这一章），就在这里临时训练一个**替代模型**，
# 保证本章能独立运行；下面的输出会注明这一点，这时本页的所有数字说的都是替代模型，而不是第 4 章的模型。

# %%
if CKPT.exists():
    state = d2lite.load_checkpoint(CKPT, net, map_location=device)
    history = d2lite.History(**state["history"])
    meta = CKPT.with_suffix(".json")
    settings = json.loads(meta.read_text()) if meta.exists() else {}
    source = "第 4 章的模型"
else:
    print("没有检查点：在这里临时训练一个替代模型（STAND-IN）。它不是第 4 章的模型，"
          "下面所有的数字说的都是这个替代模型（先运行第 4 章才能得到真正的模型）。")
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
    settings = dict(setting=SETTING, quick=QUICK, num_epochs=S["fallback_epochs"], lr=0.01,
                    date=datetime.date.today().isoformat(), test_acc=history.test_acc[-1],
                    device_name=d2lite.device_name(device))
    source = "在这里临时训练的替代模型（STAND-IN）"
print("训练设置：", settings)

# %% [markdown]
# 训练历史记录了每一轮的情况，以及训练用的是哪台设备。下一个单元格根据它和 JSON 文件说明本页分析的是哪一次训练：
# 以“本页的模型”开头的那一行写明模型的来源（第 4 章的检查点，还是替代模型）、设置、轮数、每轮的训练图像数
# （由训练历史算出：每秒样本数乘以秒数）、验证精度和测试精度，以及训练的日期。整本书一次运行完时，
# 这些就是第 4 章末尾打印的那些数字。

# %%
SETTING_NAME = {"quick": "快速", "cpu": "CPU", "full": "完整"}  # 用于打印的那一行
EVAL_NAME = {"val": "验证", "test": "测试"}  # 训练历史里的精度是在哪个集合上测的
for e, loss, tr, ev in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc):
    print(f"第 {e} 轮：损失 {loss:.3f}，训练精度 {tr:.3f}，{EVAL_NAME[history.eval_set]}精度 "
          f"{ev:.3f}")
seen = [x * t for x, t in zip(history.examples_per_sec, history.seconds)]  # 每轮的图像数
n_train = settings.get("train_images") or round(seen[-1])
val_acc = settings.get("val_acc", history.test_acc[-1] if history.eval_set == "val" else None)
model = dict(  # 供正文（以及本书首页）引用，下面也打印出来
    source=d2lite.glue("model_source", source),
    setting=d2lite.glue("model_setting", SETTING_NAME.get(settings.get("setting"), "未知")),
    epochs=d2lite.glue("model_epochs", history.epoch[-1]),
    train_images=d2lite.glue("model_train_images", n_train),
    val_images=d2lite.glue("model_val_images", settings.get("validation") or 0),
    val_acc=d2lite.glue("model_val_acc", "无" if val_acc is None else f"{val_acc:.3f}"),
    test_acc=d2lite.glue("model_test_acc", f"{settings['test_acc']:.3f}"
                         if "test_acc" in settings else "未记录"),
    date=d2lite.glue("model_date", settings.get("date", "未知")),
    speed=d2lite.glue("model_examples_per_sec", round(sum(seen) / sum(history.seconds), 1)),
)
print(f"本页的模型：{model['source']}，{model['setting']}设置，{model['epochs']} 轮，"
      f"每轮 {n_train:,} 张训练图像；验证精度 {model['val_acc']}"
      f"（{model['val_images']:,} 张验证图像），测试精度 {model['test_acc']}；"
      f"{model['date']} 在 {settings.get('device_name', history.device)} 上训练，"
      f"持续速度每秒 {model['speed']} 个样本")
if settings.get("quick"):
    print("这个模型来自快速运行（很小的子集、只训练 1 轮），它的预测和瞎猜差不多。"
          "下面的图演示的是分析方法，并不代表 AlexNet 的真实水平。")
elif settings.get("setting") == "cpu" and settings.get("budget_minutes"):
    print(f"第 4 章的 CPU 设置按 {settings.get('device_name', '那台 CPU')} 上 "
          f"{settings['budget_minutes']} 分钟的预算确定了这次训练的规模。"
          "5.7 节把本书训练了好几个小时的完整配方放在它旁边比较。")

# %% [markdown]
# 也就是说，本页分析的是{glue:text}`model_source`（{glue:text}`model_setting`设置）：
# 训练 {glue:text}`model_epochs:d` 轮，每轮 {glue:text}`model_train_images:,` 张训练图像，
# 验证精度 {glue:text}`model_val_acc`，测试精度 {glue:text}`model_test_acc`，训练日期
# {glue:text}`model_date`；在 Jupyter 里，请看上面以“本页的模型”开头的那一行。下面的每个数字都属于这个模型。
#
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
# 格子的位置正好说明是哪两个类别弄混了。对角线之和除以总数就是精度（也叫准确率）。
# 分类时使用模型训练和评估时的数值格式（和第 4 章一样，硬件算得快时用 bf16），并在我们数出的精度旁边
# 打印模型那次训练自己记录的测试精度：CPU 设置和完整设置下两者都基于全部 10000 张测试图像，
# 快速设置下第 4 章测试的图像比本页少。

# %%
amp_ctx = d2lite.autocast(device, d2lite.amp_dtype(device, settings.get("amp", True)))
with amp_ctx:  # 与第 4 章评估时相同的数值格式
    labels, preds = d2lite.predict_all(net, test_iter)
C = d2lite.confusion_matrix(labels, preds)
print(f"{len(labels)} 张测试图像，精度 {C.trace().item() / C.sum().item():.3f}"
      f"（模型那次训练记录的：{model['test_acc']}）")
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
weakest = int(per_class.argmin())  # 下面列表的第一行
d2lite.glue("weakest_here", names[weakest])
d2lite.glue("weakest_here_recall", round(per_class[weakest].item(), 3))
for i in per_class.argsort().tolist():
    print(f"{names[i]:>6}：{per_class[i]:.3f}（{int(C[i].sum())} 张中答对 {int(C[i, i])} 张）")

# %% [markdown]
# 上面的列表从最弱的类别排起；本页的模型最弱的是{glue:text}`weakest_here`，召回率
# {glue:text}`weakest_here_recall:.3f`（列表的第一行）。这类列表的末尾通常是上衣：
# 衬衫、T恤、套衫和外套的外形彼此相近（第 3 章里这四类的平均图像主要只在袖长和领口上不同），
# 而衬衫自己的特征，比如领子和纽扣，在 28×28 的图上只占寥寥几个像素；裤子、包和几种鞋则各有自己的外形。
# 5.7 节把完整配方的列表放在这一份旁边；下一节说明认错的图像都去了哪里。
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
# 光看数字说不出错误的**原因**。下面列出三种混淆背后的测试图像，每对类别一行，两个方向的错误都在这一行里：
# 衬衫与 T恤、套衫与外套，以及混淆矩阵里剩下的最大的一对（两个方向相加，$C_{ab} + C_{ba}$）。
# 图中是 28×28 的原图，网络看到的是放大到 224×224 的版本。`predict_all` 按顺序遍历测试集，
# 所以 `labels` 和 `preds` 的第 $k$ 个位置对应数据集里的第 $k$ 张图像。

# %% mystnb={"image": {"alt": "\u6a21\u578b\u8ba4\u9519\u7684 28\u00d728 \u6d4b\u8bd5\u56fe\u50cf\uff0c\u6bcf\u5bf9\u6613\u6df7\u6dc6\u7684\u7c7b\u522b\u4e00\u884c\uff1b\u6bcf\u5f20\u56fe\u7684\u6807\u9898\u662f\u5b83\u7684\u771f\u5b9e\u7c7b\u522b\uff0c\u7bad\u5934\u540e\u9762\u662f\u88ab\u8bef\u8ba4\u6210\u7684\u7c7b\u522b\u3002"}}
images = test_iter.dataset.images.cpu()  # (n_test, 28, 28) 的 uint8 原图
assert torch.equal(test_iter.dataset.labels.cpu(), labels)  # 顺序与预测结果一致
TSHIRT, PULLOVER, COAT, SHIRT = 0, 2, 4, 6  # Fashion-MNIST 的类别编号
both = torch.triu(C + C.T, diagonal=1)  # C[a, b] + C[b, a]，每个无序类别对只取一次
ranked = [divmod(int(k), 10) for k in both.flatten().argsort(descending=True)]
shown = [(TSHIRT, SHIRT), (PULLOVER, COAT)]
shown.append(next((a, b) for a, b in ranked if a < b and (a, b) not in shown))  # 再加最大的另一对
for a, b in shown:
    k = S["n_mistakes"] // 2
    idx = torch.cat([torch.nonzero((labels == t) & (preds == q)).flatten()[:k]
                     for t, q in ((a, b), (b, a))])
    axes = d2lite.show_images(images[idx], 1, S["n_mistakes"], scale=1.4,
                              titles=[f"{names[labels[i]]}\n→ {names[preds[i]]}" for i in idx],
                              title_colors=["tab:red"] * len(idx))
    axes[0].figure.suptitle(f"{names[a]} → {names[b]}：{int(C[a, b])} 张，"
                            f"{names[b]} → {names[a]}：{int(C[b, a])} 张", fontsize=10)
    plt.show()

# %% [markdown]
# 在 28×28 像素下，衬衫和 T恤的差别只在领口和袖子附近的几行像素，套衫和外套的差别则主要在前襟：
# 一道淡淡的线，或者一排纽扣。模型认错的许多图像，换成人来看也会犹豫。
# 如果错误发生在长得毫不相像的类别之间（比如把包认成裤子），那说明模型还没学到位：快速设置训练出的模型常犯这种错，训练过的模型则很少。
#
# ## 5.6 看看网络内部
#
# 到目前为止，我们只凭回答来评判网络。其实它的权重和中间结果也都可以拿出来看。先看第一个卷积层的 96 个卷积核，
# 每个都是在图像上滑动的 $11\times11$ 窗口。要看出训练对它们做了什么，得先知道训练前它们是什么样子。
# 第 4 章依次调用 `d2lite.set_seed(0)`、`d2lite.alexnet()` 和 `d2lite.init_weights` 得到初始权重，
# 同样的三步就能再得到完全相同的数值（必须重建整个模型，因为每一层都按顺序从同一个随机数流中取数）。
# 前面的替代模型也是这样初始化的。

# %% mystnb={"image": {"alt": "\u4e09\u7ec4\u5377\u79ef\u6838\u7f51\u683c\uff0c\u6bcf\u7ec4 96 \u4e2a\u7070\u8272\u5c0f\u65b9\u5757\uff0c\u662f\u7b2c\u4e00\u4e2a\u5377\u79ef\u5c42\u7684 11\u00d711 \u5377\u79ef\u6838\uff1a\u521d\u59cb\u5316\u65f6\u3001\u8bad\u7ec3\u4e4b\u540e\uff0c\u4ee5\u53ca\u4e24\u8005\u4e4b\u5dee\uff1b\u6bcf\u4e2a\u5377\u79ef\u6838\u5355\u72ec\u7f29\u653e\uff0c\u9ed1\u8272\u662f\u5b83\u6700\u8d1f\u7684\u6743\u91cd\uff0c\u767d\u8272\u662f\u6700\u6b63\u7684\u6743\u91cd\u3002"}}
d2lite.set_seed(0)  # 第 4 章的随机种子，在建模型之前设置
W0 = d2lite.init_weights(d2lite.alexnet())[0].weight.detach()  # (96, 1, 11, 11)：训练开始时
W = net[0].weight.detach().cpu()  # 训练之后的同一批卷积核
fig, axes = plt.subplots(1, 3, figsize=(12, 6), layout="constrained")
for ax, w, title in zip(axes, (W0, W, W - W0),
                        ("初始化时", "训练之后", "变化量（训练后 − 初始）")):
    ax.imshow(d2lite.filter_grid(w, num_cols=8), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
plt.show()
print(f"conv1 权重的相对变化 ‖W − W0‖ / ‖W0‖：{(W - W0).norm() / W0.norm():.2f}"
      f"（两次互不相关的随机初始化之间约为 {2 ** 0.5:.2f}）")
unmoved = int(((W - W0).flatten(1).abs().amax(dim=1) == 0).sum())
print(f"训练完全没有改变的卷积核：{len(W)} 个中有 {unmoved} 个")

# %% [markdown]
# Xavier 初始化独立地抽取每个权重，所以第一组网格纯粹是噪声。第二组与它差别多大，取决于模型训练了多久：
# 网格下方打印的相对变化说明权重移动了多远，第三组网格则显示它们朝哪个方向移动。在卷积核本身仍像噪声的地方，
# 变化量却是平滑的：斑块，以及各种角度的明暗边缘，这正是网络最先学会的检测器；5.7 节把训练了好几个小时的
# 完整配方的卷积核放在它们旁边。第三组里纯灰色的方块是完全没有移动的卷积核（个数打印在图下）：
# 它在每张训练图像上的 ReLU 输出都是 0，梯度从来没有传到它那里，成了一个“死”单元。这样的卷积核也顺便检验了
# 重建的初始权重：它们与之逐位相同。假如重建得不对，就不会有一个相同，而且这个比值会接近 1.41，就像两次互不相关的随机抽取那样。
#
# 接下来跟踪一张测试图像（测试集里的第一件衬衫）穿过五个卷积层。`d2lite.feature_maps` 逐层运行网络，
# 返回每一层的输出和它的名字（`conv1`、`relu1`、`pool1`……）。每个卷积层展示经过 ReLU 之后、
# 在整张图上变化最大（标准差最大）的六个通道：一个处处差不多一样活跃的通道，画出来看不出什么。

# %% mystnb={"image": {"alt": "\u6d4b\u8bd5\u96c6\u91cc\u7684\u4e00\u4ef6\u886c\u886b\uff0c\u4e0b\u9762\u662f\u4e94\u884c\u7279\u5f81\u56fe\uff0c\u6bcf\u884c\u516d\u5f20\uff0c\u4ece conv1 \u5230 conv5 \u6bcf\u4e2a\u5377\u79ef\u5c42\u4e00\u884c\uff0c\u6bcf\u884c\u6807\u9898\u5199\u7740\u8be5\u5c42\u7684\u8f93\u51fa\u5f62\u72b6\uff1b\u7279\u5f81\u56fe\u4ece 54\u00d754 \u7f29\u5c0f\u5230 12\u00d712 \u50cf\u7d20\u3002"}}
import torch.nn.functional as F


def as_input(idx):
    """把测试图像处理成网络的输入：缩放到 [0, 1]，再放大到 224×224。"""
    X = images[idx].unsqueeze(1).float() / 255  # (k, 1, 28, 28)
    return F.interpolate(X, size=(224, 224), mode="bilinear", align_corners=False).to(device)


assert torch.allclose(as_input([0, 1]), next(iter(test_iter))[0][:2].to(device), atol=1e-6)
i = int(torch.nonzero(labels == SHIRT)[0])  # 测试集里的第一件衬衫
maps = dict(d2lite.feature_maps(net, as_input([i])))
fig = plt.figure(figsize=(9, 9), layout="constrained")
head, *rows = fig.subfigures(6, 1, height_ratios=[1.3, 1, 1, 1, 1, 1])
ax = head.subplots()
ax.imshow(images[i], cmap="gray")
ax.axis("off")
head.suptitle(f"输入：测试图像 {i}，{names[labels[i]]}（预测为：{names[preds[i]]}）",
              fontsize=10)
for k, sub in enumerate(rows, start=1):
    A = maps[f"relu{k}"]  # (1, 通道数, h, w)：第 k 个卷积层经过 ReLU 后的输出
    varied = A[0].flatten(1).std(dim=1).argsort(descending=True)[:6]  # 变化最大的 6 个通道
    for ax, c in zip(sub.subplots(1, 6), varied.tolist()):
        ax.imshow(A[0, c], cmap="viridis")
        ax.set_title(f"通道 {c}", fontsize=8)
        ax.axis("off")
    sub.suptitle(f"conv{k} + ReLU：输出 {tuple(A.shape)}", fontsize=10)
plt.show()

# %% [markdown]
# 第一层的特征图还能一眼认出是那件衬衫，每个卷积核传下去的都是它略有不同的一份模糊副本。之后的每一层都透过更小的特征图
# （54×54，然后 26×26，再到 12×12）和更多的通道（96、256、384、384、256）看到图像更大的一块区域，
# 特征图也越来越不像原图：它们说明的是这一层学会检测的某种东西出现在**哪里**（左边或右边的一条边缘、轮廓、肩部、下摆），
# 而不是图像长什么样。
#
# ### 网络在看哪里？
#
# Grad-CAM（梯度加权类激活图，Selvaraju 等，2017）把最后一个卷积层的输出变成某一类别的热力图。
# 记 $A_k$ 为 conv5 输出（经过 ReLU，$12\times12$）的第 $k$ 个通道，$y_c$ 为类别 $c$ 在 softmax 之前的得分，
# 每个通道的权重是 $\alpha_k = \operatorname{mean}_{i,j} \partial y_c / \partial A_{k,ij}$，
# 热力图则是 $\operatorname{ReLU}(\sum_k \alpha_k A_k)$，再放大到图像大小：越亮的地方，这一层在那里看到的支持类别 $c$ 的证据越多。
# `d2lite.grad_cam` 负责计算。对四类上衣中的每一类，第一幅图取模型认对的第一张测试图像，第二幅图取它误认成另一类上衣的第一张，
# 热力图都针对模型选中的类别；第三幅图还是这些认错的图像，热力图换成针对它们的**真实**类别。

# %% mystnb={"image": {"alt": "\u6bcf\u5e45\u56fe\u81f3\u591a\u56db\u4ef6 28\u00d728 \u7684\u4e0a\u8863\uff08T\u6064\u3001\u5957\u886b\u3001\u5916\u5957\u3001\u886c\u886b\uff09\uff0c\u6bcf\u4ef6\u4e0a\u53e0\u7740\u4e00\u5f20\u5f69\u8272\u7684 Grad-CAM \u70ed\u529b\u56fe\uff1b\u4e09\u5e45\u56fe\u4f9d\u6b21\u662f\uff1a\u8ba4\u5bf9\u7684\u56fe\u50cf\u3001\u8ba4\u9519\u7684\u56fe\u50cf\u914d\u9884\u6d4b\u7c7b\u522b\u7684\u70ed\u529b\u56fe\u3001\u540c\u6837\u7684\u9519\u56fe\u914d\u771f\u5b9e\u7c7b\u522b\u7684\u70ed\u529b\u56fe\uff1b\u6bcf\u5f20\u56fe\u7684\u6807\u9898\u662f\u771f\u5b9e\u7c7b\u522b\u548c\u9884\u6d4b\u7c7b\u522b\u3002"}}
tops = torch.tensor([TSHIRT, PULLOVER, COAT, SHIRT])


def first(mask):
    """mask 为真的第一张测试图像的下标，放在列表里（没有就是空列表）。"""
    return torch.nonzero(mask).flatten()[:1].tolist()


hits = sum((first((labels == c) & (preds == c)) for c in tops), [])
misses = sum((first((labels == c) & (preds != c) & torch.isin(preds, tops)) for c in tops), [])
for idx, for_true, title in [(hits, False, "认对的图像：预测类别的热力图"),
                             (misses, False, "认错的图像：预测（错误）类别的热力图"),
                             (misses, True, "同样的错图：真实类别的热力图")]:
    if idx:
        cams = d2lite.grad_cam(net, as_input(idx), target=labels[idx] if for_true else None)
        ok = [bool(preds[i] == labels[i]) for i in idx]
        axes = d2lite.show_heatmaps(
            images[idx], cams, num_cols=4, title_colors=["tab:green" if c else "tab:red" for c in ok],
            titles=[f"{names[labels[i]]}\n{'✓' if c else '✗'} {names[preds[i]]}"
                    for i, c in zip(idx, ok)])
        axes[0].figure.suptitle(title, fontsize=10)
        plt.show()

# %% [markdown]
# Grad-CAM 借助的是网络自己的梯度。遮挡实验（Zeiler 和 Fergus，2014）则直接去问模型：用背景色（黑色，即 0）
# 盖住图像上的一个方块，看预测类别的概率下降多少。让方块在图上滑动，每个位置做一次前向计算，就得到一张图；
# `d2lite.occlusion` 对每个像素取覆盖它的所有位置的概率下降的平均值。红色表示盖住这里会降低模型对它那个（错误）
# 答案的信心，也就是说，正是这一部分让它选了那个类别；蓝色表示盖住这里反而让错误答案**更**可能。
# 每张图按它自己最大的变化缩放（数值写在标题里），这样小的影响也和大的影响一样看得清。

# %% mystnb={"image": {"alt": "\u518d\u6b21\u5c55\u793a Grad-CAM \u56fe\u4e2d\u8ba4\u9519\u7684\u51e0\u4ef6\u4e0a\u8863\uff0c\u6bcf\u4ef6\u4e0a\u53e0\u7740\u4e00\u5f20\u906e\u6321\u5b9e\u9a8c\u56fe\uff1a\u7ea2\u8272\u8868\u793a\u76d6\u4f4f\u8be5\u533a\u57df\u4f1a\u964d\u4f4e\u9884\u6d4b\u7c7b\u522b\u7684\u6982\u7387\uff0c\u84dd\u8272\u8868\u793a\u4f1a\u63d0\u9ad8\uff0c\u65c1\u8fb9\u6709\u8272\u6761\u3002"}}
if misses:
    occ = d2lite.occlusion(net, as_input(misses), patch=S["occlusion_patch"],
                           stride=S["occlusion_stride"])  # (k, 224, 224)：P(预测类别) 的下降
    peak = occ.flatten(1).abs().amax(dim=1).clamp(min=1e-12)  # 每张图里最大的变化
    axes = d2lite.show_heatmaps(images[misses], occ / peak[:, None, None], num_cols=4,
                                cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.6,
                                titles=[f"{names[labels[i]]}\n✗ {names[preds[i]]}\n"
                                        f"最大变化 {float(m):.2f}"
                                        for i, m in zip(misses, peak)],
                                title_colors=["tab:red"] * len(misses))
    axes[0].figure.colorbar(axes[0].images[-1], ax=list(axes), shrink=0.8,
                            label="P(预测类别) 的下降（每张图各自的刻度）")
    plt.show()

# %% [markdown]
# 读这些图时要小心：热力图说明的是模型的证据在哪里，而不是这些证据好不好；而且在 CPU 上只训练了几分钟的模型，
# 热力图会比训练充分的模型粗糙。热量大多落在衣服上或者衣服的轮廓上。如果它溢出到肩膀或袖子旁边的黑色背景上，
# 那也可能是证据：本该有长袖的地方空着，正是 T恤和套衫的区别。热量如果落在远处空荡荡的角落里，就是另一回事了：
# 模型在那里依赖的东西不属于衣服本身，说明它还有很多要学。对一个错误，把预测类别的热力图和真实类别的热力图
# 对照着看：如果两者落在同一块区域，说明模型看对了地方，却读错了意思。两种方法都很粗糙：Grad-CAM 的图是从 conv5 的
# 12×12 网格放大来的，领子这么小的细节已经到了它能显示的极限；遮挡实验的方块是 28×28 原图上的 4×4 像素
# （快速设置用的方块更大），代价是每个位置都要做一次前向计算。
#
# ## 5.7 完整配方：只训练一次
#
# 本书的完整配方，也就是第 4 章的完整设置（在划出验证集后剩下的全部训练图像上训练 10 轮，批量 128，
# 学习率取第 4 章筛选出的那个），在一台 CPU 上花了好几个小时训练了一次，并由 `tools/record_full_run.py`
# 记录在仓库的 `book/runs/` 文件夹里：它的命令、硬件和用时，每一轮之后的各项数字，它在测试集上唯一一次评估的
# 混淆矩阵和每个类别的召回率，以及它的 conv1 卷积核。`d2lite.load_record` 读取这些记录（在 Colab 上会从仓库下载一次）；
# 记录不存在时，它会报错并说明应该到哪里去找。

# %%
full = d2lite.load_record("full-recipe")  # book/runs/full-recipe.json
W_full = torch.from_numpy(d2lite.load_record("full-recipe-conv1"))  # (96, 1, 11, 11) float32
rec = dict(  # 以 full_epochs、full_train_images、full_hours 等名字供正文引用
    epochs=len(full["epochs"]), train_images=full["train_images"], cpu=full["hardware"]["cpu"],
    hours=round(full["times"]["ran_seconds"] / 3600, 1), finished=full["times"]["finished"][:10],
    speed=full["speed"]["sustained_examples_per_sec"], val_acc=full["epochs"][-1]["val_acc"],
    test_acc=full["final_test"]["acc"], test_images=full["final_test"]["images"],
    epoch_minutes=round(sum(e["seconds"] for e in full["epochs"]) / len(full["epochs"]) / 60, 1))
for key, value in rec.items():
    d2lite.glue(f"full_{key}", value)
print(f"完整配方：{rec['epochs']} 轮，每轮 {rec['train_images']:,} 张训练图像，在 {rec['cpu']} 上"
      f"（{full['amp_dtype']}）训练了 {rec['hours']} 小时，持续速度每秒 {rec['speed']} 个样本"
      f"（每轮 {rec['epoch_minutes']} 分钟），{rec['finished']} 完成")
print("每轮之后的验证精度：", *(f"{e['val_acc']:.3f}" for e in full["epochs"]))
print(f"在 {rec['test_images']:,} 张测试图像上的测试精度 {rec['test_acc']:.3f}，只评估一次"
      f"（本页的模型：{model['test_acc']}）")

# %% [markdown]
# 完整配方训练了 {glue:text}`full_epochs:d` 轮，每轮 {glue:text}`full_train_images:,` 张图像，
# 在 {glue:text}`full_cpu:s` 上用了 {glue:text}`full_hours:.1f` 小时，在
# {glue:text}`full_test_images:,` 张测试图像上的测试精度是 {glue:text}`full_test_acc:.3f`，
# 本页的模型则是 {glue:text}`model_test_acc`（见上面最后一行）。先把它的 conv1 卷积核和本页模型的并排放在一起。
# 它的起点也知道：命令行用 `d2lite.init_weights(d2lite.alexnet(), seed=0)` 建模型，同样的调用就能得到
# 它训练前的卷积核。看这样的网格时，眼睛找的东西可以用一个数来量：一个卷积核里左右相邻、上下相邻的权重之间的相关系数，
# 再对 96 个卷积核取平均。独立的噪声（初始化时就是这样）约为 0；平滑的卷积核，比如一个斑块或一条柔和的边缘，接近 1。

# %% mystnb={"image": {"alt": "\u4e24\u7ec4\u5377\u79ef\u6838\u7f51\u683c\uff0c\u6bcf\u7ec4 96 \u4e2a\u7070\u8272\u5c0f\u65b9\u5757\uff0c\u662f\u7b2c\u4e00\u4e2a\u5377\u79ef\u5c42\u7684 11\u00d711 \u5377\u79ef\u6838\uff1a\u5de6\u8fb9\u662f\u672c\u9875\u7684\u6a21\u578b\uff0c\u53f3\u8fb9\u662f\u5b8c\u6574\u914d\u65b9\uff0c\u6bcf\u4e2a\u5377\u79ef\u6838\u5355\u72ec\u7f29\u653e\u3002"}}
def neighbour_correlation(w):
    """各卷积核中左右相邻、上下相邻权重的相关系数的平均值。"""
    w = w[:, 0].double()  # (96, 11, 11)
    out = []
    for a, b in ((w[:, :, :-1], w[:, :, 1:]), (w[:, :-1, :], w[:, 1:, :])):
        a, b = a.flatten(1), b.flatten(1)
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        out.append((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12))
    return torch.stack(out).mean().item()


W0_full = d2lite.init_weights(d2lite.alexnet(), seed=0)[0].weight.detach()  # 它的起点
fig, axes = plt.subplots(1, 2, figsize=(8, 6), layout="constrained")
for ax, w, title in zip(axes, (W, W_full), ("本页的模型", "完整配方")):
    ax.imshow(d2lite.filter_grid(w, num_cols=8), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
plt.show()
for key, label, w, w0 in (("init", "初始化时", W0, W0), ("here", "本页的模型", W, W0),
                          ("full", "完整配方", W_full, W0_full)):
    corr = d2lite.glue(f"smooth_{key}", round(neighbour_correlation(w), 2) + 0.0)  # 不要 -0.0
    change = d2lite.glue(f"change_{key}", round(((w - w0).norm() / w0.norm()).item(), 2))
    print(f"{label:>6}：相邻权重的相关系数 {corr:.2f}，"
          f"相对起点的变化 {change:.2f}")

# %% [markdown]
# 本页模型的卷积核，相邻权重的相关系数是 {glue:text}`smooth_here:.2f`，相对起点移动了
# {glue:text}`change_here:.2f`；完整配方的是 {glue:text}`smooth_full:.2f`，移动了
# {glue:text}`change_full:.2f`（初始化时的噪声：{glue:text}`smooth_init:.2f`）。一组网格的相关系数离噪声越远，
# 其中显出形状（斑块或边缘）而不是杂点的方块就越多。看这些形状时要记住输入是什么样的：每张图都从 28×28
# 放大了 8 倍到 224×224，所以网络看不到比大约 8 个输入像素更细的细节，一个 $11	imes11$ 的卷积核
# 在原图上只覆盖一个多像素。
#
# 接下来比较两个模型的回答。先把每个类别的召回率并排列出，完整配方最弱的类别排在最前：

# %% mystnb={"image": {"alt": "\u6a2a\u5411\u6761\u5f62\u56fe\uff1a\u5341\u4e2a\u7c7b\u522b\u5404\u81ea\u7684\u53ec\u56de\u7387\uff0c\u6bcf\u4e2a\u7c7b\u522b\u4e24\u6839\u6761\uff1a\u672c\u9875\u7684\u6a21\u578b\u548c\u5b8c\u6574\u914d\u65b9\uff0c\u523b\u5ea6\u4ece 0 \u5230 1\u3002"}}
assert full["test"]["classes"] == d2lite.TEXT_LABELS["en"]  # 记录里类别的顺序
recall_full = torch.tensor([full["test"]["per_class_recall"][c] for c in full["test"]["classes"]])
order = recall_full.argsort().tolist()  # 完整配方最弱的类别在最上面
pos = torch.arange(10).float()
fig, ax = plt.subplots(figsize=(6, 4.3))
ax.barh(pos - 0.2, per_class[order].tolist(), 0.4, color="tab:blue", label="本页的模型")
ax.barh(pos + 0.2, recall_full[order].tolist(), 0.4, color="tab:orange", label="完整配方")
ax.set_yticks(pos.tolist(), [names[i] for i in order])
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("召回率（该类别上的精度）")
ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, fontsize=8, frameon=False)
plt.show()
gain = recall_full - per_class
weakest_full, most = int(recall_full.argmin()), int(gain.argmax())
d2lite.glue("weakest_full", names[weakest_full])
d2lite.glue("weakest_full_recall", round(recall_full[weakest_full].item(), 3))
d2lite.glue("gain_class", names[most])
d2lite.glue("gain_here", round(per_class[most].item(), 3))
d2lite.glue("gain_full", round(recall_full[most].item(), 3))
for i in order:
    print(f"{names[i]:>6}：本页 {per_class[i]:.3f}，完整配方 {recall_full[i]:.3f}"
          f"（{gain[i]:+.3f}）")

# %% [markdown]
# 完整配方最弱的类别是{glue:text}`weakest_full`，召回率 {glue:text}`weakest_full_recall:.3f`
# （本页的模型：{glue:text}`weakest_here`，{glue:text}`weakest_here_recall:.3f`）。更长的训练对
# {glue:text}`gain_class`帮助最大，召回率从 {glue:text}`gain_here:.3f` 升到 {glue:text}`gain_full:.3f`。
#
# 两个模型认错的图像都去了哪里？下面两个混淆矩阵只显示错误，每一行除以该类别的测试图像数，
# 这样即使两个模型看的测试图像数不同（快速设置只分类 192 张），也能互相比较。图下列出各自最大的三个比例。

# %% mystnb={"image": {"alt": "\u5e76\u6392\u7684\u4e24\u5e45\u70ed\u529b\u56fe\uff1a\u672c\u9875\u7684\u6a21\u578b\u548c\u5b8c\u6574\u914d\u65b9\u3002\u7eb5\u8f74\u662f\u771f\u5b9e\u7c7b\u522b\uff0c\u6a2a\u8f74\u662f\u9884\u6d4b\u7c7b\u522b\uff0c\u6bcf\u4e2a\u683c\u5b50\u662f\u8be5\u771f\u5b9e\u7c7b\u522b\u7684\u6d4b\u8bd5\u56fe\u50cf\u88ab\u9884\u6d4b\u6210\u8be5\u7c7b\u522b\u7684\u6bd4\u4f8b\uff0c\u53ea\u663e\u793a\u9519\u8bef\uff1b\u84dd\u8272\u8d8a\u6df1\uff0c\u6bd4\u4f8b\u8d8a\u5927\u3002"}}
C_full = torch.tensor(full["test"]["confusion_matrix"])  # (10, 10) 的计数，行是真实类别


def mistake_shares(M):
    """每个真实类别被预测成其他各类别的比例（对角线置 0）。"""
    R = M.double() / M.sum(dim=1, keepdim=True).clamp(min=1)
    return R.fill_diagonal_(0)


shares = {"here": mistake_shares(C), "full": mistake_shares(C_full)}
top = max(R.max().item() for R in shares.values())
fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), layout="constrained")
for ax, R, title in zip(axes, shares.values(), ("本页的模型", "完整配方")):
    im = ax.imshow(R, cmap="Blues", vmin=0, vmax=top)
    ax.set_xticks(range(10), names, rotation=45, ha="right")
    ax.set_yticks(range(10), names)
    ax.set_xlabel("预测类别")
    ax.set_ylabel("真实类别")
    ax.set_title(f"{title}：错误占该真实类别的比例")
fig.colorbar(im, ax=list(axes), shrink=0.8)
plt.show()
largest = {}
for key, R in shares.items():
    cells = R.flatten().argsort(descending=True)[:3].tolist()
    largest[key] = [divmod(k, 10) for k in cells]
    print(("本页的模型" if key == "here" else "完整配方") + "：",
          "；".join(f"{names[t]} -> {names[q]} {R[t, q]:.1%}" for t, q in largest[key]))
    t, q = largest[key][0]
    d2lite.glue(f"confused_{key}", f"{names[t]} → {names[q]}")
    d2lite.glue(f"confused_{key}_share", round(R[t, q].item(), 3))
common = d2lite.glue("confused_common", len(set(largest["here"]) & set(largest["full"])))
print(f"两者最大的三个错误中相同的类别对：3 个中有 {common} 个")

# %% [markdown]
# 本页模型最常犯的错误是 {glue:text}`confused_here`，占该类别测试图像的
# {glue:text}`confused_here_share:.1%`；完整配方最常犯的是 {glue:text}`confused_full`，占
# {glue:text}`confused_full_share:.1%`。两者各自最大的三个错误中，有 {glue:text}`confused_common:d`
# 对类别是相同的。两份列表里都有的类别对，是再训练好几个小时也没有消除的错误，也就是 28×28 的像素本身说不清的那种；
# 只出现在本页列表里的类别对，则是更多的训练把它挤出了前三的错误。

# %% [markdown]
# ## 5.8 你自己的图片
#
# 网络见过的只有 Fashion-MNIST 的图像：一件服装，长边 28 个像素，居中，黑色背景上的浅色物体。你自己拍的照片
# 完全不是这个样子，所以要先按照制作这个数据集的步骤（Xiao 等，2017）把它变成同样的形式。为了让本页不依赖你的文件，
# 下一个单元格用一张测试图像“拍”一张照片：浅色纸上的深色服装，放大、偏离中心，光线偏暖，再加一点传感器噪声。
# 它选的是本页模型表现最好的类别（5.4 节）中第一张被模型分对的测试图像，这样下面的任何变化都来自照片本身，
# 而不是服装。

# %%
import numpy as np

best = int(per_class.argmax())  # 本页模型表现最好的类别（5.4 节）
hits = ((labels == best) & (preds == best)).nonzero()  # 该类别中被分对的测试图像
i = int(hits[0]) if len(hits) else int((labels == best).nonzero()[0])  # 取其中第一张
garment = test_iter.dataset.images[i].float().div(255).cpu()  # (28, 28)，黑底浅色
rng = torch.Generator().manual_seed(0)


def photograph(garment, light=0.0):
    """一张 300 x 400 的 RGB“照片”：服装放大到 200 x 200，深色，放在浅色纸上的 (40, 150) 处；
    ``light``：纸张向左变暗的程度（光照不均）。"""
    big = F.interpolate(garment[None, None], size=(200, 200), mode="bilinear")[0, 0].clamp(0, 1)
    paper = 0.9 - light * torch.linspace(1, 0, 400).expand(300, 400)
    photo = paper.clone()
    photo[40:240, 150:350] *= 1 - 0.85 * big  # 服装让纸变暗
    photo = (photo + 0.004 * torch.randn(300, 400, generator=rng)).clamp(0, 1)
    return torch.stack([photo, 0.97 * photo, 0.9 * photo], dim=-1).numpy()  # 偏暖的色调


photo = photograph(garment)
print(f"测试图像 {i}（{names[best]}），做成一张 {photo.shape[0]}x{photo.shape[1]} 的 RGB 照片")

# %% [markdown]
# 下面把四个步骤逐一写出来，每步只有一两行 NumPy 代码；最后，单元格把结果与库里的 `d2lite.prepare_image`
# 核对。`python -m d2lite predict` 和[演示页](demo.md)用的都是这个函数（演示页运行的是它的 JavaScript 移植版，
# 并经过与它的对照测试）。

# %%
grey = photo @ np.array([0.299, 0.587, 0.114])  # 1. 只留亮度（ITU-R 601 的权重）
border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
background = np.median(border)  # 纸的亮度，从图片边缘读出
light_on_dark = 1 - grey if background > 0.5 else grey  # 2. 深色背景上的浅色服装
ground = min(background, 1 - background)
stretched = np.clip((light_on_dark - ground) / (light_on_dark.max() - ground), 0, 1)  # 3. 拉伸到 0..1
rows = np.flatnonzero((stretched > 0.05).any(axis=1))  # 4. 服装的外接矩形……
cols = np.flatnonzero((stretched > 0.05).any(axis=0))
crop = stretched[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
h, w = (int(n * 28 / max(crop.shape) + 0.5) for n in crop.shape)  # ……长边缩放到 28……
small = F.adaptive_avg_pool2d(torch.from_numpy(crop)[None, None], (h, w))[0, 0]  # 用区域平均
mine = torch.zeros(28, 28, dtype=torch.float64)
top, left = (28 - h + 1) // 2, (28 - w + 1) // 2  # ……放在黑色方块的正中
mine[top:top + h, left:left + w] = small
prepared = d2lite.prepare_image(photo)[0]
print(f"背景 {background:.3f}，服装 {crop.shape[0]}x{crop.shape[1]} 像素 -> {h}x{w}；"
      f"与 d2lite.prepare_image 的最大差异：{(mine - prepared).abs().max():.1e}")
print(f"与原测试图像的平均差异：{(prepared - garment).abs().mean():.3f}")

# %% [markdown]
# 结果和做照片用的那张测试图像很接近，但并不相同：放大、噪声和区域平均都会留下痕迹（上面最后一行给出了差多少，
# 是 0 到 1 的亮度上的平均差异）。
#
# 局限在哪里？同一件服装再拍两张人一眼就能认出的照片：一张光照不均匀，纸的一边更暗；另一张转了 90°。
# 网络对三张照片分别分类；下图给出每张照片、网络看到的输入和它的首选答案。

# %%
cases = {"原照片": photo,
         "光照不均": photograph(garment, light=0.25),
         "转了 90°": np.rot90(photo).copy()}
EN = d2lite.TEXT_LABELS["en"]  # predict_image 用英文类别名
answers = {}
for k, p in cases.items():
    c, prob = d2lite.predict_image(net, p, top=1)[0]
    answers[k] = (names[EN.index(c)], prob)
    print(f"{k:>8}：{answers[k][0]}（{prob:.2f}）")

# %% mystnb={"image": {"alt": "两行各三幅图。上行：做出来的照片、它的灰度版本，以及各步骤得到的黑底浅色版本。下行：网络看到的 28x28 输入，分别来自原照片、光照不均的照片和转了 90 度的照片，标题是网络的首选类别和它的概率。"}}
fig, axes = plt.subplots(2, 3, figsize=(9, 6))
for ax, img, title in zip(axes[0], (photo, grey, stretched),
                          ("原照片", "1. 灰度", "2-3. 黑底浅色，0 到 1")):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
for ax, (k, p) in zip(axes[1], cases.items()):
    c, prob = answers[k]
    ax.imshow(d2lite.prepare_image(p)[0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{k}：{c}（{prob:.2f}）", color="green" if c == names[best] else "red")
for ax in axes.flat:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# 根据这三个答案计算出的结论：

# %%
right = sum(c == names[best] for c, _ in answers.values())
own_verdict = d2lite.glue("own_verdict", (
    f"这件服装属于“{names[best]}”类；网络的回答是："
    + "；".join(f"{k}，{c}（{prob:.2f}）" for k, (c, prob) in answers.items())
    + f"。3 张中答对 {right} 张。"))
print(own_verdict)

# %% [markdown]
# {glue:text}`own_verdict` 这些步骤能消除的，正是它们针对的差别：颜色、大小、位置，以及服装和背景哪个更亮。
# 数据集里从未变化过的东西，它们消除不了。光照不均会让背景不再是同一种灰，一部分纸就可能被当成服装，外接矩形随之变大；
# 侧放的服装是网络从没见过的形状，因为 Fashion-MNIST 的每张图像都是正放的。真实照片的问题还更多：有人穿着的衣服、
# 褶皱和阴影、杂乱的背景、同时出现好几件服装。遇到这些情况，不管概率显得多么有把握，答案都没有什么意义。
# [演示页](demo.md)在你的浏览器里运行本书的完整配方，可以识别你画的图或你自己的照片；在终端里，
# `python -m d2lite predict my_shoe.jpg` 做的是同样的事。

# %% [markdown]
# ## 小结
#
# - `d2lite.load_checkpoint` 恢复权重，并返回保存时的轮数和训练历史；旁边的 JSON 文件记录训练设置。
#   没有检查点时，本章会临时训练一个替代模型，因此总能独立运行。
# - `d2lite.predict` 和 `d2lite.show_predictions` 用本章的语言展示测试图像的真实标签与预测标签，
#   答对为绿色 ✓，答错为红色 ✗。
# - 混淆矩阵 $C_{ij}$ 统计真实类别 $i$ 被预测为 $j$ 的次数。对角线除以行和得到每个类别的精度，
#   非对角线上最大的格子就是最常见的错误。
# - 看一看错误背后的图像，就能判断模型错得情有可原（衬衫与 T恤、套衫与外套），还是根本没学会。
# - 网络内部：`d2lite.filter_grid` 展示 conv1 的卷积核，它们从 Xavier 噪声出发（用第 4 章的随机种子可以精确重建），
#   随着训练而移动；`d2lite.feature_maps` 返回一张图像在每一层的输出；`d2lite.grad_cam` 和 `d2lite.occlusion`
#   显示某个类别的证据在哪里，前者靠最后一个卷积层上的梯度，后者靠遮住图像的一部分。
# - `d2lite.load_record` 读取本书只训练了一次、记录在 `book/runs/` 里的完整配方：把它的 conv1 卷积核、
#   每个类别的召回率和混淆矩阵与本页的模型并排比较，用卷积核相邻权重的相关系数和最大的几个错误比例，
#   以数字说明两者的差别。
# - `d2lite.prepare_image` 把任意图片变成 Fashion-MNIST 的形式（灰度、黑底浅色、拉伸、裁剪、缩放、居中）；
#   数据集里从未变化过的东西，比如光照不均或侧放的服装，它消除不了。
#
# ## 练习
#
# 1. 把混淆矩阵对称化为 $C + C^\top$，列出最容易混淆的**无序**类别对。排名有变化吗？
# 2. 把 $C$ 的每一行归一化为和为 1，再画一次。Fashion-MNIST 的测试集是均衡的，每类 1000 张：
#    这对两幅图意味着什么？为什么这时精度和十个类别召回率的平均值是同一个数？什么情况下按行归一化的画法更合适？
# 3. 修改 `d2lite.predict(..., start=...)`，浏览测试集的其他部分，找一个你自己也会认错的例子。
# 4. 对最容易混淆的那对类别，打印每张错图在这两个类别上的 softmax 概率。模型是信心十足地犯错，还是几乎拿不定主意？
#    提示：网络输出的是未归一化的分数（logits），`predict_all` 只保留了其中最大值的位置。自己遍历 `test_iter`，
#    在 `eval` 模式和 `torch.inference_mode()` 下保存 `torch.softmax(net(X), dim=1)`（对全部 10 个类别），
#    再令 `t, q = pairs[0]`，在出错图像的下标处取第 `t` 列和第 `q` 列。这两个概率之和不一定是 1，
#    剩下的分给了其他八个类别。
# 5. 把第 4 章的模型分别训练 1 轮、3 轮和 10 轮，比较三个混淆矩阵。哪些错误最先消失？
# 6. 对同样的图像，在更早的层上计算 Grad-CAM：`layer="relu2"` 或 `"relu1"`。热力图有什么变化？为什么通常选最后一个卷积层？

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
# 上身衣物之间常常如此，衬衫会被认成 T恤，T恤也会被认成衬衫。下面的代码打印本页模型中最大的三对，并给出两个方向各自的次数。
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
# 每一行除以该行总数后，计数变成了比例：对角线变成每个类别的召回率，一行中其余的格子说明这一类的图像被分到了哪里。
# 在完整的测试集上每一行都是 1000 张图像，所以归一化后的矩阵就是 $C / 1000$：同一幅图，只是刻度不同。
# 精度是 $\sum_i C_{ii} / N = \sum_i (n_i / N)\,\text{recall}_i$，即各类召回率按该类图像所占的比例 $n_i / N$ 加权；
# 十个比例都是 $1/10$ 时，它恰好等于召回率的平均值。一旦各类别的图像数量不同，两者就会分开：在子集上
# （快速设置的 192 张图像并不是平均分配的），或者在任何不均衡的数据集上，精度偏向大类别；而按行归一化的画法和
# 召回率的平均值（也叫均衡精度）一样，不会让小类别的错误被大类别淹没。想知道“有多少张图像受影响”时，原始计数仍然是
# 正确的视角。代码打印本页这次运行的各类图像数、精度和召回率的平均值。
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
sizes = C.sum(dim=1)
acc, mean_recall = (C.trace() / C.sum()).item(), R.diag()[sizes > 0].mean().item()
print(f"每类图像数：{sizes.tolist()}")
print(f"精度 {acc:.4f}，召回率的平均值 {mean_recall:.4f}")
if sizes.min() == sizes.max():  # 均衡时两者必须相等
    assert abs(acc - mean_recall) < 1e-5

# %% [markdown]
# :::{admonition} 解答 3：浏览测试集
# :class: dropdown
# `start` 决定网格从测试集的哪个位置开始；代码展示接下来的 `n_show` 张图像，并列出其中认错的图像在测试集中的下标。
# 哪些错误你自己也会犯，要由你来判断：找一找看不出领子的衬衫，或者形状同样暗沉的套衫和外套。每次把 `start`
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
# 模型在情有可原的错误（衬衫与 T恤）上往往拿不定主意，而快速设置得到的模型几乎没学到东西，会把概率分散到许多
# 类别上。请以本页模型实际打印的数字为准，不要只听这段话。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 4 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 4 \u7684\u4ee3\u7801"}
if pairs:
    t, q = pairs[0]
    idx = torch.nonzero((labels == t) & (preds == q)).flatten()[:S["n_mistakes"]]
    X = as_input(idx)  # 与数据加载器的处理方式相同（见 5.6 节）
    net.eval()
    with torch.inference_mode():
        P = torch.softmax(net(X).float(), dim=1).cpu()  # (k, 10)
    assert torch.allclose(P.sum(dim=1), torch.ones(len(idx)), atol=1e-4)
    for k, i in enumerate(idx.tolist()):
        print(f"图像 {i}：P({names[t]}) = {P[k, t]:.2f}，P({names[q]}) = {P[k, q]:.2f}，"
              f"其他类别 {1 - P[k, t] - P[k, q]:.2f}")

# %% [markdown]
# :::{admonition} 解答 5：训练 1 轮、3 轮和 10 轮
# :class: dropdown
# 用相同的随机种子和设置，把第 4 章的模型分别训练 `num_epochs` 为 1、3、10 轮，每个检查点各存一个文件名，
# 再在这里逐个载入并计算混淆矩阵；把三个按行归一化的矩阵并排画出来，比较起来最方便。可以预期，外形毫不相似的
# 类别之间的错误（把包认成裤子、把鞋认成上衣）最先消失：模型一学会粗略的形状，它们就没有了。衬衫、T恤、
# 套衫和外套之间的混淆减少得最慢，10 轮之后仍会剩下一些，因为在 28×28 像素下，这几类只在领口和袖子附近差几个像素。
# 训练 10 轮需要 GPU，或者 CPU 上好几个小时（5.7 节）；在 CPU 上，用 CPU 设置分别训练 1、2、3 轮也能看出同样的趋势，
# 每次的训练规模按第 4 章的时间预算确定（机器上还有别的任务时会更久）。
# :::

# %% [markdown]
# :::{admonition} 解答 6：在更早的层上计算 Grad-CAM
# :class: dropdown
# 代码对 5.6 节里认错的那几件上衣，在三个层上画出预测类别的热力图：conv1 之后（$54\times54$）、conv2 之后
# （$26\times26$）和 conv5 之后（$12\times12$，也就是默认的层）。越早的层热力图越精细，但它们的通道检测的是每件衣服
# 都有的边缘和纹理，所以不管针对哪个类别，热力图往往都描出整个轮廓；它们的梯度也要穿过更多层才能到达得分。
# conv5 是最后一个仍保留空间布局的层（之后是汇聚、展平和全连接层），它的通道也最针对具体类别：这就是 Grad-CAM
# 通常在这里计算的原因，代价是热力图是从 $12\times12$ 放大来的，比较粗。本页三行图的差别有多大，取决于模型训练得怎么样。
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "\u663e\u793a\u89e3\u7b54 6 \u7684\u4ee3\u7801", "code_prompt_hide": "\u9690\u85cf\u89e3\u7b54 6 \u7684\u4ee3\u7801", "image": {"alt": "\u628a 5.6 \u8282\u4e2d\u8ba4\u9519\u7684\u51e0\u4ef6\u4e0a\u8863\u753b\u4e09\u904d\uff0c\u53e0\u4e0a\u9884\u6d4b\u7c7b\u522b\u7684 Grad-CAM \u70ed\u529b\u56fe\uff0c\u5206\u522b\u5728 conv1\u3001conv2 \u548c conv5 \u4e4b\u540e\u8ba1\u7b97\uff0c\u6bcf\u5c42\u4e00\u884c\u3002"}}
if misses:
    layers = ("relu1", "relu2", "relu5")  # conv1 (54x54)、conv2 (26x26)、conv5 (12x12) 之后
    cams6 = torch.cat([d2lite.grad_cam(net, as_input(misses), layer=name) for name in layers])
    d2lite.show_heatmaps(images[misses * len(layers)], cams6, num_cols=len(misses),
                         titles=[f"{name}：{names[preds[i]]} 的热力图"
                                 for name in layers for i in misses])
    plt.show()
