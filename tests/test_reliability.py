"""Reliability: training that loses nothing, bad input that explains itself (issues 6, 15).

Run:  D2LITE_DATA=../shared/data .venv/bin/python -m pytest tests/test_reliability.py -q

Every test checks one case of docs/when-things-go-wrong.md: the behaviour, and the words the
user reads. Training runs use tiny models on small data, one CPU thread, deterministic
settings and num_workers=0, so "identical" means bit-for-bit. The process-level faults
(SIGINT, SIGKILL, SIGTERM, two processes on one checkpoint) are in test_fault_injection.py.
Issue 15's storage faults use a real 1 MB tmpfs (and a read-only one) where the tests may mount
one (root on Linux, as in CI), unmounted at teardown; elsewhere ENOSPC/EROFS are simulated.
SIGTERM is sent to this very process, under a handler of the test's own (a train() that forgot
its handler fails the test instead of killing pytest).
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import gzip
import io
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils import data

import d2lite

METRICS = ("epoch", "train_loss", "train_acc", "test_acc")


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Every test here trains on one thread (fast and reproducible on a shared CPU)."""


# ----------------------------------------------------------------------------------------------
# Small models and data
# ----------------------------------------------------------------------------------------------


def tiny_cnn(num_classes: int = 10) -> nn.Sequential:
    """A 28x28 CNN small enough to train an epoch in a fraction of a second."""
    return nn.Sequential(
        nn.Conv2d(1, 4, kernel_size=3, stride=2),
        nn.ReLU(),  # (B, 4, 13, 13)
        nn.Flatten(),
        nn.Dropout(0.2),  # dropout: the RNG state matters on resume
        nn.Linear(4 * 13 * 13, num_classes),
    )


def synthetic(n: int, seed: int = 0) -> data.TensorDataset:
    """n noisy copies of 10 fixed class prototypes (independent of the global RNG)."""
    g = torch.Generator().manual_seed(99)
    prototypes = torch.rand(10, 1, 28, 28, generator=g)
    g.manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    return data.TensorDataset((prototypes[y] + torch.randn(n, 1, 28, 28, generator=g)), y)


def loaders(n_train: int = 192, n_test: int = 64, batch_size: int = 32):
    return (
        data.DataLoader(synthetic(n_train, 0), batch_size, shuffle=True, num_workers=0),
        data.DataLoader(synthetic(n_test, 1), 64, num_workers=0),
    )


