"""The package itself: its structure, its import, its public names, its style.

References: Python's own parser (the imports each module really makes, the names each really
looks up), ruff (complexity and formatting), and a fresh, non-editable install of the package,
which is what `pip install "d2lite @ git+..."` gives a Colab notebook.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import d2lite

PACKAGE = ROOT / "d2lite"
RUFF = Path(sys.executable).with_name("ruff")

# The modules in import order: each may import only those before it. The lesson's modules come
# first, in the order the chapters meet them; the machinery in d2lite/run/ comes after them.
ORDER = [
    "device", "ddp", "fashion_mnist", "loaders", "models", "metrics", "plot", "engine",
    "prediction", "inside", "records", "export", "your_image",
    "run.progress", "run.checkpoints", "run.resume", "run.signals", "run.trainer", "run.budget",
    "run.predict_export", "run.cli",
]  # fmt: skip


def _modules() -> dict[str, Path]:
    """Every module of the package but __init__ and __main__, by dotted name below d2lite."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.stem not in ("__init__", "__main__"):
            found[".".join(path.relative_to(PACKAGE).with_suffix("").parts)] = path
    return found


def _imports(path: Path) -> set[str]:
    """The d2lite modules that ``path`` imports (dotted, below d2lite)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("d2lite."):
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if a.name.startswith("d2lite.")]
        out.update(name.removeprefix("d2lite.") for name in names)
    return out


def test_imports_run_one_way_with_no_cycles():
    """Each module imports only modules listed before it in ORDER, so there is no cycle, and
    nothing at the top level (the lesson) imports from d2lite/run/ (the machinery)."""
    assert sorted(_modules()) == sorted(ORDER), "place every module of d2lite in ORDER"
    for name, path in _modules().items():
        earlier = set(ORDER[: ORDER.index(name)])
        later = _imports(path) - earlier
        assert not later, f"d2lite/{path.relative_to(PACKAGE)} imports {sorted(later)}: later"
        if not name.startswith("run."):
            assert not {m for m in _imports(path) if m.startswith("run")}, name


def test_modules_are_small_and_none_is_named_like_a_public_name():
    """A module a newcomer reads in one sitting; and no module that shadows a public name
    (``d2lite.train`` must be the function, whatever was imported first)."""
    for name, path in _modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 500, f"{name}: {lines} lines"
        assert name.split(".")[-1] not in d2lite.__all__, name
    assert callable(d2lite.train) and d2lite.train.__module__ == "d2lite.run.trainer"


def test_no_function_in_d2lite_is_more_complex_than_12():
    """ruff's C901 (McCabe complexity) over the package: train was 26 before the engine split."""
    command = ["check", "--select", "C901", "--config", "lint.mccabe.max-complexity = 12"]
    done = subprocess.run([str(RUFF), *command, str(PACKAGE)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_is_formatted():
    """`ruff format --check` over the library, the tests, the tools and the benchmarks (the
    notebook sources keep their prose layout). Fix with `make format`."""
    paths = [str(ROOT / p) for p in ("d2lite", "tests", "tools", "benchmarks")]
    done = subprocess.run([str(RUFF), "format", "--check", *paths], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def _defining_module(name: str) -> str:
    value = getattr(d2lite, name)
    module = getattr(value, "__module__", None)
    if module and module.startswith("d2lite.") and not isinstance(value, (str, int, tuple)):
        return module.removeprefix("d2lite.")
    for dotted, path in _modules().items():  # constants: the module that assigns them
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            targets = [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                targets.append(node.target.id)
            if name in targets:
                return dotted
    raise AssertionError(f"no module defines {name}")


def test_the_tour_names_every_public_name_with_its_module():
    """d2lite's docstring is a tour in lesson order: each public name appears in the paragraph
    of the module that defines it, and the modules come in ORDER."""
    tour = d2lite.__doc__
    paragraphs = re.findall(r"^([\w/]+)\.py +(.*?)(?=^[\w/]+\.py |^\n|\Z)", tour, re.M | re.S)
    by_module = {path.replace("/", "."): text for path, text in paragraphs}
    assert list(by_module) == ORDER
    for name in d2lite.__all__:
        module = _defining_module(name)
        assert re.search(rf"\b{name}\b", by_module[module]), f"{name} not under {module}.py"


def test_tests_mirror_the_modules():
    for name in ORDER:
        test = ROOT / "tests" / f"test_{name.split('.')[-1]}.py"
        assert test.exists(), f"d2lite/{name.replace('.', '/')}.py has no {test.name}"


def _patches(tree: ast.AST):
    """(target, name, line) of every ``monkeypatch.setattr(target, "name", ...)`` and
    ``no_setting_env.setattr``, and of every assignment ``d2lite.x.name = ...``."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setattr"
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
        ):
            yield ast.unparse(node.args[0]), node.args[1].value, node.lineno
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Attribute):
                    yield ast.unparse(target.value), target.attr, node.lineno


def test_patches_target_the_module_that_looks_the_name_up():
    """A patch of ``d2lite.x`` on the package, or on a module that merely imports x, succeeds
    and changes nothing: the code keeps calling the original. So every patch of a d2lite name
    goes to a module that reads that name in its own code."""
    for path in sorted((ROOT / "tests").glob("*.py")):
        for target, name, line in _patches(ast.parse(path.read_text(encoding="utf-8"))):
            if not (target == "d2lite" or target.startswith("d2lite.")):
                continue
            where = f"{path.name}:{line}: {target}.{name}"
            assert target != "d2lite", f"{where} patches the package, not a module"
            source = PACKAGE.joinpath(*target.split(".")[1:]).with_suffix(".py")
            tree = ast.parse(source.read_text(encoding="utf-8"))
            reads = [
                n
                for n in ast.walk(tree)
                if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
            ]
            assert reads, f"{where}: {target} never reads {name}"


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
heavy = [m for m in ("matplotlib.pyplot", "IPython", "torchvision") if m in sys.modules]
print(json.dumps(dict(same=same, seed=after["seed"], sans=after["rc"]["font.sans-serif"],
                      pyplot=after["pyplot"], heavy=heavy, rand=torch.rand(1).item())))
"""


def test_import_has_no_side_effects(tmp_path):
    import matplotlib

    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),  # this checkout's d2lite, whatever is installed
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
    assert first["heavy"] == []  # pyplot, IPython, torchvision: imported where they are used
    # Not seeded at import: each fresh interpreter still draws its own random seed.
    assert first["seed"] != second["seed"] and first["rand"] != second["rand"]
    assert list(home.iterdir()) == [] and list(cwd.iterdir()) == []


def test_every_public_name_is_tested_and_documented():
    """Each public name appears as ``d2lite.<name>`` in the tests, and has a docstring."""
    text = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "tests").glob("test_*.py"))
    untested = [n for n in d2lite.__all__ if f"d2lite.{n}" not in text]
    assert untested == [], f"public names with no test: {untested}"
    undocumented = [
        n
        for n in d2lite.__all__
        if callable(getattr(d2lite, n)) and not (getattr(d2lite, n).__doc__ or "").strip()
    ]
    assert undocumented == []
    assert len(set(d2lite.__all__)) == len(d2lite.__all__)


def test_a_plain_install_has_the_whole_package(tmp_path):
    """What ``pip install "d2lite @ git+..."`` gives Colab: the package built from a copy of
    the checkout and installed, not editable, into a fresh folder, then used from elsewhere:
    every module is there, ``python -m d2lite`` runs, and data is looked for in the user's cache
    (not in a checkout that is not there)."""
    pytest.importorskip("setuptools")  # the build backend, offline: no build isolation
    source = tmp_path / "source"
    shutil.copytree(PACKAGE, source / "d2lite", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    target = tmp_path / "site"
    pip = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--no-deps",
        "--no-build-isolation",
        "--target",
        str(target),
        str(source),
    ]
    done = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    installed = {p.relative_to(target).as_posix() for p in (target / "d2lite").rglob("*.py")}
    assert installed == {p.relative_to(ROOT).as_posix() for p in PACKAGE.rglob("*.py")}
    env = dict(os.environ, PYTHONPATH=str(target))
    probe = (
        "import d2lite, d2lite.fashion_mnist as f; print(d2lite.__file__); "
        "print(f._project_data_dir())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    where, data_dir = out.stdout.split()
    assert Path(where).is_relative_to(target) and data_dir.endswith(".cache/d2lite")
    cli = subprocess.run(
        [sys.executable, "-m", "d2lite", "train", "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0 and "--checkpoint-every" in cli.stdout, cli.stderr


def test_the_checkout_finds_its_own_data_folder():
    """From a checkout (pip install -e .) the data folder is the project's ``data/``, one level
    above the package."""
    assert d2lite.fashion_mnist._project_data_dir() == ROOT / "data"
