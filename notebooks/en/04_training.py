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
# Chapters 2 and 3 built the network and the data pipeline. This chapter teaches the network.
# We start with the smallest piece, one training step done by hand on one batch, then build up
# to a whole run, and end by reading what the curves say about how well the model will do on
# images it has never seen.
#
# **What you will learn**
#
# - how ten scores become probabilities (softmax) and a loss (cross-entropy), worked by hand and
#   checked against PyTorch;
# - what one training step does: the loss, `backward()`, the gradient, the update, and the loss
#   on the same batch dropping afterwards;
# - SGD with momentum and weight decay as formulas, matched against `torch.optim.SGD`;
# - why the test set is looked at once, at the very end, and how a validation set carries every
#   choice before that (here: the learning rate);
# - the AlexNet paper's training recipe beside this book's, point by point, with the reasons;
# - where dropout acts, how its scaling works in training and at test time, and what it does to
#   the gap between training and validation accuracy, measured;
# - how to read training, validation and test accuracy for signs of over- and underfitting.
#
# ```{note}
# **Runtime**, measured on 2026-12-02 on 2 cores of an Intel Xeon (family 6 model 207, with AMX):
#
# - **CPU setting** (what a machine without a GPU runs, and what produced the outputs on this
#   page): about 25 minutes, 10 of them the main training run (2 epochs, sized to the CPU at hand
#   by the planner in section 4.9).
# - **Quick setting** (tiny subsets, one short epoch; what the tests run): under a minute; it
#   learns nothing.
# - **Full setting** (55,000 training images, 10 epochs): made for a GPU, not yet measured.
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# Every knob of this chapter sits in the next cell, in three settings side by side:
#
# - `FULL`, the book's recipe: all 55,000 training images (60,000 minus the validation set) for
#   10 epochs, made for a GPU;
# - `CPU`, for a machine without one: the main run takes 2 epochs on as many training images as
#   this CPU trains in `budget_minutes`, and the two experiments (the learning-rate screen and
#   the dropout experiment) have fixed small sizes of their own;
# - `QUICK_SETTING`, what the tests run: tiny subsets, seconds, learns nothing.
#
# `d2lite.setting()` picks `FULL` when it finds a GPU and `CPU` when it does not. The environment
# variable `D2LITE_SETTING` (`quick`, `cpu` or `full`) overrides that choice, and `D2LITE_QUICK=1`
# is short for `D2LITE_SETTING=quick`.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

SETTING = d2lite.setting()  # "full" with a GPU, "cpu" without one, "quick" in the tests
FULL = dict(
    subset=None,  # every training image left after the validation split, all 10,000 test images
    validation=5_000,  # training images held out for every choice (section 4.3)
    budget_minutes=None,  # no time budget: the whole recipe
    batch_size=128,  # the AlexNet paper's batch size
    num_epochs=10,  # d2l's published budget for this network on Fashion-MNIST
    lr=0.01,  # the paper's starting rate; the screen in 4.7 checks it on the validation set
    momentum=0.9,  # the paper's value
    weight_decay=5e-4,  # the paper's value
    amp=True,  # bf16 autocast where the hardware computes it fast (Performance notes)
    channels_last=True,  # NHWC layout (Performance notes)
    screen_lrs=(0.003, 0.01, 0.03),  # the learning rates the screen compares
    screen_seeds=(0, 1, 2),  # one short run per seed: the spread shows the noise
    screen_images=25_600,  # 200 steps of batch 128 per run
    screen_val=5_000,  # validation images each screen run is scored on
    dropout_ps=(0.0, 0.5, 0.9),  # none, the paper's, the original tutorial's
    head_images=500,  # training images for the dropout experiment (4.10): few, to overfit
    head_val=5_000,  # validation images it is scored on
    head_batch=32,  # small batches: more steps per epoch
    head_epochs=10,  # enough to memorise 500 images without dropout
    eval_train=5_000,  # training images whose accuracy is measured in eval mode (4.11)
    step_images=32,  # the batch of the training step done by hand (4.4)
    speed_batches=(1, 8, 32, 128),  # batch sizes timed in 4.12
    speed_images=512,  # images timed per batch size (at least 2 steps)
)
CPU = dict(
    subset=None,  # start from all images: budget_minutes decides how many training images run
    validation=5_000,
    budget_minutes=10,  # the main run, its validation passes included, on the CPU that runs it
    batch_size=128,
    num_epochs=2,  # two passes, two validation points
    lr=0.01,
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,  # bf16 on CPUs with AVX512-BF16 or AMX, float32 on others: d2lite checks
    channels_last=True,
    screen_lrs=(0.003, 0.01, 0.03),
    screen_seeds=(0, 1),  # two seeds: what about 6 minutes of screening affords here
    screen_images=6_144,  # 48 steps of batch 128 per run
    screen_val=1_000,
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=500,
    head_val=1_000,
    head_batch=32,
    head_epochs=10,
    eval_train=5_000,
    step_images=32,
    speed_batches=(1, 8, 32, 128),
    speed_images=32,
)
QUICK_SETTING = dict(
    subset=(192, 96),  # 192 train / 96 test images
    validation=96,
    budget_minutes=None,
    batch_size=32,  # 6 steps, a few points for the live plot
    num_epochs=1,  # one pass: enough to show the loop, far too little to learn
    lr=0.01,
    momentum=0.9,
    weight_decay=5e-4,
    amp=True,
    channels_last=False,
    screen_lrs=(0.01, 0.03),
    screen_seeds=(0,),
    screen_images=32,  # 1 step
    screen_val=32,
    dropout_ps=(0.0, 0.5, 0.9),
    head_images=32,
    head_val=32,
    head_batch=32,
    head_epochs=1,
    eval_train=32,
    step_images=8,
    speed_batches=(1, 8),
    speed_images=2,
)
S = {"full": FULL, "cpu": CPU, "quick": QUICK_SETTING}[SETTING]
QUICK = SETTING == "quick"
print(f"D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}, "
      f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} -> {SETTING} setting: {S}")

# %% tags=["hide-input"]
import copy
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
    print("QUICK RUN: tiny subsets and one short epoch. The accuracies printed below mean nothing.")
elif SETTING == "cpu":
    print(f"CPU SETTING: the main run trains {S['num_epochs']} epochs on as many training images "
          f"as fit {S['budget_minutes']} minutes on this CPU (sized in section 4.9). The full "
          "setting (a GPU, 10 epochs on 55,000 images) is expected to end higher; that is not "
          "measured yet.")

