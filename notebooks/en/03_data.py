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
# # 3 The data: Fashion-MNIST
#
# AlexNet was built for ImageNet, but training on ImageNet until it converges takes hours or days
# even on a modern GPU. This book uses Fashion-MNIST instead: small greyscale pictures of clothing in
# 10 classes, the same size as MNIST's digits but a good deal harder. Before training anything, we
# take a close look at the data itself.
#
# **What you will learn**
#
# - the size of Fashion-MNIST and its 10 classes, named in English and Chinese;
# - how to draw the first 18 training images and check whether the classes are balanced;
# - the mean image of each class and the pixel statistics;
# - why the 28×28 images are enlarged to 224×224, how bilinear interpolation fills in the new
#   pixels, and what that costs;
# - the shapes of one batch, and where the data is looked for.
#
# ```{note}
# This chapter only reads and plots data, so it runs on any CPU.
# The time this page took, with its setting and hardware, is in the run note under the title
# (on the website) and in the notebook's metadata under `d2lite`.
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# The parameters: the quick setting uses a smaller batch and times only two batches.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

QUICK = d2lite.is_quick()
FULL = dict(
    batch_size=128,  # images per batch: the order of magnitude chapter 4 trains with
    resize=224,  # side after enlarging: AlexNet accepts 193 to 224; 224 as in the tutorial
    time_batches=10,  # batches read for timing: enough for a stable average
)
QUICK_SETTING = dict(batch_size=32, resize=224, time_batches=2)
S = QUICK_SETTING if QUICK else FULL
print(
    f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} → {'quick' if QUICK else 'full'} setting: {S}"
)

# %% tags=["hide-input"]
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F

LANG = "en"  # language of the class names and figure text
print("CJK font:", d2lite.use_cjk_font())

# %% tags=["hide-input"]
device = d2lite.try_gpu()
print(f"device: {device}, PyTorch {torch.__version__}")

# %% [markdown]
# ## 3.1 Size and classes
#
# `d2lite.load_fashion_mnist_arrays()` reads the whole dataset into `uint8` tensors: 60,000 training
# and 10,000 test images, each a single-channel $28\times28$ greyscale picture. All four tensors
# together take about 55 MB, so the whole dataset fits comfortably in memory.

# %%
arrays = d2lite.load_fashion_mnist_arrays()
for name in ("train_images", "train_labels", "test_images", "test_labels"):
    t = getattr(arrays, name)
    print(
        f"{name:<13} shape {str(tuple(t.shape)):<16} {t.dtype}  {t.numel() * t.element_size() / 1e6:5.1f} MB"
    )

# %% [markdown]
# All ten classes are items of clothing. A label is just an integer from 0 to 9;
# `d2lite.TEXT_LABELS` holds the names in both languages:

# %%
for i, (en, zh) in enumerate(zip(d2lite.TEXT_LABELS["en"], d2lite.TEXT_LABELS["zh"])):
    print(f"{i}  {en:<12}{zh}")

# %% [markdown]
# ## 3.2 The first 18 images
#
# The first 18 training images in their original order, in 2 rows of 9, titled with the class
# names that `get_fashion_mnist_labels` returns.

# %% mystnb={"image": {"alt": "The first 18 training images in two rows of nine, small grey clothing items on black, each titled with its class name."}}
X18, y18 = arrays.train_images[:18], arrays.train_labels[:18]
axes = d2lite.show_images(X18, 2, 9, titles=d2lite.get_fashion_mnist_labels(y18, lang=LANG))

# %% [markdown]
# The items are centred and cropped, on a pure black background (pixel value 0). Some classes are
# easy to mix up even for a person, T-shirts, pullovers and shirts in particular; chapter 5's
# confusion matrix will confirm it.
#
# ## 3.3 Are the classes balanced?
#
# Count the images in each class:

# %%
train_counts = torch.bincount(arrays.train_labels.long(), minlength=10)
test_counts = torch.bincount(arrays.test_labels.long(), minlength=10)
print("train:", train_counts.tolist())
print("test: ", test_counts.tolist())

# %% [markdown]
# Exactly 6000 training and 1000 test images per class: perfectly balanced. Always guessing one
# class scores 10%, and plain accuracy is a fair measure; no class weighting is needed.

