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

.PHONY: help run test install install-dev lint format typecheck check-deploy migrate seed totp lock clean

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

install: $(VENV)/.installed-base
install-dev: $(VENV)/.installed-dev

migrate: install
	$(BIN)/python manage.py migrate --noinput

seed: migrate
	$(BIN)/python manage.py seed_demo

run: seed
	@echo
	@echo "Hearth is starting at http://127.0.0.1:$(HEARTH_PORT)/  (Ctrl-C stops everything)"
	@echo "Log in with a demo person above. Sign-up emails (verification links) print below."
	@echo
	$(BIN)/honcho -f Procfile start

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

totp: install
	@$(BIN)/python manage.py demo_totp

lock:
	uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes \
		--no-emit-index-url --no-emit-find-links -o requirements/base.txt
	uv pip compile pyproject.toml --extra dev --universal --python-version 3.11 --generate-hashes \
		--no-emit-index-url --no-emit-find-links -o requirements/dev.txt

clean:
	rm -rf $(VENV) var staticfiles .pytest_cache .ruff_cache .mypy_cache
