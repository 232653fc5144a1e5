# The two commands of the README: `make demo` and `make test`. Each creates or reuses .venv and
# installs the pinned dependencies (requirements.lock) before running.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[spark,dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

.PHONY: install demo test lint bench
install: $(STAMP)

demo: $(STAMP)  ## generate the demo shop, ingest it through the collector, serve the API
	$(BIN)/aidmp demo --home aidmp-demo --serve

test: $(STAMP)  ## lint, type-check and run every test (DuckDB, Spark local[2], real HTTP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)  ## benchmarks recorded in docs/benchmarks.md (not part of `make test`)
	$(BIN)/python benchmarks/run_all.py
