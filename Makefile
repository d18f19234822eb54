# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   runs the main job against the bundled local Blooio server
#   make test   runs ruff, mypy and the test suite in two environments:
#     .venv         the floor: the oldest releases supported (constraints/floor.txt), with the
#                   example project's packages; make demo, ui, bench and screenshot use it too
#     .venv-newest  the newest Dagster, pandas and httpx on PyPI (constraints/newest.txt), on
#                   Python 3.13 when it is installed; the Dagster packages released in lockstep
#                   (dagster-webserver, dg, dagster-duckdb-pandas) join it only if they can
#                   without changing Dagster or pandas, and tests needing absent ones are
#                   deselected by their markers, said out loud
# Each environment is created on first use, reused, and created anew when what pyproject.toml
# installs, or its constraints file, changes. `make ui PORT=3001` serves the UI on another port;
# `make screenshot SCREENSHOT_DIR=/tmp/pictures` writes the README's pictures elsewhere than
# docs/; `make bench BENCH_ARGS=--quick` passes arguments to the benchmark (`--quick`: smaller
# lists; `--smoke`: every scenario at a few hundred chats, to see that it runs; `--scenario
# NAME`: one scenario; `--help` lists them).

PYTHON ?= python3
PORT ?= 3000
SCREENSHOT_DIR ?= docs
BENCH_ARGS ?=
# make test builds and tests both environments at once, one per core; their lines interleave as
# they come, each prefixed with its environment, so progress shows while both run. TEST_JOBS=1
# runs them one after the other.
TEST_JOBS ?= 2
# pytest processes per environment (pytest-xdist's -n; 0: the tests run in pytest's own
# process). The floor runs more than twice the newest's work (the example project, DuckDB,
# the webserver, dg), so it takes two workers while the newest runs in one process beside it:
# three processes keep two cores busy until the newest ends, and the floor's two then share
# what is left. With TEST_JOBS=1 each environment has the machine to itself and takes two.
FLOOR_WORKERS ?= 2
NEWEST_WORKERS ?= $(if $(filter 1,$(TEST_JOBS)),2,0)
# (No --output-sync: make would hold each command's output until the command ends.)
PARALLEL = $(MAKE) --no-print-directory -j$(TEST_JOBS)
# A recipe that pipes its output through a prefix still fails when the command fails.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
# Lines of one environment's test run, prefixed; pytest's progress comes a line at a time.
floor_lines = 2>&1 | sed -u 's/^/[floor] /'
newest_lines = 2>&1 | sed -u 's/^/[newest] /'

# The newest environment runs on the newest Python this project declares (its classifiers):
# python3.13 on PATH, or pyenv's 3.13, else $(PYTHON).
ifeq ($(origin NEWEST_PYTHON), undefined)
NEWEST_PYTHON := $(shell \
	if python3.13 -c '' 2>/dev/null; then echo python3.13; \
	elif p=$$(pyenv prefix 3.13 2>/dev/null) && test -x "$$p/bin/python3.13"; then echo "$$p/bin/python3.13"; \
	else echo $(PYTHON); fi)
endif

VENV := .venv
BIN := $(VENV)/bin
NEWEST_VENV := .venv-newest
NEWEST_BIN := $(NEWEST_VENV)/bin

# A stamp per environment, named by a hash of what it was built from: the interpreter, the
# parts of pyproject.toml that decide what is installed, and the constraints file.
INSTALL_SPEC := import tomllib, json; d = tomllib.load(open("pyproject.toml", "rb")); \
	print(json.dumps([d["project"], d["build-system"], d["tool"]["setuptools"]], sort_keys=True))
key = $(shell { echo $(1); $(PYTHON) -c '$(INSTALL_SPEC)'; cat $(2); } | sha256sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(call key,$(PYTHON),constraints/floor.txt)
NEWEST_STAMP := $(NEWEST_VENV)/.installed-$(call key,$(NEWEST_PYTHON),constraints/newest.txt)

# The tests to deselect in an environment: those whose package is not installed, as -m.
ABSENT_MARKERS := import importlib.util as u; \
	needs = {"duckdb": "dagster_duckdb_pandas", "webserver": "dagster_webserver", \
	         "browser": "dagster_webserver", "dg": "dagster_dg_cli", "sdk": "blooio"}; \
	print(" and ".join(f"not {m}" for m, mod in needs.items() if u.find_spec(mod) is None))

.PHONY: demo test lint typecheck typecheck-floor typecheck-newest pytest pytest-floor \
	pytest-newest envs ui bench screenshot clean

# Bytecode is compiled once, after the installs, in parallel (faster than pip's own one file at
# a time): with PYTHONDONTWRITEBYTECODE set, as on some CI machines, Python would otherwise
# compile every module it imports again in every process, tests and benchmarks included.
COMPILE = -m compileall -q -j 0 "$$($(1) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null || true

$(STAMP):
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed, found " + sys.version'
	@echo "Creating $(VENV) (the floor: oldest supported releases) ..."
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -c constraints/floor.txt -e '.[dev,example,bench]'
	$(BIN)/python -m pip check
	$(BIN)/python $(call COMPILE,$(BIN)/python)
	@touch $@

$(NEWEST_STAMP):
	@echo "Creating $(NEWEST_VENV) (the newest releases) with $$($(NEWEST_PYTHON) --version) ..."
	@case "$$($(NEWEST_PYTHON) --version)" in *" 3.13."*) ;; *) echo "NOTE: no Python 3.13 found," \
		"so Python 3.13 goes untested; set NEWEST_PYTHON=/path/to/python3.13 to test it." ;; esac
	rm -rf $(NEWEST_VENV)
	$(NEWEST_PYTHON) -m venv $(NEWEST_VENV)
	$(NEWEST_BIN)/python -m pip install --quiet --upgrade pip
	$(NEWEST_BIN)/python -m pip install --quiet --no-compile -c constraints/newest.txt -e '.[dev]'
	@# The lockstep packages each pin one Dagster release: only the one made with this Dagster
	@# can join, and only if it accepts these pandas and httpx; the rest stay out.
	@$(NEWEST_BIN)/python -m pip freeze | grep -iE '^(dagster|dagster-pipes|dagster-shared|pandas|numpy|httpx)==' > $(NEWEST_VENV)/held.txt
	@core=$$($(NEWEST_BIN)/python -c 'import dagster; print(dagster.__version__)'); \
	lib=$$($(NEWEST_BIN)/python -c 'from dagster_shared.libraries import library_version_from_core_version as v; import dagster; print(v(dagster.__version__))'); \
	for pkg in playwright blooio dagster-webserver==$$core dagster-dg-cli==$$core dagster-duckdb-pandas==$$lib; do \
		log=$(NEWEST_VENV)/optional-$${pkg%%=*}.log; \
		if $(NEWEST_BIN)/python -m pip install --quiet --no-compile -c constraints/newest.txt -c $(NEWEST_VENV)/held.txt "$$pkg" >$$log 2>&1; \
		then echo "  $$pkg: installed"; \
		elif grep -q "No matching distribution found" $$log; \
		then echo "  $$pkg: not on PyPI yet for Dagster $$core, which came out first; the tests that need it are deselected here, not failed (see $$log)"; \
		else echo "  $$pkg: left out, as it would change $$(grep -iE '^(dagster|pandas|httpx)==' $(NEWEST_VENV)/held.txt | tr '\n' ' ')here; the tests that need it are deselected, not failed (see $$log)"; fi; \
	done
	$(NEWEST_BIN)/python -m pip check
	$(NEWEST_BIN)/python $(call COMPILE,$(NEWEST_BIN)/python)
	@touch $@