class NumpyShuffleLoader:
    """A user's own loader: shuffles with NumPy and flips images with Python's ``random``.

    So resuming must restore NumPy's and Python's RNG states too, not only PyTorch's.
    """

    def __init__(self, dataset: data.TensorDataset, batch_size: int):
        self.X, self.y = dataset.tensors
        self.batch_size = batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.y) / self.batch_size)

    def __iter__(self):
        order = torch.from_numpy(np.random.permutation(len(self.y)))
        for b in range(len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            X = self.X[idx]
            if random.random() < 0.5:
                X = X.flip(-1)
            yield X, self.y[idx]


def run(net, train_iter, test_iter, num_epochs, lr=0.05, **kw) -> d2lite.History:
    kw.setdefault("animator", False)
    kw.setdefault("verbose", False)
    return d2lite.train(net, train_iter, test_iter, num_epochs, lr, "cpu", momentum=0.9, **kw)


def fresh(seed: int = 0, num_classes: int = 10) -> nn.Module:
    d2lite.set_seed(seed, deterministic=True)
    return d2lite.init_weights(tiny_cnn(num_classes))


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def metrics(h: d2lite.History) -> dict:
    return {k: getattr(h, k) for k in METRICS}


# ----------------------------------------------------------------------------------------------
# Checkpoints
# ----------------------------------------------------------------------------------------------


def test_a_checkpoint_is_written_after_every_epoch(tmp_path, monkeypatch):
    saved = []
    real_save = d2lite.save_checkpoint
    monkeypatch.setattr(
        d2lite,
        "save_checkpoint",
        lambda path, net, opt, epoch, *a: (
            saved.append(epoch) or real_save(path, net, opt, epoch, *a)
        ),
    )
    ckpt = tmp_path / "run.pt"
    history = run(fresh(), *loaders(), 2, checkpoint=ckpt)
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


def test_resume_on_real_data_gives_the_uninterrupted_result(tmp_path, fashion_root):
    def real_loaders():
        return d2lite.load_data_fashion_mnist(
            64, data_dir=fashion_root, subset=(384, 128), num_workers=0
        )

    net_a = fresh()
    straight = run(net_a, *real_loaders(), 3)

    net_b, ckpt = fresh(), tmp_path / "run.pt"
    run(net_b, *real_loaders(), 1, checkpoint=ckpt)  # the first session stops after epoch 1
    d2lite.set_seed(12345)  # a new session: other RNG states, other initial weights
    net_c = d2lite.init_weights(tiny_cnn())
    resumed = run(net_c, *real_loaders(), 3, checkpoint=ckpt, resume=True)

    assert metrics(resumed) == metrics(straight)  # bit-for-bit, every epoch
    assert same_weights(net_c, net_a)
    assert straight.test_acc[-1] > 0.5  # it really learned something on real data


def test_resume_restores_numpy_and_python_rng(tmp_path):
    """A loader that shuffles with NumPy and augments with ``random`` still resumes exactly."""

    def numpy_loaders():
        return NumpyShuffleLoader(synthetic(128), 32), loaders()[1]

    net_a = fresh()
    straight = run(net_a, *numpy_loaders(), 3)
    net_b, ckpt = fresh(), tmp_path / "run.pt"
    run(net_b, *numpy_loaders(), 2, checkpoint=ckpt)
    np.random.seed(7)
    random.seed(7)
    net_c = fresh(seed=5)
    resumed = run(net_c, *numpy_loaders(), 3, checkpoint=ckpt, resume=True)
    assert metrics(resumed) == metrics(straight)
    assert same_weights(net_c, net_a)


def test_resume_prints_where_it_continues(tmp_path, capsys):
    ckpt = tmp_path / "run.pt"
    run(fresh(), *loaders(), 1, checkpoint=ckpt)
    run(fresh(), *loaders(), 1, checkpoint=ckpt, resume=True, verbose=True)
    assert f"resumed from {ckpt} after epoch 1" in capsys.readouterr().out


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
        run(tiny_cnn(), *loaders(), 2, checkpoint=ckpt, resume=True)


def test_temp_files_of_a_killed_run_are_cleaned_up(tmp_path):
    ckpt = tmp_path / "run.pt"
    leftover = tmp_path / ".run.pt.tmp-999999"  # what SIGKILL mid-write leaves behind
    leftover.write_bytes(b"half a checkpoint")
    (tmp_path / "keep.txt").write_text("not ours")
    run(fresh(), *loaders(), 1, checkpoint=ckpt, resume=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt", "run.pt"]


# ----------------------------------------------------------------------------------------------
# Interruption (Ctrl-C)
# ----------------------------------------------------------------------------------------------


class CtrlC:
    """Wraps a loader and raises KeyboardInterrupt at batch ``at`` (counted over all epochs),
    recording the model's weights at that moment."""

    def __init__(self, loader, at: int, net: nn.Module):
        self.loader, self.at, self.net, self.count, self.weights = loader, at, net, 0, None
        self.batch_size = loader.batch_size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            self.count += 1
            if self.count == self.at:
                self.weights = {k: v.clone() for k, v in self.net.state_dict().items()}
                raise KeyboardInterrupt
            yield batch


def test_ctrl_c_keeps_history_weights_curves_and_checkpoint(tmp_path, capsys):
    train_iter, test_iter = loaders()  # 6 batches per epoch
    net_a = fresh()
    straight = run(net_a, train_iter, test_iter, 3)

    net, ckpt = fresh(), tmp_path / "run.pt"
    ctrl_c = CtrlC(loaders()[0], at=6 + 4, net=net)  # in epoch 2, after 3 of its steps
    animator = d2lite.Animator(
        xlabel="epoch", legend=["loss", "train acc", "test acc"], live=False, out=io.StringIO()
    )
    history = run(net, ctrl_c, test_iter, 3, checkpoint=ckpt, animator=animator)
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
    resumed = run(net_r, *loaders(), 3, checkpoint=ckpt, resume=True)
    assert metrics(resumed) == metrics(straight) and not resumed.interrupted
    assert same_weights(net_r, net_a)


def _module_with(state: dict) -> nn.Module:
    net = tiny_cnn()
    net.load_state_dict(state)
    return net


def test_ctrl_c_at_the_start_of_an_epoch_counts_its_steps_from_zero(tmp_path, capsys):
    net = fresh()
    history = run(
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

    monkeypatch.setattr(d2lite, "save_checkpoint", interrupted_save)
    history = run(fresh(), *loaders(), 3, checkpoint=ckpt)
    assert history.epoch == [1, 2]  # epoch 2 finished in memory...
    assert d2lite.load_checkpoint(ckpt, tiny_cnn())["epoch"] == 1  # ...but not on disk
    assert f"the checkpoint {ckpt} holds epoch 1" in capsys.readouterr().out


def test_ctrl_c_without_a_checkpoint_says_how_to_get_one(capsys):
    net = fresh()
    history = run(net, CtrlC(loaders()[0], at=2, net=net), loaders()[1], 2)
    out = capsys.readouterr().out
    assert history.interrupted and history.epoch == []
    assert "no checkpoint was saved" in out and "Pass checkpoint='run.pt'" in out


# ----------------------------------------------------------------------------------------------
# Divergence and reproducibility
# ----------------------------------------------------------------------------------------------


def test_an_absurd_learning_rate_stops_with_advice():
    d2lite.set_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 32), nn.Linear(32, 10))  # deep linear
    with pytest.raises(d2lite.TrainingDivergedError) as err:
        d2lite.train(net, *loaders(), 3, lr=1e6, device="cpu", animator=False, verbose=False)
    message = str(err.value)
    assert "in epoch 1, by step" in message and "lr=1000000.0 is probably too large" in message
    assert "try lr=100000" in message
    assert err.value.history.epoch == []


class NaNFrom(nn.Module):
    """Wraps a model; from forward call ``n`` on it returns NaN scores."""

    def __init__(self, net: nn.Module, n: int):
        super().__init__()
        self.net, self.n, self.calls = net, n, 0

    def forward(self, x):
        self.calls += 1 if self.training else 0
        y = self.net(x)
        return y * float("nan") if self.training and self.calls >= self.n else y


def test_divergence_names_the_epoch_and_step():
    train_iter, test_iter = loaders(n_train=96)  # 3 batches: loss checked after every step
    net = NaNFrom(fresh(), n=3 + 2)  # epoch 2, step 2
    words = "loss became nan in epoch 2, by step 2 of 3"
    with pytest.raises(d2lite.TrainingDivergedError, match=words) as err:
        run(net, train_iter, test_iter, 3, lr=0.01)
    assert "try lr=0.001" in str(err.value)
    assert err.value.history.epoch == [1]  # what was finished before


class Scaled(nn.Module):
    """Wraps a model; from forward call ``n`` on it multiplies the scores by ``factor``: a
    finite loss that has blown up without (yet) reaching inf or NaN."""

    def __init__(self, net: nn.Module, n: int, factor: float):
        super().__init__()
        self.net, self.n, self.factor, self.calls = net, n, factor, 0

    def forward(self, x):
        self.calls += 1 if self.training else 0
        y = self.net(x)
        return y * self.factor if self.training and self.calls >= self.n else y


def test_a_huge_finite_loss_counts_as_divergence():
    train_iter, test_iter = loaders(n_train=96)
    net = Scaled(fresh(), n=2, factor=1e7)  # epoch 1, step 2: loss about 1e7, finite
    with pytest.raises(d2lite.TrainingDivergedError, match="in epoch 1, by step 2 of 3") as err:
        run(net, train_iter, test_iter, 2, lr=0.01)
    message = str(err.value)
    assert "over 1000 times the 2.30 of a uniform guess" in message and "try lr=0.001" in message
    loss = float(re.search(r"loss became (\S+) in", message).group(1))
    assert math.isfinite(loss) and loss > 2303


def test_a_high_but_sane_loss_is_not_divergence():
    """Scores 30 times too large give losses of tens: bad, but training may recover."""
    train_iter, test_iter = loaders(n_train=96)
    history = run(Scaled(fresh(), n=1, factor=30.0), train_iter, test_iter, 1, lr=0.01)
    assert 2.5 < history.train_loss[0] < 2303


def test_same_seed_gives_identical_metrics_on_cpu():
    histories, nets = [], []
    for _ in range(2):
        nets.append(fresh(seed=0))
        histories.append(metrics(run(nets[-1], *loaders(), 2)))
    assert histories[0] == histories[1] and same_weights(*nets)
    other = metrics(run(fresh(seed=1), *loaders(), 2))
    assert other["train_loss"] != histories[0]["train_loss"]  # the seed does matter


# ----------------------------------------------------------------------------------------------
# Dataset problems
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No Fashion-MNIST anywhere: every searched folder is empty. Returns the folders."""
    places = {name: tmp_path / name for name in ("env", "project", "debian")}
    for folder in places.values():
        folder.mkdir()
    monkeypatch.setenv("D2LITE_DATA", str(places["env"]))
    monkeypatch.setattr(d2lite, "_project_data_dir", lambda: places["project"])
    monkeypatch.setattr(d2lite, "DEBIAN_DATA_DIR", places["debian"])
    return places


def _assert_explains_not_found(err, places: dict) -> str:
    message = str(err.value)
    for folder in places.values():
        assert str(folder) in message
    for fix in (
        "export D2LITE_DATA=",
        "apt-get install dataset-fashion-mnist",
        "connect to the internet",
    ):
        assert fix in message
    assert err.value.__cause__ is None and err.value.__suppress_context__  # no chained traceback
    assert isinstance(err.value, FileNotFoundError)  # and a DataError
    return message


def test_no_data_and_no_network(nowhere, monkeypatch):
    def offline(target):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(d2lite, "_download", offline)
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_data_fashion_mnist(32)
    message = _assert_explains_not_found(err, nowhere)
    assert "the download into" in message and "URLError" in message


def test_no_data_and_no_network_through_torchvision(nowhere, monkeypatch, capsys):
    """The real download path, with the network cut where torchvision reaches it."""
    pytest.importorskip("torchvision")

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_fashion_mnist_arrays()
    _assert_explains_not_found(err, nowhere)
    assert "download into" in str(err.value) and "Network is unreachable" in str(err.value)


def test_no_data_with_download_off(nowhere):
    with pytest.raises(d2lite.DataNotFoundError, match="download=False") as err:
        d2lite.load_fashion_mnist_arrays(download=False)
    _assert_explains_not_found(err, nowhere)


def test_a_relative_data_path_shows_where_it_pointed(nowhere, tmp_path, monkeypatch):
    """A notebook runs in its own folder, so D2LITE_DATA=../shared/data set in the shell points
    somewhere else there: the message shows the absolute path it meant and the current folder."""
    here = tmp_path / "book" / "en"
    here.mkdir(parents=True)
    monkeypatch.chdir(here)
    monkeypatch.setenv("D2LITE_DATA", "../shared/data")
    with pytest.raises(d2lite.DataNotFoundError) as err:
        d2lite.load_fashion_mnist_arrays(download=False)
    message = str(err.value)
    assert f"$D2LITE_DATA: ../shared/data (relative, so {here}/../shared/data" in message
    assert f"from the current folder {here};" in message and "absolute path" in message
    assert f"the project's data folder: {nowhere['project']}\n" in message  # absolute: as is


@pytest.mark.parametrize("gz", [False, True])
def test_a_truncated_file_is_named(tmp_path, write_fake_fashion, gz):
    write_fake_fashion(tmp_path, gz=gz)
    images = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    raw = gzip.decompress(images.read_bytes()) if gz else images.read_bytes()
    cut = raw[: len(raw) - 100]
    images.write_bytes(gzip.compress(cut) if gz else cut)
    with pytest.raises(d2lite.DataError, match="is truncated") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(images) in str(err.value) and "copy or download it again" in str(err.value)


def test_a_cut_gzip_stream_is_named(tmp_path, write_fake_fashion):
    write_fake_fashion(tmp_path, gz=True)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(labels.read_bytes()[:-12])  # a download that stopped early
    with pytest.raises(d2lite.DataError, match="damaged or unreadable") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(labels) in str(err.value)


@pytest.mark.parametrize("gz", [False, True])
def test_a_wrong_magic_number_is_named(tmp_path, write_fake_fashion, write_idx, gz):
    write_fake_fashion(tmp_path, gz=gz)
    name = "train-images-idx3-ubyte"
    (tmp_path / (name + (".gz" if gz else ""))).unlink()
    bad = write_idx(tmp_path / name, np.zeros((4, 28, 28), np.uint8), gz=gz, magic=0x504B0304)
    with pytest.raises(d2lite.DataError, match="not a Fashion-MNIST IDX file") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(bad) in str(err.value)
    assert f"magic number {0x504B0304}" in str(err.value) and "2051" in str(err.value)


def test_image_and_label_counts_that_disagree(tmp_path, write_fake_fashion, write_idx):
    write_fake_fashion(tmp_path, n_train=12)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(11, np.uint8))
    with pytest.raises(d2lite.DataError, match="holds 12 images but") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert "holds 11 labels" in str(err.value)
    assert str(tmp_path / "train-labels-idx1-ubyte") in str(err.value)


def _deny(monkeypatch, folder: Path, calls: tuple[str, ...]) -> None:
    """Act as if ``folder`` were unreadable (chmod does not stop root, who runs these tests)."""

    def guard(real):
        def wrapper(path, *args, **kwargs):
            if isinstance(path, (str, os.PathLike)) and Path(os.fspath(path)).is_relative_to(
                folder
            ):
                raise PermissionError(13, "Permission denied", os.fspath(path))
            return real(path, *args, **kwargs)

        return wrapper

    for name in calls:
        module = builtins if name == "open" else os
        monkeypatch.setattr(module, name, guard(getattr(module, name)))


def test_an_unreadable_data_folder(tmp_path, write_fake_fashion, monkeypatch, nowhere):
    folder = tmp_path / "locked"
    write_fake_fashion(folder, layout="FashionMNIST/raw")
    _deny(monkeypatch, folder / "FashionMNIST", ("stat", "open", "scandir", "listdir"))
    with pytest.raises(d2lite.DataError, match="permission denied") as err:
        d2lite.load_fashion_mnist_arrays(folder, download=False)
    message = str(err.value)
    assert str(folder) in message and "chmod -R a+rX" in message and "D2LITE_DATA" in message
    assert not isinstance(err.value, FileNotFoundError)  # it is there, just not readable
    assert err.value.__cause__ is None


@pytest.mark.parametrize("gz", [False, True])
def test_an_unreadable_data_file(tmp_path, write_fake_fashion, monkeypatch, gz):
    write_fake_fashion(tmp_path, gz=gz)
    images = tmp_path / ("t10k-images-idx3-ubyte" + (".gz" if gz else ""))
    _deny(monkeypatch, images, ("open",))
    with pytest.raises(d2lite.DataError, match="permission denied") as err:
        d2lite.load_fashion_mnist_arrays(tmp_path, download=False)
    assert str(images) in str(err.value) and "chmod a+r" in str(err.value)


# ----------------------------------------------------------------------------------------------
# Bad arguments, wrong input size, devices
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [0, -1, 2.5, True, None])
def test_a_bad_batch_size_is_refused_before_any_work(batch_size, monkeypatch):
    monkeypatch.setattr(
        d2lite,
        "load_fashion_mnist_arrays",
        lambda *a, **k: pytest.fail("data was read before the check"),
    )
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        d2lite.load_data_fashion_mnist(batch_size)
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        d2lite.DeviceLoader(torch.zeros(4, 28, 28, dtype=torch.uint8), torch.zeros(4), batch_size)


@pytest.mark.parametrize("num_epochs", [-1, 1.5, "3"])
def test_a_bad_num_epochs_is_refused(num_epochs):
    words = r"num_epochs must be an integer >= 0 \(0 only evaluates\)"
    with pytest.raises(ValueError, match=words):
        run(tiny_cnn(), *loaders(), num_epochs)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan"), float("inf"), None])
def test_a_bad_learning_rate_is_refused(lr):
    with pytest.raises(ValueError, match=r"lr must be a finite number > 0 \(e.g. 0.01\)"):
        run(tiny_cnn(), *loaders(), 1, lr=lr)


def test_zero_epochs_only_evaluates(capsys):
    net = fresh()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train_iter, test_iter = loaders()
    history = run(net, train_iter, test_iter, 0, verbose=True)
    assert history.epoch == [0] and not history.interrupted
    assert history.test_acc == [d2lite.evaluate_accuracy_gpu(net, test_iter)]
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())  # no training
    assert "evaluation only" in capsys.readouterr().out


def test_alexnet_on_28x28_explains_the_size_it_needs(fashion_root):
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        8, resize=28, data_dir=fashion_root, subset=(16, 8), num_workers=0
    )
    net = d2lite.alexnet()
    with pytest.raises(d2lite.InputSizeError) as err:
        run(net, train_iter, test_iter, 1)
    message = str(err.value)
    assert "AlexNet got 28x28 images" in message and "224x224" in message
    assert "resize=224" in message  # the fix, not a matrix-shape error from inside
    with torch.inference_mode():  # and the sizes it names do pass
        assert net.eval()(torch.zeros(1, 1, 224, 224)).shape == (1, 10)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_asking_for_cuda_without_one(device):
    with pytest.raises(RuntimeError, match=r"this machine has 0 CUDA device\(s\)") as err:
        d2lite.train(tiny_cnn(), *loaders(), 1, 0.1, device=device, animator=False)
    assert "try_gpu()" in str(err.value) and "device='cpu'" in str(err.value)


def test_asking_for_mps_without_it(monkeypatch):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with pytest.raises(RuntimeError, match="Device 'mps' was requested"):
        d2lite.train(tiny_cnn(), *loaders(), 1, 0.1, device="mps", animator=False)


class OutOfMemory(nn.Module):
    """What a too-large batch does to a GPU: the forward pass cannot allocate."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1))  # something for the optimizer

    def forward(self, x):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_out_of_memory_names_the_batch_size_to_try():
    train_iter, test_iter = loaders(batch_size=64)
    net = OutOfMemory()
    with pytest.raises(RuntimeError) as err:
        run(net, train_iter, test_iter, 1)
    message = str(err.value)
    assert "Out of GPU memory at batch size 64. Try batch_size=32" in message
    assert "Tried to allocate 2.00 GiB" in message
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_out_of_memory_while_only_evaluating_names_the_batch_size():
    train_iter, test_iter = loaders(batch_size=64)
    with pytest.raises(RuntimeError, match="Out of GPU memory at batch size 64. Try batch_size=32"):
        run(OutOfMemory(), train_iter, test_iter, 0)  # num_epochs=0: evaluation only


def test_out_of_memory_with_a_loader_of_unknown_batch_size():
    train_iter, test_iter = loaders()
    batches = list(train_iter)  # a plain list has no .batch_size
    net = OutOfMemory()
    with pytest.raises(RuntimeError, match="Out of GPU memory. Try a smaller batch_size"):
        run(net, batches, test_iter, 1)


# ----------------------------------------------------------------------------------------------
# Small data and workers
# ----------------------------------------------------------------------------------------------


def test_a_batch_larger_than_the_dataset_gives_one_smaller_batch(fashion_root):
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        1000, data_dir=fashion_root, subset=(50, 30), num_workers=0
    )
    assert len(train_iter) == 1 and [len(y) for _, y in train_iter] == [50]
    history = run(fresh(), train_iter, test_iter, 2)
    assert history.epoch == [1, 2] and all(math.isfinite(v) for v in history.train_loss)


