"""A small training run that test_fault_injection.py interrupts and kills.

    python tests/fault_worker.py CHECKPOINT RESULT_JSON [--epochs 8] [--resume] [--ballast-mb 0]

It trains a tiny CNN on synthetic 28x28 "garments" (one fixed noisy prototype per class), with
deterministic settings and one CPU thread, saving a checkpoint after every epoch. When
``train`` returns (finished, or stopped by Ctrl-C/SIGINT) it writes the history and a digest of
the final weights to RESULT_JSON and prints DONE. ``--ballast-mb`` adds an unused buffer so
that each checkpoint takes a while to write (a bigger target for SIGKILL).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils import data

import d2lite

N_TRAIN, N_TEST, BATCH = 768, 256, 32  # 24 steps per epoch: ~0.3-1 s on a shared CPU core
LR, MOMENTUM = 0.05, 0.9  # momentum: the optimizer state must be restored too


def build_model(ballast_mb: int = 0) -> nn.Module:
    net = nn.Sequential(
        nn.Conv2d(1, 8, kernel_size=3, stride=2), nn.ReLU(),  # (B, 8, 13, 13)
        nn.Flatten(), nn.Dropout(0.2),  # dropout: the RNG state must be restored too
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
    X = (prototypes[y] + 0.8 * torch.randn(n, 1, 28, 28, generator=g)).clamp(0, 1)
    return data.TensorDataset(X, y)


def loaders() -> tuple[data.DataLoader, data.DataLoader]:
    return (data.DataLoader(make_data(N_TRAIN, 0), BATCH, shuffle=True, num_workers=0),
            data.DataLoader(make_data(N_TEST, 1), 128, num_workers=0))


def weights_digest(net: nn.Module) -> str:
    h = hashlib.sha256()
    for name, p in net.named_parameters():
        h.update(name.encode())
        h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("result", type=Path)
    parser.add_argument("--epochs", type=int, default=8, help="total epochs (default 8)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    parser.add_argument("--ballast-mb", type=int, default=0, help="checkpoint padding (0)")
    args = parser.parse_args(argv)

    torch.set_num_threads(1)  # same reduction order in every process, and fair to the CPU
    d2lite.set_seed(0, deterministic=True)
    net = d2lite.init_weights(build_model(args.ballast_mb))
    train_iter, test_iter = loaders()
    animator = d2lite.Animator(xlabel="epoch", legend=["train loss", "train acc", "test acc"],
                               live=False)  # prints "epoch k: ..." after each epoch
    history = d2lite.train(net, train_iter, test_iter, args.epochs, LR, "cpu",
                           momentum=MOMENTUM, animator=animator, checkpoint=args.checkpoint,
                           resume=args.resume)
    args.result.write_text(json.dumps({"history": history.to_dict(),
                                       "weights": weights_digest(net)}))
    print("DONE", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
