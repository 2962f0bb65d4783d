# The two set-up commands of the README. Both create .venv on first use and
# reinstall only when the package metadata changes.
PYTHON ?= python3
VENV   ?= .venv
PORT   ?= 5000
HOST   ?= 127.0.0.1
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(notdir $(VENV))

.PHONY: run test venv demo benchmarks screenshots clean axe

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "findsupport needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,notebooks,postgres]'
	@touch $@

venv: $(STAMP)

# Prepare demo data only when the data directory has no catalogue yet, then serve.
run: $(STAMP)
	$(BIN)/findsupport demo --if-empty
	$(BIN)/findsupport serve --host $(HOST) --port $(PORT)

# The whole suite on SQLite; then, when FINDSUPPORT_TEST_POSTGRES_URL names a throwaway
# server (`eval "$$(.ci/postgres start)"`, as .ci/run does), every test that gets a database
# again on PostgreSQL + PostGIS (tests/databases.py picks them: the others would repeat the
# SQLite run exactly, so they are deselected).
POSTGRES_TESTS ?= tests
test: $(STAMP) axe
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ -n "$$FINDSUPPORT_TEST_POSTGRES_URL" ]; then \
	  echo "== every test that uses a database, again on PostgreSQL =="; \
	  FINDSUPPORT_TEST_BACKEND=postgresql $(BIN)/python -m pytest $(PYTEST_ARGS) $(POSTGRES_TESTS); \
	elif [ "$$CI" = "true" ]; then \
	  echo "CI must run the storage tests on PostgreSQL: FINDSUPPORT_TEST_POSTGRES_URL is not set (see .ci/postgres)"; exit 1; \
	fi

# axe-core for the accessibility checks of the browser tests (tests/browser/test_links.py), from npm
# into the git-ignored .cache/. Without npm the checks are skipped, except under CI=true (.ci/run installs npm).
AXE_VERSION ?= 4.11.0
AXE_JS       = .cache/axe/node_modules/axe-core/axe.min.js
axe: $(AXE_JS)
$(AXE_JS):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --prefix .cache/axe --no-save --no-audit --no-fund --silent axe-core@$(AXE_VERSION); \
	else echo "npm not found: the axe-core accessibility checks will be skipped (apt-get install npm)"; fi

# Long measurements, run on purpose (not part of `make test`); results go into BENCHMARKS.md.
benchmarks: $(STAMP)
	$(BIN)/python benchmarks/postcodes.py
	$(BIN)/python benchmarks/import_catalog.py
	$(BIN)/python benchmarks/search.py
	$(BIN)/python benchmarks/ranking_quality.py
	$(BIN)/python benchmarks/web_load.py
	$(BIN)/python benchmarks/introduction_cost.py --rounds 10

# The README's screenshots (a real chromium: apt-get install chromium): small palette PNGs in
# docs/screenshots/, committed so the README shows them on the forge; rerun after changing the pages.
screenshots: $(STAMP)
	$(BIN)/python benchmarks/screenshots.py docs/screenshots

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis build *.egg-info
