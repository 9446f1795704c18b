"""The whole book's figures: every chapter's prose backed by its own run, every glued key real.

Two checks over the executed book (book/<lang>/*.ipynb and the Markdown pages beside them):
- tools/check_numbers.py's ``unbacked`` finds no figure in a chapter's prose that its outputs,
  its code or a citation do not back;
- every {glue:text}`key` (and `doc::key`) in a chapter or a Markdown page names a key that the
  notebook it points to glues, read from the executed outputs (`scrapbook.name`) with myst-nb's
  own parsing of the role and formatted with the role's format spec as myst-nb will, so that a
  renamed or missing key fails here and not only in the site build.
Both read the executed notebooks: after changing a chapter's prose or glue, run the execution
pass (tools/execute_notebooks.py) before expecting them to pass.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import check_numbers  # noqa: E402

CHAPTERS = sorted((ROOT / "book").glob("*/0*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*/*.md"))
ROLE = re.compile(r"\{glue(?::(?P<kind>\w+))?\}`(?P<text>[^`]+)`")


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT / "book"))


def glued(path: Path) -> dict[str, str]:
    """The keys that an executed notebook glues, with each one's text/plain value."""
    from myst_nb.ext.glue import extract_glue_data_cell

    values = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "code":
            for key, output in extract_glue_data_cell(cell):
                values[key] = output["data"].get("text/plain", "")
    return values


def roles(text: str) -> list[tuple[str, str, str]]:
    """(document, key, format spec) of each glue role, parsed as myst-nb parses it: a text
    role splits its format spec off at the last ':' (so `doc::key` needs one: `doc::key:s`),
    then the document off at '::'. document "" is the page itself."""
    out = []
    for m in ROLE.finditer(text):
        body, fmt = m["text"], ""
        if m["kind"] == "text":
            body, _, fmt = m["text"].rpartition(":") if ":" in m["text"] else (body, "", "s")
        doc, _, key = body.rpartition("::")
        out.append((doc, key, fmt))
    return out


def page_text(path: Path) -> str:
    if path.suffix == ".md":
        return path.read_text(encoding="utf-8")
    nb = nbformat.read(path, as_version=4)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_roles_are_parsed_as_myst_nb_parses_them():
    text = (
        "{glue:text}`acc:.3f`, {glue:text}`04_training::acc:.1%`, {glue}`plot`, "
        "{glue:text}`04_training::acc`"
    )
    assert roles(text) == [
        ("", "acc", ".3f"),
        ("04_training", "acc", ".1%"),
        ("", "plot", ""),
        ("", "04_training:", "acc"),  # no format spec: myst-nb reads "acc" as the spec
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_every_figure_in_a_chapter_is_glued_printed_set_or_cited(path):
    problems = check_numbers.unbacked(nbformat.read(path, as_version=4))
    assert not problems, (
        f"{_id(path)}: {len(problems)} figure(s) that no output, setting or citation backs "
        "(tools/check_numbers.py):\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("path", CHAPTERS + PAGES, ids=_id)
def test_every_glue_role_names_a_key_its_notebook_glues(path):
    from myst_nb.core.variables import format_plain_text

    problems = []
    for doc, key, fmt in roles(page_text(path)):
        if not doc and path.suffix == ".md":
            problems.append(f"{key!r}: a Markdown page glues nothing; write `NN_chapter::{key}`")
            continue
        source = path if not doc else path.parent / f"{doc}.ipynb"
        if not source.is_file():
            problems.append(f"{doc}::{key}: no notebook {_id(source)}")
            continue
        values = glued(source)
        if key not in values:
            problems.append(f"{doc + '::' if doc else ''}{key}: {_id(source)} glues no such key")
            continue
        try:
            format_plain_text(values[key], fmt)
        except (TypeError, ValueError) as err:
            problems.append(f"{key}:{fmt}: {values[key]!r} does not format: {err}")
    assert not problems, f"{_id(path)}:\n" + "\n".join(problems)
