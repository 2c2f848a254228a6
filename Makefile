# Two commands set everything up on a fresh machine:
#   make run   installs the sidecar and serves the built-in SRE demo
#   make test  installs everything (test peers included) and runs the whole suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint format bench demo-data clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/sidecar run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/http_api.py

demo-data: install
	$(BIN)/python -m sidecar.demo.build

clean:
	rm -rf $(VENV) .pytest_cache
