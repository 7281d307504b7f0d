# Two entry points: `make demo` (the main job) and `make test` (everything CI runs).
# Both build .venv from pyproject.toml first; nothing installed by hand is needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Oldest Airflow 3.x we support; `make test` also runs the non-e2e suite against it.
COMPAT_AIRFLOW ?= 3.1.8
# ...on the oldest supported Python when the machine has it (pyenv's 3.10 here), else $(PYTHON).
COMPAT_PYTHON ?= $(or $(shell for p in $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10 python3.10; do \
	"$$p" -c 'import venv' 2>/dev/null && { echo "$$p"; break; }; done),$(PYTHON))
COMPAT_VENV ?= .venv-airflow-compat
COMPAT_STAMP := $(COMPAT_VENV)/.installed

.PHONY: demo test lint typecheck unit compat compat-e2e emulator bench dist clean

# --compile-bytecode: what pip does by default and uv does not. Without it, and with
# PYTHONDONTWRITEBYTECODE=1 (set on this machine kind), every Airflow task process compiles the
# modules it imports from source again (docs/performance.md, "Where a worker run's time goes").
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

$(COMPAT_STAMP): pyproject.toml
	$(COMPAT_PYTHON) -m venv $(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -m pip install -q --upgrade pip uv
	$(COMPAT_VENV)/bin/uv pip install -q --compile-bytecode --python $(COMPAT_VENV)/bin/python -e '.[dev]' 'apache-airflow==$(COMPAT_AIRFLOW)'
	touch $(COMPAT_STAMP)

venv: $(STAMP)

## The main job: a throwaway Airflow (scheduler, dag-processor, api-server, triggerer) + the Flyte Admin
## emulator run the example DAG, narrated; FLYTE_ENDPOINT=host:port uses a real Flyte (docs/quickstart.md).
## Extra options: make demo DEMO_ARGS="--keep-home --timeout 1800"
demo: $(STAMP)
	$(BIN)/python -m flyte_async_provider.demo $(DEMO_ARGS)

emulator: $(STAMP)
	$(BIN)/flyte-admin-emulator --port 0

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

## The same tests minus the real-Airflow e2e ones, on the oldest supported Airflow.
compat: $(COMPAT_STAMP)
	$(COMPAT_VENV)/bin/python -m pytest -q -m "not e2e" -p no:cacheprovider

## The e2e scenarios whose code paths differ before Airflow 3.3 (no on_kill: the cancel path; no
## start_from_trigger), on a real Airflow of the oldest supported version: success, Flyte failure and
## abort, a user marking the task failed, execution_timeout while deferred, a SIGKILLed triggerer
## restarted. ~1.5 min on top of `compat`.
COMPAT_E2E_TESTS ?= test_1_ or test_3_ or test_4_ or test_5_ or test_6_ or test_7_ or test_9_
compat-e2e: $(COMPAT_STAMP)
	$(COMPAT_VENV)/bin/python -m pytest -q -p no:cacheprovider tests/e2e/test_scenarios.py -k "$(COMPAT_E2E_TESTS)"

test: lint typecheck unit compat compat-e2e

bench: $(STAMP)
	$(BIN)/python benchmarks/triggerer_scale.py

## sdist + wheel of the working tree into $(DIST) (docs/quickstart.md installs the wheel), metadata
## checked with `twine check --strict`. The build runs isolated (hatchling from the package index) and
## builds the wheel from the sdist, so a file missing from the sdist breaks it here, not for a user.
DIST ?= dist
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/*

clean:
	rm -rf $(VENV) $(COMPAT_VENV) .mypy_cache .pytest_cache .ruff_cache dist
