"""``train``: the lesson's loop (engine.py) run for real.

    history = d2lite.train(net, train_iter, test_iter, num_epochs=10, lr=0.01, device=device)

``train`` reads top to bottom: it decides the device and the number format once, builds the
optimizer, opens the checkpoint (resume.py), then runs :func:`train_epoch` and an evaluation
per epoch, recording, plotting and saving after each. Inside an epoch everything a long run
adds attaches through ``train_epoch``'s ``on_step`` hook, which :class:`_Steps` is: the
progress line, the plot's points, divergence checks, mid-epoch checkpoints, SIGTERM, and the
sums over several processes under torchrun.
"""

from __future__ import annotations

import contextlib
import math
import os
import signal
import time
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from d2lite.ddp import Distributed, _agree, _gather, all_reduce_sums, init_distributed
from d2lite.device import _rng_state, _set_rng_state
from d2lite.engine import (
    EpochStats,
    _dtype_name,
    _evaluate,
    _prepare_model,
    amp_dtype,
    autocast,
    grad_scaler,
    train_epoch,
)
from d2lite.loaders import DeviceLoader
from d2lite.metrics import Accumulator, History, _correct
from d2lite.plot import Animator
from d2lite.run.progress import Progress
from d2lite.run.resume import _epoch_batches, _parse_every, _RunCheckpoint
from d2lite.run.signals import _Stopped, _Stops, _until_stopped

_DIVERGED_LOSS = 1000  # a mean loss this many times a uniform guess's ln(C) counts as diverged


class TrainingDivergedError(FloatingPointError):
    """The loss became NaN or infinite, or exploded past 1000 times a uniform guess's loss
    (1000 * ln(num_classes)). ``.history`` holds the epochs completed before."""

    def __init__(self, message: str, history: History):
        super().__init__(message)
        self.history = history


