"""run/checkpoints.py: what a checkpoint holds, loading it safely, and storage faults.

Each test checks one case of docs/when-things-go-wrong.md: the behaviour, and the words the user
reads. Issue 15's storage faults use a real 1 MB tmpfs (and a read-only one) where the tests may
mount one (root on Linux, as in CI), unmounted at teardown; elsewhere ENOSPC/EROFS are
simulated. The lock is in test_lock.py, resuming in test_resume.py.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import (
    ROOT,
    NoTraining,
    deny,
    fresh,
    loaders,
    same_weights,
    tiny_cnn,
    tiny_net,
    train_cpu,
)
from torch import nn

import d2lite
import d2lite.run.resume


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (fast and reproducible on a shared CPU)."""


def test_checkpoint_roundtrip_brief(tmp_path):
    """Checkpoints are tested in depth elsewhere; here only the public round trip."""
    net = tiny_net(1)
    h = d2lite.History(
        epoch=[1],
        train_loss=[0.5],
        train_acc=[0.8],
        test_acc=[0.7],
        examples_per_sec=[10.0],
        seconds=[1.0],
        device="cpu",
    )
    path = d2lite.save_checkpoint(tmp_path / "c.pt", net, epoch=1, history=h)
    other = tiny_net(2)
    state = d2lite.load_checkpoint(path, other)
    assert state["epoch"] == 1 and state["history"]["test_acc"] == [0.7]
    assert all(torch.equal(a, b) for a, b in zip(net.parameters(), other.parameters()))
    with pytest.raises(d2lite.CheckpointError, match="different model"):
        d2lite.load_checkpoint(path, nn.Sequential(nn.Flatten(), nn.Linear(784, 5)))
    with pytest.raises(d2lite.CheckpointError):
        d2lite.load_checkpoint(tmp_path / "missing.pt", net)


