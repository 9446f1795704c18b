"""Batches of Fashion-MNIST: the tutorial's loaders and the fast path (chapter 3).

    train_iter, test_iter = d2lite.load_data_fashion_mnist(128, resize=224)
    train_iter, val_iter, test_iter = d2lite.load_data_fashion_mnist_split(128, resize=224)

``device=None`` gives PyTorch ``DataLoader``s over a :class:`FashionMNISTDataset`; a device gives
:class:`DeviceLoader`s, which keep the whole uint8 dataset there and cut batches on it. Every
loader says which part of the data it serves in ``.split`` ("train", "val" or "test"), so that
:func:`train` names the set it evaluated. Under torchrun each process gets its own shard
(:func:`distributed`, ddp.py).
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils import data

from d2lite.ddp import distributed
from d2lite.device import resolve_device
from d2lite.fashion_mnist import load_fashion_mnist_arrays


def _resize_batch(x: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize a (B, 1, H, W) float batch to size x size with bilinear interpolation."""
    if size is None or x.shape[-1] == size and x.shape[-2] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


class FashionMNISTDataset(data.Dataset):
    """A map-style dataset over uint8 images that yields ``(float image (1, R, R), label)``.

    Pixels are scaled to [0, 1] like ``transforms.ToTensor``; ``resize`` enlarges each image
    with bilinear interpolation. The 28x28 originals stay available as ``.images``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, resize: int | None = None):
        self.images, self.labels, self.resize = images, labels.long(), resize

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.images[i].float().div_(255).unsqueeze(0)  # (1, 28, 28)
        return _resize_batch(x.unsqueeze(0), self.resize)[0], self.labels[i]


class DeviceLoader:
    """The fast path: the whole uint8 dataset lives on ``device``; batches are cut there.

    Each trick in one line:
    - uint8 on the device: 60,000 images are 47 MB, copied once instead of every step;
    - shuffling with one ``randperm`` and indexing on the device: no Python per image;
    - ``F.interpolate`` resizes a whole batch at once on the device instead of PIL per image;
    - ``channels_last`` (optional) matches what tensor-core convolutions want in memory.
    The shuffle order comes from PyTorch's global CPU generator, so ``set_seed`` fixes it and
    checkpoints can restore it. With a ``seed`` instead, epoch ``e``'s order is
    ``randperm(n)`` drawn from a generator seeded with ``seed + e`` (call :meth:`set_epoch`;
    :func:`train` does), the rule of PyTorch's ``DistributedSampler``.

    Sharding (``rank``, ``world_size``: one loader per torchrun process): a shuffled (training)
    loader takes its shard from PyTorch's ``DistributedSampler``, which drops the
    ``n % world_size`` last examples of the epoch's permutation so that every process gets as
    many batches, then gives process ``rank`` every ``world_size``-th example from position
    ``rank``. The shards of an epoch are disjoint, together they cover the epoch, and every
    process computes the same permutation without talking to the others. An unshuffled
    (evaluation) loader keeps every example exactly once: the shards differ in size by at most
    one, so that counts summed over the processes are exact (``DistributedSampler`` would
    repeat examples to even them out).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        batch_size: int,
        resize: int | None = None,
        shuffle: bool = False,
        device: str | torch.device = "cpu",
        channels_last: bool = False,
        drop_last: bool = False,
        *,
        seed: int | None = None,
        rank: int = 0,
        world_size: int = 1,
    ):
        _check_batch_size(batch_size)
        if not 0 <= rank < world_size:
            raise ValueError(
                f"rank must be in 0 .. world_size-1, got rank={rank}, world_size={world_size}."
            )
        if shuffle and world_size > 1 and seed is None:
            raise ValueError(
                "a sharded, shuffled DeviceLoader needs seed=: every process must "
                "draw the same permutation."
            )
        self.device = torch.device(device)
        self.images = images.to(self.device)  # (N, 28, 28) uint8
        self.labels = labels.to(self.device).long()
        self.batch_size, self.resize, self.shuffle = batch_size, resize, shuffle
        self.channels_last, self.drop_last = channels_last, drop_last
        self.seed, self.rank, self.world_size, self.epoch = seed, rank, world_size, 0
        self.dataset = self  # so that code written for DataLoader finds .dataset.images
        self.split: str | None = None  # "train", "val" or "test": set by the load_data functions

    def set_epoch(self, epoch: int) -> None:
        """Draw epoch ``epoch``'s order next (with ``seed``): a new order every epoch."""
        self.epoch = epoch

    def num_examples(self) -> int:
        """The examples this process sees per epoch (its shard)."""
        n, w = len(self.images), self.world_size
        return n // w if self.shuffle else len(range(self.rank, n, w))

    def __len__(self) -> int:
        n, b = self.num_examples(), self.batch_size
        return n // b if self.drop_last else math.ceil(n / b)

    def order(self) -> torch.Tensor | None:
        """The indices this process reads this epoch, in order (None: 0, 1, 2, ...)."""
        n, w = len(self.images), self.world_size
        if self.shuffle and self.seed is None:
            return torch.randperm(n)  # the global generator: set_seed and checkpoints fix it
        if self.shuffle:  # seed + epoch, and this process's shard
            sampler = data.DistributedSampler(
                range(n), w, self.rank, shuffle=True, seed=self.seed, drop_last=True
            )
            sampler.set_epoch(self.epoch)
            return torch.tensor(list(sampler))
        return None if w == 1 else torch.arange(self.rank, n, w)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.order()
        n = self.num_examples()
        if order is not None:
            order = order.to(self.device)
        for b in range(len(self)):
            idx = slice(b * self.batch_size, min(n, (b + 1) * self.batch_size))
            if order is not None:
                idx = order[idx]
            x = self.images[idx].unsqueeze(1).float().div_(255)  # (B, 1, 28, 28)
            x = _resize_batch(x, self.resize)  # (B, 1, R, R)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            yield x, self.labels[idx]