# %% [markdown]
# ## 4.1 Accuracy
#
# For each image the network outputs ten scores $o_{i1}, \dots, o_{i10}$, one per class. Its hard
# prediction is the class with the largest score, and the accuracy (also called the correct rate
# or hit rate) over $n$ examples is the share of predictions that match the label:
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
# `accuracy` returns the *count* of correct predictions, not the share. Counts from batches of
# different sizes can simply be added; we divide once at the end.
#
# Accuracy is what we report, but not what we train on. It is a step function of the weights: a
# small change either flips no prediction (the gradient is zero) or flips one (a jump). Training
# needs a quantity that changes smoothly with every weight, and that is the loss of the next
# section.
#
# ## 4.2 From scores to a loss: softmax and cross-entropy
#
# Softmax turns the $q$ scores $\mathbf o = (o_1, \dots, o_q)$ of one image into probabilities:
# positive, summing to one, in the same order as the scores.
#
# $$\hat p_j = \operatorname{softmax}(\mathbf o)_j = \frac{\exp(o_j)}{\sum_{k=1}^{q} \exp(o_k)}.$$
#
# The cross-entropy loss of an image with label $y$ is minus the log of the probability given to
# the right class; a batch's loss is the mean over its $B$ images:
#
# $$\ell(\mathbf o, y) = -\log \hat p_y = -o_y + \log \sum_{k=1}^{q} \exp(o_k), \qquad
#   L = \frac{1}{B} \sum_{i=1}^{B} \ell(\mathbf o_i, y_i).$$
#
# It is 0 when the right class gets probability 1 and grows without bound as that probability
# goes to 0. A network that knows nothing gives each of the 10 classes $1/10$ and scores
# $\ln 10 \approx 2.303$: the value an untrained network's loss starts near. Its gradient with
# respect to the scores is simply the predicted probabilities minus the one-hot label,
# $\partial \ell / \partial o_j = \hat p_j - \mathbb 1[j = y]$: the right class's score is pushed
# up, every other score down, each in proportion to how wrong it is.
#
# A worked example with three classes, scores $\mathbf o = (2.0, 1.0, 0.1)$ and label $y = 0$:
# $\exp(\mathbf o) = (7.389, 2.718, 1.105)$, which sum to $11.212$, so
# $\hat{\mathbf p} = (0.659, 0.242, 0.099)$ and $\ell = -\ln 0.659 = 0.417$. The gradient is
# $(0.659 - 1, 0.242, 0.099) = (-0.341, 0.242, 0.099)$. The cell checks each number against
# PyTorch's own `F.cross_entropy` and autograd.

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
# `F.cross_entropy` (and `nn.CrossEntropyLoss`, which `d2lite.train` uses) takes the raw
# scores, not probabilities: it computes $\log \sum_k \exp(o_k)$ in a way that cannot overflow.
# That is why AlexNet's last layer has no softmax.
#
# ## 4.3 Training, validation and test data
#
# The test set has one job: to estimate how the finished model does on images it has never
# seen. Each time a choice (a learning rate, a number of epochs, a dropout rate) is made by
# looking at test accuracy, the choice fits a little to those particular 10,000 images, and the
# test figure stops being an honest estimate. So this chapter follows one rule:
#
# ```{important}
# Every choice is made on a **validation set**: 5,000 images held out of the 60,000 training
# images, never trained on. The **test set** is evaluated once, at the very end (section 4.11),
# after every choice is made.
# ```
#
# `d2lite.load_data_fashion_mnist_split` holds the validation images out with a fixed seed, so
# every run, and every chapter, holds out the same ones. The images are enlarged from 28×28 to
# 224×224 for AlexNet, and the loaders keep the whole uint8 dataset on the device and cut and
# resize each batch there (`DeviceLoader`; the Performance notes explain why).

# %%
train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=S["subset"], device=device,
    channels_last=S["channels_last"])
for part, it in (("train", train_iter), ("validation", val_iter), ("test", test_iter)):
    print(f"{part:>10}: {len(it.images):6,} images, {len(it):3} batches of up to {it.batch_size}")
print("validation images per class:", torch.bincount(val_iter.labels.cpu(), minlength=10).tolist())

# %% [markdown]
# The model is chapter 2's AlexNet. Initialising its weights is a separate, visible step
# (`d2lite.train` never does it behind your back): Xavier-uniform for every convolution and dense
# layer, as in the original tutorial, and PyTorch's default small random biases. The seed makes the
# run repeatable.

# %%
d2lite.set_seed(0)  # seeds the biases, the Xavier weights and the shuffle order
net = d2lite.alexnet()
d2lite.init_weights(net)
net.to(device)
print(f"{sum(p.numel() for p in net.parameters()):,} parameters on {device}")

# %% [markdown]
# ## 4.4 One training step, by hand
#
# Everything `d2lite.train` does is built from one step repeated: scores for a batch, the loss,
# its gradient by backpropagation, a small move of every weight against the gradient. Let us do
# one step ourselves on a copy of the network (the real run later starts from the untouched
# weights), on the first 32 images of a training batch (8 in the quick setting), in float32.
#
# First the loss. In training mode dropout is on, so the loss we train on is random; to compare
# before and after on an equal footing we also measure the batch's loss in evaluation mode
# (dropout off) without recording a graph.

