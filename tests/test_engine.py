"""engine.py: the lesson's loop (train_step, train_epoch), mixed precision, evaluation.

References: a hand-written PyTorch training step, the cross-entropy of a frozen model computed
again here, a GradScaler's documented behaviour (skip the step, halve the scale), and hand
counts for the accuracy.
"""

from __future__ import annotations

import itertools
import json
import re

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    ROOT,
    quiet_train,
    tiny_data,
    tiny_net,
)
from torch import nn

import d2lite


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
    the frozen model computed again here."""
    net, data = tiny_net(), tiny_data(60, 6)  # 10 batches
    opt = torch.optim.SGD(net.parameters(), lr=0.0)
    stats = d2lite.train_epoch(net, data, nn.CrossEntropyLoss(), opt, "cpu")
    X = torch.cat([x for x, _ in data])
    y = torch.cat([t for _, t in data])
    with torch.no_grad():
        scores = net(X)
    assert isinstance(stats, d2lite.EpochStats) and stats.examples == 60 and stats.seconds > 0
    assert stats.loss == pytest.approx(F.cross_entropy(scores, y).item(), rel=1e-5)
    assert stats.acc == pytest.approx((scores.argmax(1) == y).float().mean().item())
    assert net.training


def test_an_epoch_finished_in_two_parts_equals_one_epoch():
    """on_step(loss, y_hat, y) sees every step's results, which is how train attaches from
    outside. An epoch run as two train_epoch calls, over its first 4 and its last 6 batches,
    trains the same weights, and the two parts' means make the whole epoch's."""
    data = tiny_data(60, 6)
    net_a, net_b = tiny_net(), tiny_net()
    opt_a = torch.optim.SGD(net_a.parameters(), lr=0.1)
    opt_b = torch.optim.SGD(net_b.parameters(), lr=0.1)
    whole = d2lite.train_epoch(net_a, data, nn.CrossEntropyLoss(), opt_a, "cpu")
    seen = []

    def record(loss, y_hat, y):
        assert not loss.requires_grad and y_hat.shape == (len(y), 10)
        seen.append((loss.item(), len(y)))

    first = d2lite.train_epoch(
        net_b, itertools.islice(data, 4), nn.CrossEntropyLoss(), opt_b, "cpu", on_step=record
    )
    rest = d2lite.train_epoch(
        net_b, itertools.islice(data, 4, None), nn.CrossEntropyLoss(), opt_b, "cpu", on_step=record
    )
    assert [n for _, n in seen] == [6] * 10 and first.examples + rest.examples == 60
    assert (24 * first.loss + 36 * rest.loss) / 60 == pytest.approx(whole.loss, rel=1e-6)
    assert (24 * first.acc + 36 * rest.acc) / 60 == pytest.approx(whole.acc)
    assert sum(loss for loss, _ in seen) / 10 == pytest.approx(whole.loss, rel=1e-6)
    assert all(torch.equal(p, q) for p, q in zip(net_a.parameters(), net_b.parameters()))


def test_an_empty_epoch_says_so():
    net = tiny_net()
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="train_iter yielded no batches"):
        d2lite.train_epoch(net, [], nn.CrossEntropyLoss(), opt, "cpu")


# ----------------------------------------------------------------------------------------------
# Mixed precision
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amp, dtype",
    [(False, "float32"), ("fp32", "float32"), ("fp16", "float16"), ("bf16", "bfloat16")],
)
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
# Evaluation
# ----------------------------------------------------------------------------------------------


class Recorder(nn.Module):
    """A fixed linear classifier that records, at each forward, the modes it ran under."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 3, bias=False)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]]))
        self.drop = nn.Dropout(0.5)
        self.seen: list[tuple[bool, bool]] = []
        self.fc.register_forward_hook(
            lambda m, i, o: self.seen.append((torch.is_inference_mode_enabled(), self.training))
        )

    def forward(self, x):
        return self.drop(self.fc(x))


def test_evaluate_accuracy_by_hand():
    X = torch.tensor(
        [[2.0, 1.0], [0.0, 3.0], [-1.0, -2.0], [1.0, 1.5], [-3.0, 1.0], [0.5, 0.2], [-0.5, -0.1]]
    )
    y = torch.tensor([0, 1, 2, 0, 1, 2, 2])
    # By hand: scores (x0, x1, -x0-x1) per row: (2,1,-3) (0,3,-3) (-1,-2,3) (1,1.5,-2.5)
    # (-3,1,2) (.5,.2,-.7) (-.5,-.1,.6); argmax 0,1,2,1,2,0,2 vs y 0,1,2,0,1,2,2 -> 4 of 7.
    net = Recorder()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=3)
    net.train()
    assert d2lite.evaluate_accuracy_gpu(net, loader) == pytest.approx(4 / 7)
    assert net.training  # mode restored
    assert net.seen == [(True, False)] * 3  # every batch under inference_mode, in eval mode
    net.eval()
    assert d2lite.evaluate_accuracy_gpu(net, loader, device="cpu") == pytest.approx(4 / 7)
    assert not net.training
    with pytest.raises(ValueError, match="no examples"):
        d2lite.evaluate_accuracy_gpu(net, [])


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
@pytest.mark.parametrize(
    "call", ["evaluate_accuracy_gpu", "predict_all", "predict", "trace_shapes"]
)
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
# Chapter 4 shows this code
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_section_4_5_shows_the_library_code_that_runs(lang):
    """Chapter 4 renders train_step and train_epoch from d2lite/engine.py; the saved outputs (the
    website shows) must be today's source. After editing d2lite, run
    tools/refresh_source_cells.py."""
    import inspect

    nb = json.loads((ROOT / "book" / lang / "04_training.ipynb").read_text(encoding="utf-8"))
    shown = {}
    for cell in nb["cells"]:
        m = re.search(r"inspect\.getsource\(d2lite\.(\w+)\)", "".join(cell["source"]))
        if cell["cell_type"] == "code" and m:
            shown[m[1]] = "".join(cell["outputs"][0]["data"]["text/plain"])
    assert set(shown) == {"train_step", "train_epoch"}
    for name, text in shown.items():
        assert text.strip() == inspect.getsource(getattr(d2lite, name)).strip(), name