def test_fewer_than_five_batches_still_log_and_plot():
    train_iter, test_iter = loaders(n_train=96)  # 3 batches: d2l's `num_batches // 5` is 0
    animator = d2lite.Animator(
        xlabel="epoch", legend=["loss", "train acc", "test acc"], live=False, out=io.StringIO()
    )
    history = run(fresh(), train_iter, test_iter, 2, animator=animator)
    assert history.epoch == [1, 2]
    expected = [1 / 3, 2 / 3, 1.0, 4 / 3, 5 / 3, 2.0]  # a point after every step
    assert animator.X[0] == pytest.approx(expected) and animator.X[1] == pytest.approx(expected)
    assert animator.X[2] == [1.0, 2.0] and animator.Y[2] == history.test_acc
    assert "epoch 2: loss" in animator.out.getvalue()


@pytest.mark.parametrize("platform", ["win32", "darwin"])
def test_no_worker_processes_on_windows_and_macos(monkeypatch, platform):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(os, "cpu_count", lambda: 16)
    assert d2lite.default_num_workers() == 0


@pytest.mark.parametrize("cores, workers", [(None, 0), (1, 0), (2, 1), (3, 2), (16, 4)])
def test_workers_elsewhere_leave_a_core_for_training(monkeypatch, cores, workers):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    assert d2lite.default_num_workers() == workers


