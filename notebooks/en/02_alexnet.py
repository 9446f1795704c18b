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
# **What you will learn**
#
# - AlexNet's key design choices relative to LeNet: depth, ReLU, dropout and weight decay, shrinking
#   convolution windows, overlapping max-pooling, 4096-wide dense layers and the two-GPU split;
# - what the paper did that this book's model does not: local response normalisation, a
#   $227\times227$ input that gives $6\times6$ final maps, random crops and flips;
# - how to build the model with `d2lite.alexnet()` and trace the shape of a $1\times1\times224\times224$ input layer by layer;
# - how to count each layer's parameters and FLOPs with PyTorch's own FLOP counter;
# - how to draw a LeNet-vs-AlexNet diagram straight from the models' layer lists with `d2lite.draw_layers`.
#
# ```{note}
# Nothing here is trained except in exercise 4, which trains three small LeNets on 28×28 images;
# the rest are forward passes, so everything runs on a CPU.
# The time this page took, with its setting and hardware, is in the run note under the title
# (on the website) and in the notebook's metadata under `d2lite`.
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# The parameters: the full and quick settings differ in the batch size and number of repeats used
# for timing, and in how many steps exercise 4 trains.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

QUICK = d2lite.is_quick()
FULL = dict(
    side=224,  # input side: AlexNet's geometry needs 224 (see chapter 3)
    dropout=0.5,  # the paper's value; the original tutorial used 0.9
    time_batch=16,  # batch used for timing: big enough for a stable per-image time
    time_repeats=3,  # timed repeats; the fastest one counts
    train_steps=400,  # exercise 4: at most 400 steps of 128 images, under one epoch
)
QUICK_SETTING = dict(side=224, dropout=0.5, time_batch=2, time_repeats=1, train_steps=20)
S = QUICK_SETTING if QUICK else FULL
print(
    f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} → {'quick' if QUICK else 'full'} setting: {S}"
)

# %% tags=["hide-input"]
import itertools
import math
import time

