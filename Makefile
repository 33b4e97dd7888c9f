# Entry points: make run, make test, make lint, make bench.
# Each installs what is missing first: uv, the virtual environment from the lock file, and (as
# root, through apt-get) the system packages the tests need.

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
VENV := .venv
HOST ?= 127.0.0.1
PORT ?= 8000
APT_PACKAGES := chromium fonts-wqy-microhei
PYTEST_ARGS ?=

.PHONY: run test lint bench install system-deps format clean translations

.tools/bin/uv:
	python3 -m venv .tools || { [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get install -y -qq python3-venv && python3 -m venv .tools; }
	.tools/bin/pip install --quiet uv

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	touch $@

install: $(VENV)/.synced

# Debian's chromium for the browser tests and a small CJK font so Chinese pages render.
system-deps:
	@missing=""; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	fc-list 2>/dev/null | grep -qi -E 'wqy|noto.*cjk' || missing="$$missing fonts-wqy-microhei"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing$$missing with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	  else \
	    echo "Missing$$missing: run 'sudo apt-get install $(APT_PACKAGES)' (browser tests will skip)"; \
	  fi; \
	fi

run: install
	$(VENV)/bin/yishi db upgrade
	$(VENV)/bin/yishi demo
	$(VENV)/bin/yishi serve --host $(HOST) --port $(PORT)

test: install system-deps
	$(VENV)/bin/pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache test-artifacts

# Re-extract the messages after changing user-facing text, then translate the new zh_CN entries.
translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -o web/translations/messages.pot --no-location --sort-output --omit-header -k _ -k gettext -k ngettext:1,2 .
	$(VENV)/bin/pybabel update -i web/translations/messages.pot -d web/translations --no-fuzzy-matching
