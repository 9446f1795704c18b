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
# # 2 AlexNet: from LeNet to AlexNet
#
# In the 2012 ImageNet challenge AlexNet won by a wide margin, and in doing so showed that features
# *learned* from data could beat features that researchers had spent years *designing* by hand.
# Its structure descends directly from LeNet; it is deeper and wider, and it changes the activation
# function and the regularisation. This chapter takes those differences one at a time and counts
# them with code.
#
# What you will learn:
#
# - AlexNet's key design choices relative to LeNet: depth, ReLU, dropout, shrinking convolution
#   windows, overlapping max-pooling, 4096-wide dense layers and the two-GPU split;
# - how to build the model with `d2lite.alexnet()` and trace the shape of a $1\times1\times224\times224$ input layer by layer;
# - how to count each layer's parameters and FLOPs with PyTorch's own FLOP counter;
# - how to draw a LeNet-vs-AlexNet diagram straight from the models' layer lists.
#
# ```{note}
# Nothing is trained here, only forward passes: this page took 4.5 s to execute in the full
# setting on a 2-core Intel Xeon CPU, and the quick setting takes about as long, since starting the
# kernel and importing PyTorch dominate. A machine busy with other jobs can take longer. Each run's
# measured time is stored in the notebook metadata under `d2lite.runtime_s`.
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# The parameters: the full and quick settings differ only in the batch size and number of repeats
# used for timing.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

QUICK = d2lite.is_quick()
FULL = dict(
    side=224,  # input side: AlexNet's geometry needs 224 (see chapter 3)
    dropout=0.5,  # the paper's value; the original tutorial used 0.9
    time_batch=16,  # batch used for timing: big enough for a stable per-image time
    time_repeats=3,  # timed repeats; the fastest one counts
)
QUICK_SETTING = dict(side=224, dropout=0.5, time_batch=2, time_repeats=1)
S = QUICK_SETTING if QUICK else FULL
print(
    f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} → {'quick' if QUICK else 'full'} setting: {S}"
)

# %% tags=["hide-input"]
import time

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyBboxPatch
from torch import nn

LANG = "en"  # language of the figure and table text
print("CJK font:", d2lite.use_cjk_font())

# %% tags=["hide-input"]
device = d2lite.try_gpu()
print(f"device: {device}, PyTorch {torch.__version__}")

# %% [markdown]
# ## 2.1 A short history
#
# Before AlexNet, computer vision mostly worked in two stages: a hand-designed feature extractor
# (SIFT, HOG and the like) followed by a classifier such as an SVM. Convolutional networks were not
# new. LeNet was reading handwritten digits in the 1990s, but on large natural images it had never
# beaten the hand-crafted pipelines.
#
# In 2012, AlexNet (Krizhevsky, Sutskever and Hinton) brought the ImageNet top-5 error down to 15.3%;
# the runner-up scored 26.2%. Three things came together: a million labelled images (ImageNet),
# GPUs that could do the arithmetic, and the design choices below, which made a deep network trainable.
#
# ## 2.2 The design choices
#
# The recipe is LeNet's: convolutions extract features, pooling shrinks the maps, dense layers
# classify. What changed:
#
# 1. **Depth.** Eight layers with weights: five convolutional, two dense hidden layers and one dense
#    output layer. LeNet has five.
# 2. **ReLU instead of sigmoid.** Cheaper to compute, and the gradient does not fade layer after layer (chapter 1).
# 3. **Shrinking windows.** The first convolution uses an $11\times11$ window with stride 4: the
#    ImageNet pictures the network sees are 224 pixels wide, eight times MNIST's 28, and their
#    objects are larger, so a big
#    window is needed to take in a meaningful patch. Later layers use $5\times5$, then three $3\times3$ in a row.
# 4. **Max-pooling.** A $3\times3$, stride-2 max-pool follows convolutions 1, 2 and 5. Because the window
#    is larger than the stride, neighbouring windows overlap. LeNet used $2\times2$ average pooling.
# 5. **Width.** Sixteen times LeNet's channels in the first two convolutions (96 and 256, against
#    LeNet's 6 and 16), and 384 in the two after them.
# 6. **Two 4096-wide dense layers**, which hold most of the parameters and are regularised with
#    **dropout** (LeNet relied on weight decay alone). The paper also used heavy data augmentation
#    (flips, crops, colour changes) against overfitting.
# 7. **The two-GPU split.** A GTX 580 of the time had 3 GB of memory, not enough to train the whole
#    model, so the paper split every layer's channels in half across two GPUs that exchanged data only
#    at certain layers. Memory is plentiful today, and this book's model is not split.
#
# ## 2.3 The model
#
# `d2lite.alexnet()` builds AlexNet layer by layer as the tutorial does, except that the input is a
# single grey channel and the output has Fashion-MNIST's 10 classes. Dropout defaults to the paper's
# 0.5; the tutorial used 0.9, which drops nine hidden units out of ten and slows training down.

