"""d2lite.load_data_fashion_mnist_split: a validation set held out of the training images.

References: the real Fashion-MNIST read independently (the `fashion_arrays` fixture), each image
identified by the bytes of its pixels (the 60,000 training images are all distinct, which the
first test checks), and d2lite.load_data_fashion_mnist for the test images.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import torch

import d2lite


def keys(images: torch.Tensor, labels: torch.Tensor) -> Counter:
    """A multiset of (pixels, label) pairs: which examples a part holds, in any order."""
    return Counter(
        (x.numpy().tobytes(), int(t)) for x, t in zip(images, labels, strict=True)
    )


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
    return d2lite.load_data_fashion_mnist_split(
        256, data_dir=fashion_root, num_workers=0)


def test_sizes_and_types(split):
    train_iter, val_iter, test_iter = split
    for it, n, shuffled in ((train_iter, 55_000, True), (val_iter, 5_000, False),
                            (test_iter, 10_000, False)):
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
        64, data_dir=fashion_root, subset=(300, 100), num_workers=0)[1]
    assert keys(*part(again)) == val  # same seed: same images, whatever batch size and subset
    other = d2lite.load_data_fashion_mnist_split(
        256, data_dir=fashion_root, seed=1, num_workers=0)[1]
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
        32, data_dir=fashion_root, validation=1_000, subset=(300, 100), num_workers=0)
    train, val = keys(*part(train_iter)), keys(*part(val_iter))
    assert sum(train.values()) == 300 and sum(val.values()) == 1_000
    assert not set(train) & set(val) and set(train) <= set(full_train)
    # A smaller validation set is the start of the same shuffled order: part of the default one.
    assert set(val) <= set(keys(*part(split[1])))
    _, ref_test = d2lite.load_data_fashion_mnist(
        32, data_dir=fashion_root, subset=(300, 100), num_workers=0)
    assert keys(*part(test_iter)) == keys(*part(ref_test)) and len(test_iter.dataset) == 100


def test_device_loaders_hold_the_same_examples(fashion_root, split):
    loaders = d2lite.load_data_fashion_mnist_split(
        128, 224, data_dir=fashion_root, device="cpu", channels_last=True)
    assert all(isinstance(it, d2lite.DeviceLoader) for it in loaders)
    assert [it.shuffle for it in loaders] == [True, False, False]
    for fast, ref in zip(loaders, split, strict=True):
        assert keys(*part(fast)) == keys(*part(ref))
    X, y = next(iter(loaders[1]))  # the first validation batch, resized on the device
    images, labels = part(split[1])
    ref = torch.nn.functional.interpolate(
        images[:128, None].float() / 255, size=(224, 224), mode="bilinear")
    assert X.shape == (128, 1, 224, 224) and X.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(y, labels[:128]) and torch.allclose(X, ref, atol=1e-6)


def test_validation_batches_come_in_order(split):
    images, labels = part(split[1])
    X, y = next(iter(split[1]))
    assert torch.equal(y, labels[:256]) and torch.equal(X[:, 0], images[:256].float() / 255)


@pytest.mark.parametrize("validation", [0, -5, 60_000, 1.5, True, None])
def test_bad_validation_sizes(fashion_root, validation):
    with pytest.raises(ValueError, match="validation must be"):
        d2lite.load_data_fashion_mnist_split(
            32, data_dir=fashion_root, validation=validation, num_workers=0)


def test_bad_batch_size_and_resize(fashion_root):
    with pytest.raises(ValueError, match="batch_size"):
        d2lite.load_data_fashion_mnist_split(0, data_dir=fashion_root)
    with pytest.raises(ValueError, match="resize"):
        d2lite.load_data_fashion_mnist_split(32, resize=0, data_dir=fashion_root)
