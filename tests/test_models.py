"""models.py: AlexNet's layout, parameter and FLOP counts, LeNet, weight init, sizes.

References: the seed tutorial's printed shape table for a 1x1x224x224 input, and parameter /
FLOP counts worked out by hand from the conv and linear formulas.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import (
    train_cpu,
)
from torch import nn

import d2lite


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (fast and reproducible on a shared CPU)."""


# The seed's listing, row for row: `for layer in net: X = layer(X); print(...)`.
SEED_TABLE = [
    ("Conv2d", [1, 96, 54, 54]),
    ("ReLU", [1, 96, 54, 54]),
    ("MaxPool2d", [1, 96, 26, 26]),
    ("Conv2d", [1, 256, 26, 26]),
    ("ReLU", [1, 256, 26, 26]),
    ("MaxPool2d", [1, 256, 12, 12]),
    ("Conv2d", [1, 384, 12, 12]),
    ("ReLU", [1, 384, 12, 12]),
    ("Conv2d", [1, 384, 12, 12]),
    ("ReLU", [1, 384, 12, 12]),
    ("Conv2d", [1, 256, 12, 12]),
    ("ReLU", [1, 256, 12, 12]),
    ("MaxPool2d", [1, 256, 5, 5]),
    ("Flatten", [1, 6400]),
    ("Linear", [1, 4096]),
    ("ReLU", [1, 4096]),
    ("Dropout", [1, 4096]),
    ("Linear", [1, 4096]),
    ("ReLU", [1, 4096]),
    ("Dropout", [1, 4096]),
    ("Linear", [1, 10]),
]

# Hand counts. Conv: (k, Cin, Cout, output side); Linear: (in, out). None: no parameters.
LAYERS = [
    ("conv", 11, 1, 96, 54),
    None,
    None,
    ("conv", 5, 96, 256, 26),
    None,
    None,
    ("conv", 3, 256, 384, 12),
    None,
    ("conv", 3, 384, 384, 12),
    None,
    ("conv", 3, 384, 256, 12),
    None,
    None,
    None,
    ("linear", 6400, 4096),
    None,
    None,
    ("linear", 4096, 4096),
    None,
    None,
    ("linear", 4096, 10),
]


def hand_params(spec) -> int:
    if spec is None:
        return 0
    if spec[0] == "conv":
        _, k, cin, cout, _ = spec
        return cout * (cin * k * k + 1)  # weights + one bias per output channel
    _, fin, fout = spec
    return fout * (fin + 1)


def hand_flops(spec) -> int:
    if spec is None:
        return 0
    if spec[0] == "conv":
        _, k, cin, cout, side = spec
        return 2 * k * k * cin * cout * side * side  # a multiply-add = 2 FLOPs
    _, fin, fout = spec
    return 2 * fin * fout


@pytest.fixture(scope="module")
def alexnet_table():
    torch.manual_seed(0)
    net = d2lite.alexnet()
    return net, d2lite.trace_shapes(net, torch.randn(1, 1, 224, 224))


def test_alexnet_matches_the_seed_shape_table(alexnet_table):
    net, rows = alexnet_table
    assert isinstance(net, d2lite.AlexNet) and isinstance(net, nn.Sequential)
    assert len(net) == len(rows) == 21
    assert all(isinstance(r, d2lite.LayerInfo) for r in rows)
    assert [(r.layer, list(r.output_shape)) for r in rows] == SEED_TABLE


def test_alexnet_parameter_count(alexnet_table):
    net, rows = alexnet_table
    assert [r.params for r in rows] == [hand_params(s) for s in LAYERS]
    assert sum(hand_params(s) for s in LAYERS) == 46_764_746
    assert sum(r.params for r in rows) == 46_764_746
    assert sum(p.numel() for p in net.parameters()) == 46_764_746
    # 1000 ImageNet classes change only the last layer: 4096 * 1000 more weights + 990 biases.
    assert sum(p.numel() for p in d2lite.alexnet(1000).parameters()) == 46_764_746 + 990 * 4097


def test_alexnet_flops(alexnet_table):
    _, rows = alexnet_table
    assert [r.flops for r in rows] == [hand_flops(s) for s in LAYERS]
    assert sum(r.flops for r in rows) == 1_876_292_352