# %%
net = d2lite.alexnet(dropout=S["dropout"])
print(net)

# %% [markdown]
# ## 2.4 Tracing the shapes
#
# A single-channel input 224 pixels on a side goes through the network one layer at a time, and we
# record each output shape. `d2lite.trace_shapes` also records each layer's parameters and FLOPs,
# which we use below.

# %%
X = torch.randn(1, 1, S["side"], S["side"])  # (batch, channels, height, width)
rows = d2lite.trace_shapes(net, X)
print(f"{'layer':<10}{'output shape':<22}")
for r in rows:
    print(f"{r.layer:<10}{str(list(r.output_shape)):<22}")

# %% [markdown]
# Now compare it, row by row, with the table the original tutorial printed (typed in from the
# tutorial, not produced by this code):

# %%
SEED_TABLE = [  # the tutorial's output: layer name and output shape
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
print(
    "identical to the tutorial's shape table:",
    [(r.layer, r.output_shape) for r in rows] == SEED_TABLE,
)

# %% [markdown]
# The output-size formula explains every step: a side of $n$ with window $k$, padding $p$ and
# stride $s$ becomes $\lfloor (n + 2p - k)/s \rfloor + 1$. The first convolution gives
# $\lfloor (224 + 2 - 11)/4 \rfloor + 1 = 54$, the first pooling $\lfloor (54 - 3)/2 \rfloor + 1 = 26$.
# The last pooling leaves $256\times5\times5$, which flattens to exactly the 6400 inputs of the first dense layer.
#
# ## 2.5 Parameters and FLOPs
#
# Only convolutional and dense layers have parameters. FLOPs come from PyTorch's own
# `torch.utils.flop_counter`, which counts a multiply-add as 2. The layers with weights:

# %%
weighted = [r for r in rows if r.params > 0]
names = [f"conv{i + 1}" for i in range(5)] + [f"fc{i + 6}" for i in range(3)]
total_params, total_flops = sum(r.params for r in rows), sum(r.flops for r in rows)
print(f"{'layer':<8}{'output':<20}{'params':>12}{'share':>8}{'MFLOP':>10}{'share':>8}")
for name, r in zip(names, weighted):
    print(
        f"{name:<8}{str(list(r.output_shape[1:])):<20}{r.params:>12,}{r.params / total_params:>8.1%}"
        f"{r.flops / 1e6:>10.1f}{r.flops / total_flops:>8.1%}"
    )
print(f"total: {total_params:,} parameters, {total_flops / 1e9:.3f} GFLOP per image (forward)")

# %% [markdown]
# These numbers can be checked by hand. A convolution has $c_\text{out}(c_\text{in}k^2 + 1)$
# parameters and $2\,c_\text{out} h_\text{out} w_\text{out} c_\text{in} k^2$ FLOPs; a dense layer has
# $n_\text{out}(n_\text{in}+1)$ parameters and $2 n_\text{in} n_\text{out}$ FLOPs. For conv2 and fc6:

# %%
conv2 = dict(params=256 * (96 * 5 * 5 + 1), flops=2 * 256 * 26 * 26 * 96 * 5 * 5)
fc6 = dict(params=4096 * (6400 + 1), flops=2 * 6400 * 4096)
print(
    "conv2 by hand matches the counter:",
    (conv2["params"], conv2["flops"]) == (weighted[1].params, weighted[1].flops),
)
print(
    "fc6 by hand matches the counter:",
    (fc6["params"], fc6["flops"]) == (weighted[5].params, weighted[5].flops),
)

# %% [markdown]
# Plotting the two shares shows the division of labour: the convolutions hold about 8% of the
# parameters but do over 95% of the arithmetic; the dense layers are the other way round.

# %% mystnb={"image": {"alt": "Bar chart for each layer of AlexNet with weights: its share of the parameters and its share of the FLOPs. The convolutions have small parameter shares and large FLOP shares; fc6 and fc7 the reverse."}}
fig, ax = plt.subplots(figsize=(7, 3))
pos = torch.arange(len(names)).float()
ax.bar(pos - 0.2, [r.params / total_params for r in weighted], 0.4, label="share of parameters")
ax.bar(pos + 0.2, [r.flops / total_flops for r in weighted], 0.4, label="share of FLOPs")
d2lite.set_axes(
    ax, "layer", "fraction of the whole network", legend=["share of parameters", "share of FLOPs"]
)
ax.set_xticks(pos.tolist(), names)
ax.set_title("AlexNet: parameters and compute per layer")
fig.tight_layout()

# %% [markdown]
# ```{note}
# The tutorial (like many texts) says the two 4096-wide dense layers hold "nearly 1 GB of
# parameters". Counting says otherwise: here fc6 and fc7 have about 43 million parameters, 172 MB in
# 32-bit floats; in the paper, whose fc6 has 9216 inputs, about 54.5 million, 218 MB. Training adds
# a gradient and a momentum value for every parameter, so the paper's whole network (about 60
# million parameters) needs about 0.7 GB for these three copies. The activations cost about as much
# again: the output shapes in the trace above add up to 1.34 million numbers per image (5.4 MB), the
# backward pass needs most of them kept, and the paper's batches of 128 images make that about
# 0.7 GB. Together, before any working space, that is nearly half of a GTX 580's 3 GB; the paper
# names this memory as the limit on the size of network it could train, and splitting every layer
# across two cards halved the load on each.
# ```
#
# FLOPs only mean something on real hardware. We run a few forward passes on one batch (evaluation
# mode, no gradients) and keep the fastest:

# %%
net_dev = net.to(device).eval()
Xb = torch.randn(S["time_batch"], 1, S["side"], S["side"], device=device)
times = []
with torch.inference_mode():
    net_dev(Xb)  # one warm-up pass, not timed
    for _ in range(S["time_repeats"]):
        start = time.perf_counter()
        net_dev(Xb).sum().item()  # .item() waits for the GPU to finish
        times.append(time.perf_counter() - start)
per_image = min(times) / S["time_batch"]
print(
    f"{device}, batch {S['time_batch']}: {per_image * 1e3:.1f} ms per image, "
    f"about {total_flops / per_image / 1e9:.1f} GFLOP/s (forward only)"
)

# %% [markdown]
# A training step also runs the backward pass, roughly three times the forward cost in total. As
# chapter 4 shows, that is why training AlexNet on a CPU is slow.
#
# ## 2.6 LeNet and AlexNet side by side
#
# The tutorial compared the two networks with a picture. We draw it from the models' layer lists:
# one box per layer, its configuration inside, its output shape to the right. First, the text that
# describes a layer:

# %%
TEXT = dict(
    input="input {shape}",
    conv="conv {k}×{k}, {c} channels, stride {s}, pad {p}",
    maxpool="max-pool {k}×{k}, stride {s}",
    avgpool="avg-pool {k}×{k}, stride {s}",
    linear="dense {n}",
    dropout=", dropout",
    lenet="LeNet (28×28 input)",
    alexnet="AlexNet (224×224 input)",
)


def describe(net, X, rows):
    """Fold a network into boxes (kind, text, output shape); activations and dropout join the layer before.
    rows is the network's d2lite.trace_shapes table."""
    boxes = [("input", TEXT["input"].format(shape="×".join(map(str, X.shape[1:]))), "")]
    for layer, r in zip(net, rows):
        shape = "×".join(map(str, r.output_shape[1:]))
        if isinstance(layer, nn.Conv2d):
            k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
            boxes.append(("conv", TEXT["conv"].format(k=k, c=layer.out_channels, s=s, p=p), shape))
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = "maxpool" if isinstance(layer, nn.MaxPool2d) else "avgpool"
            boxes.append(("pool", TEXT[kind].format(k=layer.kernel_size, s=layer.stride), shape))
        elif isinstance(layer, nn.Linear):
            boxes.append(("linear", TEXT["linear"].format(n=layer.out_features), shape))
        elif isinstance(layer, (nn.ReLU, nn.Sigmoid)):
            kind, text, shape = boxes[-1]
            boxes[-1] = (kind, f"{text}, {type(layer).__name__}", shape)
        elif isinstance(layer, nn.Dropout):
            boxes[-1] = (boxes[-1][0], boxes[-1][1] + TEXT["dropout"], boxes[-1][2])
    return boxes


lenet, X_lenet = d2lite.lenet(), torch.randn(1, 1, 28, 28)
lenet_rows = d2lite.trace_shapes(lenet, X_lenet)
describe(lenet, X_lenet, lenet_rows)

# %% [markdown]
# Then draw the boxes, coloured by kind. Both networks use the same box height, so LeNet's column is
# visibly shorter:

# %% mystnb={"image": {"alt": "Two columns of boxes, one box per layer from the input at the top: LeNet on the left, short, and AlexNet on the right, much longer. Each box names the layer and its settings, with its output shape beside it; convolutions, pooling and dense layers are coloured differently."}}
COLORS = dict(input="#eeeeee", conv="#a6cee3", pool="#b2df8a", linear="#fdbf6f")


def draw_boxes(ax, boxes, title):
    ax.set_xlim(0, 10)
    ax.set_ylim(-12.5, 0.8)
    ax.axis("off")
    ax.set_title(title)
    for i, (kind, text, shape) in enumerate(boxes):
        y = -i  # top to bottom: the input is at the top
        ax.add_patch(
            FancyBboxPatch(
                (0.2, y - 0.35), 6.6, 0.7, boxstyle="round,pad=0.02", fc=COLORS[kind], ec="#555555"
            )
        )
        ax.text(3.5, y, text, ha="center", va="center", fontsize=8)
        ax.text(7.0, y, shape, ha="left", va="center", fontsize=8, color="#333333")
        if i:
            ax.annotate("", (3.5, y + 0.36), (3.5, y + 0.64), arrowprops=dict(arrowstyle="->"))


fig, axes = plt.subplots(1, 2, figsize=(11, 6.5))
draw_boxes(axes[0], describe(lenet, X_lenet, lenet_rows), TEXT["lenet"])
draw_boxes(axes[1], describe(net, X, rows), TEXT["alexnet"])
fig.tight_layout()

# %% [markdown]
# Finally, the headline numbers in one table, every one of them counted from the models:


# %%
def summary(model, rows):
    layers = [type(m).__name__ for m in model]
    return dict(
        weight_layers=layers.count("Conv2d") + layers.count("Linear"),
        convs=layers.count("Conv2d"),
        params=sum(r.params for r in rows),
        flops=sum(r.flops for r in rows),
        act="sigmoid" if "Sigmoid" in layers else "ReLU",
        pool="max" if "MaxPool2d" in layers else "average",
        dropout="yes" if "Dropout" in layers else "no",
    )


def cols(text):
    return sum(
        2 if ord(ch) > 0x2E7F else 1 for ch in text
    )  # a Chinese character is two columns wide


table = {"LeNet": summary(lenet, lenet_rows), "AlexNet": summary(net, rows)}
labels = dict(
    weight_layers="layers with weights",
    convs="  of which conv",
    params="parameters",
    flops="FLOPs per image",
    act="activation",
    pool="pooling",
    dropout="dropout",
)
for key, label in labels.items():
    a, b = (
        f"{v:,}" if key in ("params", "flops") else str(v)
        for v in (table["LeNet"][key], table["AlexNet"][key])
    )
    print(label + " " * (20 - cols(label)), " " * (14 - cols(a)) + a, " " * (16 - cols(b)) + b)
print(
    f"AlexNet / LeNet: {table['AlexNet']['params'] / table['LeNet']['params']:.0f}× the parameters, "
    f"{table['AlexNet']['flops'] / table['LeNet']['flops']:.0f}× the compute"
)

# %% [markdown]
# About 760 times the parameters and more than two thousand times the compute per image. A network
# of that size only pays off with a dataset as large as ImageNet and hardware like GPUs, which is why
# it did not appear before 2012.
#
# ## Summary
#
# - AlexNet has eight layers with weights (5 convolutional + 3 dense), uses ReLU instead of sigmoid,
#   fights overfitting with dropout and data augmentation, shrinks its windows from $11\times11$ to
#   $5\times5$ to $3\times3$, and max-pools ($3\times3$, stride 2) after convolutions 1, 2 and 5.
# - A $1\times1\times224\times224$ input becomes $96\times54\times54$, …, $256\times5\times5$ and
#   flattens to 6400 values, exactly as in the tutorial's table.
# - This book's model has 46,764,746 parameters and needs 1.876 GFLOP per image for a forward pass
#   (PyTorch's FLOP counter). Dense layers hold about 92% of the parameters; convolutions do over 95% of the compute.
# - Compared with LeNet, AlexNet has about 760 times the parameters and over two thousand times the compute.
#
# ## Exercises
#
# 1. Change the first convolution's stride from 4 to 2. How do the shapes change, which layer
#    complains, and why? (Hint: the input-size check in `d2lite.AlexNet.forward` assumes stride 4
#    and lets a $224\times224$ input through; rerun the shape trace in section 2.4, compare its
#    Flatten row with fc6's 6400 inputs, and redo the output-size formula with $s=2$.)
# 2. Remove fc6 and fc7 and connect the 6400 features straight to the 10 outputs. How many parameters
#    and FLOPs does that save?
# 3. The paper's inputs are $3\times224\times224$ colour images. Count the parameters of
#    `d2lite.alexnet(in_channels=3, num_classes=1000)`.
# 4. Build a ReLU LeNet with `d2lite.lenet(activation="relu")`. What changes in the diagram?

# %% [markdown]
# ## Solutions
#
# Each solution is folded: try the exercise first, then open it. The code of each solution runs
# with the rest of the notebook (the tests run it too, in the quick setting), and the figures
# quoted in the text are this page's.

# %% [markdown]
# :::{admonition} Solution 1: stride 2
# :class: dropdown
# With stride 2 the first convolution gives $\lfloor(224 + 2 - 11)/2\rfloor + 1 = 108$ pixels a
# side instead of 54, and the max-pools then give 53, 26 and 12. The convolutions themselves accept
# any size, so nothing complains until the Flatten row: $256 \times 12 \times 12 = 36{,}864$
# features arrive at fc6, which was built for 6,400, and its matrix product fails. The input-size
# check in `d2lite.AlexNet.forward` computes with stride 4, so it lets the $224\times224$ input
# through; the shape trace (which runs the layers one by one, as the code does) shows where it
# really breaks. fc6 would need 36,864 inputs, about 151 million weights on its own.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 1", "code_prompt_hide": "Hide the code of solution 1"}
net_s2 = d2lite.alexnet()
net_s2[0].stride = (2, 2)  # the first convolution, now with stride 2
h = torch.randn(1, 1, 224, 224)
for layer in net_s2:
    try:
        h = layer(h)
    except RuntimeError as err:
        print(f"{type(layer).__name__} fails: {str(err).splitlines()[0]}")
        break
    if not isinstance(layer, (nn.ReLU, nn.Dropout)):
        print(f"{type(layer).__name__:>10} -> {tuple(h.shape)}")
assert h.shape[1] == 256 * 12 * 12  # Flatten gives 36,864 features, fc6 expects 6,400

# %% [markdown]
# :::{admonition} Solution 2: no fc6 and fc7
# :class: dropdown
# Connecting the 6,400 features straight to the 10 outputs saves 42,976,768 parameters, 91.9% of
# the network, but only 85.9 million of its 1.88 billion FLOPs per image, 4.6%. The dense layers
# hold the parameters; the convolutions do the arithmetic. A network this small in its head would
# train faster per step only a little, and it loses the capacity that fc6 and fc7 add (and that
# dropout keeps in check).
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 2", "code_prompt_hide": "Hide the code of solution 2"}
k = next(i for i, m in enumerate(net) if isinstance(m, nn.Flatten))
short = nn.Sequential(*list(net)[: k + 1], nn.Linear(6400, 10))  # conv part + one dense layer
short_rows = d2lite.trace_shapes(short, X)
p0, f0 = sum(r.params for r in rows), sum(r.flops for r in rows)
p1, f1 = sum(r.params for r in short_rows), sum(r.flops for r in short_rows)
print(f"parameters: {p0:,} -> {p1:,} (saves {p0 - p1:,}, {(p0 - p1) / p0:.1%})")
print(f"FLOPs:      {f0:,} -> {f1:,} (saves {f0 - f1:,}, {(f0 - f1) / f0:.1%})")
assert p0 - p1 == 6400 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 10 + 10 - (6400 * 10 + 10)

# %% [markdown]
# :::{admonition} Solution 3: the paper's input and classes
# :class: dropdown
# With 3 input channels and 1,000 classes the model has 50,844,008 parameters, 4,079,262 more than
# this book's: $96 \times 2 \times 11^2 = 23{,}232$ in the first convolution (two more input
# channels) and $4096 \times 990 + 990 = 4{,}056{,}030$ in the last layer (990 more classes); the
# code checks that sum. The paper reports about 60 million. Most of the gap is fc6: in the paper it
# sees a $6\times6\times256$ map, 9,216 inputs and 37.7 million weights, where this book's layout
# gives $5\times5\times256$, 6,400 inputs and 26.2 million.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 3", "code_prompt_hide": "Hide the code of solution 3"}
big = d2lite.alexnet(in_channels=3, num_classes=1000)
n_big = sum(p.numel() for p in big.parameters())
n_ours = sum(p.numel() for p in net.parameters())
print(f"3 channels, 1000 classes: {n_big:,} parameters ({n_big - n_ours:,} more than ours)")
conv1_extra = 96 * 2 * 11 * 11  # two more input channels in the first convolution
fc8_extra = 4096 * 990 + 990  # 990 more classes in the last layer
assert n_big - n_ours == conv1_extra + fc8_extra

# %% [markdown]
# :::{admonition} Solution 4: a ReLU LeNet
# :class: dropdown
# Only the activation names in four boxes change, Sigmoid to ReLU (the two convolutions and the two
# hidden dense layers): the code prints exactly those boxes. The shapes, the parameter count and the
# average pooling stay the same, so the diagram has the same boxes at the same heights. An
# activation has no weights and does not change a shape, which is why the diagram folds it into the
# layer before it.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 4", "code_prompt_hide": "Hide the code of solution 4"}
relu_lenet = d2lite.lenet(activation="relu")
relu_rows = d2lite.trace_shapes(relu_lenet, X_lenet)
old, new = describe(lenet, X_lenet, lenet_rows), describe(relu_lenet, X_lenet, relu_rows)
for a, b in zip(old, new):
    if a != b:
        print(f"{a[1]:<40} -> {b[1]}")
print("same shapes:", [a[2] for a in old] == [b[2] for b in new],
      " same parameters:", sum(r.params for r in relu_rows) == sum(r.params for r in lenet_rows))
assert summary(relu_lenet, relu_rows)["act"] == "ReLU"
assert not any(isinstance(m, nn.MaxPool2d) for m in relu_lenet)  # still average pooling