import matplotlib.pyplot as plt
import torch
from IPython.display import HTML, display
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
# In 2012, AlexNet (Krizhevsky, Sutskever and Hinton) brought the ImageNet top-5 error down to
# 15.3%[^paper]; the runner-up scored 26.2%[^paper]. Three things came together: a million labelled images (ImageNet),
# GPUs that could do the arithmetic, and the design choices below, which made a deep network trainable.
#
# ## 2.2 The design choices
#
# The recipe is LeNet's: convolutions extract features, pooling shrinks the maps, dense layers
# classify. What changed:
#
# 1. **Depth.** Eight layers with weights: five convolutional, two dense hidden layers and one dense
#    output layer. LeNet has five.
# 2. **ReLU instead of a saturating activation.** Cheaper to compute, and the gradient does not fade
#    layer after layer (chapter 1). This book's LeNet, like the tutorial's and d2l's, uses sigmoid,
#    but the paper compared ReLU with tanh: in its Figure 1 a four-layer CNN on CIFAR-10 reached 25%[^paper]
#    training error six times faster with ReLU than with tanh. LeNet-5 itself used a scaled tanh,
#    $1.7159\tanh(2a/3)$. Exercise 4 puts the comparison to a test on LeNet.
# 3. **Shrinking windows.** The first convolution uses an $11\times11$ window with stride 4: the
#    ImageNet pictures the network sees are 224 pixels wide, eight times MNIST's 28, and their
#    objects are larger, so a big window is needed to take in a meaningful patch. Later layers use
#    $5\times5$, then three $3\times3$ in a row.
# 4. **Max-pooling.** A $3\times3$, stride-2 max-pool follows convolutions 1, 2 and 5. Because the window
#    is larger than the stride, neighbouring windows overlap. LeNet used $2\times2$ average pooling.
# 5. **Width.** Sixteen times LeNet's channels in the first two convolutions (96 and 256, against
#    LeNet's 6 and 16), and 384 in the two after them.
# 6. **Two 4096-wide dense layers**, which hold most of the parameters and are regularised with
#    **dropout** (p = 0.5 in the paper). The tutorial says LeNet relied on weight decay alone;
#    AlexNet kept weight decay as well: it trained with SGD, momentum 0.9 and weight decay
#    0.0005[^paper], and the paper found that this small amount mattered for learning at all (it
#    lowered the training error, not only the test error). Chapter 4 trains with the paper's value.
# 7. **Data augmentation.** The paper rescaled every ImageNet image so that its shorter side was 256
#    pixels and cut out the central $256\times256$; training then used random $224\times224$ crops of
#    it and their horizontal mirror images (plus a colour jitter along the principal components of
#    the RGB pixels), and testing averaged the predictions for ten $224\times224$ patches. This book
#    enlarges each whole $28\times28$ image to 224 (chapter 3) and does not augment.
# 8. **The two-GPU split.** A GTX 580 of the time had 3 GB of memory, not enough to train the whole
#    model, so the paper split every layer's channels in half across two GPUs that exchanged data only
#    at certain layers. Memory is plentiful today, and this book's model is not split.
#
# One part of the paper is left out here, as in the tutorial and d2l: **local response
# normalisation** (LRN), which divided each ReLU output of convolutions 1 and 2 by the activity of
# neighbouring channels at the same position. The paper credited it with 1.4[^paper] and 1.2[^paper]
# points off its top-1 and top-5 errors, but later work did not find the benefit: VGG (Simonyan and Zisserman,
# 2014) reported that LRN did not lower the error on ImageNet while costing memory and time, and
# batch normalisation (Ioffe and Szegedy, 2015) took over the job of keeping activations at a
# steady scale.
#
# ```{note}
# Two figures in this list correct the tutorial. It says ImageNet's images are more than ten times
# as wide and tall as MNIST's; that is true of many photographs as stored, a few hundred pixels a
# side, but the network sees them at 224 pixels, eight times 28. It also says AlexNet has ten times
# LeNet's channels; counting gives sixteen ($96/6 = 256/16 = 16$), and 24 for the 384-channel
# layers.
# ```
#
# ## 2.3 The model
#
# `d2lite.alexnet()` builds AlexNet layer by layer as the tutorial does, except that the input is a
# single grey channel and the output has Fashion-MNIST's 10 classes. Dropout defaults to the paper's
# 0.5; the tutorial used 0.9, which drops nine hidden units out of ten and slows training down.
#
# [^paper]: A. Krizhevsky, I. Sutskever and G. E. Hinton, *ImageNet Classification with Deep
#     Convolutional Neural Networks*, NIPS 2012: the ILSVRC-2012 results (top-5 test error 15.3%
#     against 26.2% for the second-best entry), Figure 1 (ReLU against tanh on CIFAR-10), section 3.3
#     (local response normalisation: 1.4 and 1.2 points off top-1 and top-5) and section 5 (SGD,
#     momentum 0.9, weight decay 0.0005).

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
# The paper's geometry differs. Its first convolution has no padding, where the tutorial's (and so
# this book's) has `padding=1`, and its feature maps are $55\times55$, $27\times27$, $13\times13$ and
# finally $6\times6$, so fc6 receives $6\times6\times256 = 9216$ inputs. The paper's text gives the
# input as $224\times224$, but $55$ only comes out of $\lfloor (227 - 11)/4 \rfloor + 1$: the
# arithmetic needs $227\times227$, a known slip. The same trace on a copy laid out that way (three
# colour channels, no padding in conv1, fc6 resized to 9216 inputs) checks both columns:

