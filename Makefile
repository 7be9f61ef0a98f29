# Two commands do everything: `make lab` (learn) and `make test` (check).
# Both create .venv and install the pinned environment on first use; later runs are quick.
# Linux, macOS, and Windows with GNU make (Git Bash); without make see the README.
SHELL := /bin/bash
ifeq ($(OS),Windows_NT)
PYTHON ?= py
else
PYTHON ?= python3
endif
# VENV=$$CONDA_PREFIX (or any existing environment) installs into it instead of creating .venv
VENV ?= .venv
# the environment's interpreter: bin/python, Scripts/python.exe (Windows venv), python.exe (Windows conda)
PY := $(firstword $(wildcard $(VENV)/bin/python $(VENV)/python.exe $(VENV)/Scripts/python.exe) \
        $(if $(filter Windows_NT,$(OS)),$(VENV)/Scripts/python.exe,$(VENV)/bin/python))
STAMP := $(VENV)/.installed
# torch build: auto (CPU-only on Linux without an NVIDIA GPU), cpu or cuda; setting it re-runs the set-up
TORCH ?= auto
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
NBVAL := -p no:cacheprovider --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600
# Two notebooks at a time (pytest-xdist, one worker per notebook): on 2 cores this takes about
# 0.6x the time of one after another. The kernels' idle OpenMP threads must sleep, not spin
# against the other notebook's (most notebooks import torch before cnnlib sets this).
# Stored outputs do not change: cnnlib.train picks thread counts from the work and the CPUs.
NBVAL_WORKERS ?= 2
NBVAL_PARALLEL := -n $(NBVAL_WORKERS) --dist loadscope

.PHONY: setup lab test test-unit test-notebooks outputs slides slides-pdf bench release grade clean help FORCE_SETUP

help:
	@echo "make lab             set up (first time), refresh my-notebooks/ (your copies) and open JupyterLab on it"
	@echo "                     UPDATE=03 (or 'all') gets a newer lesson (your copy is renamed NN_x.mine-1.ipynb);"
	@echo "                     JUPYTER_ARGS='--no-browser --port 8899' extra server flags (--allow-root is automatic)"
	@echo "make setup           only create .venv (uv if it can be had; SETUP_ARGS=--pip for pip only)"
	@echo "                     TORCH=auto|cpu|cuda which torch build; VENV=\$$CONDA_PREFIX uses a conda env"
	@echo "make test            set up (first time), run unit tests and every notebook under nbval"
	@echo "make slides          one offline reveal.js deck per notebook in build/slides/ (needs npm)"
	@echo "make slides-pdf      the decks and one PDF per deck (needs Debian's chromium)"
	@echo "make bench           measure the speed targets (build/bench/results.md)"
	@echo "make outputs NB=...  re-run one notebook and store its outputs (maintainers)"
	@echo "make release         student versions of the notebooks in release/ (FORCE=1 to replace)"
	@echo "make grade SUBMISSIONS=dir  grade dir/<student>/<NN_topic>.ipynb: grades.csv + feedback"
	@echo "                     in OUT (default dir-graded); TIMEOUT=60 s per cell, NOTEBOOK_TIMEOUT=900,"
	@echo "                     SANDBOX=auto|require|off (bubblewrap), MEMORY_GB=6, MAX_PROCESSES=256, ONLY='03 04', FORCE=1"

# tools/setup_venv.py: python3 -m venv, the torch route, the pins with uv (pip if uv cannot be had), cnnlib -e.
$(STAMP): requirements.txt pyproject.toml tools/setup_venv.py $(if $(filter command line,$(origin TORCH)),FORCE_SETUP)
	$(PYTHON) tools/setup_venv.py --venv "$(VENV)" --torch $(TORCH) $(SETUP_ARGS)
	@touch $@

setup: $(STAMP)

FORCE_SETUP:

# tools/lab.py: my-notebooks/ (student copies, never overwritten; solutions in my-notebooks/solutions/),
# then JupyterLab rooted there (autosave never touches a tracked file), nbgrader's UI off.
lab: setup
	$(PY) tools/lab.py $(if $(UPDATE),--update $(UPDATE)) -- $(JUPYTER_ARGS)

test: test-unit test-notebooks

test-unit: setup
	$(PY) -m pytest tests -q --cov=cnnlib --cov-report=term-missing:skip-covered --cov-fail-under=90

test-notebooks: setup
	$(PY) -m pytest $(NBVAL) $(NBVAL_PARALLEL) -q $(NOTEBOOKS)

# Re-run a notebook top to bottom in a fresh kernel and store its outputs in place.
outputs: setup
	@test -n "$(NB)" || { echo "usage: make outputs NB=notebooks/01_....ipynb"; exit 2; }
	$(PY) tools/build_notebook.py $(NB)

# Lecture slides: reveal.js, MathJax, jQuery and require.js come from npm (pinned in
# tools/slides/package.json) into build/slides/lib, so the decks work with no network.
slides: setup
	$(PY) tools/slides/build.py

slides-pdf: setup
	$(PY) tools/slides/build.py --pdf

# Speed targets, measured several times (median and spread) into build/bench/.
bench: setup
	NBVAL_ARGS="$(NBVAL) $(NBVAL_PARALLEL)" $(PY) tools/bench.py $(BENCH_ARGS)

# Graded exercises (nbgrader markup, see CONTRIBUTING.md): student versions without
# solutions, hidden tests or mark schemes; an autograder built on nbgrader's preprocessors.
release: setup
	$(PY) -m cnnlib.grading release --out release $(if $(FORCE),--force)

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [OUT=dir] [TIMEOUT=60] [ONLY='03 04'] [FORCE=1]"; exit 2; }
	$(PY) -m cnnlib.grading grade "$(SUBMISSIONS)" $(if $(OUT),--out "$(OUT)") $(if $(TIMEOUT),--timeout $(TIMEOUT)) $(if $(NOTEBOOK_TIMEOUT),--notebook-timeout $(NOTEBOOK_TIMEOUT)) $(if $(SANDBOX),--sandbox $(SANDBOX)) $(if $(MEMORY_GB),--memory-gb $(MEMORY_GB)) $(if $(MAX_PROCESSES),--max-processes $(MAX_PROCESSES)) $(if $(ONLY),--notebooks $(ONLY)) $(if $(FORCE),--force)

clean:
	rm -rf build release .pytest_cache .coverage htmlcov
