# Two commands set this project up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-store schemas clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@sh programs/demo.sh $(BIN)/loyalty

lint: $(STAMP)
	$(BIN)/ruff check rules_engine cli.py tests $(wildcard bench) $(wildcard scripts/*.py)
	$(BIN)/mypy

# The tests run beside a throwaway PostgreSQL server, installed if missing (docs/development.md).
test: $(STAMP) lint
	scripts/with-postgres.sh $(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/bench_dsl.py
	$(BIN)/python bench/bench_engine.py

# What the stores cost: SQLite and PostgreSQL (a throwaway server), 1 and 4 workers.
bench-store: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python bench/bench_store.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
