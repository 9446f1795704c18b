"""Reliability: training that loses nothing, bad input that explains itself (issue 6).

Run:  D2LITE_DATA=../shared/data .venv/bin/python -m pytest tests/test_reliability.py -q

Every test checks one case of docs/when-things-go-wrong.md: the behaviour, and the words the
user reads. Training runs use tiny models on small data, one CPU thread, deterministic
settings and num_workers=0, so "identical" means bit-for-bit. The process-level faults
(SIGINT, SIGKILL) are in test_fault_injection.py.
"""

from __future__ import annotations

import builtins
import gzip
import io
import math
import os
import random
import re
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
