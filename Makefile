# Two entry points: `make demo` (the main job) and `make test` (everything CI runs).
# Both build .venv from pyproject.toml first; nothing installed by hand is needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit emulator bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip uv
	$(BIN)/uv pip install -q --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

## The main job. Until the Airflow demo exists: the Flyte Admin emulator with the example launch plan.
demo: $(STAMP)
	$(BIN)/python -m flyte_async_provider.emulator --port 8089

emulator: $(STAMP)
	$(BIN)/flyte-admin-emulator --port 0

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/triggerer_scale.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
