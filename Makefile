# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=

.PHONY: demo test lint typecheck unit integration bench clean system-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,grafana]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/cqm demo $(ARGS)

test: $(STAMP) lint typecheck
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check schemas processors streams tests benchmarks
	$(BIN)/ruff format --check schemas processors streams tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy schemas processors streams

unit: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit schemas processors

integration: $(STAMP)
	$(BIN)/python -m pytest -q tests/integration

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run $(ARGS)

clean:
	rm -rf $(VENV) .cqm .pytest_cache .mypy_cache .ruff_cache *.egg-info
