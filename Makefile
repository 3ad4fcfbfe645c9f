# Two commands set this project up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench bench-store bench-service bench-simulate bench-tables schemas docs clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	@sh programs/demo.sh $(BIN)/loyalty

lint: $(STAMP)
	@echo "== lint: ruff, mypy --strict, the import contracts (a minute or two)"
	$(BIN)/ruff check rules_engine cli.py tests $(wildcard bench) $(wildcard scripts/*.py)
	$(BIN)/mypy
	$(BIN)/lint-imports

# The tests run beside a throwaway PostgreSQL server, installed if missing (docs/development.md),
# and the browser tests (marker `browser`) in Debian's chromium, installed if missing. The run ends
# with its ten slowest tests.
test: $(STAMP) lint
	@echo "== the tests (a few minutes)"
	scripts/with-chromium.sh scripts/with-postgres.sh $(BIN)/python -m pytest -q --durations=10

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python bench/bench_dsl.py
	$(BIN)/python bench/bench_engine.py
	$(BIN)/python bench/bench_reader.py
	$(BIN)/python bench/bench_streams.py
	$(BIN)/python bench/bench_service.py

# The JSON Schemas in schemas/, generated from the models (a test checks they are in sync).
schemas: $(STAMP)
	$(BIN)/loyalty schema --out schemas

# docs/errors.md, the index of every diagnostic code, from rules_engine/codes.py (a test checks it).
docs: $(STAMP)
	$(BIN)/python scripts/gen-errors-doc.py

# What the stores cost: SQLite and PostgreSQL (a throwaway server), 1 and 4 workers.
bench-store: $(STAMP)
	scripts/with-postgres.sh $(BIN)/python bench/bench_store.py

# The HTTP service's benchmark with its PostgreSQL rows (a throwaway server; `make bench` runs SQLite).
bench-service: $(STAMP)
	PG_DURABLE=1 scripts/with-postgres.sh $(BIN)/python bench/bench_service.py

# What `loyalty simulate` costs against the plain loop, on 1 and 2 processes and with --compare
# (bench/bench_simulate.py: EVENTS=1000000 by default, hours at today's engine speed).
EVENTS ?= 1000000
bench-simulate: $(STAMP)
	$(BIN)/python bench/bench_simulate.py --events $(EVENTS)

# The peak memory of turning a transaction table into events, 200,000 and 2,000,000 rows
# (bench/bench_tables.py: a few minutes; about 2.5 GB for the whole-table reader's 2,000,000).
bench-tables: $(STAMP)
	$(BIN)/python bench/bench_tables.py

clean:
	rm -rf $(VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