def test_the_loaders_use_the_safe_default(monkeypatch, fashion_root):
    monkeypatch.setattr(sys, "platform", "darwin")
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        16, data_dir=fashion_root, subset=(32, 16)
    )
    assert train_iter.num_workers == 0 and test_iter.num_workers == 0


# ----------------------------------------------------------------------------------------------
# Mid-epoch checkpoints (issue 15)
# ----------------------------------------------------------------------------------------------


def _device_loader(n: int = 192, batch_size: int = 32) -> d2lite.DeviceLoader:
    """The book's fast path: uint8 images, shuffled with one randperm when iter() starts."""
    X, y = synthetic(n).tensors
    return d2lite.DeviceLoader((X.clamp(0, 1) * 255).to(torch.uint8)[:, 0], y, batch_size,
                               shuffle=True)


TRAIN_LOADERS = {  # each draws its epoch's order from a different RNG
    "DataLoader": lambda: loaders()[0],  # torch's global generator, via RandomSampler
    "DeviceLoader": _device_loader,  # torch.randperm on the global generator
    "numpy+random": lambda: NumpyShuffleLoader(synthetic(192), 32),  # NumPy and Python
}


@pytest.mark.parametrize("kind", TRAIN_LOADERS)
def test_resume_mid_epoch_is_bit_identical_to_an_uninterrupted_run(tmp_path, kind, capsys):
    make, test_iter = TRAIN_LOADERS[kind], loaders()[1]  # 6 batches per epoch
    net_a = fresh()
    straight = run(net_a, make(), test_iter, 3)

    net, ckpt = fresh(), tmp_path / "run.pt"
    stop = CtrlC(make(), at=6 + 6, net=net)  # Ctrl-C in epoch 2, after 5 of its 6 steps
    stop.batch_size = 32
    run(net, stop, test_iter, 3, checkpoint=ckpt, checkpoint_every=2)
    assert f"the checkpoint {ckpt} holds epoch 2 up to step 4 of 6" in capsys.readouterr().out
    state = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert state["epoch"] == 1 and state["position"]["step"] == 4  # loses at most 2 steps

    d2lite.set_seed(99)  # a new session: other RNG states and weights
    np.random.seed(99)
    random.seed(99)
    net_r = d2lite.init_weights(tiny_cnn())
    resumed = run(net_r, make(), test_iter, 3, checkpoint=ckpt, resume=True, verbose=True)
    assert f"resumed from {ckpt} in epoch 2 after step 4" in capsys.readouterr().out
    assert metrics(resumed) == metrics(straight)  # bit for bit, the resumed epoch too
    assert same_weights(net_r, net_a)
    assert resumed.seconds[1] > state["position"]["seconds"] > 0  # both sessions' time


