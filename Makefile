# Quick start: `make run` (install, demo data, web + worker on SQLite), `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install run test

$(BIN)/gateway: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/gateway

run: install
	$(BIN)/gateway init-db
	$(BIN)/gateway demo --if-empty
	$(BIN)/gateway serve --stand-ins

# SQLite by default; TEST_DATABASE_URL=postgresql+psycopg://... runs the same suite on PostgreSQL.
test: install
	$(BIN)/pytest $(PYTEST_ARGS)
