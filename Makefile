# The two commands: `make demo` (serve the demo) and `make test` (lint, types, every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL_TEST ?= redis://127.0.0.1:6379/0
PORT ?= 8000

.PHONY: demo test lint typecheck pytest-sqlite pytest-postgres interop-deps clean

$(BIN)/.installed: pyproject.toml
	@echo "==> creating $(VENV) and installing reactive with its dev dependencies"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

tests/interop/node_modules/.installed: tests/interop/package.json
	@echo "==> installing the official convex client for the interop test"
	cd tests/interop && npm install --no-audit --no-fund --loglevel=error
	touch $@

interop-deps: tests/interop/node_modules/.installed

demo: $(BIN)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_seed
	@echo "==> serving the demo at http://127.0.0.1:$(PORT) (Daphne, SQLite, in-memory channel layer)"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

lint: $(BIN)/.installed
	$(BIN)/ruff check reactive demo_project tests
	$(BIN)/ruff format --check reactive demo_project tests

typecheck: $(BIN)/.installed
	$(BIN)/mypy

pytest-sqlite: $(BIN)/.installed interop-deps
	@echo "==> pytest on SQLite + in-memory channel layer"
	$(BIN)/pytest -q

pytest-postgres: $(BIN)/.installed interop-deps
	@echo "==> pytest on PostgreSQL + Redis"
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_URL_TEST) $(BIN)/pytest -q

test: lint typecheck pytest-sqlite pytest-postgres

clean:
	rm -rf $(VENV) tests/interop/node_modules db.sqlite3*
