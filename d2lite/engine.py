"""The lesson's loop: one training step, one epoch, one evaluation (chapter 4).

    loss, y_hat = d2lite.train_step(net, X, y, loss_fn, optimizer)
    stats = d2lite.train_epoch(net, train_iter, loss_fn, optimizer, device)
    acc = d2lite.evaluate_accuracy_gpu(net, test_iter)

Mixed precision is decided once per run (:func:`amp_dtype`) and handed to the step as an
autocast context and, for float16, a gradient scaler. What a long run adds around this loop
(progress, the plot, checkpoints, stops, several processes) attaches from outside, through
``train_epoch``'s ``on_step`` hook: see :func:`train` in run/trainer.py.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from d2lite.ddp import Distributed, all_reduce_sums
from d2lite.metrics import Accumulator, _correct
from d2lite.models import _eval_mode

# --- Mixed precision: which dtype, decided once per run -----------------------------------------

_AMP_NAMES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def _cpu_has_fast_bf16() -> bool:
    """True when oneDNN has bf16 kernels for this CPU (AVX512-BF16 or AMX); False on, e.g.,
    AVX2, where bf16 is emulated and slower than float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN, or a future rename
        return False


def _cuda_capability(device: torch.device) -> tuple[int, int]:
    index = device.index if device.index is not None else torch.cuda.current_device()
    return tuple(torch.cuda.get_device_capability(index))


def amp_dtype(device: str | torch.device, amp: bool | str = True) -> torch.dtype:
    """The dtype that ``train(..., amp=amp)`` computes its forward pass in on ``device``.

    ``amp=True`` chooses what is fast on the hardware:
    - ``torch.bfloat16`` on GPUs with bf16 tensor cores (compute capability >= 8.0: A100,
      RTX 30xx, H100) and on CPUs with oneDNN bf16 kernels (AVX512-BF16 or AMX);
    - ``torch.float16`` on CUDA GPUs with fp16 tensor cores but no fast bf16 (compute capability
      7.x: V100, and the T4 of free hosted notebooks), trained with a gradient scaler;
    - ``torch.float32`` everywhere else (older GPUs, AVX2-only CPUs, Apple's MPS).
    ``"bf16"``, ``"fp16"`` and ``"fp32"`` force a dtype whatever the hardware (emulated bf16 or
    fp16 is slow, but ``amp="fp16"`` lets a CPU test the scaler path). ``False`` is float32.
    """
    if isinstance(amp, str):
        if amp.lower() not in _AMP_NAMES:
            raise ValueError(
                f"amp must be True, False or one of {sorted(_AMP_NAMES)}, got {amp!r}."
            )
        return _AMP_NAMES[amp.lower()]
    if not isinstance(amp, bool):
        raise ValueError(f"amp must be True, False or one of {sorted(_AMP_NAMES)}, got {amp!r}.")
    device = torch.device(device)
    if not amp:
        return torch.float32
    if device.type == "cuda":
        capability = _cuda_capability(device)
        if capability >= (8, 0):
            return torch.bfloat16
        return torch.float16 if capability >= (7, 0) else torch.float32
    if device.type == "cpu" and _cpu_has_fast_bf16():
        return torch.bfloat16
    return torch.float32


