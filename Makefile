# Two commands on a fresh machine: `make run` and `make test`. Both create .venv
# on first use, with the first of python3.11, python3.12 and python3.13 found
# (or PYTHON=/path/to/python3.x), and install the project into it.
ifndef PYTHON
# The first that runs: a pyenv shim of a version not selected is found but fails.
PYTHON := $(shell for version in 3.11 3.12 3.13; do python$$version -c "" 2>/dev/null && command -v python$$version && break; done)
endif
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test test-slow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ] || ! command -v "$(PYTHON)" >/dev/null 2>&1; then \
		echo "make: no Python for textpipe: install python3.11, 3.12 or 3.13, or set PYTHON=/path/to/python3.x$(if $(PYTHON), ($(PYTHON) not found))"; exit 2; fi
	@if [ -x $(BIN)/python ]; then echo "make: updating $(VENV) (pyproject.toml changed)"; \
		else echo "make: creating $(VENV) with $(notdir $(PYTHON)) ($$($(PYTHON) -V 2>&1))"; $(PYTHON) -m venv $(VENV); fi
	@echo "make: installing textpipe and its dependencies into $(VENV) (first time only, 1-3 min)"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[test]"
	@touch $(STAMP)

run: $(STAMP)
	@echo "make: running textpipe run --input data/raw --output data/processed"
	@$(BIN)/textpipe run --input data/raw --output data/processed

test: $(STAMP)
	$(BIN)/python -m pytest

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow

bench: $(STAMP)
	$(BIN)/python bench/run.py 2225

clean:
	rm -rf data/processed .pytest_cache
