# Developer and CI entry points. Everything runs from a project venv in .venv; it is (re)installed only
# when pyproject.toml changed, so repeated `make test` starts in seconds.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: up test drill ha histories lint format migrate clean clean-data

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is newer than pyproject.toml after a successful install; a failed install leaves no stamp.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

## up: run the whole control plane (Temporal, NATS, API, worker) in the foreground; Ctrl-C stops it
up: $(STAMP)
	$(BIN)/keptn-temporal up

## test: the whole test suite, then the linter
test: $(STAMP)
	$(BIN)/pytest
	$(BIN)/ruff check .

## drill: rolling upgrade and downgrade of every process under load; writes .drill/report.json, fails on any loss
drill: $(STAMP)
	$(BIN)/python -m deploy.drill

## ha: the local HA stack (nginx, 2 API replicas, 2 workers, PostgreSQL) on this checkout; ARGS="--release REV --upgrade-to HEAD"
ha: $(STAMP)
	$(BIN)/python -m deploy.local $(ARGS)

## lint: ruff lint and format check
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## migrate: database schema, JetStream stream (and search attributes on an external Temporal)
migrate: $(STAMP)
	$(BIN)/keptn-temporal migrate

## histories: record this tree's workflow histories into tests/replay/histories/<build id> (each release; docs/releasing.md)
histories: $(STAMP)
	$(BIN)/python -m tests.replay.record $(RECORD_ARGS)

## clean: remove the venv and caches (keeps .data, the stack's state)
clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

## clean-data: forget all state of `make up` (workflows, events, projects, API token)
clean-data:
	rm -rf .data .drill