def default_num_workers() -> int:
    """DataLoader worker processes that are safe here.

    0 on Windows and macOS: there workers start with 'spawn', which re-imports the notebook's
    code and can hang or fail in Jupyter. Elsewhere one worker per spare core, at most 4, so a
    2-core machine keeps a core for training.
    """
    if sys.platform in ("win32", "darwin"):
        return 0
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")


def _check_sizes(batch_size: Any, resize: Any) -> None:
    """The loaders' arguments, checked before any data is read."""
    _check_batch_size(batch_size)
    if resize is not None and (not isinstance(resize, int) or resize < 1):
        raise ValueError(f"resize must be a positive integer (e.g. 224) or None, got {resize!r}.")


def _subset(images, labels, n: int | None, seed: int):
    """The first-come, class-mixed subset of n examples (a fixed random choice)."""
    if n is None or n >= len(images):
        return images, labels
    if n <= 0:
        raise ValueError(f"subset sizes must be positive, got {n}.")
    idx = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:n]
    return images[idx], labels[idx]


def _sharding(shard: bool | None, seed: int | None) -> dict:
    """``_loader``'s seed, rank and world_size: this process's shard under torchrun (unless
    ``shard`` is False), with a shuffle seed every process shares."""
    world = distributed()
    rank, world_size = (world.rank, world.world_size) if shard or shard is None else (0, 1)
    if world_size > 1 and seed is None:
        seed = 0  # every process must draw the same permutation
    return dict(seed=seed, rank=rank, world_size=world_size)


def _loader(
    images,
    labels,
    split: str,
    batch_size: int,
    resize: int | None,
    device,
    channels_last: bool,
    num_workers: int | None,
    *,
    seed: int | None = None,
    rank: int = 0,
    world_size: int = 1,
):
    """One loader over ``images``: a DeviceLoader on ``device``, else a DataLoader. "train"
    shuffles (from the global generator, or ``seed + epoch`` with DistributedSampler's shards);
    the evaluation splits keep their order and give each process every world_size-th image."""
    shuffle = split == "train"
    if device is not None:
        loader = DeviceLoader(
            images,
            labels,
            batch_size,
            resize,
            shuffle,
            resolve_device(device),
            channels_last,
            seed=seed if shuffle else None,
            rank=rank,
            world_size=world_size,
        )
    else:
        workers = default_num_workers() if num_workers is None else num_workers
        dataset = FashionMNISTDataset(images, labels, resize)
        order: dict = {"shuffle": shuffle}
        if shuffle and seed is not None:
            order = {
                "sampler": data.DistributedSampler(
                    dataset, world_size, rank, seed=seed, drop_last=True
                )
            }
        elif not shuffle and world_size > 1:  # every test image once over all processes
            dataset = data.Subset(dataset, range(rank, len(dataset), world_size))
        loader = data.DataLoader(
            dataset, batch_size, num_workers=workers, persistent_workers=workers > 0, **order
        )
    loader.split = split
    return loader


