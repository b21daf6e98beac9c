# Two commands: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo lint typecheck pytest system-deps clean

test: system-deps $(STAMP)
	$(BIN)/ruff check src tests benchmarks build_scripts
	$(BIN)/ruff format --check src tests benchmarks build_scripts
	$(BIN)/mypy
	$(BIN)/pytest

demo: system-deps $(STAMP)
	$(BIN)/esecure demo

system-deps:
	@bash build_scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