envs: $(STAMP) $(NEWEST_STAMP)

demo: $(STAMP)
	$(BIN)/python -m example_project.demo

test:
	@$(PARALLEL) envs
	@$(PARALLEL) lint typecheck-floor typecheck-newest
	@$(PARALLEL) pytest-floor pytest-newest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

# Both environments: an API or type that one Dagster or pandas release lacks fails here.
typecheck:
	@$(PARALLEL) typecheck-floor typecheck-newest

typecheck-floor: $(STAMP)
	$(BIN)/mypy --cache-dir .mypy_cache/floor

typecheck-newest: $(NEWEST_STAMP)
	$(NEWEST_BIN)/mypy --cache-dir .mypy_cache/newest

pytest:
	@$(PARALLEL) pytest-floor pytest-newest

# The wheel is built and installed once, in the newest environment. Both environments run
# the tests in a random order (pytest-randomly, asked for by name so that its absence fails
# loudly); the seed is printed at the top: `-p randomly --randomly-seed=N` runs that order again
# (add `-n 0` for one process). Workers take tests from that order (pytest-xdist, also asked
# for by name), the tests marked long first (tests/conftest.py), and one that runs out takes
# over the other's last ones (worksteal), so that neither is left alone with a long one.
workers = -p xdist -n $(1) $(if $(filter-out 0,$(1)),--dist worksteal)
pytest-floor: $(STAMP)
	@echo "== tests on the floor: $$($(BIN)/python -m pip freeze | grep -iE '^(dagster|pandas|httpx)==' | tr '\n' ' ')"
	$(BIN)/python -m pytest -p randomly $(call workers,$(FLOOR_WORKERS)) -m "not packaging" $(floor_lines)

# The tests marked make run a Makefile target, which uses the floor's environment whichever
# environment runs the tests: the floor's run covers them.
# The crawl's property tests are derandomized, so both environments would draw the same
# examples: the floor runs 30 of each, the newest NEWEST_PROPERTY_EXAMPLES, which put the
# newest httpx and Python through a spread of faults (BLOOIO_PROPERTY_EXAMPLES=N sets both).
NEWEST_PROPERTY_EXAMPLES ?= 10
pytest-newest: $(NEWEST_STAMP)
	@absent="$$($(NEWEST_BIN)/python -c '$(ABSENT_MARKERS)')"; \
	echo "== tests on the newest releases: $$($(NEWEST_BIN)/python -m pip freeze | grep -iE '^(dagster|pandas|httpx)==' | tr '\n' ' ')"; \
	echo "== deselected here: -m \"not make\", as make's targets run in the floor's environment, where they are tested"; \
	echo "== property tests: $${BLOOIO_PROPERTY_EXAMPLES:-$(NEWEST_PROPERTY_EXAMPLES)} examples each here; the floor runs $${BLOOIO_PROPERTY_EXAMPLES:-30}"; \
	if [ -n "$$absent" ]; then echo "== deselected here, as the packages they need are not in this environment (see why when it was made): -m \"$$absent\""; fi; \
	BLOOIO_PROPERTY_EXAMPLES=$${BLOOIO_PROPERTY_EXAMPLES:-$(NEWEST_PROPERTY_EXAMPLES)} \
	$(NEWEST_BIN)/python -m pytest -p randomly $(call workers,$(NEWEST_WORKERS)) -m "not make$${absent:+ and $$absent}" $(newest_lines)

ui: $(STAMP)
	$(BIN)/python -m example_project.ui --port $(PORT)

bench: $(STAMP)
	$(BIN)/python -m benchmarks.crawl_benchmark $(BENCH_ARGS)

screenshot: $(STAMP)
	$(BIN)/python -m example_project.screenshot --output-dir '$(SCREENSHOT_DIR)'

clean:
	rm -rf $(VENV) $(NEWEST_VENV) .mypy_cache .ruff_cache .pytest_cache
