"""The checkpoint's lock (run/checkpoints.py): one run at a time on one checkpoint.

Each test checks one case of docs/when-things-go-wrong.md: the behaviour, and the words the user
reads. A live run is another process, or this one, holding the lock file; the process-level case
(a real second run, then SIGKILL) is in test_fault_injection.py.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import (
    NoTraining,
    fresh,
    held_lock,
    loaders,
    tiny_data,
    tiny_net,
    train_cpu,
)

import d2lite


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (fast and reproducible on a shared CPU)."""


def test_checkpoint_faults_brief(tmp_path, monkeypatch):
    """The public names of issue 15; each case is tested in depth in test_checkpoints.py,
    test_resume.py, test_signals.py and test_fault_injection.py."""
    assert d2lite.SIGTERM_EXIT_STATUS == 128 + 15  # the status a shell shows for SIGTERM
    path = d2lite.save_checkpoint(tmp_path / "c.pt", tiny_net(1), epoch=1)
    assert torch.load(path, weights_only=True)["format"] == d2lite.CHECKPOINT_FORMAT == 2

    def disk_full(obj, f, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(d2lite.CheckpointWriteError, match="the disk is full") as err:
        d2lite.save_checkpoint(path, tiny_net(1), epoch=2)
    assert isinstance(err.value, OSError) and err.value.errno == 28 and err.value.path == path
    assert issubclass(d2lite.CheckpointLockError, d2lite.CheckpointError)
    with (
        held_lock(path, pid=1, host="elsewhere", started="then"),
        pytest.raises(d2lite.CheckpointLockError, match="pid 1 on elsewhere, started then"),
    ):
        d2lite.train(
            tiny_net(),
            tiny_data(16, 8),
            tiny_data(8, 8),
            1,
            0.1,
            "cpu",
            checkpoint=path,
            animator=False,
            verbose=False,
        )


def _write_lock(path: Path, **owner) -> Path:
    """The lock file a killed run leaves behind: its owner's name, and no process holding it."""
    lock = path.with_name(path.name + ".lock")
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01", **owner}
    lock.write_text(json.dumps(owner))
    return lock


@pytest.mark.parametrize("owner", [{"pid": 1}, {"pid": 4242, "host": "other-machine"}])
def test_a_live_or_foreign_lock_refuses_the_second_run(tmp_path, owner):
    """A lock held by a live run, here or on another machine of a shared disk."""
    ckpt = tmp_path / "run.pt"
    with held_lock(ckpt, **owner) as lock:
        with pytest.raises(d2lite.CheckpointLockError) as err:
            train_cpu(fresh(), NoTraining(), loaders()[1], 1, checkpoint=ckpt)
        message = str(err.value)
        assert f"Another training run is writing the checkpoint {ckpt}" in message
        assert f"pid {owner['pid']} on {owner.get('host', socket.gethostname())}" in message
        assert f"delete {lock}" in message and lock.exists()  # someone else's: left alone
        assert json.loads(lock.read_text())["pid"] == owner["pid"]  # and its name too


def test_the_lock_is_free_again_once_the_run_ends(tmp_path):
    """A run that finished, raised or was interrupted leaves no lock behind: the same process
    (a notebook) can train on the same checkpoint again, and so can another."""
    ckpt = tmp_path / "run.pt"
    train_cpu(fresh(), *loaders(), 1, checkpoint=ckpt)
    with pytest.raises(ValueError):
        train_cpu(fresh(), [], loaders()[1], 1, checkpoint=ckpt)  # an empty train_iter
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
    with held_lock(ckpt):  # another holder gets it at once
        pass
    assert train_cpu(fresh(), *loaders(), 2, checkpoint=ckpt, resume=True).epoch == [1, 2]


def test_a_stale_lock_is_recovered(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    ckpt = tmp_path / "run.pt"
    lock = _write_lock(ckpt, pid=dead.pid)
    train_cpu(fresh(), *loaders(), 1, checkpoint=ckpt, verbose=True, progress="off")
    assert (
        f"removed the stale lock {lock} (pid {dead.pid}, no longer running)"
        in capsys.readouterr().out
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
