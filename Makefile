# One task runner. `make test` sets everything up on a fresh checkout and runs the whole suite.
#
# Two virtual environments: `.venv` is the quick start's (`make serve`, or the README's
# one-liner) and the tests never touch it; `.venv-test` holds the editable install the tests
# need. Reinstalling editable into the venv a server runs from swaps its package under it
# (TemplateNotFound on the next page), so running the tests must not share that venv.
PYTHON ?= python3
VENV ?= .venv
TEST_VENV ?= .venv-test
BIN := $(VENV)/bin
TEST_BIN := $(TEST_VENV)/bin
PG_TEST_URL ?= postgresql+psycopg://root@127.0.0.1:5432/test
# Test processes (pytest-xdist): one per core. `make unit TEST_JOBS=0` runs in one process.
# On PostgreSQL each process uses a database of its own beside the named one (test_gw0...).
TEST_JOBS ?= auto

.PHONY: install test lint typecheck unit test-postgres fuzz scale crash serve bench read-instructions notice-instructions mutate clean

%/bin/python:
	$(PYTHON) -m venv $*
	$*/bin/pip install --quiet --upgrade pip

# The development install (editable, with the test tools), in the tests' own venv.
install: $(TEST_BIN)/python
	$(TEST_BIN)/pip install --quiet -e '.[test]'

lint: install
	$(TEST_BIN)/ruff check src tests bench scripts
	$(TEST_BIN)/ruff format --check src tests bench scripts

typecheck: install
	$(TEST_BIN)/mypy

unit: install
	$(TEST_BIN)/pytest -q -n $(TEST_JOBS)

# The whole suite: lint, types, tests on SQLite.
test: lint typecheck unit

# The suite again on PostgreSQL (CI runs both).
test-postgres: install
	TABELLION_TEST_DATABASE_URL=$(PG_TEST_URL) $(TEST_BIN)/pytest -q -n $(TEST_JOBS)

# Schemathesis at length over /openapi.json (the suite runs the same test with 5 examples).
FUZZ_EXAMPLES ?= 200
fuzz: install
	TABELLION_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(TEST_BIN)/pytest -q tests/test_openapi_fuzz.py

# Scale-out at full size (docs/operations.md): 2 API and 3 worker processes on PostgreSQL and
# S3 (moto), 5,000 letters; the suite sends 80. Prints the rate it saw.
SCALE_LETTERS ?= 5000
scale: install
	TABELLION_TEST_DATABASE_URL=$(PG_TEST_URL) TABELLION_SCALE_LETTERS=$(SCALE_LETTERS) \
		$(TEST_BIN)/pytest -q -s -n 0 -m scale tests/scale

# The crash harness at length: 60 processes killed under load (the suite kills 8), then the
# outside parts failing (SMTP, S3, PostgreSQL restarted). TABELLION_CRASH_SEED=N replays a run.
CRASH_KILLS ?= 60
crash: install
	TABELLION_TEST_DATABASE_URL=$(PG_TEST_URL) TABELLION_CRASH_KILLS=$(CRASH_KILLS) \
		TABELLION_CRASH_SCENARIOS=1 $(TEST_BIN)/pytest -q -s -n 0 -m crash tests/crash

serve: $(BIN)/python
	$(BIN)/pip install --quiet .
	$(BIN)/tabellion serve

bench: install
	$(TEST_BIN)/python bench/run_all.py

# Instructions per read request, ours and the floor's, under callgrind (~3 min): a figure the
# machine's noise does not move, to compare two versions of the code (docs/performance.md).
read-instructions: install
	PYTHONPATH=src:. $(TEST_BIN)/python -m bench.read_instructions --kind delivery

notice-instructions: install
	PYTHONPATH=src:. $(TEST_BIN)/python -m bench.notice_instructions

# Mutation testing of the core rules, one module at a time (slow: not in CI). Scores and the
# survivors judged equivalent are in docs/testing.md. `make mutate MODULES="merkle ssrf"`.
mutate: install
	$(TEST_BIN)/python scripts/mutate.py $(MODULES)

clean:
	rm -rf $(VENV) $(TEST_VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