# %%
paper = d2lite.alexnet(in_channels=3, num_classes=1000)
paper[0].padding = (0, 0)  # the paper's conv1 has no padding
paper[14] = nn.Linear(256 * 6 * 6, 4096)  # fc6 sized for the 6x6 map it now receives
paper_rows = d2lite.trace_shapes(paper, torch.randn(1, 3, 227, 227))
print(f"{'layer':<11}{'this book (224, pad 1)':<24}{'the paper (227, no pad)'}")
for i in (0, 2, 5, 12, 13):  # conv1 and the three pools, then Flatten
    print(f"{rows[i].layer:<11}{str(list(rows[i].output_shape[1:])):<24}{list(paper_rows[i].output_shape[1:])}")
print(f"fc6 inputs: {rows[13].output_shape[1]} here, {paper_rows[13].output_shape[1]} in the paper")

# %% [markdown]
# The three extra pixels a side in the last map cost fc6 $4096 \times (9216 - 6400) \approx 11.5$
# million weights; solution 3 comes back to this.
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
conv_params = d2lite.glue("conv_param_share", sum(r.params for r in weighted[:5]) / total_params)
conv_flops = d2lite.glue("conv_flop_share", sum(r.flops for r in weighted[:5]) / total_flops)
dense_params = d2lite.glue("dense_param_share", sum(r.params for r in weighted[5:]) / total_params)
print(f"conv1-conv5: {conv_params:.1%} of the parameters, {conv_flops:.1%} of the FLOPs; "
      f"fc6-fc8: {dense_params:.1%} of the parameters")

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
# Plotting the two shares shows the division of labour: the convolutions hold about
# {glue:text}`conv_param_share:.0%` of the parameters but do {glue:text}`conv_flop_share:.1%` of
# the arithmetic (the last line above); the dense layers are the other way round.

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
# The tutorial (like many texts) says the two 4096-wide dense layers hold "nearly 1 GB of
# parameters". The model can say how much memory training it takes: its parameters in 32-bit
# floats, a gradient and a momentum value for each, and the outputs of every layer, which the
# backward pass needs.

# %%
fc67 = {key: sum(p.numel() for i in (14, 17) for p in model[i].parameters())  # fc6 and fc7
        for key, model in (("here", net), ("paper", paper))}
acts = sum(math.prod(r.output_shape) for r in rows)  # every layer's output for one image
memory = dict(  # glued for the note below
    fc67_here=f"{fc67['here'] / 1e6:.0f} million", fc67_here_mb=fc67["here"] * 4 / 1e6,
    fc67_paper=f"{fc67['paper'] / 1e6:.1f} million", fc67_paper_mb=fc67["paper"] * 4 / 1e6,
    state_gb=3 * 60e6 * 4 / 1e9,  # weights, gradients, momentum of the paper's 60 M parameters
    acts=f"{acts / 1e6:.2f} million", acts_mb=acts * 4 / 1e6,
    acts_gb=acts * 4 * 128 / 1e9)  # the paper's batches of 128
for key, value in memory.items():
    d2lite.glue(key, value)
print(f"fc6 + fc7: {fc67['here']:,} parameters here ({memory['fc67_here_mb']:.0f} MB), "
      f"{fc67['paper']:,} in the paper's layout ({memory['fc67_paper_mb']:.0f} MB)")
print(f"60 million parameters with their gradients and momentum: {memory['state_gb']:.2f} GB")
print(f"activations: {acts:,} numbers per image ({memory['acts_mb']:.1f} MB), "
      f"{memory['acts_gb']:.2f} GB for a batch of 128")

# %% [markdown]
# ```{note}
# Counting says otherwise: here fc6 and fc7 have {glue:text}`fc67_here` parameters,
# {glue:text}`fc67_here_mb:.0f` MB in 32-bit floats; in the paper, whose fc6 has 9216 inputs,
# {glue:text}`fc67_paper`, {glue:text}`fc67_paper_mb:.0f` MB. Training adds a gradient and a
# momentum value for every parameter, so the paper's whole network (about 60 million parameters)
# needs about {glue:text}`state_gb:.1f` GB for these three copies. The activations cost about as
# much again: the output shapes in the trace above add up to {glue:text}`acts` numbers per image
# ({glue:text}`acts_mb:.1f` MB), the backward pass needs most of them kept, and the paper's
# batches of 128 images make that about {glue:text}`acts_gb:.1f` GB. Together, before any working space, that is nearly half of a GTX 580's 3 GB; the paper
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
# The tutorial compared the two networks with a picture. `d2lite.draw_layers` draws it from the
# models themselves: one box per convolution, pooling or dense layer, its settings inside and its
# output shape (from `trace_shapes`) to the right; an activation or dropout joins the box of the
# layer before it, since it changes no shape. The two columns share their y-axis, so both networks
# get the same box height and LeNet's column is visibly shorter:

