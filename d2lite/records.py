"""The book's long runs, recorded once and shown by the chapters: ``load_record``.

    screen = d2lite.load_record("lr-screen-full")     # chapter 4: the learning-rate screen
    full = d2lite.load_record("full-recipe")          # chapters 4 and 5: the full recipe's run
    filters = d2lite.load_record("full-recipe-conv1") # its conv1 filters, (96, 1, 11, 11)

A record is a file of the repository's ``book/runs/`` folder (tools/lr_screen.py and
tools/record_full_run.py write them): a JSON file, or a ``.npy`` array. In a clone of the
repository it is read from there. Where d2lite was installed without the repository (Colab:
``pip install "d2lite @ git+URL"``), it is fetched from the repository on GitHub (RUNS_URL),
once, into ``~/.cache/d2lite/runs/``.
"""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

RUNS_DIR = Path(__file__).resolve().parents[1] / "book" / "runs"  # in a clone of the repository
RUNS_URL = "https://raw.githubusercontent.com/d2lite/alexnet-fashion-mnist-book/main/book/runs/"
CACHE_DIR = Path.home() / ".cache" / "d2lite" / "runs"


def _read(name: str, data: bytes) -> Any:
    if name.endswith(".npy"):
        return np.load(io.BytesIO(data), allow_pickle=False)
    return json.loads(data)


def load_record(name: str, runs_dir: str | Path | None = None) -> Any:
    """The record ``name`` ("full-recipe", "lr-screen-full", "full-recipe-conv1"...): a dict
    for a JSON record, a numpy array for a ``.npy`` one. ``runs_dir``: where to look first
    (default: the repository's book/runs)."""
    folder = Path(runs_dir) if runs_dir is not None else RUNS_DIR
    for suffix in (".json", ".npy"):
        for path in (folder / f"{name}{suffix}", CACHE_DIR / f"{name}{suffix}"):
            if path.is_file():
                return _read(path.name, path.read_bytes())
    errors = []
    for suffix in (".json", ".npy"):
        url = RUNS_URL + name + suffix
        try:
            with urllib.request.urlopen(url, timeout=30) as response:
                data = response.read()
        except OSError as err:
            errors.append(f"{url}: {err}")
            continue
        CACHE_DIR.mkdir(parents=True, exist_ok=True)
        (CACHE_DIR / f"{name}{suffix}").write_bytes(data)
        return _read(suffix, data)
    raise FileNotFoundError(
        f"No record {name!r} in {folder} or {CACHE_DIR}, and it could not be fetched "
        f"({'; '.join(errors)}). The records are in the repository's book/runs/ folder: "
        "clone it, or pass runs_dir= the folder that holds them."
    )
