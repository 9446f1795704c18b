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
# # 4 Training AlexNet
#
# Chapters 2 and 3 built the network and the data pipeline. This chapter trains the network, from
# one step done by hand to a whole run, and reads the curves for what they say about images the
# network has never seen.
#
# **What you will learn**
#
# - softmax, cross-entropy and one training step, worked by hand and checked against PyTorch;
# - SGD with momentum and weight decay;
# - why every choice (here the learning rate) is made on a validation set, and the test set is
#   looked at once;
# - the training loop, and this page's run beside the full recipe's recorded run;
# - what dropout does, measured over several seeds, and how to read the curves for over- and
#   underfitting.
#
# The run note under the title says how long this page took and on what machine; the
# learning-rate screen (4.6) and the main run (4.8) take most of that time.

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# Every knob sits in the next cell, in three settings: `FULL`, the book's recipe (10 epochs on all
# 55,000 training images, for a GPU); `CPU` (2 epochs on as many images as fit `budget_minutes`,
# small experiments); `QUICK_SETTING`, what the tests run. `d2lite.setting()` picks `FULL` with a
# GPU and `CPU` without; `D2LITE_SETTING=quick|cpu|full` overrides it.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # "full" with a GPU, "cpu" without one, "quick" in the tests
FULL = dict(
    subset=None,  # all 55_000 training images left after the validation split, all test images
    validation=5_000,  # of the 60_000 training images, held out for every choice (4.3)
    budget_minutes=None,  # no time budget: the whole recipe
    batch_size=128,  # the AlexNet paper's batch size
    num_epochs=10,  # d2l's budget for this network on Fashion-MNIST
    momentum=0.9,  # the paper's value
    weight_decay=5e-4,  # the paper's value
    amp=True,  # bf16 autocast where the hardware computes it fast (Performance notes)
    channels_last=True,  # NHWC layout (Performance notes)
    screen_lrs=(0.003, 0.01, 0.03),  # the recorded screen's first grid (tools/lr_screen.py)
    screen_seeds=(0, 1, 2),  # one run per rate and seed: the spread between seeds is the noise
    screen_images=25_600,  # 200 steps of batch 128 per run
    screen_val=5_000,  # validation images each screen run is scored on
    cnn_seconds=None,  # the small CNN's training time (4.8); None: as long as the main run
    dropout_ps=(0.0, 0.5, 0.9),  # none, the paper's, the original tutorial's (4.9)
    head_images=5_000,  # training images whose frozen features train the dense layers
    head_val=5_000,  # validation images they are scored on
    head_epochs=10,
    head_seeds=(0, 1, 2),  # three runs per dropout rate: the spread between them is the noise
    head_batch=128,
    head_lr=0.01,  # the paper's rate, the same for every dropout rate
    eval_train=5_000,  # training images whose accuracy is measured in eval mode (4.10)
    step_images=32,  # the batch of the steps done by hand (4.4)
)
CPU = dict(
    subset=None,  # start from all images: budget_minutes decides how many training images run
    validation=5_000,
    budget_minutes=10,  # the main run, its validation passes included, on the CPU that runs it
    batch_size=128,
    num_epochs=2,  # two passes, two validation points
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,  # bf16 on CPUs with AVX512-BF16 or AMX, float32 on others: d2lite checks
    channels_last=True,
    screen_lrs=(0.01, 0.03, 0.1),  # the first grid; it grows by about 3x at a winning edge
    screen_seeds=(0, 1),
    screen_images=3_072,  # 24 steps of batch 128 per run
    screen_val=500,
    cnn_seconds=150,  # the small CNN's training steps: a quarter of the main run's budget
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=2_000,  # 9 heads of 4 epochs on these features
    head_val=1_000,
    head_epochs=4,
    head_seeds=(0, 1, 2),
    head_batch=128,
    head_lr=0.01,
    eval_train=5_000,
    step_images=32,
)
QUICK_SETTING = dict(
    subset=(192, 96),  # 192 train / 96 test images
    validation=96,
    budget_minutes=None,
    batch_size=32,  # 6 steps, a few points for the live plot
    num_epochs=1,  # one pass: enough to show the loop, far too little to learn
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,
    channels_last=False,
    screen_lrs=(0.01, 0.03, 0.1),
    screen_seeds=(0, 1),
    screen_images=32,  # 1 step
    screen_val=32,
    cnn_seconds=0.5,
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=64,
    head_val=32,
    head_epochs=2,
    head_seeds=(0, 1, 2),
    head_batch=32,
    head_lr=0.01,
    eval_train=32,
    step_images=8,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}, "
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} setting: {S}")

# %% tags=["hide-input"]
import copy
import dataclasses
import datetime
import inspect
import json
import time
from pathlib import Path

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import Code
from torch import nn

print("CJK font:", d2lite.use_cjk_font())

# %% [markdown]
# Training goes to the best device there is: a CUDA GPU, then Apple's `mps`, then the CPU.

# %% tags=["hide-input"]
device = d2lite.try_gpu()
name = d2lite.device_name(device)  # the GPU's or the CPU's model name
print(f"device: {device} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads")
if QUICK:
    print("QUICK RUN: tiny subsets and very short runs. The accuracies printed below mean nothing.")
elif SETTING == "cpu":
    print(f"CPU SETTING: the main run trains {S['num_epochs']} epochs on as many training images "
          f"as fit {S['budget_minutes']} minutes on this CPU; section 4.8 shows the full "
          "recipe's recorded run beside it.")

# %% [markdown]
# ## 4.1 Accuracy
#
# For each image the network outputs ten scores $o_{i1}, \dots, o_{i10}$, one per class. Its
# prediction is the class with the largest score, and the accuracy over $n$ examples is the share
# of predictions that match the label:
#
# $$\hat y_i = \operatorname*{argmax}_j o_{ij}, \qquad
#   \text{accuracy} = \frac{1}{n}\sum_{i=1}^{n} \mathbb{1}\left[\hat y_i = y_i\right].$$
#
# Let us check `d2lite.accuracy` on four examples and three classes, small enough to count by hand.

# %%
y_hat = torch.tensor([[0.1, 2.0, 0.3],   # argmax 1, label 1: right
                      [1.5, 0.2, 0.1],   # argmax 0, label 0: right
                      [0.2, 0.1, 3.0],   # argmax 2, label 1: wrong
                      [0.9, 1.1, 0.0]])  # argmax 1, label 1: right
y = torch.tensor([1, 0, 1, 1])
print("predicted:", y_hat.argmax(dim=1).tolist(), " labels:", y.tolist())
print("correct:", d2lite.accuracy(y_hat, y), " accuracy:", d2lite.accuracy(y_hat, y) / len(y))

