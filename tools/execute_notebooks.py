"""Write and execute the book's notebooks: notebooks/<lang>/NN_*.py -> book/<lang>/NN_*.ipynb.

Run it from anywhere with the project's venv:

    .venv/bin/python tools/execute_notebooks.py                      # every chapter, both languages
    .venv/bin/python tools/execute_notebooks.py --lang zh            # the Chinese edition only
    .venv/bin/python tools/execute_notebooks.py notebooks/en/02_alexnet.py book/zh/03_data.ipynb
    D2LITE_QUICK=0 .venv/bin/python tools/execute_notebooks.py       # full with a GPU, else cpu
    D2LITE_SETTING=full .venv/bin/python tools/execute_notebooks.py  # the full setting anywhere

For each chapter it
1. takes the cells from the percent-format .py (the source of truth) and the outputs of the
   existing .ipynb, if any, and writes the paired book/<lang>/NN_*.ipynb (what
   `jupytext --sync` does when the .py is the newer file, without trusting timestamps);
2. executes that .ipynb in place in a fresh kernel that runs *this* interpreter
   (sys.executable, i.e. the venv's python, whatever kernelspecs ~/.local holds), with the
   notebook's folder as working directory and D2LITE_SETTING / D2LITE_QUICK / D2LITE_DATA
   passed through, and D2LITE_DECISIONS set to _build/decisions/NN_topic.json: the first
   edition of a chapter executed by this command records its speed-dependent choices there (how
   many images fit the time budget...: d2lite.share_choice) and the other edition reuses them,
   so that both show the same run (--reuse-decisions keeps an earlier command's file, for
   editions executed by separate commands);
3. records how it ran in ``metadata["d2lite"]`` (runtime, hardware, torch, the setting the
   notebook chose as its parameters cell printed it, quick, date) and
   prints the runtime. Output that warns of a missing glyph is reported and fails the run.

Running it twice gives the same cells; only outputs and metadata["d2lite"] change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager
from jupytext.combine import combine_inputs_with_outputs
from nbconvert.preprocessors import CellExecutionError, ExecutePreprocessor

ROOT = Path(__file__).resolve().parents[1]
DECISIONS = ROOT / "_build" / "decisions"  # one JSON file per chapter: d2lite.shared_choice
LANGS = ("zh", "en")
PAIRING = "book///ipynb,notebooks///py:percent"  # also in jupytext.toml
TIMEOUT_S = 4 * 3600  # per cell: full-mode training on a CPU is long; quick mode takes seconds


class CurrentEnvKernelSpecs(KernelSpecManager):
    """Every kernel name maps to ipykernel in the running interpreter (like nbval's
    --nbval-current-env), so a stray user-level kernelspec cannot pick another python."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(
            argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            display_name="Python 3 (ipykernel)",
            language="python",
            resource_dir=str(ROOT),
        )


def hardware() -> str:
    """'<CPU model>, N cores' or '<GPU name> + <CPU model>, N cores'."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    desc = f"{cpu}, {os.cpu_count()} cores"
    import torch

    if torch.cuda.is_available():
        desc = f"{torch.cuda.get_device_name(0)} + {desc}"
    return desc


def is_quick() -> bool:
    """Same rule as d2lite.is_quick (kept here so the tool does not import the library)."""
    setting = os.environ.get("D2LITE_SETTING", "").strip().lower()
    if setting:
        return setting == "quick"
    return os.environ.get("D2LITE_QUICK", "").strip().lower() not in ("", "0", "false", "no", "off")


# What a parameters cell prints, in either edition: "... -> cpu setting: {...}",
# "... → full setting: ...", "... → 快速设置：...", "... -> cpu 设置：...".
SETTING_WORDS = {"quick": "quick", "cpu": "cpu", "full": "full", "快速": "quick", "完整": "full"}
SETTING_RE = re.compile(r"(?:->|→)\s*(quick|cpu|full|快速|完整)\s*(?:setting|设置)")


def chosen_setting(nb: nbformat.NotebookNode) -> str | None:
    """The setting ("quick", "cpu" or "full") the notebook's parameters cell says it ran, or
    None when it printed none (the site then shows no setting)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            for out in cell.get("outputs", []):
                match = SETTING_RE.search(out.get("text", ""))
                if match:
                    return SETTING_WORDS[match.group(1)]
    return None


def source_of(path: Path) -> Path:
    """Map a .py under notebooks/ or an .ipynb under book/ to the .py source."""
    path = path.resolve()
    rel = path.relative_to(ROOT)
    if rel.parts[0] == "book" and path.suffix == ".ipynb":
        path = ROOT / "notebooks" / Path(*rel.parts[1:]).with_suffix(".py")
    if path.suffix != ".py" or path.relative_to(ROOT).parts[0] != "notebooks":
        raise SystemExit(
            f"{path}: expected notebooks/<lang>/NN_topic.py or book/<lang>/NN_topic.ipynb"
        )
    if not path.is_file():
        raise SystemExit(f"{path} does not exist")
    return path


def paired_ipynb(py: Path) -> Path:
    rel = py.relative_to(ROOT / "notebooks")
    return ROOT / "book" / rel.with_suffix(".ipynb")


