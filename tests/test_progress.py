"""run/progress.py: the progress line, the time left, the run's estimate.

References: a fake clock for the time left (worked out by hand), a fake terminal, a simulated
Jupyter display, and the executed chapter 4 as saved.
"""

from __future__ import annotations

import io
import json
import re
import time

import pytest
from conftest import (
    ROOT,
    tiny_data,
    tiny_net,
)

import d2lite


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_time_left_by_hand(monkeypatch):
    """Steps of 2 s; the first step is warm-up and excluded. After 3 of 5 steps of epoch 1 of 2,
    with 6 test batches (a third of a step each until measured): epoch 2 steps x 2 s = 4 s left;
    run = 4 + 4 (evaluation) + one more epoch of 5 x 2 + 4 = 22 s."""
    clock = FakeClock()
    monkeypatch.setattr(time, "perf_counter", clock)
    p = d2lite.Progress(2, 5, eval_steps=6, mode="off")
    p.start_epoch(0)
    clock.now += 5.0  # the first step: slow (warm-up)
    p.advance(10)
    for _ in range(2):
        clock.now += 2.0
        p.advance(10)
    assert p.seconds_per_step() == pytest.approx(2.0)
    assert p.examples_per_sec() == pytest.approx(5.0)  # 20 examples in 4 s after warm-up
    assert p.left() == pytest.approx((4.0, 22.0))
    for _ in range(2):
        clock.now += 2.0
        p.advance(10)
    p.end_epoch(eval_seconds=3.0)  # measured: replaces the estimate
    assert p.left() == pytest.approx((0.0, 5 * 2.0 + 3.0))
    assert p.line() == "[epoch 1/2] step 5/5, 5.0 examples/s, left: epoch 0:00, run 0:13"
    # Epoch 2 trained to its last step: its own evaluation (3 s, as measured) is still ahead.
    p.start_epoch(1)
    for _ in range(5):
        clock.now += 2.0
        p.advance(10)
    assert p.left() == pytest.approx((0.0, 3.0))
    p.end_epoch(eval_seconds=3.0)
    assert p.left() == pytest.approx((0.0, 0.0))


def test_progress_after_a_mid_epoch_resume_counts_from_the_saved_step(monkeypatch):
    """Resumed after 6 of 10 steps: the line says step 7/10 and the time left is the 4 steps
    left, timed on this session's steps only (its first one is the warm-up)."""
    clock = FakeClock()
    monkeypatch.setattr(time, "perf_counter", clock)
    p = d2lite.Progress(1, 10, mode="off")
    p.start_epoch(0, step=6)
    clock.now += 5.0  # warm-up
    p.advance(10)
    clock.now += 2.0
    p.advance(10)
    assert p.step == 8 and p.seconds_per_step() == pytest.approx(2.0)
    assert p.left()[0] == pytest.approx(2 * 2.0)
    assert p.line().startswith("[epoch 1/1] step 8/10, 5.0 examples/s")


def test_progress_prints_a_line_per_log_point_when_not_a_terminal():
    out = io.StringIO()
    p = d2lite.Progress(1, 4, out=out, estimate_after=2)
    assert p.mode == "lines"
    p.start_epoch(0)
    for _ in range(4):
        p.advance(8)
        p.log_point()
    p.close()
    lines = out.getvalue().splitlines()
    progress = [ln for ln in lines if ln.startswith("[epoch")]
    assert [
        re.match(
            r"\[epoch 1/1\] step (\d)/4, [\d.]+ examples/s, left: epoch \d+:\d\d, "
            r"run \d+:\d\d$",
            ln,
        ).group(1)
        for ln in progress
    ] == ["1", "2", "3", "4"]
    estimates = [ln for ln in lines if ln.startswith("estimate:")]
    assert len(estimates) == 1 and "measured on steps 2-3" in estimates[0]


def test_progress_rewrites_one_line_in_a_terminal():
    class Tty(io.StringIO):
        def isatty(self):
            return True

    out = Tty()
    p = d2lite.Progress(1, 10, out=out, estimate_after=99)
    assert p.mode == "tty"
    p.start_epoch(0)
    for _ in range(3):
        p.advance(4)
        p.log_point()
    segments = out.getvalue().split("\r")[1:]  # each draw starts at the line's beginning
    assert "\n" not in out.getvalue() and len(segments) >= 3
    assert all(seg.startswith("[epoch 1/1] step ") and seg.endswith("\x1b[K") for seg in segments)
    p.close()
    text = out.getvalue()
    assert text.endswith("\n") and text.split("\r")[-1].startswith("[epoch 1/1] step 3/10")


def test_progress_in_jupyter_updates_one_plain_text_display(monkeypatch):
    """One display with a display_id, then updates through its handle; only text/plain, so a
    saved notebook holds the last line and no widget state."""
    import IPython.display

    shown = []

    class Handle:
        def update(self, obj, raw=False):
            shown.append(("update", obj, raw))

    def display(obj, raw=False, display_id=None):
        shown.append(("display", obj, raw, display_id))
        return Handle()

    monkeypatch.setattr(IPython.display, "display", display)
    p = d2lite.Progress(1, 3, mode="jupyter", out=io.StringIO(), estimate_after=99)
    p.start_epoch(0)
    for _ in range(3):
        p.advance(4)
        p.log_point()
    p.end_epoch(0.1)
    assert shown[0][0] == "display" and shown[0][3] is True
    assert [s[0] for s in shown[1:]] == ["update"] * (len(shown) - 1) and len(shown) >= 3
    assert all(set(s[1]) == {"text/plain"} and s[2] is True for s in shown)
    assert shown[-1][1]["text/plain"].startswith("[epoch 1/1] step 3/3")


def test_train_prints_progress_and_one_run_estimate(capsys):
    d2lite.train(tiny_net(), tiny_data(80, 8), tiny_data(16, 8), 2, 0.1, "cpu", animator=False)
    out = capsys.readouterr().out
    assert out.count("estimate: 2 epoch(s) of 10 steps") == 1
    assert re.search(r"^\[epoch 2/2\] step 10/10, ", out, re.M)
    quiet = d2lite.train(
        tiny_net(), tiny_data(16, 8), tiny_data(8, 8), 1, 0.1, "cpu", animator=False, verbose=False
    )
    assert quiet.epoch == [1] and capsys.readouterr().out == ""


def test_an_unknown_progress_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        d2lite.Progress(1, 1, mode="fancy")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_executed_chapter_4_keeps_its_progress_as_plain_text(lang):
    """The saved notebook (and so the website) shows the progress line's final state as plain
    text: one display output per training run, no widget state, and the run's estimate."""

    nb = json.loads((ROOT / "book" / lang / "04_training.ipynb").read_text(encoding="utf-8"))
    assert "widgets" not in nb["metadata"]
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    progress = [
        o
        for o in outputs
        if o["output_type"] == "display_data"
        and "".join(o["data"].get("text/plain", "")).startswith("[epoch ")
    ]
    assert len(progress) == 1 and set(progress[0]["data"]) == {"text/plain"}
    last = "".join(progress[0]["data"]["text/plain"])
    m = re.fullmatch(
        r"\[epoch (\d+)/(\d+)\] step (\d+)/(\d+), [\d.]+ examples/s, left: epoch "
        r"0:00, run 0:00",
        last,
    )
    assert m and m[1] == m[2] and m[3] == m[4]  # the last step of the last epoch
    streams = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert len(re.findall(r"^estimate: ", streams, re.M)) == 1  # the run's own line
