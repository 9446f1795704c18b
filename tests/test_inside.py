"""d2lite's "looking inside the network" section: feature maps, Grad-CAM, occlusion, filter grids.

    .venv/bin/python -m pytest tests/test_inside.py

References: trace_shapes' table for the feature maps' shapes; Grad-CAM on a hand-built network
whose map is known in closed form, and against a plain autograd computation without hooks;
occlusion against a brute-force loop written here, and a pixel the model ignores.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import pytest
import torch
from torch import nn

import d2lite


def no_hooks(net: nn.Module) -> bool:
    return all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        for m in net.modules()
    )


def small_cnn(seed: int = 0) -> nn.Sequential:
    """A small conv net (eight 1x8x8 inputs run in milliseconds), with dropout after the convs."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),  # (B, 4, 8, 8)
        nn.Conv2d(4, 6, 3, padding=1),
        nn.ReLU(),  # (B, 6, 8, 8)
        nn.MaxPool2d(2),  # (B, 6, 4, 4)
        nn.Dropout(0.5),
        nn.Flatten(),
        nn.Linear(96, 5),
    )


# ----------------------------------------------------------------------------------------------
# feature_maps
# ----------------------------------------------------------------------------------------------


def test_feature_maps_match_trace_shapes_and_name_alexnets_layers():
    net = d2lite.alexnet()
    X = torch.rand(1, 1, 224, 224)
    maps = d2lite.feature_maps(net, X)
    rows = d2lite.trace_shapes(net, X)
    assert [tuple(t.shape) for _, t in maps] == [r.output_shape for r in rows]
    names = [n for n, _ in maps]
    assert [names[i] for i, r in enumerate(rows) if r.layer == "Conv2d"] == [
        "conv1",
        "conv2",
        "conv3",
        "conv4",
        "conv5",
    ]
    assert names[:3] == ["conv1", "relu1", "pool1"] and names[-1] == "fc3"
    assert len(set(names)) == len(names)
    net.eval()
    with torch.inference_mode():
        assert torch.allclose(maps[-1][1], net(X), atol=1e-5)  # the last map is the output


@pytest.mark.parametrize("training", [True, False])
def test_feature_maps_run_in_eval_mode_and_restore_the_mode(training):
    net = small_cnn().train(training)
    X = torch.rand(3, 1, 8, 8)
    a, b = d2lite.feature_maps(net, X), d2lite.feature_maps(net, X)
    assert torch.equal(a[-1][1], b[-1][1])  # dropout off: the same answer twice
    assert net.training is training


def test_feature_maps_want_a_sequential():
    class Wrapped(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="Sequential"):
        d2lite.feature_maps(Wrapped(), torch.rand(1, 1, 8, 8))


# ----------------------------------------------------------------------------------------------
# grad_cam
# ----------------------------------------------------------------------------------------------


def hand_net() -> nn.Sequential:
    """conv 1x1 (weights 1 and 2) -> ReLU -> mean over the 4x4 map -> linear V (no biases).

    For x >= 0: A_k = w_k x, the score y_c = sum_k V[c, k] mean(A_k), so dy_c/dA_k = V[c, k] / 16
    everywhere and the map is ReLU(sum_k V[c, k] w_k x / 16): proportional to x when
    V[c] . w > 0 (class 0 below: 1*1 + 2*1 = 3), zero when it is negative (class 1: 1 - 2*2).
    """
    conv = nn.Conv2d(1, 2, 1, bias=False)
    lin = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 2.0]).view(2, 1, 1, 1))
        lin.weight.copy_(torch.tensor([[1.0, 1.0], [1.0, -2.0]]))
    return nn.Sequential(conv, nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), lin)


def test_grad_cam_on_a_hand_built_network():
    net = hand_net()
    x = torch.arange(16.0).view(1, 1, 4, 4) / 15  # 0 .. 1, ramps across the image
    cam0 = d2lite.grad_cam(net, x, target=0)
    assert torch.allclose(cam0[0], x[0, 0] / x.max(), atol=1e-6)
    assert torch.equal(d2lite.grad_cam(net, x, target=1), torch.zeros(1, 4, 4))  # no evidence
    # The default layer is the ReLU after the last conv; naming it or the conv gives the same
    # map here (the input is non-negative, so the ReLU changes nothing).
    assert torch.allclose(d2lite.grad_cam(net, x, 0, layer="relu1"), cam0)
    assert torch.allclose(d2lite.grad_cam(net, x, 0, layer="conv1"), cam0)
    assert torch.allclose(d2lite.grad_cam(net, x, 0, layer=net[0]), cam0)


