"""Do the Chinese and English editions of a chapter have the same code? (zh/en parity)

    from notebook_parity import parity_differences
    parity_differences(Path("notebooks/zh/01_activation.py"), Path("notebooks/en/01_activation.py"))

Code cells are compared with comments, whitespace and string contents removed, so translated
comments, labels and messages compare equal while any difference in the code itself does not.
Used by tests/test_notebooks_sync.py and by the site's translation-status page
(book/_ext/bilingual.py).
"""

from __future__ import annotations

import io
import tokenize
from pathlib import Path

import jupytext

_STRING_STARTS = {
    getattr(tokenize, n) for n in ("FSTRING_START", "TSTRING_START") if hasattr(tokenize, n)
}
_STRING_ENDS = {
    getattr(tokenize, n) for n in ("FSTRING_END", "TSTRING_END") if hasattr(tokenize, n)
}
_SKIP = {tokenize.COMMENT, tokenize.NL, tokenize.ENCODING, tokenize.ENDMARKER}


def normalise_code(source: str) -> list[str]:
    """Tokens of a code cell with comments, blank lines and string contents removed.

    IPython syntax (%pip, !ls) is first turned into plain Python. Every string literal,
    including a whole f-string (Python 3.12+ splits it into FSTRING_START ... FSTRING_END),
    becomes one placeholder, so translated labels and messages compare equal.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)
    out: list[str] = []
    depth = 0  # > 0 inside an f-string
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type in _STRING_STARTS:
            if depth == 0:
                out.append("<STR>")
            depth += 1
        elif tok.type in _STRING_ENDS:
            depth -= 1
        elif depth:
            continue
        elif tok.type in _SKIP:
            continue
        elif tok.type == tokenize.STRING:
            # A magic's name (%pip -> run_line_magic('pip', ...)) is code, not text: keep it.
            out.append(tok.string if out[-2:] == ["run_line_magic", "("] else "<STR>")
        elif tok.type == tokenize.INDENT:
            out.append("<INDENT>")
        elif tok.type == tokenize.DEDENT:
            out.append("<DEDENT>")
        elif tok.type == tokenize.NEWLINE:
            out.append("<NEWLINE>")
        else:
            out.append(tok.string)
    # A comment-only line leaves a NEWLINE only in some Python versions: squeeze repeats. A
    # trailing comma before a closing bracket is formatting (ruff adds it when it wraps a call).
    squeezed = [t for i, t in enumerate(out) if not (t == "<NEWLINE>" and i and out[i - 1] == t)]
    return [
        t
        for i, t in enumerate(squeezed)
        if not (t == "," and i + 1 < len(squeezed) and squeezed[i + 1] in (")", "]", "}"))
    ]


def code_cells(path: Path) -> list[list[str]]:
    nb = jupytext.read(path)
    return [normalise_code(c.source) for c in nb.cells if c.cell_type == "code"]


def parity_differences(zh: Path, en: Path) -> list[str]:
    """Where two editions' code differs beyond comments, whitespace and string contents."""
    a, b = code_cells(zh), code_cells(en)
    problems = []
    if len(a) != len(b):
        problems.append(f"{zh.stem}: {len(a)} code cells in zh, {len(b)} in en")
    for i, (ca, cb) in enumerate(zip(a, b)):
        if ca != cb:
            k = next((j for j, (x, y) in enumerate(zip(ca, cb)) if x != y), min(len(ca), len(cb)))
            problems.append(
                f"{zh.stem} code cell {i} differs near token {k}: "
                f"zh {' '.join(ca[max(0, k - 4) : k + 4])!r} vs "
                f"en {' '.join(cb[max(0, k - 4) : k + 4])!r}"
            )
    return problems