# %% [markdown]
# `accuracy` returns the *count* of correct predictions, so that batches of different sizes add
# up; we divide once at the end. Accuracy is what we report, not what we train on: a small change
# of a weight flips no prediction (gradient zero) or one (a jump). Training needs a quantity that
# changes smoothly with every weight: the loss.
#
# ## 4.2 From scores to a loss: softmax and cross-entropy
#
# Softmax turns the $q$ scores $\mathbf o = (o_1, \dots, o_q)$ of one image into probabilities:
# positive, summing to one, in the same order as the scores. The cross-entropy loss of an image
# with label $y$ is minus the log of the probability given to the right class, and a batch's loss
# is the mean over its $B$ images:
#
# $$\hat p_j = \frac{\exp(o_j)}{\sum_{k=1}^{q} \exp(o_k)}, \qquad
#   \ell(\mathbf o, y) = -\log \hat p_y = -o_y + \log \sum_{k=1}^{q} \exp(o_k), \qquad
#   L = \frac{1}{B} \sum_{i=1}^{B} \ell(\mathbf o_i, y_i).$$
#
# A network that knows nothing gives each of the 10 classes $1/10$ and scores
# $\ln 10 \approx 2.303$, where an untrained network starts. The gradient with respect to the
# scores is the probabilities minus the one-hot label, $\hat p_j - \mathbb 1[j = y]$: the right
# class's score is pushed up, every other score down, each in proportion to how wrong it is.
#
# A worked example with three classes, $\mathbf o = (2.0, 1.0, 0.1)$ and $y = 0$:
# $\exp(\mathbf o) = (7.389, 2.718, 1.105)$ sums to $11.212$, so
# $\hat{\mathbf p} = (0.659, 0.242, 0.099)$, $\ell = -\ln 0.659 = 0.417$ and the gradient is
# $(-0.341, 0.242, 0.099)$. The cell checks each number against `F.cross_entropy` and autograd.

# %%
o = torch.tensor([[2.0, 1.0, 0.1]], requires_grad=True)  # (1, 3): one example, three classes
label = torch.tensor([0])
p_hat = o.exp() / o.exp().sum()  # softmax by hand
loss_by_hand = -p_hat[0, label].log()  # cross-entropy by hand
loss_torch = F.cross_entropy(o, label)  # PyTorch: log-softmax and the mean over the batch
loss_torch.backward()  # d loss / d scores
print("softmax:", p_hat.detach().numpy().round(3), " by hand:", round(loss_by_hand.item(), 3),
      " F.cross_entropy:", round(loss_torch.item(), 3))
print("gradient:", o.grad.numpy().round(3), " p_hat - one_hot:",
      (p_hat - F.one_hot(label, 3)).detach().numpy().round(3))
assert torch.allclose(loss_by_hand, loss_torch) and torch.allclose(o.grad, p_hat - F.one_hot(label, 3))

# %% [markdown]
# `F.cross_entropy` takes the raw scores and computes $\log \sum_k \exp(o_k)$ without overflow,
# which is why AlexNet's last layer has no softmax.
#
# ## 4.3 Training, validation and test data
#
# The test set estimates how the finished model does on images it has never seen. Each choice made
# by looking at test accuracy (a learning rate, a number of epochs) fits a little to those
# particular images, and the estimate stops being honest. So:
#
# ```{important}
# Every choice is made on a **validation set**: 5,000 images held out of the 60,000 training
# images, never trained on. The **test set** is evaluated once, at the very end (section 4.10).
# ```
#
# `d2lite.load_data_fashion_mnist_split` holds out the same validation images in every run, and
# enlarges the images from 28×28 to 224×224 for AlexNet, batch by batch on the device.

# %%
train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=S["subset"], device=device,
    channels_last=S["channels_last"])
for part, it in (("train", train_iter), ("validation", val_iter), ("test", test_iter)):
    print(f"{part:>10}: {len(it.images):6,} images, {len(it):3} batches of up to {it.batch_size}")
print("validation images per class:", torch.bincount(val_iter.labels.cpu(), minlength=10).tolist())

# %% [markdown]
# The model is chapter 2's AlexNet, initialised in a visible step: Xavier-uniform weights, as in
# the original tutorial, and PyTorch's default biases. The seed makes the run repeatable.

# %%
d2lite.set_seed(0)  # seeds the biases, the Xavier weights and the shuffle order
net = d2lite.alexnet()
d2lite.init_weights(net)
net.to(device)
print(f"{sum(p.numel() for p in net.parameters()):,} parameters on {device}")

# %% [markdown]
# ## 4.4 One training step, by hand
#
# Training is one step repeated: scores for a batch, the loss, its gradient by backpropagation, a
# small move of every weight against the gradient. We do one step on a copy of the network, on
# the first images of a batch, in float32, at the paper's learning rate. In training mode dropout
# is on, so the loss is random; to compare before and after fairly we also measure the batch's
# loss in eval mode (dropout off).

# %%
X, y = next(iter(train_iter))
X, y = X[:S["step_images"]].float(), y[:S["step_images"]]  # (32, 1, 224, 224), (32,)
ETA = 0.01  # the paper's learning rate, for the steps done by hand
step_net = copy.deepcopy(net)
opt = torch.optim.SGD(step_net.parameters(), lr=ETA, momentum=S["momentum"],
                      weight_decay=S["weight_decay"])


def batch_loss(model):
    """The batch's mean cross-entropy with dropout off and no graph: a fair before/after."""
    model.eval()
    with torch.no_grad():
        return F.cross_entropy(model(X), y).item()


before = batch_loss(step_net)
step_net.train()  # dropout on: the loss we train on
loss = F.cross_entropy(step_net(X), y)
print(f"loss on this batch: {loss.item():.4f} in training mode, {before:.4f} in eval mode "
      f"(a uniform guess: ln 10 = {torch.log(torch.tensor(10.0)):.4f})")

# %% [markdown]
# `loss.backward()` fills `p.grad` of every parameter `p` with $\partial L / \partial p$. The
# gradient's norm says how steep the loss is here; it is far from evenly spread over the layers.

# %%
loss.backward()  # d loss / d every weight, into p.grad
grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in step_net.parameters()))
for i in (0, 14, 20):  # the first convolution, the first dense layer, the output layer
    print(f"layer {i:>2} {type(step_net[i]).__name__:6} weight {tuple(step_net[i].weight.shape)}: "
          f"gradient norm {step_net[i].weight.grad.norm():.4f}")
print(f"all {sum(p.numel() for p in step_net.parameters()):,} parameters: gradient norm "
      f"{grad_norm:.4f}")

# %% [markdown]
# `opt.step()` moves each weight by the rule of section 4.5; on the first step that is
# $\mathbf w \leftarrow \mathbf w - \eta\,\mathbf d$ with $\mathbf d = \nabla L + \lambda \mathbf w$.
# To first order the loss then changes by $-\eta\, \nabla L \cdot \mathbf d$, which the cell
# computes before the step and compares with the measured change.

# %%
estimate = -ETA * sum((p.grad * (p.grad + S["weight_decay"] * p)).sum()  # -lr * grad . d
                     for p in step_net.parameters()).item()
opt.step()  # w <- w - lr * (grad + weight_decay * w): the first step, momentum buffer empty
after = batch_loss(step_net)
ratio_train = d2lite.glue("ratio_train", (after - before) / estimate)
print(f"eval-mode loss on the same batch: {before:.5f} before, {after:.5f} after "
      f"({after - before:+.5f}); first-order estimate {estimate:+.5f}; ratio {ratio_train:.2f}")
assert after < before, "one step against the gradient should lower this batch's loss"

# %% [markdown]
# The loss dropped by {glue:text}`ratio_train:.2f` times the estimate (the ratio printed above).
# The estimate belongs to the loss the gradient came from: the training-mode loss with this
# step's random dropout masks. We measured a different loss, the eval-mode one. The cell repeats
# the step from the same weights with dropout off, so that the gradient belongs to the loss we
# measure:

# %%
check = copy.deepcopy(net).eval()  # dropout off for the gradient too
opt = torch.optim.SGD(check.parameters(), lr=ETA, momentum=S["momentum"],
                      weight_decay=S["weight_decay"])
F.cross_entropy(check(X), y).backward()
grad_norm_eval = torch.sqrt(sum((p.grad ** 2).sum() for p in check.parameters()))
estimate_eval = -ETA * sum((p.grad * (p.grad + S["weight_decay"] * p)).sum()
                           for p in check.parameters()).item()
opt.step()
change = batch_loss(check) - before
ratio_eval = change / estimate_eval
print(f"dropout off: change {change:+.5f}, estimate {estimate_eval:+.5f}, ratio {ratio_eval:.2f}")
print(f"gradient norm: {grad_norm_eval:.4f} with dropout off, {grad_norm:.4f} with dropout on")
print(d2lite.glue("step_verdict", f"With dropout off the loss changed by {ratio_eval:.2f} times "
      "its first-order estimate" + (": the two agree, as they should for a small step."
                                    if 0.8 <= ratio_eval <= 1.25 else
                                    ": even this step is large enough for the loss to curve.")))
del step_net, check, opt  # the copies have done their job

# %% [markdown]
# {glue:text}`step_verdict` With dropout on, part of the gradient is noise from the masks: it
# changes the gradient's length (compare the printed norms) and so the estimate, but it does not
# lower the eval-mode loss. Over many steps the noise averages out. Whether a step that helps
# *its* batch also helps other images is the question the rest of the chapter keeps asking.
#
# ## 4.5 SGD with momentum and weight decay
#
# Plain stochastic gradient descent moves the weights by $-\eta\,\mathbf g$, where $\mathbf g$ is
# the gradient of the minibatch loss and $\eta$ the learning rate. AlexNet's recipe adds two
# things, and `torch.optim.SGD(params, lr=η, momentum=μ, weight_decay=λ)` applies them in this
# order at every step:
#
# $$\mathbf g \leftarrow \nabla_{\mathbf w} L + \lambda \mathbf w, \qquad
#   \mathbf v \leftarrow \mu \mathbf v + \mathbf g, \qquad
#   \mathbf w \leftarrow \mathbf w - \eta \mathbf v.$$
#
# **Weight decay** $\lambda$ is the gradient of the penalty $\tfrac{\lambda}{2}\lVert \mathbf w
# \rVert^2$: it pulls every weight a little towards zero. **Momentum** $\mu$ keeps a running sum
# of past gradients: directions that agree from step to step add up, directions that flip cancel;
# under a constant gradient $\mathbf v$ settles at $\mathbf g/(1-\mu)$. The cell applies the
# three lines by hand and checks them against `torch.optim.SGD`.

# %%
lr, mu, lam = 0.1, 0.9, 0.05  # large values, so that the effect shows in three steps
w_torch = torch.tensor([1.0, -2.0], requires_grad=True)
sgd = torch.optim.SGD([w_torch], lr=lr, momentum=mu, weight_decay=lam)
w, v = torch.tensor([1.0, -2.0]), torch.zeros(2)
for step in range(3):
    grad = 2 * w  # the gradient of L(w) = |w|^2
    g = grad + lam * w  # weight decay
    v = g if step == 0 else mu * v + g  # momentum (the buffer starts at the first gradient)
    w = w - lr * v
    sgd.zero_grad()
    (w_torch ** 2).sum().backward()
    sgd.step()
    print(f"step {step + 1}: by hand {w.numpy().round(4)}, torch.optim.SGD "
          f"{w_torch.detach().numpy().round(4)}")
assert torch.allclose(w, w_torch.detach())

# %% [markdown]
# ## 4.6 Choosing the learning rate on the validation set
#
# The learning rate matters most, and the paper's 0.01 was chosen for ImageNet. So we screen: a
# fresh network trained briefly at each of a few rates, scored on validation images. Runs that
# differ only in their seed (initial weights, batch order) already end at different accuracies,
# so every rate gets one run per seed, and the spread between seeds (largest minus smallest)
# shows how large a difference must be to mean anything.
#
# The rule, fixed before looking: **take the rate with the highest mean validation accuracy.** If
# it is the smallest or largest rate tried, the grid grows at that end by a factor of about 3. A
# run that diverges counts as 0. The full setting does not screen on this page: it uses the
# record of a longer screen, shown below. The CPU setting screens runs of 24 steps: enough to
# tell a rate that diverges or hardly moves, too few for the others to separate much, so read
# the spread beside the means.

# %%
screen_train, screen_val_all, _ = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=(S["screen_images"], 1),
    device=device, channels_last=S["channels_last"])
screen_val = d2lite.DeviceLoader(screen_val_all.images[:S["screen_val"]],
                                 screen_val_all.labels[:S["screen_val"]], S["batch_size"], 224,
                                 device=device, channels_last=S["channels_last"])


def short_run(lr, seed):
    """A fresh AlexNet, one short pass at this lr: its validation accuracy (0 if it diverges)."""
    d2lite.set_seed(seed)  # the initial weights, the batch order and the dropout masks
    model = d2lite.init_weights(d2lite.alexnet())
    try:
        h = d2lite.train(model, screen_train, screen_val, 1, lr, device, momentum=S["momentum"],
                         weight_decay=S["weight_decay"], amp=S["amp"],
                         channels_last=S["channels_last"], animator=False, verbose=False)
    except d2lite.TrainingDivergedError:
        return 0.0
    return h.test_acc[-1]  # the accuracy on the set train() evaluated: here, validation

# %% [markdown]
# The screen itself: the record in the full setting, the runs here in the others.

# %%
LADDER = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)  # the rates a grid may grow to
mean_acc = lambda lr: sum(screen[lr, s] for s in S["screen_seeds"]) / len(S["screen_seeds"])
full_screen = d2lite.load_record("lr-screen-full")  # the full setting's screen (book/runs)
if SETTING == "full":  # screened once at these sizes by tools/lr_screen.py: its runs
    assert full_screen["setting"]["images"] == S["screen_images"], "a record of other sizes"
    screen = {(r["lr"], r["seed"]): r["val_acc"] for r in full_screen["runs"]}
else:
    lrs, screen, t0 = sorted(S["screen_lrs"]), {}, time.perf_counter()
    while True:
        screen |= {(lr, s): short_run(lr, s) for lr in lrs for s in S["screen_seeds"]
                   if (lr, s) not in screen}
        best = max(lrs, key=mean_acc)
        i = LADDER.index(best) + (1 if best == lrs[-1] else -1)  # the next rate out
        if lrs[0] < best < lrs[-1] or not 0 <= i < len(LADDER):
            break
        lrs = sorted(lrs + [LADDER[i]])  # the best is at an edge: grow the grid there
    print(f"{len(screen)} runs of {len(screen_train)} steps in {time.perf_counter() - t0:.0f} s")

# %% [markdown]
# One row per rate: its validation accuracy for each seed, their mean and their spread.

