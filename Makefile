# One task runner. `make test` sets everything up on a fresh checkout and runs the whole suite.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://root@127.0.0.1:5432/test

.PHONY: install test lint typecheck unit test-postgres fuzz serve bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'

lint: install
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q

# The whole suite: lint, types, tests on SQLite.
test: lint typecheck unit

# The suite again on PostgreSQL (CI runs both).
test-postgres: install
	TABELLION_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q

# Schemathesis at length over /openapi.json (the suite runs the same test with 5 examples).
FUZZ_EXAMPLES ?= 200
FUZZ_STRICT ?=
fuzz: install
	TABELLION_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) TABELLION_FUZZ_STRICT=$(FUZZ_STRICT) \
		$(BIN)/pytest -q tests/test_openapi_fuzz.py

serve: $(BIN)/python
	$(BIN)/pip install --quiet .
	$(BIN)/tabellion serve

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
