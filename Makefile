# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   runs the main job against the bundled local Blooio server
#   make test   runs ruff, mypy and the whole test suite
# Both create .venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest ui bench screenshot browser clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version' 
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m example_project.demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

ui: $(STAMP)
	$(BIN)/python -m example_project.ui

bench: $(STAMP)
	$(BIN)/python -m benchmarks.crawl_benchmark

screenshot: $(STAMP)
	$(BIN)/python -m example_project.screenshot

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
