# The two commands: `make demo` (serve the demo) and `make test` (lint, types, every test).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL_TEST ?= redis://127.0.0.1:6379/0
PORT ?= 8000

.PHONY: demo frontend test lint typecheck pytest-sqlite pytest-postgres interop-deps clean

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

# The demo's React front end: npm install (react, react-dom, esbuild) once per package.json change,
# then esbuild bundles demo_project/frontend/src (and the client it imports) into demo_project/static/demo/app.js.
FRONTEND := demo_project/frontend
BUNDLE := demo_project/static/demo/app.js

$(FRONTEND)/node_modules/.installed: $(FRONTEND)/package.json
	@echo "==> installing the demo front end's npm packages"
	cd $(FRONTEND) && npm install --no-audit --no-fund --loglevel=error
	touch $@

$(BUNDLE): $(FRONTEND)/node_modules/.installed $(FRONTEND)/build.mjs $(wildcard $(FRONTEND)/src/*) $(wildcard reactive/static/reactive/*.js)
	@echo "==> bundling the demo front end into $(BUNDLE)"
	cd $(FRONTEND) && node build.mjs
	@touch $@

frontend: $(BUNDLE)

demo: $(BIN)/.installed frontend
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py demo_seed
	@echo "==> serving the demo at http://127.0.0.1:$(PORT) (Daphne, SQLite, in-memory channel layer)"
	@echo "    React front end at /, the same client without a build step at /plain/"
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

# The demo scaled out: PostgreSQL + Redis, two Daphne processes on ports 8001 and 8002 (put any load balancer in
# front of them; docs/deployment.md). DATABASE_URL and REDIS_URL override the defaults below. Ctrl-C stops both.
.PHONY: demo-scale
demo-scale: $(BIN)/.installed frontend
	@export DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" \
		REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/0}"; \
	$(BIN)/python manage.py migrate --noinput && $(BIN)/python manage.py demo_seed || exit 1; \
	echo "==> serving the demo at http://127.0.0.1:8001 and http://127.0.0.1:8002"; \
	echo "    (two Daphne processes; $$DATABASE_URL; $$REDIS_URL); Ctrl-C stops both"; \
	$(BIN)/python -m daphne -b 127.0.0.1 -p 8001 demo_project.asgi:application & one=$$!; \
	$(BIN)/python -m daphne -b 127.0.0.1 -p 8002 demo_project.asgi:application & two=$$!; \
	trap 'kill $$one $$two 2>/dev/null' INT TERM EXIT; \
	while kill -0 $$one 2>/dev/null && kill -0 $$two 2>/dev/null; do sleep 1; done

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

# The randomized recall tests (tests/live/test_recall*.py), longer than in `make test`, on both backends.
# RECALL_ROUNDS sets the length, RECALL_SEED replays a run (every failure prints its seed).
RECALL_ROUNDS ?= 2000
RECALL_LIVE_ROUNDS ?= 60
.PHONY: recall-long
recall-long: $(BIN)/.installed
	@echo "==> recall on SQLite ($(RECALL_ROUNDS) rounds in process, $(RECALL_LIVE_ROUNDS) live)"
	RECALL_ROUNDS=$(RECALL_ROUNDS) $(BIN)/pytest -q tests/live/test_recall.py
	RECALL_ROUNDS=$(RECALL_LIVE_ROUNDS) $(BIN)/pytest -q tests/live/test_recall_live.py
	@echo "==> recall on PostgreSQL + Redis"
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_URL_TEST) RECALL_ROUNDS=$(RECALL_ROUNDS) $(BIN)/pytest -q tests/live/test_recall.py
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_URL_TEST) RECALL_ROUNDS=$(RECALL_LIVE_ROUNDS) \
		$(BIN)/pytest -q tests/live/test_recall_live.py

# The bundled JS client (reactive/static/reactive/) with Node's test runner, against Daphne servers the tests start.
.PHONY: test-js
tests/js/node_modules/.installed: tests/js/package.json
	@echo "==> installing ws and react for the JS client tests"
	cd tests/js && npm install --no-audit --no-fund --loglevel=error
	touch $@

test-js: $(BIN)/.installed tests/js/node_modules/.installed
	@echo "==> node --test tests/js/ (the bundled client against a real server)"
	node --test tests/js/

# Django's own test suite (its ORM, transaction and backend apps) with reactive installed: on SQLite, on SQLite with
# every test inside reactive's read tracking, and on PostgreSQL (tests/django_suite/run.py; the source distribution
# of the installed Django is fetched once into .cache/). DJANGO_SUITE_APPS="basic update" runs only those apps.
.PHONY: django-suite
django-suite: $(BIN)/.installed
	@echo "==> Django's own tests with reactive installed, on SQLite"
	$(BIN)/python tests/django_suite/run.py --settings reactive_sqlite --parallel 2 --noinput
	@echo "==> Django's own tests with reactive installed, on SQLite, every test inside read tracking"
	$(BIN)/python tests/django_suite/run.py --settings reactive_sqlite --tracked --parallel 2 --noinput
	@echo "==> Django's own tests with reactive installed, on PostgreSQL"
	$(BIN)/python tests/django_suite/run.py --settings reactive_postgres --parallel 2 --noinput

test: lint typecheck pytest-sqlite test-js pytest-postgres django-suite

clean:
	rm -rf $(VENV) tests/interop/node_modules $(FRONTEND)/node_modules $(BUNDLE) $(BUNDLE).map db.sqlite3*

# The benchmark (docs/performance.md): chat workload against polling, djangochannelsrestframework and table-level
# invalidation, the PostgreSQL + Redis 2-process run and 10,000 idle connections; results in bench/results/.
# BENCH_ARGS=--quick for a run under two minutes; `python -m bench --help` lists the options.
BENCH_ARGS ?= --idle
.PHONY: bench
$(BIN)/.bench-installed: $(BIN)/.installed pyproject.toml
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	touch $@

bench: $(BIN)/.bench-installed
	$(BIN)/python -m bench $(BENCH_ARGS)

# Hostile load (docs/security.md, "Hostile load"): a bystander's write round trips (p50/p99/max) and the server's
# RSS, quiet and while one client runs each attack of bench/attacks.py, each on a fresh server (~3 min);
# results in bench/results/bench-hostile-*. BENCH_HOSTILE_ARGS="--hostile-seconds 3" for a quick look,
# "--hostile-attacks nested,slow-readers" for some of them.
BENCH_HOSTILE_ARGS ?=
.PHONY: bench-hostile
bench-hostile: $(BIN)/.bench-installed
	$(BIN)/python -m bench --hostile $(BENCH_HOSTILE_ARGS)