# %%
lrs = sorted({lr for lr, _ in screen})
accs = {lr: [screen[lr, s] for s in S["screen_seeds"]] for lr in lrs}
spread = {lr: max(a) - min(a) for lr, a in accs.items()}  # seed to seed: the noise
print("     lr | val acc per seed    |  mean | spread")
for lr in lrs:
    print(f"{lr:7g} | " + " ".join(f"{a:.3f}" for a in accs[lr]).ljust(19)
          + f" | {mean_acc(lr):.3f} | {spread[lr]:.3f}")
LR, runner_up = sorted(lrs, key=mean_acc, reverse=True)[:2]  # the rule: the highest mean
lead, noise = mean_acc(LR) - mean_acc(runner_up), max(spread[LR], spread[runner_up])
assert SETTING != "full" or LR == full_screen["verdict"]["chosen_lr"]  # the record's choice
print(f"chosen: lr = {d2lite.glue('lr', LR):g}")

# %% [markdown]
# Is the winner's lead larger than the noise? The cell compares it with the larger spread of the
# two best rates.

# %%
lr_verdict = d2lite.glue("lr_verdict", (
    f"lr = {LR:g} has the highest mean, {lead:.3f} ahead of lr = {runner_up:g}; "
    + (f"that lead is within the seed-to-seed spread of {noise:.3f}, so the screen cannot "
       "tell the two apart" if lead <= noise else
       f"that lead is larger than the seed-to-seed spread of {noise:.3f}")
    + ("." if lrs[0] < LR < lrs[-1] else ", and it lies at the end of the grid.")))
print(lr_verdict)

# %% [markdown]
# The verdict: {glue:text}`lr_verdict` The main run uses lr = {glue:text}`lr`. A short screen
# settles the order of magnitude (a rate far too small hardly moves, one far too large diverges);
# rates a factor of 3 apart often end within the noise of each other.
#
# The full setting's screen (`tools/lr_screen.py`: 200 steps per run, three seeds) ran once and is
# kept as a record:

# %%
rec = full_screen["verdict"]
for r in sorted(rec["mean_val_acc"], key=float):
    print(f"lr {r:>6}: mean val acc {rec['mean_val_acc'][r]:.3f}, spread {rec['seed_spread'][r]:.3f}")
full_lr_verdict = d2lite.glue("full_lr_verdict", (
    f"it chose lr = {rec['chosen_lr']:g}, {rec['lead']:.3f} ahead of lr = {rec['runner_up_lr']:g}, "
    + ("within" if rec["within_noise"] else "beyond") + " the seed-to-seed spread"))
print(f"recorded {full_screen['started'][:10]} on {full_screen['hardware']}: {full_lr_verdict}")

# %% [markdown]
# In the full setting's record {glue:text}`full_lr_verdict`; the full setting trains at that rate.
#
# ## 4.7 The training loop
#
# `d2lite.train` is the step of section 4.4 in a loop. `train_step` does one batch: forward under
# the run's autocast context, the loss, `backward()`, the optimiser's step. The code is read from
# `d2lite/engine.py` when the page is built, so it cannot drift from what runs:

# %%
Code(inspect.getsource(d2lite.train_step), language="python")

# %% [markdown]
# `train_epoch` runs one pass, a `train_step` per batch, summing losses and correct predictions on
# the device. What a long run adds (plot, progress line, checkpoints, Ctrl-C) attaches through the
# `on_step` hook:

# %%
Code(inspect.getsource(d2lite.train_epoch), language="python")

# %% [markdown]
# `train` builds the `torch.optim.SGD` of section 4.5, evaluates after every epoch on the set it
# is given (here validation), writes a checkpoint, stops when the loss becomes NaN or explodes, and
# returns a `History`.
#
# ## 4.8 Training the network
#
# Krizhevsky, Sutskever and Hinton (2012) trained AlexNet on ImageNet with the recipe on the left;
# this book keeps what carries over to Fashion-MNIST and a budget of minutes:
#
# | | AlexNet paper (ImageNet) | this book (Fashion-MNIST) | why the difference |
# |---|---|---|---|
# | batch, momentum, weight decay | 128, 0.9, 5·10⁻⁴ | the same | |
# | learning rate | 0.01, divided by 10 when the validation error stopped improving | chosen on the validation set (4.6): {glue:text}`lr` on this page, 0.01 in the full setting; constant | our runs are far shorter than the paper's |
# | epochs | about 90, five to six days on two GPUs | 2 on a time-budgeted subset (CPU), 10 (full) | time |
# | weight init | Gaussian with standard deviation 0.01, some biases 1 | Xavier-uniform, PyTorch's default biases | the original tutorial's choice |
# | dropout | 0.5 in the two hidden dense layers | the same (4.9) | |
# | data | 224×224 colour crops, flips, colour changes | 28×28 grey images enlarged to 224×224, no augmentation | augmentation made 2-epoch runs worse here (`benchmarks/RESULTS.md`) |
#
# In the CPU setting the run is sized to a time budget: `d2lite.plan_budget` times a few batches
# here and keeps as many training images as fit `budget_minutes` ([Performance
# notes](performance.md)).

# %%
if S["budget_minutes"]:  # the CPU setting: as many training images as fit the budget here
    shared = d2lite.shared_choice("plan")  # the other edition's plan, when the book is built
    plan = d2lite.BudgetPlan(**shared) if shared else d2lite.plan_budget(
        net, train_iter, val_iter, S["budget_minutes"], S["num_epochs"], device=device,
        amp=S["amp"], channels_last=S["channels_last"])
    d2lite.share_choice("plan", dataclasses.asdict(plan))  # so both editions train on the same
    train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
        S["batch_size"], resize=224, validation=S["validation"], subset=(plan.n_train, None),
        device=device, channels_last=S["channels_last"])
    print(f"measured {plan.train_examples_per_sec:.1f} training and "
          f"{plan.eval_examples_per_sec:.1f} evaluation examples/s: {plan.n_train:,} training "
          f"images per epoch fit {S['budget_minutes']} minutes (estimate "
          f"{plan.estimate_s / 60:.1f} min)")
print(f"{len(train_iter)} training batches of {S['batch_size']} per epoch")

# %% [markdown]
# Beside the checkpoint we write the run's settings to a JSON file, which chapter 5 reads.

# %%
CKPT = Path("checkpoints") / "alexnet_fashion_mnist.pt"
CKPT.parent.mkdir(exist_ok=True)
run = dict(S, lr=LR, setting=SETTING, quick=QUICK, device=str(device), device_name=name,
           torch=torch.__version__, date=datetime.date.today().isoformat(),
           train_images=len(train_iter.images), evaluated_each_epoch="validation")
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))
print(run)

# %% [markdown]
# Now we train. The plot shows training loss and accuracy as running means over the epoch so far,
# with dropout on, and validation accuracy after each epoch, with dropout off (which is why it can
# sit above training accuracy early on).

# %% mystnb={"image": {"alt": "Training curves against the epoch: training loss (solid line), training accuracy (dashed line) and, at the end of each epoch, validation accuracy (dash-dotted line with dots)."}}
d2lite.set_seed(0)  # the batch order and the dropout masks, whatever ran above
t0 = time.perf_counter()
history = d2lite.train(
    net, train_iter, val_iter, S["num_epochs"], LR, device,
    momentum=S["momentum"], weight_decay=S["weight_decay"], amp=S["amp"],
    channels_last=S["channels_last"], checkpoint=CKPT,
    animator=d2lite.Animator(xlabel="epoch", ylabel="loss / accuracy",
                             xlim=[0, S["num_epochs"]],
                             legend=["train loss", "train acc", "val acc"],
                             fmts=("-", "m--", "g-.o")),
)
run_seconds = time.perf_counter() - t0  # the whole run: training, evaluations, checkpoints

