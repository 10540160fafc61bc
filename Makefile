# Sous: `make demo` and `make test` work on a fresh machine (they install first).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export BENTOML_DO_NOT_TRACK := True
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test lint typecheck docs unit bench clean

install: $(STAMP)

# Idempotent: re-runs only when pyproject.toml changes or the venv is missing.
# torch comes first from the local CPU wheel; any other torch spec pulls a CUDA build.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev]" --config-settings editable_mode=compat
	touch $(STAMP)

demo: install
	$(BIN)/python scripts/demo.py

lint: install
	$(BIN)/ruff check engine hydra_plugins tests benchmarks scripts recipes
	$(BIN)/ruff format --check engine hydra_plugins tests benchmarks scripts recipes
	$(BIN)/lint-imports

typecheck: install
	$(BIN)/mypy

# The docs site, strictly: a broken link or anchor, or a page left out of the nav, fails.
# The generated pages (recipe reference, JSON Schema) must be up to date (scripts/gen_docs.py).
docs: install
	$(BIN)/python scripts/gen_docs.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

unit: install
	$(BIN)/python -m pytest tests/unit -q

# The suite on both cores (pytest-xdist), a test file to one worker (its module fixtures,
# a packaged Bento or a Redis server, are set up once). Tests share nothing but the
# PostgreSQL server: each has its own $SOUS_HOME, free loopback ports and servers. Most
# wait on servers and processes, so two at a time nearly halve the time (31 -> 19 min).
test: lint typecheck docs
	$(BIN)/python -m pytest tests -q -p no:cacheprovider -n 2 --dist loadfile --durations=40

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf .sous build dist outputs multirun