def test_resume_mid_epoch_with_other_batches_is_refused(tmp_path):
    net, ckpt = fresh(), tmp_path / "run.pt"
    run(net, CtrlC(loaders()[0], at=5, net=net), loaders()[1], 2, checkpoint=ckpt,
        checkpoint_every=2)  # stopped in epoch 1 after 4 steps of 6
    with pytest.raises(d2lite.CheckpointError, match=r"stopped at step 4 of an epoch of 6 "
                                                     r"batches, but train_iter has 3: resume "
                                                     r"with the same data and batch_size"):
        run(fresh(), *loaders(batch_size=64), 2, checkpoint=ckpt, resume=True)


def _record_saves(monkeypatch) -> list:
    saves, real_save = [], d2lite.save_checkpoint

    def record(path, net, opt=None, epoch=0, *args, **kw):
        saves.append((epoch, (kw.get("position") or {}).get("step", 0)))
        return real_save(path, net, opt, epoch, *args, **kw)

    monkeypatch.setattr(d2lite, "save_checkpoint", record)
    return saves


def test_checkpoint_every_counts_training_steps(tmp_path, monkeypatch):
    saves = _record_saves(monkeypatch)
    run(fresh(), *loaders(), 2, checkpoint=tmp_path / "run.pt", checkpoint_every=4)
    # (finished epochs, steps into the next): every 4 steps, counted across the epoch's end
    assert saves == [(0, 4), (1, 0), (1, 4), (2, 0)]


