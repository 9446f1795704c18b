"""Looking inside the network: feature maps, Grad-CAM, occlusion, filters (chapter 5).

maps = d2lite.feature_maps(net, X)  # [("conv1", ...), ("relu1", ...), ...]
heat = d2lite.grad_cam(net, X)  # where the last convolution saw evidence
d2lite.show_heatmaps(images, heat)
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from d2lite.loaders import _check_batch_size
from d2lite.models import _eval_mode
from d2lite.plot import show_images

_SHORT_NAMES = {"Conv2d": "conv", "Linear": "fc", "MaxPool2d": "pool", "AvgPool2d": "pool"}


def _layer_names(net: nn.Sequential) -> list[str]:
    """Short names for the layers of a Sequential, numbered by kind: conv1, relu1, pool1, ..."""
    counts: dict[str, int] = {}
    names = []
    for layer in net:
        kind = _SHORT_NAMES.get(type(layer).__name__, type(layer).__name__.lower())
        counts[kind] = counts.get(kind, 0) + 1
        names.append(f"{kind}{counts[kind]}")
    return names


def _find_layer(net: nn.Module, layer: str | nn.Module | None) -> nn.Module:
    """The module that ``layer`` names. None: the last convolution's ReLU (else the last
    convolution); a string: a name from :func:`feature_maps` or from ``net.named_modules()``."""
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in net.modules()):
            raise ValueError("layer is not a module of net.")
        return layer
    if layer is None:
        mods = list(net) if isinstance(net, nn.Sequential) else list(net.modules())
        convs = [i for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]
        if not convs:
            raise ValueError("net has no Conv2d layer: pass layer= explicitly.")
        i = convs[-1]
        return mods[i + 1] if i + 1 < len(mods) and isinstance(mods[i + 1], nn.ReLU) else mods[i]
    named = dict(net.named_modules())
    if isinstance(net, nn.Sequential):
        named.update(zip(_layer_names(net), net))
    if layer not in named:
        raise ValueError(f"net has no layer {layer!r}; try one of {list(named)[1:]}.")
    return named[layer]


@contextlib.contextmanager
def _frozen(net: nn.Module):
    """Turn off ``requires_grad`` on every parameter and put each flag back afterwards, so a
    gradient with respect to activations computes no weight gradients (and writes no .grad)."""
    flags = [(p, p.requires_grad) for p in net.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(False)
        yield net
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def _targets(target: int | torch.Tensor | None, scores: torch.Tensor) -> torch.Tensor:
    """One class per image: the predicted one (None), the same for all (int), or as given."""
    if target is None:
        return scores.argmax(dim=1)
    t = torch.as_tensor(target, device=scores.device).long().flatten()
    return t.expand(len(scores)) if t.numel() == 1 else t


def feature_maps(net: nn.Sequential, X: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    """Run ``X`` through ``net`` layer by layer and return every layer's output with its name.

    Names count each kind of layer: ``conv1, relu1, pool1, conv2, ...``, ``fc1``, ``dropout1``.
    The outputs are CPU tensors; the shapes are those :func:`trace_shapes` lists. Runs in eval
    mode under ``inference_mode`` and restores the model's mode afterwards.
    """
    if not isinstance(net, nn.Sequential):
        raise TypeError(f"feature_maps walks an nn.Sequential, got {type(net).__name__}.")
    out = []
    with _eval_mode(net), torch.inference_mode():
        for name, layer in zip(_layer_names(net), net):
            X = layer(X)
            out.append((name, X.cpu()))
    return out


def grad_cam(
    net: nn.Module,
    X: torch.Tensor,
    target: int | torch.Tensor | None = None,
    layer: str | nn.Module | None = None,
) -> torch.Tensor:
    """Grad-CAM heat maps (Selvaraju et al., 2017): where ``layer`` saw evidence for ``target``.

    With ``A`` the layer's output (B, K, h, w) and ``y`` the target class's score (the logit,
    before softmax), each channel gets the weight ``alpha_k = mean over (h, w) of dy/dA_k``;
    the map is ``ReLU(sum_k alpha_k A_k)``, enlarged bilinearly to X's height and width and
    divided by its maximum (an all-zero map stays zero). Returns a (B, H, W) CPU tensor in [0, 1].

    ``target``: None for the predicted class, an int, or one class per image. ``layer``: a
    name from :func:`feature_maps` (``"relu5"``) or a module of ``net``; by default the last
    convolution's output after its ReLU. Runs in eval mode; mode and ``requires_grad`` flags
    are restored and the one forward hook it uses is removed, also when it fails.
    """
    module = _find_layer(net, layer)
    saved: dict[str, torch.Tensor] = {}

    def keep(_module, _inputs, output):
        saved["A"] = output.detach().requires_grad_(True)  # the graph starts at A
        return saved["A"].clone()  # a copy: an in-place layer after it cannot change A

    with _eval_mode(net), _frozen(net), torch.inference_mode(False), torch.enable_grad():
        handle = module.register_forward_hook(keep)
        try:
            scores = net(X.detach().clone())  # (B, classes)
        finally:
            handle.remove()
        t = _targets(target, scores)
        (grads,) = torch.autograd.grad(scores.gather(1, t[:, None]).sum(), saved["A"])
    A = saved["A"].detach()
    weights = grads.mean(dim=(2, 3), keepdim=True)  # (B, K, 1, 1): alpha_k
    cam = F.relu((weights * A).sum(dim=1, keepdim=True))  # (B, 1, h, w)
    cam = F.interpolate(cam, size=X.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
    peak = cam.amax(dim=(1, 2), keepdim=True)
    return (cam / torch.where(peak > 0, peak, torch.ones_like(peak))).cpu()


def _window_starts(n: int, patch: int, stride: int) -> list[int]:
    """Window positions along one side, the last one flush with the edge."""
    if not 1 <= patch <= n:
        raise ValueError(f"patch must be between 1 and the image side {n}, got {patch}.")
    starts = list(range(0, n - patch + 1, stride))
    return starts if starts[-1] == n - patch else [*starts, n - patch]


def occlusion(
    net: nn.Module,
    X: torch.Tensor,
    target: int | torch.Tensor | None = None,
    patch: int = 32,
    stride: int = 16,
    baseline: float = 0.0,
    batch_size: int = 64,
) -> torch.Tensor:
    """Occlusion sensitivity (Zeiler & Fergus, 2014): how much the target class's probability
    drops when a ``patch`` x ``patch`` square of the input is set to ``baseline``.

    The square slides with ``stride`` (the last window flush with each edge); each pixel gets
    the mean drop over the windows that cover it. Positive: that region was evidence for the
    target; negative: hiding it makes the target more likely. ``target``: None for the
    predicted class, an int, or one class per image. Returns a (B, H, W) CPU tensor; it costs
    one forward pass per window and image, run ``batch_size`` at a time in eval mode.
    """
    _check_batch_size(batch_size)
    H, W = X.shape[-2:]
    windows = [
        (i, j) for i in _window_starts(H, patch, stride) for j in _window_starts(W, patch, stride)
    ]
    maps = torch.zeros(len(X), H, W)
    with _eval_mode(net), torch.inference_mode():
        probs = torch.softmax(net(X).float(), dim=1)
        t = _targets(target, probs)
        for b in range(len(X)):
            total, count = torch.zeros(H, W), torch.zeros(H, W)
            for s in range(0, len(windows), batch_size):
                chunk = windows[s : s + batch_size]
                Xs = X[b : b + 1].repeat(len(chunk), *([1] * (X.dim() - 1)))
                for k, (i, j) in enumerate(chunk):
                    Xs[k, ..., i : i + patch, j : j + patch] = baseline
                drops = probs[b, t[b]] - torch.softmax(net(Xs).float(), dim=1)[:, t[b]]
                for (i, j), d in zip(chunk, drops.cpu()):
                    total[i : i + patch, j : j + patch] += d
                    count[i : i + patch, j : j + patch] += 1
            maps[b] = total / count
    return maps


def filter_grid(weight: torch.Tensor, num_cols: int = 12, pad: int = 1) -> torch.Tensor:
    """Tile the filters of a one-input-channel convolution, (out, 1, kh, kw) or (out, kh, kw),
    into one 2-D image for ``imshow``. Each filter is divided by its largest absolute weight
    (so it spans [-1, 1]: show it with ``vmin=-1, vmax=1``); the ``pad``-pixel gaps are NaN,
    which matplotlib leaves blank. For a layer with more input channels, pass one of them:
    ``weight[:, c]``."""
    w = weight.detach().float().cpu()
    if w.dim() == 4:
        if w.shape[1] != 1:
            raise ValueError(
                f"filter_grid shows one input channel, got {w.shape[1]}: pass "
                "weight[:, c] for channel c."
            )
        w = w[:, 0]
    if w.dim() != 3:
        raise ValueError(f"weight must be (out, 1, kh, kw) or (out, kh, kw), got {tuple(w.shape)}.")
    n, kh, kw = w.shape
    rows = math.ceil(n / num_cols)
    grid = torch.full((rows * (kh + pad) - pad, num_cols * (kw + pad) - pad), float("nan"))
    peak = w.abs().amax(dim=(1, 2), keepdim=True)
    w = w / torch.where(peak > 0, peak, torch.ones_like(peak))
    for k in range(n):
        r, c = divmod(k, num_cols)
        grid[r * (kh + pad) : r * (kh + pad) + kh, c * (kw + pad) : c * (kw + pad) + kw] = w[k]
    return grid


def show_heatmaps(
    images: Sequence,
    maps: Sequence,
    num_cols: int = 4,
    titles: Sequence[str] | None = None,
    scale: float = 1.8,
    title_colors: Sequence[str] | None = None,
    cmap: str = "jet",
    alpha: float = 0.5,
    vmin: float | None = 0.0,
    vmax: float | None = 1.0,
):
    """Draw each grayscale image with its heat map laid over it, stretched to the image's
    extent (so a 224x224 map lies on a 28x28 original). Returns the flat array of axes, as
    :func:`show_images` does; the last overlay is ``axes[k].images[-1]``, for a colour bar."""
    rows = math.ceil(len(images) / num_cols)
    axes = show_images(images, rows, num_cols, titles, scale, title_colors)
    for ax, img, heat in zip(axes, images, maps):
        h, w = np.shape(img.squeeze() if torch.is_tensor(img) else img)[-2:]
        heat = heat.detach().cpu().squeeze().numpy() if torch.is_tensor(heat) else heat
        ax.imshow(
            heat,
            cmap=cmap,
            alpha=alpha,
            vmin=vmin,
            vmax=vmax,
            extent=(-0.5, w - 0.5, h - 0.5, -0.5),
            interpolation="bilinear",
        )
    return axes