def test_a_checkpoint_is_written_after_every_epoch(tmp_path, monkeypatch):
    saved = []
    real_save = d2lite.save_checkpoint
    monkeypatch.setattr(
        d2lite.run.resume,
        "save_checkpoint",
        lambda path, net, opt, epoch, *a: (
            saved.append(epoch) or real_save(path, net, opt, epoch, *a)
        ),
    )
    ckpt = tmp_path / "run.pt"
    history = train_cpu(fresh(), *loaders(), 2, checkpoint=ckpt)
    assert saved == [1, 2]
    state = torch.load(ckpt, map_location="cpu", weights_only=True)  # plain, safe types only
    assert {"model", "optimizer", "epoch", "history", "rng"} <= state.keys()
    assert state["epoch"] == 2 and state["history"]["epoch"] == [1, 2]
    assert state["history"]["test_acc"] == history.test_acc
    assert state["optimizer"]["state"], "momentum buffers must be saved"
    assert {"torch", "python", "numpy"} <= state["rng"].keys()


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    net, ckpt = fresh(), tmp_path / "run.pt"
    d2lite.save_checkpoint(ckpt, net, epoch=1)
    before = ckpt.read_bytes()

    def half_then_fail(obj, f, *args, **kwargs):  # a crash (disk full) in the middle
        f.write(b"PK\x03\x04 half of a checkpoint")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", half_then_fail)
    with pytest.raises(OSError, match="No space left"):
        d2lite.save_checkpoint(ckpt, net, epoch=2)
    assert ckpt.read_bytes() == before  # written elsewhere first, so never half-overwritten
    assert d2lite.load_checkpoint(ckpt, tiny_cnn())["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["run.pt"]  # no temp file left behind


def test_loading_uses_weights_only_so_no_code_runs(tmp_path, monkeypatch):
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    ckpt = d2lite.save_checkpoint(tmp_path / "ok.pt", tiny_cnn())
    d2lite.load_checkpoint(ckpt, tiny_cnn())
    assert calls and all(k.get("weights_only") is True for k in calls)

    ran = []

    class Payload:  # what a malicious checkpoint carries: code that runs when unpickled
        def __reduce__(self):
            return ran.append, ("code ran",)

    evil = tmp_path / "evil.pt"
    monkeypatch.setattr(torch, "load", real_load)
    torch.save({"model": Payload()}, evil)
    with pytest.raises(d2lite.CheckpointError, match=str(evil)):
        d2lite.load_checkpoint(evil, tiny_cnn())
    assert ran == []


@pytest.mark.parametrize(
    "other, words",
    [
        (lambda: tiny_cnn(num_classes=5), r"different model .*\(5,.*\(10,"),
        (lambda: d2lite.lenet(), "different model"),
    ],
)
def test_a_checkpoint_of_another_model_is_refused_clearly(tmp_path, other, words):
    ckpt = d2lite.save_checkpoint(tmp_path / "other.pt", other())
    net = tiny_cnn()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(d2lite.CheckpointError, match=words) as err:
        d2lite.load_checkpoint(ckpt, net)
    assert str(ckpt) in str(err.value) and "same num_classes" in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # untouched


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")  # PyTorch, about the garbage
@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_corrupt_checkpoint_names_the_file(tmp_path, damage):
    ckpt = d2lite.save_checkpoint(tmp_path / "run.pt", tiny_cnn(), epoch=1)
    raw = ckpt.read_bytes()
    garbage = random.Random(0).randbytes(4096)
    ckpt.write_bytes({"truncated": raw[: len(raw) // 2], "garbage": garbage, "empty": b""}[damage])
    with pytest.raises(d2lite.CheckpointError, match="truncated or damaged") as err:
        d2lite.load_checkpoint(ckpt, tiny_cnn())
    assert str(ckpt) in str(err.value) and "Delete it and train again" in str(err.value)
    assert "weights_only` set to `False`" not in str(err.value)  # PyTorch's unsafe advice
    assert err.value.__cause__ is None  # no unpickler traceback chained underneath
    with pytest.raises(d2lite.CheckpointError, match=str(ckpt)):  # never a silent fresh start
        train_cpu(tiny_cnn(), *loaders(), 2, checkpoint=ckpt, resume=True)


def test_temp_files_of_a_killed_run_are_cleaned_up(tmp_path):
    ckpt = tmp_path / "run.pt"
    leftover = tmp_path / ".run.pt.tmp-999999"  # what SIGKILL mid-write leaves behind
    leftover.write_bytes(b"half a checkpoint")
    (tmp_path / "keep.txt").write_text("not ours")
    train_cpu(fresh(), *loaders(), 1, checkpoint=ckpt, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "run.pt"]


# ----------------------------------------------------------------------------------------------
# Checkpoints from elsewhere and from earlier versions
# ----------------------------------------------------------------------------------------------


def test_a_checkpoint_saved_on_a_gpu_loads_on_the_cpu(tmp_path, monkeypatch):
    """The file's storages are tagged cuda:0, as if saved on a GPU; torch.load on a machine
    without CUDA refuses such a file unless map_location is set, and load_checkpoint sets it."""
    net = fresh()
    ckpt = tmp_path / "gpu.pt"
    with monkeypatch.context() as m:
        m.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
        d2lite.save_checkpoint(ckpt, net, epoch=1)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(ckpt, weights_only=True)  # what a plain load does with this file
    other = tiny_cnn()
    state = d2lite.load_checkpoint(ckpt, other)
    assert state["epoch"] == 1 and same_weights(other, net)
    assert all(p.device.type == "cpu" for p in other.parameters())


def test_checkpoints_of_compiled_and_ddp_models_load_into_the_plain_model(tmp_path):
    net = fresh()
    plain = {k: v.clone() for k, v in net.state_dict().items()}
    for prefix in ("_orig_mod.", "module.", "module._orig_mod."):  # compile, DDP, DDP(compile)
        path = tmp_path / f"{prefix.strip('.')}.pt"
        torch.save({"model": {prefix + k: v for k, v in plain.items()}, "epoch": 2}, path)
        other = tiny_cnn()
        assert d2lite.load_checkpoint(path, other)["epoch"] == 2 and same_weights(other, net)
    # Saving a wrapped model writes the plain names; a wrapped model loads them too.
    wrapped = nn.DataParallel(torch.compile(net))
    ckpt = d2lite.save_checkpoint(tmp_path / "wrapped.pt", wrapped)
    keys = torch.load(ckpt, weights_only=True)["model"].keys()
    assert set(keys) == set(plain)
    target = torch.compile(tiny_cnn())
    d2lite.load_checkpoint(ckpt, target)
    assert same_weights(target._orig_mod, net)


def test_a_checkpoint_from_a_newer_d2lite_says_so(tmp_path):
    ckpt = d2lite.save_checkpoint(tmp_path / "run.pt", tiny_cnn())
    assert torch.load(ckpt, weights_only=True)["format"] == d2lite.CHECKPOINT_FORMAT
    state = torch.load(ckpt, weights_only=True)
    state["format"] = d2lite.CHECKPOINT_FORMAT + 1
    torch.save(state, ckpt)
    with pytest.raises(
        d2lite.CheckpointError, match=f"{ckpt} is in checkpoint format 3, written by a newer d2lite"
    ) as err:
        d2lite.load_checkpoint(ckpt, tiny_cnn())
    assert "reads formats up to 2" in str(err.value) and "Update d2lite" in str(err.value)
    del state["format"]  # format 1, before issue 15: still loads
    torch.save(state, ckpt)
    assert d2lite.load_checkpoint(ckpt, tiny_cnn())["epoch"] == 0


# ----------------------------------------------------------------------------------------------
# Storage faults (issue 15): a real 1 MB tmpfs where the machine lets us mount one
# ----------------------------------------------------------------------------------------------


def _mount(folder: Path, options: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True
    )
    return done.returncode == 0


class Disk:
    """A small folder on its own file system. ``real``: a tmpfs (root on Linux, as in CI);
    otherwise writes there fail as a full or read-only disk would, via monkeypatch."""

    def __init__(self, path: Path, real: bool, monkeypatch, read_only: bool):
        self.path, self.real, self.full = path, real, read_only
        self.code = errno.EROFS if read_only else errno.ENOSPC
        if not real:
            self._simulate(monkeypatch)

    def _simulate(self, monkeypatch) -> None:
        def guard(real_call, mode_arg):
            def call(path, *args, **kwargs):
                mode = args[0] if args and mode_arg else kwargs.get("mode", "r")
                writes = not mode_arg or any(c in str(mode) for c in "wax+")
                if self.full and writes and Path(os.fspath(path)).is_relative_to(self.path):
                    raise OSError(self.code, os.strerror(self.code), os.fspath(path))
                return real_call(path, *args, **kwargs)

            return call

        monkeypatch.setattr(builtins, "open", guard(builtins.open, True))
        monkeypatch.setattr(os, "open", guard(os.open, False))

    def fill(self) -> None:
        """Use up every free byte."""
        self.full = True
        if self.real:
            with contextlib.suppress(OSError), open(self.path / "filler", "wb") as f:
                while True:
                    f.write(b"\0" * 4096)
                    f.flush()


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    """``small_disk(read_only=False)`` -> a Disk of 1 MB, unmounted at teardown."""
    mounted = []

    def make(read_only: bool = False) -> Disk:
        folder = tmp_path / f"disk{len(mounted)}"
        folder.mkdir()
        real = _mount(folder, "size=1m" + (",ro" if read_only else ""))
        if real:
            mounted.append(folder)
        return Disk(folder, real, monkeypatch, read_only)

    yield make
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _assert_write_error(err, path: Path, *words: str) -> str:
    message = str(err.value)
    assert isinstance(err.value, d2lite.CheckpointWriteError)
    assert isinstance(err.value, OSError) and isinstance(err.value, d2lite.CheckpointError)
    assert str(path) in message and not message.startswith("[Errno")
    assert err.value.__cause__ is None  # no bare errno chained underneath
    assert err.value.__suppress_context__ or err.value.__context__ is None
    for w in words:
        assert w in message, message
    return message


def test_a_full_disk_is_reported_before_the_first_step(small_disk):
    disk = small_disk()
    disk.fill()
    ckpt = disk.path / "run.pt"
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        train_cpu(fresh(), NoTraining(), loaders()[1], 1, checkpoint=ckpt)
    _assert_write_error(
        err,
        ckpt,
        "the disk is full",
        "No space left on device",
        f"df -h {disk.path}",
        "pass checkpoint= a path on another disk",
    )
    assert err.value.errno == errno.ENOSPC


def test_a_disk_too_small_for_the_model_is_reported_before_the_first_step(small_disk):
    disk = small_disk()
    if not disk.real:
        pytest.skip("needs a real small file system (tmpfs, as root on Linux)")
    big = fresh()
    big.register_buffer("ballast", torch.zeros(2**19))  # 2 MB of weights on a 1 MB disk
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        train_cpu(big, NoTraining(), loaders()[1], 1, checkpoint=disk.path / "run.pt")
    _assert_write_error(err, disk.path / "run.pt", "the disk is full", "MB are free")
    assert sorted(p.name for p in disk.path.iterdir()) == []  # the lock went too


def test_a_disk_for_one_checkpoint_but_not_its_next_copy_is_refused_before_the_first_step(
    small_disk,
):
    """A checkpoint is rewritten under a temporary name beside the previous one: a run needs
    room for two. On a 1 MB disk, 0.6 MB of weights (the ballast has no momentum) fit once, so
    the first epoch's save would succeed and a later one fail mid-run; the run is refused at
    the start instead, with both sizes in the message."""
    disk = small_disk()
    if not disk.real:
        pytest.skip("needs a real small file system (tmpfs, as root on Linux)")
    big = fresh()
    big.register_buffer("ballast", torch.zeros(150_000))  # 0.57 MB, saved, not optimized
    ckpt = disk.path / "run.pt"
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        train_cpu(big, NoTraining(), loaders()[1], 1, checkpoint=ckpt)
    message = _assert_write_error(err, ckpt, "the disk is full", "a second copy")
    one = float(re.search(r"a checkpoint of about ([0-9.]+) MB", message).group(1))
    need = float(re.search(r"the run needs ([0-9.]+) MB", message).group(1))
    assert 0.57 < one < 1.0 and need == pytest.approx(2 * one, abs=0.11)
    assert sorted(p.name for p in disk.path.iterdir()) == []


def test_the_free_space_asked_for_is_two_checkpoints_for_a_new_file_and_one_beside_an_old(
    tmp_path, monkeypatch
):
    """The sizes behind the check, on any machine: a checkpoint is the state dict plus one
    momentum buffer per parameter (SGD with momentum); a new file needs room for two copies
    (the file, then the next one beside it), an existing file for one more."""
    from d2lite.run import checkpoints

    net = fresh()
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    one = sum(t.numel() * t.element_size() for t in net.state_dict().values()) + sum(
        p.numel() * p.element_size() for p in net.parameters()
    )
    free = int(1.5 * one)
    usage = shutil.disk_usage(tmp_path)._replace(free=free)
    monkeypatch.setattr(checkpoints.shutil, "disk_usage", lambda _: usage)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(d2lite.CheckpointWriteError, match="a second copy") as err:
        checkpoints._check_free_space(ckpt, net, optimizer)
    assert f"the run needs {2 * one / 2**20:.1f} MB" in str(err.value)
    assert f"{free / 2**20:.1f} MB are free" in str(err.value)
    ckpt.write_bytes(b"the previous checkpoint")
    checkpoints._check_free_space(ckpt, net, optimizer)  # room for the one new copy: accepted
    ckpt.unlink()
    plain_sgd = torch.optim.SGD(net.parameters(), lr=0.1)  # no momentum: the weights only
    checkpoints._check_free_space(ckpt, net, plain_sgd)


def test_a_read_only_folder_is_reported_before_the_first_step(small_disk):
    disk = small_disk(read_only=True)
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        train_cpu(fresh(), NoTraining(), loaders()[1], 1, checkpoint=disk.path / "run.pt")
    _assert_write_error(
        err,
        disk.path / "run.pt",
        "the file system is read-only",
        "Read-only file system",
        "pass checkpoint= a path on a writable disk",
    )


def test_an_unwritable_folder_is_reported_before_the_first_step(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    real_open = os.open

    def denied(path, *args, **kwargs):  # root ignores chmod, so act as if it were denied
        if Path(os.fspath(path)).is_relative_to(folder):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    deny(monkeypatch, folder, ("open",))
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        train_cpu(fresh(), NoTraining(), loaders()[1], 1, checkpoint=folder / "run.pt")
    _assert_write_error(err, folder / "run.pt", "permission denied", f"chmod u+w {folder}")


def test_a_parent_that_cannot_be_created_is_reported_before_the_first_step(tmp_path):
    (tmp_path / "runs").write_text("a file, not a folder")
    ckpt = tmp_path / "runs" / "alexnet" / "run.pt"
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        train_cpu(fresh(), NoTraining(), loaders()[1], 1, checkpoint=ckpt)
    _assert_write_error(
        err,
        ckpt.parent,
        "Cannot create the checkpoint folder",
        "a file stands where a folder of the path should be",
    )


@pytest.mark.parametrize(
    "every, kept", [(None, "holds epoch 1."), (2, "holds epoch 2 up to step 2 of 6.")]
)
def test_a_disk_that_fills_mid_run_keeps_the_checkpoint_history_and_model(small_disk, every, kept):
    disk = small_disk()
    ckpt = disk.path / "run.pt"

    class FillAt:  # fills the disk as epoch 2's third batch is fetched
        batch_size = 32

        def __init__(self):
            self.loader, self.count = loaders()[0], 0

        def __len__(self):
            return len(self.loader)

        def __iter__(self):
            for batch in self.loader:
                self.count += 1
                if self.count == 6 + 3:
                    disk.fill()
                yield batch

    net = fresh()
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        train_cpu(net, FillAt(), loaders()[1], 3, checkpoint=ckpt, checkpoint_every=every)
    message = _assert_write_error(err, ckpt, "the disk is full", "No space left on device")
    assert f"The previous checkpoint {ckpt} is intact and {kept}" in message
    assert "the error's .history holds the" in message and "resume=True" in message
    history = err.value.history
    assert history.epoch == ([1, 2] if every is None else [1])  # the run so far, not lost
    assert not any(".tmp-" in p.name for p in disk.path.iterdir())
    assert not (disk.path / "run.pt.lock").exists()
    (disk.path / "filler").unlink(missing_ok=True)
    disk.full = False
    state = d2lite.load_checkpoint(ckpt, tiny_cnn())  # the previous file, whole
    assert state["epoch"] == 1 and (state["position"] or {}).get("step", 0) == (every or 0)


# ----------------------------------------------------------------------------------------------
# A checkpoint of the single-file d2lite.py (0.1, main at 416d52a)
# ----------------------------------------------------------------------------------------------


def test_a_checkpoint_of_the_single_file_d2lite_loads_and_resumes(tmp_path, capsys):
    """tests/fixtures/single_file_v0.1.pt was written by d2lite 0.1, a single file, in epoch 2
    of 3 (after step 2 of 3), by make_single_file_checkpoint.py there. It loads into the same
    model, and resuming from it ends where 0.1's uninterrupted run ended (its history, kept
    beside it; equal to float rounding, since the first part ran on the machine that made it)."""
    sys.path.insert(0, str(ROOT / "tests" / "fixtures"))
    try:
        import make_single_file_checkpoint as old
    finally:
        sys.path.remove(str(ROOT / "tests" / "fixtures"))
    ckpt = tmp_path / "old.pt"
    shutil.copy(old.HERE / "single_file_v0.1.pt", ckpt)
    state = d2lite.load_checkpoint(ckpt, net := old.model(), torch.optim.SGD(net.parameters(), 1))
    assert state["format"] == 2 and state["epoch"] == 1 and state["position"]["step"] == 2
    assert state["history"]["epoch"] == [1] and "eval_set" not in state["history"]
    assert torch.equal(net[3].weight, state["model"]["3.weight"])

    d2lite.set_seed(5)  # another session: other weights and random states
    net = d2lite.init_weights(old.model())
    history = d2lite.train(
        net,
        *old.loaders(),
        3,
        0.5,
        "cpu",
        momentum=0.9,
        animator=False,
        progress="off",
        checkpoint=ckpt,
        resume=True,
    )
    assert f"resumed from {ckpt} in epoch 2 after step 2" in capsys.readouterr().out
    reference = json.loads((old.HERE / "single_file_v0.1.json").read_text())
    assert history.epoch == reference["epoch"] == [1, 2, 3]
    for key in ("train_loss", "train_acc", "test_acc"):
        assert getattr(history, key) == pytest.approx(reference[key], rel=1e-4), key
    assert history.eval_set == "test" and not history.interrupted