def load_data_fashion_mnist(
    batch_size: int,
    resize: int | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
    subset: int | tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    num_workers: int | None = None,
    download: bool = True,
    shard: bool | None = None,
    seed: int | None = None,
) -> tuple[Iterable, Iterable]:
    """Return ``(train_iter, test_iter)`` over Fashion-MNIST, like the tutorial's function.

    - ``resize``: enlarge the 28x28 images (AlexNet needs 224).
    - ``subset``: keep only n training examples, or ``(n_train, n_test)``: a fixed random
      choice, used by the quick setting.
    - ``device``: None gives ordinary ``DataLoader``s (workers: :func:`default_num_workers`).
      A device gives :class:`DeviceLoader`s that keep the data there (the fast path).
    - ``shard``: under torchrun, each process gets its own part of each epoch (``batch_size``
      is then per process). None shards when the process group is initialised with more than
      one process (:func:`init_distributed`). The training data uses ``DistributedSampler``'s
      shards (see :class:`DeviceLoader`); the test data is split without duplicates, so that
      the counts summed over the processes are exact.
    - ``seed``: shuffle the training data with a generator seeded ``seed + epoch`` instead of
      the global one; sharded loaders need the same order on every process and use 0 when
      None.
    A batch size larger than the dataset gives one smaller batch. Where the data is searched
    for is described in :func:`load_fashion_mnist_arrays`.
    """
    _check_sizes(batch_size, resize)
    arrays = load_fashion_mnist_arrays(data_dir, download=download)
    n_train, n_test = subset if isinstance(subset, tuple) else (subset, None)
    kw = _sharding(shard, seed)
    return (
        _loader(
            *_subset(arrays.train_images, arrays.train_labels, n_train, seed=0),
            "train",
            batch_size,
            resize,
            device,
            channels_last,
            num_workers,
            **kw,
        ),
        _loader(
            *_subset(arrays.test_images, arrays.test_labels, n_test, seed=1),
            "test",
            batch_size,
            resize,
            device,
            channels_last,
            num_workers,
            **kw,
        ),
    )


def load_data_fashion_mnist_split(
    batch_size: int,
    resize: int | None = None,
    *,
    validation: int = 5000,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
    subset: int | tuple[int, int] | None = None,
    device: str | torch.device | None = None,
    channels_last: bool = False,
    num_workers: int | None = None,
    download: bool = True,
    shard: bool | None = None,
    shuffle_seed: int | None = None,
) -> tuple[Iterable, Iterable, Iterable]:
    """Return ``(train_iter, val_iter, test_iter)``: ``validation`` of the 60,000 training
    images held out, so that choices (learning rate, epochs, dropout) never look at the test set.

    - ``validation``: how many training images to hold out: a fixed random choice by ``seed``,
      the same images whatever ``subset``, ``device`` or ``batch_size`` are, and never in
      ``train_iter``. ``val_iter`` is not shuffled, and its ``.split`` is "val": :func:`train`
      given it reports "val acc".
    - ``subset``: n training examples taken from the rest, or ``(n_train, n_test)``; the test
      images are the ones :func:`load_data_fashion_mnist` gives for the same ``n_test``.
    - ``resize``, ``device``, ``channels_last``, ``num_workers``, ``download``, ``shard``: as
      in :func:`load_data_fashion_mnist`; a device gives :class:`DeviceLoader` objects.
    - ``shuffle_seed``: that function's ``seed``, the training data's shuffle order.
    """
    _check_sizes(batch_size, resize)
    arrays = load_fashion_mnist_arrays(data_dir, download=download)
    n_all = len(arrays.train_images)
    if (
        isinstance(validation, bool)
        or not isinstance(validation, int)
        or not (0 < validation < n_all)
    ):
        raise ValueError(
            f"validation must be a number of training images from 1 to "
            f"{n_all - 1}, got {validation!r}."
        )
    order = torch.randperm(n_all, generator=torch.Generator().manual_seed(seed))
    held, kept = order[:validation].sort().values, order[validation:].sort().values
    n_train, n_test = subset if isinstance(subset, tuple) else (subset, None)
    parts = {
        "train": _subset(arrays.train_images[kept], arrays.train_labels[kept], n_train, seed=0),
        "val": (arrays.train_images[held], arrays.train_labels[held]),
        "test": _subset(arrays.test_images, arrays.test_labels, n_test, seed=1),
    }
    kw = _sharding(shard, shuffle_seed)
    return tuple(
        _loader(*part, split, batch_size, resize, device, channels_last, num_workers, **kw)
        for split, part in parts.items()
    )
