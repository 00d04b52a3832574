# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv if it is missing and install citywatch with its dev extra.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# An independent ONVIF client (Node's `onvif`) for the interoperability test; without npm
# the rule only says so and the test skips.
INTEROP := tests/interop
NODE_STAMP := $(INTEROP)/node_modules/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(NODE_STAMP): $(INTEROP)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(INTEROP) --no-audit --no-fund && touch $@; \
	else \
		echo "npm not found: skipping $(INTEROP) (the Node ONVIF interop test will skip)"; \
	fi

demo: $(STAMP)
	$(BIN)/citywatch demo

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/ruff check drivers hub simulator tui tests
	$(BIN)/mypy drivers hub
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check drivers hub simulator tui tests bench
	$(BIN)/mypy drivers hub

# The fuzz extra (atheris) makes bench.fuzz coverage-guided instead of random mutation.
BENCH_STAMP := $(VENV)/.installed-bench

$(BENCH_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,fuzz]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(INTEROP)/node_modules