def test_checkpoint_every_a_duration_uses_the_clock(tmp_path, monkeypatch):
    saves = _record_saves(monkeypatch)
    clock = iter(range(0, 10_000, 40))  # 40 s pass at each reading (one per step, one per save)
    monkeypatch.setattr(d2lite, "_now", lambda: next(clock))
    run(fresh(), *loaders(), 1, checkpoint=tmp_path / "run.pt", checkpoint_every="1min")
    assert saves == [(0, 2), (0, 4), (1, 0)]  # 80 s after each save, then the epoch's end


@pytest.mark.parametrize("every", [0, -5, 2.5, True, "10", "10 minutes", "0min", "fast"])
def test_a_bad_checkpoint_every_is_refused_before_any_work(tmp_path, every):
    with pytest.raises(ValueError, match=r"checkpoint_every must be a number of training steps "
                                         r"\(an int >= 1, e.g. 200\) or a duration string "
                                         r"such as '10min'"):
        run(tiny_cnn(), *loaders(), 1, checkpoint=tmp_path / "run.pt", checkpoint_every=every)
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing trained


def test_checkpoint_every_without_a_checkpoint_says_what_is_missing():
    with pytest.raises(ValueError, match="needs a checkpoint file to write: pass checkpoint="):
        run(tiny_cnn(), *loaders(), 1, checkpoint_every="10min")


