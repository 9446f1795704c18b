"""ddp.py: data-parallel training under torchrun (gloo, 2 CPU processes).

References that do not come from d2lite itself:
- the shards are compared with PyTorch's own `DistributedSampler` for the same seed and epoch;
- 2 processes x batch 64 are compared with 1 process x batch 128 on the same data order: DDP's
  averaged gradient must equal the gradient of the whole batch, so the per-step losses and
  the final weights agree to float32 rounding;
- a resumed 2-process run is compared with the same run uninterrupted, bit for bit.

Every run uses real Fashion-MNIST at 224x224 and lasts seconds: one step per epoch where the
per-step losses are compared (each epoch's loss is then one step's loss). The cases are those of
docs/when-things-go-wrong.md, "Several processes".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import (
    ROOT,
    cli_env,
    held_lock,
    run_cli,
)
from torch.utils import data

import d2lite
import d2lite.run.resume
import d2lite.run.trainer

FLOAT32 = [
    "--amp",
    "fp32",
    "--dropout",
    "0",
    "--deterministic",
    "--no-channels-last",
    "--weight-decay",
    "0",
]


def weights(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


def history(path: Path) -> dict:
    return json.loads(path.read_text())


def _shards(n: int, world: int, epoch: int, seed: int = 3) -> list[torch.Tensor]:
    images, labels = torch.zeros(n, 28, 28, dtype=torch.uint8), torch.arange(n)
    out = []
    for rank in range(world):
        loader = d2lite.DeviceLoader(
            images, labels, 8, shuffle=True, seed=seed, rank=rank, world_size=world
        )
        loader.set_epoch(epoch)
        out.append(torch.cat([y for _, y in loader]))  # the labels are the example indices
    return out


@pytest.mark.parametrize("n, world", [(100, 2), (101, 2), (50, 3)])
def test_shards_are_disjoint_cover_the_epoch_and_match_distributed_sampler(n, world):
    for epoch in (0, 1):
        shards = _shards(n, world, epoch)
        everything = torch.cat(shards)
        assert len(set(everything.tolist())) == len(everything)  # disjoint
        assert len(everything) == n - n % world  # the epoch, less n % world examples
        assert {len(s) for s in shards} == {n // world}  # equal: no process waits for another
        for rank, shard in enumerate(shards):
            sampler = data.DistributedSampler(
                range(n), world, rank, shuffle=True, seed=3, drop_last=True
            )
            sampler.set_epoch(epoch)
            assert shard.tolist() == list(sampler)


def test_the_order_changes_between_epochs_and_not_between_processes():
    first, second = _shards(200, 2, 0), _shards(200, 2, 1)
    assert all(a.tolist() != b.tolist() for a, b in zip(first, second))
    again = _shards(200, 2, 0)  # another process computing epoch 0: the same shards
    assert [s.tolist() for s in again] == [s.tolist() for s in first]


def test_a_trainer_that_forgets_set_epoch_repeats_its_order_and_train_does_not():
    images, labels = torch.zeros(64, 28, 28, dtype=torch.uint8), torch.arange(64)
    loader = d2lite.DeviceLoader(images, labels, 16, shuffle=True, seed=0)
    orders = [torch.cat([y for _, y in loader]).tolist() for _ in range(2)]
    assert orders[0] == orders[1]  # what the sampler pitfall looks like
    d2lite.run.resume._set_epoch(loader, 1)  # what train does before each epoch
    assert torch.cat([y for _, y in loader]).tolist() != orders[0]


@pytest.mark.parametrize("n, world", [(10, 3), (64, 2)])
def test_test_shards_hold_every_image_once(n, world):
    images, labels = torch.zeros(n, 28, 28, dtype=torch.uint8), torch.arange(n)
    seen = []
    for rank in range(world):
        loader = d2lite.DeviceLoader(images, labels, 4, rank=rank, world_size=world)
        seen += torch.cat([y for _, y in loader]).tolist()
    assert sorted(seen) == list(range(n))


def test_dataloader_path_shards_like_the_device_path(fashion_root):
    kw = dict(data_dir=fashion_root, subset=(96, 30), seed=5)
    on_device, _ = d2lite.load_data_fashion_mnist(16, device="cpu", **kw)
    workers, _ = d2lite.load_data_fashion_mnist(16, num_workers=0, **kw)
    for loader in (on_device, workers):
        d2lite.run.resume._set_epoch(loader, 2)
    a, b = ([torch.cat(t) for t in zip(*loader)] for loader in (on_device, workers))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # images and labels


def test_an_unsharded_train_iter_under_torchrun_is_refused():
    images, labels = torch.zeros(8, 28, 28, dtype=torch.uint8), torch.arange(8)
    loader = d2lite.DeviceLoader(images, labels, 4, shuffle=True)
    with pytest.raises(ValueError, match="all the training data"):
        d2lite.run.trainer._check_shards(loader, d2lite.Distributed(0, 0, 2, "gloo"))


def test_a_sharded_loader_without_a_seed_is_refused():
    images, labels = torch.zeros(8, 28, 28, dtype=torch.uint8), torch.arange(8)
    with pytest.raises(ValueError, match="seed"):
        d2lite.DeviceLoader(images, labels, 4, shuffle=True, rank=0, world_size=2)


def test_processes_with_unequal_batch_counts_are_refused(monkeypatch):
    images, labels = torch.zeros(8, 28, 28, dtype=torch.uint8), torch.arange(8)
    loader = d2lite.DeviceLoader(images, labels, 4, shuffle=True, seed=0, rank=0, world_size=2)
    monkeypatch.setattr(
        d2lite.run.trainer, "_gather", lambda n: [n, n + 1]
    )  # what rank 1 would report
    with pytest.raises(ValueError, match=r"different numbers of training batches \(\[1, 2\]"):
        d2lite.run.trainer._check_shards(loader, d2lite.Distributed(0, 0, 2, "gloo"))


def test_each_process_must_drive_its_own_gpu(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    with pytest.raises(ValueError, match="LOCAL_RANK=1: each process must drive its own GPU"):
        d2lite.device._local_device("cuda:0")
    assert d2lite.device._local_device("cpu") == torch.device("cpu")


def test_alone_nothing_is_distributed(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert not d2lite.launched_by_torchrun()
    world, device = d2lite.init_distributed("cpu")  # outside torchrun: changes nothing
    assert world == d2lite.Distributed() == d2lite.distributed() and world.is_main
    assert device == torch.device("cpu")
    assert d2lite.all_reduce_sums([torch.tensor(2.5), 3]) == [2.5, 3.0]
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert d2lite.launched_by_torchrun()
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two' is not an integer"):
        d2lite.launched_by_torchrun()


# ----------------------------------------------------------------------------------------------
# Training in two processes
# ----------------------------------------------------------------------------------------------


def test_two_processes_of_64_train_like_one_of_128(tmp_path, fashion_root):
    """One step per epoch (128 images), so each epoch's loss is one step's loss."""
    common = ["--subset", "128,64", "--validation", "64", "--epochs", "2", "--lr", "0.01"]
    common += FLOAT32
    t0 = time.perf_counter()
    run_cli(
        [
            *common,
            "--batch-size",
            "128",
            "--checkpoint",
            str(tmp_path / "one.pt"),
            "--history",
            str(tmp_path / "one.json"),
        ],
        fashion_root,
    )
    two = run_cli(
        [
            *common,
            "--batch-size",
            "64",
            "--checkpoint",
            str(tmp_path / "two.pt"),
            "--history",
            str(tmp_path / "two.json"),
        ],
        fashion_root,
        nproc=2,
    )
    seconds = time.perf_counter() - t0
    h1, h2 = history(tmp_path / "one.json"), history(tmp_path / "two.json")
    assert h1["processes"] == 1 and h2["processes"] == 2
    assert "global batch 128 = 2 x 64" in two.stdout and "lr=0.01" in two.stdout
    assert two.stdout.count("training on") == 1  # rank 0 alone prints
    loss_diff = max(abs(a - b) for a, b in zip(h1["train_loss"], h2["train_loss"]))
    assert len(h1["train_loss"]) == 2 and h1["train_loss"][-1] < h1["train_loss"][0]
    assert h1["eval_set"] == "val" and "val acc" in two.stdout
    assert h1["test_acc"] == h2["test_acc"]  # 64 validation images: the same predictions
    assert two.stdout.count("evaluated once") == 1  # the test set, after the last epoch
    assert h1["test"]["acc"] == h2["test"]["acc"] and h1["test"]["images"] == 64
    assert h1["test"]["loss"] == pytest.approx(h2["test"]["loss"], rel=1e-5)  # summed by shard
    w1, w2 = weights(tmp_path / "one.pt"), weights(tmp_path / "two.pt")
    weight_diff = max((w1[k] - w2[k]).abs().max().item() for k in w1)
    moved = max(
        (w1[k] - d2lite.init_weights(d2lite.alexnet(dropout=0), seed=0).state_dict()[k])
        .abs()
        .max()
        .item()
        for k in w1
    )
    print(
        f"\n[ddp equivalence] max |loss diff| {loss_diff:.2e}, max |weight diff| "
        f"{weight_diff:.2e} (weights moved up to {moved:.2e}); {seconds:.0f} s for both runs"
    )
    assert loss_diff < 1e-5
    assert weight_diff < 1e-5 < moved


class _Output:
    """Collects a process's output lines in a thread, so a test can wait for one."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=lambda: self.lines.extend(proc.stdout), daemon=True)
        self.thread.start()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not any(text in line for line in self.lines):
            time.sleep(0.05)
        assert any(text in line for line in self.lines), "".join(self.lines)[-3000:]

    def all(self, proc: subprocess.Popen, timeout: float) -> str:
        proc.wait(timeout=timeout)
        self.thread.join(timeout=10)
        return "".join(self.lines)