def autocast(device: str | torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """An autocast context that runs eligible ops in ``dtype`` on ``device``; a no-op context
    for float32. Build it once per run and enter it at every step (as nanoGPT does)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=dtype)


def grad_scaler(device: str | torch.device, dtype: torch.dtype) -> torch.amp.GradScaler | None:
    """A ``GradScaler`` for float16, None for other dtypes.

    float16 stops at 65,504 and loses gradients below about 6e-8; the scaler multiplies the loss
    before ``backward`` so small gradients survive, divides them again before the step, skips a
    step whose gradients overflowed and then lowers its scale. bf16 has float32's exponent range
    and needs no scaler.
    """
    if dtype != torch.float16:
        return None
    return torch.amp.GradScaler(torch.device(device).type)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


# --- One step, one epoch ---------------------------------------------------------------------


def train_step(net, X, y, loss_fn, optimizer, amp_ctx=None, scaler=None):
    """One training step on one batch; return ``(loss, y_hat)``, detached, still on the device.

    ``amp_ctx`` is the run's :func:`autocast` context (None: float32). With a ``scaler``
    (float16) the loss is scaled before ``backward``, and a step whose gradients hold inf or
    NaN is skipped instead of applied.
    """
    optimizer.zero_grad(set_to_none=True)
    with amp_ctx or contextlib.nullcontext():
        y_hat = net(X)  # (B, C) class scores, in the autocast dtype
        loss = loss_fn(y_hat.float(), y)  # mean cross-entropy of the batch, in float32
    if scaler is None:
        loss.backward()  # the gradient of the loss with respect to every weight
        optimizer.step()  # SGD: w <- w - lr * (gradient + momentum and weight-decay terms)
    else:
        scaler.scale(loss).backward()  # loss x scale, so that small fp16 gradients survive
        scaler.step(optimizer)  # unscale; skip the step if a gradient overflowed
        scaler.update()  # lower the scale after an overflow, raise it after a calm stretch
    return loss.detach(), y_hat.detach()


@dataclass
class EpochStats:
    """What :func:`train_epoch` measured over one pass (means over the epoch's examples)."""

    loss: float
    acc: float
    examples: int
    seconds: float  # wall time of the epoch's training steps, data loading included


def train_epoch(
    net, train_iter, loss_fn, optimizer, device, amp_ctx=None, scaler=None, on_step=None
) -> EpochStats:
    """One pass over ``train_iter``, a :func:`train_step` per batch; return its :class:`EpochStats`.

    The losses and correct predictions are summed on the device and read once, at the end.
    ``on_step(loss, y_hat, y)`` runs after every step: that is where :func:`train` attaches its
    progress line, plot, checkpoints and stops, and the sums over several processes.
    """
    metric = Accumulator(3)  # sum of losses, correct predictions, examples
    net.train()  # dropout on
    t0 = time.perf_counter()
    for X, y in train_iter:
        X, y = X.to(device), y.to(device)
        loss, y_hat = train_step(net, X, y, loss_fn, optimizer, amp_ctx, scaler)
        metric.add(loss * len(y), (y_hat.argmax(1) == y).sum(), len(y))  # 0-d tensors: no wait
        if on_step is not None:
            on_step(loss, y_hat, y)
    n = metric[2]
    if n == 0:
        raise ValueError("train_iter yielded no batches: is the dataset empty?")
    return EpochStats(metric[0] / n, metric[1] / n, int(n), time.perf_counter() - t0)


# --- Evaluation ---------------------------------------------------------------------------------


def _evaluate(
    net: nn.Module,
    data_iter: Iterable,
    device: torch.device,
    amp_ctx: contextlib.AbstractContextManager | None = None,
) -> tuple[float, float]:
    """Mean cross-entropy and accuracy of ``net`` on ``data_iter`` in eval mode; under torchrun
    over every process."""
    metric = Accumulator(3)  # summed loss, correct predictions, predictions
    with _eval_mode(net), torch.inference_mode(), amp_ctx or contextlib.nullcontext():
        for X, y in data_iter:
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            loss = nn.functional.cross_entropy(y_hat.float(), y, reduction="sum")
            metric.add(loss, _correct(y_hat, y), y.numel())
    loss, correct, n = all_reduce_sums(metric.data)  # over all processes under torchrun
    if n == 0:
        raise ValueError("data_iter yielded no examples: cannot compute an accuracy.")
    return loss / n, correct / n


def evaluate_accuracy_gpu(
    net: nn.Module,
    data_iter: Iterable,
    device: str | torch.device | None = None,
    amp: bool | str = False,
) -> float:
    """Accuracy of ``net`` on ``data_iter``, computed in eval mode under ``inference_mode``.

    ``device`` defaults to where the model's parameters are. ``amp`` runs under autocast in the
    dtype :func:`amp_dtype` chooses (as in :func:`train`). The mode the model was in (train or
    eval) is restored afterwards, also when evaluation fails or is interrupted. Under torchrun
    each process evaluates its shard and the counts are summed over all processes, so every
    process returns the accuracy on the whole test set.
    """
    return evaluate(net, data_iter, device, amp)[1]


def evaluate(
    net: nn.Module,
    data_iter: Iterable,
    device: str | torch.device | None = None,
    amp: bool | str = False,
) -> tuple[float, float]:
    """``(loss, accuracy)`` of ``net`` on ``data_iter``: the mean cross-entropy and the share
    of correct predictions, as :func:`evaluate_accuracy_gpu` computes the accuracy."""
    device = next(net.parameters()).device if device is None else torch.device(device)
    return _evaluate(net, data_iter, device, autocast(device, amp_dtype(device, amp)))


# --- The model, ready to run --------------------------------------------------------------------


def _prepare_model(
    net: nn.Module,
    device: torch.device,
    channels_last: bool,
    compile: bool,
    world: Distributed | None = None,
) -> nn.Module:
    """Move ``net`` to ``device`` (NHWC if asked), set cuDNN autotuning, wrap it in DDP under
    torchrun, compile if asked."""
    net.to(device)
    if channels_last:
        net.to(memory_format=torch.channels_last)
    if device.type == "cuda" and not torch.backends.cudnn.deterministic:
        # Time the convolution algorithms once per shape and keep the fastest. The choice may
        # differ between runs, so set_seed(..., deterministic=True) leaves it off.
        torch.backends.cudnn.benchmark = True
    model = net
    if world is not None and world.world_size > 1:
        # DDP copies rank 0's weights to every process, then averages the gradients of all
        # processes during backward (in buckets, each sent as soon as it is ready).
        model = nn.parallel.DistributedDataParallel(
            net, device_ids=[device.index] if device.type == "cuda" else None
        )
    return torch.compile(model) if compile else model
