# Hearth: `make run` serves the platform, `make test` runs the whole suite.
# Needs only Python 3.11+ and make; everything else is installed into .venv from hash-pinned locks.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HEARTH_PORT ?= 8000
export HEARTH_PORT
# Links in emails and calendars follow the port (set SITE_URL itself to override).
SITE_URL ?= http://127.0.0.1:$(HEARTH_PORT)
export SITE_URL

.PHONY: help run test install install-dev lint format typecheck check-deploy migrate seed totp lock clean \
	_migrate _seed _run

help:
	@echo "make run    - install, migrate, load the demo data and start web + worker + beat"
	@echo "make test   - run the whole test suite (uses DATABASE_URL / REDIS_URL when set)"
	@echo "make lint   - ruff check, ruff format --check and mypy"
	@echo "make totp   - print the demo's current two-step login code"
	@echo "make lock   - re-pin requirements/*.txt from pyproject.toml (needs uv)"

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Hearth needs Python 3.11 or newer"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-base: requirements/base.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/base.txt
	@rm -f $(VENV)/.installed-dev
	@touch $@

$(VENV)/.installed-dev: requirements/dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.txt
	@touch $@ $(VENV)/.installed-base

# axe-core for the accessibility checks in the browser tests, from the npm registry, pinned
# with its integrity hash in tests/e2e/axe/package-lock.json. Without npm those checks are
# skipped with the reason shown (and fail the run under REQUIRE_SERVICES=1).
AXE := tests/e2e/axe/node_modules/axe-core/axe.min.js

$(AXE): tests/e2e/axe/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix tests/e2e/axe --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm is not installed: the accessibility checks will be skipped"; fi

install: $(VENV)/.installed-base
install-dev: $(VENV)/.installed-dev $(AXE)

# Everything that needs the database runs inside `config.localdb run`: with no DATABASE_URL it
# starts the embedded PostgreSQL under var/postgres (and stops it when the last user is done);
# with DATABASE_URL set it uses that server and starts nothing. The application connects as a
# role that may only read and write rows; migrations and the tests as the role that owns the
# tables (`--owner`: DATABASE_OWNER_URL when set).
LOCALDB := $(BIN)/python -m config.localdb run --
AS_OWNER := $(BIN)/python -m config.localdb run --owner --
MANAGE := $(BIN)/python manage.py
SUBMAKE := $(MAKE) --no-print-directory

migrate: install
	@$(LOCALDB) $(SUBMAKE) _migrate

seed: install
	@$(LOCALDB) $(SUBMAKE) _seed

run: install
	@$(LOCALDB) $(SUBMAKE) _run

test: install-dev
	@$(AS_OWNER) $(BIN)/python -m pytest $(PYTEST_ARGS)

totp: install
	@$(LOCALDB) $(MANAGE) demo_totp

# The steps themselves, for the targets above (they expect the database to be up).
_migrate:
	@$(AS_OWNER) $(MANAGE) migrate --noinput --verbosity 0

_seed: _migrate
	@$(MANAGE) seed_demo

_run: _seed
	@echo
	@echo "Hearth is starting at http://127.0.0.1:$(HEARTH_PORT)/  (Ctrl-C stops everything)"
	@echo "Log in with a demo person above. Sign-up emails (verification links) print below."
	@echo
	@$(BIN)/python -m config.procfile Procfile

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check-deploy: install
	DEBUG=0 SECRET_KEY="$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	ALLOWED_HOSTS=hearth.example $(BIN)/python manage.py check --deploy --fail-level WARNING

lock:
	uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--no-emit-index-url --no-emit-find-links -o requirements/base.txt
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--no-emit-index-url --no-emit-find-links -o requirements/dev.txt

clean:
	@if [ -x $(BIN)/python ]; then $(BIN)/python -m config.localdb stop; fi
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache
