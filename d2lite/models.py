"""The networks: AlexNet as the tutorial lays it out, LeNet for comparison (chapter 2).

net = d2lite.init_weights(d2lite.alexnet())  # 21 layers for 1x224x224 inputs
for row in d2lite.trace_shapes(net, torch.zeros(1, 1, 224, 224)):
    print(row)  # layer, output shape, parameters (and FLOPs in row.flops)
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn


class InputSizeError(ValueError):
    """The input's height/width cannot pass through the network."""


def _alexnet_feature_side(side: int) -> int:
    """Side of AlexNet's last feature map for a square input side (conv/pool arithmetic)."""
    side = (side + 2 * 1 - 11) // 4 + 1  # conv 11x11, stride 4, padding 1
    for _ in range(3):  # three 3x3/2 max-pools (the 5x5 and 3x3 convs keep the size)
        side = (side - 3) // 2 + 1
    return side


class AlexNet(nn.Sequential):
    """AlexNet as an ``nn.Sequential`` (iterate it layer by layer) that checks its input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if _alexnet_feature_side(h) != 5 or _alexnet_feature_side(w) != 5:
            raise InputSizeError(
                f"AlexNet got {h}x{w} images, but its first dense layer expects a 256x5x5 "
                "feature map, which only inputs from 193x193 to 224x224 give. Load the data with "
                "d2lite.load_data_fashion_mnist(batch_size, resize=224)."
            )
        return super().forward(x)


def alexnet(num_classes: int = 10, dropout: float = 0.5, in_channels: int = 1) -> AlexNet:
    """AlexNet for 1x224x224 inputs, laid out exactly as the tutorial does (21 layers).

    The tutorial used ``dropout=0.9``; 0.5 is the paper's value and the default here.
    """
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}.")
    return AlexNet(
        # A large 11x11 window with stride 4 sees a whole garment part and shrinks the map fast.
        nn.Conv2d(in_channels, 96, kernel_size=11, stride=4, padding=1),
        nn.ReLU(),  # (B,96,54,54)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 96, 26, 26)
        # 5x5 window, padding 2 keeps the size; more channels.
        nn.Conv2d(96, 256, kernel_size=5, padding=2),
        nn.ReLU(),  # (B, 256, 26, 26)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 12, 12)
        # Three 3x3 convolutions in a row, no pooling between them.
        nn.Conv2d(256, 384, kernel_size=3, padding=1),
        nn.ReLU(),  # (B, 384, 12, 12)
        nn.Conv2d(384, 384, kernel_size=3, padding=1),
        nn.ReLU(),  # (B, 384, 12, 12)
        nn.Conv2d(384, 256, kernel_size=3, padding=1),
        nn.ReLU(),  # (B, 256, 12, 12)
        nn.MaxPool2d(kernel_size=3, stride=2),  # (B, 256, 5, 5)
        nn.Flatten(),  # (B, 6400)
        # Two 4096-wide dense layers hold 92% of the parameters; dropout keeps them honest.
        nn.Linear(6400, 4096),
        nn.ReLU(),
        nn.Dropout(p=dropout),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Dropout(p=dropout),
        nn.Linear(4096, num_classes),  # 10 Fashion-MNIST classes, not ImageNet's 1000
    )


def lenet(num_classes: int = 10, activation: str = "sigmoid") -> nn.Sequential:
    """LeNet-5 for 1x28x28 inputs as in d2l (sigmoid + average pooling), for comparison."""
    act = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU}[activation]
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2),
        act(),  # (B, 6, 28, 28)
        nn.AvgPool2d(kernel_size=2, stride=2),  # (B, 6, 14, 14)
        nn.Conv2d(6, 16, kernel_size=5),
        act(),  # (B, 16, 10, 10)
        nn.AvgPool2d(kernel_size=2, stride=2),  # (B, 16, 5, 5)
        nn.Flatten(),  # (B, 400)
        nn.Linear(16 * 5 * 5, 120),
        act(),
        nn.Linear(120, 84),
        act(),
        nn.Linear(84, num_classes),
    )


def init_weights(net: nn.Module, seed: int | None = None) -> nn.Module:
    """Xavier-uniform init for every Linear and Conv2d weight (the tutorial's choice).

    Biases keep PyTorch's default. Returns ``net`` so it can be chained.
    """
    if seed is not None:
        torch.manual_seed(seed)
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    return net


@dataclass
class LayerInfo:
    """One row of :func:`trace_shapes`."""

    layer: str
    output_shape: tuple[int, ...]
    params: int
    flops: int

    def __str__(self) -> str:
        return f"{self.layer:<10}{str(list(self.output_shape)):<22}{self.params:>12,}"


def trace_shapes(net: nn.Sequential, X: torch.Tensor) -> list[LayerInfo]:
    """Run ``X`` through each layer of ``net`` and return (layer, output shape, params, FLOPs).

    FLOPs are counted by PyTorch's own ``torch.utils.flop_counter`` (a multiply-add counts 2).
    """
    from torch.utils.flop_counter import FlopCounterMode

    rows = []
    with _eval_mode(net), torch.inference_mode():
        for layer in net:
            counter = FlopCounterMode(display=False)
            with counter:
                X = layer(X)
            rows.append(
                LayerInfo(
                    type(layer).__name__,
                    tuple(X.shape),
                    sum(p.numel() for p in layer.parameters()),
                    counter.get_total_flops(),
                )
            )
    return rows


def draw_layers(
    net: nn.Sequential, X: torch.Tensor, ax=None, title: str | None = None, lang: str = "en"
) -> list[tuple[str, str, str]]:
    """Draw ``net`` as a column of boxes, the input at the top, and return the boxes drawn.

    One box per convolution, pooling and dense layer, with its settings inside and its output
    shape (from :func:`trace_shapes` on ``X``) to the right; an activation or dropout joins the
    box of the layer before it, since it changes no shape. ``lang`` is "en" or "zh". Each box
    is returned as ``(kind, text, shape)``, kind one of input/conv/pool/linear. Axes that share
    their y-axis (``plt.subplots(..., sharey=True)``) draw every network with the same box height.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    text = {
        "en": dict(
            input="input {shape}",
            conv="conv {k}×{k}, {c} channels, stride {s}, pad {p}",
            max="max-pool {k}×{k}, stride {s}",
            avg="avg-pool {k}×{k}, stride {s}",
            linear="dense {n}",
            sep=", ",
            dropout="dropout",
        ),
        "zh": dict(
            input="输入 {shape}",
            conv="卷积 {k}×{k}，{c} 通道，步幅 {s}，填充 {p}",
            max="最大汇聚 {k}×{k}，步幅 {s}",
            avg="平均汇聚 {k}×{k}，步幅 {s}",
            linear="全连接 {n}",
            sep="，",
            dropout="暂退",
        ),
    }
    if lang not in text:
        raise ValueError(f"lang must be one of {sorted(text)}, got {lang!r}.")
    t = text[lang]
    boxes = [("input", t["input"].format(shape="×".join(map(str, X.shape[1:]))), "")]
    for layer, row in zip(net, trace_shapes(net, X)):
        shape = "×".join(map(str, row.output_shape[1:]))
        if isinstance(layer, nn.Conv2d):
            k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
            boxes.append(("conv", t["conv"].format(k=k, c=layer.out_channels, s=s, p=p), shape))
        elif isinstance(layer, (nn.MaxPool2d, nn.AvgPool2d)):
            kind = "max" if isinstance(layer, nn.MaxPool2d) else "avg"
            boxes.append(("pool", t[kind].format(k=layer.kernel_size, s=layer.stride), shape))
        elif isinstance(layer, nn.Linear):
            boxes.append(("linear", t["linear"].format(n=layer.out_features), shape))
        elif isinstance(layer, (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.LeakyReLU, nn.Dropout)):
            name = t["dropout"] if isinstance(layer, nn.Dropout) else type(layer).__name__
            kind, label, shape = boxes[-1]
            boxes[-1] = (kind, f"{label}{t['sep']}{name}", shape)
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 0.5 * len(boxes) + 0.6))
    colours = dict(input="#eeeeee", conv="#a6cee3", pool="#b2df8a", linear="#fdbf6f")
    ax.set_xlim(0, 10)
    ax.set_ylim(min(0.5 - len(boxes), ax.get_ylim()[0]), 0.8)  # shared y: the longest wins
    ax.axis("off")
    if title is not None:
        ax.set_title(title)
    for i, (kind, label, shape) in enumerate(boxes):
        y = -i  # top to bottom: the input is at the top
        ax.add_patch(
            FancyBboxPatch(
                (0.2, y - 0.35), 6.6, 0.7, boxstyle="round,pad=0.02", fc=colours[kind], ec="#555555"
            )
        )
        ax.text(3.5, y, label, ha="center", va="center", fontsize=8)
        ax.text(7.0, y, shape, ha="left", va="center", fontsize=8, color="#333333")
        if i:
            ax.annotate("", (3.5, y + 0.36), (3.5, y + 0.64), arrowprops=dict(arrowstyle="->"))
    return boxes


@contextlib.contextmanager
def _eval_mode(net: nn.Module):
    """Switch ``net`` to eval mode (dropout off) and back to the mode it was in, even when the
    body raises or is interrupted (Ctrl-C)."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
