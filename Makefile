# Every target bootstraps .venv on its own: a fresh clone needs only `make sweep` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sweep test bench lint clean

# Rebuilt whenever pyproject.toml changes (new dependency, new extra).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $(STAMP)

sweep: $(STAMP)
	$(BIN)/canary-mc sweep experiments/*.yaml

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/canary-mc bench

# The layering of docs/ARCHITECTURE.md is checked here too (tests/test_layers.py walks
# every import: no upward import, no cycle).
lint: $(STAMP)
	$(BIN)/ruff check canary_mc tests
	$(BIN)/ruff format --check canary_mc tests
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_layers.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find results -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