# ----------------------------------------------------------------------------------------------
# SIGTERM (issue 15; the real process is in test_fault_injection.py)
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
    straight = run(net_a, train_iter, test_iter, 3)

    net, ckpt = fresh(), tmp_path / "run.pt"
    term = SendAt(loaders()[0], at=6 + 3)  # during epoch 2's third step
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SystemExit) as stop:
        run(net, term, test_iter, 3, checkpoint=ckpt)
    out = capsys.readouterr().out
    assert stop.value.code == d2lite.SIGTERM_EXIT_STATUS == 143
    assert stop.value.history.interrupted and stop.value.history.epoch == [1]
    assert term.count == 6 + 3  # it finished that step and took no other batch
    assert sentinel_sigterm == []  # train's handler got the signal, not the previous one
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back
    assert set(term.handlers) != {before}  # train's own was set meanwhile
    assert ("Stopped by SIGTERM in epoch 2 after 3 step(s); the checkpoint "
            f"{ckpt} holds epoch 2 up to step 3 of 6.") in out
    assert "train(..., checkpoint=..., resume=True) again" in out
    assert "Exiting with status 143." in out
    assert not (tmp_path / "run.pt.lock").exists()

    net_r = fresh(seed=4)
    resumed = run(net_r, *loaders(), 3, checkpoint=ckpt, resume=True)  # no checkpoint_every:
    assert metrics(resumed) == metrics(straight)  # the SIGTERM save alone is exact
    assert same_weights(net_r, net_a)


def test_sigterm_in_a_notebook_returns_the_history(tmp_path, capsys, monkeypatch,
                                                   sentinel_sigterm):
    monkeypatch.setattr(d2lite, "_in_jupyter", lambda: True)
    history = run(fresh(), SendAt(loaders()[0], at=2), loaders()[1], 2, progress="off")
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
    straight = run(net_a, train_iter, test_iter, 3)
    ckpt = tmp_path / "run.pt"
    with pytest.raises(SystemExit):
        run(fresh(), loaders()[0], SlowEval(test_iter, epoch=2), 3, checkpoint=ckpt)
    assert "holds epoch 2 up to step 6 of 6" in capsys.readouterr().out  # trained, not tested
    net_r = fresh(seed=4)
    resumed = run(net_r, loaders()[0], test_iter, 3, checkpoint=ckpt, resume=True)
    assert metrics(resumed) == metrics(straight) and same_weights(net_r, net_a)


def test_sigterm_is_left_alone_outside_the_main_thread(sentinel_sigterm):
    import threading

    seen = []
    term = SendAt(loaders()[0], at=10**9)  # never sends: only records the handler
    thread = threading.Thread(target=lambda: seen.append(run(fresh(), term, loaders()[1], 1)))
    thread.start()
    thread.join()
    assert seen and seen[0].epoch == [1]  # trained in a thread, no ValueError from signal()
    assert set(term.handlers) == {signal.getsignal(signal.SIGTERM)}  # never replaced


# ----------------------------------------------------------------------------------------------
# Storage faults (issue 15): a real 1 MB tmpfs where the machine lets us mount one
# ----------------------------------------------------------------------------------------------


def _mount(folder: Path, options: str) -> bool:
    if sys.platform != "linux" or os.geteuid() != 0:
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
                          capture_output=True)
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


