# clipvec: two commands on a fresh machine (Python 3.10+):
#   make run    install the runtime (no test tools), then serve on http://127.0.0.1:3000 (CLIPVEC_MODEL=/local/folder to run offline)
#   make test   install the runtime and the test extra, then run the whole test suite (about 12-14 min on 2 cores)
#   make test-fast   the unit tests and the Milvus Lite integration tests (about 1.7-2 min): the developer's loop
#   make demo   serve a generated folder of coloured shapes with a small CLIP, offline
# Variables: PORT=3000 HOST=127.0.0.1 (HOST=0.0.0.0 to listen on every interface),
#   TESTS=tests/unit/images (a part of the suite), TORCH_SPEC (e.g. a CUDA build, see README).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch first and pinned: on this project's machines 2.13.0 is a local CPU wheel; an
# unpinned torch would pull a multi-GB CUDA build. For a GPU, pick the build here (README, "GPU"):
#   make setup TORCH_SPEC=torch==2.13.0 TORCH_INDEX=https://download.pytorch.org/whl/cu126
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
PORT ?= 3000
HOST ?= 127.0.0.1
TESTS ?= tests
# pytest prints one line per test file with a running percentage; PYTEST_FLAGS="-x" etc. to add more.
PYTEST_FLAGS ?=

.PHONY: setup setup-test run demo test test-fast lint format bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Two stamps, one per set: .installed-run (torch + the runtime dependencies, what `make run`
# needs) and .installed-test (the test extra on top: pytest, Playwright, Ray, the Milvus server
# wheel, ...). A venv made by `make run` gets the test extra added by `make test`; a change to
# pyproject.toml redoes both.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)" $(if $(TORCH_INDEX),--index-url "$(TORCH_INDEX)")
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-run
	$(BIN)/pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed-run
setup-test: $(VENV)/.installed-test

# The model is checked before BentoML starts: without one, this stops at once and says what to do.
run: setup
	$(BIN)/clipvec serve --host $(HOST) --port $(PORT)

demo: setup
	HF_HUB_OFFLINE=1 $(BIN)/clipvec demo --host $(HOST) --port $(PORT)

# Four test processes, a test file (the full stack's files together) in one of them: the suite
# mostly waits on servers and subprocesses (about 25 CPU-minutes on 2 cores; three processes
# took 15.4 min, four 14.1-14.4 on a quiet machine). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 4
test: setup-test
	bash tools/install_test_deps.sh
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_FLAGS) -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder $(TESTS)

# No real servers, no browser, no full-size model: in-process tests and Milvus Lite.
# Three test processes (pytest-xdist): the tests mostly wait, so three beat two cores' worth.
# A test file to one process, the longest files first, as in `make test`: xdist's default
# (--dist load) handed the first quarter of the tests in order to the first process, which
# were tests/conftest.py's longest files, all of them (it ran 120 s, the other two 56 s).
FAST_TESTS ?= tests/unit tests/integration tests/test_zz_tree_clean.py
FAST_WORKERS ?= 3
test-fast: setup-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_FLAGS) -n $(FAST_WORKERS) --dist loadgroup --no-loadscope-reorder -m "not server and not slow" $(FAST_TESTS)

lint: setup-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: setup-test
	$(BIN)/ruff format . && $(BIN)/ruff check --fix .

bench: setup-test
	$(BIN)/python bench/run.py

# Removes what `make`, the tests, the linters and the benchmarks made: the venv, the editable
# install's src/*.egg-info, test caches and output, build files, bytecode, the demo. Never your
# data: ./milvus.db, images/ (and their thumbnails), milvus-data/, stack-data/, models/ stay
# (tests/unit/deploy/test_makefile.py checks every .gitignore entry is one or the other).
clean:
	rm -rf $(VENV) .test-cache test-output build dist *.egg-info src/*.egg-info demo \
		.pytest_cache .ruff_cache .bench-cache .schemathesis .hypothesis
	find . -path ./.git -prune -o -type d -name __pycache__ -prune -exec rm -rf {} +
	find . -path ./.git -prune -o -type f -name '*.pyc' -exec rm -f {} +
