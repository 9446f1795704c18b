"""d2lite's data section: IDX reader, where the data is searched for, the iterators, labels.

References: torchvision's own FashionMNIST reader on the real files, published facts about
Fashion-MNIST (first labels, 6,000 images per class, pixel mean/std), and small synthetic IDX
files written by the tests. The reliability tests cover the error paths in more depth.
"""

from __future__ import annotations

import gzip
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

import d2lite

SPLITS = {  # d2lite key -> (file name, torchvision train flag, torchvision attribute)
    "train_images": ("train-images-idx3-ubyte", True, "data"),
    "train_labels": ("train-labels-idx1-ubyte", True, "targets"),
    "test_images": ("t10k-images-idx3-ubyte", False, "data"),
    "test_labels": ("t10k-labels-idx1-ubyte", False, "targets"),
}


# ----------------------------------------------------------------------------------------------
# The IDX reader against torchvision, on the real files
# ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def torchvision_sets(fashion_root, tmp_path_factory):
    """torchvision's FashionMNIST (download=False) for both splits: the independent reader."""
    root = fashion_root
    raw = root / "FashionMNIST" / "raw"
    if not all((raw / name).is_file() for name, _, _ in SPLITS.values()):
        # torchvision reads only uncompressed files in <root>/FashionMNIST/raw: build that.
        files = d2lite.find_data_dir(fashion_root)
        root = tmp_path_factory.mktemp("tv")
        (root / "FashionMNIST" / "raw").mkdir(parents=True)
        for key, (name, _, _) in SPLITS.items():
            opener = gzip.open if files[key].suffix == ".gz" else open
            with opener(files[key], "rb") as src, open(root / "FashionMNIST/raw" / name, "wb") as d:
                shutil.copyfileobj(src, d)
    return {
        train: torchvision.datasets.FashionMNIST(root=str(root), train=train, download=False)
        for train in (True, False)
    }


@pytest.fixture(scope="session")
def real_file_variants(fashion_root, tmp_path_factory):
    """Each real file both plain and gzipped (the shared data ships both; else made here)."""
    files = d2lite.find_data_dir(fashion_root)
    variants = {}
    tmp = tmp_path_factory.mktemp("variants")
    for key, path in files.items():
        plain = path.with_suffix("") if path.suffix == ".gz" else path
        gz = plain.with_name(plain.name + ".gz")
        if not plain.is_file():
            plain = tmp / plain.name
            with gzip.open(gz, "rb") as src, open(plain, "wb") as dst:
                shutil.copyfileobj(src, dst)
        if not gz.is_file():
            gz = tmp / gz.name
            with open(plain, "rb") as src, gzip.open(gz, "wb", compresslevel=1) as dst:
                shutil.copyfileobj(src, dst)
        variants[key] = {"plain": plain, "gz": gz}
    return variants


@pytest.mark.parametrize("compression", ["plain", "gz"])
@pytest.mark.parametrize("key", list(SPLITS))
def test_read_idx_matches_torchvision(key, compression, real_file_variants, torchvision_sets):
    _, train, attr = SPLITS[key]
    ours = d2lite.read_idx(real_file_variants[key][compression])
    theirs = getattr(torchvision_sets[train], attr)
    assert ours.dtype == torch.uint8
    assert ours.shape == theirs.shape
    assert torch.equal(ours.long(), theirs.long())


def test_real_data_known_facts(fashion_arrays):
    a = fashion_arrays
    assert isinstance(a, d2lite.FashionMNISTArrays)
    assert a.train_images.shape == (60000, 28, 28) and a.test_images.shape == (10000, 28, 28)
    assert a.train_images.dtype == a.train_labels.dtype == torch.uint8
    assert a.train_labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]
    assert a.test_labels[:10].tolist() == [9, 2, 1, 1, 6, 1, 4, 6, 5, 7]
    assert torch.bincount(a.train_labels.long()).tolist() == [6000] * 10
    assert torch.bincount(a.test_labels.long()).tolist() == [1000] * 10
    x = a.train_images.double() / 255
    assert x.mean().item() == pytest.approx(0.2860, abs=5e-4)
    assert x.std().item() == pytest.approx(0.3530, abs=5e-4)


def test_arrays_are_cached(fashion_root, fashion_arrays):
    assert d2lite.load_fashion_mnist_arrays(fashion_root, download=False) is fashion_arrays


