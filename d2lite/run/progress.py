"""One progress line for training: the step, examples/s, and the time left.

Our own code rather than tqdm: tqdm's notebook bar saves widget state into the notebook, which
the website cannot show; this one updates one plain-text display (or terminal line) instead.
"""

from __future__ import annotations

import math
import sys
import time

import torch

from d2lite.device import sync
from d2lite.plot import _in_jupyter


def _clock(seconds: float) -> str:
    """1:05 or 1:02:03; '?' when not known yet."""
    if not math.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


class Progress:
    """One progress line for training: epoch, step/total, examples/s, time left in the epoch and
    in the run; and, after the first steps, one printed estimate of the whole run.

    ``mode``: ``"jupyter"`` updates one display handle in place, so the saved notebook keeps the
    last line as plain text (no widget state); ``"tty"`` rewrites one terminal line; ``"lines"``
    prints a line at each log point (CI, log files); ``"off"`` only counts. None picks jupyter,
    tty or lines from where the output goes. The speed excludes each epoch's first step (warm-up);
    evaluation is counted at a third of a training step per evaluation batch until it is measured.
    """

    MODES = ("jupyter", "tty", "lines", "off")

    def __init__(
        self,
        num_epochs: int,
        steps_per_epoch: int,
        *,
        start_epoch: int = 0,
        eval_steps: int = 0,
        mode: str | None = None,
        out=None,
        estimate_after: int = 4,
        device: str | torch.device = "cpu",
    ):
        self.out = out
        self.mode = mode or self._auto_mode()
        if self.mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}.")
        self.num_epochs, self.steps = num_epochs, steps_per_epoch
        self.eval_steps, self.eval_seconds = eval_steps, None
        self.estimate_after, self.estimated = estimate_after, False
        self.device = torch.device(device)
        self.epoch, self.step, self.examples, self._first = start_epoch, 0, 0, 0
        self._handle, self._last_draw, self._t0 = None, 0.0, time.perf_counter()
        self._t1, self._ex1 = None, 0  # clock and examples after the epoch's first step
        self._evaluated = False  # this epoch's evaluation is still ahead

    def _auto_mode(self) -> str:
        if _in_jupyter():
            return "jupyter"
        stream = self.out or sys.stdout
        return "tty" if getattr(stream, "isatty", lambda: False)() else "lines"

    def start_epoch(self, epoch: int, step: int = 0) -> None:
        """Begin epoch ``epoch`` (0-based) at ``step`` (steps done before a resume): the
        counts and clocks start from there."""
        self.epoch, self.step, self.examples, self._first = epoch, step, 0, step
        self._t0, self._t1, self._ex1 = time.perf_counter(), None, 0
        self._evaluated = False  # this epoch's evaluation is still ahead

    def advance(self, examples: int) -> None:
        """Count one finished training step of ``examples`` examples."""
        self.step += 1
        self.examples += examples
        if self.step == self._first + 1:
            self._t1, self._ex1 = time.perf_counter(), self.examples
        if self.mode == "off":
            return
        if not self.estimated and self.step - self._first >= min(
            self.estimate_after + 1, self.steps - self._first
        ):
            self._print_estimate()
        now = time.perf_counter()
        if self.mode in ("jupyter", "tty") and now - self._last_draw >= 0.5:
            self._draw()

    def log_point(self) -> None:
        """A log point of the epoch: the line is drawn (or printed, in lines mode)."""
        if self.mode == "lines":
            print(self.line(), file=self.out or sys.stdout, flush=True)
        elif self.mode != "off":
            self._draw()

    def end_epoch(self, eval_seconds: float | None = None) -> None:
        """Record the epoch's evaluation time (for the estimates) and show its final line."""
        if eval_seconds is not None:
            self.eval_seconds, self._evaluated = eval_seconds, True
        if self.mode in ("jupyter", "tty"):
            self._draw()

    def close(self) -> None:
        """End the terminal line (the Jupyter line and the printed lines stay as they are)."""
        if self.mode == "tty" and self._last_draw:
            print(file=self.out or sys.stdout, flush=True)

    # The figures ---------------------------------------------------------------------------

    def seconds_per_step(self) -> float:
        """Wall seconds per training step in this epoch, its first (warm-up) step excluded."""
        done = self.step - self._first  # steps timed in this session
        if done >= 2 and self._t1 is not None:
            return (time.perf_counter() - self._t1) / (done - 1)
        if done == 1:
            return time.perf_counter() - self._t0
        return math.nan

    def examples_per_sec(self) -> float:
        done = self.step - self._first
        if done >= 2 and self._t1 is not None:
            return (self.examples - self._ex1) / max(time.perf_counter() - self._t1, 1e-9)
        return self.examples / max(time.perf_counter() - self._t0, 1e-9) if done else math.nan

    def _eval_estimate(self, per_step: float) -> float:
        if self.eval_seconds is not None:
            return self.eval_seconds
        return self.eval_steps * per_step / 3  # a forward pass: about a third of a step

    def left(self) -> tuple[float, float]:
        """Seconds left in this epoch (training) and in the whole run (evaluations included)."""
        per_step = self.seconds_per_step()
        epoch_left = (self.steps - self.step) * per_step
        later = self.num_epochs - self.epoch - 1
        this_eval = 0.0 if self._evaluated else self._eval_estimate(per_step)
        run_left = (
            epoch_left + this_eval + later * (self.steps * per_step + self._eval_estimate(per_step))
        )
        return epoch_left, run_left

    def line(self) -> str:
        epoch_left, run_left = self.left()
        return (
            f"[epoch {self.epoch + 1}/{self.num_epochs}] step {self.step}/{self.steps}, "
            f"{self.examples_per_sec():.1f} examples/s, left: epoch {_clock(epoch_left)}, "
            f"run {_clock(run_left)}"
        )

    def _print_estimate(self) -> None:
        self.estimated = True
        sync(self.device)  # queued steps must finish for a true clock
        per_step = self.seconds_per_step()
        total = (self.num_epochs - self.epoch) * (
            self.steps * per_step + self._eval_estimate(per_step)
        )
        clear = "\r\x1b[K" if self.mode == "tty" and self._last_draw else ""  # own line
        print(
            f"{clear}estimate: {self.num_epochs - self.epoch} epoch(s) of {self.steps} steps at "
            f"{self.examples_per_sec():.1f} examples/s take about {_clock(total)} (min:s), "
            f"evaluation included; measured on steps 2-{self.step}",
            file=self.out or sys.stdout,
            flush=True,
        )

    def _draw(self) -> None:
        self._last_draw = time.perf_counter()
        text = self.line()
        if self.mode == "tty":
            print("\r" + text + "\x1b[K", end="", file=self.out or sys.stdout, flush=True)
            return
        from IPython.display import display

        if self._handle is None:
            self._handle = display({"text/plain": text}, raw=True, display_id=True)
        else:
            self._handle.update({"text/plain": text}, raw=True)
