"""run/signals.py: Ctrl-C and SIGTERM end a run cleanly, with the way to resume.

Each test checks one case of docs/when-things-go-wrong.md: the behaviour, and the words the user
reads. SIGTERM is sent to this very process, under a handler of the test's own (a train() that
forgot its handler fails the test instead of killing pytest). The real processes (SIGINT,
SIGKILL, SIGTERM from outside) are in test_fault_injection.py.
"""

from __future__ import annotations

import io
import os
import signal

import pytest
from conftest import (
    CtrlC,
    fresh,
    loaders,
    metrics,
    same_weights,
    tiny_cnn,
    train_cpu,
)
from torch import nn

import d2lite
import d2lite.run.resume
import d2lite.run.signals


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (fast and reproducible on a shared CPU)."""


def test_ctrl_c_keeps_history_weights_curves_and_checkpoint(tmp_path, capsys):
    train_iter, test_iter = loaders()  # 6 batches per epoch
    net_a = fresh()
    straight = train_cpu(net_a, train_iter, test_iter, 3)

    net, ckpt = fresh(), tmp_path / "run.pt"
    ctrl_c = CtrlC(loaders()[0], at=6 + 4, net=net)  # in epoch 2, after 3 of its steps
    animator = d2lite.Animator(
        xlabel="epoch", legend=["loss", "train acc", "test acc"], live=False, out=io.StringIO()
    )
    history = train_cpu(net, ctrl_c, test_iter, 3, checkpoint=ckpt, animator=animator)
    out = capsys.readouterr().out

    assert history.interrupted and history.epoch == [1]  # the history so far, returned
    assert history.test_acc == straight.test_acc[:1]
    assert same_weights(net, _module_with(ctrl_c.weights))  # the last weights, not reset
    assert animator.X[2] == [1.0] and animator.Y[2] == history.test_acc  # curves kept...
    assert animator.X[0][-1] == pytest.approx(1 + 3 / 6)  # ...up to the interruption
    assert d2lite.load_checkpoint(ckpt, tiny_cnn())["epoch"] == 1
    assert "Interrupted in epoch 2 after 3 step(s)" in out
    assert f"the checkpoint {ckpt} holds epoch 1" in out
    assert "Resume with train(..., checkpoint=..., resume=True)" in out

    net_r = fresh(seed=3)
    resumed = train_cpu(net_r, *loaders(), 3, checkpoint=ckpt, resume=True)
    assert metrics(resumed) == metrics(straight) and not resumed.interrupted
    assert same_weights(net_r, net_a)


def _module_with(state: dict) -> nn.Module:
    net = tiny_cnn()
    net.load_state_dict(state)
    return net


def test_ctrl_c_at_the_start_of_an_epoch_counts_its_steps_from_zero(tmp_path, capsys):
    net = fresh()
    history = train_cpu(
        net, CtrlC(loaders()[0], at=6 + 1, net=net), loaders()[1], 3, checkpoint=tmp_path / "run.pt"
    )
    assert history.epoch == [1]
    assert "Interrupted in epoch 2 after 0 step(s)" in capsys.readouterr().out


def test_ctrl_c_while_saving_names_the_epoch_really_on_disk(tmp_path, monkeypatch, capsys):
    real_save, ckpt = d2lite.save_checkpoint, tmp_path / "run.pt"

    def interrupted_save(path, net, opt, epoch, *args):
        if epoch == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second write
        return real_save(path, net, opt, epoch, *args)

    monkeypatch.setattr(d2lite.run.resume, "save_checkpoint", interrupted_save)
    history = train_cpu(fresh(), *loaders(), 3, checkpoint=ckpt)
    assert history.epoch == [1, 2]  # epoch 2 finished in memory...
    assert d2lite.load_checkpoint(ckpt, tiny_cnn())["epoch"] == 1  # ...but not on disk
    assert f"the checkpoint {ckpt} holds epoch 1" in capsys.readouterr().out


def test_ctrl_c_without_a_checkpoint_says_how_to_get_one(capsys):
    net = fresh()
    history = train_cpu(net, CtrlC(loaders()[0], at=2, net=net), loaders()[1], 2)
    out = capsys.readouterr().out
    assert history.interrupted and history.epoch == []
    assert "no checkpoint was saved" in out and "Pass checkpoint='run.pt'" in out


# ----------------------------------------------------------------------------------------------
# SIGTERM (issue 15)
# ----------------------------------------------------------------------------------------------


class SendAt:
    """Wraps a loader and sends this process ``sig`` as batch ``at`` (over all epochs) is
    fetched: the signal arrives in the middle of a step, as a scheduler's would."""

    def __init__(self, loader, at: int, sig: int = signal.SIGTERM):
        self.loader, self.at, self.sig, self.count = loader, at, sig, 0
        self.handlers = []  # the SIGTERM handler seen at each batch

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.count += 1
            self.handlers.append(signal.getsignal(signal.SIGTERM))
            if self.count == self.at:
                os.kill(os.getpid(), self.sig)
            yield batch