# %% [markdown]
# `train` returns the history, one entry per epoch. `examples/s` counts the wall time of the
# training steps, data loading included and evaluation excluded. The cell also adds the validation
# accuracy and the run's time to the JSON file:

# %%
for row in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc,
               history.examples_per_sec, history.seconds):
    print("epoch {}: loss {:.3f}, train acc {:.3f}, val acc {:.3f}, "
          "{:.1f} examples/s, {:.0f} s".format(*row))
run.update(val_acc=history.test_acc[-1], run_seconds=round(run_seconds))
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))  # into the JSON beside the checkpoint (chapter 5 reads it)
budget_s = 60 * (S["budget_minutes"] or 0)
budget_verdict = d2lite.glue("budget_verdict", (
    f"The run took {run_seconds:.0f} s against a budget of {budget_s:.0f} s: "
    + (f"{run_seconds / budget_s - 1:.0%} over it." if run_seconds > budget_s
       else f"{1 - run_seconds / budget_s:.0%} under it.") if budget_s else
    f"This setting has no time budget; the run took {run_seconds:.0f} s."))
print(budget_verdict)

# %% [markdown]
# {glue:text}`budget_verdict` A run overruns when the machine gets busier after the planner timed
# it, or when the few batches it timed ran faster than the run can sustain.
#
# ### The full recipe, recorded
#
# The book ran the full recipe once from the command line (`python -m d2lite train --setting
# full`) and kept its record. The cell draws its curves beside this page's run, with two published
# test accuracies as reference lines: the original tutorial's 0.923[^tutorial] and d2l's
# 0.88[^d2l].

# %%
full = d2lite.load_record("full-recipe")  # book/runs/full-recipe.json
ep = [e["epoch"] for e in full["epochs"]]
full_test_acc = d2lite.glue("full_test_acc", full["final_test"]["acc"])
full_hours = d2lite.glue("full_hours", full["times"]["ran_seconds"] / 3600)
full_cpu = d2lite.glue("full_cpu", f"{full['hardware']['cpu']} ({full['hardware']['cores']} threads)")
full_val_acc = d2lite.glue("full_val_acc", full["epochs"][-1]["val_acc"])
print(f"full recipe: {d2lite.glue('full_epochs', len(ep))} epochs on {full['train_images']:,} "
      f"training images, {full_hours:.1f} h of running on {full_cpu}")
print(f"last epoch: train acc {full['epochs'][-1]['train_acc']:.3f}, val acc {full_val_acc:.3f}; "
      f"test acc {full_test_acc:.3f} on {full['final_test']['images']:,} test images, once")

# %% mystnb={"image": {"alt": "Two panels against the epoch. Left: training loss of the full recipe's recorded run and of this page's run. Right: their training and validation accuracy, with horizontal reference lines for the original tutorial's and d2l's published test accuracy."}}
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.5, 3.2))
ax1.plot(ep, [e["train_loss"] for e in full["epochs"]], "b-o", markersize=3)
ax1.plot(history.epoch, history.train_loss, "r-s")
d2lite.set_axes(ax1, xlabel="epoch", ylabel="train loss", legend=["full recipe", "this page"])
ax2.plot(ep, [e["train_acc"] for e in full["epochs"]], "b--")
ax2.plot(ep, [e["val_acc"] for e in full["epochs"]], "b-o", markersize=3)
ax2.plot(history.epoch, history.train_acc, "r--")
ax2.plot(history.epoch, history.test_acc, "r-s")
ax2.axhline(full["cited"]["tutorial"]["test_acc"], color="grey", linestyle=":")
ax2.axhline(full["cited"]["d2l"]["test_acc"], color="grey", linestyle="-.")
d2lite.set_axes(ax2, xlabel="epoch", ylabel="accuracy",
                legend=["full: train acc", "full: val acc", "this page: train acc",
                        "this page: val acc", "tutorial: test acc", "d2l: test acc"])
plt.tight_layout()
plt.show()

# %% [markdown]
# The full recipe ran {glue:text}`full_epochs` epochs on {glue:text}`full_cpu`, in
# {glue:text}`full_hours:.1f` hours of running. It ended at validation accuracy
# {glue:text}`full_val_acc:.3f` and test accuracy {glue:text}`full_test_acc:.3f` (printed above):
# how far the same recipe gets with more epochs on all the training images.
#
# Its validation accuracy was still rising at the last epoch. The AlexNet paper divided the
# learning rate by 10 whenever validation accuracy stopped improving, so the book allowed itself
# one continuation, fixed before it ran: two more epochs at a tenth of the rate, from the epoch-10
# checkpoint (`python -m d2lite train --setting full --epochs 12 --lr 0.001 --resume`; a resume
# keeps the weights and the momentum and trains at the `--lr` it is given). It counts only if
# validation accuracy ends above epoch 10's. The test set has no say in that; it is evaluated once
# at the end, as before.

# %%
cont = d2lite.load_record("full-recipe-continued")  # book/runs/full-recipe-continued.json
for e in cont["epochs"][len(ep):]:  # the epochs after the recipe's
    print(f"epoch {e['epoch']} at lr {cont['lr']}: train acc {e['train_acc']:.3f}, "
          f"val acc {e['val_acc']:.3f}")
for stop in cont["interruptions"]:
    print(f"interrupted ({stop['how']}): {stop['steps_lost_at_least']} steps lost")
cont_val_acc = d2lite.glue("cont_val_acc", cont["epochs"][-1]["val_acc"])
cont_test_acc = d2lite.glue("cont_test_acc", cont["final_test"]["acc"])
print(f"test acc {cont_test_acc:.3f} on {cont['final_test']['images']:,} test images, once; "
      f"{cont['times']['ran_seconds'] / 60:.0f} min of running")
cont_verdict = d2lite.glue("cont_verdict", (
    f"Validation accuracy went from {full_val_acc:.3f} to {cont_val_acc:.3f}, so the "
    + (f"continuation counts: its test accuracy is {cont_test_acc:.3f}, against "
       f"{full_test_acc:.3f} after epoch {ep[-1]}." if cont_val_acc > full_val_acc else
       f"continuation does not count, and the recipe's result stays at {full_test_acc:.3f}. "
       f"For the record, the continued model scored {cont_test_acc:.3f} on the test set.")))
print(cont_verdict)

# %% [markdown]
# {glue:text}`cont_verdict`
#
# ### A small CNN at 28×28, on the same clock
#
# The original tutorial enlarges the images to 224×224 only so that AlexNet fits, and says itself
# that this is not a wise choice. What does it cost? The cell trains `d2lite.lenet` (d2l's
# LeNet-5 with ReLU) on the 28×28 images, with the same optimiser and rate, for `cnn_seconds` of
# training steps (full setting: as long as the main run), scoring the same validation images.

# %%
small_train, small_val, _ = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], validation=S["validation"], subset=S["subset"], device=device)  # 28x28
d2lite.set_seed(0)
small = d2lite.init_weights(d2lite.lenet(activation="relu")).to(device)
opt = torch.optim.SGD(small.parameters(), lr=LR, momentum=S["momentum"],
                      weight_decay=S["weight_decay"])
