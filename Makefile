# Two entry points: `make run` (the host with example strategies) and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./algovisor-data

.PHONY: run test lint types clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The example strategies `make run` starts import openalgo and pandas: the examples extra.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[examples]'
	touch $@

# The test extra includes the examples extra, so this also makes `.installed` true.
$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@ $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/algovisor --data-dir $(DATA_DIR) serve --examples examples/strategies

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

types: $(VENV)/.installed-test
	$(BIN)/mypy

# Two workers: the suite is mostly real processes waiting on each other, and CI has 2 cores.
# loadgroup keeps each browser-test module on one worker, so it starts one host.
PYTEST_WORKERS ?= 2

test: lint types
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