def test_trace_shapes_restores_mode_and_prints_a_row():
    net = d2lite.alexnet()
    net.train()
    rows = d2lite.trace_shapes(net, torch.zeros(1, 1, 224, 224))
    assert net.training
    assert str(rows[0]).split() == ["Conv2d", "[1,", "96,", "54,", "54]", "11,712"]
    row = d2lite.LayerInfo("Linear", (1, 10), 40970, 81920)
    assert "Linear" in str(row) and "[1, 10]" in str(row) and "40,970" in str(row)


def test_alexnet_input_check_agrees_with_the_layers():
    """The size check raises exactly when the unchecked layers would fail.

    On the meta device PyTorch computes shapes only (no arithmetic), so 50 sizes cost nothing.
    """
    net = d2lite.alexnet().to("meta").eval()
    plain = nn.Sequential(*net)  # the same layers without the check
    fits = []
    for side in range(185, 236):
        x = torch.zeros(1, 1, side, side, device="meta")
        try:
            plain(x)
        except RuntimeError:  # Linear(6400, ...) gets a 256x4x4 or 256x6x6 map
            with pytest.raises(d2lite.InputSizeError, match="224"):
                net(x)
        else:
            fits.append(side)
            assert net(x).shape == (1, 10)
    assert fits == list(range(193, 225))  # by hand: last map 5x5 <=> first conv map 47..54
    with pytest.raises(d2lite.InputSizeError, match="resize=224"):
        d2lite.alexnet()(torch.zeros(2, 1, 28, 28))  # forgot resize=224: a clear message
    assert issubclass(d2lite.InputSizeError, ValueError)


def test_alexnet_options():
    net = d2lite.alexnet(num_classes=5, dropout=0.9, in_channels=3)
    assert net[0].in_channels == 3 and net[-1].out_features == 5
    assert [m.p for m in net if isinstance(m, nn.Dropout)] == [0.9, 0.9]
    assert [m.p for m in d2lite.alexnet() if isinstance(m, nn.Dropout)] == [0.5, 0.5]
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="dropout"):
            d2lite.alexnet(dropout=bad)


def test_lenet_shapes_at_28x28():
    rows = d2lite.trace_shapes(d2lite.lenet(), torch.zeros(1, 1, 28, 28))
    # fmt: off
    assert [(r.layer, list(r.output_shape)) for r in rows] == [
        ("Conv2d", [1, 6, 28, 28]), ("Sigmoid", [1, 6, 28, 28]), ("AvgPool2d", [1, 6, 14, 14]),
        ("Conv2d", [1, 16, 10, 10]), ("Sigmoid", [1, 16, 10, 10]), ("AvgPool2d", [1, 16, 5, 5]),
        ("Flatten", [1, 400]), ("Linear", [1, 120]), ("Sigmoid", [1, 120]),
        ("Linear", [1, 84]), ("Sigmoid", [1, 84]), ("Linear", [1, 10]),
    ]
    # fmt: on
    # 6*(25+1) + 16*(6*25+1) + 120*401 + 84*121 + 10*85 = 61,706 (LeNet-5's classic count)
    assert sum(r.params for r in rows) == 61_706
    relu = d2lite.lenet(num_classes=3, activation="relu")
    assert isinstance(relu[1], nn.ReLU) and relu[-1].out_features == 3


