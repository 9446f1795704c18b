"""A small training run that test_fault_injection.py interrupts and kills.

    python tests/fault_worker.py CHECKPOINT RESULT_JSON [--epochs 6] [--resume] [--ballast-mb 0]
                                 [--step-delay 0] [--checkpoint-every N|10min] [--pause-in-write N]
    python tests/fault_worker.py --serve     # fork server: one JSON request per stdin line

It trains a tiny CNN on synthetic 28x28 "garments" (one fixed noisy prototype per class), with
deterministic settings and one CPU thread, saving a checkpoint after every epoch (it prints
"saving epoch N" as each write starts). ``--pause-in-write N`` stops the N-th write halfway: half
the checkpoint's bytes are in the temporary file, flushed, the line "paused halfway through write
N" is printed, and the process sleeps there until it is killed, so a test's SIGKILL lands
mid-write every time, on any machine. When
``train`` returns (finished, or stopped by Ctrl-C/SIGINT) it writes the history and a digest of
the final weights to RESULT_JSON and prints DONE. ``--ballast-mb`` adds an unused buffer so
that each checkpoint takes a while to write (a bigger target for SIGKILL). ``--step-delay``
sleeps before each training batch, so an epoch lasts at least 48 times that however fast the
CPU is (a test that aims a signal at the middle of an epoch needs that); the results do not
depend on it. ``--checkpoint-every`` passes ``checkpoint_every`` (mid-epoch checkpoints; their
writes print "saving epoch N step K"). SIGTERM makes ``train`` save and exit with status 143.

``--serve`` exists because importing torch takes 2-6 s on a busy CPU: the server imports once
and forks a fresh process per run (``{"run": [args...], "log": path}`` -> ``{"pid": n}``;
``{"wait": pid}`` -> ``{"rc": exit code}``). It runs no torch op before forking, so no
thread pool is copied into the children. POSIX only.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import io
import json
import os
import signal
import sys
import time
import traceback
from pathlib import Path

import torch
from torch import nn
from torch.utils import data

import d2lite

N_TRAIN, N_TEST, BATCH = 1536, 256, 32  # 48 steps per epoch: ~0.3-1 s on a shared CPU core
LR, MOMENTUM = 0.05, 0.9  # momentum: the optimizer state must be restored too


def build_model(ballast_mb: int = 0) -> nn.Module:
    net = nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, stride=2),
        nn.ReLU(),  # (B, 8, 13, 13)
        nn.Flatten(),
        nn.Dropout(0.2),  # dropout: the RNG state must be restored too
        nn.Linear(8 * 13 * 13, 10),
    )
    # Unused by forward, but saved in every checkpoint: makes each write take ~0.1-0.3 s.
    net.register_buffer("ballast", torch.zeros(ballast_mb * 2**20 // 4))
    return net


def make_data(n: int, seed: int) -> data.TensorDataset:
    """n noisy copies of 10 fixed class prototypes, generated independently of global RNG."""
    g = torch.Generator().manual_seed(1234)
    prototypes = torch.rand(10, 1, 28, 28, generator=g)
    g.manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    X = (prototypes[y] + 2.0 * torch.randn(n, 1, 28, 28, generator=g)).clamp(0, 1)
    return data.TensorDataset(X, y)


def loaders() -> tuple[data.DataLoader, data.DataLoader]:
    return (
        data.DataLoader(make_data(N_TRAIN, 0), BATCH, shuffle=True, num_workers=0),
        data.DataLoader(make_data(N_TEST, 1), 128, num_workers=0),
    )


class SlowLoader:
    """``loader``'s batches, each after a pause of ``delay`` seconds."""

    def __init__(self, loader: data.DataLoader, delay: float):
        self.loader, self.delay = loader, delay

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        for batch in self.loader:
            time.sleep(self.delay)
            yield batch


