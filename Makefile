# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PORT ?= 8000
## `make run` listens on this machine only; `make run HOST=0.0.0.0` to serve the network.
HOST ?= 127.0.0.1

.PHONY: format run test install migrate seed worker beat schema check bench bench-servers soak fuzz clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(PY) manage.py migrate --noinput

seed: migrate
	@if $(PY) manage.py help billing_seed_plans >/dev/null 2>&1; then $(PY) manage.py billing_seed_plans; fi

## Serve on http://127.0.0.1:8000 (HTTP + WebSockets, ASGI) with SQLite, local-memory cache and
## channel layer, eager Celery; reloads on code changes. HOST and PORT change the address.
run: seed
	$(BIN)/uvicorn config.asgi:application --reload --no-proxy-headers --host $(HOST) --port $(PORT)

## Format the tree and apply the safe lint fixes (what `make test` checks).
format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Lint (ruff) and the import-layer contracts (import-linter, pyproject.toml), then the whole suite (SQLite unless DATABASE_URL is set; Redis cache when REDIS_URL is set).
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(PY) manage.py makemigrations --check --dry-run --settings=config.settings.test
	$(BIN)/pytest -n 2 --dist loadfile

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

beat: install
	$(BIN)/celery -A config beat --loglevel=INFO

schema: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file schema.yaml

## Benchmarks (never part of `make test`): bench/run.py serves the app with gunicorn on PostgreSQL
## + Redis, loads every scenario and the ceiling with wrk and prints one table, then runs the other
## scripts under bench/. Self-contained (creates, migrates, seeds and empties its own database);
## needs wrk, PostgreSQL (BENCH_DATABASE_URL, default .../saas_bench) and Redis (BENCH_REDIS_URL, db 10).
bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

## Server comparison (issue 17, item 3): the same scenarios under gunicorn+uvicorn, gunicorn gthread
## and granian (WSGI and ASGI), interleaved rounds, one table. Same needs as `make bench`, and granian.
## Options: `make bench-servers BENCH_ARGS="--duration 10 --rounds 2 --workers 2 --modes uvicorn,granian-wsgi"`.
bench-servers: install
	$(PY) bench/servers.py $(BENCH_ARGS)

## Soak under faults (never part of `make test`; issue 19): bench/soak.py starts its own PostgreSQL
## cluster and redis-server on spare ports (never the machine's), serves the app as production does,
## drives 16 clients for 4 minutes while it stops and restarts each store, then checks every
## acknowledged write and audit chain and prints the table and the goals. Needs the PostgreSQL server
## binaries (initdb, pg_ctl) and redis-server. Options: `make soak SOAK_ARGS="--duration 90 --pg-at 25"`.
soak: install
	$(PY) bench/soak.py $(SOAK_ARGS)

## Longer schemathesis run than `make test`'s: FUZZ_MAX_EXAMPLES examples per operation
## (default 50; `make test` uses 4). Narrow it with FUZZ_K (a pytest -k expression), e.g.
## `make fuzz FUZZ_MAX_EXAMPLES=200 FUZZ_K=orgs`.
FUZZ_MAX_EXAMPLES ?= 50
FUZZ_K ?=
## Also runs the no-escalation state machine longer: PROPERTY_MAX_EXAMPLES (default 100) random
## examples of up to PROPERTY_MAX_STEPS grant-changing API calls (`make test` runs 20 fixed ones).
PROPERTY_MAX_EXAMPLES ?= 100
fuzz: install
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) $(BIN)/pytest core/tests/test_fuzz_api.py -p no:randomly $(if $(FUZZ_K),-k "$(FUZZ_K)")
	PROPERTY_MAX_EXAMPLES=$(PROPERTY_MAX_EXAMPLES) PROPERTY_RANDOM=1 $(BIN)/pytest permissions/tests/test_property_no_escalation.py -p no:randomly

check: install
	$(PY) manage.py check

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