# %% mystnb={"image": {"alt": "Bar chart of the number of training images per class: ten bars of exactly the same height, 6000 each."}}
fig, ax = plt.subplots(figsize=(8, 2.8))
names = d2lite.get_fashion_mnist_labels(range(10), lang=LANG)
ax.bar(range(10), train_counts.tolist())
ax.set_xticks(range(10), names, rotation=30)
ax.set_ylabel("training images")
ax.set_title("examples per class")
fig.tight_layout()

# %% [markdown]
# ## 3.4 The mean image of each class
#
# Averaging the 6000 images of a class pixel by pixel gives its typical silhouette. Two classes
# whose mean images look alike will also be harder for a model to tell apart.

# %% mystnb={"image": {"alt": "The mean image of each of the ten classes, in two rows of five: blurred silhouettes of a T-shirt, trousers, a pullover, a dress, a coat, a sandal, a shirt, a sneaker, a bag and an ankle boot."}}
labels = arrays.train_labels.long()
means = [arrays.train_images[labels == c].float().mean(0) / 255 for c in range(10)]  # 10 × (28, 28)
axes = d2lite.show_images(means, 2, 5, titles=names, scale=1.8)

# %% [markdown]
# T-shirts, pullovers, coats and shirts all average to "a top with sleeves", differing mostly in
# sleeve length and neckline. Sandals, sneakers and ankle boots all point left and differ in how high
# the shoe rises.
#
# ## 3.5 Pixel statistics
#
# Pixels are stored as integers from 0 to 255; the loader divides by 255 to get values in $[0, 1]$
# (as `transforms.ToTensor` does). The mean and standard deviation over the training set:

# %%
pixels = arrays.train_images.float() / 255  # (60000, 28, 28)
test_pixels = arrays.test_images.float() / 255
print(f"train: mean {pixels.mean():.4f}, std {pixels.std():.4f}")
print(f"test:  mean {test_pixels.mean():.4f}, std {test_pixels.std():.4f}")
print(
    f"pixels that are exactly 0 (black background): {(arrays.train_images == 0).float().mean():.1%}"
)

# %% [markdown]
# A mean of 0.2860 and a standard deviation of 0.3530: the images are dark overall, with about half
# of all pixels pure black background. A histogram (log scale) makes it plain:

# %% mystnb={"image": {"alt": "Histogram of the training set's pixel values from 0 to 1 on a log scale: a very tall bar at 0 (the black background) and a much lower spread of values up to 1."}}
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.hist(pixels.flatten().numpy(), bins=51, log=True)
d2lite.set_axes(ax, "pixel value (scaled to [0, 1])", "number of pixels", yscale="log")
ax.set_title("pixel values in the training set")
fig.tight_layout()

# %% [markdown]
# ```{note}
# Like the tutorial, this book only scales pixels to $[0, 1]$ and does not standardise them.
# Subtracting 0.2860 and dividing by 0.3530 would give inputs with mean 0 and variance 1, which often
# speeds up training a little (see the exercises).
# ```
#
# ## 3.6 From 28×28 to 224×224
#
# The tutorial enlarges every image to $224\times224$ as it is loaded; `d2lite.FashionMNISTDataset`
# does it with bilinear interpolation. Here is one image before and after; the two panels on the
# right show the same central patch, $7\times7$ pixels in the original and the corresponding
# $56\times56$ after enlarging:

# %% mystnb={"image": {"alt": "One training image at 28\u00d728 and enlarged to 224\u00d7224, followed by the same central patch from each: blocky pixels in the original, smooth gradients after bilinear enlarging."}}
dataset = d2lite.FashionMNISTDataset(arrays.train_images, arrays.train_labels, resize=S["resize"])
big, label = dataset[0]  # (1, 224, 224)
small = arrays.train_images[0]  # (28, 28)
crops = [
    small[10:17, 10:17],
    big[0, 80:136, 80:136],
]  # the same patch: 7 pixels at 28 = 56 pixels at 224
axes = d2lite.show_images(
    [small, big[0], *crops],
    1,
    4,
    scale=2.4,
    titles=[
        f"original {tuple(small.shape)}",
        f"enlarged {tuple(big.shape[1:])}",
        "original, central 7×7",
        "enlarged, same 56×56",
    ],
)

