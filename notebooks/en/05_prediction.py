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
# its answers image by image, and asks which classes it mixes up and why.
#
# **What you will learn**
#
# - how to load a checkpoint and read how its model was trained;
# - how to show test images with their true and predicted labels;
# - how to build a confusion matrix and read per-class accuracy from it;
# - how to find the most frequent mistakes and look at the images behind them.
#
# ```{note}
# **Runtime**, measured on 2026-11-28 on 2 cores of an Intel Xeon (Sapphire Rapids) CPU, loading
# chapter 4's checkpoint:
#
# - **CPU setting** (all 10,000 test images; what a machine without a GPU runs, and what produced
#   the outputs on this page, from chapter 4's CPU-setting model): about a minute and a half
#   (96.8 s for this page, 94.9 s for the Chinese one).
# - **Quick setting** (192 test images; what the tests run): about 10 s.
# - **Full setting** (all 10,000 test images, as in the CPU setting, with chapter 4's full model):
#   made for a GPU, not yet measured for this book.
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
    n_mistakes=6,  # example images per confused pair
    fallback_train=None,  # no checkpoint? train on all 60,000 images ...
    fallback_epochs=2,  # ... for 2 epochs (a job for a GPU)
    fallback_budget_minutes=None,  # no time budget on a GPU
)
CPU = dict(
    n_test=None,  # all 10,000 test images: about a minute and a half on a 2-core CPU
    batch_size=128,
    n_show=18,
    n_mistakes=6,
    fallback_train=None,  # no checkpoint? 1 epoch on as many images as fit the budget below
    fallback_epochs=1,
    fallback_budget_minutes=10,  # the stand-in's training, sized by this CPU's measured speed
)
QUICK_SETTING = dict(
    n_test=192,  # chapter 4's quick test images: AlexNet at 224x224 is slow on a CPU
    batch_size=32,
    n_show=12,
    n_mistakes=6,
    fallback_train=256,  # only if chapter 4 has not run: a few seconds of training
    fallback_epochs=1,
    fallback_budget_minutes=None,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}, "
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} setting: {S}")

# %% tags=["hide-input"]
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
# settings to a small JSON file beside the checkpoint. If there is no checkpoint (you opened this
# chapter first), we train a short model here so that the chapter still runs on its own.

# %%
if CKPT.exists():
    state = d2lite.load_checkpoint(CKPT, net, map_location=device)
    history = d2lite.History(**state["history"])
    meta = CKPT.with_suffix(".json")
    settings = json.loads(meta.read_text()) if meta.exists() else {"note": "no settings file"}
else:
    print("No checkpoint: training a short stand-in model here (chapter 4 trains the real one).")
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
    settings = dict(subset=len(train_iter.images), num_epochs=S["fallback_epochs"],
                    setting=SETTING, quick=QUICK)
print("trained with:", settings)

# %% [markdown]
# The history says how training went, epoch by epoch, and on which device.

# %%
for row in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc):
    print("epoch {}: loss {:.3f}, train acc {:.3f}, test acc {:.3f}".format(*row))
print(f"trained on {history.device}")
if settings.get("quick"):
    print("This model comes from a QUICK run (a tiny subset, one epoch): its predictions are "
          "close to guesses. The figures below show the method, not AlexNet's quality.")
elif settings.get("setting") == "cpu":
    print(f"This model comes from chapter 4's CPU setting ({settings.get('num_epochs')} epochs on "
          f"as many images as fit a {settings.get('budget_minutes')}-minute budget on "
          f"{settings.get('device_name', 'its CPU')}). The full setting, for a GPU, shows it "
          "10 epochs of all 60,000 images.")

# %% [markdown]
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
# classes involved.

# %%
labels, preds = d2lite.predict_all(net, test_iter)
C = d2lite.confusion_matrix(labels, preds)
print(f"{len(labels)} test images, accuracy {C.trace().item() / C.sum().item():.3f}")
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
for i in per_class.argsort().tolist():
    print(f"{names[i]:>12}: {per_class[i]:.3f} ({int(C[i, i])} of {int(C[i].sum())})")

# %% [markdown]
# In the run shown here, two classes stand below the rest: shirt, with a recall of only 0.435
# (435 of its 1,000 test images), and coat at 0.632, while every other class is at 0.82 or above.
# The confusion matrix says where they went: 218 shirts were called t-shirts and 184 pullovers,
# and 220 coats were called pullovers. All are tops shaped much like one another (in chapter 3
# the mean images of the four
# differ mostly in sleeve length and neckline), and what marks a shirt, such as its collar and
# buttons, covers only a few of the 28×28 pixels.
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
# Numbers alone do not say *why*. Here are test images behind each of those mistakes, as the
# 28×28 originals (the network saw them enlarged to 224×224). `predict_all` walks the test set in
# order, so position $k$ in `labels` and `preds` is image $k$ of the dataset.

# %% mystnb={"image": {"alt": "Rows of 28\u00d728 test images that the model got wrong, one row per confused pair; each image is titled with its true class and, after an arrow, the class it was mistaken for."}}
images = test_iter.dataset.images.cpu()  # (n_test, 28, 28) uint8 originals
assert torch.equal(test_iter.dataset.labels.cpu(), labels)  # same order as the predictions
for t, q in pairs:
    idx = torch.nonzero((labels == t) & (preds == q)).flatten()[:S["n_mistakes"]]
    d2lite.show_images(images[idx], 1, S["n_mistakes"], scale=1.4,
                       titles=[f"{names[t]}\n→ {names[q]}"] * len(idx),
                       title_colors=["tab:red"] * len(idx))
    plt.show()

# %% [markdown]
# At 28×28 pixels a shirt and a T-shirt differ by a few rows of pixels around the collar and the
# sleeves; many of the shirts the model misses would give a person pause too. Mistakes between
# classes that look nothing alike (a bag read as a trouser, say) point to a model that has not
# learned enough yet: the quick setting's model makes plenty of those, a trained one hardly any.
#
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
#   way (shirt vs T-shirt) or has not learned yet.
#
# ## Exercises
#
# 1. Make the confusion matrix symmetric, $C + C^\top$, and list the most confused *unordered*
#    pairs. Does the ranking change?
# 2. Normalise each row of $C$ so it sums to 1 and plot it again. Which view is better when the
#    classes have different numbers of test images?
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
# accuracy (its recall) and the rest of a row says where that class's images went. That is the
# better view when the classes have different numbers of test images (a subset, as in the quick
# setting, or any real data set that is not balanced), because a small class's mistakes are no
# longer drowned by a big class's. The raw counts remain the right view for "how many images are
# affected". On the full Fashion-MNIST test set every class has 1,000 images, so the two pictures
# differ only by that factor.
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
import torch.nn.functional as F

if pairs:
    t, q = pairs[0]
    idx = torch.nonzero((labels == t) & (preds == q)).flatten()[:S["n_mistakes"]]
    X = F.interpolate(images[idx].unsqueeze(1).float() / 255, size=(224, 224),
                      mode="bilinear", align_corners=False)  # as the loader prepares them
    net.eval()
    with torch.inference_mode():
        P = torch.softmax(net(X.to(device)).float(), dim=1).cpu()  # (k, 10)
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
# and the sleeves. Ten epochs take a GPU; on a CPU, the CPU setting with 1, 2 and 3 epochs shows
# the same trend in under 20 minutes per run on this book's 2-core CPU.
# :::
