"""run/resume.py: resuming from a checkpoint gives the uninterrupted run, bit for bit.

Each test checks one case of docs/when-things-go-wrong.md: the behaviour, and the words the user
reads. Training runs use tiny models on small data, one CPU thread, deterministic settings and
num_workers=0, so "identical" means bit-for-bit.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from conftest import (
    CtrlC,
    NumpyShuffleLoader,
    fresh,
    loaders,
    metrics,
    same_weights,
    synthetic,
    tiny_cnn,
    train_cpu,
)

import d2lite
import d2lite.run.resume


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (fast and reproducible on a shared CPU)."""


def test_resume_on_real_data_gives_the_uninterrupted_result(tmp_path, fashion_root):
    def real_loaders():
        return d2lite.load_data_fashion_mnist(
            64, data_dir=fashion_root, subset=(384, 128), num_workers=0
        )

    net_a = fresh()
    straight = train_cpu(net_a, *real_loaders(), 3)

    net_b, ckpt = fresh(), tmp_path / "run.pt"
    train_cpu(net_b, *real_loaders(), 1, checkpoint=ckpt)  # the first session stops after epoch 1
    d2lite.set_seed(12345)  # a new session: other RNG states, other initial weights
    net_c = d2lite.init_weights(tiny_cnn())
    resumed = train_cpu(net_c, *real_loaders(), 3, checkpoint=ckpt, resume=True)

    assert metrics(resumed) == metrics(straight)  # bit-for-bit, every epoch
    assert same_weights(net_c, net_a)
    assert straight.test_acc[-1] > 0.5  # it really learned something on real data


def test_resume_restores_numpy_and_python_rng(tmp_path):
    """A loader that shuffles with NumPy and augments with ``random`` still resumes exactly."""

    def numpy_loaders():
        return NumpyShuffleLoader(synthetic(128), 32), loaders()[1]

    net_a = fresh()
    straight = train_cpu(net_a, *numpy_loaders(), 3)
    net_b, ckpt = fresh(), tmp_path / "run.pt"
    train_cpu(net_b, *numpy_loaders(), 2, checkpoint=ckpt)
    np.random.seed(7)
    random.seed(7)
    net_c = fresh(seed=5)
    resumed = train_cpu(net_c, *numpy_loaders(), 3, checkpoint=ckpt, resume=True)
    assert metrics(resumed) == metrics(straight)
    assert same_weights(net_c, net_a)


def test_resume_prints_where_it_continues(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    train_cpu(fresh(), *loaders(), 1, checkpoint=ckpt)
    train_cpu(fresh(), *loaders(), 1, checkpoint=ckpt, resume=True, verbose=True)
    assert f"resumed from {ckpt} after epoch 1" in capsys.readouterr().out


def test_a_continuation_at_another_rate_is_the_run_a_scheduler_makes(tmp_path, capsys):
    """2 epochs at lr, then --resume with 3 epochs at lr / 10: the same weights and history as
    one run whose MultiStepLR divides the rate by 10 after epoch 2 (momentum kept)."""
    lr = 0.05
    net_a = fresh()
    opt = torch.optim.SGD(net_a.parameters(), lr=lr, momentum=0.9)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=[2], gamma=0.1)
    straight = train_cpu(net_a, *loaders(), 3, lr, optimizer=opt, scheduler=sched)

    ckpt = tmp_path / "run.pt"
    train_cpu(fresh(), *loaders(), 2, lr, checkpoint=ckpt)
    net_c = fresh(seed=5)
    continued = train_cpu(
        net_c, *loaders(), 3, lr * 0.1, checkpoint=ckpt, resume=True, verbose=True
    )
    assert metrics(continued) == metrics(straight)
    assert same_weights(net_c, net_a)
    out = capsys.readouterr().out
    assert (
        f"learning rate {lr * 0.1:g} from here on (the checkpoint's run trained at {lr:g})" in out
    )


