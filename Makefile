# The two commands a newcomer needs: `make demo` and `make test`. Only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
PIP_FLAGS := --disable-pip-version-check --quiet
DEMO_HOST ?= 127.0.0.1
DEMO_PORT ?= 8000
PYTEST_ARGS ?=

.PHONY: help lint typecheck venv demo test test-services migrate check clean analytics-fixtures benchmark-analytics detector-model benchmark-detector benchmark-cross-family benchmark-load

help:
	@echo "make demo   - install, migrate, load demo data, run web server + Celery worker"
	@echo "make test   - run the whole test suite on the embedded defaults (SQLite, eager Celery)"
	@echo "make check  - Django system checks, incl. --deploy with production-like settings"
	@echo "make lint   - ruff check and ruff format --check (rules and the reason for each ignore in pyproject.toml)"
	@echo "make typecheck - mypy with django-stubs on the app code"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; v = sys.version_info; sys.exit(0 if v >= (3, 11) else "Python 3.11 or newer is required (found %d.%d); run make PYTHON=python3.11 ..." % v[:2])'
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(STAMP)

migrate: $(STAMP)
	$(BIN)/python manage.py migrate --noinput

test: $(STAMP)
	$(BIN)/python -m pytest -m "not services" $(PYTEST_ARGS)

# Needs PostgreSQL and Redis; .ci/run sets DATABASE_URL and CELERY_BROKER_URL and starts them.
test-services: $(STAMP)
	$(BIN)/python -m pytest -m services $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy with django-stubs and the DRF plugin on the app code; settings in pyproject.toml
typecheck: $(STAMP)
	$(BIN)/mypy

check: $(STAMP)
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run
	PRODUCTION=1 SECRET_KEY=check-deploy-$$(date +%s)-a-long-random-looking-secret-value-xyz ALLOWED_HOSTS=registry.example.org \
		$(BIN)/python manage.py check --deploy --fail-level WARNING

demo: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py demo_setup
	DEMO_HOST=$(DEMO_HOST) DEMO_PORT=$(DEMO_PORT) bash scripts/demo.sh

# R reference values for the analytics tests (needs Debian's r-base-core, r-cran-survival, r-cran-cmprsk).
analytics-fixtures: $(STAMP)
	$(BIN)/python tests/reference/make_cohorts.py tests/fixtures/analytics
	Rscript tests/reference/make_reference.R tests/fixtures/analytics
	Rscript tests/reference/make_finegray_reference.R tests/fixtures/analytics
	Rscript tests/reference/make_warnings_reference.R tests/fixtures/analytics
	Rscript tests/reference/make_spline_rmst_reference.R tests/fixtures/analytics

benchmark-analytics: $(STAMP)
	$(BIN)/python benchmarks/analytics_benchmark.py
	$(BIN)/python benchmarks/analytics_dataset_benchmark.py

# The shipped default detector model, trained on phantoms from a fixed seed (reproducible).
detector-model: $(STAMP)
	$(BIN)/python -m scoring.detector.train_default

benchmark-detector: $(STAMP)
	$(BIN)/python benchmarks/detector_benchmark.py

# Train on phantom family 1, on 2 and on both; test on unseen seeds of both (~15 min; QUICK=1: ~3 min).
benchmark-cross-family: $(STAMP)
	$(BIN)/python benchmarks/cross_family_benchmark.py $(if $(QUICK),--quick)

# Load scenario: scratch PostgreSQL database (127.0.0.1:5432, user postgres), 10,000 patients,
# gunicorn (3 workers), locust with 20 users for 60 s; see benchmarks/load/run.py --help.
LOAD_ARGS ?= --database postgres --patients 10000 --users 20 --seconds 60
benchmark-load: $(STAMP)
	$(BIN)/python benchmarks/load/run.py $(LOAD_ARGS)

clean:
	rm -rf $(VENV) var/celery-broker var/staticfiles