# %% [markdown]
# Enlarging adds no information: each new pixel is a weighted average of at most four original
# pixels, the $2\times2$ neighbours around the point it falls on, and the picture is merely
# smoother. Bilinear interpolation is linear interpolation along one axis, then along the other, so
# it can be written as $W^\top\,\text{image}\,W$ with a $28\times224$ weight matrix $W$; each
# column of $W$ holds the weights one output position gives the 28 source positions. Counting its
# non-zero entries, and checking the formula against the dataset's own enlarged image:

# %%
W = F.interpolate(torch.eye(28)[:, None, :], size=224, mode="linear", align_corners=False)[:, 0, :]
reads = (W > 0).sum(0)  # (224,) source positions each output position reads, along one axis
per_pixel = torch.bincount((reads[:, None] * reads[None, :]).flatten())  # the same, in 2-D
print("dataset image == W^T image W:", torch.allclose(big[0], W.T @ (small.float() / 255) @ W, atol=1e-6))
print(f"each output reads at most {reads.max().item()} source pixels per axis; of the 224×224 outputs, "
      f"{per_pixel[4]:,} read 4, {per_pixel[2]:,} read 2 (edges), {per_pixel[1]} read 1 (corners)")

# %% [markdown]
# Why enlarge, then? Because AlexNet's layers are laid out for
# inputs of about 224 pixels. The $11\times11$ stride-4 first convolution and the three $3\times3$
# stride-2 max-poolings shrink the side step by step, rounding down at each step, and the last
# feature map must be exactly $5\times5$ to flatten into the 6400 inputs the first dense layer
# expects (chapter 2). Every side from 193 to 224 ends there; 224, the tutorial's choice, is the
# largest. Feed the network a 28×28 image and the shapes do not fit:

# %%
try:
    d2lite.alexnet()(torch.zeros(1, 1, 28, 28))
except d2lite.InputSizeError as err:
    print("InputSizeError:", err)

# %% [markdown]
# The cost is just as direct: $(224/28)^2 = 64$ times as many pixels, with the memory per batch and
# the compute per image growing accordingly. It is the price of reusing AlexNet's original layout,
# not a way to improve accuracy; a network designed for 28×28 inputs reaches similar accuracy with a
# far smaller model.
#
# ## 3.7 The shapes of one batch
#
# `d2lite.load_data_fashion_mnist` is used like the tutorial's function of the same name and returns
# a training and a test iterator. One training batch:

# %%
train_iter, test_iter = d2lite.load_data_fashion_mnist(S["batch_size"], resize=S["resize"])
X, y = next(iter(train_iter))
print(
    f"X: {tuple(X.shape)} {X.dtype}, values in [{X.min():.2f}, {X.max():.2f}], {X.numel() * 4 / 1e6:.1f} MB"
)
print(f"y: {tuple(y.shape)} {y.dtype}, first 8 labels {y[:8].tolist()}")
print(f"per epoch: {len(train_iter)} training batches, {len(test_iter)} test batches")

# %% [markdown]
# The four dimensions of `X` are (batch, channel, height, width). The training set is reshuffled every
# epoch; the test set keeps its order.
#
# Enlarging makes reading the data more expensive too, not just the model. Here is the time to read
# one batch without and with enlarging to 224 (a fresh loader each time; the first batch, which
# includes starting the worker process, is not counted):


# %%
def seconds_per_batch(resize):
    loader, _ = d2lite.load_data_fashion_mnist(S["batch_size"], resize=resize)
    it = iter(loader)
    next(it)  # the first batch includes starting the workers: not timed
    start = time.perf_counter()
    for _ in range(S["time_batches"]):
        next(it)
    return (time.perf_counter() - start) / S["time_batches"]


t28, t224 = seconds_per_batch(None), seconds_per_batch(S["resize"])
print(
    f"{device}, batch {S['batch_size']}, {d2lite.default_num_workers()} worker(s): 28×28 {t28 * 1e3:.1f} ms per batch, "
    f"{S['resize']}×{S['resize']} {t224 * 1e3:.1f} ms per batch ({t224 / t28:.0f}×)"
)

# %% [markdown]
# On this CPU that cost hardly matters: tens of milliseconds per batch of 128, against more
# than a second for the training step itself (chapter 4 trains at roughly 100 examples per second
# here). The model's compute dominates. On a GPU the balance flips: the training step becomes so
# fast that the GPU waits while the CPU enlarges images one by one, and loading becomes the
# bottleneck. `load_data_fashion_mnist(..., device=device)` takes another route for that case: the
# whole `uint8` dataset is copied to the device once and each batch is enlarged in one call (see the
# documentation of `d2lite.DeviceLoader`).
#
# ## 3.8 Where the data comes from
#
# d2lite downloads nothing when it is imported. It looks for the four files in the `data_dir`
# argument, then in `$D2LITE_DATA`, the project's `data/` folder and the folder of Debian's
# `dataset-fashion-mnist` package, and only then downloads them with torchvision. Offline with no
# copy, it raises `DataNotFoundError`, naming every place it looked and the three ways to fix it
# (the README has the details). This run found the files here:

# %%
source, root = Path(arrays.source), os.environ.get("D2LITE_DATA")
if root and source.is_relative_to(Path(root).expanduser()):  # show $D2LITE_DATA, not this machine's path
    shown = (Path("$D2LITE_DATA") / source.relative_to(Path(root).expanduser())).as_posix()
else:
    shown = f".../{source.parent.name}/{source.name}"
print("read from", shown + ":", ", ".join(sorted(p.name for p in d2lite.find_data_dir().values())))

# %% [markdown]
# ## Summary
#
# - Fashion-MNIST has 60,000 training and 10,000 test images, $28\times28$ greyscale, in 10 clothing
#   classes with exactly 6000 training and 1000 test images each.
# - Scaled to $[0, 1]$, the training pixels have mean 0.2860 and standard deviation 0.3530; about
#   half of them are pure black background.
# - The mean images of the tops (T-shirt, pullover, coat, shirt) are very similar: the group most
#   likely to be confused.
# - To reuse AlexNet's layout the images are enlarged to $224\times224$: no new information (each new
#   pixel is a weighted average of at most 4 original ones), 64 times the pixels, and both loading
#   and compute become more expensive.
# - A batch has shape (batch, 1, 224, 224). The data is searched for in `data_dir`, `D2LITE_DATA`,
#   the project's `data/`, the Debian package folder, and only then downloaded.
#
# ## Exercises
#
# 1. Compute the mean image of each class on the test set. Does it differ from the training set's?
# 2. Compute the mean pixel value of each class. Which class is brightest, which darkest? Does that
#    match your impression of the mean images?
# 3. Set `resize` to 227, the input size often quoted for the paper. Does this book's AlexNet still
#    run? Use the output-size formula from chapter 2 to show why exactly the sides 193 to 224 give a
#    $5\times5$ feature map, then check 192, 193, 224 and 225 in code.
# 4. Standardise one training batch: take `X` from `d2lite.load_data_fashion_mnist(128,
#    resize=224)`, compute `(X - 0.2860) / 0.3530` and print the mean and standard deviation of the
#    result. Are they exactly 0 and 1? Repeat with `resize=None` and explain the difference.

# %% [markdown]
# ## Solutions
#
# Each solution is folded: try the exercise first, then open it. The code of each solution runs
# with the rest of the notebook (the tests run it too, in the quick setting), and the figures
# quoted in the text are this page's.

# %% [markdown]
# :::{admonition} Solution 1: the test set's mean images
# :class: dropdown
# They look the same: the largest difference between a test and a training mean image, pixel by
# pixel, is between 0.021 and 0.046 on the 0-to-1 scale (trousers differ most). The test set looks
# like the training set, which is what makes test accuracy a fair estimate of how the model does on
# images like the ones it was trained on.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 1", "code_prompt_hide": "Hide the code of solution 1", "image": {"alt": "The ten mean images of the test set, one per class, which look like the training set's."}}
test_labels = arrays.test_labels.long()
test_means = [arrays.test_images[test_labels == c].float().mean(0) / 255 for c in range(10)]
axes = d2lite.show_images(test_means, 2, 5, titles=names, scale=1.8)
gaps = [(t - m).abs().max().item() for t, m in zip(test_means, means)]
print("largest pixel difference, test vs training mean image:",
      ", ".join(f"{n} {g:.3f}" for n, g in zip(names, gaps)))
