"""Short learning-rate sweep for chapter 4's full setting, small enough for a CPU.

Run:  python benchmarks/lr_sweep_cpu.py [--train 6144] [--test 1000] [--epochs 1]

Each run trains a freshly initialised AlexNet (seed 0, Xavier init) on the same fixed subset
of Fashion-MNIST resized 28->224, batch 128, bf16 autocast, then prints train loss and test
accuracy. One short run per setting is a screen, not a verdict: it rules out learning rates
that do not learn or diverge, and it is what a CPU can afford (AlexNet trains at tens of
examples/sec here).
"""

import argparse
import datetime
import time

import torch

import d2lite
from d2lite.run.cli import positive_int

SETTINGS = [  # (lr, momentum)
    (0.01, 0.0),  # d2l's published recipe: plain SGD, lr 0.01
    (0.003, 0.9),
    (0.01, 0.9),
    (0.03, 0.9),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--train", type=positive_int, default=6144, help="training examples (default: 6144)"
    )
    p.add_argument("--test", type=positive_int, default=1000, help="test examples (default: 1000)")
    p.add_argument("--epochs", type=positive_int, default=1, help="epochs per run (default: 1)")
    p.add_argument("--batch-size", type=positive_int, default=128, help="default: 128")
    args = p.parse_args()
    device = d2lite.try_gpu()
    print(
        f"{datetime.date.today()}  device {device}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads"
    )
    print(
        f"subset {args.train} train / {args.test} test, 28->224, batch {args.batch_size}, "
        f"{args.epochs} epoch(s), bf16 autocast, seed 0"
    )
    train_iter, test_iter = d2lite.load_data_fashion_mnist(
        args.batch_size, resize=224, subset=(args.train, args.test), device=device
    )
    print(
        f"{'lr':>6} {'momentum':>9} {'train loss':>11} {'train acc':>10} {'test acc':>9} "
        f"{'seconds':>8}"
    )
    for lr, momentum in SETTINGS:
        d2lite.set_seed(0)
        net = d2lite.init_weights(d2lite.alexnet())
        t0 = time.perf_counter()
        try:
            h = d2lite.train(
                net,
                train_iter,
                test_iter,
                args.epochs,
                lr,
                device,
                momentum=momentum,
                amp=True,
                animator=False,
                verbose=False,
            )
            row = f"{h.train_loss[-1]:>11.3f} {h.train_acc[-1]:>10.3f} {h.test_acc[-1]:>9.3f}"
        except d2lite.TrainingDivergedError:
            row = f"{'diverged':>11} {'':>10} {'':>9}"
        print(f"{lr:>6g} {momentum:>9g} {row} {time.perf_counter() - t0:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
