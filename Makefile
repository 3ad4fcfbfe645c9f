# Two commands set this project up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The opt-in compiled build (setup.py, docs/development.md): a wheel with the engine's hot modules
# compiled by mypyc, installed (not editable) into a venv of its own.
COMPILED_VENV  := .venv-compiled
COMPILED_STAMP := $(COMPILED_VENV)/.installed
WHEELS         := build/wheel
SOURCES        := $(shell find rules_engine -name '*.py' -o -name '*.lark')

.PHONY: demo test lint compiled bench bench-store bench-service bench-simulate bench-tables schemas docs clean

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
	$(BIN)/ruff check rules_engine cli.py setup.py tests $(wildcard bench) $(wildcard scripts/*.py)
	$(BIN)/mypy
	$(BIN)/lint-imports

# The wheel is built with .venv's mypy (which ships mypyc), hence --no-build-isolation and the build
# tools pyproject.toml names; build/ is emptied first so that no file of an older build gets in.
$(COMPILED_STAMP): $(SOURCES) pyproject.toml setup.py | $(STAMP)
	@echo "== the compiled build: mypyc compiles the engine's hot modules to C, then gcc (several"
	@echo "   minutes, silent meanwhile; it runs again only when a source file changes)"
	$(BIN)/python -m pip install --quiet 'setuptools>=77' wheel
	rm -rf build
	RULES_ENGINE_COMPILE=1 $(BIN)/python -m pip wheel --quiet --no-build-isolation --no-deps \
		--wheel-dir $(WHEELS) .
	test -x $(COMPILED_VENV)/bin/python || $(PYTHON) -m venv $(COMPILED_VENV)
	$(COMPILED_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(COMPILED_VENV)/bin/python -m pip uninstall --quiet --yes rules-engine
	$(COMPILED_VENV)/bin/python -m pip install --quiet "$$(ls $(WHEELS)/rules_engine-*.whl)[test]"
	touch $(COMPILED_STAMP)

compiled: $(COMPILED_STAMP)

# The tests run beside a throwaway PostgreSQL server, installed if missing (docs/development.md):
# once on the source tree, once more on the compiled build. --import-mode=importlib keeps the
# repository off sys.path, so rules_engine comes from the wheel (tests/conftest.py checks it).
# The benchmarks' smoke runs (marker `bench`) run in the pure pass only, but for the one that
# measures the compiled build's own row. So do the browser tests (marker `browser`), in Debian's
# chromium, installed if missing. Each pass ends with its ten slowest tests.
test: $(STAMP) lint $(COMPILED_STAMP)
	@echo "== the tests on the pure-Python code (a few minutes)"
	scripts/with-chromium.sh scripts/with-postgres.sh $(BIN)/python -m pytest -q --durations=10
	@echo "== the tests on the compiled build (a few minutes)"
	RULES_ENGINE_EXPECT_COMPILED=1 scripts/with-postgres.sh \
		$(COMPILED_VENV)/bin/pytest -q --import-mode=importlib -m "not bench and not browser" --durations=10

bench: $(STAMP) $(COMPILED_STAMP)
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
	scripts/with-postgres.sh $(BIN)/python bench/bench_service.py

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
	rm -rf $(VENV) $(COMPILED_VENV) build .pytest_cache .mypy_cache .ruff_cache .hypothesis