def weights_digest(net: nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in net.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def hook_checkpoint_writes(pause_in_write: int = 0) -> None:
    """Announce each checkpoint write; with ``pause_in_write=N``, stop halfway through the N-th.

    d2lite writes a checkpoint with ``torch.save`` into a temporary file, then renames it over
    the previous one. Patching ``torch.save`` (in this process only) reaches that write wherever
    the library keeps it. The paused write has flushed half its bytes into the temporary file
    and the previous checkpoint is still in place: the moment a SIGKILL must never corrupt.
    """
    real_save, writes = torch.save, 0

    def save(obj, f, *args, **kwargs):
        nonlocal writes
        if not (isinstance(obj, dict) and "model" in obj and hasattr(f, "write")):
            return real_save(obj, f, *args, **kwargs)  # not a checkpoint write
        writes += 1
        step = f" step {obj['position']['step']}" if obj.get("position") else ""
        print(f"saving epoch {obj['epoch']}{step}", flush=True)
        if writes != pause_in_write:
            return real_save(obj, f, *args, **kwargs)
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        payload = buffer.getvalue()
        f.write(payload[: len(payload) // 2])
        f.flush()
        print(f"paused halfway through write {writes}", flush=True)
        time.sleep(3600)  # the test SIGKILLs the process here
        f.write(payload[len(payload) // 2 :])
        return None

    torch.save = save


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--epochs", type=int, default=6, help="total epochs (default 6)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--ballast-mb", type=int, default=0, help="checkpoint padding (0)")
    parser.add_argument("--step-delay", type=float, default=0.0, help="seconds before each batch")
    parser.add_argument(
        "--checkpoint-every",
        default=None,
        help="train's checkpoint_every: steps (an int) or a duration (none)",
    )
    parser.add_argument(
        "--pause-in-write",
        type=int,
        default=0,
        help="stop halfway through this checkpoint write (1 = the first; 0: none)",
    )
    args = parser.parse_args(argv)
    every = args.checkpoint_every
    every = int(every) if every is not None and every.isdigit() else every

    torch.set_num_threads(1)  # same reduction order in every process, and fair to the CPU
    # Ctrl-C must raise KeyboardInterrupt here as in a user's terminal or Jupyter kernel. A
    # process started from a non-interactive shell's background job inherits SIGINT ignored,
    # and Python then installs no handler, so the test's SIGINT would do nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    hook_checkpoint_writes(args.pause_in_write)
    d2lite.set_seed(0, deterministic=True)
    net = d2lite.init_weights(build_model(args.ballast_mb))
    train_iter, test_iter = loaders()
    if args.step_delay > 0:
        train_iter = SlowLoader(train_iter, args.step_delay)
    animator = d2lite.Animator(
        xlabel="epoch", legend=["train loss", "train acc", "test acc"], live=False
    )  # prints "epoch k: ..." after each epoch
    history = d2lite.train(
        net,
        train_iter,
        test_iter,
        args.epochs,
        LR,
        "cpu",
        momentum=MOMENTUM,
        animator=animator,
        checkpoint=args.checkpoint,
        resume=args.resume,
        checkpoint_every=every,
    )
    args.result.write_text(
        json.dumps({"history": history.to_dict(), "weights": weights_digest(net)})
    )
    print("DONE", flush=True)
    return 0


def serve() -> int:
    """Answer run/wait requests from stdin until it closes (see the module docstring)."""
    torch.set_num_threads(1)
    importlib.import_module("torch._inductor.config")  # set_seed(deterministic=True) needs it:
    # importing it once here, not in every child, saves 2-6 s per run (no threads start)
    for line in sys.stdin:
        request = json.loads(line)
        if "run" in request:
            pid = os.fork()
            if pid == 0:  # the child: output to its log, train, never return into the loop
                fd = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                sys.stdout.reconfigure(line_buffering=True)
                code = 1
                try:
                    code = main(request["run"])
                except SystemExit as err:
                    code = err.code if isinstance(err.code, int) else 1
                except BaseException:  # noqa: BLE001 - report anything, then exit
                    traceback.print_exc()
                finally:
                    sys.stdout.flush()
                    sys.stderr.flush()
                    os._exit(code)
            reply = {"pid": pid}
        else:
            _, status = os.waitpid(request["wait"], 0)
            reply = {"rc": os.waitstatus_to_exitcode(status)}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(serve() if sys.argv[1:] == ["--serve"] else main())