# %% mystnb={"image": {"alt": "Two columns of boxes, one box per layer from the input at the top: LeNet on the left, short, and AlexNet on the right, much longer. Each box names the layer and its settings, with its output shape beside it; convolutions, pooling and dense layers are coloured differently."}}
lenet, X_lenet = d2lite.lenet(), torch.randn(1, 1, 28, 28)
fig, axes = plt.subplots(1, 2, figsize=(11, 6.5), sharey=True)
lenet_boxes = d2lite.draw_layers(lenet, X_lenet, ax=axes[0], title="LeNet (28×28 input)", lang=LANG)
alexnet_boxes = d2lite.draw_layers(net, X, ax=axes[1], title="AlexNet (224×224 input)", lang=LANG)
fig.tight_layout()

# %% [markdown]
# Finally, the headline numbers in one table, every one of them counted from the models:


# %%
def summary(model, X):
    rows, layers = d2lite.trace_shapes(model, X), [type(m).__name__ for m in model]
    return dict(
        weight_layers=layers.count("Conv2d") + layers.count("Linear"),
        convs=layers.count("Conv2d"),
        params=sum(r.params for r in rows),
        flops=sum(r.flops for r in rows),
        act="sigmoid" if "Sigmoid" in layers else "ReLU",
        pool="max" if "MaxPool2d" in layers else "average",
        dropout="yes" if "Dropout" in layers else "no",
    )


labels = dict(weight_layers="layers with weights", convs="of which convolutional",
              params="parameters", flops="FLOPs per image", act="activation",
              pool="pooling", dropout="dropout")
table = {"LeNet": summary(lenet, X_lenet), "AlexNet": summary(net, X)}
html = "<tr><th>counted from the model</th><th>LeNet</th><th>AlexNet</th></tr>"
for key, label in labels.items():
    a, b = (f"{t[key]:,}" if isinstance(t[key], int) else t[key] for t in table.values())
    html += f"<tr><td>{label}</td><td>{a}</td><td>{b}</td></tr>"
display(HTML(f"<table>{html}</table>"))
ratios = {key: d2lite.glue(f"{key}_ratio", table["AlexNet"][key] / table["LeNet"][key])
          for key in ("params", "flops")}
print(f"AlexNet / LeNet: {ratios['params']:.0f}× the parameters, {ratios['flops']:.0f}× the compute")