def _launch(args: list[str], fashion_root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            "-m",
            "d2lite",
            "train",
            *args,
        ],
        cwd=ROOT,
        env=cli_env(fashion_root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_sigterm_then_resume_continues_a_two_process_run_exactly(tmp_path, fashion_root):
    """torchrun passes SIGTERM to its workers: they agree on the step, rank 0 saves the exact
    position, every process exits; resuming gives the uninterrupted run's weights bit for bit."""
    common = [
        "--subset",
        "256,64",
        "--validation",
        "64",
        "--epochs",
        "2",
        "--batch-size",
        "32",
        "--progress",
        "lines",
        *FLOAT32,
    ]
    run_cli([*common, "--checkpoint", str(tmp_path / "ref.pt")], fashion_root, nproc=2)

    run = _launch([*common, "--checkpoint", str(tmp_path / "run.pt")], fashion_root)
    output = _Output(run)
    output.wait_for("[epoch 1/2] step 2/4", timeout=240)
    run.send_signal(signal.SIGTERM)  # what SLURM or a spot machine sends
    out = output.all(run, timeout=60)
    assert run.returncode != 0
    assert "Stopped by SIGTERM in epoch 1" in out and "again with --resume" in out
    state = torch.load(tmp_path / "run.pt", map_location="cpu", weights_only=True)
    assert state["epoch"] == 0 and 2 <= state["position"]["step"] < 4
    assert len(state["rank_rng"]) == 2
    assert not (tmp_path / "run.pt.lock").exists()

    resumed = run_cli(
        [*common, "--checkpoint", str(tmp_path / "run.pt"), "--resume"], fashion_root, nproc=2
    )
    assert "resumed from" in resumed.stdout
    ref, res = weights(tmp_path / "ref.pt"), weights(tmp_path / "run.pt")
    assert all(torch.equal(ref[k], res[k]) for k in ref)


def _worker_pid(parent: int, rank: int) -> int | None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and f"RANK={rank}".encode() in env:
            return int(entry.name)
    return None


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_a_dead_rank_ends_the_whole_job_with_a_message_naming_it(tmp_path, fashion_root):
    run = _launch(
        [
            "--subset",
            "1024,64",
            "--validation",
            "64",
            "--epochs",
            "1",
            "--batch-size",
            "64",
            "--progress",
            "lines",
            "--amp",
            "fp32",
        ],
        fashion_root,
    )
    output = _Output(run)
    output.wait_for("step 2/8", timeout=240)
    pid = _worker_pid(run.pid, 1)
    assert pid is not None
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)  # an out-of-memory kill, a crashed machine
    out = output.all(run, timeout=120)  # bounded: no hang
    seconds = time.monotonic() - t0
    print(f"\n[dead rank] the job ended {seconds:.1f} s after rank 1 was killed")
    assert run.returncode != 0
    assert "rank: 1" in out and ("Signal 9" in out or "exitcode: -9" in out), out[-3000:]
    assert seconds < 90


def test_a_checkpoint_locked_by_another_run_stops_every_rank(tmp_path, fashion_root):
    """Rank 0 finds the lock of a live run; rank 1 learns it and stops too: no training."""
    path = tmp_path / "run.pt"
    with held_lock(path, started="now"):  # this test process holds it, as a live run would
        args = ["--subset", "128,64", "--epochs", "1", "--batch-size", "64", "--checkpoint"]
        proc = run_cli([*args, str(path)], fashion_root, nproc=2, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Another training run is writing the checkpoint" in out
    assert "Rank 0 could not open the checkpoint" in out
    assert "step 1/" not in out and not path.exists()
