"""Shared fixtures for the test suite.

Run:  D2LITE_DATA=../shared/data .venv/bin/python -m pytest tests -q

- Plots use matplotlib's headless Agg backend (set before anything imports matplotlib).
- Tests that need the real Fashion-MNIST use `fashion_root`: it FAILS (never skips) with a
  message saying how to point the tests at the data, so a missing data set cannot turn into a
  silently green run.
- `write_fake_fashion` writes small synthetic IDX files in any accepted layout, so the
  data-search tests never touch the real data or the network.
- Small models, data and runs shared by the test files (``from conftest import tiny_net``):
  `tiny_net`, `tiny_data`, `quiet_train` for quick runs; `tiny_cnn`, `synthetic`, `loaders`,
  `fresh`, `train_cpu` and friends for the reliability tests, where runs must be bit-for-bit
  reproducible; `run_cli` for `python -m d2lite train` (under torchrun too).
"""

from __future__ import annotations

import builtins
import contextlib
import gzip
import json
import math
import os
import random
import socket
import struct
import subprocess
import sys
from pathlib import Path

os.environ["MPLBACKEND"] = "Agg"  # before any import of matplotlib: no windows, works in CI

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils import data

import d2lite

ROOT = Path(__file__).resolve().parents[1]

# ----------------------------------------------------------------------------------------------
# Real data
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def fashion_root() -> Path:
    """The folder that holds the real Fashion-MNIST (what a user passes as ``data_dir``).

    Found the way d2lite finds it ($D2LITE_DATA, the project's data/, Debian's folder).
    """
    import d2lite

    files = d2lite.find_data_dir()
    if files is None:
        env = os.environ.get("D2LITE_DATA")
        where = (
            f"D2LITE_DATA={env!r} does not hold the four IDX files"
            if env
            else "D2LITE_DATA is not set"
        )
        pytest.fail(
            f"These tests need the real Fashion-MNIST, and {where}; the project's data/ folder "
            f"and {d2lite.DEBIAN_DATA_DIR} hold nothing either. Run the tests as\n"
            "  D2LITE_DATA=/path/to/data python -m pytest tests\n"
            "where /path/to/data holds train-images-idx3-ubyte(.gz) and the three other files "
            "(directly, in raw/ or in FashionMNIST/raw/); in this project: ../shared/data.",
            pytrace=False,
        )
    folder = files["train_images"].parent
    if folder.name == "raw" and folder.parent.name == "FashionMNIST":
        return folder.parent.parent  # torchvision's layout: <root>/FashionMNIST/raw
    if folder.name == "raw":
        return folder.parent
    return folder


@pytest.fixture(scope="session")
def fashion_arrays(fashion_root):
    """The real data set as uint8 tensors (read once per session)."""
    import d2lite

    return d2lite.load_fashion_mnist_arrays(fashion_root, download=False)


@pytest.fixture(scope="session")
def trained_lenet(fashion_arrays):
    """A LeNet (ReLU) after one pass over 6,000 images at 28x28: about half of the test images
    right, and confident enough that its top classes are not near-ties. One thread: seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = d2lite.lenet(activation="relu")
    X = fashion_arrays.train_images[:6000].float().div(255)[:, None]
    y = fashion_arrays.train_labels[:6000].long()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    for i in range(0, 6000, 64):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X[i : i + 64]), y[i : i + 64]).backward()
        opt.step()
    torch.set_num_threads(threads)
    return net.eval()


def onnx_reference(net, images, size=28):
    """What an exported model must output: PyTorch's probabilities through the same wrapper."""
    with torch.no_grad():
        return d2lite.export.FromDataSet(net, size)(images)


# ----------------------------------------------------------------------------------------------
# Synthetic IDX files
# ----------------------------------------------------------------------------------------------