# %% [markdown]
# About {glue:text}`params_ratio:.0f` times the parameters and {glue:text}`flops_ratio:.0f` times
# the compute per image. A network
# of that size only pays off with a dataset as large as ImageNet and hardware like GPUs, which is why
# it did not appear before 2012.
#
# ## Summary
#
# - AlexNet has eight layers with weights (5 convolutional + 3 dense), uses ReLU (the paper's
#   comparison was with tanh, six times slower to 25%[^paper] training error on CIFAR-10), fights
#   overfitting with dropout, weight decay (0.0005[^paper]) and data augmentation (random $224\times224$
#   crops of images rescaled to 256 on the short side, and their mirror images), shrinks its windows
#   from $11\times11$ to $5\times5$ to $3\times3$, and max-pools ($3\times3$, stride 2) after
#   convolutions 1, 2 and 5. Local response normalisation, in the paper, is left out: later work
#   found no benefit, and batch normalisation replaced it.
# - A $1\times1\times224\times224$ input becomes $96\times54\times54$, …, $256\times5\times5$ and
#   flattens to 6400 values, exactly as in the tutorial's table. The paper's layout (a $227\times227$
#   input, no padding in conv1) gives $55\times55$ first and $6\times6\times256 = 9216$ values for fc6.
# - This book's model has 46,764,746 parameters and needs 1.876 GFLOP per image for a forward pass
#   (PyTorch's FLOP counter). Dense layers hold about {glue:text}`dense_param_share:.0%` of the
#   parameters; convolutions do {glue:text}`conv_flop_share:.1%` of the compute.
# - Compared with LeNet, AlexNet has about {glue:text}`params_ratio:.0f` times the parameters and
#   {glue:text}`flops_ratio:.0f` times the compute.
#
# ## Exercises
#
# 1. Change the first convolution's stride from 4 to 2. How do the shapes change, which layer
#    complains, and why? (Hint: the input-size check in `d2lite.AlexNet.forward` assumes stride 4
#    and lets a $224\times224$ input through; rerun the shape trace in section 2.4, compare its
#    Flatten row with fc6's 6400 inputs, and redo the output-size formula with $s=2$.)
# 2. Remove fc6 and fc7 and connect the 6400 features straight to the 10 outputs. How many parameters
#    and FLOPs does that save?
# 3. The paper's inputs are colour images with three channels. Count the parameters of
#    `d2lite.alexnet(in_channels=3, num_classes=1000)`. How far is that from the paper's 60 million,
#    and where does the difference come from?
# 4. Does the paper's Figure 1 hold for LeNet on Fashion-MNIST? Train three LeNets on the $28\times28$
#    images, one each with sigmoid, tanh and ReLU (replace the `nn.Sigmoid` modules of
#    `d2lite.lenet()`), from the same initialisation (`d2lite.init_weights`), with SGD (learning
#    rate 0.1, momentum 0.9) and batches of 128, for at most `train_steps` steps. How many steps does
#    each need before its training error, averaged over the last 20 batches, falls below 25%?
#    (At most 1200 small steps in all; the code prints how long they took.)

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
# features arrive at fc6, which was built for 6400, and its matrix product fails. The input-size
# check in `d2lite.AlexNet.forward` computes with stride 4, so it lets the $224\times224$ input
# through; the shape trace (which runs the layers one by one, as the code does) shows where it
# really breaks. fc6 would need 36,864 inputs, {glue:text}`fc6_stride2` weights on its own.
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
assert h.shape[1] == 256 * 12 * 12  # Flatten gives 36,864 features, fc6 expects 6400
weights = d2lite.glue("fc6_stride2", f"{h.shape[1] * 4096 / 1e6:.0f} million")
print(f"an fc6 for {h.shape[1]:,} inputs: {h.shape[1] * 4096:,} weights ({weights})")

# %% [markdown]
# :::{admonition} Solution 2: no fc6 and fc7
# :class: dropdown
# Connecting the 6400 features straight to the 10 outputs saves 42,976,768 parameters, 91.9% of
# the network, but only {glue:text}`flops_saved` of its {glue:text}`flops_total` FLOPs per image,
# 4.6%. The dense layers
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
saved = d2lite.glue("flops_saved", f"{(f0 - f1) / 1e6:.1f} million")
of_all = d2lite.glue("flops_total", f"{f0 / 1e9:.2f} billion")
print(f"in words: {saved} of {of_all} FLOPs")