def reference_grad_cam(net: nn.Sequential, X: torch.Tensor, t: torch.Tensor, cut: int):
    """Grad-CAM with plain autograd: split the Sequential after layer `cut`, no hooks."""
    net.eval()
    A = net[: cut + 1](X).detach().requires_grad_(True)
    scores = net[cut + 1 :](A)
    maps = []
    for b in range(len(X)):
        (g,) = torch.autograd.grad(scores[b, t[b]], A, retain_graph=True)
        cam = torch.relu((g[b].mean(dim=(1, 2))[:, None, None] * A[b]).sum(0)).detach()
        cam = torch.nn.functional.interpolate(
            cam[None, None], size=X.shape[-2:], mode="bilinear", align_corners=False
        )[0, 0]
        maps.append(cam / cam.max() if cam.max() > 0 else cam)
    return torch.stack(maps)


def test_grad_cam_agrees_with_autograd_per_image_and_per_target():
    net = small_cnn(1)
    X = torch.rand(4, 1, 8, 8)
    t = torch.tensor([0, 3, 1, 4])
    got = d2lite.grad_cam(net, X, target=t)  # default layer: the ReLU after the second conv
    assert got.shape == (4, 8, 8) and got.min() >= 0 and got.max() <= 1
    assert torch.allclose(got, reference_grad_cam(net, X, t, cut=3), atol=1e-5)
    # A layer with a smaller map (the pool, 4x4) is enlarged to the input's 8x8.
    assert torch.allclose(
        d2lite.grad_cam(net, X, t, layer="pool1"), reference_grad_cam(net, X, t, cut=4), atol=1e-5
    )
    # No target: the predicted class of each image.
    with torch.no_grad():
        pred = net.eval()(X).argmax(1)
    assert torch.allclose(d2lite.grad_cam(net, X), reference_grad_cam(net, X, pred, 3), atol=1e-5)


def test_grad_cam_restores_mode_and_requires_grad_and_leaves_no_hook_or_grad():
    net = small_cnn(2).train()
    net[0].weight.requires_grad_(False)  # a frozen layer stays frozen, the others trainable
    flags = [p.requires_grad for p in net.parameters()]
    X = torch.rand(2, 1, 8, 8)
    a = d2lite.grad_cam(net, X, target=1)
    assert torch.equal(a, d2lite.grad_cam(net, X, target=1))  # eval mode: dropout off
    assert net.training and all(m.training for m in net.modules())
    assert [p.requires_grad for p in net.parameters()] == flags
    assert all(p.grad is None for p in net.parameters())  # no weight gradient written
    assert no_hooks(net)


def test_grad_cam_works_inside_inference_mode():
    net = small_cnn(3)
    X = torch.rand(2, 1, 8, 8)
    expected = d2lite.grad_cam(net, X, target=2)
    with torch.inference_mode():
        assert torch.allclose(d2lite.grad_cam(net, X, target=2), expected)


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def test_grad_cam_cleans_up_when_the_forward_pass_fails():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), Boom()).train()
    flags = [p.requires_grad for p in net.parameters()]
    with pytest.raises(RuntimeError, match="boom"):
        d2lite.grad_cam(net, torch.rand(1, 1, 8, 8))
    assert no_hooks(net) and net.training
    assert [p.requires_grad for p in net.parameters()] == flags


def test_grad_cam_names_its_layers():
    net = small_cnn()
    with pytest.raises(ValueError, match="no layer 'conv9'"):
        d2lite.grad_cam(net, torch.rand(1, 1, 8, 8), layer="conv9")
    with pytest.raises(ValueError, match="not a module of net"):
        d2lite.grad_cam(net, torch.rand(1, 1, 8, 8), layer=nn.ReLU())
    with pytest.raises(ValueError, match="no Conv2d"):
        d2lite.grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)), torch.rand(1, 1, 8, 8))


def test_grad_cam_on_alexnet_gives_one_map_per_image_at_the_input_size():
    torch.manual_seed(0)
    net = d2lite.init_weights(d2lite.alexnet())
    cam = d2lite.grad_cam(net, torch.rand(2, 1, 224, 224))
    assert cam.shape == (2, 224, 224) and torch.isfinite(cam).all()
    assert no_hooks(net)


# ----------------------------------------------------------------------------------------------
# occlusion
# ----------------------------------------------------------------------------------------------


def test_occluding_a_pixel_the_model_ignores_changes_nothing():
    torch.manual_seed(0)
    lin = nn.Linear(16, 3)
    with torch.no_grad():
        lin.weight[:, 5] = 0  # pixel (1, 1) of the 4x4 image never reaches the scores
    net = nn.Sequential(nn.Flatten(), lin)
    X = torch.rand(2, 1, 4, 4) + 0.5  # no pixel is already at the baseline 0
    maps = d2lite.occlusion(net, X, target=0, patch=1, stride=1)
    assert maps.shape == (2, 4, 4)
    assert torch.all(maps[:, 1, 1] == 0)
    others = maps.flatten(1)[:, [i for i in range(16) if i != 5]]
    assert torch.all(others != 0)


