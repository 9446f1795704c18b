"""tools/record_full_run.py: reading the full run's console log into dates, run time and
interruptions. The reference is a log written here, whose answer is worked out by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import record_full_run as rec  # noqa: E402

LOG = """\
=== started 2026-12-05T12:00:00Z on AMD EPYC at commit abc1234; load: 0.10 0.20 0.30
=== command: python -m d2lite train --setting full
full setting: 10 epoch(s), 430 steps per epoch
[epoch 1/10] step 86/430, 62.5 examples/s
[epoch 2/10] step 172/430, 62.2 examples/s
=== exit 143 at 2026-12-05T13:00:00Z
=== started 2026-12-05T14:00:00Z on AMD EPYC at commit abc1234; load: 0.05 0.10 0.20
=== command: python -m d2lite train --setting full --resume
resumed from /c/full.pt in epoch 2 after step 172
[epoch 2/10] step 258/430, 61.0 examples/s
[epoch 3/10] step 86/430, 61.0 examples/s
=== started 2026-12-05T16:00:00Z on Intel Xeon at commit def5678; load: 0.00 0.00 0.00
=== command: python -m d2lite train --setting full --resume
resumed from /c/full.pt after epoch 2
[epoch 10/10] step 430/430, 61.0 examples/s
=== exit 0 at 2026-12-05T18:30:00Z
"""


def test_segments_carry_their_start_end_and_steps():
    segs = rec.parse_log(LOG)
    assert [s["status"] for s in segs] == [143, None, 0]
    assert [s["cpu"] for s in segs] == ["AMD EPYC", "AMD EPYC", "Intel Xeon"]
    assert segs[0]["command"] == "python -m d2lite train --setting full"
    # global steps: (epochs done) x 430 + step
    assert [s["resumed_at"] for s in segs] == [0, 430 + 172, 2 * 430]
    assert [s["last_seen"] for s in segs] == [430 + 172, 2 * 430 + 86, 9 * 430 + 430]


def test_interruptions_say_how_and_what_they_lost():
    stops = rec.interruptions(rec.parse_log(LOG))
    assert [s["how"] for s in stops] == ["SIGTERM (exit 143)", "killed (no exit line)"]
    assert [s["steps_lost_at_least"] for s in stops] == [0, 86]  # 946 seen, resumed at 860
    assert stops[1]["resumed"] == "2026-12-05T16:00:00Z"


def test_run_times_count_only_segments_with_an_end():
    times = rec.run_times(rec.parse_log(LOG))
    assert times["wall_seconds"] == 6.5 * 3600
    assert times["ran_seconds"] == 1 * 3600 + 2.5 * 3600  # the killed segment's end is unknown
    assert times["segments_without_end"] == 1


@pytest.mark.parametrize(
    "command, lr",
    [
        ("python -m d2lite train --setting full --lr 0.01 --resume", 0.01),
        ("python -m d2lite train --epochs 12 --lr=1e-3", 0.001),
        ("python -m d2lite train --setting full", None),  # the setting's own rate: not in the log
        (None, None),  # a log without a command line
    ],
)
def test_the_record_names_the_rate_the_command_gave(command, lr):
    assert rec._given_lr(command) == lr


def test_a_finished_run_becomes_a_record(tmp_path, fashion_root):
    """End to end on a tiny run of the command line: the record's figures are the run's own
    (history, test evaluation) and the filters are the checkpoint's conv1 weights."""
    import json

    import numpy as np
    import torch

    import d2lite

    ckpt, history = tmp_path / "run.pt", tmp_path / "run.json"
    args = ["train", "--data-dir", str(fashion_root), "--subset", "64,48", "--validation", "32"]
    args += ["--epochs", "2", "--batch-size", "32", "--progress", "lines"]
    args += ["--checkpoint", str(ckpt), "--history", str(history)]
    assert d2lite.main(args) == 0
    log = tmp_path / "run.log"
    log.write_text(
        "=== started 2026-12-05T12:00:00Z on Test CPU at commit abc1234; load: 0.1 0.1 0.1\n"
        "=== command: python -m d2lite train ...\n"
        "[epoch 2/2] step 2/2, 50.0 examples/s\n"
        "=== exit 0 at 2026-12-05T12:01:40Z\n"
    )
    out = tmp_path / "record.json"
    filters = tmp_path / "conv1.npy"
    rec.main(
        [f"--checkpoint={ckpt}", f"--history={history}", f"--log={log}"]
        + [f"--data-dir={fashion_root}", f"--out={out}", f"--filters={filters}"]
        + ["--matmul-n=256"]
    )
    record, run = json.loads(out.read_text()), json.loads(history.read_text())
    assert record["final_test"]["acc"] == round(run["test"]["acc"], 4)
    assert record["test"]["images"] == 48 == sum(map(sum, record["test"]["confusion_matrix"]))
    assert [e["val_acc"] for e in record["epochs"]] == [round(a, 4) for a in run["test_acc"]]
    assert record["times"] == {
        "started": "2026-12-05T12:00:00Z", "finished": "2026-12-05T12:01:40Z",
        "wall_seconds": 100, "ran_seconds": 100, "segments_without_end": 0,
    }  # fmt: skip
    speed = record["speed"]  # MFU: model FLOP/s over the matmul's FLOP/s, measured here
    achieved = speed["sustained_examples_per_sec"] * speed["training_flops_per_example"]
    assert speed["mfu"] == pytest.approx(achieved / speed["matmul_flops"], rel=0.01)
    assert speed["mfu"] > 0 and record["hardware"]["cpu"] == "Test CPU"
    assert record["lr"] is None  # the log's command gave no --lr
    weights = torch.load(ckpt, weights_only=True)["model"]["0.weight"]
    assert np.array_equal(np.load(filters), weights.float().numpy())