def train(
    net: nn.Module,
    train_iter: Iterable,
    test_iter: Iterable,
    num_epochs: int,
    lr: float,
    device: str | torch.device | None = None,
    *,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
    label_smoothing: float = 0.0,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    amp: bool | str = False,
    channels_last: bool = False,
    compile: bool = False,
    animator: Animator | bool | None = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    verbose: bool = True,
    progress: bool | str | None = None,
    checkpoint_every: int | str | None = None,
) -> History:
    """Train ``net`` with SGD and cross-entropy; return a :class:`History`.

    It does not initialise weights: call :func:`init_weights` first (a separate step). Each
    epoch is one :func:`train_epoch`, each batch one :func:`train_step`; ``train`` adds the
    device, the evaluation after every epoch, the checkpoints, the plot, the progress line,
    Ctrl-C and SIGTERM. ``test_iter`` is the set evaluated after every epoch: a validation
    loader from :func:`load_data_fashion_mnist_split` makes the history and the printed lines
    say "val acc" (``History.eval_set``), any other "test acc".

    - ``amp``: True trains under autocast in the dtype :func:`amp_dtype` picks for the device
      (bf16 on Ampere+ GPUs and AVX512-BF16/AMX CPUs, fp16 with a gradient scaler on V100/T4,
      float32 elsewhere); ``"bf16"``, ``"fp16"``, ``"fp32"`` force one. Decided once per run;
      ``History.amp_dtype`` records it. ``channels_last`` stores activations NHWC, ``compile``
      wraps the model in ``torch.compile``. On CUDA, ``cudnn.benchmark`` picks the fastest
      convolution kernels (not after ``set_seed(..., deterministic=True)``).
    - ``checkpoint``: a file written atomically after every epoch (model, optimizer, scaler,
      epoch, history, RNG states). With ``resume=True`` training continues from it up to
      ``num_epochs`` in total, and gives the same result as an uninterrupted run. A resume
      trains at ``lr``: given another rate than the checkpoint's (and no ``scheduler``), it
      continues at that rate and says so, keeping the momentum; more ``num_epochs`` than the
      checkpoint's run had make a continuation (for example 2 more epochs at lr / 10). Before the
      first step its folder is created and checked writable, and ``<checkpoint>.lock`` (pid,
      host, start time) keeps a second run off the same file (:class:`CheckpointLockError`;
      the lock of a killed run does not count). A write that fails (full disk...) raises
      :class:`CheckpointWriteError` with ``.history``; the previous file stays intact.
    - ``checkpoint_every``: also write the checkpoint inside epochs, every N training steps
      (an int) or every so often (a string: ``"10min"``, ``"90s"``, ``"1h"``). Resuming from
      such a checkpoint replays the epoch's data order, skips the batches done, and reaches
      the same result as an uninterrupted run; at most that interval is lost.
    - ``progress``: a line with the step, examples/s and the time left (see :class:`Progress`);
      None shows it when ``verbose``; a string picks its mode. After the first steps one line
      estimates the whole run's time.
    - Ctrl-C (KeyboardInterrupt) stops cleanly: the model keeps its last weights, the
      history so far is returned with ``interrupted=True``, and the message says how to resume.
    - SIGTERM (a scheduler or host stopping the job) finishes the current step, saves the exact
      position to ``checkpoint``, prints how to resume, then raises
      ``SystemExit(SIGTERM_EXIT_STATUS)`` (143) with ``.history``; in Jupyter it returns the
      history with ``interrupted=True`` instead. The handler is set only for the duration of
      ``train``, only in the main thread.
    - A NaN/inf loss, or a finite one over 1000 times a uniform guess's (about 2,300 for
      10 classes), raises :class:`TrainingDivergedError` naming the epoch and step.
    Prints the tutorial's closing lines (loss/train acc/test acc, examples/sec on device).
    """
    _check_train_args(num_epochs, lr)
    every = _parse_every(checkpoint_every, checkpoint)
    world, device = init_distributed(device)  # alone: rank 0 of 1 and resolve_device(device)
    _check_shards(train_iter, world)
    verbose = verbose and world.is_main  # under torchrun only rank 0 prints, plots and saves
    dtype = amp_dtype(device, amp)  # decided once for the whole run
    amp_ctx, scaler = autocast(device, dtype), grad_scaler(device, dtype)
    model = _prepare_model(net, device, channels_last, compile, world)  # DDP, compile if asked
    evaluator = net if world.world_size > 1 else model  # under DDP each process its own shard
    optimizer = optimizer or torch.optim.SGD(
        net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay
    )
    loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)
    eval_set = "val" if getattr(test_iter, "split", None) == "val" else "test"
    history = History(
        device=str(device),
        amp_dtype=_dtype_name(dtype),
        processes=world.world_size,
        eval_set=eval_set,
    )
    ckpt = _RunCheckpoint(checkpoint, net, optimizer, scheduler, scaler, world, every)
    with ckpt.opened(verbose):  # folder, lock, free space: before the first step
        start_epoch, position = 0, None  # position: where a mid-epoch checkpoint stopped
        if resume:
            history, start_epoch, position = ckpt.resume(history, len(train_iter), verbose)
            if scheduler is None:
                _continue_at(optimizer, lr, verbose)
        animator = _make_animator(animator if world.is_main else None, num_epochs, history)
        if verbose:
            print(_training_on(device, dtype, world, train_iter, lr))
        if num_epochs == 0:
            return _evaluate_only(evaluator, test_iter, device, amp_ctx, history, verbose)
        progress = _make_progress(
            progress if world.is_main else False, verbose, num_epochs, train_iter, test_iter, device
        )
        stops = _Stops(ckpt, progress, history, world)  # Ctrl-C and SIGTERM end it cleanly
        steps = _Steps(len(train_iter), device, ckpt, stops, progress, animator, history, optimizer)
        with _oom_advice(train_iter), stops:
            for epoch in range(start_epoch, num_epochs):
                batches = steps.begin(epoch, train_iter, position)
                if steps.step < steps.num_batches:  # else it stopped while evaluating
                    train_epoch(
                        model,
                        batches,
                        loss_fn,
                        optimizer,
                        device,
                        amp_ctx=amp_ctx,
                        scaler=scaler,
                        on_step=steps,
                    )
                stats, position = steps.stats(), None  # the position is used once
                test_acc = steps.evaluate(evaluator, test_iter, amp_ctx)
                if scheduler is not None:  # after evaluating: a stop there saves it un-stepped
                    scheduler.step()
                examples_per_sec = stats.examples / stats.seconds
                history.append(
                    epoch + 1, stats.loss, stats.acc, test_acc, examples_per_sec, stats.seconds
                )
                if animator is not None:
                    animator.add(epoch + 1, (stats.loss, stats.acc, test_acc))
                ckpt.save(epoch + 1, history)
                if _agree(stops.asked)[0]:  # it came while evaluating or saving: saved
                    raise _Stopped
    if verbose and not history.interrupted:
        print(history)
    return history


class _Steps:
    """What :func:`train` does around the steps of each epoch: the ``on_step`` hook that
    :func:`train_epoch` calls after every step, and the epoch's sums.

    After every step it adds the step's loss and correct predictions to the epoch's sums (kept
    on the device; after a mid-epoch resume they go on from the checkpoint's) and moves the
    progress line. At about five log points per epoch it adds the sums up over the processes,
    checks for divergence, plots and shows the line. Then, every process agreeing on the step,
    it stops the run if SIGTERM came (saving the exact position first) or writes a mid-epoch
    checkpoint when ``checkpoint_every`` asks for one.
    """

    def __init__(
        self,
        num_batches: int,
        device: torch.device,
        ckpt: _RunCheckpoint,
        stops: _Stops,
        progress: Progress,
        animator: Animator | None,
        history: History,
        optimizer: torch.optim.Optimizer,
    ):
        self.num_batches, self.device, self.ckpt, self.stops = num_batches, device, ckpt, stops
        self.progress, self.animator, self.history = progress, animator, history
        self.optimizer, self.processes = optimizer, ckpt.world.world_size
        if num_batches == 0:
            raise ValueError("train_iter yielded no batches: is the dataset empty?")
        self.log_every = max(1, num_batches // 5)  # ~5 points per epoch, fine with < 5 batches
        ckpt.start(num_batches)  # checkpoint_every's clock starts now

    def begin(self, epoch: int, train_iter: Iterable, position: dict | None) -> Iterable:
        """Epoch ``epoch`` begins: its batches (after a mid-epoch checkpoint, those left)."""
        self.epoch, self.sums = epoch, Accumulator(3)  # sum of losses, correct, examples
        self.step, self.seconds_before = 0, 0.0  # done before this session (a resumed epoch)
        if position is not None:  # the same tensors (dtype, device) as if it had not stopped
            self.sums.data = [
                v.to(self.device) if torch.is_tensor(v) else float(v) for v in position["sums"]
            ]
            self.step, self.seconds_before = position["step"], position["seconds"]
        batches, self.epoch_rng = _epoch_batches(train_iter, epoch, position)
        self.progress.start_epoch(epoch, self.step)
        self.t0 = time.perf_counter()  # skipping batches is not training
        return batches

    def __call__(self, loss: torch.Tensor, y_hat: torch.Tensor, y: torch.Tensor) -> None:
        self.sums.add(loss * y.numel(), _correct(y_hat, y), y.numel())  # stays on the device
        self.step += 1
        self.progress.advance(y.numel() * self.processes)  # the global batch
        if self.step % self.log_every == 0 or self.step == self.num_batches:
            self._log_point(y_hat.shape[-1])
        self.ckpt.since_save += 1
        due = self.step < self.num_batches and self.ckpt.due()  # the end saves anyway
        # Every process must stop (or save) at the same step, so all agree after each one: a
        # 2-float all-reduce on the CPU (gloo), since SIGTERM may reach them at different steps.
        # Measured: 0.54 ms a step with 2 processes on a busy 2-core AMD EPYC (an AlexNet step
        # there takes about 1 s); alone it is free.
        stop, due = _agree(self.stops.asked, due)
        if stop:
            self.stops.signum = self.stops.signum or signal.SIGTERM
            self.save()
            raise _Stopped
        if due:
            self.save()

    def _log_point(self, num_classes: int) -> None:
        loss_sum, correct, n = all_reduce_sums(self.sums.data)  # the host waits for the device
        loss, acc = loss_sum / n, correct / n
        self._check_divergence(loss, num_classes)
        if self.animator is not None and self.step < self.num_batches:  # the end: train's
            self.animator.add(self.epoch + self.step / self.num_batches, (loss, acc, None))
        self.progress.log_point()

    def _check_divergence(self, loss: float, num_classes: int) -> None:
        guess = math.log(max(num_classes, 2))  # a uniform guess's loss
        if math.isfinite(loss) and loss <= _DIVERGED_LOSS * guess:
            return
        why = (
            ""
            if not math.isfinite(loss)
            else (f", over {_DIVERGED_LOSS} times the {guess:.2f} of a uniform guess")
        )
        lr = self.optimizer.param_groups[0]["lr"]
        raise TrainingDivergedError(
            f"The loss became {loss:.4g} in epoch {self.epoch + 1}, by step {self.step} of "
            f"{self.num_batches} (checked every {self.log_every} steps){why}. lr={lr} is probably "
            f"too large: try lr={lr / 10:g}.",
            self.history,
        )

    def save(self) -> None:
        """A mid-epoch checkpoint of this position (nothing without a checkpoint file)."""
        sums = [v.detach().cpu() if torch.is_tensor(v) else float(v) for v in self.sums.data]
        seconds = self.seconds_before + time.perf_counter() - self.t0
        position = dict(
            step=self.step,
            num_batches=self.num_batches,
            sums=sums,
            epoch_rng=self.epoch_rng,
            seconds=seconds,
        )
        self.ckpt.save(self.epoch, self.history, position)

    def stats(self) -> EpochStats:
        """The means over the whole epoch: all processes, and both sessions of a resumed one."""
        loss_sum, correct, n = all_reduce_sums(self.sums.data)
        seconds = self.seconds_before + time.perf_counter() - self.t0
        return EpochStats(loss_sum / n, correct / n, int(n), seconds)

    def evaluate(self, net: nn.Module, test_iter: Iterable, amp_ctx) -> float:
        """The accuracy after the epoch. Alone, SIGTERM during it ends it early and saves the
        position "all steps done, not yet evaluated"; under torchrun every process finishes
        its shard, and the stop is agreed on after the epoch's checkpoint instead."""
        t0 = time.perf_counter()
        before = _rng_state() if self.ckpt.path is not None else None
        batches = _until_stopped(test_iter, self.stops) if self.processes == 1 else test_iter
        try:
            acc = _evaluate(net, batches, self.device, amp_ctx)[1]
        except _Stopped:
            if before is not None:
                # Back to the RNG states of the epoch's end: creating the test iterator drew
                # from torch's generator (DataLoader's base seed); the resumed run draws again.
                _set_rng_state(before)
            self.save()
            raise
        self.progress.end_epoch(eval_seconds=time.perf_counter() - t0)
        return acc


# --- Before the first step ---------------------------------------------------------------------


def _check_train_args(num_epochs: Any, lr: Any) -> None:
    if isinstance(num_epochs, bool) or not isinstance(num_epochs, int) or num_epochs < 0:
        raise ValueError(
            f"num_epochs must be an integer >= 0 (0 only evaluates), got {num_epochs!r}."
        )
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0 (e.g. 0.01), got {lr!r}.")


def _check_shards(train_iter: Iterable, world: Distributed) -> None:
    """Under torchrun every process needs its own shard of the data, and as many batches as
    the others (a process with one batch more would wait forever for the rest)."""
    if world.world_size == 1:
        return
    shards = (
        train_iter.world_size
        if isinstance(train_iter, DeviceLoader)
        else getattr(getattr(train_iter, "sampler", None), "num_replicas", None)
    )
    if shards == 1:
        raise ValueError(
            f"train runs in {world.world_size} processes (torchrun), but train_iter gives each "
            "of them all the training data. Load it after d2lite.init_distributed() with "
            "load_data_fashion_mnist(...) (it shards by itself), or pass shard=True."
        )
    lengths = _gather(len(train_iter))
    if len(set(lengths)) > 1:
        raise ValueError(
            f"the processes have different numbers of training batches "
            f"({lengths}, by rank): give every process an equal shard."
        )


def _continue_at(optimizer: torch.optim.Optimizer, lr: float, verbose: bool) -> None:
    """After a resume, train at ``lr``: the checkpoint's rate for a plain resume, another one
    for a *continuation* (say lr / 10 for more epochs once validation accuracy levels off, the
    AlexNet paper's rule). The optimizer state just loaded holds the checkpoint's rate, so it
    is overwritten and the change said; the momentum buffers are kept."""
    saved = optimizer.param_groups[0]["lr"]
    if saved == lr:
        return
    for group in optimizer.param_groups:
        group["lr"] = lr
    if verbose:
        print(f"learning rate {lr:g} from here on (the checkpoint's run trained at {saved:g})")


def _training_on(
    device: torch.device, dtype: torch.dtype, world: Distributed, train_iter: Iterable, lr: float
) -> str:
    line = f"training on {device}" + (
        "" if dtype == torch.float32 else f" ({_dtype_name(dtype)} autocast)"
    )
    if world.world_size == 1:
        return line
    b = getattr(train_iter, "batch_size", None)
    batch = (
        f"global batch {b * world.world_size} = {world.world_size} x {b}"
        if b
        else f"{world.world_size} batches per step"
    )
    return (
        f"{line} in each of {world.world_size} processes ({world.backend}); {batch}; "
        f"lr={lr:g} applies to the global batch (DDP averages the processes' gradients)"
    )


def _make_animator(
    animator: Animator | bool | None, num_epochs: int, history: History
) -> Animator | None:
    """The default Animator for ``animator=True``, None for False; replays resumed epochs."""
    if animator is True:
        animator = Animator(
            xlabel="epoch",
            xlim=[1, max(1, num_epochs)],
            legend=["train loss", "train acc", f"{history.eval_set} acc"],
        )
    if not animator:
        return None
    for e, loss, acc, test_acc in zip(
        history.epoch, history.train_loss, history.train_acc, history.test_acc
    ):
        if e > 0:
            animator.add(e, (loss, acc, test_acc))
    return animator


def _make_progress(
    progress: bool | str | None,
    verbose: bool,
    num_epochs: int,
    train_iter: Iterable,
    test_iter: Iterable,
    device: torch.device,
) -> Progress:
    """``progress``: None shows the line when ``verbose``, a string picks its mode."""
    on = verbose if progress is None else bool(progress)
    mode = progress if isinstance(progress, str) else (None if on else "off")
    eval_steps = len(test_iter) if hasattr(test_iter, "__len__") else 0
    return Progress(num_epochs, len(train_iter), eval_steps=eval_steps, mode=mode, device=device)


@contextlib.contextmanager
def _oom_advice(loader: Iterable):
    """Turn a CUDA out-of-memory error into one that names the batch size to try."""
    try:
        yield
    except torch.cuda.OutOfMemoryError as err:
        batch_size = getattr(loader, "batch_size", None)
        if batch_size:
            advice = f" at batch size {batch_size}. Try batch_size={max(1, batch_size // 2)}"
        else:  # a custom iterable without .batch_size
            advice = ". Try a smaller batch_size"
        raise RuntimeError(
            f"Out of GPU memory{advice} (or a smaller resize); free other notebooks' GPU "
            f"memory first. ({err})"
        ) from None


def _evaluate_only(
    net: nn.Module,
    test_iter: Iterable,
    device: torch.device,
    amp_ctx,
    history: History,
    verbose: bool,
) -> History:
    """``num_epochs=0``: the accuracy of the model as it is, as epoch 0."""
    with _oom_advice(test_iter):
        acc = _evaluate(net, test_iter, device, amp_ctx)[1]
    history.append(0, math.nan, math.nan, acc, math.nan, 0.0)
    if verbose:
        print(f"{history.eval_set} acc {acc:.3f} (num_epochs=0: evaluation only)")
    return history
