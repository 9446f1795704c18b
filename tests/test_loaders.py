"""loaders.py: the iterators over Fashion-MNIST, the fast path, the validation split.

References: the real Fashion-MNIST read independently (the `fashion_arrays` fixture), each image
identified by the bytes of its pixels, and PyTorch's own DataLoader. The cases of
docs/when-things-go-wrong.md about batch sizes and workers are checked here too.
"""

from __future__ import annotations

import math
import os
import sys
from collections import Counter

import pytest
import torch
from conftest import (
    fresh,
    train_cpu,
)

import d2lite


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
    monkeypatch.setattr(sys, "platform", "linux")
    for cores in (None, 1, 2, 3, 4, 8, 64):
        monkeypatch.setattr(os, "cpu_count", lambda c=cores: c)
        n = d2lite.default_num_workers()
        assert 0 <= n <= max(0, (cores or 1) - 1)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert d2lite.default_num_workers() == 1  # keeps one of two cores for training
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert d2lite.default_num_workers() == 2  # not a hard-coded 4
    for platform in ("win32", "darwin"):  # spawn-started workers: in-process loading
        monkeypatch.setattr(sys, "platform", platform)
        assert d2lite.default_num_workers() == 0


def test_load_data_uses_default_workers(fashion_root, monkeypatch):
    monkeypatch.setattr(d2lite.loaders, "default_num_workers", lambda: 0)
    train_iter, _ = d2lite.load_data_fashion_mnist(16, data_dir=fashion_root, subset=(32, 16))
    assert train_iter.num_workers == 0


def test_bad_arguments(fashion_root):
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size"):
            d2lite.load_data_fashion_mnist(bad, data_dir=fashion_root)
    with pytest.raises(ValueError, match="resize"):
        d2lite.load_data_fashion_mnist(8, resize=0, data_dir=fashion_root)


# ----------------------------------------------------------------------------------------------
# Small data and workers (docs/when-things-go-wrong.md)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, None])
def test_a_bad_batch_size_is_refused_before_any_work(batch_size, monkeypatch):
    monkeypatch.setattr(
        d2lite.loaders,
        "load_fashion_mnist_arrays",
        lambda *a, **k: pytest.fail("data was read before the check"),
    )
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        d2lite.load_data_fashion_mnist(batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        d2lite.DeviceLoader(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4), batch_size)


def test_a_batch_larger_than_the_dataset_gives_one_smaller_batch(fashion_root):
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        1000, data_dir=fashion_root, subset=(50, 30), num_workers=0
    )
    assert len(train_iter) == 1 and [len(y) for _, y in train_iter] == [50]
    history = train_cpu(fresh(), train_iter, test_iter, 2)
    assert history.epoch == [1, 2] and all(math.isfinite(v) for v in history.train_loss)


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_no_worker_processes_on_windows_and_macos(monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert d2lite.default_num_workers() == 0


@pytest.mark.parametrize("cores, workers", [(None, 0), (1, 0), (2, 1), (3, 2), (16, 4)])
def test_workers_elsewhere_leave_a_core_for_training(monkeypatch, cores, workers):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert d2lite.default_num_workers() == workers


def test_the_loaders_use_the_safe_default(monkeypatch, fashion_root):
    monkeypatch.setattr(sys, "platform", "darwin")
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        16, data_dir=fashion_root, subset=(32, 16)
    )
    assert train_iter.num_workers == 0 and test_iter.num_workers == 0


# ----------------------------------------------------------------------------------------------
# load_data_fashion_mnist_split: a validation set held out of the training images
# ----------------------------------------------------------------------------------------------


def keys(images: torch.Tensor, labels: torch.Tensor) -> Counter:
    """A multiset of (pixels, label) pairs: which examples a part holds, in any order."""
    return Counter((x.numpy().tobytes(), int(t)) for x, t in zip(images, labels, strict=True))


def part(loader) -> tuple[torch.Tensor, torch.Tensor]:
    """The uint8 images and labels behind a DataLoader or a DeviceLoader."""
    ds = loader.dataset
    return ds.images.cpu(), ds.labels.cpu()


@pytest.fixture(scope="module")
def full_train(fashion_arrays) -> Counter:
    every = keys(fashion_arrays.train_images, fashion_arrays.train_labels)
    assert len(every) == 60_000  # all distinct: comparing pixels identifies an example
    return every


@pytest.fixture(scope="module")
def split(fashion_root):
    return d2lite.load_data_fashion_mnist_split(256, data_dir=fashion_root, num_workers=0)


def test_sizes_and_types(split):
    train_iter, val_iter, test_iter = split
    for it, n, shuffled in (
        (train_iter, 55_000, True),
        (val_iter, 5_000, False),
        (test_iter, 10_000, False),
    ):
        assert isinstance(it, torch.utils.data.DataLoader)
        assert len(it.dataset) == n and len(it) == math.ceil(n / 256)
        assert isinstance(it.sampler, torch.utils.data.RandomSampler) == shuffled


