# Every target bootstraps .venv on its own: a fresh clone needs only `make sweep` or `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: sweep test bench lint clean browser

# Rebuilt whenever pyproject.toml changes (new dependency, new extra).
$(STAMP): pyproject.toml
	@echo "make: installing canary-mc and its dependencies into $(VENV) (about a minute, once)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dask]'
	touch $(STAMP)

# One imported manifest is simulated end to end beside the experiments (docs/import.md).
IMPORTED := results/imported/podinfo.yaml

sweep: $(STAMP)
	$(BIN)/canary-mc import examples/flagger/podinfo-canary.yaml -o $(IMPORTED)
	$(BIN)/canary-mc sweep experiments/*.yaml $(IMPORTED)

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

# Best effort: Debian's Chromium for the report.html test (Playwright drives it; its own
# browser download is not used). Without it that one test skips, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	  || { echo "make browser: installing Debian's chromium for the report.html test"; \
	       apt-get update -qq && apt-get install -y -qq chromium >/dev/null; } \
	  || echo "make browser: could not install chromium; the report.html browser test will skip"

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find results -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
