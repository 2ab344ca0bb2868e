# Task runner: `make test`, `make lint`, `make fmt`.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: venv test lint fmt typecheck bench

$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'

venv: $(PY)

test: $(PY)
	$(PY) -m pytest

lint: $(PY)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

fmt: $(PY)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
