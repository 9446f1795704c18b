"""A run sized to a time budget: measure this machine's speed, then choose the data's size.

    plan = d2lite.plan_budget(net, train_iter, test_iter, budget_minutes=15, num_epochs=2)
    train_iter, test_iter = d2lite.load_data_fashion_mnist(128, 224, subset=(plan.n_train, None))

Chapter 4's CPU setting uses it, so that a run fits 15 minutes on whatever CPU runs it.

Such a choice depends on the machine's speed at that moment, so the book's two editions of a
chapter, executed one after the other, would each measure and choose a little differently.
``share_choice`` and ``shared_choice`` let the second reuse the first's choice, so that both
show the same run: tools/execute_notebooks.py points ``$D2LITE_DECISIONS`` at one JSON file per
chapter. Without it (Jupyter, Colab, the tests) every run chooses for itself.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from d2lite.device import _rng_state, _set_rng_state, device_name, resolve_device, sync
from d2lite.engine import _prepare_model, amp_dtype, autocast, grad_scaler, train_step
from d2lite.loaders import DeviceLoader
from d2lite.models import _eval_mode
from d2lite.run.trainer import _check_train_args


@dataclass
class BudgetPlan:
    """How many training images fit a time budget, from speeds measured on this machine."""

    budget_s: float
    num_epochs: int
    batch_size: int
    n_train: int  # training images per epoch (a multiple of batch_size)
    n_test: int  # images evaluated after each epoch (the validation images, or the test images)
    train_examples_per_sec: float
    eval_examples_per_sec: float
    estimate_s: float  # the run's expected wall time at the measured speeds
    device: str
    fits: bool  # False when even the smallest run exceeds the budget

    def __str__(self) -> str:
        size = (
            f"{self.num_epochs} epoch(s) of {self.n_train:,} training images (batch "
            f"{self.batch_size}) + {self.n_test:,} evaluated images per epoch"
        )
        verdict = "fit" if self.fits else "do NOT fit (the smallest run)"
        return (
            f"measured on {self.device}: {self.train_examples_per_sec:.1f} training and "
            f"{self.eval_examples_per_sec:.1f} evaluation examples/s\n"
            f"{size} {verdict} a {self.budget_s / 60:.0f}-minute budget: about "
            f"{self.estimate_s / 60:.1f} min"
        )


def _num_examples(loader: Any) -> int:
    dataset = getattr(loader, "dataset", loader)
    return len(dataset.images) if isinstance(dataset, DeviceLoader) else len(dataset)


def _batches(loader: Iterable, n: int) -> Iterator:
    """n batches from ``loader``, starting it again when it runs out."""
    count = 0
    while count < n:
        for batch in loader:
            yield batch
            count += 1
            if count == n:
                return


def _time_steps(step, batches: Iterator, steps: int, device: torch.device) -> float:
    """Examples per second of ``step(X, y)`` over ``steps`` batches, after one warm-up batch."""
    step(*next(batches))  # warm-up: allocations, oneDNN/cuDNN kernel choice
    examples, t0 = 0, None
    for i, (X, y) in enumerate(batches):
        if i == 0:
            sync(device)
            t0 = time.perf_counter()
        step(X, y)
        examples += len(y)
    sync(device)
    return examples / (time.perf_counter() - t0)


def measure_speed(
    net: nn.Module,
    train_iter: Iterable,
    test_iter: Iterable,
    *,
    device: str | torch.device | None = None,
    amp: bool | str = False,
    channels_last: bool = False,
    steps: int = 3,
) -> tuple[float, float]:
    """Training and evaluation examples/s of ``net`` here, timed on ``steps`` batches each
    after one warm-up batch. Runs on a copy: ``net``, its mode and the random state are left
    as they were."""
    device = resolve_device(device)
    dtype = amp_dtype(device, amp)
    ctx, rng = autocast(device, dtype), _rng_state()
    probe = _prepare_model(copy.deepcopy(net), device, channels_last, compile=False)
    opt = torch.optim.SGD(probe.parameters(), lr=1e-3, momentum=0.9)
    scaler, loss_fn = grad_scaler(device, dtype), nn.CrossEntropyLoss()
    try:
        probe.train()

        def step(X, y):
            return train_step(probe, X.to(device), y.to(device), loss_fn, opt, ctx, scaler)

        train_eps = _time_steps(step, _batches(train_iter, steps + 1), steps, device)
        with _eval_mode(probe), torch.inference_mode(), ctx:
            eval_eps = _time_steps(
                lambda X, y: probe(X.to(device)), _batches(test_iter, steps + 1), steps, device
            )
    finally:
        _set_rng_state(rng)
    return train_eps, eval_eps


def plan_budget(
    net: nn.Module,
    train_iter: Iterable,
    test_iter: Iterable,
    budget_minutes: float,
    num_epochs: int,
    *,
    device: str | torch.device | None = None,
    amp: bool | str = False,
    channels_last: bool = False,
    steps: int = 3,
) -> BudgetPlan:
    """Size the training set so that ``num_epochs`` epochs, each followed by a pass over all of
    ``test_iter``, take about ``budget_minutes`` on this machine.

    The speeds come from :func:`measure_speed` (a few batches, on a copy of ``net``); the number
    of training images is rounded down to whole batches and kept between one batch and all the
    images ``train_iter`` holds. Load the data again with ``subset=(plan.n_train, None)``.
    """
    if not (isinstance(budget_minutes, (int, float)) and budget_minutes > 0):
        raise ValueError(f"budget_minutes must be a number > 0, got {budget_minutes!r}.")
    _check_train_args(num_epochs, 1.0)
    device = resolve_device(device)
    train_eps, eval_eps = measure_speed(
        net, train_iter, test_iter, device=device, amp=amp, channels_last=channels_last, steps=steps
    )
    batch = getattr(train_iter, "batch_size", None) or 1
    n_max, n_test = _num_examples(train_iter), _num_examples(test_iter)
    budget_s = 60.0 * budget_minutes
    per_epoch_train_s = budget_s / max(num_epochs, 1) - n_test / eval_eps
    n_train = int(per_epoch_train_s * train_eps) // batch * batch
    n_train = max(batch, min(n_train, n_max))
    estimate = num_epochs * (n_train / train_eps + n_test / eval_eps)
    return BudgetPlan(
        budget_s,
        num_epochs,
        batch,
        n_train,
        n_test,
        train_eps,
        eval_eps,
        estimate,
        f"{device} ({device_name(device)})",
        estimate <= budget_s * 1.001,
    )


def shared_choice(name: str) -> Any:
    """The value this chapter's other edition recorded under ``name`` with :func:`share_choice`
    in the same execution pass, or None (no ``$D2LITE_DECISIONS``, or nothing recorded)."""
    path = os.environ.get("D2LITE_DECISIONS")
    if not path or not Path(path).is_file():
        return None
    return json.loads(Path(path).read_text()).get(name)


def share_choice(name: str, value: Any) -> None:
    """Record a speed-dependent choice (JSON: a number, a dict...) for this chapter's other
    edition, in ``$D2LITE_DECISIONS``; nothing without it."""
    path = os.environ.get("D2LITE_DECISIONS")
    if not path:
        return
    path = Path(path)
    saved = json.loads(path.read_text()) if path.is_file() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(saved | {name: value}, indent=1) + "\n")