def test_a_plain_resume_keeps_the_rate_and_says_nothing_of_it(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    train_cpu(fresh(), *loaders(), 1, 0.03, checkpoint=ckpt)
    train_cpu(fresh(), *loaders(), 2, 0.03, checkpoint=ckpt, resume=True, verbose=True)
    assert "learning rate" not in capsys.readouterr().out
    assert torch.load(ckpt, weights_only=True)["optimizer"]["param_groups"][0]["lr"] == 0.03


# ----------------------------------------------------------------------------------------------
# Mid-epoch checkpoints (issue 15)
# ----------------------------------------------------------------------------------------------


def _device_loader(n: int = 192, batch_size: int = 32) -> d2lite.DeviceLoader:
    """The book's fast path: uint8 images, shuffled with one randperm when iter() starts."""
    X, y = synthetic(n).tensors
    return d2lite.DeviceLoader(
        (X.clamp(0, 1) * 255).to(torch.uint8)[:, 0], y, batch_size, shuffle=True
    )


TRAIN_LOADERS = {  # each draws its epoch's order from a different RNG
    "DataLoader": lambda: loaders()[0],  # torch's global generator, via RandomSampler
    "DeviceLoader": _device_loader,  # torch.randperm on the global generator
    "numpy+random": lambda: NumpyShuffleLoader(synthetic(192), 32),  # NumPy and Python
}


@pytest.mark.parametrize("kind", TRAIN_LOADERS)
def test_resume_mid_epoch_is_bit_identical_to_an_uninterrupted_run(tmp_path, kind, capsys):
    make, test_iter = TRAIN_LOADERS[kind], loaders()[1]  # 6 batches per epoch
    net_a = fresh()
    straight = train_cpu(net_a, make(), test_iter, 3)

    net, ckpt = fresh(), tmp_path / "run.pt"
    stop = CtrlC(make(), at=6 + 6, net=net)  # Ctrl-C in epoch 2, after 5 of its 6 steps
    stop.batch_size = 32
    train_cpu(net, stop, test_iter, 3, checkpoint=ckpt, checkpoint_every=2)
    assert f"the checkpoint {ckpt} holds epoch 2 up to step 4 of 6" in capsys.readouterr().out
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["position"]["step"] == 4  # loses at most 2 steps

    d2lite.set_seed(99)  # a new session: other RNG states and weights
    np.random.seed(99)
    random.seed(99)
    net_r = d2lite.init_weights(tiny_cnn())
    resumed = train_cpu(net_r, make(), test_iter, 3, checkpoint=ckpt, resume=True, verbose=True)
    assert f"resumed from {ckpt} in epoch 2 after step 4" in capsys.readouterr().out
    assert metrics(resumed) == metrics(straight)  # bit for bit, the resumed epoch too
    assert same_weights(net_r, net_a)
    assert resumed.seconds[1] > state["position"]["seconds"] > 0  # both sessions' time


def test_resume_mid_epoch_with_other_batches_is_refused(tmp_path):
    net, ckpt = fresh(), tmp_path / "run.pt"
    train_cpu(
        net,
        CtrlC(loaders()[0], at=5, net=net),
        loaders()[1],
        2,
        checkpoint=ckpt,
        checkpoint_every=2,
    )  # stopped in epoch 1 after 4 steps of 6
    with pytest.raises(
        d2lite.CheckpointError,
        match=r"stopped at step 4 of an epoch of 6 "
        r"batches, but train_iter has 3: resume "
        r"with the same data and batch_size",
    ):
        train_cpu(fresh(), *loaders(batch_size=64), 2, checkpoint=ckpt, resume=True)


def _record_saves(monkeypatch) -> list:
    saves, real_save = [], d2lite.save_checkpoint

    def record(path, net, opt=None, epoch=0, *args, **kw):
        saves.append((epoch, (kw.get("position") or {}).get("step", 0)))
        return real_save(path, net, opt, epoch, *args, **kw)

    monkeypatch.setattr(d2lite.run.resume, "save_checkpoint", record)
    return saves


def test_checkpoint_every_counts_training_steps(tmp_path, monkeypatch):
    saves = _record_saves(monkeypatch)
    train_cpu(fresh(), *loaders(), 2, checkpoint=tmp_path / "run.pt", checkpoint_every=4)
    # (finished epochs, steps into the next): every 4 steps, counted across the epoch's end
    assert saves == [(0, 4), (1, 0), (1, 4), (2, 0)]


def test_checkpoint_every_a_duration_uses_the_clock(tmp_path, monkeypatch):
    saves = _record_saves(monkeypatch)
    clock = iter(range(0, 10_000, 40))  # 40 s pass at each reading (one per step, one per save)
    monkeypatch.setattr(d2lite.run.resume, "_now", lambda: next(clock))
    train_cpu(fresh(), *loaders(), 1, checkpoint=tmp_path / "run.pt", checkpoint_every="1min")
    assert saves == [(0, 2), (0, 4), (1, 0)]  # 80 s after each save, then the epoch's end


@pytest.mark.parametrize("every", [0, -5, 2.5, True, "10", "10 minutes", "0min", "fast"])
def test_a_bad_checkpoint_every_is_refused_before_any_work(tmp_path, every):
    with pytest.raises(
        ValueError,
        match=r"checkpoint_every must be a number of training steps "
        r"\(an int >= 1, e.g. 200\) or a duration string "
        r"such as '10min'",
    ):
        train_cpu(tiny_cnn(), *loaders(), 1, checkpoint=tmp_path / "run.pt", checkpoint_every=every)
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing trained


def test_checkpoint_every_without_a_checkpoint_says_what_is_missing():
    with pytest.raises(ValueError, match="needs a checkpoint file to write: pass checkpoint="):
        train_cpu(tiny_cnn(), *loaders(), 1, checkpoint_every="10min")