# %%
X, y = next(iter(train_iter))
X, y = X[:S["step_images"]].float(), y[:S["step_images"]]  # (32, 1, 224, 224), (32,)
step_net = copy.deepcopy(net)
opt = torch.optim.SGD(step_net.parameters(), lr=S["lr"], momentum=S["momentum"],
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
# `loss.backward()` runs backpropagation: it fills `p.grad` of every parameter `p` with
# $\partial L / \partial p$. The gradient's norm says how steep the loss is here; it is far from
# evenly spread over the layers.

# %%
loss.backward()  # d loss / d every weight, into p.grad
grad_norm = torch.sqrt(sum((p.grad ** 2).sum() for p in step_net.parameters()))
for i in (0, 14, 20):  # the first convolution, the first dense layer, the output layer
    print(f"layer {i:>2} {type(step_net[i]).__name__:6} weight {tuple(step_net[i].weight.shape)}: "
          f"gradient norm {step_net[i].weight.grad.norm():.4f}")
print(f"all {sum(p.numel() for p in step_net.parameters()):,} parameters: gradient norm "
      f"{grad_norm:.4f}")

# %% [markdown]
# `opt.step()` moves each weight by the rule of section 4.5; on this first step it is simply
# $w \leftarrow w - \eta\,(\nabla_w L + \lambda w)$. Then we measure the same batch again. To first
# order, a step of size $\eta$ against the gradient lowers the loss by about
# $\eta \lVert \nabla L \rVert^2$; the measured drop need not match that exactly (dropout was on
# for the gradient and is off for the measurement), but it should be a drop.

# %%
opt.step()  # w <- w - lr * (grad + weight_decay * w): the first step, momentum buffer empty
after = batch_loss(step_net)
print(f"eval-mode loss on the same batch: {before:.4f} before the step, {after:.4f} after "
      f"({after - before:+.4f}); first-order estimate {-S['lr'] * grad_norm.item() ** 2:+.4f}")
assert after < before, "one step against the gradient should lower this batch's loss"
del step_net, opt  # the copy has done its job

# %% [markdown]
# That is all of training: this step, repeated over thousands of batches. One step improves the
# loss on *its* batch; whether it improves the loss on other images is the question the rest of
# the chapter keeps asking.
#
# ## 4.5 SGD with momentum and weight decay
#
# Plain stochastic gradient descent moves the weights $\mathbf w$ by $-\eta\,\mathbf g$, where
# $\mathbf g$ is the gradient of the minibatch loss and $\eta$ the learning rate. AlexNet's
# recipe adds two things, and `torch.optim.SGD(params, lr=η, momentum=μ, weight_decay=λ)` applies
# them in this order at every step:
#
# $$\mathbf g \leftarrow \nabla_{\mathbf w} L + \lambda \mathbf w, \qquad
#   \mathbf v \leftarrow \mu \mathbf v + \mathbf g, \qquad
#   \mathbf w \leftarrow \mathbf w - \eta \mathbf v.$$
#
# - **Weight decay** $\lambda$ adds $\lambda \mathbf w$ to the gradient: the gradient of
#   $\tfrac{\lambda}{2}\lVert \mathbf w \rVert^2$, a penalty on large weights that pulls every weight
#   a little towards zero at each step.
# - **Momentum** $\mu$ keeps a running sum $\mathbf v$ of past gradients (PyTorch starts it at the
#   first gradient). Directions that agree from step to step add up; directions that flip sign
#   cancel. If the gradient stayed the same, $\mathbf v$ would settle at $\mathbf g/(1-\mu)$: with
#   $\mu = 0.9$ each step then moves $10\eta$ times the gradient, ten times plain SGD at the same
#   rate.
#
# The paper writes the same rule with the learning rate inside the velocity,
# $\mathbf v \leftarrow 0.9\,\mathbf v - 0.0005\,\eta\,\mathbf w - \eta\,\nabla L$,
# $\mathbf w \leftarrow \mathbf w + \mathbf v$. With a constant $\eta$ the two give the same weights
# (the paper's $\mathbf v$ is $-\eta$ times PyTorch's); they differ only in the steps right after
# the rate changes. The cell applies the three lines by hand to a small tensor for three steps and
# checks them against `torch.optim.SGD`.

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
# ## 4.6 The paper's recipe and this book's
#
# Krizhevsky, Sutskever and Hinton (2012) trained AlexNet on the 1.2[^paper4] million ImageNet images with
# the recipe in the left column. This book trains on Fashion-MNIST, 60,000 small grey images of
# 10 classes, with a budget of minutes rather than days. It keeps what carries over and says why
# for everything else:
#
# | | AlexNet paper (ImageNet) | this book (Fashion-MNIST) | why the difference |
# |---|---|---|---|
# | batch size | 128 | 128 | same |
# | optimiser | SGD, momentum 0.9 | SGD, momentum 0.9 | same |
# | weight decay | 5·10⁻⁴ | 5·10⁻⁴ | same |
# | learning rate | 0.01 | 0.01, checked on the validation set (4.7) | same start; here it is a choice we test |
# | schedule | divided by 10 when the validation error stopped improving; 3 times in about 90 epochs | constant | our runs (2 epochs on the CPU, 10 in the full setting) are far shorter than the paper's 90; read the validation curve in 4.11 to see whether it has levelled off |
# | epochs | about 90, five to six days on two GTX 580 GPUs | 2 on a time-budgeted subset (CPU), 10 (full) | time |
# | weight init | $\mathcal N(0, 0.01^2)$; biases 1 in conv2, conv4, conv5 and the two hidden dense layers, 0 elsewhere | Xavier-uniform weights, PyTorch's default biases | the original tutorial's choice; the next cell measures both at the start of training |
# | dropout | 0.5 in the two hidden dense layers; outputs multiplied by 0.5 at test time | 0.5 in the same layers; kept units scaled by 2 in training, nothing at test time | the same in expectation; PyTorch's convention (4.10) |
# | data | 224×224 RGB crops of 256×256 images, flips, colour changes | 28×28 grey images enlarged to 224×224, no augmentation | augmentation made 2-epoch runs worse here (`benchmarks/RESULTS.md`) |
# | normalisation | local response normalisation after conv1 and conv2 | none | d2l's AlexNet leaves it out; the VGG paper (2014) found it did not help |
# | hardware | the model split over two GPUs | one device; bf16 where it is fast | one device holds it today (Performance notes) |
#
# The initialisation row is easy to measure. We build the network both ways, run one batch
# through it and backpropagate, and look at two things: how much the ten scores vary from image
# to image (if they hardly vary, the network cannot tell the images apart yet), and how large the
# gradient reaching the first convolution is.

# %%
def paper_init(model):
    """The paper's init: weights N(0, 0.01^2); biases 1 in conv2, conv4, conv5, fc6, fc7, else 0."""
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]  # conv1-5, fc6-8
    for i, m in enumerate(layers):
        nn.init.normal_(m.weight, mean=0.0, std=0.01)
        nn.init.constant_(m.bias, 1.0 if i in (1, 3, 4, 5, 6) else 0.0)
    return model


for init_name, init in (("Xavier (this book)", d2lite.init_weights), ("N(0, 0.01^2) (paper)", paper_init)):
    d2lite.set_seed(0)
    model = init(d2lite.alexnet()).to(device).eval()  # eval: no dropout noise in the comparison
    scores = model(X)  # (32, 10)
    F.cross_entropy(scores, y).backward()
    print(f"{init_name:>20}: scores vary across images by {scores.std(dim=0).mean():.5f}, "
          f"conv1 gradient norm {model[0].weight.grad.norm():.2e}, loss {F.cross_entropy(scores, y):.4f}")
del model

# %% [markdown]
# Under the paper's initialisation the ten scores hardly depend on the image, and the gradient
# that reaches the first convolution is far smaller than under Xavier's (the printed norms): the
# network starts slowly. The paper's 90 epochs could afford a slow start; a run of two epochs
# cannot, which is why this book keeps the tutorial's Xavier initialisation.
#
#
# [^paper4]: A. Krizhevsky, I. Sutskever and G. E. Hinton, *ImageNet Classification with Deep
#     Convolutional Neural Networks*, NeurIPS 2012.
# ## 4.7 Choosing the learning rate on the validation set
#
# The learning rate is the knob that matters most, and the paper's 0.01 was chosen for ImageNet,
# not for this data. So we screen it: a few rates, each trained briefly from scratch, scored on
# validation images. A single short run per rate would mislead, because two runs that differ only
# in their seed (the initial weights and the order of the batches) already end at different
# accuracies. So each rate gets one run per seed, and the spread between seeds shows how large a
# difference has to be before it means anything.
#
# The rule, fixed before looking at the results: **take the rate with the highest mean validation
# accuracy.** On the CPU a screen run is 48 steps (6,144 images; 2 seeds, about 6 minutes for
# the whole screen on this machine); the full setting screens 200 steps with 3 seeds. A run that
# diverges counts as accuracy 0.

# %%
screen_train, screen_val_all, _ = d2lite.load_data_fashion_mnist_split(
    S["batch_size"], resize=224, validation=S["validation"], subset=(S["screen_images"], 1),
    device=device, channels_last=S["channels_last"])
screen_val = d2lite.DeviceLoader(screen_val_all.images[:S["screen_val"]],
                                 screen_val_all.labels[:S["screen_val"]], S["batch_size"], 224,
                                 device=device, channels_last=S["channels_last"])


def short_run(lr, seed):
    """Train a fresh AlexNet for one short epoch at this lr; return (train loss, val acc)."""
    d2lite.set_seed(seed)  # the initial weights, the batch order and the dropout masks
    model = d2lite.init_weights(d2lite.alexnet())
    try:
        h = d2lite.train(model, screen_train, screen_val, 1, lr, device, momentum=S["momentum"],
                         weight_decay=S["weight_decay"], amp=S["amp"],
                         channels_last=S["channels_last"], animator=False, verbose=False)
    except d2lite.TrainingDivergedError:
        return float("nan"), 0.0
    return h.train_loss[-1], h.test_acc[-1]  # test_acc: the set train() evaluated, here validation


t0 = time.perf_counter()
screen = {(lr, seed): short_run(lr, seed) for lr in S["screen_lrs"] for seed in S["screen_seeds"]}
print(f"{len(screen)} runs of {len(screen_train)} steps in {time.perf_counter() - t0:.0f} s")

# %% [markdown]
# Each row is one learning rate; the columns are its runs, one per seed.

# %%
means = {}
print("     lr | " + " | ".join(f"seed {s}: loss / val acc" for s in S["screen_seeds"])
      + " | mean val acc")
for lr in S["screen_lrs"]:
    runs = [screen[lr, s] for s in S["screen_seeds"]]
    means[lr] = sum(acc for _, acc in runs) / len(runs)
    print(f"{lr:7} | " + " | ".join(f"{loss:13.3f} / {acc:.3f}" for loss, acc in runs)
          + f" | {means[lr]:.3f}")
LR = max(means, key=means.get)  # the rule: highest mean validation accuracy
print(f"chosen: lr = {LR} (the paper's: 0.01)")

# %% [markdown]
# Read the table before trusting it. The loss column is the running mean of the training loss
# over the run, which starts at about $\ln 10 = 2.30$; a rate whose loss has not moved away from
# 2.30 has barely started learning. Compare the differences between rows with the differences
# between the seeds of one row: when they are of the same size, the screen cannot tell the two
# rates apart, and a longer screen would be needed. A short screen favours large rates, because
# they move faster at first, while the paper lowered its rate after long training. What the screen
# does settle is the order of magnitude: a rate ten times too small has hardly left the start.
#
# The main run uses `LR`, the rate the rule picked.
#
# ## 4.8 The training loop
#
# `d2lite.train` is the step of section 4.4 in a loop, with sturdier behaviour around it. `train_step`
# does one batch: forward under the run's autocast context, the loss, `backward()`, the optimiser's
# step. This is the library's own code, read from `d2lite/engine.py` when the page is built, so it
# cannot drift from what runs:

# %%
Code(inspect.getsource(d2lite.train_step), language="python")

# %% [markdown]
# `train_epoch` runs one pass: a `train_step` per batch, with the sums of losses and correct
# predictions kept on the device and read once, at the end, so the processor never waits for the
# device in between. That is the whole loop. Everything a long run adds attaches from outside,
# through the `on_step` hook that runs after every step (`d2lite/run/trainer.py`): at about five
# log points per epoch a check for divergence, a point on the plot and the progress line, and the
# mid-epoch checkpoints and the stop on SIGTERM:

# %%
Code(inspect.getsource(d2lite.train_epoch), language="python")

# %% [markdown]
# `train` wires them together: it builds the `torch.optim.SGD` of section 4.5, picks the device
# and the number format once for the run, evaluates after every epoch on the set it is given (here
# the validation set), writes a checkpoint, and shows a progress line with the time left. It stops
# with a clear message when the loss becomes NaN or infinite or explodes (past 1000 times the
# $\ln 10 \approx 2.30$ of a uniform guess), stops cleanly on Ctrl-C, and returns a `History` of
# every epoch. How the checkpoint survives an interruption, and the speed switches `amp` and
# `channels_last`, are explained in the Performance notes.
#
# ## 4.9 Training the network
#
# ### Sizing the CPU run to a time budget
#
# How long an epoch takes depends on the CPU far more than on anything in this notebook. So the
# CPU setting does not fix the number of training images. `d2lite.plan_budget` times a few
# training and evaluation batches on a copy of the model (the model itself and the random state
# stay untouched), then takes as many training images as fit `budget_minutes` for the whole run,
# the validation passes included. It prints what it measured and what it chose; raise
# `budget_minutes` in the parameters cell for a longer, better run. In the other settings nothing
# changes.

# %%
if S["budget_minutes"]:  # the CPU setting: as many training images as fit the budget here
    plan = d2lite.plan_budget(net, train_iter, val_iter, S["budget_minutes"], S["num_epochs"],
                              device=device, amp=S["amp"], channels_last=S["channels_last"])
    print(plan)
    train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
        S["batch_size"], resize=224, validation=S["validation"], subset=(plan.n_train, None),
        device=device, channels_last=S["channels_last"])
print(f"{len(train_iter)} training batches of {S['batch_size']} per epoch")

# %% [markdown]
# Before training we write the settings beside the checkpoint, so that chapter 5 can say what
# model it loaded. The `checkpoints/` folder is ignored by git.

# %%
CKPT = Path("checkpoints") / "alexnet_fashion_mnist.pt"
CKPT.parent.mkdir(exist_ok=True)
run = dict(S, lr=LR, setting=SETTING, quick=QUICK, device=str(device), device_name=name,
           torch=torch.__version__, date=datetime.date.today().isoformat(),
           evaluated_each_epoch="validation")
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))
print(run)

# %% [markdown]
# Now we train, with the rate the screen chose, momentum 0.9 and weight decay 5·10⁻⁴. In Jupyter
# the plot redraws about five times per epoch: training loss (solid), training accuracy (dashed)
# and, at the end of each epoch, validation accuracy (dash-dotted, one dot per epoch).
#
# The training points are *running averages over the epoch so far*, measured with dropout on,
# and the average starts afresh with every epoch, so the curves jump at each epoch boundary. The
# validation accuracy is measured at the end of the epoch with dropout off, which is why it can
# sit above the training accuracy early on.

# %% mystnb={"image": {"alt": "Training curves against the epoch: training loss (solid line), training accuracy (dashed line) and, at the end of each epoch, validation accuracy (dash-dotted line with dots)."}}
d2lite.set_seed(0)  # the batch order and the dropout masks, whatever ran above
history = d2lite.train(
    net, train_iter, val_iter, S["num_epochs"], LR, device,
    momentum=S["momentum"], weight_decay=S["weight_decay"], amp=S["amp"],
    channels_last=S["channels_last"], checkpoint=CKPT,
    animator=d2lite.Animator(xlabel="epoch", ylabel="loss / accuracy",
                             xlim=[0, S["num_epochs"]],
                             legend=["train loss", "train acc", "val acc"],
                             fmts=("-", "m--", "g-.o")),
)

# %% [markdown]
# The closing lines are the original tutorial's: the last epoch's training loss, training accuracy
# and, in the slot the tutorial used for test accuracy, our validation accuracy; then the training
# speed. `examples/sec` counts the wall time of the training steps, data loading included and
# evaluation excluded. `train` also returns the history, one entry per epoch, and has written the
# checkpoint after each one:

# %%
for row in zip(history.epoch, history.train_loss, history.train_acc, history.test_acc,
               history.examples_per_sec, history.seconds):
    print("epoch {}: loss {:.3f}, train acc {:.3f}, val acc {:.3f}, "
          "{:.1f} examples/s, {:.0f} s".format(*row))
state = d2lite.load_checkpoint(CKPT, d2lite.alexnet())
print(f"{CKPT}: {CKPT.stat().st_size / 1e6:.0f} MB, epoch {state['epoch']}")

# %% [markdown]
# ## 4.10 Dropout, where it acts
#
# AlexNet has two dropout layers, after the ReLUs of its two 4096-wide dense layers (chapter 2).
# In training, each one sets every unit to zero with probability $p$, independently for every
# image and every step, and multiplies the units it keeps by $1/(1-p)$:
#
# $$h' = \frac{m}{1-p}\,h, \qquad m \sim \text{Bernoulli}(1-p).$$
#
# The scaling keeps the expected value unchanged, $\mathbb E[h'] = h$, so at test time the layer
# simply does nothing. This is called *inverted* dropout, and it is what `nn.Dropout` does. The
# paper did it the other way round: no scaling in training, and the outputs multiplied by
# $1-p = 0.5$ at test time. Both give the next layer the same expected input; the inverted form
# leaves the trained network untouched for prediction. What decides which behaviour you get is the
# module's mode: `train()` turns the masks on, `eval()` turns them off.

# %%
drop = nn.Dropout(p=0.5)
h = torch.ones(2, 8)
d2lite.set_seed(0)
print("train mode:\n", drop.train()(h))  # about half zeros, the rest 1 / (1 - 0.5) = 2
print("eval mode:\n", drop.eval()(h))  # unchanged
big = torch.ones(100_000)
print(f"mean over 100,000 units in train mode: {drop.train()(big).mean():.3f} (inverted), "
      f"paper: {(big * (torch.rand(100_000) > 0.5)).mean():.3f} in training, "
      f"then x 0.5 = 0.500 at test time")

# %% [markdown]
# This is why `d2lite.evaluate_accuracy_gpu` switches the model to `eval()` before it evaluates,
# and back to the mode it found afterwards: with dropout on, every evaluation would be a
# different random network.
#
# What does dropout buy? Its purpose is to make overfitting harder: a unit cannot rely on any
# particular other unit being there, so the network cannot simply memorise. Overfitting shows once
# a model trains long on few images, more than the CPU can afford with the whole AlexNet. But
# dropout acts only in the dense part, so we can run the experiment there cheaply. We keep the
# five convolutional layers of the network we just trained, frozen, and compute their 6,400
# features once for 500 training images and 1,000 validation images. Then we take a copy of the
# trained dense layers (fc6, fc7, fc8, with their two dropout layers) and go on training it on
# those 500 images only, for 10 epochs in minibatches of 32, with $p = 0$, $0.5$ (the paper's) and
# $0.9$ (the original tutorial's). So few images are easy to memorise for 43 million weights:
# this is overfitting on purpose. Before the first epoch and after every epoch we measure accuracy
# on the same 500 training images *in eval mode* and on the validation images.

# %%
features = net[:14].eval()  # conv1 ... pool3, flatten: (B, 6400), the part we freeze
amp_ctx = d2lite.autocast(device, d2lite.amp_dtype(device, S["amp"]))  # as train() uses it


def feats(images, labels):
    """The frozen convolutional features of these images, computed once: (N, 6400), (N,)."""
    loader = d2lite.DeviceLoader(images, labels, S["batch_size"], 224, device=device,
                                 channels_last=S["channels_last"])
    with torch.inference_mode(), amp_ctx:
        out = [(features(Xb).float(), yb) for Xb, yb in loader]
    return torch.cat([f for f, _ in out]), torch.cat([t for _, t in out])


