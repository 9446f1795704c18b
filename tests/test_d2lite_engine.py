"""The training engine: train_step / train_epoch / train, mixed precision, progress, budgets.

References: a hand-written PyTorch training step, the cross-entropy of a frozen model computed
again here, a GradScaler's documented behaviour (skip the step, halve the scale), a fake clock
for the time left, and plain arithmetic for the budget.
"""

from __future__ import annotations

import io
import itertools
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import d2lite

ROOT = Path(__file__).resolve().parents[1]


def tiny_data(n: int, batch_size: int, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return DataLoader(TensorDataset(X, y), batch_size=batch_size, shuffle=False)


def tiny_net(seed: int = 0, dropout: float = 0.0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(32, 10))


def quiet_train(net, train_iter, test_iter, num_epochs, lr=0.1, **kw) -> d2lite.History:
    return d2lite.train(net, train_iter, test_iter, num_epochs, lr, "cpu", animator=False,
                        verbose=False, **kw)


# ----------------------------------------------------------------------------------------------
# The split itself
# ----------------------------------------------------------------------------------------------


def test_no_function_in_d2lite_is_more_complex_than_12():
    """ruff's C901 (McCabe complexity) over d2lite.py: train was 26 before the split."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run([str(ruff), "check", "--select", "C901", "--config",
                           "lint.mccabe.max-complexity = 12", str(ROOT / "d2lite.py")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_train_step_is_one_hand_written_pytorch_step():
    net, ref = tiny_net(), tiny_net()
    X, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    loss, scores = d2lite.train_step(net, X, y, nn.CrossEntropyLoss(), opt)
    # The reference: the same step written out by hand.
    ref_opt.zero_grad()
    ref_scores = ref(X)
    ref_loss = F.cross_entropy(ref_scores, y)
    ref_loss.backward()
    ref_opt.step()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6)
    assert torch.allclose(scores, ref_scores.detach())
    assert not loss.requires_grad and not scores.requires_grad  # detached, still on the device
    for p, q in zip(net.parameters(), ref.parameters()):
        assert torch.allclose(p, q)
    assert any(not torch.allclose(p, q) for p, q in zip(net.parameters(), tiny_net().parameters()))


def test_train_epoch_metrics_are_the_means_over_its_examples():
    """With lr 0 the weights stay put, so the epoch's mean loss and accuracy must equal those of
    the frozen model computed again here; the animator gets the in-between log points."""
    net, data = tiny_net(), tiny_data(60, 6)  # 10 batches: log points every 2 steps
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    animator = d2lite.Animator(live=False, out=io.StringIO())
    stats = d2lite.train_epoch(net, data, nn.CrossEntropyLoss(), opt, "cpu", epoch=2,
                               animator=animator)
    X = torch.cat([x for x, _ in data])
    y = torch.cat([t for _, t in data])
    with torch.no_grad():
        scores = net(X)
    assert isinstance(stats, d2lite.EpochStats) and stats.examples == 60 and stats.seconds > 0
    assert stats.loss == pytest.approx(F.cross_entropy(scores, y).item(), rel=1e-5)
    assert stats.acc == pytest.approx((scores.argmax(1) == y).float().mean().item())
    assert animator.X[0] == pytest.approx([2.2, 2.4, 2.6, 2.8])  # the epoch's end is train's
    assert net.training


def test_an_epoch_finished_in_two_parts_equals_one_epoch():
    """train's mid-epoch resume, by hand: the first 4 steps, their sums, then the 6 others with
    start_step=4. on_step sees every step; the means cover all 10 batches."""
    data = tiny_data(60, 6)
    net_a, net_b = tiny_net(), tiny_net()
    opt_a = torch.optim.SGD(net_a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(net_b.parameters(), lr=0.1)
    whole = d2lite.train_epoch(net_a, data, nn.CrossEntropyLoss(), opt_a, "cpu")
    seen, sums = [], []

    def stop_after_4(step, metric):
        seen.append(step)
        if step == 4:
            sums.extend(metric.data)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        d2lite.train_epoch(net_b, data, nn.CrossEntropyLoss(), opt_b, "cpu", on_step=stop_after_4)
    rest = itertools.islice(iter(data), 4, None)  # the batches left

    class Rest:
        def __len__(self):
            return len(data)

        def __iter__(self):
            return rest

    second = d2lite.train_epoch(net_b, Rest(), nn.CrossEntropyLoss(), opt_b, "cpu",
                                start_step=4, sums=sums, on_step=lambda s, m: seen.append(s))
    assert seen == list(range(1, 11)) and second.examples == whole.examples == 60
    assert second.loss == whole.loss and second.acc == whole.acc
    assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))


def test_train_epoch_detects_divergence_and_names_the_lr():
    net = tiny_net()
    opt = torch.optim.SGD(net.parameters(), lr=1e6)
    with pytest.raises(d2lite.TrainingDivergedError, match=r"epoch 1.*try lr=100000"):
        d2lite.train_epoch(net, tiny_data(64, 8), nn.CrossEntropyLoss(), opt, "cpu")


def test_the_autocast_decision_is_taken_once_per_run(monkeypatch):
    calls = []
    real = d2lite.amp_dtype
    monkeypatch.setattr(d2lite, "amp_dtype", lambda *a, **k: calls.append(a) or real(*a, **k))
    quiet_train(tiny_net(), tiny_data(48, 8), tiny_data(16, 8), 3, amp=True)
    assert len(calls) == 1  # 18 steps and 3 evaluations, one decision


# ----------------------------------------------------------------------------------------------
# Mixed precision
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("amp, dtype", [(False, "float32"), ("fp32", "float32"),
                                        ("fp16", "float16"), ("bf16", "bfloat16")])
def test_history_records_the_dtype_that_ran(amp, dtype):
    seen = []
    net = tiny_net()
    net[1].register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    h = quiet_train(net, tiny_data(16, 8), tiny_data(8, 8), 1, amp=amp)
    assert h.amp_dtype == dtype and str(seen[0]) == f"torch.{dtype}"
    assert d2lite.amp_dtype("cpu", amp) == seen[0]


def test_amp_true_on_a_cpu_records_the_devices_choice():
    h = quiet_train(tiny_net(), tiny_data(16, 8), tiny_data(8, 8), 1, amp=True)
    assert h.amp_dtype == str(d2lite.amp_dtype("cpu", True)).removeprefix("torch.")


@pytest.mark.parametrize("amp", ["fp8", "float16x", 1, None])
def test_an_unknown_amp_value_says_what_is_allowed(amp):
    with pytest.raises(ValueError, match=r"amp must be True, False or one of \['bf16', 'fp16'"):
        quiet_train(tiny_net(), tiny_data(16, 8), tiny_data(8, 8), 1, amp=amp)


def test_fp16_and_fp32_train_to_the_same_losses():
    data, test = tiny_data(96, 16), tiny_data(32, 16, seed=1)
    h32 = quiet_train(tiny_net(), data, test, 2, amp=False)
    h16 = quiet_train(tiny_net(), data, test, 2, amp="fp16")
    assert h16.amp_dtype == "float16"
    assert h16.train_loss == pytest.approx(h32.train_loss, rel=1e-2)


def test_a_step_whose_fp16_gradients_overflow_is_skipped_and_the_scale_lowered():
    net = tiny_net()
    scaler = d2lite.grad_scaler("cpu", torch.float16)
    assert isinstance(scaler, torch.amp.GradScaler)
    assert d2lite.grad_scaler("cpu", torch.bfloat16) is None  # bf16 needs no scaler
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    ctx = d2lite.autocast("cpu", torch.float16)
    X, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    before = [p.detach().clone() for p in net.parameters()]
    hook = net[4].weight.register_hook(lambda g: torch.full_like(g, float("inf")))
    scale = scaler.get_scale()
    d2lite.train_step(net, X, y, nn.CrossEntropyLoss(), opt, ctx, scaler)
    assert all(torch.equal(p, b) for p, b in zip(net.parameters(), before))  # not applied
    assert scaler.get_scale() == scale * 0.5  # the scaler backs off
    hook.remove()
    d2lite.train_step(net, X, y, nn.CrossEntropyLoss(), opt, ctx, scaler)
    assert any(not torch.equal(p, b) for p, b in zip(net.parameters(), before))  # now it is


def test_fp16_divergence_is_still_detected():
    with pytest.raises(d2lite.TrainingDivergedError):
        quiet_train(tiny_net(), tiny_data(64, 8), tiny_data(8, 8), 2, lr=1e6, amp="fp16")


def test_the_fp16_scaler_state_is_checkpointed_and_resumed(tmp_path):
    data, test = tiny_data(64, 16), tiny_data(16, 16, seed=1)
    d2lite.set_seed(0)
    straight = quiet_train(tiny_net(), data, test, 2, amp="fp16")
    ckpt = tmp_path / "run.pt"
    d2lite.set_seed(0)
    net = tiny_net()
    quiet_train(net, data, test, 1, amp="fp16", checkpoint=ckpt)
    state = torch.load(ckpt, weights_only=True)
    assert state["scaler"] is not None and state["scaler"]["scale"] > 0
    # A different scale in the file must come back on resume: change it, resume, compare.
    state["scaler"]["scale"] = 1024.0
    torch.save(state, ckpt)
    scaler = d2lite.grad_scaler("cpu", torch.float16)
    d2lite.load_checkpoint(ckpt, tiny_net(), scaler=scaler)
    assert scaler.get_scale() == 1024.0
    # And a resumed run is the uninterrupted one (the scale only moves on overflow here).
    ckpt2 = tmp_path / "run2.pt"
    d2lite.set_seed(0)
    quiet_train(tiny_net(), data, test, 1, amp="fp16", checkpoint=ckpt2)
    resumed = quiet_train(tiny_net(5), data, test, 2, amp="fp16", checkpoint=ckpt2, resume=True)
    assert resumed.train_loss == straight.train_loss and resumed.test_acc == straight.test_acc


# ----------------------------------------------------------------------------------------------
# Evaluation and prediction leave the model's mode as it was
# ----------------------------------------------------------------------------------------------


class Boom(nn.Module):
    """A layer that raises (like Ctrl-C) whenever it runs in eval mode."""

    def __init__(self, error: type[BaseException]):
        super().__init__()
        self.error = error

    def forward(self, x):
        if not self.training:
            raise self.error("boom")
        return x


@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
@pytest.mark.parametrize("call", ["evaluate_accuracy_gpu", "predict_all", "predict",
                                  "trace_shapes"])
def test_an_error_during_evaluation_leaves_the_model_in_train_mode(call, error):
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 10), Boom(error))
    net.train()
    data = tiny_data(8, 4)
    with pytest.raises(error):
        if call == "evaluate_accuracy_gpu":
            d2lite.evaluate_accuracy_gpu(net, data)
        elif call == "predict_all":
            d2lite.predict_all(net, data)
        elif call == "predict":
            d2lite.predict(net, data, n=4)
        else:
            d2lite.trace_shapes(net, torch.rand(1, 1, 28, 28))
    assert net.training and all(m.training for m in net.modules())


# ----------------------------------------------------------------------------------------------
# Progress
# ----------------------------------------------------------------------------------------------


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
    monkeypatch.setattr(d2lite.time, "perf_counter", clock)
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
    monkeypatch.setattr(d2lite.time, "perf_counter", clock)
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
    assert [re.match(r"\[epoch 1/1\] step (\d)/4, [\d.]+ examples/s, left: epoch \d+:\d\d, "
                     r"run \d+:\d\d$", ln).group(1) for ln in progress] == ["1", "2", "3", "4"]
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
    quiet = d2lite.train(tiny_net(), tiny_data(16, 8), tiny_data(8, 8), 1, 0.1, "cpu",
                         animator=False, verbose=False)
    assert quiet.epoch == [1] and capsys.readouterr().out == ""


def test_an_unknown_progress_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        d2lite.Progress(1, 1, mode="fancy")


# ----------------------------------------------------------------------------------------------
# A run sized to a budget
# ----------------------------------------------------------------------------------------------


def device_data(n: int, batch_size: int) -> d2lite.DeviceLoader:
    images = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
    return d2lite.DeviceLoader(images, torch.randint(0, 10, (n,)), batch_size, shuffle=True)


def test_plan_budget_sizes_the_training_set_by_hand(monkeypatch):
    """100 training and 300 evaluation examples/s; 10 minutes for 2 epochs with 1,200 test
    images: each epoch has 300 s, 4 s of it evaluation, so 296 s x 100 = 29,600 images, rounded
    down to whole batches of 32: 29,600 (925 batches). Estimate: 2 x (296 + 4) = 600 s."""
    monkeypatch.setattr(d2lite, "measure_speed", lambda *a, **k: (100.0, 300.0))
    plan = d2lite.plan_budget(tiny_net(), device_data(40_000, 32), device_data(1_200, 100),
                              budget_minutes=10, num_epochs=2)
    assert isinstance(plan, d2lite.BudgetPlan)
    assert (plan.n_train, plan.n_test, plan.batch_size) == (29_600, 1_200, 32)
    assert plan.estimate_s == pytest.approx(600.0) and plan.fits
    assert "2 epoch(s) of 29,600 training images" in str(plan) and "10-minute budget" in str(plan)
    # More time than there are images: all of them.
    plan = d2lite.plan_budget(tiny_net(), device_data(3_000, 32), device_data(1_200, 100),
                              budget_minutes=60, num_epochs=2)
    assert plan.n_train == 3_000 and plan.fits
    # Evaluation alone is over budget: the smallest run (one batch), and it says so.
    plan = d2lite.plan_budget(tiny_net(), device_data(3_000, 32), device_data(1_200, 100),
                              budget_minutes=0.1, num_epochs=2)
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


def test_device_name_names_this_cpu():
    name = d2lite.device_name("cpu")
    assert isinstance(name, str) and name
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        assert f": {name}" in cpuinfo.read_text()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_executed_chapter_4_keeps_its_progress_as_plain_text(lang):
    """The saved notebook (and so the website) shows the progress line's final state as plain
    text: one display output per training run, no widget state, and the run's estimate."""
    import json

    nb = json.loads((ROOT / "book" / lang / "04_training.ipynb").read_text(encoding="utf-8"))
    assert "widgets" not in nb["metadata"]
    outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
    progress = [o for o in outputs if o["output_type"] == "display_data"
                and "".join(o["data"].get("text/plain", "")).startswith("[epoch ")]
    assert len(progress) == 1 and set(progress[0]["data"]) == {"text/plain"}
    last = "".join(progress[0]["data"]["text/plain"])
    m = re.fullmatch(r"\[epoch (\d+)/(\d+)\] step (\d+)/(\d+), [\d.]+ examples/s, left: epoch "
                     r"0:00, run 0:00", last)
    assert m and m[1] == m[2] and m[3] == m[4]  # the last step of the last epoch
    streams = "".join("".join(o.get("text", "")) for o in outputs if o["output_type"] == "stream")
    assert streams.count("estimate: ") == 1


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_section_4_5_shows_the_library_code_that_runs(lang):
    """Chapter 4 renders train_step and train_epoch from d2lite.py; the saved outputs (what the
    website shows) must be today's source. After editing d2lite, run
    tools/refresh_source_cells.py."""
    import inspect
    import json

    nb = json.loads((ROOT / "book" / lang / "04_training.ipynb").read_text(encoding="utf-8"))
    shown = {}
    for cell in nb["cells"]:
        m = re.search(r"inspect\.getsource\(d2lite\.(\w+)\)", "".join(cell["source"]))
        if cell["cell_type"] == "code" and m:
            shown[m[1]] = "".join(cell["outputs"][0]["data"]["text/plain"])
    assert set(shown) == {"train_step", "train_epoch"}
    for name, text in shown.items():
        assert text.strip() == inspect.getsource(getattr(d2lite, name)).strip(), name
