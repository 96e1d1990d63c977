# `make run` sets everything up and starts the app; `make test` sets everything up, lints (`make lint`) and
# runs all tests.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-fast lint format bench bench-watch docs
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-ray.txt scripts/setup.sh
	bash scripts/setup.sh

run: setup
	$(VENV)/bin/streamlit run app.py

test: setup lint
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not trains"

# ruff's rules and formatting (pyproject.toml) and mypy (its settings there too); `make test` runs it first
lint: setup
	$(VENV)/bin/ruff check lth dashboard pages app.py tests
	$(VENV)/bin/ruff format --check lth dashboard pages app.py tests
	$(VENV)/bin/mypy

# ruff format (pyproject.toml): `make lint` checks that the code is formatted so
format: setup
	$(VENV)/bin/ruff format lth dashboard pages app.py tests

bench: setup
	$(PY) -m lth.bench

docs: setup
	$(VENV)/bin/mkdocs build --strict

bench-watch: setup
	$(PY) -m lth.bench_watch
