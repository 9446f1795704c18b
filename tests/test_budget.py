"""run/budget.py: a run sized to a time budget.

References: plain arithmetic for the plan (with the measured speeds fixed), and the random
state and model compared before and after measuring.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from conftest import (
    tiny_net,
)

import d2lite
import d2lite.run.budget


def device_data(n: int, batch_size: int) -> d2lite.DeviceLoader:
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
    return d2lite.DeviceLoader(images, torch.randint(0, 10, (n,)), batch_size, shuffle=True)


def test_plan_budget_sizes_the_training_set_by_hand(monkeypatch):
    """100 training and 300 evaluation examples/s; 10 minutes for 2 epochs with 1,200 test
    images: each epoch has 300 s, 4 s of it evaluation, so 296 s x 100 = 29,600 images, rounded
    down to whole batches of 32: 29,600 (925 batches). Estimate: 2 x (296 + 4) = 600 s."""
    monkeypatch.setattr(d2lite.run.budget, "measure_speed", lambda *a, **k: (100.0, 300.0))
    plan = d2lite.plan_budget(
        tiny_net(),
        device_data(40_000, 32),
        device_data(1_200, 100),
        budget_minutes=10,
        num_epochs=2,
    )
    assert isinstance(plan, d2lite.BudgetPlan)
    assert (plan.n_train, plan.n_test, plan.batch_size) == (29_600, 1_200, 32)
    assert plan.estimate_s == pytest.approx(600.0) and plan.fits
    assert "2 epoch(s) of 29,600 training images" in str(plan) and "10-minute budget" in str(plan)
    # More time than there are images: all of them.
    plan = d2lite.plan_budget(
        tiny_net(), device_data(3_000, 32), device_data(1_200, 100), budget_minutes=60, num_epochs=2
    )
    assert plan.n_train == 3_000 and plan.fits
    # Evaluation alone is over budget: the smallest run (one batch), and it says so.
    plan = d2lite.plan_budget(
        tiny_net(),
        device_data(3_000, 32),
        device_data(1_200, 100),
        budget_minutes=0.1,
        num_epochs=2,
    )
    assert plan.n_train == 32 and not plan.fits and "do NOT fit" in str(plan)
    with pytest.raises(ValueError, match="budget_minutes must be a number > 0"):
        d2lite.plan_budget(tiny_net(), device_data(64, 32), device_data(64, 32), 0, 1)


def test_measure_speed_leaves_the_model_mode_and_random_state_alone():
    net = tiny_net(dropout=0.5).eval()
    before = [p.detach().clone() for p in net.parameters()]
    train_iter, test_iter = device_data(64, 16), device_data(32, 16)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    train_eps, eval_eps = d2lite.measure_speed(net, train_iter, test_iter, device="cpu", steps=2)
    assert train_eps > 0 and eval_eps > 0
    assert torch.equal(torch.rand(3), expected)  # the shuffles and dropout masks were undone
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))
    assert not net.training


def test_a_shared_choice_round_trips_through_d2lite_decisions(tmp_path, monkeypatch):
    monkeypatch.delenv("D2LITE_DECISIONS", raising=False)
    d2lite.share_choice("plan", {"n_train": 1})  # without the variable: nothing kept
    assert d2lite.shared_choice("plan") is None
    path = tmp_path / "decisions" / "04_training.json"
    monkeypatch.setenv("D2LITE_DECISIONS", str(path))
    assert d2lite.shared_choice("plan") is None  # no file yet
    d2lite.share_choice("plan", {"n_train": 18_816})
    d2lite.share_choice("cnn_epochs", 45)
    assert d2lite.shared_choice("plan") == {"n_train": 18_816}
    assert d2lite.shared_choice("cnn_epochs") == 45
    plan = d2lite.BudgetPlan(600, 2, 128, 18_816, 5_000, 68.3, 205.7, 600.0, "cpu", True)
    d2lite.share_choice("plan", dataclasses.asdict(plan))
    assert d2lite.BudgetPlan(**d2lite.shared_choice("plan")) == plan  # what chapter 4 rebuilds
