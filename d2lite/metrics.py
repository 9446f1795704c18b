"""Counting what training does: running sums, clocks, accuracy, and the run's history.

metric = d2lite.Accumulator(3)  # loss sum, correct predictions, examples
metric.add(loss * len(y), d2lite.accuracy(y_hat, y), len(y))
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch


class Accumulator:
    """Running sums over n slots, e.g. (loss sum, correct count, examples).

    Values may be numbers or 0-d tensors: tensors stay on their device until read, so adding
    them never forces the GPU to synchronise. Reading a slot returns a float.
    """

    def __init__(self, n: int):
        self.data: list[Any] = [0.0] * n

    def add(self, *args: float | torch.Tensor) -> None:
        if len(args) != len(self.data):
            raise ValueError(f"Accumulator has {len(self.data)} slots, got {len(args)} values.")
        self.data = [
            a + (b.detach() if torch.is_tensor(b) else float(b)) for a, b in zip(self.data, args)
        ]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx: int) -> float:
        return float(self.data[idx])


class Timer:
    """Record several running times (wall clock, ``time.perf_counter``).

    The tutorial's name; the library itself times with :class:`Progress` and ``History.seconds``.
    """

    def __init__(self):
        self.times: list[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.perf_counter()

    def stop(self) -> float:
        self.times.append(time.perf_counter() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times) if self.times else 0.0

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> list[float]:
        return np.cumsum(self.times).tolist()


def _correct(y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Number of correct predictions as a 0-d tensor on y's device (no synchronisation)."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return (y_hat.to(y.dtype) == y).sum()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """Number of correct predictions (divide by ``y.numel()`` for the accuracy).

    ``y_hat`` holds either class scores ``(B, C)`` (the argmax is taken) or class indices.
    """
    return float(_correct(y_hat, y))


@dataclass
class History:
    """What :func:`train` measured, one entry per epoch (epoch 0 = evaluation only).

    ``test_acc`` is the accuracy on the set ``train`` evaluated after each epoch, and
    ``eval_set`` names that set: "test", or "val" for the validation split of
    :func:`load_data_fashion_mnist_split` (the field keeps the tutorial's name, so that old
    code and old checkpoints read it as before). The printed lines say "val acc" or "test acc".
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)  # on the eval_set
    examples_per_sec: list[float] = field(default_factory=list)  # wall time, data loading incl.
    seconds: list[float] = field(default_factory=list)  # wall time of each epoch's training
    device: str = ""
    interrupted: bool = False
    amp_dtype: str = "float32"  # the dtype the forward pass really ran in (see amp_dtype())
    processes: int = 1  # torchrun processes that trained together (examples/s counts them all)
    eval_set: str = "test"  # what test_acc measured: "test", or "val" (a validation split)

    def to_dict(self) -> dict:
        return asdict(self)

    def append(
        self,
        epoch: int,
        loss: float,
        train_acc: float,
        test_acc: float,
        examples_per_sec: float,
        seconds: float,
    ) -> None:
        """Record one epoch's figures."""
        self.epoch.append(epoch)
        self.train_loss.append(float(loss))
        self.train_acc.append(float(train_acc))
        self.test_acc.append(float(test_acc))
        self.examples_per_sec.append(float(examples_per_sec))
        self.seconds.append(float(seconds))

    def __str__(self) -> str:
        if not self.epoch:
            return "History(no epochs)"
        return (
            f"loss {self.train_loss[-1]:.3f}, train acc {self.train_acc[-1]:.3f}, "
            f"{self.eval_set} acc {self.test_acc[-1]:.3f}\n"
            f"{self.examples_per_sec[-1]:.1f} examples/sec on {self.device}"
            + (f" x {self.processes} processes" if self.processes > 1 else "")
        )