budget = S["cnn_seconds"] or sum(history.seconds)  # seconds of training steps
epochs = d2lite.shared_choice("cnn_epochs")  # the other edition's count, when the book is built
small_curve, spent, seen = [], 0.0, 0
while (spent < budget) if epochs is None else (len(small_curve) < epochs):  # whole epochs
    stats = d2lite.train_epoch(small, small_train, nn.CrossEntropyLoss(), opt, device)
    spent, seen = spent + stats.seconds, seen + stats.examples
    small_curve.append((spent, d2lite.evaluate_accuracy_gpu(small, small_val)))
d2lite.share_choice("cnn_epochs", len(small_curve))
print(f"LeNet: {len(small_curve)} epochs, {seen / spent:,.0f} examples/s, val acc "
      f"{small_curve[-1][1]:.3f} after {spent:.0f} s")

# %% [markdown]
# Both curves on one clock: validation accuracy against the seconds of training steps (evaluation
# excluded). AlexNet's points are the main run's epochs.

# %% mystnb={"image": {"alt": "Validation accuracy against seconds of training steps, logarithmic time axis: AlexNet on 224\u00d7224 images (the main run's epochs) and a small LeNet-style CNN on the 28\u00d728 images (one point per epoch)."}}
alex_t = [sum(history.seconds[:i + 1]) for i in range(len(history.seconds))]
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.plot(alex_t, history.test_acc, "r-s")
ax.plot([t for t, _ in small_curve], [a for _, a in small_curve], "b-o", markersize=3)
d2lite.set_axes(ax, xlabel="seconds of training steps", ylabel="val acc", xscale="log",
                legend=["AlexNet, 224×224", "LeNet, 28×28"])
plt.show()

# %% [markdown]
# The comparison, computed from both runs:

# %%
alex_then = [a for t, a in zip(alex_t, history.test_acc) if t <= spent]  # AlexNet by LeNet's end
speedup = d2lite.glue("cnn_speedup", (seen / spent) / (sum(
    e * s for e, s in zip(history.examples_per_sec, history.seconds)) / alex_t[-1]))
cnn_verdict = d2lite.glue("cnn_verdict", (
    f"In {spent:.0f} s of training steps LeNet on 28×28 images reached val acc "
    f"{small_curve[-1][1]:.3f}; by then AlexNet had "
    + (f"reached {max(alex_then):.3f}" if alex_then else "not finished its first epoch")
    + f", and it ended at {history.test_acc[-1]:.3f} after {alex_t[-1]:.0f} s."))
print(cnn_verdict, f"LeNet processed {speedup:.0f} times as many images per second.")

# %% [markdown]
# {glue:text}`cnn_verdict` LeNet processed {glue:text}`cnn_speedup:.0f` times as many images per
# second (printed above). Much of AlexNet's arithmetic goes into the enlarged images, whose extra
# pixels add no detail. Its size pays off on large, detailed images such as ImageNet's; this book
# trains it on Fashion-MNIST because AlexNet is its subject, not because it suits the data.
#
# ## 4.9 Dropout
#
# AlexNet has two dropout layers, after the ReLUs of its two 4096-wide dense layers (chapter 2).
# In training, each sets every unit to zero with probability $p$, independently for every image
# and step, and multiplies the units it keeps by $1/(1-p)$:
#
# $$h' = \frac{m}{1-p}\,h, \qquad m \sim \text{Bernoulli}(1-p).$$
#
# The scaling keeps the expected value, $\mathbb E[h'] = h$, so at inference the layer does
# nothing. This *inverted* dropout is what `nn.Dropout` does; the paper instead multiplied the
# outputs by $1-p$ at inference. The module's mode decides: `train()` turns the masks on, `eval()`
# off.

# %%
drop = nn.Dropout(p=0.5)
h = torch.ones(2, 8)
d2lite.set_seed(0)
print("train mode:\n", drop.train()(h))  # about half zeros, the rest 1 / (1 - 0.5) = 2
print("eval mode:\n", drop.eval()(h))  # unchanged
big = torch.ones(100_000)
print(f"mean over 100,000 units in train mode: {drop.train()(big).mean():.3f} (inverted); "
      f"the paper's way: {(big * (torch.rand(100_000) > 0.5)).mean():.3f} in training, "
      f"then x 0.5 = 0.500 at inference")

# %% [markdown]
# That is why `d2lite.evaluate_accuracy_gpu` evaluates in `eval()` mode.
#
# What does dropout buy? It makes memorising harder: no unit can rely on another being there.
# Overfitting shows when a model trains long on few images, too long for a CPU with all of
# AlexNet. But dropout acts only in the dense layers, so we measure it there: we freeze the
# convolutional layers of the network just trained and compute their 6,400 features once, for a
# few thousand training images and for validation images.

# %%
features = net[:14].eval()  # conv1 ... the last pooling and flatten: (B, 6400), frozen
amp_ctx = d2lite.autocast(device, d2lite.amp_dtype(device, S["amp"]))  # as train() uses it


def feats(images, labels):
    """The frozen features of these images, computed once: (N, 6400) float32, (N,)."""
    loader = d2lite.DeviceLoader(images, labels, S["batch_size"], 224, device=device,
                                 channels_last=S["channels_last"])
    with torch.inference_mode(), amp_ctx:
        out = [(features(Xb).float(), yb) for Xb, yb in loader]
    return torch.cat([f for f, _ in out]), torch.cat([t for _, t in out])


F_train, y_train = feats(train_iter.images[:S["head_images"]], train_iter.labels[:S["head_images"]])
F_val, y_val = feats(val_iter.images[:S["head_val"]], val_iter.labels[:S["head_val"]])
print("features:", tuple(F_train.shape), "train,", tuple(F_val.shape), "validation")

# %% [markdown]
# On these features we train AlexNet's dense layers from scratch (6400 → 4096 → 4096 → 10), once
# per dropout rate and seed: $p = 0$, $0.5$ (the paper's) and $0.9$ (the original tutorial's).
# After every epoch we measure accuracy in eval mode on the validation images and on as many
# training images.

# %%
def dense_layers(p):
    """AlexNet's dense layers with dropout p, freshly initialised: 6400 -> 4096 -> 4096 -> 10."""
    return d2lite.init_weights(nn.Sequential(
        nn.Linear(6400, 4096), nn.ReLU(), nn.Dropout(p),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(p),
        nn.Linear(4096, 10))).to(device)


def accuracies(model):
    """(train, val) accuracy in eval mode: on len(F_val) training images and on F_val."""
    model.eval()
    n = len(F_val)
    with torch.inference_mode(), amp_ctx:
        return tuple((model(Fx).argmax(1) == yx).float().mean().item()
                     for Fx, yx in ((F_train[:n], y_train[:n]), (F_val, y_val)))

# %% [markdown]
# The training loop: a shuffle per epoch, a `train_step` per minibatch. Only the dropout rate and
# the seed change between runs.