@pytest.fixture
def sentinel_sigterm():
    """A SIGTERM handler of the test's own, so that a train() that forgot to install its
    handler fails the test instead of killing pytest, and so that restoring it can be seen."""
    got = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: got.append(signum))
    yield got
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_in_a_script_saves_the_step_and_exits_143(tmp_path, capsys, sentinel_sigterm):
    train_iter, test_iter = loaders()
    net_a = fresh()
    straight = train_cpu(net_a, train_iter, test_iter, 3)

    net, ckpt = fresh(), tmp_path / "run.pt"
    term = SendAt(loaders()[0], at=6 + 3)  # during epoch 2's third step
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        train_cpu(net, term, test_iter, 3, checkpoint=ckpt)
    out = capsys.readouterr().out
    assert stop.value.code == d2lite.SIGTERM_EXIT_STATUS == 143
    assert stop.value.history.interrupted and stop.value.history.epoch == [1]
    assert term.count == 6 + 3  # it finished that step and took no other batch
    assert sentinel_sigterm == []  # train's handler got the signal, not the previous one
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back
    assert set(term.handlers) != {before}  # train's own was set meanwhile
    assert (
        "Stopped by SIGTERM in epoch 2 after 3 step(s); the checkpoint "
        f"{ckpt} holds epoch 2 up to step 3 of 6."
    ) in out
    assert "train(..., checkpoint=..., resume=True) again" in out
    assert "Exiting with status 143." in out
    assert not (tmp_path / "run.pt.lock").exists()

    net_r = fresh(seed=4)
    resumed = train_cpu(net_r, *loaders(), 3, checkpoint=ckpt, resume=True)  # no checkpoint_every:
    assert metrics(resumed) == metrics(straight)  # the SIGTERM save alone is exact
    assert same_weights(net_r, net_a)


def test_sigterm_in_a_notebook_returns_the_history(tmp_path, capsys, monkeypatch, sentinel_sigterm):
    monkeypatch.setattr(d2lite.run.signals, "_in_jupyter", lambda: True)
    history = train_cpu(fresh(), SendAt(loaders()[0], at=2), loaders()[1], 2, progress="off")
    out = capsys.readouterr().out
    assert history.interrupted and history.epoch == []
    assert "Stopped by SIGTERM in epoch 1 after 2 step(s); no checkpoint was saved." in out
    assert "Pass checkpoint='run.pt' and checkpoint_every='10min'" in out
    assert "train returns the history (interrupted=True)" in out


class SlowEval:
    """A test loader that sends SIGTERM while the evaluation after epoch ``epoch`` runs."""

    def __init__(self, loader, epoch: int):
        self.loader, self.epoch, self.passes = loader, epoch, 0

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        self.passes += 1
        for i, batch in enumerate(self.loader):
            if self.passes == self.epoch and i == 0:
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch


def test_sigterm_during_evaluation_saves_the_trained_epoch(tmp_path, capsys, sentinel_sigterm):
    train_iter, test_iter = loaders(n_test=256)  # 4 test batches: stopped after the first
    net_a = fresh()
    straight = train_cpu(net_a, train_iter, test_iter, 3)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(SystemExit):
        train_cpu(fresh(), loaders()[0], SlowEval(test_iter, epoch=2), 3, checkpoint=ckpt)
    assert "holds epoch 2 up to step 6 of 6" in capsys.readouterr().out  # trained, not tested
    net_r = fresh(seed=4)
    resumed = train_cpu(net_r, loaders()[0], test_iter, 3, checkpoint=ckpt, resume=True)
    assert metrics(resumed) == metrics(straight) and same_weights(net_r, net_a)


def test_sigterm_is_left_alone_outside_the_main_thread(sentinel_sigterm):
    import threading

    seen = []
    term = SendAt(loaders()[0], at=10**9)  # never sends: only records the handler
    thread = threading.Thread(target=lambda: seen.append(train_cpu(fresh(), term, loaders()[1], 1)))
    thread.start()
    thread.join()
    assert seen and seen[0].epoch == [1]  # trained in a thread, no ValueError from signal()
    assert set(term.handlers) == {signal.getsignal(signal.SIGTERM)}  # never replaced