def test_train_and_validation_partition_the_training_images(split, full_train):
    train, val = keys(*part(split[0])), keys(*part(split[1]))
    assert not set(train) & set(val)  # disjoint
    assert train + val == full_train  # together: every training image exactly once


def test_test_set_untouched(split, fashion_arrays):
    images, labels = part(split[2])
    assert torch.equal(images, fashion_arrays.test_images)
    assert torch.equal(labels, fashion_arrays.test_labels.long())


def test_validation_fixed_by_seed(fashion_root, split):
    val = keys(*part(split[1]))
    again = d2lite.load_data_fashion_mnist_split(
        64, data_dir=fashion_root, subset=(300, 100), num_workers=0
    )[1]
    assert keys(*part(again)) == val  # same seed: same images, whatever batch size and subset
    other = d2lite.load_data_fashion_mnist_split(256, data_dir=fashion_root, seed=1, num_workers=0)[
        1
    ]
    overlap = len(set(keys(*part(other))) & set(val))
    assert overlap < 1_000  # another seed: another draw (by chance about 5,000 / 12 = 417)


def test_class_mix(split):
    for loader, n in ((split[1], 5_000), (split[0], 55_000)):
        counts = torch.bincount(part(loader)[1], minlength=10)
        assert counts.sum() == n
        # Each class holds 6,000 of the 60,000 images, so a random draw gets about a tenth of
        # each; 4.7 standard deviations either side for the 5,000 validation images.
        assert ((counts - n / 10).abs() <= 0.02 * n).all(), counts.tolist()


def test_subset_comes_from_the_rest(fashion_root, split, full_train):
    train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(
        32, data_dir=fashion_root, validation=1_000, subset=(300, 100), num_workers=0
    )
    train, val = keys(*part(train_iter)), keys(*part(val_iter))
    assert sum(train.values()) == 300 and sum(val.values()) == 1_000
    assert not set(train) & set(val) and set(train) <= set(full_train)
    # A smaller validation set is the start of the same shuffled order: part of the default one.
    assert set(val) <= set(keys(*part(split[1])))
    _, ref_test = d2lite.load_data_fashion_mnist(
        32, data_dir=fashion_root, subset=(300, 100), num_workers=0
    )
    assert keys(*part(test_iter)) == keys(*part(ref_test)) and len(test_iter.dataset) == 100


def test_device_loaders_hold_the_same_examples(fashion_root, split):
    loaders = d2lite.load_data_fashion_mnist_split(
        128, 224, data_dir=fashion_root, device="cpu", channels_last=True
    )
    assert all(isinstance(it, d2lite.DeviceLoader) for it in loaders)
    assert [it.shuffle for it in loaders] == [True, False, False]
    for fast, ref in zip(loaders, split, strict=True):
        assert keys(*part(fast)) == keys(*part(ref))
    X, y = next(iter(loaders[1]))  # the first validation batch, resized on the device
    images, labels = part(split[1])
    ref = torch.nn.functional.interpolate(
        images[:128, None].float() / 255, size=(224, 224), mode="bilinear"
    )
    assert X.shape == (128, 1, 224, 224) and X.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, labels[:128]) and torch.allclose(X, ref, atol=1e-6)


def test_validation_batches_come_in_order(split):
    images, labels = part(split[1])
    X, y = next(iter(split[1]))
    assert torch.equal(y, labels[:256]) and torch.equal(X[:, 0], images[:256].float() / 255)


def test_each_loader_names_the_part_of_the_data_it_serves(fashion_root, split):
    """``.split`` is how train names the set it evaluated: "val acc" or "test acc"."""
    assert [loader.split for loader in split] == ["train", "val", "test"]
    kw = dict(data_dir=fashion_root, subset=(64, 32))
    on_device = d2lite.load_data_fashion_mnist_split(32, device="cpu", **kw)
    assert [loader.split for loader in on_device] == ["train", "val", "test"]
    for device in (None, "cpu"):
        loaders = d2lite.load_data_fashion_mnist(32, device=device, num_workers=0, **kw)
        assert [loader.split for loader in loaders] == ["train", "test"]


@pytest.mark.parametrize("validation", [0, -5, 60_000, 1.5, True, None])
def test_bad_validation_sizes(fashion_root, validation):
    with pytest.raises(ValueError, match="validation must be"):
        d2lite.load_data_fashion_mnist_split(
            32, data_dir=fashion_root, validation=validation, num_workers=0
        )


def test_bad_batch_size_and_resize(fashion_root):
    with pytest.raises(ValueError, match="batch_size"):
        d2lite.load_data_fashion_mnist_split(0, data_dir=fashion_root)
    with pytest.raises(ValueError, match="resize"):
        d2lite.load_data_fashion_mnist_split(32, resize=0, data_dir=fashion_root)