def test_draw_layers_boxes_and_drawing():
    """The boxes are the layers as typed in by hand from LeNet's and the seed's definitions, and
    each shape is what the layers really output; the figure holds one patch and texts per box."""
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, sharey=True)
    alex = d2lite.draw_layers(
        d2lite.alexnet(), torch.zeros(1, 1, 224, 224), ax=right, title="AlexNet", lang="zh"
    )
    boxes = d2lite.draw_layers(d2lite.lenet(), torch.zeros(1, 1, 28, 28), ax=left)
    assert boxes == [
        ("input", "input 1×28×28", ""),
        ("conv", "conv 5×5, 6 channels, stride 1, pad 2, Sigmoid", "6×28×28"),
        ("pool", "avg-pool 2×2, stride 2", "6×14×14"),
        ("conv", "conv 5×5, 16 channels, stride 1, pad 0, Sigmoid", "16×10×10"),
        ("pool", "avg-pool 2×2, stride 2", "16×5×5"),
        ("linear", "dense 120, Sigmoid", "120"),
        ("linear", "dense 84, Sigmoid", "84"),
        ("linear", "dense 10", "10"),
    ]
    # AlexNet: input + 5 conv + 3 pool + 3 dense; shapes are the seed's rows without ReLU,
    # Dropout and Flatten; the activation and dropout join the dense layer before them.
    kept = [s for name, s in SEED_TABLE if name in ("Conv2d", "MaxPool2d", "Linear")]
    assert [b[2] for b in alex[1:]] == ["×".join(map(str, s[1:])) for s in kept]
    assert [b[0] for b in alex].count("conv") == 5 and len(alex) == 12
    assert alex[1][1] == "卷积 11×11，96 通道，步幅 4，填充 1，ReLU"
    assert alex[9][1] == "全连接 4096，ReLU，暂退" and alex[11][1] == "全连接 10"
    assert len(right.patches) == 12 and len(left.patches) == 8
    drawn = [t.get_text() for t in left.texts]
    assert all(label in drawn and shape in drawn for _, label, shape in boxes)
    assert right.get_title() == "AlexNet" and left.get_title() == ""
    assert left.get_ylim()[0] == right.get_ylim()[0] == 0.5 - 12  # shared: the longer wins
    # The shapes come from running the layers: a stride-2 first convolution shows 108x108.
    net = d2lite.alexnet()
    net[0].stride = (2, 2)
    conv1 = d2lite.draw_layers(nn.Sequential(*list(net)[:3]), torch.zeros(1, 1, 224, 224))
    assert conv1[1] == ("conv", "conv 11×11, 96 channels, stride 2, pad 1, ReLU", "96×108×108")
    assert conv1[2][2] == f"96×{(108 - 3) // 2 + 1}×{(108 - 3) // 2 + 1}"
    with pytest.raises(ValueError, match="lang"):
        d2lite.draw_layers(d2lite.lenet(), torch.zeros(1, 1, 28, 28), lang="fr")
    plt.close(fig)


def test_init_weights_changes_only_weights_within_xavier_bounds():
    torch.manual_seed(0)
    net = nn.Sequential(d2lite.alexnet(), nn.BatchNorm1d(10))
    before = {k: v.clone() for k, v in net.state_dict().items()}
    assert d2lite.init_weights(net, seed=1) is net
    after = net.state_dict()
    for name, module in net.named_modules():
        for pname, _ in module.named_parameters(recurse=False):
            key = f"{name}.{pname}"
            changed = not torch.equal(before[key], after[key])
            assert changed == (isinstance(module, (nn.Linear, nn.Conv2d)) and pname == "weight")
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            w = module.weight
            receptive = w[0, 0].numel() if w.dim() > 2 else 1
            fan_in, fan_out = w.shape[1] * receptive, w.shape[0] * receptive
            bound = math.sqrt(6 / (fan_in + fan_out))  # Glorot & Bengio (2010), uniform
            assert w.abs().max() <= bound
            assert w.abs().max() > 0.9 * bound  # fills the range (every layer has >= 11k)
            assert w.mean().abs() < 0.05 * bound
    for key in ("1.running_mean", "1.running_var"):  # buffers untouched
        assert torch.equal(before[key], after[key])
    again = d2lite.init_weights(d2lite.alexnet(), seed=1)
    assert torch.equal(again[0].weight, net[0][0].weight)  # the seed makes it reproducible


# ----------------------------------------------------------------------------------------------
# Wrong input size (docs/when-things-go-wrong.md)
# ----------------------------------------------------------------------------------------------


def test_alexnet_on_28x28_explains_the_size_it_needs(fashion_root):
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        8, resize=28, data_dir=fashion_root, subset=(16, 8), num_workers=0
    )
    net = d2lite.alexnet()
    with pytest.raises(d2lite.InputSizeError) as err:
        train_cpu(net, train_iter, test_iter, 1)
    message = str(err.value)
    assert "AlexNet got 28x28 images" in message and "224x224" in message
    assert "resize=224" in message  # the fix, not a matrix-shape error from inside
    with torch.inference_mode():  # and the sizes it names do pass
        assert net.eval()(torch.zeros(1, 1, 224, 224)).shape == (1, 10)