# ----------------------------------------------------------------------------------------------
# Where the data is searched for (synthetic files, no real data, no network)
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Four empty candidate folders; the project and Debian ones patched into d2lite."""
    p = {name: tmp_path / name for name in ("arg", "env", "project", "debian")}
    for folder in p.values():
        folder.mkdir()
    monkeypatch.delenv("D2LITE_DATA", raising=False)
    monkeypatch.setattr(d2lite, "_project_data_dir", lambda: p["project"])
    monkeypatch.setattr(d2lite, "DEBIAN_DATA_DIR", p["debian"])

    def no_network(target):
        raise AssertionError(f"_download({target}) must not be called here")

    monkeypatch.setattr(d2lite, "_download", no_network)
    return p


LAYOUTS = ["direct", "raw", "FashionMNIST/raw"]


def _sub(folder: Path, layout: str) -> Path:
    return folder if layout == "direct" else folder / layout


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_layout_is_found_and_read(layout, gz, places, write_fake_fashion):
    written = write_fake_fashion(places["arg"], layout, gz=gz, seed=3)
    files = d2lite.find_data_dir(places["arg"])
    assert files is not None
    assert {p.parent for p in files.values()} == {_sub(places["arg"], layout)}
    assert all((p.suffix == ".gz") == gz for p in files.values())
    arrays = d2lite.load_fashion_mnist_arrays(places["arg"], download=False)
    assert arrays.source == str(_sub(places["arg"], layout))
    assert np.array_equal(arrays.train_images.numpy(), written["train-images-idx3-ubyte"])
    assert np.array_equal(arrays.train_labels.numpy(), written["train-labels-idx1-ubyte"])
    assert np.array_equal(arrays.test_images.numpy(), written["t10k-images-idx3-ubyte"])
    assert np.array_equal(arrays.test_labels.numpy(), written["t10k-labels-idx1-ubyte"])


def test_search_order_arg_env_project_debian(places, monkeypatch, write_fake_fashion):
    # A different layout and compression in each place, so every combination is exercised.
    write_fake_fashion(places["arg"], "direct", gz=True, seed=1)
    write_fake_fashion(places["env"], "raw", gz=False, seed=2)
    write_fake_fashion(places["project"], "FashionMNIST/raw", gz=True, seed=3)
    write_fake_fashion(places["debian"], "direct", gz=True, seed=4)
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))

    def source(arg=None):
        return d2lite.load_fashion_mnist_arrays(arg, download=False).source

    assert source(places["arg"]) == str(places["arg"])  # 1. explicit argument
    assert source() == str(places["env"] / "raw")  # 2. $D2LITE_DATA
    monkeypatch.delenv("D2LITE_DATA")
    assert source() == str(places["project"] / "FashionMNIST" / "raw")  # 3. project folder
    shutil.rmtree(places["project"])
    assert source() == str(places["debian"])  # 4. Debian's folder
    # An argument that holds nothing falls through to the next places.
    assert source(places["arg"] / "missing") == str(places["debian"])


def test_download_goes_into_first_explicit_place(places, monkeypatch, write_fake_fashion):
    calls = []

    def fake_download(target: Path):
        calls.append(Path(target))
        write_fake_fashion(target, "FashionMNIST/raw", gz=True, seed=len(calls))
        raw = Path(target) / "FashionMNIST" / "raw"
        return {k: raw / f"{n}.gz" for k, n in d2lite.FASHION_MNIST_FILES.items()}

    monkeypatch.setattr(d2lite, "_download", fake_download)
    # No argument, no $D2LITE_DATA: into the project's folder.
    a = d2lite.load_fashion_mnist_arrays()
    assert calls == [places["project"]] and len(a.train_images) == 12
    shutil.rmtree(places["project"])
    places["project"].mkdir()
    # $D2LITE_DATA beats the project folder.
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))
    d2lite.load_fashion_mnist_arrays()
    assert calls[-1] == places["env"]
    # The argument beats both (emptied first: otherwise the search finds $D2LITE_DATA's copy).
    shutil.rmtree(places["env"])
    a = d2lite.load_fashion_mnist_arrays(places["arg"])
    assert calls[-1] == places["arg"]
    assert a.source == str(places["arg"] / "FashionMNIST" / "raw")
    # Once there, it is found without downloading again.
    d2lite.load_fashion_mnist_arrays(places["arg"])
    assert len(calls) == 3


def test_not_found_offline_names_every_place_and_the_fixes(places, monkeypatch):
    def offline(target):
        raise OSError("Network is unreachable")

    monkeypatch.setattr(d2lite, "_download", offline)
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_fashion_mnist_arrays(places["arg"])
    msg = str(err.value)
    for folder in places.values():
        assert str(folder) in msg
    assert "Network is unreachable" in msg and "D2LITE_DATA" in msg
    assert "apt-get install dataset-fashion-mnist" in msg
    assert isinstance(err.value, FileNotFoundError)  # catchable the ordinary way too
    with pytest.raises(d2lite.DataNotFoundError, match="download=False"):
        d2lite.load_data_fashion_mnist(8, data_dir=places["arg"], download=False)


# ----------------------------------------------------------------------------------------------
# Each data error path once (tests/test_reliability.py goes deeper)
# ----------------------------------------------------------------------------------------------


def test_truncated_files_raise_naming_the_file(tmp_path, write_idx):
    images = np.zeros((5, 28, 28), dtype=np.uint8)
    plain = write_idx(tmp_path / "train-images-idx3-ubyte", images)
    plain.write_bytes(plain.read_bytes()[:-100])
    with pytest.raises(d2lite.DataError, match="truncated") as err:
        d2lite.read_idx(plain)
    assert str(plain) in str(err.value)
    gz = write_idx(tmp_path / "t10k-images-idx3-ubyte", images, gz=True)
    gz.write_bytes(gz.read_bytes()[:-20])  # cut inside the deflate stream / trailer
    with pytest.raises(d2lite.DataError) as err:
        d2lite.read_idx(gz)
    assert str(gz) in str(err.value)
    tiny = tmp_path / "tiny"
    tiny.write_bytes(b"\x00\x00")
    with pytest.raises(d2lite.DataError, match="truncated"):
        d2lite.read_idx(tiny)


def test_wrong_magic_raises(tmp_path, write_idx):
    path = write_idx(tmp_path / "x-idx1-ubyte", np.zeros(4, np.uint8), magic=0x00000D01)
    with pytest.raises(d2lite.DataError, match="magic number 3329") as err:
        d2lite.read_idx(path)
    assert str(path) in str(err.value)


def test_count_mismatch_raises(tmp_path, write_fake_fashion, write_idx):
    write_fake_fashion(tmp_path, "direct", n_train=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))  # 12 images
    with pytest.raises(d2lite.DataError, match="12 images but .* 11 labels"):
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)


# ----------------------------------------------------------------------------------------------
# Iterators
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("batch_size", "resize", "subset"),
    [(64, None, (200, 130)), (256, None, 300), (32, 224, (70, 40))],
)
def test_load_data_shapes_dtypes_ranges(fashion_root, batch_size, resize, subset):
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        batch_size, resize, data_dir=fashion_root, subset=subset, num_workers=0
    )
    n_train, n_test = subset if isinstance(subset, tuple) else (subset, 10000)
    side = resize or 28
    for it, n in ((train_iter, n_train), (test_iter, n_test)):
        assert isinstance(it, torch.utils.data.DataLoader)
        assert len(it.dataset) == n and len(it) == math.ceil(n / batch_size)
        X, y = next(iter(it))
        assert X.shape == (min(batch_size, n), 1, side, side)
        assert X.dtype == torch.float32 and y.dtype == torch.int64
        assert 0.0 <= X.min() and X.max() <= 1.0 and X.max() > 0.5
        assert 0 <= y.min() and y.max() <= 9
    if resize is None:  # the whole pass, on the smaller split
        sizes = [len(y) for _, y in train_iter]
        assert sum(sizes) == n_train and sizes[-1] == n_train - batch_size * (len(sizes) - 1)


def test_test_iterator_is_the_real_test_set_in_order(fashion_root, fashion_arrays):
    _, test_iter = d2lite.load_data_fashion_mnist(
        500, data_dir=fashion_root, subset=100, num_workers=0
    )
    X, y = next(iter(test_iter))
    assert torch.equal(y, fashion_arrays.test_labels[:500].long())
    assert torch.equal(X[:, 0], fashion_arrays.test_images[:500].float() / 255)


def test_dataset_item(fashion_arrays):
    ds = d2lite.FashionMNISTDataset(fashion_arrays.test_images, fashion_arrays.test_labels)
    x, y = ds[7]
    assert len(ds) == 10000 and x.shape == (1, 28, 28) and y.dtype == torch.int64
    assert torch.equal(x[0], fashion_arrays.test_images[7].float() / 255)
    assert y.item() == fashion_arrays.test_labels[7].item()
    big = d2lite.FashionMNISTDataset(fashion_arrays.test_images, fashion_arrays.test_labels, 224)
    ref = torch.nn.functional.interpolate(x[None], size=(224, 224), mode="bilinear")
    assert torch.allclose(big[7][0], ref[0], atol=1e-6)


@pytest.mark.parametrize("resize", [None, 224])
def test_device_loader_matches_dataloader(fashion_arrays, resize):
    n = 100 if resize else 700
    images, labels = fashion_arrays.test_images[:n], fashion_arrays.test_labels[:n]
    ref = torch.utils.data.DataLoader(
        d2lite.FashionMNISTDataset(images, labels, resize), 64, shuffle=False
    )
    fast = d2lite.DeviceLoader(images, labels, 64, resize, shuffle=False, device="cpu")
    assert len(fast) == len(ref) == math.ceil(n / 64)
    for (X1, y1), (X2, y2) in zip(ref, fast, strict=True):
        assert torch.equal(y1, y2)
        assert X1.shape == X2.shape and torch.allclose(X1, X2, atol=1e-6)


def test_device_loader_shuffle_and_load_data_device(fashion_root):
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        50, data_dir=fashion_root, subset=(120, 60), device="cpu"
    )
    assert isinstance(train_iter, d2lite.DeviceLoader) and train_iter.shuffle
    assert not test_iter.shuffle and len(test_iter) == 2
    d2lite.set_seed(5)
    first = torch.cat([y for _, y in train_iter])
    d2lite.set_seed(5)
    again = torch.cat([y for _, y in train_iter])
    assert torch.equal(first, again)  # set_seed fixes the shuffle order
    assert sorted(first.tolist()) == sorted(train_iter.labels.tolist())  # a permutation
    assert not torch.equal(first, train_iter.labels)
    dl = d2lite.DeviceLoader(train_iter.images, train_iter.labels, 50, drop_last=True)
    assert len(dl) == 2 and sum(len(y) for _, y in dl) == 100


def test_default_num_workers_scales_with_cores(monkeypatch):
    monkeypatch.setattr(d2lite.sys, "platform", "linux")
    for cores in (None, 1, 2, 3, 4, 8, 64):
        monkeypatch.setattr(d2lite.os, "cpu_count", lambda c=cores: c)
        n = d2lite.default_num_workers()
        assert 0 <= n <= max(0, (cores or 1) - 1)
    monkeypatch.setattr(d2lite.os, "cpu_count", lambda: 2)
    assert d2lite.default_num_workers() == 1  # keeps one of two cores for training
    monkeypatch.setattr(d2lite.os, "cpu_count", lambda: 3)
    assert d2lite.default_num_workers() == 2  # not a hard-coded 4
    for platform in ("win32", "darwin"):  # spawn-started workers: in-process loading
        monkeypatch.setattr(d2lite.sys, "platform", platform)
        assert d2lite.default_num_workers() == 0


def test_load_data_uses_default_workers(fashion_root, monkeypatch):
    monkeypatch.setattr(d2lite, "default_num_workers", lambda: 0)
    train_iter, _ = d2lite.load_data_fashion_mnist(16, data_dir=fashion_root, subset=(32, 16))
    assert train_iter.num_workers == 0


def test_bad_arguments(fashion_root):
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            d2lite.load_data_fashion_mnist(bad, data_dir=fashion_root)
    with pytest.raises(ValueError, match="resize"):
        d2lite.load_data_fashion_mnist(8, resize=0, data_dir=fashion_root)


# ----------------------------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------------------------


def test_labels_en_zh_and_unknown_language():
    assert d2lite.get_fashion_mnist_labels([0, 9, 5]) == ["t-shirt", "ankle boot", "sandal"]
    assert d2lite.get_fashion_mnist_labels(torch.tensor([1, 8]), lang="zh") == ["裤子", "包"]
    assert d2lite.get_fashion_mnist_labels(torch.arange(10), "en") == d2lite.TEXT_LABELS["en"]
    assert len(d2lite.TEXT_LABELS["zh"]) == len(set(d2lite.TEXT_LABELS["zh"])) == 10
    with pytest.raises(ValueError, match="lang"):
        d2lite.get_fashion_mnist_labels([0], lang="fr")


def test_file_names_constant():
    assert d2lite.FASHION_MNIST_FILES == {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
