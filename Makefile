# The two commands of README.md: `make bench` (the comparison) and `make test` (the suite).
# Each builds .venv on first use, and again whenever pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: bench test lint venv

bench: $(INSTALLED)
	$(VENV)/bin/python -m benchmarks run --quick

test: $(INSTALLED)
	$(VENV)/bin/pytest

lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

venv: $(INSTALLED)

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[dev,bench]'
	touch $@