assert max(gaps) < 0.2

# %% [markdown]
# :::{admonition} Solution 2: the brightest and darkest classes
# :class: dropdown
# Coat (0.385) and pullover (0.377) are the brightest, then bag; sandal (0.137) and sneaker (0.168)
# are the darkest, then trouser (0.223). That matches the mean images: coats and pullovers fill
# most of the frame with their body and long sleeves, while sandals are mostly straps with black gaps
# between them and trousers are narrow.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 2", "code_prompt_hide": "Hide the code of solution 2"}
class_means = torch.stack([m.mean() for m in means])  # mean pixel of each class, in [0, 1]
order = class_means.argsort(descending=True).tolist()
for c in order:
    print(f"{names[c]:>12}: {class_means[c]:.3f}")
print("brightest:", names[order[0]], "  darkest:", names[order[-1]])

# %% [markdown]
# :::{admonition} Solution 3: 227 and the sides 193 to 224
# :class: dropdown
# No: at 227 the first convolution gives $\lfloor(227 + 2 - 11)/4\rfloor + 1 = 55$ and the three
# pools give 27, 13 and 6, a $6\times6$ map, while fc6 expects $5\times5\times256$; the model
# raises `InputSizeError`. Working backwards, the last pool gives 5 for 11 or 12, the pool before it
# gives 11 or 12 for 23 to 26, the first pool gives 23 to 26 for 47 to 54, and the first
# convolution gives 47 to 54 when $\lfloor(n - 9)/4\rfloor$ is 46 to 53, that is for $n$ from 193 to
# 224. The code confirms it: 192 and 225 fail, 193 and 224 run. (The paper's 227 goes with a first
# convolution without padding: $\lfloor(227 - 11)/4\rfloor + 1 = 55$, and its pools end at
# $6\times6$.)
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 3", "code_prompt_hide": "Hide the code of solution 3"}
net_check = d2lite.alexnet().eval()


def conv_side(n, k, s=1, p=0):
    """The output-size formula of chapter 2: floor((n + 2p - k) / s) + 1."""
    return (n + 2 * p - k) // s + 1


def feature_side(n):
    n = conv_side(n, 11, 4, 1)  # conv1
    n = conv_side(n, 3, 2)  # pool; conv2 (5x5, pad 2) keeps the size
    n = conv_side(n, 3, 2)  # pool; conv3-5 (3x3, pad 1) keep the size
    return conv_side(n, 3, 2)  # pool


fits = [n for n in range(150, 260) if feature_side(n) == 5]
print(f"sides giving a 5x5 map: {fits[0]} to {fits[-1]}")
for side in (192, 193, 224, 225, 227):
    try:
        out = net_check(torch.zeros(1, 1, side, side))
        print(f"{side}: output {tuple(out.shape)}")
    except d2lite.InputSizeError:
        print(f"{side}: InputSizeError (feature map {feature_side(side)}x{feature_side(side)})")
assert (fits[0], fits[-1]) == (193, 224)

# %% [markdown]
# :::{admonition} Solution 4: standardising one batch
# :class: dropdown
# Close, but not exactly 0 and 1: 0.2860 and 0.3530 are the mean and standard deviation of all
# 60,000 training images at 28×28, and one batch of 128 is only a sample of them. At 224×224 the
# standard deviation comes out lower than at 28×28 for the same images: bilinear interpolation
# fills the new pixels with averages of their neighbours, which softens the sharp steps between the
# black background and the garment, while the mean hardly moves. Statistics meant for
# standardising should therefore be computed on the images as the network will see them.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 4", "code_prompt_hide": "Hide the code of solution 4"}
for resize in (224, None):
    torch.manual_seed(0)  # the same shuffle, so the same 128 images at both sizes
    it, _ = d2lite.load_data_fashion_mnist(128, resize=resize)
    Xb, _ = next(iter(it))
    Z = (Xb - 0.2860) / 0.3530
    print(f"resize={resize}: {tuple(Xb.shape)}, mean {Z.mean():+.3f}, std {Z.std():.3f}")
