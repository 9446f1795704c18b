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
# # 5 Predictions and mistakes
#
# A single test accuracy hides a lot. This chapter loads the model trained in chapter 4, looks at
# its answers image by image, asks which classes it mixes up, and then looks inside the network
# to see what it learned and where it looks when it hesitates.
#
# What you will learn:
#
# - how to load a checkpoint and read how its model was trained;
# - how to show test images with their true and predicted labels;
# - how to build a confusion matrix and read per-class accuracy from it;
# - how to find the most frequent mistakes and look at the images behind them;
# - how to look inside the trained network: its first-layer filters before and after training,
#   one image's feature maps layer by layer, and where it looks for its answer (Grad-CAM and
#   occlusion) when two tops are easy to confuse;
# - how a model trained for minutes differs from the book's full recipe, trained once for hours
#   and recorded: their filters, their per-class recall and their confusions side by side.
# - how to bring your own picture into the data set's form, and where that stops working.
#
# ```{note}
# Most of this page's time goes into classifying the test images (all 10,000 of them in the CPU
# and full settings, 192 in the quick setting the tests run); the look inside the network adds
# little. The time this page took, with its setting and hardware, is in the run note under the
# title (on the website) and in the notebook's metadata under `d2lite`.
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# The knobs: how many test images to classify, and what to train if chapter 4's checkpoint is
# missing. As in chapter 4, `d2lite.setting()` picks `FULL` with a GPU and `CPU` without one;
# the quick setting (`D2LITE_QUICK=1`) is what the tests run.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # "full" with a GPU, "cpu" without one, "quick" in the tests
FULL = dict(
    n_test=None,  # all 10,000 test images: every cell of the confusion matrix is well filled
    batch_size=128,  # inference batch (and training batch of the fallback model)
    n_show=18,  # images in the prediction grid, 3 rows of 6
    n_mistakes=6,  # example images per confused pair, half of them each way
    occlusion_patch=32,  # occluding square in the 224x224 input: 4x4 of the 28x28 pixels ...
    occlusion_stride=16,  # ... moved 16 pixels at a time: 13x13 = 169 passes per image
    fallback_train=None,  # no checkpoint? train on all 60,000 images ...
    fallback_epochs=2,  # ... for 2 epochs (a job for a GPU)
    fallback_budget_minutes=None,  # no time budget on a GPU
)
CPU = dict(
    n_test=None,  # all 10,000 test images: about a minute and a half on a 2-core CPU
    batch_size=128,
    n_show=18,
    n_mistakes=6,
    occlusion_patch=32,
    occlusion_stride=16,  # 4 images x 169 passes: well under a minute on a 2-core CPU
    fallback_train=None,  # no checkpoint? 1 epoch on as many images as fit the budget below
    fallback_epochs=1,
    fallback_budget_minutes=10,  # the stand-in's training, sized by this CPU's measured speed
)
QUICK_SETTING = dict(
    n_test=192,  # chapter 4's quick test images: AlexNet at 224x224 is slow on a CPU
    batch_size=32,
    n_show=12,
    n_mistakes=6,
    occlusion_patch=112,  # coarse: 3x3 = 9 passes per image, a few seconds
    occlusion_stride=56,
    fallback_train=256,  # only if chapter 4 has not run: a few seconds of training
    fallback_epochs=1,
    fallback_budget_minutes=None,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}, "
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} setting: {S}")

# %% tags=["hide-input"]
import datetime
import json
from pathlib import Path

import matplotlib.pyplot as plt
import torch

LANG = "en"  # class names and figure labels in this edition's language
print("CJK font:", d2lite.use_cjk_font())

# %% tags=["hide-input"]
device = d2lite.try_gpu()
name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
print(f"device: {device} ({name}), torch {torch.__version__}")

# %% [markdown]
# ## 5.1 Loading chapter 4's model
#
# We build an empty AlexNet and load the test images at 224×224, the size the network was trained
# on. The loader keeps the 28×28 originals too, which is what we will display.

# %%
CKPT = Path("checkpoints") / "alexnet_fashion_mnist.pt"
net = d2lite.alexnet().to(device)
train_iter, test_iter = d2lite.load_data_fashion_mnist(
    S["batch_size"], resize=224, subset=(S["fallback_train"], S["n_test"]), device=device)
print(f"{len(test_iter.dataset.images)} test images; checkpoint {CKPT} "
      f"{'found' if CKPT.exists() else 'missing'}")

# %% [markdown]
# `d2lite.load_checkpoint` refuses a damaged file or one saved from a different architecture, and
# returns everything that was saved: weights, epoch, training history. Chapter 4 also wrote its
# settings and, after its one look at the test set, its final accuracies to a small JSON file
# beside the checkpoint. If there is no checkpoint (you opened this chapter first), we train a
# short *stand-in* here so that the chapter still runs on its own; it is labelled as such below,
# and then every figure on the page describes the stand-in, not chapter 4's model.

# %%
if CKPT.exists():
    state = d2lite.load_checkpoint(CKPT, net, map_location=device)
    history = d2lite.History(**state["history"])
    meta = CKPT.with_suffix(".json")
    settings = json.loads(meta.read_text()) if meta.exists() else {}
    source = "chapter 4's model"
else:
    print("No checkpoint: training a STAND-IN model here. It is not chapter 4's model, and every "
          "figure below describes the stand-in (run chapter 4 first for the real one).")
    d2lite.set_seed(0)  # before building the model, so that its biases are seeded too
    net = d2lite.init_weights(d2lite.alexnet()).to(device)
    if S["fallback_budget_minutes"]:  # the CPU setting: as many images as fit the budget
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
    source = "a STAND-IN trained here"
print("trained with:", settings)

# %% [markdown]
# The history says how training went, epoch by epoch, and on which device. From it and the JSON
# file, the next cell says which run this page analyses: the line starting "this page's model"
# names its source (chapter 4's checkpoint, or the stand-in), its setting, its epochs, the
# training images of each epoch (counted by the history: examples per second times seconds),
# its validation and test accuracies and the date it was trained. When the whole book runs in
# one pass, these are the figures chapter 4 printed at its end.

# %%
SETTING_NAME = {"quick": "quick", "cpu": "CPU", "full": "full"}  # for the printed line
EVAL_NAME = {"val": "val", "test": "test"}  # which set the history's accuracies were taken on
for e, loss, tr, ev in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc):
    print(f"epoch {e}: loss {loss:.3f}, train acc {tr:.3f}, {EVAL_NAME[history.eval_set]} acc "
          f"{ev:.3f}")
