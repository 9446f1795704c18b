"""run/cli.py: `python -m d2lite train`, its options, and its exit statuses.

References: argparse's own usage errors (status 2), the library's messages (status 1), and
CLI_SETTINGS for the defaults --help states. The cases are those of
docs/when-things-go-wrong.md, "Several processes".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    ROOT,
)

import d2lite


def test_help_lists_every_option_with_its_default():
    out = subprocess.run(
        [sys.executable, "-m", "d2lite", "train", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in (
        "--setting",
        "--epochs",
        "--batch-size",
        "--lr",
        "--momentum",
        "--weight-decay",
        "--amp",
        "--channels-last",
        "--compile",
        "--data-dir",
        "--checkpoint",
        "--resume",
        "--seed",
        "--history",
    ):
        assert option in out, option
    assert "quick 1, cpu 2, full 10" in out  # --epochs, by setting
    assert "(default: 0.9)" in out and "(default: 0.0005)" in out and "(default: auto)" in out


@pytest.mark.parametrize(
    "args, words",
    [
        (["--epochs", "two"], "--epochs: 'two' is not an integer"),
        (["--batch-size", "0"], "--batch-size: '0' must be at least 1"),
        (["--lr", "-1"], "--lr: '-1' must be a finite number > 0"),
        (["--amp", "fp8"], "--amp: 'fp8' is not auto, bf16, fp16 or fp32"),
        (["--subset", "10,x"], "give N training images or N,M"),
        (["--resume"], "--resume needs --checkpoint"),
        (["--checkpoint-every", "soon", "--checkpoint", "x.pt"], "--checkpoint-every"),
        (["--dropout", "1"], "must be in [0, 1)"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(args, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as stop:
        d2lite.main(["train", *args])
    assert stop.value.code == 2
    assert words in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # nothing written


def test_missing_data_exits_1_with_the_data_message(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), D2LITE_DATA=str(tmp_path))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "d2lite",
            "train",
            "--setting",
            "quick",
            "--data-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


def test_setting_defaults_come_from_cli_settings(monkeypatch, capsys):
    with pytest.raises(SystemExit):
        d2lite.main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    q, c = d2lite.CLI_SETTINGS["quick"], d2lite.CLI_SETTINGS["cpu"]
    assert f"quick {q['batch_size']}, cpu {c['batch_size']}" in out
    assert f"default {d2lite.BASE_LR} x the number of processes" in out


def test_validation_each_epoch_then_the_test_set_once(tmp_path, fashion_root, capsys):
    """With --validation, train prints val acc per epoch and test acc once; the JSON's "test"
    matches a forward pass over the same test images done here, in float32."""
    ckpt, record = tmp_path / "run.pt", tmp_path / "run.json"
    args = ["train", "--data-dir", str(fashion_root), "--subset", "64,48", "--validation", "32"]
    args += ["--epochs", "2", "--batch-size", "32", "--amp", "fp32", "--progress", "off"]
    assert d2lite.main([*args, "--checkpoint", str(ckpt), "--history", str(record)]) == 0
    out = capsys.readouterr().out
    assert out.count("val acc") == 2 + 1 and "test acc" in out  # 2 epochs + the summary line
    assert out.count("evaluated once") == 1
    source = Path(d2lite.load_fashion_mnist_arrays(fashion_root).source).resolve()  # its data
    assert f"data: {source} (64 training, 32 validation, 48 test images)" in out
    assert f"checkpoint: {ckpt.resolve()}, written after every epoch" in out
    saved = json.loads(record.read_text())
    assert saved["eval_set"] == "val" and len(saved["test_acc"]) == 2
    assert saved["test"]["images"] == 48
    net = d2lite.alexnet()
    net.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    net.eval()
    _, _, test_iter = d2lite.load_data_fashion_mnist_split(
        48, resize=224, validation=32, data_dir=fashion_root, subset=(64, 48)
    )
    X, y = next(iter(test_iter))
    with torch.no_grad():
        logits = net(X)
    assert saved["test"]["acc"] == pytest.approx((logits.argmax(1) == y).float().mean().item())
    assert saved["test"]["loss"] == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-4)


def test_validation_0_is_the_tutorials_test_set_every_epoch(tmp_path, fashion_root, capsys):
    record = tmp_path / "run.json"
    args = ["train", "--data-dir", str(fashion_root), "--subset", "64,48", "--validation", "0"]
    args += ["--epochs", "1", "--batch-size", "32", "--progress", "off", "--history", str(record)]
    assert d2lite.main(args) == 0
    out = capsys.readouterr().out
    assert "test acc" in out and "val acc" not in out and "evaluated once" not in out
    saved = json.loads(record.read_text())
    assert saved["eval_set"] == "test" and "test" not in saved


def test_resume_goes_on_at_the_checkpoints_rate_unless_lr_is_given(tmp_path, fashion_root, capsys):
    """--resume without --lr keeps the run's rate (not the default); with --lr and more epochs
    it is a continuation at that rate, said in one line."""
    ckpt = tmp_path / "run.pt"
    args = ["train", "--data-dir", str(fashion_root), "--subset", "64,32", "--validation", "32"]
    args += ["--batch-size", "32", "--amp", "fp32", "--progress", "off", "--checkpoint", str(ckpt)]
    lr_of = lambda: torch.load(ckpt, weights_only=True)["optimizer"]["param_groups"][0]["lr"]  # noqa: E731
    assert d2lite.main([*args, "--epochs", "1", "--lr", "0.03"]) == 0 and lr_of() == 0.03
    capsys.readouterr()
    assert d2lite.main([*args, "--epochs", "2", "--resume"]) == 0
    out = capsys.readouterr().out
    assert "lr 0.03 (the checkpoint's)" in out and "learning rate" not in out
    assert lr_of() == 0.03 and torch.load(ckpt, weights_only=True)["epoch"] == 2
    assert d2lite.main([*args, "--epochs", "3", "--resume", "--lr", "0.003"]) == 0
    out = capsys.readouterr().out
    assert "learning rate 0.003 from here on (the checkpoint's run trained at 0.03)" in out
    assert lr_of() == 0.003 and torch.load(ckpt, weights_only=True)["epoch"] == 3
