"""The whole book's figures: every chapter's prose backed by its own run, every glued key real.

Two checks over the executed book (book/<lang>/*.ipynb and the Markdown pages beside them):
- tools/check_numbers.py's ``unbacked`` finds no figure in a chapter's prose that its outputs,
  its code or a citation do not back;
- every {glue:text}`key` (and `doc.ipynb::key:fmt`) in a chapter or a Markdown page names a key
  that the notebook it points to glues, read from the executed outputs (`scrapbook.name`) with
  myst-nb's own parsing of the role and formatted with the role's format spec as myst-nb will, so
  that a renamed or missing key fails here and not only in the site build. myst-nb finds another
  document only by its file name with the suffix (`05_prediction.ipynb::key`, not
  `05_prediction::key`), and splits a text role's format spec off at the last ':', so a
  cross-document text role needs both: {glue:text}`05_prediction.ipynb::model_test_acc:s`.
Both read the executed notebooks: after changing a chapter's prose or glue, run the execution
pass (tools/execute_notebooks.py) before expecting them to pass.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

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
        "{glue:text}`acc:.3f`, {glue:text}`04_training.ipynb::acc:.1%`, {glue}`plot`, "
        "{glue:text}`04_training.ipynb::acc`"
    )
    assert roles(text) == [
        ("", "acc", ".3f"),
        ("04_training.ipynb", "acc", ".1%"),
        ("", "plot", ""),
        ("", "04_training.ipynb:", "acc"),  # no format spec: myst-nb reads "acc" as the spec
    ]


@pytest.mark.parametrize("path", CHAPTERS, ids=_id)
def test_every_figure_in_a_chapter_is_glued_printed_set_or_cited(path):
    problems = check_numbers.unbacked(nbformat.read(path, as_version=4))
    assert not problems, (
        f"{_id(path)}: {len(problems)} figure(s) that no output, setting or citation backs "
        "(tools/check_numbers.py):\n" + "\n".join(problems)
    )


def glue_problems(path: Path) -> list[str]:
    """What myst-nb would not find or could not format among the glue roles of ``path``."""
    from myst_nb.core.variables import format_plain_text

    problems = []
    for doc, key, fmt in roles(page_text(path)):
        if not doc and path.suffix == ".md":
            problems.append(f"{key!r}: a Markdown page glues nothing; write NN_topic.ipynb::{key}")
            continue
        source = path if not doc else path.parent / doc
        if doc and source.suffix != ".ipynb":
            problems.append(f"{doc}::{key}: myst-nb finds a notebook by its file name, {doc}.ipynb")
            continue
        if not source.is_file():
            problems.append(f"{doc}::{key}: no notebook {source.name}")
            continue
        values = glued(source)
        if key not in values:
            problems.append(f"{doc + '::' if doc else ''}{key}: {source.name} glues no such key")
            continue
        try:
            format_plain_text(values[key], fmt)
        except (TypeError, ValueError) as err:
            problems.append(f"{key}:{fmt}: {values[key]!r} does not format: {err}")
    return problems


def test_glue_problems_are_found_in_hand_made_pages(tmp_path):
    prefix = "application/papermill.record/"
    glued_outputs = [
        new_output(
            "display_data",
            data={prefix + "text/plain": value, "text/plain": ""},
            metadata={"scrapbook": {"name": name, "mime_prefix": prefix}},
        )
        for name, value in (("acc", "0.8431"), ("val_acc", "'not recorded'"))
    ]
    text = "{glue:text}`acc:.3f` {glue:text}`loss:.3f` {glue:text}`val_acc:.3f`"
    nb = new_notebook(cells=[new_code_cell("x", outputs=glued_outputs), new_markdown_cell(text)])
    nbformat.write(nb, tmp_path / "04_training.ipynb")
    page = tmp_path / "index.md"
    page.write_text(
        "{glue:text}`04_training.ipynb::acc:.1%` {glue:text}`04_training::acc:.1%` "
        "{glue:text}`05_prediction.ipynb::acc:s` {glue:text}`acc:.3f`"
    )
    assert glue_problems(tmp_path / "04_training.ipynb") == [
        "loss: 04_training.ipynb glues no such key",
        "val_acc:.3f: \"'not recorded'\" does not format: could not convert string to float: "
        "'not recorded'",
    ]
    assert [p.split(":")[0] for p in glue_problems(page)] == [
        "04_training",  # no suffix
        "05_prediction.ipynb",  # no such notebook
        "'acc'",  # a Markdown page has no glue of its own
    ]


@pytest.mark.parametrize("path", CHAPTERS + PAGES, ids=_id)
def test_every_glue_role_names_a_key_its_notebook_glues(path):
    problems = glue_problems(path)
    assert not problems, f"{_id(path)}:\n" + "\n".join(problems)
