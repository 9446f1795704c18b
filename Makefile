# One entry point for every routine task. `make help` lists them.
# `make book` and `make test` each work on a fresh clone: they create .venv when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NOTEBOOKS := $(sort $(wildcard book/zh/*.ipynb book/en/*.ipynb))
# Tests and CI run the notebooks in the quick setting (a tiny subset, one short epoch), whatever
# D2LITE_SETTING the shell holds; `make execute D2LITE_QUICK=0` lets the device choose (full with a
# GPU, cpu without one), `make execute D2LITE_SETTING=full` forces the full setting.
export D2LITE_QUICK ?= 1
test test-notebooks: export D2LITE_SETTING := quick

.PHONY: npm-dep help install book test test-lib test-notebooks test-site sync execute lint format bench clean system-deps

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -e .
	@touch $@

install: $(STAMP)  ## create .venv and install requirements.txt + d2lite (editable)

npm-dep:  # the site serves MathJax locally; build_book.py fetches it once with npm
	@command -v npm >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq npm >/dev/null; }

system-deps:  ## Debian packages for the browser test: chromium and a CJK font
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null; \
	fi

book: $(STAMP) npm-dep  ## build the bilingual site into _build/html (offline, warnings are errors)
	$(PY) tools/build_book.py

test: $(STAMP) system-deps book  ## the whole suite: library, tools, notebooks (quick mode), site
	$(PY) -m pytest tests $(NOTEBOOKS) --nbval-lax --nbval-current-env -p no:cacheprovider --durations=25

test-site: $(STAMP) system-deps book  ## the website in headless Chromium (screenshots in _build/screenshots)
	$(PY) -m pytest tests/test_site.py -p no:cacheprovider

test-lib: $(STAMP)  ## library and tool tests only (no notebooks, no browser)
	$(PY) -m pytest tests --ignore=tests/test_site.py

test-notebooks: $(STAMP)  ## run every executed notebook in quick mode with nbval
	$(PY) -m pytest $(NOTEBOOKS) --nbval-lax --nbval-current-env

sync: $(STAMP)  ## bring each notebooks/<lang>/*.py and its book/<lang>/*.ipynb into line
	$(VENV)/bin/jupytext --sync notebooks/zh/*.py notebooks/en/*.py

execute: $(STAMP)  ## re-execute the .ipynb editions (D2LITE_QUICK=0: full with a GPU, cpu without)
	$(PY) tools/execute_notebooks.py

lint: $(STAMP)  ## ruff check, and ruff format --check of the code (not the notebook sources)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check d2lite tests tools benchmarks

format: $(STAMP)  ## ruff format the library, tests, tools and benchmarks
	$(VENV)/bin/ruff format d2lite tests tools benchmarks

bench: export D2LITE_DATA ?= ../shared/data
bench: $(STAMP)  ## the CPU-sized benchmarks (throughput, time to accuracy)
	$(PY) benchmarks/throughput.py
	$(PY) benchmarks/time_to_accuracy.py --quick

clean:  ## remove build outputs (keeps .venv and data/)
	rm -rf _build/html _build/logs _build/screenshots .pytest_cache .ruff_cache book/*/checkpoints
	find . -name __pycache__ -not -path './.venv/*' -prune -exec rm -rf {} +