class NoTraining:
    """A loader that fails the test if training ever asks for a batch."""

    batch_size = 32

    def __len__(self) -> int:
        return 6

    def __iter__(self):
        pytest.fail("training started before the storage problem was reported")


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
        run(fresh(), NoTraining(), loaders()[1], 1, checkpoint=ckpt)
    _assert_write_error(err, ckpt, "the disk is full", "No space left on device",
                        f"df -h {disk.path}", "pass checkpoint= a path on another disk")
    assert err.value.errno == errno.ENOSPC


def test_a_disk_too_small_for_the_model_is_reported_before_the_first_step(small_disk):
    disk = small_disk()
    if not disk.real:
        pytest.skip("needs a real small file system (tmpfs, as root on Linux)")
    big = fresh()
    big.register_buffer("ballast", torch.zeros(2**19))  # 2 MB of weights on a 1 MB disk
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        run(big, NoTraining(), loaders()[1], 1, checkpoint=disk.path / "run.pt")
    _assert_write_error(err, disk.path / "run.pt", "the disk is full",
                        "more than the model's 2.0 MB")
    assert sorted(p.name for p in disk.path.iterdir()) == []  # the lock went too


def test_a_read_only_folder_is_reported_before_the_first_step(small_disk):
    disk = small_disk(read_only=True)
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        run(fresh(), NoTraining(), loaders()[1], 1, checkpoint=disk.path / "run.pt")
    _assert_write_error(err, disk.path / "run.pt", "the file system is read-only",
                        "Read-only file system", "pass checkpoint= a path on a writable disk")


def test_an_unwritable_folder_is_reported_before_the_first_step(tmp_path, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    real_open = os.open

    def denied(path, *args, **kwargs):  # root ignores chmod, so act as if it were denied
        if Path(os.fspath(path)).is_relative_to(folder):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", denied)
    _deny(monkeypatch, folder, ("open",))
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        run(fresh(), NoTraining(), loaders()[1], 1, checkpoint=folder / "run.pt")
    _assert_write_error(err, folder / "run.pt", "permission denied", f"chmod u+w {folder}")


def test_a_parent_that_cannot_be_created_is_reported_before_the_first_step(tmp_path):
    (tmp_path / "runs").write_text("a file, not a folder")
    ckpt = tmp_path / "runs" / "alexnet" / "run.pt"
    with pytest.raises(d2lite.CheckpointWriteError) as err:
        run(fresh(), NoTraining(), loaders()[1], 1, checkpoint=ckpt)
    _assert_write_error(err, ckpt.parent, "Cannot create the checkpoint folder",
                        "a file stands where a folder of the path should be")


@pytest.mark.parametrize("every, kept", [(None, "holds epoch 1."),
                                         (2, "holds epoch 2 up to step 2 of 6.")])
def test_a_disk_that_fills_mid_run_keeps_the_checkpoint_history_and_model(small_disk, every,
                                                                          kept):
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
        run(net, FillAt(), loaders()[1], 3, checkpoint=ckpt, checkpoint_every=every)
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
# Checkpoints from elsewhere, format versions, the lock (issue 15)
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
    with pytest.raises(d2lite.CheckpointError, match=f"{ckpt} is in checkpoint format 3, "
                                                     "written by a newer d2lite") as err:
        d2lite.load_checkpoint(ckpt, tiny_cnn())
    assert "reads formats up to 2" in str(err.value) and "Update d2lite" in str(err.value)
    del state["format"]  # format 1, before issue 15: still loads
    torch.save(state, ckpt)
    assert d2lite.load_checkpoint(ckpt, tiny_cnn())["epoch"] == 0


def _write_lock(path: Path, **owner) -> Path:
    lock = path.with_name(path.name + ".lock")
    owner = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2026-01-01", **owner}
    lock.write_text(json.dumps(owner))
    return lock


@pytest.mark.parametrize("owner", [{"pid": 1}, {"pid": 4242, "host": "other-machine"}])
def test_a_live_or_foreign_lock_refuses_the_second_run(tmp_path, owner):
    ckpt = tmp_path / "run.pt"
    lock = _write_lock(ckpt, **owner)  # pid 1 (init) is always alive
    with pytest.raises(d2lite.CheckpointLockError) as err:
        run(fresh(), NoTraining(), loaders()[1], 1, checkpoint=ckpt)
    message = str(err.value)
    assert f"Another training run is writing the checkpoint {ckpt}" in message
    assert f"pid {owner['pid']} on {owner.get('host', socket.gethostname())}" in message
    assert f"delete {lock}" in message and lock.exists()  # someone else's: left alone


def test_a_stale_lock_is_recovered(tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: its pid names no process now
    ckpt = tmp_path / "run.pt"
    lock = _write_lock(ckpt, pid=dead.pid)
    run(fresh(), *loaders(), 1, checkpoint=ckpt, verbose=True, progress="off")
    assert f"removed the stale lock {lock} (pid {dead.pid}, no longer running)" in \
        capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]