# %%
def train_dense(p, seed):
    """Train fresh dense layers with dropout p; return [(train acc, val acc)] per epoch."""
    d2lite.set_seed(seed)  # the initial weights, the shuffle order and the dropout masks
    model = dense_layers(p)
    opt = torch.optim.SGD(model.parameters(), lr=S["head_lr"], momentum=S["momentum"],
                          weight_decay=S["weight_decay"],
                          fused=device.type != "mps")  # one pass over the weights per update
    curve = []
    for _ in range(S["head_epochs"]):
        model.train()  # dropout on
        for b in torch.randperm(len(y_train), device=device).split(S["head_batch"]):
            d2lite.train_step(model, F_train[b], y_train[b], nn.CrossEntropyLoss(), opt, amp_ctx)
        curve.append(accuracies(model))
    return curve


t0 = time.perf_counter()
curves = {(p, s): train_dense(p, s) for p in S["dropout_ps"] for s in S["head_seeds"]}
print(f"{len(curves)} runs of {S['head_epochs']} epochs in {time.perf_counter() - t0:.0f} s")

# %% [markdown]
# After the last epoch, per dropout rate: the mean over the seeds and the spread (largest minus
# smallest) of training and validation accuracy, and the gap between their means.

# %%
final = {p: torch.tensor([curves[p, s][-1] for s in S["head_seeds"]]) for p in S["dropout_ps"]}
print("    p | train acc: mean, spread | val acc: mean, spread | gap")
for p, a in final.items():  # a: (seeds, 2), train and val
    print(f"{p:5} | {a[:, 0].mean():15.3f}, {a[:, 0].max() - a[:, 0].min():.3f} | "
          f"{a[:, 1].mean():13.3f}, {a[:, 1].max() - a[:, 1].min():.3f} | "
          f"{a[:, 0].mean() - a[:, 1].mean():+.3f}")
best, second = sorted(final, key=lambda p: final[p][:, 1].mean(), reverse=True)[:2]
lead = (final[best][:, 1].mean() - final[second][:, 1].mean()).item()
noise = max((final[q][:, 1].max() - final[q][:, 1].min()).item() for q in (best, second))
collapsed = [p for p, a in final.items() if a[:, 0].min() < 0.2]  # near chance: 0.1

# %% [markdown]
# The verdict, from the table:

# %%
drop_verdict = d2lite.glue("drop_verdict", (
    f"p = {best} generalised best, with mean val acc {final[best][:, 1].mean():.3f}, "
    f"{lead:.3f} ahead of p = {second}; "
    + (f"that lead is within the seed-to-seed spread of {noise:.3f}, so this experiment cannot "
       "tell the two apart." if lead <= noise else
       f"that lead is larger than the seed-to-seed spread of {noise:.3f}.")
    + " The gap between train and val acc: "
    + ", ".join(f"{a[:, 0].mean() - a[:, 1].mean():+.3f} at p = {p}" for p, a in final.items())
    + "." + "".join(f" With p = {p} at least one run collapsed to chance on its own training "
                    "images." for p in collapsed)))
print(drop_verdict)

# %% mystnb={"image": {"alt": "Three panels, one per dropout rate: training accuracy and validation accuracy of freshly trained dense layers against the epoch, the mean over seeds as a line and the range over seeds as a band."}}
fig, axes = plt.subplots(1, len(S["dropout_ps"]), figsize=(3.3 * len(S["dropout_ps"]), 2.8))
for ax, p in zip(axes, S["dropout_ps"]):
    c = torch.tensor([curves[p, s] for s in S["head_seeds"]])  # (seeds, epochs, 2)
    epochs = range(1, c.shape[1] + 1)
    for k, style, label in ((0, "b-", "train (eval mode)"), (1, "g--", "val")):
        ax.plot(epochs, c[:, :, k].mean(0), style, label=label)
        ax.fill_between(epochs, c[:, :, k].min(0).values, c[:, :, k].max(0).values,
                        color=style[0], alpha=0.2)
    d2lite.set_axes(ax, xlabel="epoch", ylabel="accuracy" if p == S["dropout_ps"][0] else None)
    if p == S["dropout_ps"][0]:
        ax.legend()  # the mean lines; the bands stay out of the legend
    ax.set_title(f"dropout p = {p}")
plt.tight_layout()
plt.show()

# %% [markdown]
# {glue:text}`drop_verdict` Where dropout works, the gap between training and validation accuracy
# shrinks as $p$ grows. Whether that buys validation accuracy depends on how much the layers
# overfit without it, and a few epochs on a few thousand images is a short trial.
# Each panel has its own vertical scale: compare them by their numbers. The main run used the
# paper's $p = 0.5$ before this experiment ran.
#
# ## 4.10 Overfitting, generalisation and the test set
#
# *Training accuracy* says how well a model fits the images it learned from; *validation
# accuracy* how well it does on images it never trained on; *test accuracy* asks the same once
# more, on images no choice has seen. A large gap between training and validation accuracy is
# **overfitting**: the model learned its images rather than the classes. Low training accuracy is
# **underfitting**. A small gap with high accuracy is **generalisation**.
#
# The training accuracy `train` prints is a running mean with dropout on, so we measure it again
# in eval mode on a sample of the training images. Then, with every choice made, we evaluate the
# test set, the only time this chapter does.

# %%
train_sample = d2lite.DeviceLoader(train_iter.images[:S["eval_train"]],
                                   train_iter.labels[:S["eval_train"]], S["batch_size"], 224,
                                   device=device, channels_last=S["channels_last"])
train_acc = d2lite.glue("train_acc", d2lite.evaluate_accuracy_gpu(net, train_sample, amp=S["amp"]))
val_acc = d2lite.glue("val_acc", history.test_acc[-1])  # measured by train() after the last epoch
test_acc = d2lite.glue("test_acc", d2lite.evaluate_accuracy_gpu(net, test_iter, amp=S["amp"]))
run.update(test_acc=test_acc, val_acc=val_acc, train_acc_eval_mode=train_acc)
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))  # chapter 5 reads it
print(f"train acc {train_acc:.3f} (eval mode, {len(train_sample.images):,} training images)\n"
      f"  val acc {val_acc:.3f} ({len(val_iter.images):,} validation images)\n"
      f" test acc {test_acc:.3f} ({len(test_iter.images):,} test images, evaluated once)")

# %% [markdown]
# The figure puts the main run's curves and its three final numbers side by side.

# %% mystnb={"image": {"alt": "Accuracy against the epoch for the main run: training accuracy as a running mean with dropout on (dashed), validation accuracy after each epoch (dots), and at the last epoch the training accuracy in eval mode (cross) and the test accuracy (star)."}}
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(history.epoch, history.train_acc, "m--o")
ax.plot(history.epoch, history.test_acc, "g-.o")
ax.plot(history.epoch[-1], train_acc, "bx", markersize=10)
ax.plot(history.epoch[-1], test_acc, "r*", markersize=12)
d2lite.set_axes(ax, xlabel="epoch", ylabel="accuracy", xlim=[0.8, history.epoch[-1] + 0.2],
                legend=["train acc (running, dropout on)", "val acc", "train acc (eval mode)",
                        "test acc (once)"])
ax.set_xticks(history.epoch)
plt.show()

# %% [markdown]
# What the three numbers say, computed from them: the gap between training and validation
# accuracy, whether validation accuracy was still rising at the last epoch, and whether test and
# validation accuracy differ by more than the sampling noise of their image counts.

# %%
gap = train_acc - val_acc
rising = history.test_acc[-1] > history.test_acc[-2] if len(history.test_acc) > 1 else None
sampling = 2 * (val_acc * (1 - val_acc) / len(val_iter.images)
                + test_acc * (1 - test_acc) / len(test_iter.images)) ** 0.5  # 2 standard errors