# %% [markdown]
# :::{admonition} Solution 3: the paper's input and classes
# :class: dropdown
# With 3 input channels and 1000 classes the model has 50,844,008 parameters, 4,079,262 more than
# this book's: $96 \times 2 \times 11^2 = 23{,}232$ in the first convolution (two more input
# channels) and $4096 \times 990 + 990 = 4{,}056{,}030$ in the last layer (990 more classes); the
# code checks that sum. The paper reports about 60 million. Most of the gap is fc6: in the paper it
# sees a $6\times6\times256$ map, 9216 inputs and {glue:text}`fc6_paper` weights, where this
# book's layout gives $5\times5\times256$, 6400 inputs and {glue:text}`fc6_here`. The paper's layout of section 2.4 has
# 62,378,344 parameters; the two-GPU split, in which conv2, conv4 and conv5 see only the half of the
# previous layer's channels that sits on their own GPU, halves those three layers' weights and
# leaves 60,965,224, the paper's "60 million".
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 3", "code_prompt_hide": "Hide the code of solution 3"}
big = d2lite.alexnet(in_channels=3, num_classes=1000)
n_big = sum(p.numel() for p in big.parameters())
n_ours = sum(p.numel() for p in net.parameters())
print(f"3 channels, 1000 classes: {n_big:,} parameters ({n_big - n_ours:,} more than ours)")
conv1_extra = 96 * 2 * 11 * 11  # two more input channels in the first convolution
fc8_extra = 4096 * 990 + 990  # 990 more classes in the last layer
assert n_big - n_ours == conv1_extra + fc8_extra
n_paper = sum(p.numel() for p in paper.parameters())  # the paper's layout from section 2.4
split = sum(paper[i].weight.numel() // 2 for i in (3, 8, 10))  # conv2, 4, 5 see half the channels
print(f"the paper's layout: {n_paper:,} parameters, {n_paper - split:,} with the two-GPU split")
fc6_w = {key: d2lite.glue(key, f"{model[14].weight.numel() / 1e6:.1f} million")
         for key, model in (("fc6_paper", paper), ("fc6_here", net))}
print(f"fc6's weights: {fc6_w['fc6_paper']} in the paper's layout, {fc6_w['fc6_here']} here")

# %% [markdown]
# :::{admonition} Solution 4: sigmoid, tanh and ReLU on LeNet
# :class: dropdown
# From the same initialisation, the steps each needed to get below 25% training error were
# {glue:text}`steps_tanh:d` for tanh, {glue:text}`steps_ReLU:d` for ReLU and
# {glue:text}`steps_sigmoid:d` for sigmoid (stopped at `train_steps`, its error over the last 20
# batches then {glue:text}`err_sigmoid:.0%`); of tanh and ReLU, {glue:text}`first_of_two` got
# there first: tanh took {glue:text}`tanh_over_relu:.1f` times ReLU's steps, where in the paper's
# Figure 1 tanh took six times as long as ReLU[^paper]. The large gap on LeNet is the one with sigmoid, whose derivative never exceeds 0.25;
# tanh and ReLU both pass gradient through with slope 1, and with Xavier's initialisation, made for
# units like tanh, tanh even loses less of it per layer (chapter 1, solution 2). The paper's six-fold
# figure comes from another network and dataset, with each network's learning rate tuned
# separately, and ReLU's advantage grows with depth and with pre-activations large enough to
# saturate tanh. One run per activation is a single sample: other seeds move these step counts,
# and only more runs would say by how much.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 4", "code_prompt_hide": "Hide the code of solution 4"}
train_28, _ = d2lite.load_data_fashion_mnist(128, device=device)  # 28x28, kept on the device


def steps_to_25_percent(activation):
    """Train a LeNet with `activation` until its training error over 20 batches is below 25%."""
    torch.manual_seed(0)  # the same initial weights and the same batches for every activation
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
    print(f"{name:>8}: {steps[name]:>4} steps, training error over the last 20 batches {err:.2f}")
d2lite.glue("first_of_two", "tanh" if steps["tanh"] < steps["ReLU"] else
            "ReLU" if steps["ReLU"] < steps["tanh"] else "neither (a tie)")
d2lite.glue("tanh_over_relu", steps["tanh"] / steps["ReLU"])
print(f"{time.perf_counter() - start:.0f} s on {device} for the three runs")
assert steps["sigmoid"] >= max(steps["tanh"], steps["ReLU"])
