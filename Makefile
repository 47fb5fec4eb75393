# composewatch developer tasks. `make test` works on a fresh clone (as root it
# also installs and starts Docker and makes the base images, see
# scripts/ensure-engine).
.PHONY: venv engine tools test test-unit lint demo bench clean

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Touched after a successful install, so `make venv` is instant until
# pyproject.toml changes.
STAMP := $(VENV)/.installed

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

engine:
	scripts/ensure-engine

# The registry, htpasswd and ssh-agent the Docker tests start (as root, installs them).
tools:
	scripts/ensure-test-tools

test: venv engine tools
	$(BIN)/pytest

# Unit tests only: no Docker engine needed; spread over the cores (pytest-xdist).
test-unit: venv
	$(BIN)/pytest -n auto tests/unit

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: venv engine
	cd sample-flask-app && ../$(BIN)/composewatch up

bench: venv engine
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
