"""records.py: the book's recorded runs, read from book/runs or fetched into the cache.

References: the committed files themselves (read with json and numpy here), and a fetch from a
local web server standing in for GitHub."""

from __future__ import annotations

import functools
import json
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

import d2lite
import d2lite.records as records

ROOT = Path(__file__).resolve().parents[1]


def test_a_committed_record_is_read_from_book_runs():
    want = json.loads((ROOT / "book" / "runs" / "lr-screen-full.json").read_text())
    assert d2lite.load_record("lr-screen-full") == want


def test_without_a_clone_it_is_fetched_once_into_the_cache(tmp_path, monkeypatch):
    served = tmp_path / "served"
    served.mkdir()
    (served / "run.json").write_text('{"acc": 0.9}')
    np.save(served / "filters.npy", np.arange(6.0).reshape(2, 3))
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(records, "RUNS_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    monkeypatch.setattr(records, "CACHE_DIR", tmp_path / "cache")
    try:
        assert d2lite.load_record("run", runs_dir=tmp_path / "no-clone") == {"acc": 0.9}
        got = d2lite.load_record("filters", runs_dir=tmp_path / "no-clone")
        assert np.array_equal(got, np.arange(6.0).reshape(2, 3))
    finally:
        server.shutdown()
        server.server_close()
    assert (tmp_path / "cache" / "run.json").is_file()  # the second read needs no network
    assert d2lite.load_record("run", runs_dir=tmp_path / "no-clone") == {"acc": 0.9}


def test_a_missing_record_says_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setattr(records, "RUNS_URL", "http://127.0.0.1:9/")  # nothing listens there
    monkeypatch.setattr(records, "CACHE_DIR", tmp_path / "cache")
    with pytest.raises(FileNotFoundError, match="No record 'nope' in .*clone it"):
        d2lite.load_record("nope", runs_dir=tmp_path)
