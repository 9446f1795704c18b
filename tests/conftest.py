"""Shared fixtures for the test suite.

Run:  D2LITE_DATA=../shared/data .venv/bin/python -m pytest tests -q

- Plots use matplotlib's headless Agg backend (set before anything imports matplotlib).
- Tests that need the real Fashion-MNIST use `fashion_root`: it FAILS (never skips) with a
  message saying how to point the tests at the data, so a missing data set cannot turn into a
  silently green run.
- `write_fake_fashion` writes small synthetic IDX files in any accepted layout, so the
  data-search tests never touch the real data or the network.
"""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

os.environ["MPLBACKEND"] = "Agg"  # before any import of matplotlib: no windows, works in CI

import numpy as np
import pytest
import torch

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
