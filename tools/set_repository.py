"""Point the book at its repository: rewrite the URL in _config.yml and every setup cell.

    .venv/bin/python tools/set_repository.py https://github.com/OWNER/NAME

The URL appears in `_config.yml` (`repository: url:`, which the site's launch and source
buttons use), in each notebook's Colab setup cell, which installs d2lite with
`%pip install "d2lite @ git+URL"`, and (for a GitHub URL) in d2lite/records.py, which fetches
the book's run records from it where there is no clone. This rewrites them all: the
notebooks/<lang>/*.py sources and
their book/<lang>/*.ipynb editions (text only, so outputs are kept and the pairs stay in sync).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CONFIG_URL = re.compile(r"(?m)^(repository:[^\n]*\n(?:[ \t]+[^\n]*\n)*?[ \t]+url:[ \t]*)([^\s#]+)")
_NOTEBOOK_URL = re.compile(r"d2lite @ git\+(https?://[^\s\"'\\]+)")
_RUNS_URL = re.compile(r'(?m)^RUNS_URL = "https://raw\.githubusercontent\.com/([^/"]+/[^/"]+)/')
RECORDS = ROOT / "d2lite" / "records.py"  # d2lite.load_record fetches book/runs/ from there


def config_url(text: str) -> str | None:
    """The `repository: url:` value of a _config.yml text."""
    m = _CONFIG_URL.search(text)
    return m.group(2).strip("\"'") if m else None


def replace_config_url(text: str, url: str) -> str:
    if not _CONFIG_URL.search(text):
        raise ValueError("_config.yml has no `repository:` block with a `url:` key")
    return _CONFIG_URL.sub(lambda m: m.group(1) + url, text, count=1)


def notebook_urls(text: str) -> set[str]:
    """Every URL a notebook's setup cell installs d2lite from."""
    return set(_NOTEBOOK_URL.findall(text))


def records_repository(text: str) -> str | None:
    """OWNER/NAME that d2lite/records.py fetches the book's run records from."""
    m = _RUNS_URL.search(text)
    return m.group(1) if m else None


def notebook_files() -> list[Path]:
    notebooks = [*ROOT.glob("notebooks/*/[0-9][0-9]_*.py"), *ROOT.glob("book/*/[0-9][0-9]_*.ipynb")]
    return sorted(notebooks) + [ROOT / "notebooks" / "README.md"]  # the README quotes the cell


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not re.match(r"^https?://\S+$", argv[0]):
        print(__doc__, file=sys.stderr)
        return 2
    url = argv[0].rstrip("/").removesuffix(".git")
    config = ROOT / "_config.yml"
    if config.exists():
        config.write_text(
            replace_config_url(config.read_text(encoding="utf-8"), url), encoding="utf-8"
        )
        print(f"{config.relative_to(ROOT)}: repository.url = {url}")
    else:
        print("_config.yml not found: only the notebooks are updated", file=sys.stderr)
    for path in notebook_files():
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        new = _NOTEBOOK_URL.sub(lambda m: f"d2lite @ git+{url}", text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: setup cell installs from {url}")
    owner_name = "/".join(url.split("/")[-2:])
    if url.startswith("https://github.com/") and RECORDS.exists():
        text = RECORDS.read_text(encoding="utf-8")
        new = _RUNS_URL.sub(
            lambda m: f'RUNS_URL = "https://raw.githubusercontent.com/{owner_name}/', text
        )
        if new != text:
            RECORDS.write_text(new, encoding="utf-8")
            print(f"{RECORDS.relative_to(ROOT)}: records from {owner_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
