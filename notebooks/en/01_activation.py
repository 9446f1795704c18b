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
# # 1 Activation functions: from sigmoid to ReLU
#
# Of everything AlexNet changed relative to LeNet, swapping sigmoid for ReLU looks like the
# smallest edit, yet it matters a great deal for training. Rather than argue the point, this
# chapter plots both functions, differentiates them, and measures how much gradient survives a
# trip back through a deep stack of layers.
#
# **What you will learn**
#
# - why a network needs a non-linearity at all: without one, stacked linear layers collapse into one;
# - the formulas for ReLU and sigmoid, and how to plot their derivatives with autograd;
# - what PyTorch actually returns for ReLU's gradient at 0, where the derivative does not exist;
# - how to measure the vanishing gradient through a stack of sigmoid layers, why ReLU fares better,
#   and where He initialisation's factor of 2 comes from;
# - how to explore the per-layer gradients yourself with a small interactive control, and what
#   PyTorch's default biases do to them.
#
# ```{note}
# The networks here are tiny, so everything runs on a CPU. The quick setting saves little,
# because starting the kernel and importing PyTorch take much of the time.
# The time this page took, with its setting and hardware, is in the run note under the title
# (on the website) and in the notebook's metadata under `d2lite`.
# ```

# %% tags=["hide-input"]
import sys

if "google.colab" in sys.modules:  # on Colab: install d2lite and the CJK font; locally: nothing
    # %pip install -q mplfonts "d2lite @ git+https://github.com/d2lite/alexnet-fashion-mnist-book"
    print("Colab: installed d2lite and mplfonts")

# %% [markdown]
# Every knob in this chapter sits in the next cell: the full setting on the left, the quick
# setting used by tests and CI (`D2LITE_QUICK=1`) on the right. They differ only in how many
# depths are measured and how often.

# %% tags=["parameters", "hide-input"]
import os

import d2lite

QUICK = d2lite.is_quick()
FULL = dict(
    depths=(1, 2, 4, 8, 12, 16, 20),  # depths to measure: by 20, sigmoid's gradient is all but gone
    width=64,  # units per layer: wide enough that gradient norms barely move from seed to seed
    batch=256,  # inputs per measurement
    repeats=5,  # random initialisations averaged per depth
    widget_depth=16,  # depth shown by the control and the static figure
)
QUICK_SETTING = dict(depths=(1, 4, 8, 16), width=64, batch=64, repeats=2, widget_depth=16)
S = QUICK_SETTING if QUICK else FULL
print(
    f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r} → {'quick' if QUICK else 'full'} setting: {S}"
)

# %% [markdown]
# The imports. `d2lite.use_cjk_font()` is only needed for the Chinese edition's labels, but calling
# it here as well keeps the two editions' code identical.

# %% tags=["hide-input"]
import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from IPython.display import display
from torch import nn

LANG = "en"  # language of the figure text
print("CJK font:", d2lite.use_cjk_font())

# %% [markdown]
# The work in this chapter is small enough for any device, but as in every chapter we pick one
# (CUDA, then Apple's MPS, then the CPU) and say which.

# %% tags=["hide-input"]
device = d2lite.try_gpu()
print(f"device: {device}, PyTorch {torch.__version__}")

# %% [markdown]
# ## 1.1 Why a non-linearity at all
#
# A linear layer computes $\mathbf{h} = \mathbf{W}_1\mathbf{x} + \mathbf{b}_1$. Put a second one on
# top with nothing in between, and the two collapse into one:
#
# $$\mathbf{y} = \mathbf{W}_2(\mathbf{W}_1\mathbf{x} + \mathbf{b}_1) + \mathbf{b}_2
#   = \underbrace{\mathbf{W}_2\mathbf{W}_1}_{\mathbf{W}}\,\mathbf{x}
#   + \underbrace{\mathbf{W}_2\mathbf{b}_1 + \mathbf{b}_2}_{\mathbf{b}}.$$
#
# Repeat the argument, and a stack of any depth computes nothing a single linear layer could not:
# depth alone buys nothing. An activation function between the layers is what breaks the collapse.
# The same check in code, with a merged layer built from $\mathbf{W}_2\mathbf{W}_1$ and
# $\mathbf{W}_2\mathbf{b}_1 + \mathbf{b}_2$:

# %%
torch.manual_seed(0)
lin1, lin2, merged = nn.Linear(5, 4), nn.Linear(4, 3), nn.Linear(5, 3)
with torch.no_grad():
    merged.weight.copy_(lin2.weight @ lin1.weight)  # W = W2 W1
    merged.bias.copy_(lin2.weight @ lin1.bias + lin2.bias)  # b = W2 b1 + b2
inputs = torch.randn(8, 5)  # 8 inputs of 5 features
print("two linear layers equal one:", torch.allclose(lin2(lin1(inputs)), merged(inputs), atol=1e-6))
print("with a ReLU between them:", torch.allclose(lin2(torch.relu(lin1(inputs))), merged(inputs), atol=1e-6))

# %% [markdown]
# The rest of the chapter is about which non-linearity to put there.
#
# ## 1.2 ReLU
#
# The rectified linear unit keeps positive numbers and replaces negative ones with zero:
#
# $$\operatorname{ReLU}(x) = \max(x, 0)$$
#
# Its derivative is 0 for $x<0$ and 1 for $x>0$. Instead of working that out by hand, we let
# autograd differentiate a whole row of inputs at once: backpropagating a gradient of 1 for every
# element of $y$ leaves the pointwise $\mathrm{d}y/\mathrm{d}x$ in `x.grad`.

# %%
x = torch.arange(-8.0, 8.0, 0.1, requires_grad=True)
y = torch.relu(x)
y.backward(torch.ones_like(x))  # dy/dx for every element
relu_y, relu_grad = y.detach(), x.grad.clone()
print(relu_grad[::20])  # every 20th point: zeros on the left, ones on the right

# %% [markdown]
# The function and its derivative side by side, with a helper we will reuse.


# %% mystnb={"image": {"alt": "Two plots: left, the ReLU function, zero for negative x and rising as a straight line for positive x; right, its derivative from autograd, 0 for negative x and 1 for positive x."}}
def plot_function_and_grad(x, y, grad, name):
    """The function on the left, its derivative computed by autograd on the right."""
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 2.6))
    axes[0].plot(x.detach(), y)
    axes[1].plot(x.detach(), grad, color="C1")
    d2lite.set_axes(axes[0], "x", f"{name}(x)")
    d2lite.set_axes(axes[1], "x", f"{name}'(x)")
    axes[0].set_title(f"the {name} function")
    axes[1].set_title("its derivative (autograd)")
    fig.tight_layout()
    return fig


fig = plot_function_and_grad(x, relu_y, relu_grad, "ReLU")

# %% [markdown]
# ## 1.3 The "derivative" at zero
#
# At $x=0$ the slope from the left is 0 and the slope from the right is 1, so ReLU has no
# derivative there. Convex analysis calls every number in $[0, 1]$ a **subgradient** at that point;
# a framework just has to pick one. Which one does PyTorch pick?

# %%
z = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
torch.relu(z).sum().backward()
print("gradient of torch.relu at -1, 0, 1:", z.grad.tolist())

# %% [markdown]
# `torch.relu` returns 0, the left derivative. That is a convention, not a law: the same function
# written differently yields a different subgradient. `torch.maximum(z, 0)`, for instance, splits
# the gradient evenly when its two arguments tie.

# %%
z.grad = None
torch.maximum(z, torch.zeros_like(z)).sum().backward()
print("gradient of torch.maximum(z, 0) at -1, 0, 1:", z.grad.tolist())

# %% [markdown]
# ```{note}
# In real training a pre-activation is almost never exactly the floating-point zero, so the choice
# hardly matters. What matters is the shape of the gradient: ReLU either blocks a signal (0) or
# passes it on untouched (1). It never scales it down.
# ```
#
# ## 1.4 Sigmoid
#
# The sigmoid squashes any real number into the interval $(0, 1)$:
#
# $$\sigma(x) = \frac{1}{1 + e^{-x}}, \qquad \sigma'(x) = \sigma(x)\,\bigl(1 - \sigma(x)\bigr).$$
#
# It was popular for a long time because it behaves like a smooth on/off switch, which matched the
# picture of a neuron that either fires or stays quiet. Autograd again gives the derivative, and we
# check it against the closed form:

# %%
x.grad = None
y = torch.sigmoid(x)
y.backward(torch.ones_like(x))
sigmoid_y, sigmoid_grad = y.detach(), x.grad.clone()
print("autograd matches σ(1-σ):", torch.allclose(sigmoid_grad, sigmoid_y * (1 - sigmoid_y)))
print(
    f"largest derivative: {sigmoid_grad.max():.4f} (at x = {x[sigmoid_grad.argmax()].item():.1f})"
)

# %% mystnb={"image": {"alt": "Two plots: left, the S-shaped sigmoid function rising from 0 to 1; right, its derivative, a bell curve that peaks at 0.25 at x = 0 and is practically zero beyond |x| = 5."}}
fig = plot_function_and_grad(x, sigmoid_y, sigmoid_grad, "sigmoid")

# %% [markdown]
# The right-hand plot says two things. The derivative never exceeds $0.25$, and once $|x|$ is past
# about 5 it is practically zero: the unit is *saturated*, and the weights before it receive almost
# no signal to learn from.
#
# ## 1.5 Measuring the vanishing gradient
#
# On the way back, the gradient is multiplied at every layer by that layer's activation derivative
# (and by its weight matrix). With sigmoid that factor is at most 0.25, so over many layers the
# product shrinks exponentially. To see it, we stack `depth` blocks of "linear layer + activation",
# initialise them with `d2lite.init_weights` (Xavier, the tutorial's choice), push a fixed random
# gradient back from the output, and look at the gradient that reaches the **first** layer's weights.


# %%
def make_stack(activation, depth, width):
    """depth blocks of (linear + activation), then a linear output layer."""
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), activation()]
    return d2lite.init_weights(nn.Sequential(*layers, nn.Linear(width, width)))


def layer_grad_norms(activation, depth, seed, builder=make_stack):
    """Norm of each linear layer's weight gradient, from the input end (layer 1) onwards."""
    torch.manual_seed(seed)
    net = builder(activation, depth, S["width"]).to(device)
    X = torch.randn(S["batch"], S["width"], device=device)  # (B, width)
    net(X).backward(torch.randn(S["batch"], S["width"], device=device) / S["batch"])
    return [m.weight.grad.norm().item() for m in net if isinstance(m, nn.Linear)]


print(layer_grad_norms(nn.Sigmoid, 2, seed=0))  # three linear layers; the first gets the least

# %% [markdown]
# For each depth we repeat the measurement `repeats` times with fresh random weights and average
# the first layer's gradient norm:

# %%
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "ReLU": nn.ReLU}
first = {name: [] for name in ACTIVATIONS}
for depth in S["depths"]:
    for name, act in ACTIVATIONS.items():
        norms = [layer_grad_norms(act, depth, seed)[0] for seed in range(S["repeats"])]
        first[name].append(sum(norms) / len(norms))

print(f"{'depth':>6}{'sigmoid':>12}{'ReLU':>12}{'ReLU/sigmoid':>15}")
for i, depth in enumerate(S["depths"]):
    s, r = first["sigmoid"][i], first["ReLU"][i]
    print(f"{depth:>6}{s:>12.2e}{r:>12.2e}{r / s:>15.1e}")

# %% [markdown]
# Each row holds the first layer's gradient norm. On a log scale both curves are close to straight
# lines, so both decay exponentially with depth, but at very different rates:

# %% mystnb={"image": {"alt": "Log-scale plot of the first layer's gradient norm against the depth of the network: both lines fall as straight lines, the sigmoid line far more steeply than the ReLU line."}}
fig, ax = plt.subplots(figsize=(5, 3.2))
for name, values in first.items():
    ax.semilogy(S["depths"], values, "o-", label=name)
d2lite.set_axes(
    ax, "depth (linear + activation blocks)", "first layer's gradient norm", yscale="log"
)
ax.legend()
ax.set_title(f"gradient vs depth (mean of {S['repeats']} initialisations)")
fig.tight_layout()

# %% [markdown]
# The two deepest points give the factor by which each extra layer multiplies the gradient:

# %%
d0, d1 = S["depths"][-2], S["depths"][-1]
for name, values in first.items():
    factor = d2lite.glue(f"factor_{name}", float((values[-1] / values[-2]) ** (1 / (d1 - d0))))
    print(
        f"{name:>8}: each extra layer multiplies the first layer's gradient by about {factor:.2f}"
    )

# %% [markdown]
# For sigmoid the factor is close to 0.25, exactly the ceiling of its derivative: the
# pre-activations sit near 0, where the derivative is about 0.25, and after 20 layers the first
# layer's gradient is down to around $10^{-12}$. It will barely learn.
#
# ReLU's derivative is exactly 1 wherever a unit is active, so the gradient that gets through is
# not scaled down at all; what it loses is the half of the units that are switched off. For these
# square $64\times64$ layers Xavier draws weights with variance $1/64 = 1/n_\text{in}$, which keeps a
# gradient's size through the linear layer, so losing half of the units halves its squared size:
# a factor of about $\sqrt{1/2}\approx 0.71$ per layer, and {glue:text}`factor_ReLU:.2f` is what we
# measured.
#
# He (Kaiming) initialisation repairs exactly this, and its factor of 2 takes two lines. Let a layer
# compute $z = \sum_{i=1}^{n_\text{in}} w_i x_i$ from ReLU outputs $x_i = \operatorname{ReLU}(u_i)$,
# with $u_i$ symmetric around 0 and independent zero-mean weights. ReLU zeroes the negative half of
# $u$ and keeps the positive half, so $E[x_i^2] = \tfrac12\operatorname{Var}(u)$, and
#
# $$\operatorname{Var}(z) = n_\text{in}\operatorname{Var}(w)\,E[x^2]
#   = \tfrac12\, n_\text{in}\operatorname{Var}(w)\operatorname{Var}(u).$$
#
# Keeping $\operatorname{Var}(z) = \operatorname{Var}(u)$ from layer to layer requires
# $\operatorname{Var}(w) = 2/n_\text{in}$: He's choice, weights $\sqrt2$ times larger than Xavier's.
# Xavier's $1/n_\text{in}$ (for square layers) was derived for units that are close to linear near
# 0, like tanh, where $E[x^2] \approx \operatorname{Var}(u)$; under ReLU it loses half of the squared
# size per layer, forwards and, by the same argument, backwards. With He's variance the first
# layer's gradient stays flat however deep the stack (exercise 1).
#
# What does the table say about AlexNet? It has 8 layers with weights, 5 convolutional and 3 dense,
# 7 of them followed by an activation, so the depth-8 row is the one to read (8 blocks plus the
# output layer: one activation more than AlexNet, close enough for an order of magnitude):

# %%
i = S["depths"].index(8)  # the row closest to AlexNet's 8 layers with weights
s, r = first["sigmoid"][i], first["ReLU"][i]
print(f"depth 8: first layer's gradient {s:.1e} with sigmoid, {r:.1e} with ReLU ({r / s:,.0f}x)")

# %% [markdown]
# At AlexNet's depth a sigmoid network would hand its first layer thousands of times less
# gradient than a ReLU network, so its first convolution, the layer that learns edges, would
# barely move while the dense layers at the top trained. These stacks are dense, not
# convolutional, so the number is an order of magnitude for AlexNet, not a measurement of it.
#
# ```{note}
# These are gradients at initialisation. During training, sigmoid units pushed into saturation
# (large $|x|$) have derivatives far below 0.25, so things get worse; ReLU has its own failure,
# "dead" units that always output 0. In a deep network the first problem is close to certain,
# which is one of the main reasons AlexNet chose ReLU. (The AlexNet paper itself measured ReLU
# against tanh rather than sigmoid: chapter 2 has its figure, and its exercise 4 tries it.)
# ```
#
# ## 1.6 Try it: gradients layer by layer
#
# The control below picks an activation and a depth (the number of linear + activation blocks;
# the output layer comes on top of them) and plots the gradient each linear layer of that network
# receives. It is an ipywidgets control, so it needs a live kernel (local Jupyter or
# Colab); on the website, use the precomputed version of it further down.


# %% tags=["remove-output"]
def plot_layers(names, depth, ax=None):
    """Each linear layer's gradient norm, from the input end to the output end."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for name in names:
        ax.semilogy(
            range(1, depth + 2),
            layer_grad_norms(ACTIVATIONS[name], depth, seed=0),
            "o-",
            label=name,
        )
    d2lite.set_axes(ax, "linear layer (1 = input end)", "weight gradient norm", yscale="log")
    ax.legend()
    ax.set_title(f"per-layer gradients, {depth} blocks + output layer")
    return ax


def show_layers(activation, depth):
    plot_layers([activation], depth)
    plt.show()


control = widgets.interactive(
    show_layers,
    activation=widgets.Dropdown(
        options=list(ACTIVATIONS), value="sigmoid", description="activation"
    ),
    depth=widgets.IntSlider(value=S["widget_depth"], min=1, max=24, description="depth"),
)
display(control)

# %% [markdown]
# A website has no kernel, so the next cell computes every view the control offers (both
# activations at every depth from 1 to 24, a second of work) and stores the numbers in the page.
# A small script that comes with the site (`book/_static/gradient-explorer.js`) draws them: move
# the slider and the figure redraws, with no Python and no network. In Jupyter you see only a
# note here; the control above is the live version.

# %%
import html
import json

from IPython.display import HTML

views = {  # every choice the control offers: 2 activations x 24 depths, about a second
    name: {depth: layer_grad_norms(ACTIVATIONS[name], depth, seed=0) for depth in range(1, 25)}
    for name in ACTIVATIONS
}
data = json.dumps(dict(lang=LANG, depth=S["widget_depth"], views=views))
HTML(f'<div class="grad-explorer" data-explorer="{html.escape(data)}">'
     '<p><em>The interactive figure appears on the book&#x27;s website; in Jupyter, use the control above.</em></p></div>')


# %% [markdown]
# The static figure: both activations with `widget_depth` = 16 blocks plus the output layer, 17
# linear layers in all: the control's default view with the two curves drawn together.

# %% mystnb={"image": {"alt": "Log-scale plot of the weight gradient norm of each of the 17 linear layers of a network of 16 blocks plus an output layer, from the input end to the output end: the sigmoid curve climbs by nearly ten orders of magnitude towards the output, the ReLU curve is almost flat in its input half and rises gently after it."}}
plot_layers(list(ACTIVATIONS), S["widget_depth"]).figure.tight_layout()

# %% [markdown]
# In the sigmoid network the gradient shrinks the closer a layer is to the input, by nearly ten
# orders of magnitude across the 17 linear layers. Layers that get no gradient do not learn, so a
# deep sigmoid network trains like a much shallower one, and the layers it loses are the early ones
# that should learn edges and textures.
#
# The ReLU curve needs a second look: its input half is almost flat, but then it rises, and the
# output end gets about {glue:text}`rise_make_stack_seed0:.0f` times what the input end gets (the
# cell after the next paragraph prints it). A layer's weight gradient is its input
# times the gradient arriving from above. Under Xavier both halve in squared size at every ReLU
# layer (the missing factor of 2 of He's derivation), the input going forwards and the gradient
# going backwards, so from layer to layer they should cancel and the profile should be flat. What
# breaks the balance is the biases. `d2lite.init_weights`, like the tutorial, re-initialises only
# the weights and leaves PyTorch's default biases, drawn uniformly from $\pm 1/\sqrt{64} = \pm 0.125$.
# Each layer adds their variance, $0.125^2/3 \approx 0.005$, to its pre-activations, so the forward
# signal stops shrinking once it has fallen to that level, within about ten blocks, while the
# gradient goes on shrinking towards the input. Over the remaining eight or so layers nothing
# offsets the gradient's $\sqrt2$ per layer, and $\sqrt2^{\,8} = 16$. Set the biases to zero and
# the rise goes away:


# %%
def zero_bias_stack(activation, depth, width):
    """make_stack, then every bias set to zero."""
    net = make_stack(activation, depth, width)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    return net


for label, builder in (("default biases", make_stack), ("zero biases", zero_bias_stack)):
    ratios = []
    for seed in range(S["repeats"]):
        g = layer_grad_norms(nn.ReLU, S["widget_depth"], seed, builder)
        ratios.append(g[-1] / g[0])  # output end / input end
    mean = torch.tensor(ratios).log().mean().exp().item()  # geometric mean over the seeds
    d2lite.glue(f"rise_{builder.__name__}_seed0", float(ratios[0]))  # rise_make_stack_seed0, ...
    d2lite.glue(f"rise_{builder.__name__}_mean", mean)
    print(f"{label}: output end / input end {ratios[0]:.2f} for seed 0 (the figure), "
          f"{mean:.2f} over {len(ratios)} seeds")

# %% [markdown]
# And the floor itself: the mean square of each block's output as one batch goes forwards,
# beside the level the biases' variance predicts for it.

# %%
bias_var = d2lite.glue("bias_variance", (1 / S["width"] ** 0.5) ** 2 / 3)  # U(±1/√64): 0.125²/3
print(f"variance of the default biases, (1/√{S['width']})² / 3 = {bias_var:.4f}")
for label, builder in (("default biases", make_stack), ("zero biases", zero_bias_stack)):
    torch.manual_seed(0)
    h, signal = torch.randn(S["batch"], S["width"]), []
    with torch.no_grad():
        for layer in builder(nn.ReLU, S["widget_depth"], S["width"]):
            h = layer(h)
            if isinstance(layer, nn.ReLU):
                signal.append(h.pow(2).mean().item())  # after each block
    print(f"{label}, blocks 1, 4, 7, 10, 13, 16:", " ".join(f"{v:.4f}" for v in signal[::3]))

# %% [markdown]
# With default biases the ReLU profile rises about {glue:text}`rise_make_stack_seed0:.0f`-fold
# ({glue:text}`rise_make_stack_mean:.1f` on average over the seeds); with zero biases it is flat,
# {glue:text}`rise_zero_bias_stack_seed0:.2f` for the figure's seed and
# {glue:text}`rise_zero_bias_stack_mean:.2f` on average. The forward signal shows why: with
# default biases it halves block after block until, from about block ten on, it settles near the
# biases' variance, {glue:text}`bias_variance:.3f` (at the floor the pre-activations' variance
# $q$ satisfies $q = q/2 + 0.005$, so $q = 0.01$, and ReLU keeps half of it); with zero biases it
# keeps halving. The biases are small, yet in a deep stack they decide the shape of the curve:
# "the gradient at initialisation" depends on every detail of the initialisation, not only on the
# activation.
#
# ## Summary
#
# - Without a non-linearity, stacked linear layers collapse into one:
#   $\mathbf{W}_2(\mathbf{W}_1\mathbf{x}+\mathbf{b}_1)+\mathbf{b}_2$ is a single layer with weight
#   $\mathbf{W}_2\mathbf{W}_1$ and bias $\mathbf{W}_2\mathbf{b}_1+\mathbf{b}_2$.
# - ReLU is $\max(x, 0)$ with a derivative of 0 or 1; sigmoid is $1/(1+e^{-x})$ with a derivative
#   of at most 0.25 that fades to 0 for large $|x|$. Autograd computes and plots both derivatives directly.
# - ReLU has no derivative at 0; any value in $[0, 1]$ is a subgradient. `torch.relu` uses 0,
#   `torch.maximum(z, 0)` uses 0.5, and in practice it does not matter.
# - In our measurement (Xavier initialisation), each extra sigmoid layer shrinks the first layer's
#   gradient about fourfold, to around $10^{-12}$ after 20 layers; each ReLU layer shrinks it only by
#   a factor of about {glue:text}`factor_ReLU:.1f`, and with He initialisation hardly at all: ReLU zeroes half of its inputs, so
#   $E[\operatorname{ReLU}(u)^2] = \operatorname{Var}(u)/2$, and keeping the variance takes
#   $\operatorname{Var}(w) = 2/n_\text{in}$. At AlexNet's depth (8 layers with weights) sigmoid's
#   first layer gets thousands of times less gradient than ReLU's.
# - Across the layers of one ReLU network the gradient rises about
#   {glue:text}`rise_make_stack_seed0:.0f`-fold towards the output,
#   because `d2lite.init_weights` leaves PyTorch's default biases; with zero biases it is flat.
# - That is one reason AlexNet replaced sigmoid with ReLU: deeper networks still get useful
#   gradients, and there is no exponential to compute.
#
# ## Exercises
#
# 1. In `make_stack`, replace `d2lite.init_weights` with `nn.init.kaiming_normal_(m.weight,
#    nonlinearity="relu")` on every `nn.Linear` and measure again. What happens to the ReLU column? And to sigmoid?
#    (Hint: loop over the network after `d2lite.init_weights` and re-initialise each linear layer's
#    weight. Kaiming's variance is $2/n_\text{in}$, twice what Xavier gives these layers; compare that
#    factor of 2 with the share of units ReLU switches off, and with sigmoid's 0.25.)
# 2. Add `nn.Tanh` and `nn.LeakyReLU` to `ACTIVATIONS`. What is tanh's largest derivative? Does its
#    gradient decay fall between the other two?
# 3. In `make_stack`, multiply every linear layer's weight by 4 right after `d2lite.init_weights`
#    (inside `torch.no_grad()`) and measure again. What happens to each column and to each per-layer
#    factor? (Hint: on the way back each layer now multiplies the gradient by weights four times
#    larger. ReLU's derivative is still 0 or 1, so nothing offsets them: compare its factor with
#    $4\times0.69$. Sigmoid's pre-activations spread four times wider and some saturate, so its
#    average derivative falls, but does it fall fourfold?)
# 4. Write ReLU as `torch.where(z > 0, z, 0.0)`. What gradient does it return at 0, and why?

# %% [markdown]
# ## Solutions
#
# Each solution is folded: try the exercise first, then open it. The code of each solution runs
# with the rest of the notebook (the tests run it too, in the quick setting). The figures quoted
# in the text are this page's, from the full setting; the quick setting measures fewer depths and
# prints slightly different numbers.

# %% [markdown]
# :::{admonition} Solution 1: He initialisation
# :class: dropdown
# With He initialisation ReLU's per-layer factor goes from 0.69 to 1.00: the first layer's
# gradient no longer shrinks with depth at all. He's variance $2/n_\text{in}$ doubles the squared
# gain of every linear layer, which exactly makes up for the half of the units that ReLU switches
# off (a factor of 1/2 in squared size per layer under Xavier, so $2 \times 1/2 = 1$). Sigmoid only
# improves from 0.24 to 0.32, about $\sqrt{2}$ times, because the weights are $\sqrt{2}$ times
# larger while the ceiling of 0.25 on its derivative still applies. He initialisation is a fix
# for ReLU, not for sigmoid.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 1", "code_prompt_hide": "Hide the code of solution 1"}
def first_grad(builder, activation, depth):
    """Mean over `repeats` seeds of the first layer's weight-gradient norm (as in 1.5)."""
    norms = []
    for seed in range(S["repeats"]):
        torch.manual_seed(seed)
        net = builder(activation, depth, S["width"]).to(device)
        X = torch.randn(S["batch"], S["width"], device=device)
        net(X).backward(torch.randn(S["batch"], S["width"], device=device) / S["batch"])
        norms.append(net[0].weight.grad.norm().item())
    return sum(norms) / len(norms)


def he_stack(activation, depth, width):
    """make_stack, then He (Kaiming) weights: variance 2 / n_in, twice Xavier's here."""
    net = make_stack(activation, depth, width)
    for m in net:
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net


def per_layer_factor(builder, activation):
    """What each extra layer multiplies the first layer's gradient by (two deepest depths)."""
    g0, g1 = first_grad(builder, activation, d0), first_grad(builder, activation, d1)
    return (g1 / g0) ** (1 / (d1 - d0))


factors = {(init, name): per_layer_factor(builder, act)
           for init, builder in (("Xavier", make_stack), ("He", he_stack))
           for name, act in ACTIVATIONS.items()}
for (init, name), f in factors.items():
    print(f"{init:>6} {name:>8}: factor per layer {f:.2f}")
assert factors["He", "ReLU"] > factors["Xavier", "ReLU"]

# %% [markdown]
# :::{admonition} Solution 2: tanh and LeakyReLU
# :class: dropdown
# tanh's derivative $1 - \tanh^2(x)$ peaks at 1 at $x = 0$, four times sigmoid's 0.25, and tanh is
# nearly the identity for small inputs. With Xavier initialisation (designed for units like tanh)
# its per-layer factor is 0.95, so the answer is no: it does not fall between the other two; in
# this measurement it loses less gradient than ReLU, which switches half of its units off. Its
# trouble comes later, when the pre-activations grow and tanh saturates just as sigmoid does.
# LeakyReLU with PyTorch's default slope (printed by the code: 0.01) behaves like ReLU here (the
# two factors printed next to each other): such a small slope passes almost nothing back through
# the negative half.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 2", "code_prompt_hide": "Hide the code of solution 2"}
xs = torch.linspace(-6, 6, 1201, requires_grad=True)
torch.tanh(xs).sum().backward()
print(f"tanh's largest derivative: {xs.grad.max():.4f} (x = {xs[xs.grad.argmax()].item():.2f})")
assert abs(xs.grad.max().item() - 1) < 1e-6

MORE = dict(ACTIVATIONS, tanh=nn.Tanh, LeakyReLU=nn.LeakyReLU)
print(f"LeakyReLU's default negative slope: {nn.LeakyReLU().negative_slope}")
more = {name: per_layer_factor(make_stack, act) for name, act in MORE.items()}
for name, f in sorted(more.items(), key=lambda kv: kv[1]):
    print(f"{name:>10}: factor per layer {f:.2f}")
assert more["sigmoid"] < more["tanh"]

# %% [markdown]
# :::{admonition} Solution 3: weights four times larger
# :class: dropdown
# ReLU's per-layer factor rises from 0.69 to 2.89, 4.2 times, close to $4 \times 0.69 = 2.76$:
# nothing offsets the larger weights, and the gradient now *explodes*, to about $5 \times 10^{9}$ at
# the first layer of the deepest stack. Sigmoid's factor rises only 2.7 times, from 0.24 to 0.64:
# the pre-activations spread four times wider, some units saturate, where the derivative is far
# below 0.25, and the lower average derivative eats part of the factor of 4. Its gradient still
# vanishes, only more slowly (about $3 \times 10^{-4}$ at the deepest depth). Scaling the weights is a
# blunt tool: too small and everything vanishes, too large and ReLU explodes.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 3", "code_prompt_hide": "Hide the code of solution 3"}
def scaled_stack(activation, depth, width, scale=4.0):
    """make_stack with every linear layer's weight multiplied by `scale`."""
    net = make_stack(activation, depth, width)
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Linear):
                m.weight.mul_(scale)
    return net


for name, act in ACTIVATIONS.items():
    f1, f4 = per_layer_factor(make_stack, act), per_layer_factor(scaled_stack, act)
    g = first_grad(scaled_stack, act, S["depths"][-1])
    print(f"{name:>8}: factor per layer {f1:.2f} -> {f4:.2f} ({f4 / f1:.1f}x); "
          f"first layer's gradient at the deepest depth {g:.1e}")

# %% [markdown]
# :::{admonition} Solution 4: ReLU written with torch.where
# :class: dropdown
# `torch.where(w > 0, w, 0.0)` returns a gradient of 0 at 0. Autograd differentiates the branch
# that was selected: at $w = 0$ the condition `w > 0` is false, so the output comes from the
# constant 0.0, whose derivative is 0. Writing `w >= 0` instead would select `w` and give 1. The
# subgradient a framework returns is a property of how the function is written, not of the
# mathematics.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 4", "code_prompt_hide": "Hide the code of solution 4"}
w = torch.tensor([-1.0, 0.0, 1.0], requires_grad=True)
torch.where(w > 0, w, 0.0).sum().backward()
print("gradient of torch.where(w > 0, w, 0.0) at -1, 0, 1:", w.grad.tolist())
assert w.grad.tolist() == [0.0, 0.0, 1.0]