def write_paired(py: Path) -> tuple[Path, nbformat.NotebookNode]:
    """Write book/<lang>/X.ipynb with the .py's cells and the old .ipynb's outputs."""
    ipynb = paired_ipynb(py)
    nb = jupytext.read(py)
    nb.metadata.setdefault("jupytext", {})["formats"] = PAIRING
    if ipynb.exists():
        nb = combine_inputs_with_outputs(nb, jupytext.read(ipynb), fmt="py:percent")
    ipynb.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, ipynb)
    return ipynb, nb


def glyph_warnings(nb: nbformat.NotebookNode) -> list[str]:
    """Text of outputs that say a glyph was missing (Chinese shown as boxes)."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            for line in text.splitlines():
                if "Glyph" in line and "missing" in line:
                    found.append(f"cell {i}: {line.strip()}")
    return found


def execute(ipynb: Path, nb: nbformat.NotebookNode | None = None) -> tuple[float, list[str]]:
    """Execute ``ipynb`` in place; return (seconds, glyph warnings)."""
    if nb is None:
        nb = nbformat.read(ipynb, as_version=4)
    nb.metadata.pop("widgets", None)  # no stored widget state: the site stays offline-clean
    # store_widget_state=False trips nbclient (KeyError in its Output-widget hook), so keep it
    # on while running and drop the state afterwards.
    ep = ExecutePreprocessor(timeout=TIMEOUT_S, kernel_name="python3", store_widget_state=True)
    km = KernelManager(kernel_name="python3", kernel_spec_manager=CurrentEnvKernelSpecs())
    import torch

    start = time.perf_counter()
    ep.preprocess(nb, {"metadata": {"path": str(ipynb.parent)}}, km=km)
    seconds = time.perf_counter() - start
    nb.metadata.pop("widgets", None)
    setting = chosen_setting(nb)
    nb.metadata["d2lite"] = {
        "runtime_s": round(seconds, 1),
        "hardware": hardware(),
        "torch": torch.__version__,
        "setting": setting,
        "quick": setting == "quick" if setting else is_quick(),
        "executed": dt.date.today().isoformat(),
    }
    nbformat.write(nb, ipynb)
    return seconds, glyph_warnings(nb)


def collect(paths: list[str], lang: str | None) -> list[Path]:
    if paths:
        sources = [source_of(Path(p)) for p in paths]
    else:
        langs = [lang] if lang else list(LANGS)
        sources = [
            p for lg in langs for p in sorted((ROOT / "notebooks" / lg).glob("[0-9][0-9]_*.py"))
        ]
    if lang:
        sources = [p for p in sources if p.parent.name == lang]
    return sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "paths",
        nargs="*",
        help="notebooks/<lang>/*.py or book/<lang>/*.ipynb (default: every chapter)",
    )
    parser.add_argument("--lang", choices=LANGS, help="only this edition (default: both)")
    parser.add_argument(
        "--no-execute",
        action="store_true",
        help="only write the paired .ipynb files (keep their old outputs)",
    )
    parser.add_argument(
        "--reuse-decisions",
        action="store_true",
        help="reuse the speed-dependent choices an earlier command recorded in _build/decisions "
        "(when a chapter's two editions are executed by separate commands)",
    )
    args = parser.parse_args(argv)
    sources = collect(args.paths, args.lang)
    if not sources:
        print("no notebooks found", file=sys.stderr)
        return 1
    print(
        f"{len(sources)} notebook(s) "
        f"(D2LITE_SETTING={os.environ.get('D2LITE_SETTING', '')!r}, "
        f"D2LITE_QUICK={os.environ.get('D2LITE_QUICK', '')!r}), "
        f"kernel python: {sys.executable}",
        flush=True,
    )
    failed = False
    total = 0.0
    started = set()  # chapters whose first edition this command has executed
    for py in sources:
        ipynb, nb = write_paired(py)
        if args.no_execute:
            print(f"wrote {ipynb.relative_to(ROOT)}")
            continue
        decisions = DECISIONS / f"{py.stem}.json"
        if py.stem not in started and not args.reuse_decisions:
            decisions.unlink(missing_ok=True)  # a chapter's first edition chooses afresh
        started.add(py.stem)
        os.environ["D2LITE_DECISIONS"] = str(decisions)  # the kernel inherits it
        try:
            seconds, glyphs = execute(ipynb, nb)
        except CellExecutionError as err:
            failed = True
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(err))  # drop the traceback's colours
            print(f"FAILED  {ipynb.relative_to(ROOT)}\n{text[-3000:]}", file=sys.stderr, flush=True)
            continue
        total += seconds
        setting = nbformat.read(ipynb, as_version=4).metadata["d2lite"]["setting"]
        print(f"{seconds:7.1f} s  {ipynb.relative_to(ROOT)}  ({setting} setting)", flush=True)
        for g in glyphs:
            failed = True
            print(f"  missing glyph warning: {g}", file=sys.stderr)
    if not args.no_execute:
        print(f"{total:7.1f} s  total ({hardware()})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
