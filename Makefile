# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install citywatch with its dev extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/citywatch demo

test: $(STAMP)
	$(BIN)/ruff check drivers hub simulator tui tests
	$(BIN)/mypy drivers hub
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check drivers hub simulator tui tests bench
	$(BIN)/mypy drivers hub

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
