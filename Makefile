# Two commands: `make demo` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: test demo bench lint typecheck pytest system-deps clean

test: system-deps $(STAMP)
	$(BIN)/ruff check src tests benchmarks build_scripts
	$(BIN)/ruff format --check src tests benchmarks build_scripts
	$(BIN)/mypy
	$(BIN)/pytest

demo: system-deps $(STAMP)
	$(BIN)/esecure demo

# Every benchmark, one table into docs/performance.md; QUICK=1: fewer repeats (< 5 min).
bench: system-deps $(STAMP)
	$(BIN)/python benchmarks/run_all.py $(if $(QUICK),--quick)

system-deps:
	@bash build_scripts/install-system-deps.sh

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache
