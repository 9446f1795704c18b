"""The package itself: its structure, its import, its public names, its style."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import (
    ROOT,
)

import d2lite
import d2lite.run.budget
import d2lite.run.resume
import d2lite.run.signals
import d2lite.run.trainer


def test_no_function_in_d2lite_is_more_complex_than_12():
    """ruff's C901 (McCabe complexity) over d2lite.py: train was 26 before the split."""
    ruff = Path(sys.executable).with_name("ruff")
    done = subprocess.run(
        [
            str(ruff),
            "check",
            "--select",
            "C901",
            "--config",
            "lint.mccabe.max-complexity = 12",
            str(ROOT / "d2lite.py"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


_IMPORT_PROBE = r"""
import json, os, sys
import numpy, torch, matplotlib
def files():
    return sorted(str(p) for root in (os.getcwd(), os.environ["HOME"])
                  for p in __import__("pathlib").Path(root).rglob("*"))
def state():
    # dict.items: the raw rcParams, because reading rcParams["backend"] would pick a backend
    return dict(rng=torch.get_rng_state().tolist(), np=numpy.random.get_state()[1].tolist(),
                seed=torch.initial_seed(), rc=dict(dict.items(matplotlib.rcParams)),
                files=files(), threads=torch.get_num_threads(),
                det=torch.are_deterministic_algorithms_enabled(),
                env=dict(os.environ), pyplot="matplotlib.pyplot" in sys.modules)
before = state()
import d2lite
after = state()
same = {k: before[k] == after[k] for k in before}
print(json.dumps(dict(same=same, seed=after["seed"], sans=after["rc"]["font.sans-serif"],
                      pyplot=after["pyplot"], rand=torch.rand(1).item())))
"""


def test_import_has_no_side_effects(tmp_path):
    import matplotlib

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "PYTHONDONTWRITEBYTECODE": "1",  # no __pycache__ from the import itself
        "MPLCONFIGDIR": matplotlib.get_configdir(),
    }  # reuse the font cache: no rebuild

    def probe():
        done = subprocess.run(
            [sys.executable, "-c", _IMPORT_PROBE],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.splitlines()[-1])

    first, second = probe(), probe()
    assert first["same"] == {k: True for k in first["same"]}, first["same"]
    assert first["sans"] == matplotlib.rcsetup.defaultParams["font.sans-serif"][0]
    assert not first["pyplot"]  # no backend chosen for the reader
    # Not seeded at import: each fresh interpreter still draws its own random seed.
    assert first["seed"] != second["seed"] and first["rand"] != second["rand"]
    assert list(home.iterdir()) == [] and list(cwd.iterdir()) == []


def test_every_public_name_is_tested_and_documented():
    here = Path(__file__).parent
    text = "".join(p.read_text(encoding="utf-8") for p in here.glob("test_d2lite*.py"))
    untested = [n for n in d2lite.__all__ if f"d2lite.{n}" not in text]
    assert untested == [], f"public names with no test: {untested}"
    undocumented = [
        n
        for n in d2lite.__all__
        if callable(getattr(d2lite, n)) and not (getattr(d2lite, n).__doc__ or "").strip()
    ]
    assert undocumented == []
    assert len(set(d2lite.__all__)) == len(d2lite.__all__)
