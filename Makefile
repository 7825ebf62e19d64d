# The two commands of the README:
#   make run    the service on the embedded default (SQLite ./tracker.db, local Redis)
#   make test   the whole suite against real Redis, SQLite and PostgreSQL, plus ruff and mypy
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint typecheck services venv demo bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tracker needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: venv
	scripts/ensure-services.sh redis
	$(BIN)/tracker db upgrade
	$(BIN)/tracker serve

lint: venv
	$(BIN)/ruff check tracker workers tests bench
	$(BIN)/ruff format --check tracker workers

typecheck: venv
	$(BIN)/mypy

test: venv
	scripts/ensure-services.sh redis postgres
	$(MAKE) --no-print-directory lint typecheck
	$(BIN)/pytest $(PYTEST_ARGS)

# The simulator, the receiver and `tracker serve` together; alerts print as they arrive.
demo: venv
	scripts/ensure-services.sh redis
	$(BIN)/python scripts/demo.py

bench: venv
	scripts/ensure-services.sh redis
	$(BIN)/python bench/analyze.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
