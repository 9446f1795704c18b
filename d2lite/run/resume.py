"""What lets :func:`train` go on exactly where it stopped: the run's checkpoint and positions.

- :class:`_RunCheckpoint` is one run's checkpoint file: opened and locked before the first step,
  read back by ``resume=True``, written after every epoch and, with ``checkpoint_every``, inside
  epochs. Under torchrun rank 0 writes it and every process learns whether that worked.
- A mid-epoch checkpoint holds a *position*: the steps done in the epoch, their partial sums,
  and the RNG states of the epoch's start. :func:`_epoch_batches` replays the epoch's data order
  from those states and skips the batches already done, so the resumed run is the
  uninterrupted one, bit for bit on a CPU.

How a run stops (Ctrl-C, SIGTERM) is in signals.py.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from torch import nn

from d2lite.ddp import Distributed, _agree, _gather
from d2lite.device import _rng_state, _set_rng_state
from d2lite.metrics import History
from d2lite.run.checkpoints import (
    CheckpointError,
    CheckpointWriteError,
    _open_checkpoint,
    _unlock,
    load_checkpoint,
    save_checkpoint,
)


def _now() -> float:
    """The clock of ``checkpoint_every`` durations (a function, so tests can move it)."""
    return time.monotonic()


_DURATION = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|sec|min|h)\s*", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "min": 60, "h": 3600}


def _parse_every(every: Any, checkpoint: Any) -> tuple[str, float] | None:
    """``checkpoint_every``: an int counts training steps, a string such as "10min" is time."""
    if every is None:
        return None
    if checkpoint is None:
        raise ValueError(
            f"checkpoint_every={every!r} needs a checkpoint file to write: pass "
            "checkpoint='run.pt' too."
        )
    if isinstance(every, int) and not isinstance(every, bool) and every >= 1:
        return ("steps", every)
    match = _DURATION.fullmatch(every) if isinstance(every, str) else None
    if match and float(match[1]) > 0:
        return ("seconds", float(match[1]) * _UNIT_SECONDS[match[2].lower()])
    raise ValueError(
        "checkpoint_every must be a number of training steps (an int >= 1, e.g. "
        "200) or a duration string such as '10min', '90s' or '1h'; got "
        f"{every!r}."
    )


def _where(epoch: int | None, step: int, num_batches: int = 0) -> str:
    """What a checkpoint holds, in words: "epoch 3" (its end) or "epoch 4 up to step 120"."""
    if not step:
        return f"epoch {epoch}"
    of = f" of {num_batches}" if num_batches else ""
    return f"epoch {epoch + 1} up to step {step}{of}"


class _RunCheckpoint:
    """The checkpoint file of one :func:`train` call (``path`` None: nothing is ever written).

    It knows what the file on disk holds (``saved``: finished epochs, steps into the next), so
    every message can say it, and when ``checkpoint_every`` wants the next mid-epoch save.
    """

    def __init__(
        self,
        path: str | None,
        net: nn.Module,
        optimizer,
        scheduler,
        scaler,
        world: Distributed,
        every: tuple[str, float] | None,
    ):
        self.path = None if path is None else Path(path)
        self.net, self.optimizer, self.scheduler, self.scaler = net, optimizer, scheduler, scaler
        self.world, self.every = world, every
        self.saved: tuple[int, int] | None = None  # (finished epochs, steps into the next)
        self.num_batches = 0  # of an epoch: for the messages
        self.since_save, self.last_save = 0, 0.0  # training steps and _now() since the last save

    @contextlib.contextmanager
    def opened(self, verbose: bool):
        """Hold the checkpoint for the whole run: rank 0 creates its folder, takes the lock and
        checks the free space before the first step (storage faults show up now); every process
        learns whether that worked, so that none starts training alone."""
        lock, failure = None, None
        if self.path is not None and self.world.is_main:
            try:
                lock = _open_checkpoint(self.path, self.net, verbose, self.optimizer)
            except CheckpointError as err:
                failure = err
        if _agree(failure is not None)[0]:
            raise failure or CheckpointError(
                f"Rank 0 could not open the checkpoint {self.path}; its output says why."
            )
        try:
            yield self
        finally:
            if lock is not None:
                _unlock(lock)

    def resume(
        self, history: History, num_batches: int, verbose: bool
    ) -> tuple[History, int, dict | None]:
        """Load the file (model, optimizer, scheduler, scaler, RNG states) if there is one;
        return its history, its finished epochs and, for a mid-epoch checkpoint, the position
        in the next epoch (with this process's RNG states in it). A position in an epoch of
        another length than ``num_batches`` cannot be replayed: :class:`CheckpointError`."""
        if self.path is None or not self.path.exists():
            return history, 0, None
        state = load_checkpoint(
            self.path, self.net, self.optimizer, self.scheduler, scaler=self.scaler
        )
        position = state.get("position")
        if position and position["num_batches"] != num_batches:
            raise CheckpointError(
                f"{self.path} stopped at step {position['step']} of an epoch of "
                f"{position['num_batches']} batches, but train_iter has {num_batches}: resume "
                "with the same data and batch_size, or pass checkpoint= a new file."
            )
        resumed = History(**state["history"])
        resumed.interrupted = False
        resumed.device, resumed.amp_dtype = history.device, history.amp_dtype
        resumed.eval_set = history.eval_set
        rng = self._own_rng(state)
        if position:  # set once the epoch's done batches are skipped (_epoch_batches)
            position["rng"] = rng["rng"]
            position["epoch_rng"] = rng.get("epoch_rng") or position["epoch_rng"]
        else:
            _set_rng_state(rng["rng"])
        self.saved = (state["epoch"], position["step"] if position else 0)
        if verbose:
            where = (
                f"in epoch {state['epoch'] + 1} after step {position['step']}"
                if position
                else f"after epoch {state['epoch']}"
            )
            print(f"resumed from {self.path} {where}")
        return resumed, state["epoch"], position

    def _own_rng(self, state: dict) -> dict:
        """This process's RNG states: under torchrun each rank's own, when the checkpoint was
        saved by as many processes; rank 0's otherwise."""
        ranks = state.get("rank_rng")
        if ranks and len(ranks) == self.world.world_size:
            return ranks[self.world.rank]
        return {"rng": state["rng"]}

    def start(self, num_batches: int) -> None:
        """The epochs begin (``num_batches`` each): ``checkpoint_every``'s clock starts now."""
        self.num_batches, self.last_save = num_batches, _now()

    def due(self) -> bool:
        """Whether ``checkpoint_every`` asks for a mid-epoch save now."""
        if self.every is None:
            return False
        kind, every = self.every
        return self.since_save >= every if kind == "steps" else _now() - self.last_save >= every

    def save(self, epoch: int, history: History, position: dict | None = None) -> None:
        """Write the checkpoint after ``epoch`` finished epochs (and ``position`` steps into the
        next). A failed write raises :class:`CheckpointWriteError` saying what the previous file
        still holds, with the history attached. Without a checkpoint file: nothing."""
        if self.path is None:
            return
        failure = None
        try:
            self._write(epoch, history, position)
        except CheckpointWriteError as err:
            failure = err
        if _agree(failure is not None)[0] and failure is None:  # rank 0 failed: all stop
            failure = CheckpointWriteError(
                f"Rank 0 could not write the checkpoint {self.path}; its output says why.",
                self.path,
            )
        if failure is not None:
            kept = (
                f"The previous checkpoint {self.path} is intact and holds "
                f"{_where(*self.saved, self.num_batches)}."
                if self.saved is not None
                else "No checkpoint had been written yet."
            )
            failure.args = (
                f"{failure} {kept} The model keeps its weights and the error's "
                f".history holds the {len(history.epoch)} finished epoch(s); after "
                "fixing this, resume with train(..., checkpoint=..., resume=True).",
            )
            failure.history = history
            raise failure
        self.saved = (epoch, position["step"] if position else 0)
        self.since_save, self.last_save = 0, _now()

    def _write(self, epoch: int, history: History, position: dict | None) -> None:
        extra = {}
        if self.world.world_size > 1:  # every process's RNG states, so that each resumes its own
            epoch_rng = position["epoch_rng"] if position else None
            extra["rank_rng"] = _gather({"rng": _rng_state(), "epoch_rng": epoch_rng})
        if not self.world.is_main:
            return  # rank 0 writes the one checkpoint
        args = (self.path, self.net, self.optimizer, epoch, history, self.scheduler, self.scaler)
        if position is None and not extra:  # positional: tests wrap save_checkpoint so
            save_checkpoint(*args)
        else:
            save_checkpoint(*args, position=position, **extra)

    def holds(self) -> str:
        """What is on disk, for the messages of a stopped run."""
        if self.saved is None:
            return "no checkpoint was saved"
        return f"the checkpoint {self.path} holds {_where(*self.saved, self.num_batches)}"


def _set_epoch(loader: Iterable, epoch: int) -> None:
    """Tell a seeded or sharded loader (DeviceLoader, DistributedSampler) which epoch begins:
    without it every epoch would repeat the first one's order."""
    for target in (loader, getattr(loader, "sampler", None)):
        if hasattr(target, "set_epoch"):
            target.set_epoch(epoch)
            return


def _epoch_batches(
    train_iter: Iterable, epoch: int, position: dict | None
) -> tuple[Iterable | Iterator, dict]:
    """The batches of epoch ``epoch`` and the RNG states of its start (saved in mid-epoch
    checkpoints). After a mid-epoch checkpoint (``position``): those states come back, a new
    iterator draws the same data order, the batches already trained on are skipped, and the
    RNG states of the save come back, so dropout and augmentation go on as they would have."""
    _set_epoch(train_iter, epoch)
    if position is None:  # DataLoader and DeviceLoader shuffle when iter() starts: after this
        return train_iter, _rng_state()
    _set_rng_state(position["epoch_rng"])
    batches = iter(train_iter)
    for _ in range(position["step"]):
        next(batches)
    _set_rng_state(position["rng"])
    return batches, position["epoch_rng"]