def reference_occlusion(net, x, t, patch, stride, baseline):
    """Brute force for one (1, H, W) image: every window, one forward pass each."""
    H, W = x.shape[-2:]
    starts_i = sorted(set(list(range(0, H - patch + 1, stride)) + [H - patch]))
    starts_j = sorted(set(list(range(0, W - patch + 1, stride)) + [W - patch]))
    with torch.no_grad():
        p0 = torch.softmax(net(x[None]), 1)[0, t]
        total, count = torch.zeros(H, W), torch.zeros(H, W)
        for i in starts_i:
            for j in starts_j:
                y = x.clone()
                y[:, i : i + patch, j : j + patch] = baseline
                total[i : i + patch, j : j + patch] += p0 - torch.softmax(net(y[None]), 1)[0, t]
                count[i : i + patch, j : j + patch] += 1
    return total / count


@pytest.mark.parametrize("patch,stride,batch_size", [(3, 2, 64), (3, 2, 4), (2, 2, 1), (8, 1, 3)])
def test_occlusion_agrees_with_brute_force(patch, stride, batch_size):
    net = small_cnn(4).eval()
    X = torch.rand(3, 1, 8, 8)
    t = torch.tensor([1, 0, 4])
    got = d2lite.occlusion(
        net, X, target=t, patch=patch, stride=stride, baseline=0.25, batch_size=batch_size
    )
    for b in range(3):
        ref = reference_occlusion(net, X[b], int(t[b]), patch, stride, 0.25)
        assert torch.allclose(got[b], ref, atol=1e-6)


def test_occlusion_defaults_to_the_predicted_class_and_restores_the_mode():
    net = small_cnn(5).train()
    X = torch.rand(2, 1, 8, 8)
    got = d2lite.occlusion(net, X, patch=4, stride=4)
    assert net.training and no_hooks(net)
    with torch.no_grad():
        pred = net.eval()(X).argmax(1)
    assert torch.allclose(got, d2lite.occlusion(net, X, target=pred, patch=4, stride=4))


def test_occlusion_checks_its_patch():
    with pytest.raises(ValueError, match="patch"):
        d2lite.occlusion(small_cnn(), torch.rand(1, 1, 8, 8), patch=9)


# ----------------------------------------------------------------------------------------------
# filter_grid and show_heatmaps
# ----------------------------------------------------------------------------------------------


def test_filter_grid_places_and_scales_each_filter():
    w = torch.randn(7, 1, 3, 2)
    grid = d2lite.filter_grid(w, num_cols=3, pad=1)
    assert grid.shape == (3 * 4 - 1, 3 * 3 - 1)  # 3 rows of (3 + gap), 3 columns of (2 + gap)
    for k in range(7):
        r, c = divmod(k, 3)
        block = grid[r * 4 : r * 4 + 3, c * 3 : c * 3 + 2]
        assert torch.allclose(block, w[k, 0] / w[k, 0].abs().max())
        assert block.abs().max() == 1
    assert torch.isnan(grid[3]).all() and torch.isnan(grid[:, 2]).all()  # the gaps
    assert torch.isnan(grid[8:, 3:]).all()  # the two unused places of the last row
    zeros = d2lite.filter_grid(torch.zeros(2, 3, 3), num_cols=2)  # all-zero filters stay 0
    assert zeros.shape == (3, 7) and torch.isnan(zeros[:, 3]).all()
    assert torch.equal(zeros[:, [0, 1, 2, 4, 5, 6]], torch.zeros(3, 6))


def test_filter_grid_wants_one_input_channel():
    with pytest.raises(ValueError, match=r"weight\[:, c\]"):
        d2lite.filter_grid(torch.randn(4, 3, 5, 5))


def test_show_heatmaps_lays_each_map_over_its_image():
    import matplotlib.pyplot as plt

    images = torch.randint(0, 255, (3, 28, 28), dtype=torch.uint8)
    maps = torch.rand(3, 224, 224)
    axes = d2lite.show_heatmaps(images, maps, num_cols=2, titles=["a", "b", "c"])
    assert len(axes) == 4
    for ax, title in zip(axes[:3], "abc"):
        image, heat = ax.images
        assert heat.get_extent() == [-0.5, 27.5, 27.5, -0.5]  # the map covers the 28x28 image
        assert heat.get_array().shape == (224, 224) and ax.get_title() == title
    assert not axes[3].images
    plt.close("all")
