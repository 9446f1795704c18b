"""tools/lr_screen.py: the full setting's learning-rate screen, its rule, its record, resuming.

The runs themselves are replaced by a stand-in here (a real screen run trains AlexNet for 200
steps); what is checked is the rule, the grid's growth, the record and the restart logic, plus
that the tool's sizes are chapter 4's FULL setting.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import lr_screen  # noqa: E402


def runs(table: dict[float, list[float]]) -> list[dict]:
    return [
        {"lr": lr, "seed": s, "val_acc": a}
        for lr, accs in table.items()
        for s, a in enumerate(accs)
    ]


def full_setting(lang: str) -> dict:
    """The FULL dict of chapter 4's parameters cell, evaluated from the source."""
    tree = ast.parse((ROOT / "notebooks" / lang / "04_training.py").read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "FULL":
            return {k.arg: ast.literal_eval(k.value) for k in node.value.keywords}
    raise AssertionError(f"no FULL = dict(...) in {lang}/04_training.py")


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_tool_screens_at_chapter_4s_full_sizes(lang):
    full = full_setting(lang)
    s = lr_screen.SCREEN
    assert s["lrs"] == full["screen_lrs"] and s["seeds"] == full["screen_seeds"]
    assert s["images"] == full["screen_images"] and s["val"] == full["screen_val"]
    for key in ("validation", "batch_size", "momentum", "weight_decay", "amp", "channels_last"):
        assert s[key] == full[key], key


def test_the_rule_takes_the_highest_mean_and_measures_the_noise():
    v = lr_screen.verdict(runs({0.003: [0.60, 0.64], 0.01: [0.70, 0.78], 0.03: [0.75, 0.71]}))
    assert v["chosen_lr"] == 0.01 and v["runner_up_lr"] == 0.03  # means .62, .74, .73
    assert v["mean_val_acc"] == {"0.003": 0.62, "0.01": 0.74, "0.03": 0.73}
    assert v["seed_spread"]["0.01"] == 0.08
    assert v["lead"] == 0.01 and v["within_noise"]  # a lead of .01 under a spread of .08
    assert v["inside_grid"]
    clear = lr_screen.verdict(runs({0.003: [0.6, 0.61], 0.01: [0.8, 0.81], 0.03: [0.7, 0.7]}))
    assert clear["chosen_lr"] == 0.01 and not clear["within_noise"]


def test_the_grid_grows_at_the_end_that_holds_the_best():
    top = runs({0.003: [0.5, 0.5], 0.01: [0.6, 0.6], 0.03: [0.7, 0.7]})
    assert lr_screen.next_rate(top, [0, 1]) == 0.1
    bottom = runs({0.003: [0.7, 0.7], 0.01: [0.6, 0.6], 0.03: [0.5, 0.5]})
    assert lr_screen.next_rate(bottom, [0, 1]) == 0.001
    inside = runs({0.003: [0.5, 0.5], 0.01: [0.7, 0.7], 0.03: [0.6, 0.6]})
    assert lr_screen.next_rate(inside, [0, 1]) is None


def fake_runs(monkeypatch, accuracy, stop_after=None):
    """Replace the training run by ``accuracy(lr, seed)``; the data stays real. Returns the
    list of (lr, seed) pairs run; raises KeyboardInterrupt after ``stop_after`` runs."""
    done = []

    def short_run(lr, seed, loaders, setting, device):
        if stop_after is not None and len(done) == stop_after:
            raise KeyboardInterrupt
        done.append((lr, seed))
        return {
            "lr": lr,
            "seed": seed,
            "train_loss": 1.0,
            "val_acc": accuracy(lr, seed),
            "diverged": False,
            "seconds": 1.0,
        }

    monkeypatch.setattr(lr_screen, "short_run", short_run)
    return done


def test_an_interrupted_screen_resumes_and_grows_the_grid(tmp_path, monkeypatch, fashion_root):
    out = tmp_path / "screen.json"
    args = [
        "--out",
        str(out),
        "--images",
        "256",
        "--val",
        "128",
        "--seeds",
        "0",
        "1",
        "--data-dir",
        str(fashion_root),
    ]
    peak = {0.001: 0.3, 0.003: 0.5, 0.01: 0.6, 0.03: 0.7, 0.1: 0.8, 0.3: 0.4}
    first = fake_runs(monkeypatch, lambda lr, seed: peak[lr] + seed / 100, stop_after=4)
    with pytest.raises(KeyboardInterrupt):
        lr_screen.main(args)
    assert first == [(0.003, 0), (0.01, 0), (0.03, 0), (0.003, 1)]  # seed by seed
    assert len(json.loads(out.read_text())["runs"]) == 4  # each run kept as it finished

    second = fake_runs(monkeypatch, lambda lr, seed: peak[lr] + seed / 100)
    assert lr_screen.main(args) == 0
    # the 2 runs left, then 0.1 (best at the top edge), then 0.3, where 0.1 is inside
    assert second == [(0.01, 1), (0.03, 1), (0.1, 0), (0.1, 1), (0.3, 0), (0.3, 1)]
    record = json.loads(out.read_text())
    assert record["verdict"]["chosen_lr"] == 0.1 and record["verdict"]["inside_grid"]
    assert record["verdict"] == lr_screen.verdict(record["runs"])
    assert record["hardware"] and record["torch"] and record["finished"]


def test_a_record_with_other_settings_is_refused_before_any_run(tmp_path, monkeypatch):
    out = tmp_path / "screen.json"
    out.write_text(json.dumps({"setting": {"images": 1}, "runs": []}))
    ran = fake_runs(monkeypatch, lambda lr, seed: 0.5)
    with pytest.raises(SystemExit, match="other settings"):
        lr_screen.main(["--out", str(out), "--data-dir", str(tmp_path / "no-data-here")])
    assert ran == [] and json.loads(out.read_text())["setting"] == {"images": 1}  # untouched


def test_one_seed_is_refused(capsys):
    with pytest.raises(SystemExit):
        lr_screen.main(["--seeds", "0"])
    assert "at least 2 seeds" in capsys.readouterr().err
