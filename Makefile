# The two commands of the README:
#   make demo   set everything up, start the managed Neo4j, store and summarise a demo plan
#   make test   set everything up, lint, type-check, and run the whole test suite
# Set-up is a virtual environment in .venv with the pinned dependencies of
# requirements/constraints.txt; the managed Neo4j is assembled with Maven on first use.
# The demo installs only the package and what it needs; the tests add the dev tools, the
# LSST stack (the 'lsst' extra) and, from Debian, Graphviz, Chromium and a single-node Slurm.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
LOCK_VENV  := .venv-lock
# pytest-xdist workers of `make test`, each with a Neo4j of its own (tests/conftest.py).
TEST_WORKERS ?= 2

.PHONY: demo test lint unit lock bench bench-preflight bench-execution bench-rubin bench-queries bench-clustering bench-journals bench-batch bench-operations system-packages clean-venv

# What the demo needs: the package and its own dependencies.
$(DEMO_STAMP): pyproject.toml requirements/constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "provenance-graph needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e .
	@touch $(DEMO_STAMP)

# What the tests need besides: the dev tools, the LSST stack, Graphviz, Chromium and Slurm.
$(STAMP): $(DEMO_STAMP)
	@command -v dot >/dev/null && command -v chromium >/dev/null && command -v chromedriver >/dev/null \
	  && command -v slurmctld >/dev/null || $(MAKE) --no-print-directory system-packages
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt -e '.[dev,lsst]'
	@touch $(STAMP)

# Regenerate requirements/constraints.txt, every package the tests install, transitive ones
# included, with uv (in a venv of its own, so that it is no package of .venv). Pins already in
# the file are kept; delete a line, or add --upgrade-package NAME, to move one.
lock:
	@[ -x $(LOCK_VENV)/bin/uv ] || { $(PYTHON) -m venv $(LOCK_VENV) && $(LOCK_VENV)/bin/pip install --quiet uv==0.13.8; }
	$(LOCK_VENV)/bin/uv pip compile pyproject.toml --extra dev --extra lsst --python-version 3.11 \
	  --custom-compile-command "make lock" -o requirements/constraints.txt

# From Debian's packages, when we may: Graphviz's dot draws `provgraph viz` pictures;
# Chromium and its driver run the Neo4j Browser test; Slurm (slurmctld, slurmd, the client
# commands) and munge make the single-node cluster the Slurm tests submit to
# (tests/support/slurm.py, started by the tests themselves).
SYSTEM_PACKAGES := graphviz chromium chromium-driver slurm-wlm slurm-client munge
system-packages:
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing $(SYSTEM_PACKAGES) (apt-get) ..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else \
	  echo "note: install $(SYSTEM_PACKAGES) (e.g. sudo apt-get install ...): 'provgraph viz' needs dot,"; \
	  echo "      the Neo4j Browser test is skipped without chromium and chromedriver,"; \
	  echo "      and the Slurm tests fail without slurm-wlm, slurm-client and munge (they run as root)"; \
	fi

demo: $(DEMO_STAMP)
	$(BIN)/provgraph demo

lint: $(STAMP)
	$(BIN)/ruff check provenance_graph tests benchmarks
	$(BIN)/ruff format --check provenance_graph tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup

unit: $(STAMP)
	$(BIN)/pytest tests/unit

bench: $(STAMP)
	$(BIN)/python benchmarks/ingest.py

bench-preflight: $(STAMP)
	$(BIN)/python benchmarks/preflight.py --sizes small,medium --repeat 3

bench-execution: $(STAMP)
	$(BIN)/python benchmarks/execution.py --quanta 1000 --jobs 1 2

# One Rubin QuantumGraph (200 quanta of two mock tasks) by pipetask run, run-qbb and provgraph run.
bench-rubin: $(STAMP)
	$(BIN)/python benchmarks/rubin_execution.py --visits 10 --detectors 10 --jobs 1 2

bench-queries: $(STAMP)
	$(BIN)/python benchmarks/queries.py --visits 106 --detectors 189 --tracts 4 --lsst

# 1M quanta in memory (no database); add --plan-id PLAN to also store a stored plan's clustering.
bench-clustering: $(STAMP)
	$(BIN)/python benchmarks/clustering.py --memory --visits 1050 --detectors 189 --tracts 10

bench-journals: $(STAMP)
	$(BIN)/python benchmarks/journals.py

bench-operations: $(STAMP)
	$(BIN)/python benchmarks/operations.py

bench-batch: $(STAMP)
	$(BIN)/python benchmarks/batch_overhead.py --visits 4 --detectors 4
	$(BIN)/python benchmarks/batch_overhead.py --visits 10 --detectors 10

clean-venv:
	rm -rf $(VENV)
