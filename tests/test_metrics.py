"""metrics.py: accuracy, Accumulator, Timer, History.

References: hand counts and a fake clock.
"""

from __future__ import annotations

import time

import pytest
import torch

import d2lite


def test_accuracy_by_hand_count():
    # fmt: off
    y_hat = torch.tensor([[0.1, 0.7, 0.2],   # argmax 1, y 1: right
                          [0.8, 0.1, 0.1],   # argmax 0, y 2: wrong
                          [0.2, 0.3, 0.5],   # argmax 2, y 2: right
                          [0.3, 0.4, 0.3],   # argmax 1, y 0: wrong
                          [0.0, 0.0, 9.0]])  # argmax 2, y 2: right
    # fmt: on
    y = torch.tensor([1, 2, 2, 0, 2])
    assert d2lite.accuracy(y_hat, y) == 3.0 and isinstance(d2lite.accuracy(y_hat, y), float)
    assert d2lite.accuracy(torch.tensor([1, 0, 2, 1, 2]), y) == 3.0  # class indices work too
    assert d2lite.accuracy(y_hat, torch.tensor([2, 2, 0, 0, 0])) == 0.0


def test_accumulator_numbers_and_tensors():
    acc = d2lite.Accumulator(3)
    acc.add(1, 2.5, torch.tensor(3))
    acc.add(torch.tensor(0.5), 1, 4)
    acc.add(torch.tensor(2.0, requires_grad=True) * 1, 0, 0)  # detached, no graph kept
    assert [acc[i] for i in range(3)] == [3.5, 3.5, 7.0]
    assert all(isinstance(acc[i], float) for i in range(3))
    assert not (torch.is_tensor(acc.data[0]) and acc.data[0].requires_grad)
    with pytest.raises(ValueError, match="3 slots"):
        acc.add(1, 2)
    acc.reset()
    assert [acc[i] for i in range(3)] == [0.0, 0.0, 0.0]


def test_timer_with_a_fake_clock(monkeypatch):
    ticks = iter([10.0, 11.5, 20.0, 22.5, 30.0])
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))
    t = d2lite.Timer()  # starts at 10.0
    assert t.stop() == 1.5
    t.start()  # 20.0
    assert t.stop() == 2.5
    assert t.times == [1.5, 2.5] and t.sum() == 4.0 and t.avg() == 2.0
    assert t.cumsum() == [1.5, 4.0]
    assert d2lite.Timer.avg(type("T", (), {"times": []})()) == 0.0  # no division by zero
