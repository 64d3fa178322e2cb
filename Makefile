# clipvec: two commands on a fresh machine (Python 3.10+):
#   make run    set everything up, then serve on :3000 (CLIPVEC_MODEL=/local/folder to run offline)
#   make test   set everything up, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch first and pinned: on this project's machines 2.13.0 is a local CPU wheel; an
# unpinned torch would pull a multi-GB CUDA build.
TORCH_SPEC ?= torch==2.13.0
PORT ?= 3000

.PHONY: setup run test lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/bentoml serve service:vectorization --port $(PORT)

test: setup
	bash tools/install_test_deps.sh
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q tests

lint: setup
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .test-cache test-output build *.egg-info
