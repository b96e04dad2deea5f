# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: run test install migrate seed worker beat schema check bench clean

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

## Serve on http://localhost:8000 with SQLite, local-memory cache and eager Celery.
run: seed
	$(PY) manage.py runserver 0.0.0.0:$(PORT)

## The whole suite (SQLite unless DATABASE_URL is set; Redis cache when REDIS_URL is set).
test: install
	$(PY) manage.py makemigrations --check --dry-run --settings=config.settings.test
	$(BIN)/pytest -n 2 --dist loadfile

worker: install
	$(BIN)/celery -A config worker --loglevel=INFO

beat: install
	$(BIN)/celery -A config beat --loglevel=INFO

schema: install
	$(PY) manage.py spectacular --validate --fail-on-warn --file schema.yaml

## Benchmarks (never part of `make test`): each script under bench/ prints its figures.
## They need PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/saas_bench make bench
bench: install
	$(PY) manage.py migrate --noinput -v 0
	@for script in bench/*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

check: install
	$(PY) manage.py check

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
