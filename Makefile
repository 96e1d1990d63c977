# `make run` sets everything up and starts the app; `make test` sets everything up and runs all tests.
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: setup run test test-fast bench bench-watch docs
setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-ray.txt scripts/setup.sh
	bash scripts/setup.sh

run: setup
	$(VENV)/bin/streamlit run app.py

test: setup
	$(PY) -m pytest

test-fast: setup
	$(PY) -m pytest -m "not slow and not trains"

bench: setup
	$(PY) -m lth.bench

docs: setup
	$(VENV)/bin/mkdocs build --strict

bench-watch: setup
	$(PY) -m lth.bench_watch