seen = [x * t for x, t in zip(history.examples_per_sec, history.seconds)]  # images per epoch
n_train = settings.get("train_images") or round(seen[-1])
val_acc = settings.get("val_acc", history.test_acc[-1] if history.eval_set == "val" else None)
model = dict(  # glued for the prose (and for the book's home page), printed below
    source=d2lite.glue("model_source", source),
    setting=d2lite.glue("model_setting", SETTING_NAME.get(settings.get("setting"), "unknown")),
    epochs=d2lite.glue("model_epochs", history.epoch[-1]),
    train_images=d2lite.glue("model_train_images", n_train),
    val_images=d2lite.glue("model_val_images", settings.get("validation") or 0),
    val_acc=d2lite.glue("model_val_acc", "none" if val_acc is None else f"{val_acc:.3f}"),
    test_acc=d2lite.glue("model_test_acc", f"{settings['test_acc']:.3f}"
                         if "test_acc" in settings else "not recorded"),
    date=d2lite.glue("model_date", settings.get("date", "unknown")),
    speed=d2lite.glue("model_examples_per_sec", round(sum(seen) / sum(history.seconds), 1)),
)
print(f"this page's model: {model['source']}, {model['setting']} setting, {model['epochs']} "
      f"epoch(s) of {n_train:,} training images; validation accuracy {model['val_acc']} "
      f"({model['val_images']:,} validation images), test accuracy {model['test_acc']}; "
      f"trained on {model['date']} on {settings.get('device_name', history.device)}, "
      f"{model['speed']} examples/s sustained")
if settings.get("quick"):
    print("This model comes from a QUICK run (a tiny subset, one epoch): its predictions are "
          "close to guesses. The figures below show the method, not AlexNet's quality.")
elif settings.get("setting") == "cpu" and settings.get("budget_minutes"):
    print(f"Chapter 4's CPU setting sized this run to a {settings['budget_minutes']}-minute "
          f"budget on {settings.get('device_name', 'its CPU')}. Section 5.7 sets the book's "
          "full recipe, trained once for hours, beside it.")

# %% [markdown]
# So this page analyses {glue:text}`model_source` ({glue:text}`model_setting` setting):
# {glue:text}`model_epochs:d` epoch(s) of {glue:text}`model_train_images:,` training images,
# validation accuracy {glue:text}`model_val_acc` and test accuracy {glue:text}`model_test_acc`,
# trained on {glue:text}`model_date`; in Jupyter, read them from the line above that starts with
# "this page's model". Every figure below belongs to this model.
#
# ## 5.2 A grid of predictions
#
# `d2lite.predict` classifies the first test images in dataset order and returns them with their
# labels; `d2lite.show_predictions` draws them. The true class is on top and the prediction below
# it, green with ✓ when right, red with ✗ when wrong.

# %% mystnb={"image": {"alt": "A grid of test images. Above each image is its true class and below it the predicted class, green with a tick when the prediction is right and red with a cross when it is wrong."}}
p = d2lite.predict(net, test_iter, n=S["n_show"])
d2lite.show_predictions(p, lang=LANG, num_cols=6, scale=2.0)
plt.show()

# %% [markdown]
# ## 5.3 The confusion matrix
#
# To see every mistake at once we classify the whole test set with `d2lite.predict_all` and count,
# for each true class $i$ and predicted class $j$, how many images fall in cell $C_{ij}$. The
# diagonal holds the correct answers; everything else is an error, and its position names the two
# classes involved. We classify in the number format the model was trained and evaluated in
# (bf16 where the hardware computes it fast, as in chapter 4), and print beside our count the
# test accuracy that the model's own run recorded: in the CPU and full settings both are taken on
# all 10,000 test images, while the quick setting's chapter 4 tests fewer images than this page.

# %%
amp_ctx = d2lite.autocast(device, d2lite.amp_dtype(device, settings.get("amp", True)))
with amp_ctx:  # the number format chapter 4 evaluated in
    labels, preds = d2lite.predict_all(net, test_iter)
C = d2lite.confusion_matrix(labels, preds)
print(f"{len(labels)} test images, accuracy {C.trace().item() / C.sum().item():.3f} "
      f"(recorded by the model's run: {model['test_acc']})")
C

# %% [markdown]
# A table of counts is easier to read as a picture, with the class names on both axes.

# %% mystnb={"image": {"alt": "The confusion matrix as a heat map: true classes down the side, predicted classes along the bottom, each cell labelled with its count of test images; the darker the blue, the more images."}}
names = d2lite.TEXT_LABELS[LANG]
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(C, cmap="Blues")
ax.set_xticks(range(10), names, rotation=45, ha="right")
ax.set_yticks(range(10), names)
for i in range(10):
    for j in range(10):
        ax.text(j, i, int(C[i, j]), ha="center", va="center", fontsize=8,
                color="white" if C[i, j] > C.max() / 2 else "black")
ax.set_xlabel("predicted class")
ax.set_ylabel("true class")
ax.set_title(f"Confusion matrix ({len(labels)} test images)")
fig.colorbar(im, ax=ax)
plt.show()

# %% [markdown]
# ## 5.4 Accuracy per class
#
# Dividing the diagonal by each row's total gives the accuracy for each true class,
# $\text{acc}_i = C_{ii} / \sum_j C_{ij}$, also called the class's recall.

# %% mystnb={"image": {"alt": "Horizontal bar chart of the accuracy on each of the ten classes, on a scale from 0 to 1."}}
per_class = C.diag() / C.sum(dim=1).clamp(min=1)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.barh(names, per_class.tolist(), color="tab:blue")
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("accuracy on this class")
plt.show()
weakest = int(per_class.argmin())  # the first line below
d2lite.glue("weakest_here", names[weakest])
d2lite.glue("weakest_here_recall", round(per_class[weakest].item(), 3))
for i in per_class.argsort().tolist():
    print(f"{names[i]:>12}: {per_class[i]:.3f} ({int(C[i, i])} of {int(C[i].sum())})")

# %% [markdown]
# The list runs from the weakest class up; for this page's model that is
# {glue:text}`weakest_here`, with a recall of {glue:text}`weakest_here_recall:.3f` (the first line
# of the list). Expect the tops near the bottom of such a list: shirt, T-shirt, pullover and coat
# are shaped much like one another (in chapter 3 the mean images of the four differ mostly in
# sleeve length and neckline), and what marks a shirt, its collar and buttons, covers only a few
# of the 28×28 pixels; trousers, bags and the footwear classes have shapes of their own. Section
# 5.7 puts the full recipe's list beside this one; the next section says where the missing images
# went.
#
# ## 5.5 The most confused pairs
#
# The largest off-diagonal cells are the mistakes the model makes most often. A well-trained
# AlexNet typically confuses the upper-body garments (shirt, T-shirt, pullover, coat) with one
# another, and occasionally the footwear classes; a barely trained one simply dumps many classes
# onto one. We list the three largest cells.

