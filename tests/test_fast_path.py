"""The fast path (DeviceLoader, bf16, channels_last) against the plain path (DataLoader).

Real Fashion-MNIST, found through conftest's ``fashion_root`` (it fails, never skips, without).
Checked: the same batches give the same inputs and the same fp32 losses step by step (and the
inputs match torchvision's own reader, an independent reference); a shuffled epoch visits every
example once; and a small CNN learns on both paths (loss falls, accuracy far above chance).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils import data

import d2lite


@pytest.fixture(scope="module")
def arrays(fashion_root):
    return d2lite.load_fashion_mnist_arrays(fashion_root, download=False)


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """One intra-op thread: these tiny models gain nothing from more, and on a shared CI machine
    spinning OpenMP threads made the file 5x slower (measured: 52 s vs 8 s at load 11)."""


def cnn_for(side: int) -> nn.Sequential:
    """A ~10k-parameter CNN; works at 28x28 and (a stride-4 first layer) at 224x224."""
    stride = 1 if side <= 28 else 4
    return nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, stride=stride, padding=1),
        nn.ReLU(),  # (B, 8, 28, 28)
        nn.MaxPool2d(2),  # (B, 8, 14, 14) at 28x28; (B, 8, 28, 28) at 224x224
        nn.Conv2d(8, 16, kernel_size=3, padding=1),
        nn.ReLU(),  # (B, 16, 14, 14)
        nn.AdaptiveAvgPool2d(7),
        nn.Flatten(),  # (B, 784)
        nn.Linear(16 * 7 * 7, 10),
    )


def plain_loader(images, labels, batch_size, resize=None, shuffle=False):
    return data.DataLoader(
        d2lite.FashionMNISTDataset(images, labels, resize),
        batch_size,
        shuffle=shuffle,
        num_workers=0,
    )


def test_same_batches_same_inputs_as_torchvision(arrays):
    """DeviceLoader batches equal DataLoader batches and torchvision's images, resized."""
    torchvision = pytest.importorskip("torchvision")
    n, b, side = 40, 16, 224
    imgs, labels = arrays.test_images[:n], arrays.test_labels[:n]
    fast = d2lite.DeviceLoader(imgs, labels, b, resize=side, device="cpu", channels_last=True)
    plain = plain_loader(imgs, labels, b, resize=side)
    root = Path(arrays.source).parents[1]  # .../FashionMNIST/raw -> the torchvision root
    if not (root / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").is_file():
        pytest.skip("torchvision needs the uncompressed files in <root>/FashionMNIST/raw")
    tv = torchvision.datasets.FashionMNIST(root=str(root), train=False, download=False)
    assert len(fast) == len(plain) == 3  # 16 + 16 + 8: the last batch is kept, smaller
    start = 0
    for (xf, yf), (xp, yp) in zip(fast, plain):
        assert xf.shape == xp.shape == (len(yp), 1, side, side)
        assert xf.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(xf, xp, rtol=0, atol=1e-6)
        assert torch.equal(yf, yp)
        # Independent reference: torchvision's reader, scaled to [0, 1], resized bilinearly.
        ref = tv.data[start : start + len(yp)].float().div(255).unsqueeze(1)
        ref = F.interpolate(ref, size=(side, side), mode="bilinear", align_corners=False)
        torch.testing.assert_close(xf, ref, rtol=0, atol=1e-6)
        assert torch.equal(yf, tv.targets[start : start + len(yp)])
        start += len(yp)
    assert start == n


def test_same_batches_same_fp32_losses_while_training(arrays):
    """Two identical models, one per path, fp32: the loss agrees at every step."""
    n, b, side = 64, 16, 224
    imgs, labels = arrays.train_images[:n], arrays.train_labels[:n]
    fast = d2lite.DeviceLoader(imgs, labels, b, resize=side, device="cpu", channels_last=True)
    plain = plain_loader(imgs, labels, b, resize=side)
    torch.manual_seed(0)
    net_p = cnn_for(side)
    net_f = cnn_for(side)
    net_f.load_state_dict(net_p.state_dict())
    net_f.to(memory_format=torch.channels_last)
    opt_p = torch.optim.SGD(net_p.parameters(), lr=0.05, momentum=0.9)
    opt_f = torch.optim.SGD(net_f.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses_p, losses_f = [], []
    for (xf, yf), (xp, yp) in zip(fast, plain):
        for net, opt, x, y, out in (
            (net_p, opt_p, xp, yp, losses_p),
            (net_f, opt_f, xf, yf, losses_f),
        ):
            opt.zero_grad()
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            out.append(loss.item())
    assert len(losses_p) == 4
    torch.testing.assert_close(torch.tensor(losses_f), torch.tensor(losses_p), rtol=1e-4, atol=1e-5)
    assert losses_p[0] != losses_p[-1]  # the models did change: the comparison means something


def test_shuffled_epoch_visits_every_example_once(arrays):
    n = 100
    imgs, labels = arrays.train_images[:n], arrays.train_labels[:n]
    d2lite.set_seed(0)
    fast = d2lite.DeviceLoader(imgs, labels, 32, shuffle=True, device="cpu")
    xs, ys = zip(*fast)
    X, y = torch.cat(xs), torch.cat(ys)  # (100, 1, 28, 28), (100,)
    assert X.shape == (n, 1, 28, 28)
    plain = imgs.float().div(255).flatten(1)
    # Each shuffled image is exactly one of the originals, each original appears once.
    match = (X.flatten(1)[:, None, :] == plain[None, :, :]).all(-1)  # (100, 100)
    idx = match.float().argmax(1)
    assert match.any(1).all() and sorted(idx.tolist()) == list(range(n))
    assert torch.equal(y, labels[idx].long())
    assert idx.tolist() != list(range(n))  # it did shuffle
    d2lite.set_seed(0)
    assert torch.equal(torch.cat([x for x, _ in fast]), X)  # set_seed fixes the order


@pytest.mark.parametrize("fast", [False, True], ids=["plain", "fast"])
def test_both_paths_learn(fashion_root, fast):
    """A small CNN at 28x28, 60 steps of batch 64 on real data: both paths learn."""
    n_train, n_test, b = 1280, 500, 64
    kwargs = dict(data_dir=fashion_root, subset=(n_train, n_test), download=False)
    if fast:
        train_iter, test_iter = d2lite.load_data_fashion_mnist(
            b, device="cpu", channels_last=True, **kwargs
        )
    else:
        train_iter, test_iter = d2lite.load_data_fashion_mnist(b, num_workers=0, **kwargs)
    assert isinstance(train_iter, d2lite.DeviceLoader) == fast
    torch.manual_seed(0)
    net = cnn_for(28)
    before = d2lite.evaluate_accuracy_gpu(net, test_iter, "cpu")
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)  # learns fastest in few steps
    history = d2lite.train(
        net,
        train_iter,
        test_iter,
        num_epochs=3,
        lr=3e-3,
        optimizer=opt,
        device="cpu",
        amp=fast,
        channels_last=fast,
        animator=False,
        verbose=False,
    )
    assert history.train_loss[-1] < 0.6 * history.train_loss[0]  # loss falls
    assert history.train_loss[0] < 2.2  # first epoch already below ln(10) = 2.30 on average
    assert before < 0.25 and history.test_acc[-1] > 0.6  # chance is 0.10


@pytest.mark.parametrize("fast_bf16", [True, False])
def test_amp_uses_bf16_only_where_the_cpu_has_it(fast_bf16, monkeypatch):
    """amp=True computes in bf16 on a CPU with bf16 kernels, and in float32 (not emulated bf16,
    slower than float32) on one without: the layer's output dtype shows which one ran."""
    monkeypatch.setattr(d2lite.engine, "_cpu_has_fast_bf16", lambda: fast_bf16)
    seen = []
    lin = nn.Linear(8, 10)
    lin.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    X, y = torch.randn(16, 8), torch.randint(0, 10, (16,))
    d2lite.evaluate_accuracy_gpu(lin, [(X, y)], "cpu", amp=True)
    d2lite.evaluate_accuracy_gpu(lin, [(X, y)], "cpu", amp=False)
    assert seen == [torch.bfloat16 if fast_bf16 else torch.float32, torch.float32]
    # amp_dtype, which the benchmarks print as their label, names the dtype that really ran
    assert [d2lite.amp_dtype(torch.device("cpu"), a) for a in (True, False)] == seen
    assert d2lite.amp_dtype(torch.device("mps"), True) == torch.float32  # no autocast there


@pytest.mark.filterwarnings("ignore:CUDA is not available")  # building the context is enough
@pytest.mark.parametrize(
    "capability, dtype",
    [
        ((6, 1), torch.float32),  # Pascal: no tensor cores
        ((7, 0), torch.float16),  # V100: fp16 tensor cores, bf16 only emulated
        ((7, 5), torch.float16),  # T4, the free hosted-notebook GPU
        ((8, 0), torch.bfloat16),  # A100
        ((9, 0), torch.bfloat16),  # H100
    ],
)
def test_amp_picks_the_fast_dtype_of_each_gpu(capability, dtype, monkeypatch):
    """amp=True: bf16 from compute capability 8.0, fp16 (with a gradient scaler) on 7.x, float32
    below. No GPU is needed: only the decision and the contexts it builds are checked."""
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda index=None: capability)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    cuda = torch.device("cuda")
    assert d2lite.amp_dtype(cuda, True) == dtype
    ctx = d2lite.autocast(cuda, d2lite.amp_dtype(cuda, True))
    assert isinstance(ctx, torch.autocast) is (dtype != torch.float32)
    if dtype != torch.float32:
        assert ctx.fast_dtype == dtype and ctx.device == "cuda"
    assert (d2lite.grad_scaler("cpu", d2lite.amp_dtype(cuda, True)) is not None) is (
        dtype == torch.float16
    )
    assert not isinstance(d2lite.autocast(cuda, d2lite.amp_dtype(cuda, False)), torch.autocast)