F_train, y_train = feats(train_iter.images[:S["head_images"]], train_iter.labels[:S["head_images"]])
F_val, y_val = feats(val_iter.images[:S["head_val"]], val_iter.labels[:S["head_val"]])
print("features:", tuple(F_train.shape), "train,", tuple(F_val.shape), "validation")

# %% [markdown]
# The loop is the step of section 4.4, repeated: a shuffle per epoch, then one SGD step per
# minibatch, with this chapter's optimiser settings. Only the dropout rate changes between runs.

# %%
def head_accuracy(head):
    """(train, validation) accuracy of the dense layers on the frozen features, in eval mode."""
    head.eval()
    with torch.inference_mode(), amp_ctx:
        return ((head(F_train).argmax(1) == y_train).float().mean().item(),
                (head(F_val).argmax(1) == y_val).float().mean().item())


def train_head(p, seed=0):
    """Go on training a copy of the trained fc6-fc8 with dropout p on the few training images;
    return the accuracies before training and after each epoch."""
    d2lite.set_seed(seed)  # the shuffle order and the dropout masks
    head = nn.Sequential(*copy.deepcopy(list(net[14:])))  # fc6, ReLU, dropout, fc7, ..., fc8
    for m in head:
        if isinstance(m, nn.Dropout):
            m.p = p
    opt = torch.optim.SGD(head.parameters(), lr=LR, momentum=S["momentum"],
                          weight_decay=S["weight_decay"])
    curve = [head_accuracy(head)]
    for _ in range(S["head_epochs"]):
        head.train()
        order = torch.randperm(len(y_train), device=device)
        for batch in order.split(S["head_batch"]):
            opt.zero_grad()
            with amp_ctx:
                scores = head(F_train[batch])  # (B, 10)
            F.cross_entropy(scores.float(), y_train[batch]).backward()
            opt.step()
        curve.append(head_accuracy(head))
    return curve


t0 = time.perf_counter()
curves = {p: train_head(p) for p in S["dropout_ps"]}
for p, curve in curves.items():
    (tr, va), best = curve[-1], max(v for _, v in curve)
    print(f"dropout p = {p}: after {len(curve) - 1} epochs train acc {tr:.3f}, val acc {va:.3f}, "
          f"gap {tr - va:+.3f} (at the start {curve[0][0] - curve[0][1]:+.3f}; best val acc "
          f"{best:.3f})")
print(f"{time.perf_counter() - t0:.0f} s")

# %% mystnb={"image": {"alt": "Three panels, one per dropout rate (0, 0.5, 0.9): training accuracy (solid) and validation accuracy (dashed) of the dense layers against the epoch of extra training on 500 images."}}
fig, axes = plt.subplots(1, len(curves), figsize=(3.2 * len(curves), 2.8), sharey=True)
for ax, (p, curve) in zip(axes, curves.items()):
    epochs = range(len(curve))  # 0: before the extra training
    ax.plot(epochs, [a for a, _ in curve], "-", label="train (eval mode)")
    ax.plot(epochs, [b for _, b in curve], "--", label="validation")
    d2lite.set_axes(ax, xlabel="epoch", ylabel="accuracy" if p == 0 else None,
                    legend=["train (eval mode)", "validation"] if p == 0 else None)
    ax.set_title(f"dropout p = {p}")
plt.tight_layout()
plt.show()

# %% [markdown]
# Read the three panels from left to right. All three start from the same point, the trained
# network's own accuracies on these images. Without dropout the dense layers memorise the 500
# images fastest and the gap to the validation curve opens widest: they fit those images, not the
# classes. With $p = 0.5$ the training curve rises more slowly and the gap stays smaller, and with
# $p = 0.9$ (nine units in ten dropped at every step) more slowly still. The printed gaps are the
# measurement; one seed each, so a difference of a point or two between the rows is within noise.
# The chapter keeps the paper's $p = 0.5$.
#
# ## 4.11 Overfitting, generalisation, and the test set
#
# Three numbers describe a trained model. *Training accuracy* says how well it fits the images it
# learned from; *validation accuracy* how well it does on images it never trained on, and it is
# what every choice above was made on; *test accuracy* is the same question asked once more, on
# images no choice has seen. A large gap between training and validation accuracy is
# **overfitting**: the model has learned its training images rather than the classes. Low
# training accuracy is **underfitting**: the model has not yet learned even the images it saw,
# which for a short run means it needs more training. A small gap with high accuracy is
# **generalisation**.
#
# The training accuracy that `train` prints is a running mean with dropout on, taken while the
# weights were still changing. For a fair comparison we measure it again now, in eval mode, on a
# fixed sample of the training images. Then, with every choice made, we evaluate the test set:
# the only time this chapter does.

# %%
train_sample = d2lite.DeviceLoader(train_iter.images[:S["eval_train"]],
                                   train_iter.labels[:S["eval_train"]], S["batch_size"], 224,
                                   device=device, channels_last=S["channels_last"])
train_acc = d2lite.evaluate_accuracy_gpu(net, train_sample, amp=S["amp"])
val_acc = history.test_acc[-1]  # measured by train() after the last epoch
test_acc = d2lite.evaluate_accuracy_gpu(net, test_iter, amp=S["amp"])  # the one look at the test set
run.update(test_acc=test_acc, val_acc=val_acc, train_acc_eval_mode=train_acc)
CKPT.with_suffix(".json").write_text(json.dumps(run, indent=1))  # chapter 5 reads it
print(f"train acc {train_acc:.3f} (eval mode, {len(train_sample.images):,} training images)\n"
      f"  val acc {val_acc:.3f} ({len(val_iter.images):,} validation images)\n"
      f" test acc {test_acc:.3f} ({len(test_iter.images):,} test images, evaluated once)")

# %% [markdown]
# The figure puts the main run's curves and its final three numbers side by side.

# %% mystnb={"image": {"alt": "Accuracy against the epoch for the main run: training accuracy as a running mean with dropout on (dashed), validation accuracy after each epoch (dots), and at the last epoch the training accuracy in eval mode (cross) and the test accuracy (star)."}}
fig, ax = plt.subplots(figsize=(4.5, 3.2))
ax.plot(history.epoch, history.train_acc, "m--o", label="train acc (running, dropout on)")
ax.plot(history.epoch, history.test_acc, "g-.o", label="val acc")
ax.plot(history.epoch[-1], train_acc, "bx", markersize=10, label="train acc (eval mode)")
ax.plot(history.epoch[-1], test_acc, "r*", markersize=12, label="test acc (once)")
d2lite.set_axes(ax, xlabel="epoch", ylabel="accuracy", xlim=[0.8, history.epoch[-1] + 0.2],
                legend=["train acc (running, dropout on)", "val acc", "train acc (eval mode)",
                        "test acc (once)"])