# %%
off = C.clone()
off.fill_diagonal_(0)
top = torch.topk(off.flatten(), k=3)
pairs = [(int(k) // 10, int(k) % 10) for k, c in zip(top.indices, top.values) if c > 0]
for t, q in pairs:
    print(f"true {names[t]:>12} -> predicted {names[q]:<12}: {int(C[t, q]):4d} times "
          f"({C[t, q] / C[t].sum():.0%} of that class)")

# %% [markdown]
# Numbers alone do not say *why*. Below are test images behind three kinds of mix-up, one row per
# pair of classes and both directions in each row: shirt and T-shirt, pullover and coat, and the
# largest remaining pair of the confusion matrix (adding both directions, $C_{ab} + C_{ba}$). They
# are the 28×28 originals; the network saw them enlarged to 224×224. `predict_all` walks the test
# set in order, so position $k$ in `labels` and `preds` is image $k$ of the dataset.

# %% mystnb={"image": {"alt": "Rows of 28\u00d728 test images that the model got wrong, one row per confused pair; each image is titled with its true class and, after an arrow, the class it was mistaken for."}}
images = test_iter.dataset.images.cpu()  # (n_test, 28, 28) uint8 originals
assert torch.equal(test_iter.dataset.labels.cpu(), labels)  # same order as the predictions
TSHIRT, PULLOVER, COAT, SHIRT = 0, 2, 4, 6  # Fashion-MNIST's class numbers
both = torch.triu(C + C.T, diagonal=1)  # C[a, b] + C[b, a], each unordered pair once
ranked = [divmod(int(k), 10) for k in both.flatten().argsort(descending=True)]
shown = [(TSHIRT, SHIRT), (PULLOVER, COAT)]
shown.append(next((a, b) for a, b in ranked if a < b and (a, b) not in shown))  # the next pair
for a, b in shown:
    k = S["n_mistakes"] // 2
    idx = torch.cat([torch.nonzero((labels == t) & (preds == q)).flatten()[:k]
                     for t, q in ((a, b), (b, a))])
    axes = d2lite.show_images(images[idx], 1, S["n_mistakes"], scale=1.4,
                              titles=[f"{names[labels[i]]}\n→ {names[preds[i]]}" for i in idx],
                              title_colors=["tab:red"] * len(idx))
    axes[0].figure.suptitle(f"{names[a]} → {names[b]}: {int(C[a, b])} images, "
                            f"{names[b]} → {names[a]}: {int(C[b, a])}", fontsize=10)
    plt.show()

# %% [markdown]
# At 28×28 pixels a shirt and a T-shirt differ by a few rows of pixels around the collar and the
# sleeves, and a pullover and a coat mostly by the opening down the front, a faint line or a row
# of buttons; many of the images the model misses would give a person pause too. Mistakes between
# classes that look nothing alike (a bag read as a trouser, say) point to a model that has not
# learned enough yet: the quick setting's model makes plenty of those, a trained one hardly any.
#
# ## 5.6 A look inside the network
#
# So far we have judged the network by its answers. Its weights and activations can be looked at
# too. We start with the 96 filters of the first convolution, each an $11\times11$ window over the
# image. To see what training did to them we need them as they were before training. Chapter 4
# drew them with `d2lite.set_seed(0)`, then `d2lite.alexnet()` and `d2lite.init_weights`, so the
# same three steps give the same numbers again (the whole model has to be rebuilt: every layer
# draws from the same random stream, in order). The stand-in model above starts the same way.

# %% mystnb={"image": {"alt": "Three grids of 96 small grey squares, the 11\u00d711 filters of the first convolution: at initialisation, after training, and the change between the two; each filter is scaled on its own so that black is its most negative weight and white its most positive."}}
d2lite.set_seed(0)  # chapter 4's seed, before building the model
W0 = d2lite.init_weights(d2lite.alexnet())[0].weight.detach()  # (96, 1, 11, 11) at the start
W = net[0].weight.detach().cpu()  # the same filters after training
fig, axes = plt.subplots(1, 3, figsize=(12, 6), layout="constrained")
for ax, w, title in zip(axes, (W0, W, W - W0),
                        ("at initialisation", "after training", "change (trained − initial)")):
    ax.imshow(d2lite.filter_grid(w, num_cols=8), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
plt.show()
print(f"relative change of conv1's weights, ‖W − W0‖ / ‖W0‖: {(W - W0).norm() / W0.norm():.2f} "
      f"(two unrelated draws would give about {2 ** 0.5:.2f})")
unmoved = int(((W - W0).flatten(1).abs().amax(dim=1) == 0).sum())
print(f"filters that training did not change at all: {unmoved} of {len(W)}")

# %% [markdown]
# Xavier initialisation draws every weight independently, so the first grid is pure noise. How
# much the second differs from it depends on how long the model trained: the relative change
# printed below the grids says how far the weights moved, and the third grid shows the direction
# they moved in. The changes are smooth where the filters are noise: blobs and light–dark edges at
# various angles, the first detectors a network learns; section 5.7 sets beside them the filters
# of the book's full recipe, trained for hours. A plain grey square in the
# third grid is a filter that did not move at all (the count is printed): its ReLU output was
# zero for every training image, so no gradient ever reached it, a "dead" unit. Such filters are
# also a check on the re-created start, since they equal it bit for bit; had we re-created the
# wrong one, none would, and the ratio would be near 1.41, as for two unrelated random draws.
#
# Next we follow one test image, the first shirt of the test set, through the five convolutions.
# `d2lite.feature_maps` runs the network layer by layer and returns each layer's output with its
# name (`conv1`, `relu1`, `pool1`, …). For each convolution we show, after its ReLU, the six
# channels whose maps vary most across the image (the largest standard deviation): a channel
# that is about equally active everywhere would show little.

# %% mystnb={"image": {"alt": "A shirt from the test set followed by five rows of six small feature maps, one row per convolution from conv1 to conv5, each row titled with its layer's output shape; the maps shrink from 54\u00d754 to 12\u00d712 pixels."}}
import torch.nn.functional as F


def as_input(idx):
    """Test images as the network gets them: scaled to [0, 1] and enlarged to 224x224."""
    X = images[idx].unsqueeze(1).float() / 255  # (k, 1, 28, 28)
    return F.interpolate(X, size=(224, 224), mode="bilinear", align_corners=False).to(device)


assert torch.allclose(as_input([0, 1]), next(iter(test_iter))[0][:2].to(device), atol=1e-6)
i = int(torch.nonzero(labels == SHIRT)[0])  # the first shirt of the test set
maps = dict(d2lite.feature_maps(net, as_input([i])))
fig = plt.figure(figsize=(9, 9), layout="constrained")
head, *rows = fig.subfigures(6, 1, height_ratios=[1.3, 1, 1, 1, 1, 1])
ax = head.subplots()
ax.imshow(images[i], cmap="gray")
ax.axis("off")
head.suptitle(f"input: test image {i}, {names[labels[i]]} (predicted: {names[preds[i]]})",
              fontsize=10)
for k, sub in enumerate(rows, start=1):
    A = maps[f"relu{k}"]  # (1, channels, h, w): conv k's output after its ReLU
    varied = A[0].flatten(1).std(dim=1).argsort(descending=True)[:6]  # the 6 with most contrast
    for ax, c in zip(sub.subplots(1, 6), varied.tolist()):
        ax.imshow(A[0, c], cmap="viridis")
        ax.set_title(f"channel {c}", fontsize=8)
        ax.axis("off")
    sub.suptitle(f"conv{k} + ReLU: output {tuple(A.shape)}", fontsize=10)
plt.show()

# %% [markdown]
# The first layer's maps are still recognisably the shirt, each filter passing on a slightly
# different, blurred copy of it. Every layer after it sees a wider part of the image through
# smaller maps (54×54, then 26×26, then 12×12) and more channels (96, 256, 384, 384, 256), and
# its maps look less and less like the picture: they say *where* something the layer has learned
# to detect occurs (an edge on the left or on the right, the outline, the shoulders, the hem), not
# what the image looks like.
#
# ### Where does the network look?
#
# Grad-CAM (Selvaraju et al., 2017) turns the last convolution's output into a heat map for one
# class. With $A_k$ the $k$-th channel of conv5's output (after its ReLU, $12\times12$) and
# $y_c$ the score of class $c$ before the softmax, each channel gets the weight
# $\alpha_k = \operatorname{mean}_{i,j} \partial y_c / \partial A_{k,ij}$, and the map is
# $\operatorname{ReLU}(\sum_k \alpha_k A_k)$, enlarged to the image: bright where the layer
# saw evidence *for* class $c$. `d2lite.grad_cam` computes it. For each of the four tops, the
# first figure shows the first test image that the model gets right and the second the first one
# it mistakes for another top, each with the map of the class the model chose; the third shows
# the same mistakes with the map of their *true* class.

# %% mystnb={"image": {"alt": "Up to four 28\u00d728 tops (T-shirt, pullover, coat, shirt) per figure, each with a Grad-CAM heat map laid over it in colour; the three figures show correct answers, mistakes with the map of the predicted class, and the same mistakes with the map of the true class; each image is titled with its true class and the prediction."}}
tops = torch.tensor([TSHIRT, PULLOVER, COAT, SHIRT])


def first(mask):
    """The index of the first test image where mask is true, as a list (empty if none)."""
    return torch.nonzero(mask).flatten()[:1].tolist()


hits = sum((first((labels == c) & (preds == c)) for c in tops), [])
misses = sum((first((labels == c) & (preds != c) & torch.isin(preds, tops)) for c in tops), [])
for idx, for_true, title in [(hits, False, "right answers: map of the predicted class"),
                             (misses, False, "mistakes: map of the predicted (wrong) class"),
                             (misses, True, "the same mistakes: map of the true class")]:
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
# Grad-CAM answers through the network's own gradients. Occlusion (Zeiler and Fergus, 2014) asks
# the model directly instead: cover one square of the image with background (black, 0) and see how
# much the probability of the predicted class falls. Sliding the square over the image, one forward
# pass per position, gives a map; `d2lite.occlusion` averages the drops of all the positions that
# cover each pixel. Red means that hiding this part lowers the model's confidence in its (wrong)
# answer, so this is the part that made it choose that class; blue means that hiding it makes the
# wrong answer *more* likely. Each map is scaled by its own largest change, printed in its title,
# so that a small effect is as visible as a large one.

# %% mystnb={"image": {"alt": "The mistaken tops of the Grad-CAM figure again, with an occlusion map laid over each: red where covering the region lowers the probability of the predicted class, blue where it raises it, with a colour bar."}}
if misses:
    occ = d2lite.occlusion(net, as_input(misses), patch=S["occlusion_patch"],
                           stride=S["occlusion_stride"])  # (k, 224, 224) drops in P(pred)
    peak = occ.flatten(1).abs().amax(dim=1).clamp(min=1e-12)  # each map's largest change
    axes = d2lite.show_heatmaps(images[misses], occ / peak[:, None, None], num_cols=4,
                                cmap="RdBu_r", vmin=-1, vmax=1, alpha=0.6,
                                titles=[f"{names[labels[i]]}\n✗ {names[preds[i]]}\n"
                                        f"largest change {float(m):.2f}"
                                        for i, m in zip(misses, peak)],
                                title_colors=["tab:red"] * len(misses))
    axes[0].figure.colorbar(axes[0].images[-1], ax=list(axes), shrink=0.8,
                            label="drop in P(predicted class), per image scale")
    plt.show()

# %% [markdown]
# Read the maps with some care: a heat map says where the model's evidence lies, not whether that
# evidence is good, and a model trained for minutes on a CPU gives rougher maps than a
# well-trained one. Most of the heat lies on the garment or along its outline. Where it spills
# onto the black background beside a shoulder or a sleeve, that can be evidence too: the empty
# space where a long sleeve would be is what sets a T-shirt apart from a pullover. Heat far out in
# an empty corner is another matter: there the model leans on something that is not part of the
# garment, a sign that it still has a lot to learn. On a
# mistake, compare the map of the predicted class with the map of the true one: when both sit on
# the same region, the model looked at the right place and read it the wrong way. Both methods
# are coarse. Grad-CAM's map is enlarged from conv5's 12×12 grid, so a detail the size of a
# collar is at the limit of what it can show; occlusion's squares are 4×4 of the 28×28 pixels
# (the quick setting uses larger ones), at the price of one forward pass per position.
#
# ## 5.7 The full recipe, trained once
#
# The book's full recipe, chapter 4's full setting (10 epochs over every training image left
# after the validation split, batch 128, the learning rate of chapter 4's screen), was trained
# once, on a CPU over many hours, and recorded in the repository's `book/runs/` folder by
# `tools/record_full_run.py`: its command, hardware and times, its figures after every epoch, its
# one evaluation on the test set with the confusion matrix and per-class recall, and its conv1
# filters. `d2lite.load_record` reads them (on Colab it fetches them from the repository once),
# and stops with a message that says where they should be if they are missing.

# %%
full = d2lite.load_record("full-recipe")  # book/runs/full-recipe.json
W_full = torch.from_numpy(d2lite.load_record("full-recipe-conv1"))  # (96, 1, 11, 11) float32
rec = dict(  # glued as full_epochs, full_train_images, full_hours, ... for the prose
    epochs=len(full["epochs"]), train_images=full["train_images"], cpu=full["hardware"]["cpu"],
    hours=round(full["times"]["ran_seconds"] / 3600, 1), finished=full["times"]["finished"][:10],
    speed=full["speed"]["sustained_examples_per_sec"], val_acc=full["epochs"][-1]["val_acc"],
    test_acc=full["final_test"]["acc"], test_images=full["final_test"]["images"],
    epoch_minutes=round(sum(e["seconds"] for e in full["epochs"]) / len(full["epochs"]) / 60, 1))
for key, value in rec.items():
    d2lite.glue(f"full_{key}", value)
print(f"the full recipe: {rec['epochs']} epochs of {rec['train_images']:,} training images on "
      f"{rec['cpu']} ({full['amp_dtype']}), {rec['hours']} h of training at {rec['speed']} "
      f"examples/s sustained ({rec['epoch_minutes']} min an epoch), finished {rec['finished']}")
print("validation accuracy after each epoch:", *(f"{e['val_acc']:.3f}" for e in full["epochs"]))
print(f"test accuracy {rec['test_acc']:.3f} on {rec['test_images']:,} test images, evaluated once "
      f"(this page's model: {model['test_acc']})")

# %% [markdown]
# The full recipe trained for {glue:text}`full_epochs:d` epochs on
# {glue:text}`full_train_images:,` images, {glue:text}`full_hours:.1f` hours on
# {glue:text}`full_cpu:s`, and reached a test accuracy of {glue:text}`full_test_acc:.3f` on
# {glue:text}`full_test_images:,` test images, against {glue:text}`model_test_acc` for this
# page's model (the last line above). Now its conv1 filters beside this page's. Its start is known
# too: the command line builds the model with `d2lite.init_weights(d2lite.alexnet(), seed=0)`, so
# the same call gives its filters before training. One number says what the eye looks for in such
# a grid: the correlation between neighbouring weights of a filter, left–right and up–down,
# averaged over the 96 filters. Independent noise, as at initialisation, gives about 0; a smooth
# filter, a blob or a soft edge, gives a value near 1.

# %% mystnb={"image": {"alt": "Two grids of 96 small grey squares, the 11\u00d711 filters of the first convolution: on the left this page's model, on the right the full recipe's, each filter scaled on its own."}}
def neighbour_correlation(w):
    """Mean correlation of left-right and up-down neighbouring weights over the filters."""
    w = w[:, 0].double()  # (96, 11, 11)
    out = []
    for a, b in ((w[:, :, :-1], w[:, :, 1:]), (w[:, :-1, :], w[:, 1:, :])):
        a, b = a.flatten(1), b.flatten(1)
        a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
        out.append((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1)).clamp(min=1e-12))
    return torch.stack(out).mean().item()


W0_full = d2lite.init_weights(d2lite.alexnet(), seed=0)[0].weight.detach()  # its start
fig, axes = plt.subplots(1, 2, figsize=(8, 6), layout="constrained")
for ax, w, title in zip(axes, (W, W_full), ("this page's model", "the full recipe")):
    ax.imshow(d2lite.filter_grid(w, num_cols=8), cmap="gray", vmin=-1, vmax=1)
    ax.set_title(title)
    ax.axis("off")
plt.show()
for key, label, w, w0 in (("init", "at initialisation", W0, W0), ("here", "this page's model", W, W0),
                          ("full", "the full recipe", W_full, W0_full)):
    corr = d2lite.glue(f"smooth_{key}", round(neighbour_correlation(w), 2) + 0.0)  # no -0.0
    change = d2lite.glue(f"change_{key}", round(((w - w0).norm() / w0.norm()).item(), 2))
    print(f"{label:>18}: neighbour correlation {corr:.2f}, relative change from its start "
          f"{change:.2f}")

# %% [markdown]
# The filters of this page's model have a neighbour correlation of {glue:text}`smooth_here:.2f`
# and moved {glue:text}`change_here:.2f` of their initial size; the full recipe's have
# {glue:text}`smooth_full:.2f` and moved {glue:text}`change_full:.2f` (the initialisation's
# noise: {glue:text}`smooth_init:.2f`). The further a grid's correlation is from the noise's, the
# more of its squares show a shape, a blob or an edge, rather than speckle. Keep the input in mind
# when reading the shapes: every image was enlarged eight times, from 28×28 to 224×224, so the
# network never sees detail finer than about eight of its input pixels, and an $11\times11$
# filter spans little more than one pixel of the original.
#
# Next the two models' answers. The per-class recall, side by side, weakest class of the full
# recipe first:

# %% mystnb={"image": {"alt": "Horizontal bar chart of the recall of each of the ten classes, two bars per class: this page's model and the full recipe, on a scale from 0 to 1."}}
assert full["test"]["classes"] == d2lite.TEXT_LABELS["en"]  # the record's class order
recall_full = torch.tensor([full["test"]["per_class_recall"][c] for c in full["test"]["classes"]])
order = recall_full.argsort().tolist()  # weakest class of the full recipe at the top
pos = torch.arange(10).float()
fig, ax = plt.subplots(figsize=(6, 4.3))
ax.barh(pos - 0.2, per_class[order].tolist(), 0.4, color="tab:blue", label="this page's model")
ax.barh(pos + 0.2, recall_full[order].tolist(), 0.4, color="tab:orange", label="the full recipe")
ax.set_yticks(pos.tolist(), [names[i] for i in order])
ax.invert_yaxis()
ax.set_xlim(0, 1)
ax.set_xlabel("recall (accuracy on this class)")
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
    print(f"{names[i]:>12}: {per_class[i]:.3f} here, {recall_full[i]:.3f} in the full recipe "
          f"({gain[i]:+.3f})")

# %% [markdown]
# The full recipe's weakest class is {glue:text}`weakest_full`, with a recall of
# {glue:text}`weakest_full_recall:.3f` (this page's model: {glue:text}`weakest_here`,
# {glue:text}`weakest_here_recall:.3f`). The longer training helped
# {glue:text}`gain_class` most, from {glue:text}`gain_here:.3f` to {glue:text}`gain_full:.3f`.
#
# Where do the two models' mistakes go? The two confusion matrices below show only the mistakes,
# each row divided by its class's test images, so that the two are comparable even when they saw
# different numbers of test images (the quick setting classifies 192). Below them, the three
# largest shares in each.

# %% mystnb={"image": {"alt": "Two heat maps side by side, this page's model and the full recipe: true classes down the side, predicted classes along the bottom, each cell the share of the true class's test images predicted as that class, mistakes only; the darker the blue, the larger the share."}}
C_full = torch.tensor(full["test"]["confusion_matrix"])  # (10, 10) counts, rows = true class


def mistake_shares(M):
    """Each true class's share predicted as each other class (the diagonal set to 0)."""
    R = M.double() / M.sum(dim=1, keepdim=True).clamp(min=1)
    return R.fill_diagonal_(0)


shares = {"here": mistake_shares(C), "full": mistake_shares(C_full)}
top = max(R.max().item() for R in shares.values())
fig, axes = plt.subplots(1, 2, figsize=(12, 5.5), layout="constrained")
for ax, R, title in zip(axes, shares.values(), ("this page's model", "the full recipe")):
    im = ax.imshow(R, cmap="Blues", vmin=0, vmax=top)
    ax.set_xticks(range(10), names, rotation=45, ha="right")
    ax.set_yticks(range(10), names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"{title}: mistakes, share of each true class")
fig.colorbar(im, ax=list(axes), shrink=0.8)
plt.show()
largest = {}
for key, R in shares.items():
    cells = R.flatten().argsort(descending=True)[:3].tolist()
    largest[key] = [divmod(k, 10) for k in cells]
    print(("this page's model" if key == "here" else "the full recipe") + ":",
          "; ".join(f"{names[t]} -> {names[q]} {R[t, q]:.1%}" for t, q in largest[key]))
    t, q = largest[key][0]
    d2lite.glue(f"confused_{key}", f"{names[t]} → {names[q]}")
    d2lite.glue(f"confused_{key}_share", round(R[t, q].item(), 3))
common = d2lite.glue("confused_common", len(set(largest["here"]) & set(largest["full"])))
print(f"pairs among the three largest in both: {common} of 3")

# %% [markdown]
# The most frequent mistake of this page's model is {glue:text}`confused_here`, for
# {glue:text}`confused_here_share:.1%` of that class's test images; the full recipe's is
# {glue:text}`confused_full`, for {glue:text}`confused_full_share:.1%`. Of the three largest
# mistakes of each, {glue:text}`confused_common:d` are the same pairs in both. A pair in both
# lists is a mistake that hours more training did not remove, the kind the 28×28 pixels leave
# open; a pair only in this page's list is one that more training pushed out of the top three.

# %% [markdown]
# ## 5.8 Your own image
#
# The network has only ever seen Fashion-MNIST's images: one garment, its longer side 28 pixels,
# centred, light on a black background. A photo of your own is none of that, so it is first
# brought into that form, by the steps that made the data set (Xiao et al., 2017). So that this
# page needs no file of yours, the next cell makes a "photo" from a test image: the garment dark on
# light paper, enlarged, off centre, in a warm light, with a little sensor noise. It takes the
# first test image of this page's model's best class (5.4) that the model gets right, so that
# whatever changes below is caused by the photo, not by the garment.

# %%
import numpy as np

best = int(per_class.argmax())  # this page's model's best class (5.4)
hits = ((labels == best) & (preds == best)).nonzero()  # its test images classified right
i = int(hits[0]) if len(hits) else int((labels == best).nonzero()[0])  # the first of them
garment = test_iter.dataset.images[i].float().div(255).cpu()  # (28, 28), light on black
rng = torch.Generator().manual_seed(0)


def photograph(garment, light=0.0):
    """A 300 x 400 RGB "photo": the garment enlarged to 200 x 200, dark on light paper at
    (40, 150); ``light``: how much darker the paper gets towards the left (uneven lighting)."""
    big = F.interpolate(garment[None, None], size=(200, 200), mode="bilinear")[0, 0].clamp(0, 1)
    paper = 0.9 - light * torch.linspace(1, 0, 400).expand(300, 400)
    photo = paper.clone()
    photo[40:240, 150:350] *= 1 - 0.85 * big  # the garment darkens the paper
    photo = (photo + 0.004 * torch.randn(300, 400, generator=rng)).clamp(0, 1)
    return torch.stack([photo, 0.97 * photo, 0.9 * photo], dim=-1).numpy()  # a warm colour cast


photo = photograph(garment)
print(f"test image {i} ({names[best]}), as a {photo.shape[0]}x{photo.shape[1]} RGB photo")

# %% [markdown]
# The four steps, written out. Each is one or two lines of NumPy; at the end the cell checks its
# result against `d2lite.prepare_image`, the library's version, which `python -m d2lite predict`
# and the [demo page](demo.md) use (the page runs a JavaScript port of it, tested against it).

# %%
grey = photo @ np.array([0.299, 0.587, 0.114])  # 1. one brightness (ITU-R 601 weights)
border = np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])
background = np.median(border)  # the paper, read from the picture's edge
light_on_dark = 1 - grey if background > 0.5 else grey  # 2. light garment on a dark ground
ground = min(background, 1 - background)
stretched = np.clip((light_on_dark - ground) / (light_on_dark.max() - ground), 0, 1)  # 3. 0..1
rows = np.flatnonzero((stretched > 0.05).any(axis=1))  # 4. the garment's bounding box ...
cols = np.flatnonzero((stretched > 0.05).any(axis=0))
crop = stretched[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
h, w = (int(n * 28 / max(crop.shape) + 0.5) for n in crop.shape)  # ... longer side to 28 ...
small = F.adaptive_avg_pool2d(torch.from_numpy(crop)[None, None], (h, w))[0, 0]  # by averaging
mine = torch.zeros(28, 28, dtype=torch.float64)
top, left = (28 - h + 1) // 2, (28 - w + 1) // 2  # ... centred on a black square
mine[top:top + h, left:left + w] = small
prepared = d2lite.prepare_image(photo)[0]
print(f"background {background:.3f}, garment {crop.shape[0]}x{crop.shape[1]} pixels -> {h}x{w}; "
      f"largest difference from d2lite.prepare_image: {(mine - prepared).abs().max():.1e}")
print(f"mean difference from the original test image: {(prepared - garment).abs().mean():.3f}")

# %% [markdown]
# The result is close to the test image it was made from, not equal to it: enlarging, noise and
# area averaging each leave a trace (the last line above says how much, as a mean difference in
# brightness on a 0 to 1 scale).
#
# Where are the limits? Two photos of the same garment that a person reads without effort: one
# under uneven light, the paper darker on one side, and one turned by 90°. The network classifies
# all three; the figure shows each photo, what the network sees, and its top answer.

# %%
cases = {"the photo": photo,
         "uneven light": photograph(garment, light=0.25),
         "turned by 90°": np.rot90(photo).copy()}
EN = d2lite.TEXT_LABELS["en"]  # predict_image names the classes in English
answers = {}
for k, p in cases.items():
    c, prob = d2lite.predict_image(net, p, top=1)[0]
    answers[k] = (names[EN.index(c)], prob)
    print(f"{k:>14}: {answers[k][0]} ({prob:.2f})")

# %% mystnb={"image": {"alt": "Two rows of three panels. Top: the made-up photo, its grey version, and the light-on-dark version the steps produce. Bottom: the 28x28 input the network sees for the photo, for the photo under uneven light and for the photo turned by 90 degrees, each titled with the network's top class and its probability."}}
fig, axes = plt.subplots(2, 3, figsize=(9, 6))
for ax, img, title in zip(axes[0], (photo, grey, stretched),
                          ("the photo", "1. grey", "2-3. light on dark, 0 to 1")):
    ax.imshow(img, cmap="gray", vmin=0, vmax=1)
    ax.set_title(title)
for ax, (k, p) in zip(axes[1], cases.items()):
    c, prob = answers[k]
    ax.imshow(d2lite.prepare_image(p)[0], cmap="gray", vmin=0, vmax=1)
    ax.set_title(f"{k}: {c} ({prob:.2f})", color="green" if c == names[best] else "red")
for ax in axes.flat:
    ax.axis("off")
plt.tight_layout()
plt.show()

# %% [markdown]
# What the three answers say, computed from them:

# %%
right = sum(c == names[best] for c, _ in answers.values())
own_verdict = d2lite.glue("own_verdict", (
    f"The garment is of the class {names[best]}; the network answers "
    + "; ".join(f"{k}: {c} ({prob:.2f})" for k, (c, prob) in answers.items())
    + f". It is right for {right} of the 3."))
print(own_verdict)

# %% [markdown]
# {glue:text}`own_verdict` The steps undo what they were made for: colour, size, position, and
# which of garment and background is light. They cannot undo what the data set never varied.
# Uneven light moves the background away from one grey, so part of the paper may count as garment
# and the bounding box grows; a garment turned on its side is a shape the network never saw,
# because every Fashion-MNIST image is upright. A real photo adds more: a person wearing the
# garment, folds and shadows, a busy background, several garments at once. For those, the answer
# means little, however confident its probability. The [demo page](demo.md) runs the book's full
# recipe in your browser on a drawing or a photo of your own; from a terminal,
# `python -m d2lite predict my_shoe.jpg` does the same.

# %% [markdown]
# ## Summary
#
# - `d2lite.load_checkpoint` restores the weights and returns the saved epoch and history; the
#   JSON file beside it records the settings. Without a checkpoint the chapter trains a short
#   stand-in model, so it always runs on its own.
# - `d2lite.predict` and `d2lite.show_predictions` show test images with true and predicted labels
#   in the chapter's language, green ✓ for right and red ✗ for wrong.
# - The confusion matrix $C_{ij}$ counts true class $i$ predicted as $j$. Its diagonal over its
#   row sums gives per-class accuracy, and its largest off-diagonal cells are the most frequent
#   mistakes.
# - Looking at the images behind a mistake tells you whether the model is wrong in a forgivable
#   way (shirt vs T-shirt, pullover vs coat) or has not learned yet.
# - Inside the network: `d2lite.filter_grid` shows conv1's filters, which start as Xavier noise
#   (re-created exactly with chapter 4's seed) and move as the model trains;
#   `d2lite.feature_maps` returns every layer's output for an image; `d2lite.grad_cam` and
#   `d2lite.occlusion` show where the evidence for a class lies, the first from gradients at the
#   last convolution, the second by hiding parts of the image.
# - `d2lite.load_record` reads the book's full recipe, trained once and recorded in `book/runs/`:
#   its conv1 filters, per-class recall and confusion matrix stand beside this page's model's, and
#   the neighbour correlation of the filters and the largest shares of mistakes say in numbers
#   how the two differ.
# - `d2lite.prepare_image` brings any picture into Fashion-MNIST's form (grey, light on dark,
#   stretched, cropped, scaled and centred); it cannot undo what the data set never varied, such
#   as uneven light or a garment on its side.
#
# ## Exercises
#
# 1. Make the confusion matrix symmetric, $C + C^\top$, and list the most confused *unordered*
#    pairs. Does the ranking change?
# 2. Normalise each row of $C$ so it sums to 1 and plot it again. Fashion-MNIST's test set is
#    balanced, 1,000 images per class: what does that mean for the two pictures, and why are the
#    accuracy and the mean of the ten per-class recalls then the same number? When is the
#    row-normalised view the better one?
# 3. Change `d2lite.predict(..., start=...)` to browse other parts of the test set. Find a mistake
#    that you, too, would have made.
# 4. For the most confused pair, print the softmax probabilities of the two classes for each
#    mistaken image. Is the model confidently wrong or nearly undecided? Hint: the network outputs
#    raw scores (logits) and `predict_all` keeps only their argmax. Loop over `test_iter` yourself
#    in `eval` mode under `torch.inference_mode()`, keep `torch.softmax(net(X), dim=1)` (over all
#    10 classes), and with `t, q = pairs[0]` read columns `t` and `q` at the mistakes' indices.
#    The two probabilities need not add up to 1: the other eight classes get the rest.
# 5. Train the model of chapter 4 for 1, 3 and 10 epochs and compare the three confusion matrices.
#    Which mistakes disappear first?
# 6. Compute Grad-CAM for the same images at an earlier layer, `layer="relu3"` or `"relu1"`. How
#    does the map change, and why is the last convolution the usual choice?

# %% [markdown]
# ## Solutions
#
# Each solution is folded: try the exercise first, then open it. The code of a solution runs with
# the rest of the notebook (the tests run it too, in the quick setting), so what it prints on this
# page comes from the same model as the rest of the page.
#
# :::{admonition} Solution 1: unordered pairs
# :class: dropdown
# $C + C^\top$ adds the two directions of each mix-up, $C_{ab} + C_{ba}$, so it is symmetric
# and each unordered pair needs to be read only once, above the diagonal. The ranking changes when
# a pair is confused in both directions: two moderate cells can together outrank the single
# largest one-way cell. Among the upper-body garments that is common, since a shirt is taken for
# a T-shirt and a T-shirt for a shirt; the code below prints the three largest pairs of the model
# on this page, with both directions.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 1", "code_prompt_hide": "Hide the code of solution 1"}
sym = C + C.T  # C[a, b] + C[b, a]: both directions of a mix-up
assert torch.equal(sym, sym.T)
upper = torch.triu(sym, diagonal=1)  # each unordered pair once, diagonal dropped
top_sym = torch.topk(upper.flatten(), k=3)
for k, c in zip(top_sym.indices.tolist(), top_sym.values.tolist()):
    a, b = divmod(k, 10)
    if c > 0:
        print(f"{names[a]:>12} <-> {names[b]:<12}: {c:4d} mistakes "
              f"({int(C[a, b])} one way, {int(C[b, a])} the other)")

# %% [markdown]
# :::{admonition} Solution 2: row-normalised confusion matrix
# :class: dropdown
# Dividing each row by its total turns counts into shares: the diagonal becomes each class's
# recall and the rest of a row says where that class's images went. On the full test set every
# row holds 1,000 images, so the normalised matrix is $C / 1000$: the same picture with another
# scale. The accuracy is $\sum_i C_{ii} / N = \sum_i (n_i / N)\,\text{recall}_i$, the recalls
# weighted by each class's share $n_i / N$ of the test images; with ten equal shares of
# $1/10$ that is exactly the mean recall. The two part ways as soon as the classes differ in
# size: on a subset (the quick setting's 192 images are not split evenly) or on any data set that
# is not balanced, the accuracy leans towards the big classes, and the row-normalised view, like
# the mean recall (also called balanced accuracy), keeps a small class's mistakes from being
# drowned by a big class's. The raw counts remain the right view for "how many images are
# affected". The code prints the class sizes, the accuracy and the mean recall of this page's run.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 2", "code_prompt_hide": "Hide the code of solution 2", "image": {"alt": "The confusion matrix with each row divided by its total, as a heat map from 0 to 1: true classes down the side, predicted classes along the bottom."}}
R = C.float() / C.sum(dim=1, keepdim=True).clamp(min=1)  # each row sums to 1
assert torch.allclose(R.sum(dim=1)[C.sum(dim=1) > 0], torch.ones(1))
fig, ax = plt.subplots(figsize=(6.5, 5.5))
im = ax.imshow(R, cmap="Blues", vmin=0, vmax=1)
ax.set_xticks(range(10), names, rotation=45, ha="right")
ax.set_yticks(range(10), names)
ax.set_xlabel("predicted class")
ax.set_ylabel("true class")
ax.set_title("Confusion matrix, each row divided by its total")
fig.colorbar(im, ax=ax)
plt.show()
sizes = C.sum(dim=1)
acc, mean_recall = (C.trace() / C.sum()).item(), R.diag()[sizes > 0].mean().item()
print(f"images per class: {sizes.tolist()}")
print(f"accuracy {acc:.4f}, mean recall {mean_recall:.4f}")
if sizes.min() == sizes.max():  # balanced: the two must agree
    assert abs(acc - mean_recall) < 1e-5

# %% [markdown]
# :::{admonition} Solution 3: browsing the test set
# :class: dropdown
# `start` picks where in the test set the grid begins; the code shows the next `n_show` images
# and lists the test-set indices of the mistakes among them. Which of them you would have made
# too is yours to judge: look for a shirt without a visible collar, or a pullover and a coat of
# the same dark shape. Raise `start` by `n_show` to keep browsing.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 3", "code_prompt_hide": "Hide the code of solution 3", "image": {"alt": "A second grid of test images, those right after the first grid, each titled with its true and predicted class."}}
start = S["n_show"]  # the images right after the grid above
p2 = d2lite.predict(net, test_iter, n=S["n_show"], start=start)
d2lite.show_predictions(p2, lang=LANG, num_cols=6, scale=2.0)
plt.show()
wrong = torch.nonzero(~p2.correct).flatten()
print("mistakes among these images (test-set indices):", [start + int(i) for i in wrong])

# %% [markdown]
# :::{admonition} Solution 4: confident or undecided?
# :class: dropdown
# Instead of a pass over the whole test set, the code feeds the network only the mistaken
# images of the most confused pair, prepared exactly as the loader prepares them (scaled to
# [0, 1], enlarged to 224×224 with bilinear interpolation), and prints the softmax probability
# of the true class, of the predicted class and of the eight others together. A probability of
# the wrong class near 1 means confidently wrong; two similar values mean nearly undecided. A
# well-trained model tends to be undecided on the forgivable mistakes (shirt vs T-shirt), while a
# model from the quick setting spreads its probability over many classes, since it has barely
# learned. Read the printed numbers of this page's model rather than taking that on trust.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 4", "code_prompt_hide": "Hide the code of solution 4"}
if pairs:
    t, q = pairs[0]
    idx = torch.nonzero((labels == t) & (preds == q)).flatten()[:S["n_mistakes"]]
    X = as_input(idx)  # as the loader prepares them (section 5.6)
    net.eval()
    with torch.inference_mode():
        P = torch.softmax(net(X).float(), dim=1).cpu()  # (k, 10)
    assert torch.allclose(P.sum(dim=1), torch.ones(len(idx)), atol=1e-4)
    for k, i in enumerate(idx.tolist()):
        print(f"image {i}: P({names[t]}) = {P[k, t]:.2f}, P({names[q]}) = {P[k, q]:.2f}, "
              f"other classes {1 - P[k, t] - P[k, q]:.2f}")

# %% [markdown]
# :::{admonition} Solution 5: 1, 3 and 10 epochs
# :class: dropdown
# Train chapter 4's model three times with `num_epochs` 1, 3 and 10 (keep the same seed and
# settings), save each checkpoint under its own name, load each one here and compute its
# confusion matrix; plotting the three row-normalised matrices side by side makes the comparison
# easy. Expect the mistakes between classes that look nothing alike (a bag read as a trouser,
# footwear read as a top) to go first: they disappear as soon as the model has learned coarse
# shapes. The confusions among shirt, T-shirt, pullover and coat shrink last, and some remain
# after 10 epochs, because at 28×28 pixels those classes differ in a few pixels around the collar
# and the sleeves. Ten epochs take a GPU or hours of a CPU (section 5.7); on a CPU, the CPU setting
# with 1, 2 and 3 epochs shows the same trend, each run sized to chapter 4's time budget (longer
# when other jobs share the CPU).
# :::

# %% [markdown]
# :::{admonition} Solution 6: Grad-CAM at earlier layers
# :class: dropdown
# The code draws the maps of the mistaken tops of section 5.6 (for the predicted class) at three
# layers: after conv1 ($54\times54$), after conv2 ($26\times26$) and after conv5
# ($12\times12$, the default). The earlier maps are sharper, but their channels detect edges and
# textures that every garment has, so their maps tend to trace the whole outline whichever class
# they are computed for, and their gradients have to pass through more layers before they reach
# the scores. Conv5 is the last layer that still has a spatial layout (after it come the pooling,
# the flattening and the dense layers), and its channels are the most specific to the classes:
# that is why Grad-CAM is usually computed there, at the price of a coarse map enlarged from
# $12\times12$. How much the three rows of this page differ depends on how well the model has
# trained.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 6", "code_prompt_hide": "Hide the code of solution 6", "image": {"alt": "The mistaken tops of section 5.6 three times, with the Grad-CAM map of the predicted class computed after conv1, after conv2 and after conv5, one row per layer."}}
if misses:
    layers = ("relu1", "relu2", "relu5")  # after conv1 (54x54), conv2 (26x26), conv5 (12x12)
    cams6 = torch.cat([d2lite.grad_cam(net, as_input(misses), layer=name) for name in layers])
    d2lite.show_heatmaps(images[misses * len(layers)], cams6, num_cols=len(misses),
                         titles=[f"{name}: map for {names[preds[i]]}"
                                 for name in layers for i in misses])
    plt.show()
