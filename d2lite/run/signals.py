"""How a run ends early and cleanly: Ctrl-C, and SIGTERM from a scheduler.

- Ctrl-C (KeyboardInterrupt, Jupyter's "Interrupt kernel"): :func:`train` returns the history
  so far with ``interrupted=True``; the model keeps its last weights.
- SIGTERM (SLURM, spot machines, hosted notebooks stopping a job): the current step finishes,
  its exact position is saved, and a script exits with status 143 (``SystemExit`` with
  ``.history``); in Jupyter ``train`` returns the history instead.

Both say where the run stopped, what the checkpoint holds and how to resume.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable, Iterator
from typing import Any

from d2lite.ddp import Distributed
from d2lite.metrics import History
from d2lite.plot import _in_jupyter
from d2lite.run.progress import Progress
from d2lite.run.resume import _RunCheckpoint

SIGTERM_EXIT_STATUS = 143  # 128 + SIGTERM(15): what shells and schedulers report for a TERM stop


class _Stopped(Exception):
    """Raised inside :func:`train` to stop after SIGTERM asked it to (the position is saved)."""


class _Stops:
    """Around the epochs of :func:`train`: SIGTERM asks the run to stop after its current step
    instead of killing it (``.asked``), and Ctrl-C or that stop end the run with a message.

    Only the main thread may set a signal handler; elsewhere SIGTERM keeps its effect. The
    previous handler comes back afterwards.
    """

    def __init__(
        self, ckpt: _RunCheckpoint, progress: Progress, history: History, world: Distributed
    ):
        self.ckpt, self.progress, self.history, self.world = ckpt, progress, history, world
        self.signum: int | None = None
        self._previous: Any = None
        self._main = threading.current_thread() is threading.main_thread()

    @property
    def asked(self) -> bool:
        return self.signum is not None

    def _ask(self, signum, frame) -> None:  # runs between two bytecodes of the main thread
        self.signum = signum

    def __enter__(self) -> _Stops:
        if self._main:
            self._previous = signal.signal(signal.SIGTERM, self._ask)
        return self

    def __exit__(self, kind, err, traceback) -> bool:
        if self._main:
            previous = self._previous
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
        try:
            if kind is not None and issubclass(kind, KeyboardInterrupt):
                self._interrupted()
                return True  # train returns the history
            if kind is not None and issubclass(kind, _Stopped):
                return self._terminated()
            return False
        finally:
            self.progress.close()

    def _interrupted(self) -> None:
        """Ctrl-C: say where the run stopped and how to resume."""
        self.history.interrupted = True
        how = (
            "Resume with train(..., checkpoint=..., resume=True)."
            if self.ckpt.path
            else "Pass checkpoint='run.pt' to be able to resume next time."
        )
        if self.world.is_main:
            print(
                f"\nInterrupted in epoch {self.progress.epoch + 1} after {self.progress.step} "
                f"step(s). The model keeps its last weights and the history holds "
                f"{len(self.history.epoch)} finished epoch(s); {self.ckpt.holds()}. {how}"
            )

    def _terminated(self) -> bool:
        """SIGTERM: say where the run stopped and how to resume; then in a script exit with
        status 143 (SystemExit, ``.history`` attached); in a notebook return the history."""
        self.history.interrupted = True
        how = (
            "Run the same train(..., checkpoint=..., resume=True) again to continue from there."
            if self.ckpt.saved is not None
            else "Pass checkpoint='run.pt' and checkpoint_every='10min' to be able to resume."
        )
        notebook = _in_jupyter()  # IPython would catch SystemExit anyway, keeping the kernel
        then = (
            "train returns the history (interrupted=True)."
            if notebook
            else f"Exiting with status {SIGTERM_EXIT_STATUS}."
        )
        if self.world.is_main:
            print(
                f"\nStopped by SIGTERM in epoch {self.progress.epoch + 1} after "
                f"{self.progress.step} step(s); {self.ckpt.holds()}. {how} {then}",
                flush=True,
            )
        if notebook:
            return True  # train returns the history
        stop = SystemExit(SIGTERM_EXIT_STATUS)
        stop.history = self.history
        raise stop


def _until_stopped(batches: Iterable, stops: _Stops) -> Iterator:
    """``batches``, but raising :class:`_Stopped` at the first batch after SIGTERM came: a long
    evaluation must not outlast the grace period."""
    for batch in batches:
        if stops.asked:
            raise _Stopped
        yield batch