fit_verdict = d2lite.glue("fit_verdict", (
    f"Training minus validation accuracy is {gap:+.3f}, and validation accuracy "
    + {True: "was still rising at the last epoch.", False: "had stopped rising by the last epoch.",
       None: "was measured after a single epoch."}[rising]
    + f" Test accuracy differs from validation accuracy by {test_acc - val_acc:+.3f}, "
    + ("within" if abs(test_acc - val_acc) <= sampling else "beyond")
    + f" the sampling noise of the two image sets (about ±{sampling:.3f})."))
print(fit_verdict)

# %% [markdown]
# This run's three numbers: training accuracy {glue:text}`train_acc:.3f` (eval mode), validation
# accuracy {glue:text}`val_acc:.3f` and test accuracy {glue:text}`test_acc:.3f` (printed above).
# {glue:text}`fit_verdict` When no choice was tuned to the test set, test and validation accuracy
# should differ only by sampling noise. A rising validation curve says *train longer*, not
# *regularise more*.
#
# The original tutorial's run shows the other regime: after 100 epochs at batch 1 it printed a
# training accuracy of 0.988[^tutorial] (running, dropout on) beside a test accuracy of
# 0.923[^tutorial]. It fitted its training images almost perfectly; the gap is overfitting,
# despite dropout. Compare the full recipe's last training and validation accuracy (4.8).
#
# ## Summary
#
# - Training minimises the cross-entropy loss $-\log \operatorname{softmax}(\mathbf o)_y$, whose
#   gradient with respect to the scores is $\hat{\mathbf p}$ minus the one-hot label; accuracy is
#   what we report.
# - One step is forward, loss, `backward()`, `opt.step()`. {glue:text}`step_verdict` With dropout
#   on, the masks' noise enters the gradient and the estimate.
# - `torch.optim.SGD` applies $\mathbf g \leftarrow \nabla L + \lambda \mathbf w$,
#   $\mathbf v \leftarrow \mu \mathbf v + \mathbf g$, $\mathbf w \leftarrow \mathbf w - \eta
#   \mathbf v$, with the paper's batch 128, momentum 0.9 and weight decay 5·10⁻⁴.
# - Choices are made on a validation set; the test set is evaluated once. The learning rate was
#   screened over seeds with a rule fixed in advance: this page chose {glue:text}`lr`; in the full
#   setting's record {glue:text}`full_lr_verdict`.
# - The full recipe reached a test accuracy of {glue:text}`full_test_acc:.3f` in
#   {glue:text}`full_epochs` epochs. Its one continuation, two epochs at a tenth of the rate, was
#   judged on validation: {glue:text}`cont_verdict` A small CNN on the 28×28 images processed
#   {glue:text}`cnn_speedup:.0f` times as many images per second.
# - Dropout zeroes units with probability $p$ and scales the rest by $1/(1-p)$ in training, and
#   does nothing in eval mode. On dense layers over frozen features: {glue:text}`drop_verdict`
#
# ## Exercises
#
# 1. What cross-entropy loss does a model get that gives the right class probability 0.9? And
#    one that gives it 0.01? Why does the loss punish a confident mistake so much more?
# 2. Feed the momentum rule of section 4.5 a gradient that never changes, $g = 1$, with
#    $\mu = 0.9$. How large does $v$ get, and after how many steps is it within 1% of that?
# 3. The paper divided its learning rate by 10 whenever the validation error stopped improving.
#    Use `torch.optim.lr_scheduler.ReduceLROnPlateau` to do the same on a list of validation
#    errors, and say which line of a training loop would call it.
# 4. This page's learning-rate screen may end with a winner whose lead is within the seed-to-seed
#    spread. Why not break such a tie by evaluating each candidate on the test set? What would
#    the test accuracy you then report mean, and what could you do instead?
#
# ## Solutions
#
# Each solution is folded: try the exercise first. Its code runs with the rest of the notebook.

# %% [markdown]
# :::{admonition} Solution 1: confident mistakes
# :class: dropdown
# $-\ln 0.9 = 0.105$ and $-\ln 0.01 = 4.6$. The loss grows without bound as $\hat p_y \to 0$, so
# one confident mistake costs as much as dozens of slightly unsure right answers, and its gradient
# $\hat p_y - 1 \approx -1$ pushes hard.
# :::
#
# :::{admonition} Solution 2: momentum with a constant gradient
# :class: dropdown
# $v_t = 1 + 0.9 + \dots + 0.9^{t-1} = (1 - 0.9^t)/(1 - 0.9)$, which tends to $10$, within 1% once
# $0.9^t < 0.01$: after $t = \lceil \ln 0.01 / \ln 0.9 \rceil = 44$ steps. Momentum needs a few
# dozen steps to reach its tenfold speed-up, and forgets a gradient at the same pace.
# :::

# %% mystnb={"code_prompt_hide": "Hide the code of solution 2", "code_prompt_show": "Show the code of solution 2"} tags=["hide-cell"]
v, mu, t = 0.0, 0.9, 0
while abs(v - 10) >= 0.1:  # until within 1% of the limit 10
    v, t = mu * v + 1.0, t + 1  # g = 1 at every step
print(f"v = {v:.3f} after {t} steps (limit 1 / (1 - {mu}) = {1 / (1 - mu):.0f})")

# %% [markdown]
# :::{admonition} Solution 3: the paper's schedule
# :class: dropdown
# `ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=...)` divides the rate by 10 when the
# value it is given has not improved for `patience` calls. It is called once per epoch, after the
# validation pass: `scheduler.step(1 - val_acc)`. The code feeds it made-up validation errors.
# :::

# %% mystnb={"code_prompt_hide": "Hide the code of solution 3", "code_prompt_show": "Show the code of solution 3"} tags=["hide-cell"]
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=1)
for epoch, val_err in enumerate([0.30, 0.22, 0.19, 0.19, 0.195, 0.15, 0.14, 0.14, 0.141], 1):
    plateau.step(val_err)  # after each epoch's validation pass
    print(f"epoch {epoch}: val error {val_err:.3f} -> lr {opt.param_groups[0]['lr']:.0e}")

# %% [markdown]
# :::{admonition} Solution 4: the test set is not a tie-breaker
# :class: dropdown
# A choice made on the test set makes the test set part of training: the accuracy reported is
# then the best of several candidates on those very images, and it overstates what the chosen
# model will do on new ones, the more so the more candidates were compared and the closer they
# were. The test set would no longer be a fresh look, and there is no second one. Instead: run
# more seeds or longer screens, so that the spread shrinks; prefer the rate with the smaller
# spread, or the conventional one when the two cannot be told apart; or accept either and say
# that the choice was within noise, as this page does. The test set is evaluated once, after
# every choice is made.
# :::

# %% [markdown]
# [^tutorial]: The original (Chinese) tutorial this book grew from: 100 epochs at batch size 1, learning rate 0.01, on an unnamed GPU; its last printout reads training loss 0.034, training accuracy 0.988, test accuracy 0.923.
#
# [^d2l]: Dive into Deep Learning, section 8.1 (AlexNet): 10 epochs at batch size 128, learning rate 0.01; test accuracy about 0.88.
