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
# What you will learn:
#
# - the formulas for ReLU and sigmoid, and how to plot their derivatives with autograd;
# - what PyTorch actually returns for ReLU's gradient at 0, where the derivative does not exist;
# - how to measure the vanishing gradient through a stack of sigmoid layers, and why ReLU fares better;
# - how to explore the per-layer gradients yourself with a small interactive control.
#
# ```{note}
# The networks here are tiny, so everything runs on a CPU in seconds: this page took 3.8 s to
# execute in the full setting on a 2-core Intel Xeon CPU, so expect about 4 s. The quick setting
# saves little, because starting the kernel and importing PyTorch take most of that time. When
# others were using the machine, one full run took 12.7 s. Each run's measured time is stored in
# the notebook metadata under `d2lite.runtime_s`.
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
# ## 1.1 ReLU
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
# ## 1.2 The "derivative" at zero
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
# ## 1.3 Sigmoid
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
# ## 1.4 Measuring the vanishing gradient
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


def layer_grad_norms(activation, depth, seed):
    """Norm of each linear layer's weight gradient, from the input end (layer 1) onwards."""
    torch.manual_seed(seed)
    net = make_stack(activation, depth, S["width"]).to(device)
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
    factor = (values[-1] / values[-2]) ** (1 / (d1 - d0))
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
# a factor of about $\sqrt{1/2}\approx 0.71$ per layer, and 0.69 is what we measured. He (Kaiming)
# initialisation, derived for ReLU, draws with variance $2/n_\text{in}$ to make up for exactly that
# half, and then the first layer's gradient stays flat however deep the stack (exercise 1).
#
# ```{note}
# These are gradients at initialisation. During training, sigmoid units pushed into saturation
# (large $|x|$) have derivatives far below 0.25, so things get worse; ReLU has its own failure,
# "dead" units that always output 0. In a deep network the first problem is close to certain,
# which is one of the main reasons AlexNet chose ReLU.
# ```
#
# ## 1.5 Try it: gradients layer by layer
#
# The control below picks an activation and a depth and plots the gradient each linear layer of
# that network receives. It is an ipywidgets control, so it needs a live kernel (local Jupyter or
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
    ax.set_title(f"per-layer gradients, {depth}-layer network")
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
# The static figure: both activations at `widget_depth` layers, the control's default view with
# the two curves drawn together.

# %% mystnb={"image": {"alt": "Log-scale plot of the weight gradient norm of each linear layer of a 16-layer network, from the input end to the output end: the sigmoid curve climbs by nearly ten orders of magnitude towards the output, the ReLU curve is almost flat in its input half and rises gently after it."}}
plot_layers(list(ACTIVATIONS), S["widget_depth"]).figure.tight_layout()

# %% [markdown]
# In the sigmoid network the gradient shrinks the closer a layer is to the input, by nearly ten
# orders of magnitude over 16 layers; in the ReLU network the input end still gets about a
# sixteenth of what the output end gets, and the input half of its curve is almost flat. That is
# because a layer's weight gradient is its input times the gradient arriving from above: moving
# towards the input, the first grows by about as much as the second shrinks (Xavier's missing
# $\sqrt{2}$ again, once in each direction). Layers that get no gradient do not learn,
# so a deep sigmoid network trains like a much shallower one, and the layers it loses are the early
# ones that should learn edges and textures.
#
# ## Summary
#
# - ReLU is $\max(x, 0)$ with a derivative of 0 or 1; sigmoid is $1/(1+e^{-x})$ with a derivative
#   of at most 0.25 that fades to 0 for large $|x|$. Autograd computes and plots both derivatives directly.
# - ReLU has no derivative at 0; any value in $[0, 1]$ is a subgradient. `torch.relu` uses 0,
#   `torch.maximum(z, 0)` uses 0.5, and in practice it does not matter.
# - In our measurement (Xavier initialisation), each extra sigmoid layer shrinks the first layer's
#   gradient about fourfold, to around $10^{-12}$ after 20 layers; each ReLU layer shrinks it only by
#   about 0.7, and with He initialisation hardly at all.
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
    """Mean over `repeats` seeds of the first layer's weight-gradient norm (as in 1.4)."""
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
# LeakyReLU with PyTorch's default slope of 0.01 behaves like ReLU here (0.68 against 0.69): a
# slope of 0.01 passes almost nothing back through the negative half.
# :::

# %% tags=["hide-cell"] mystnb={"code_prompt_show": "Show the code of solution 2", "code_prompt_hide": "Hide the code of solution 2"}
xs = torch.linspace(-6, 6, 1201, requires_grad=True)
torch.tanh(xs).sum().backward()
print(f"tanh's largest derivative: {xs.grad.max():.4f} (x = {xs[xs.grad.argmax()].item():.2f})")
assert abs(xs.grad.max().item() - 1) < 1e-6

MORE = dict(ACTIVATIONS, tanh=nn.Tanh, LeakyReLU=nn.LeakyReLU)
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