def _idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as IDX: 2 zero bytes, type 0x08, ndim, then big-endian dims."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    head = struct.pack(">I", magic) if magic is not None else struct.pack(">HBB", 0, 8, array.ndim)
    return head + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _write(path: Path, payload: bytes, gz: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
    return path


@pytest.fixture
def write_idx():
    """``write_idx(path, array, gz=False, magic=None) -> Path`` (adds .gz when gz)."""

    def write(path, array, gz: bool = False, magic: int | None = None) -> Path:
        return _write(Path(path), _idx_bytes(array, magic), gz)

    return write


@pytest.fixture
def write_fake_fashion():
    """``write_fake_fashion(folder, layout="direct"|"raw"|"FashionMNIST/raw", gz=False,
    n_train=12, n_test=6, seed=0) -> dict`` of the arrays written (uint8 NumPy)."""

    def write(
        folder,
        layout: str = "direct",
        gz: bool = False,
        n_train: int = 12,
        n_test: int = 6,
        seed: int = 0,
    ) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        sub = Path(folder) if layout == "direct" else Path(folder) / layout
        arrays = {
            "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
            "train-labels-idx1-ubyte": (np.arange(n_train) + seed) % 10,
            "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
            "t10k-labels-idx1-ubyte": (np.arange(n_test) * 3 + seed) % 10,
        }
        for name, arr in arrays.items():
            _write(sub / name, _idx_bytes(arr), gz)
        return {k: np.asarray(v, dtype=np.uint8) for k, v in arrays.items()}

    return write


# ----------------------------------------------------------------------------------------------
# Hygiene
# ----------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _close_figures():
    """Close every matplotlib figure a test opened (memory, and no cross-test leaks)."""
    yield
    plt = sys.modules.get("matplotlib.pyplot")
    if plt is not None:
        plt.close("all")


@pytest.fixture
def one_thread():
    """Run a CPU-heavy test with one intra-op thread, then restore the setting.

    Why: on a shared 2-core machine PyTorch's 2 OpenMP threads spin-wait for each other and
    one epoch of a small CNN took 104 s instead of 23 s with 1 thread (measured on this
    project's 2-core build machine under load, 60k 28x28 images, batch 128).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ----------------------------------------------------------------------------------------------
# Small models, data and runs
# ----------------------------------------------------------------------------------------------


def tiny_data(n: int, batch_size: int, seed: int = 0) -> data.DataLoader:
    """n random 28x28 images with random labels, in a fixed order."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return data.DataLoader(data.TensorDataset(X, y), batch_size=batch_size, shuffle=False)


def tiny_net(seed: int = 0, dropout: float = 0.0) -> nn.Sequential:
    """A 784-32-10 perceptron (with optional dropout): trains in milliseconds."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 10)
    )


def quiet_train(net, train_iter, test_iter, num_epochs, lr=0.1, **kw) -> d2lite.History:
    """d2lite.train on the CPU, without the plot and the printed lines (unless asked)."""
    kw = {"animator": False, "verbose": False, **kw}
    return d2lite.train(net, train_iter, test_iter, num_epochs, lr, "cpu", **kw)


METRICS = ("epoch", "train_loss", "train_acc", "test_acc")


def tiny_cnn(num_classes: int = 10) -> nn.Sequential:
    """A 28x28 CNN small enough to train an epoch in a fraction of a second."""
    return nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3, stride=2),
        nn.ReLU(),  # (B, 4, 13, 13)
        nn.Flatten(),
        nn.Dropout(0.2),  # dropout: the RNG state matters on resume
        nn.Linear(4 * 13 * 13, num_classes),
    )


def synthetic(n: int, seed: int = 0) -> data.TensorDataset:
    """n noisy copies of 10 fixed class prototypes (independent of the global RNG)."""
    g = torch.Generator().manual_seed(99)
    prototypes = torch.rand(10, 1, 28, 28, generator=g)
    g.manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    return data.TensorDataset((prototypes[y] + torch.randn(n, 1, 28, 28, generator=g)), y)


def loaders(n_train: int = 192, n_test: int = 64, batch_size: int = 32):
    return (
        data.DataLoader(synthetic(n_train, 0), batch_size, shuffle=True, num_workers=0),
        data.DataLoader(synthetic(n_test, 1), 64, num_workers=0),
    )


class NumpyShuffleLoader:
    """A user's own loader: shuffles with NumPy and flips images with Python's ``random``.

    So resuming must restore NumPy's and Python's RNG states too, not only PyTorch's.
    """

    def __init__(self, dataset: data.TensorDataset, batch_size: int):
        self.X, self.y = dataset.tensors
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self):
        order = torch.from_numpy(np.random.permutation(len(self.y)))
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            X = self.X[idx]
            if random.random() < 0.5:
                X = X.flip(-1)
            yield X, self.y[idx]


def train_cpu(net, train_iter, test_iter, num_epochs, lr=0.05, **kw) -> d2lite.History:
    """d2lite.train on the CPU with SGD and momentum 0.9, quiet unless asked (the reliability
    tests' run)."""
    kw.setdefault("animator", False)
    kw.setdefault("verbose", False)
    return d2lite.train(net, train_iter, test_iter, num_epochs, lr, "cpu", momentum=0.9, **kw)


def fresh(seed: int = 0, num_classes: int = 10) -> nn.Module:
    d2lite.set_seed(seed, deterministic=True)
    return d2lite.init_weights(tiny_cnn(num_classes))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def metrics(h: d2lite.History) -> dict:
    return {k: getattr(h, k) for k in METRICS}


class CtrlC:
    """Wraps a loader and raises KeyboardInterrupt at batch ``at`` (counted over all epochs),
    recording the model's weights at that moment."""

    def __init__(self, loader, at: int, net: nn.Module):
        self.loader, self.at, self.net, self.count, self.weights = loader, at, net, 0, None
        self.batch_size = loader.batch_size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.count += 1
            if self.count == self.at:
                self.weights = {k: v.clone() for k, v in self.net.state_dict().items()}
                raise KeyboardInterrupt
            yield batch


def deny(monkeypatch, folder: Path, calls: tuple[str, ...]) -> None:
    """Act as if ``folder`` were unreadable (chmod does not stop root, who runs these tests)."""

    def guard(real):
        def wrapper(path, *args, **kwargs):
            if isinstance(path, (str, os.PathLike)) and Path(os.fspath(path)).is_relative_to(
                folder
            ):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path, *args, **kwargs)

        return wrapper

    for name in calls:
        module = builtins if name == "open" else os
        monkeypatch.setattr(module, name, guard(getattr(module, name)))


class NoTraining:
    """A loader that fails the test if training ever asks for a batch."""

    batch_size = 32

    def __len__(self) -> int:
        return 6

    def __iter__(self):
        pytest.fail("training started before the storage problem was reported")


def cli_env(fashion_root: Path) -> dict:
    env = dict(os.environ, D2LITE_DATA=str(fashion_root), PYTHONUNBUFFERED="1")
    env.pop("D2LITE_SETTING", None)
    env.pop("D2LITE_QUICK", None)
    return env


def run_cli(
    args: list[str], fashion_root: Path, nproc: int = 1, timeout: float = 300, check: bool = True
) -> subprocess.CompletedProcess:
    """`python -m d2lite train ARGS`, or the same under torchrun with `nproc` processes."""
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}"]
        if nproc > 1
        else [sys.executable]
    )
    proc = subprocess.run(
        [*launcher, "-m", "d2lite", "train", *args],
        cwd=ROOT,
        env=cli_env(fashion_root),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@contextlib.contextmanager
def held_lock(checkpoint: Path, **owner):
    """Hold ``<checkpoint>.lock`` as a live run does (filelock's flock, taken here, in this
    process), with ``owner`` (pid, host, start time) written in it; released at the end."""
    from filelock import FileLock

    lock_path = checkpoint.with_name(checkpoint.name + ".lock")
    lock = FileLock(lock_path)
    lock.acquire(timeout=0)
    try:
        owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01", **owner}
        lock_path.write_text(json.dumps(owner))
        yield lock_path
    finally:
        lock.release()