ax.set_xticks(history.epoch)
plt.show()

# %% [markdown]
# In this run the training and validation accuracies lie close together: two epochs are not
# enough to overfit 47 million parameters, and the validation accuracy was still rising at the
# last epoch, which says *train longer*, not *regularise more*, and also that the paper's rule of
# lowering the rate would not have fired yet. The test accuracy lands close to the validation
# accuracy, as it should when no choice was tuned to the test set; the difference between them is
# sampling noise of a few thousand images.
#
# The original tutorial's run shows the other regime. After 100 epochs with batch 1 (its code cells
# set `batch_size = 1`, `lr, num_epochs = 0.01, 100`) it printed a training loss of 0.034[^tutorial] and a
# training accuracy of 0.988[^tutorial], beside a test accuracy of 0.923[^tutorial]: it fitted its training images almost
# perfectly, and the 6.5-point[^tutorial] gap is overfitting, reached despite dropout. (Its training accuracy is
# a running mean with dropout on, like ours, so the gap measured in eval mode would be a little
# larger still.)
#
# [^tutorial]: The seed tutorial's own printed output (AlexNet on Fashion-MNIST, 100 epochs at
#     batch 1 on a GPU): cited from that run, not measured by this book.
#
# ## 4.12 Batch size and speed
#
# The tutorial's 100 epochs of one image per step ran at 928 examples/s on a GPU it did not name.
# Its timer wraps only the training step (moving the batch to the GPU, forward, backward, update,
# counting correct answers); loading the next batch and the test evaluations happen outside it.
# So 60,000 × 100 / 928 s is a lower bound on its run's length:

# %%
seed_hours = 60_000 * 100 / 928 / 3600
print(f"the tutorial's run: at least {seed_hours:.1f} hours of training steps")

# %% [markdown]
# One image per step keeps any modern processor mostly idle: each step runs the same couple of
# dozen operations, each too small to fill the hardware. The cell times AlexNet's training steps
# at several batch sizes on this machine (`d2lite.measure_speed`, on a copy of the network, after
# one warm-up step), beside the speed the main run sustained:

# %%
rates = {}
for b in S["speed_batches"]:
    it = d2lite.DeviceLoader(train_iter.images[:max(b, 8) * 4], train_iter.labels[:max(b, 8) * 4],
                             b, 224, device=device, channels_last=S["channels_last"])
    rates[b] = d2lite.measure_speed(net, it, it, device=device, amp=S["amp"],
                                    channels_last=S["channels_last"],
                                    steps=max(2, S["speed_images"] // b))[0]
print(f"training steps on {name}, {history.amp_dtype}, short timings:")
print("batch | examples/s | one 55,000-image epoch")
for b, eps in rates.items():
    print(f"{b:5} | {eps:10.1f} | {55_000 / eps / 60:5.0f} min")
eps_run = sum(history.examples_per_sec) / len(history.examples_per_sec)
print(f"the main run (batch {S['batch_size']}), sustained over {sum(history.seconds):.0f} s: "
      f"{eps_run:.1f} examples/s")

# %% [markdown]
# Each row is a few seconds of steps on whatever else the machine was doing at the time, so
# expect a few percent of noise, more on a shared machine; the short timings can sit a little off
# the sustained speed of the long run for the same reason. The trend is the point: one image per
# step gets far less done per second than a batch of 128. For the same reason the paper, d2l and
# this book train with batches of 128. Dtype rules, memory layout, the measurements behind the
# CPU setting and the benchmarks of earlier sessions are in the
# [Performance notes](performance.md).
#
# ## Summary
#
# - Accuracy is the share of examples whose highest-scoring class is the label; training minimises
#   the smooth cross-entropy loss $-\log \operatorname{softmax}(\mathbf o)_y$ instead, whose gradient
#   with respect to the scores is $\hat{\mathbf p}$ minus the one-hot label.
# - One training step is forward, loss, `backward()`, `opt.step()`; done by hand, it lowered the
#   loss of its own batch. `torch.optim.SGD` applies $\mathbf g \leftarrow \nabla L + \lambda
#   \mathbf w$, $\mathbf v \leftarrow \mu \mathbf v + \mathbf g$, $\mathbf w \leftarrow \mathbf w -
#   \eta \mathbf v$.
# - Choices are made on a validation set held out of the training images; the test set is
#   evaluated once, at the end. The learning rate was screened with two or three seeds per rate,
#   because one short run per rate cannot separate rates whose difference is within seed noise.
# - This book keeps the paper's batch 128, momentum 0.9, weight decay 5·10⁻⁴, lr 0.01 and dropout
#   0.5; it keeps the rate constant (its runs are short), uses the tutorial's Xavier init and no
#   augmentation or local response normalisation.
# - Dropout zeroes units with probability $p$ and scales the rest by $1/(1-p)$ in training mode,
#   and does nothing in eval mode. Measured on the dense layers, it slows the fitting of a small
#   training set and narrows the gap between training and validation accuracy.
# - Batch 1 wastes the hardware: the tutorial's 100 epochs at its reported 928 examples/s are at
#   least 1.8 hours of training steps. Its 0.034[^tutorial] loss and 0.988[^tutorial] training accuracy beside 0.923[^tutorial] test
#   accuracy show a model that overfits after long training.
# - AlexNet has long been surpassed by more efficient architectures; it is studied because it was
#   the step from shallow networks to deep ones, and because most of its recipe (ReLU, dropout,
#   SGD with momentum and weight decay, GPUs) is still in use.
#
# ## Exercises
#
# 1. Replace `y_hat` in the accuracy example by scores where two classes tie for the maximum.
#    Which class does `argmax` pick? Does that matter for accuracy on real data?
# 2. What cross-entropy loss does a model get that gives the right class probability 0.9? And
#    one that gives it 0.01? Why does the loss punish a confident mistake so much more than an
#    unsure one?
# 3. Feed the momentum rule of section 4.5 a gradient that never changes, $g = 1$, with
#    $\mu = 0.9$. How large does $v$ get, and after how many steps is it within 1% of that?
# 4. The paper divided its learning rate by 10 whenever the validation error stopped improving.
#    Use `torch.optim.lr_scheduler.ReduceLROnPlateau` to do the same on a list of validation errors,
#    and say which line of a training loop would call it.
# 5. Run `benchmarks/batch_size_cpu.py --batch-sizes 8 64 256` on your machine. Where does the
#    speed stop growing? On a GPU, repeat with and without `amp`.
# 6. Interrupt the main run with *Kernel → Interrupt* during the second epoch, then call `train`
#    again with `resume=True`. Which epoch does it start from, and does it end with the same
#    history as an uninterrupted run?

# %% [markdown]
# ## Solutions
#
# Each solution is folded: try the exercise first, then open it. The code of a solution runs with
# the rest of the notebook (the tests run it too, in the quick setting), so what it prints on this
# page is a real result.
#
# :::{admonition} Solution 1: ties
# :class: dropdown
# `argmax` returns the *first* of the tied classes (PyTorch documents this), so a tie counts as a
# prediction of the lower-numbered class: right if that is the label, wrong otherwise. The code
# below shows it. On real data it hardly matters: ten float32 scores computed from an image
# practically never tie exactly. The one case where they do is a broken network whose outputs
# are all equal (say all zeros); it then "predicts" class 0 for every image and scores exactly
# the share of class 0, 0.1 on Fashion-MNIST, which looks like chance but is not.
# :::

# %% mystnb={"code_prompt_hide": "Hide the code of solution 1", "code_prompt_show": "Show the code of solution 1"} tags=["hide-cell"]
tied = torch.tensor([[2.0, 2.0, 0.1],   # classes 0 and 1 tie
                     [0.3, 1.0, 1.0]])  # classes 1 and 2 tie
print("argmax picks:", tied.argmax(dim=1).tolist())
print("labels 0, 1 -> correct", d2lite.accuracy(tied, torch.tensor([0, 1])),
      " labels 1, 2 -> correct", d2lite.accuracy(tied, torch.tensor([1, 2])))
assert tied.argmax(dim=1).tolist() == [0, 1]  # the first of the tied classes

# %% [markdown]
# :::{admonition} Solution 2: confident mistakes
# :class: dropdown
# $-\ln 0.9 = 0.105$ and $-\ln 0.01 = 4.6$. The loss grows like $-\log \hat p_y$, without bound as
# $\hat p_y \to 0$, so one confident mistake costs as much as dozens of slightly unsure right
# answers, and its gradient $\hat p_y - 1 \approx -1$ pushes hard. An unsure answer near the
# uniform $0.1$ costs $\ln 10 = 2.3$. Accuracy would count the $0.9$ and a $0.3$ that still wins
# the argmax the same; the loss keeps rewarding more confidence in the right class.
# :::
#
# :::{admonition} Solution 3: momentum with a constant gradient
# :class: dropdown
# $v_t = 1 + 0.9 + 0.9^2 + \dots + 0.9^{t-1} = (1 - 0.9^t)/(1 - 0.9)$, which tends to
# $1/(1-0.9) = 10$. It is within 1% of 10 once $0.9^t < 0.01$, i.e. after
# $t = \lceil \ln 0.01 / \ln 0.9 \rceil = 44$ steps. So momentum needs a few dozen steps to reach
# its full tenfold speed-up, and it forgets a gradient at the same pace: a gradient from 22 steps
# ago still weighs $0.9^{22} \approx 0.1$.
# :::

# %% mystnb={"code_prompt_hide": "Hide the code of solution 3", "code_prompt_show": "Show the code of solution 3"} tags=["hide-cell"]
v, mu, t = 0.0, 0.9, 0
while abs(v - 10) >= 0.1:  # until within 1% of the limit 10
    v, t = mu * v + 1.0, t + 1  # g = 1 at every step
print(f"v = {v:.3f} after {t} steps (limit 1 / (1 - {mu}) = {1 / (1 - mu):.0f})")

# %% [markdown]
# :::{admonition} Solution 4: the paper's schedule
# :class: dropdown
# `ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=...)` divides the rate by 10 when the
# value it is given has not improved for `patience` calls. It is called once per epoch, after the
# validation evaluation, with the validation error: `scheduler.step(1 - val_acc)`. (A scheduler
# passed to `d2lite.train` is stepped without a value, so this one needs a loop of your own, or
# one `train` call per epoch with `resume=True`.) The code feeds it a made-up sequence of
# validation errors that levels off twice.
# :::

# %% mystnb={"code_prompt_hide": "Hide the code of solution 4", "code_prompt_show": "Show the code of solution 4"} tags=["hide-cell"]
opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.01)
plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=1)
for epoch, val_err in enumerate([0.30, 0.22, 0.19, 0.19, 0.195, 0.15, 0.14, 0.14, 0.141], 1):
    plateau.step(val_err)  # after each epoch's validation pass
    print(f"epoch {epoch}: val error {val_err:.3f} -> lr {opt.param_groups[0]['lr']:.0e}")

# %% [markdown]
# :::{admonition} Solution 5: where speed stops growing
# :class: dropdown
# The answer is your machine's own table. The speed stops growing once one batch's arithmetic fills
# the hardware; beyond that a larger batch only costs memory. Two CPU cores are filled by a few
# dozen images, and bf16 keeps gaining up to larger batches because a large batch spreads the cost
# of casting the weights to bf16 over more images ([Performance notes](performance.md) has this
# book's measurements). A GPU has far more arithmetic units, so its curve keeps rising to much
# larger batches, and `amp` (bf16 on Ampere or newer) moves the whole curve up. Measure on an
# otherwise idle machine, or compare examples per CPU-second when others share it.
# :::
#
# :::{admonition} Solution 6: interrupting and resuming
# :class: dropdown
# `train(..., checkpoint=CKPT, resume=True)` loads the checkpoint written at the end of the last
# *finished* epoch (epoch 1) and starts epoch 2 again from its first batch; the batches of epoch 2
# that ran before the interrupt are thrown away. Because the checkpoint also restores the random
# number states, epoch 2 gets the same shuffle and the same dropout masks as in an uninterrupted
# run, so on a CPU the losses and accuracies of the history come out the same; only the timing
# fields (`seconds`, `examples_per_sec`) differ. On a GPU, `cudnn.benchmark` may pick different
# convolution algorithms after the restart, so expect agreement to a few decimal places rather
# than bit for bit. The project's tests check this on real data (`tests/test_resume.py`) and
# by sending Ctrl-C to a real training process (`tests/test_fault_injection.py`).
# :::
