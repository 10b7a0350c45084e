# Two commands: `make run` starts the gateway, `make test` runs the checks. Both create .venv on
# first use and reinstall only when pyproject.toml or constraints.txt change.

PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint typecheck pytest lock bench clean sdk-env

run: $(VENV)/.run-installed
	$(BIN)/openalgo serve

test: $(VENV)/.dev-installed sdk-env lint typecheck pytest

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check src tests migrations bench
	$(BIN)/ruff format --check src tests migrations bench

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

pytest: $(VENV)/.dev-installed
	$(BIN)/pytest

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is required (python3 --version)"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.run-installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e .
	@touch $@

$(VENV)/.dev-installed: $(BIN)/python pyproject.toml constraints.txt
	$(PIP) install -c constraints.txt -e '.[dev]'
	@touch $@ $(VENV)/.run-installed

# Refresh constraints.txt from the newest versions that satisfy pyproject.toml.
lock:
	rm -rf .venv-lock
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python -m pip -q install --upgrade pip
	.venv-lock/bin/python -m pip -q install -e '.[dev]'
	.venv-lock/bin/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt
	rm -rf .venv-lock

bench: $(VENV)/.dev-installed
	@ls bench/*.py >/dev/null 2>&1 && for b in bench/*.py; do $(BIN)/python $$b || exit 1; done || true

clean:
	rm -rf $(VENV) $(SDK_VENV) .pytest_cache .mypy_cache .ruff_cache dist build

# The official OpenAlgo Python SDK, for conformance tests. It needs Python 3.12+ and its import name
# (`openalgo`) collides with ours, so it lives in its own venv and tests drive it in a subprocess
# (tests/support/sdk.py). Without a 3.12+ interpreter this is skipped and so are those tests.
SDK_VERSION := 2.0.5
SDK_VENV := .venv-sdk
SDK_PYTHON ?= $(shell for p in python3.13 python3.12 $(wildcard /root/.pyenv/versions/3.1[2-9]*/bin/python3) \
	$(wildcard /usr/local/bin/python3.1[2-9]); do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null \
	&& echo $$p && break; done)

sdk-env:
ifeq ($(strip $(SDK_PYTHON)),)
	@echo "sdk-env: no Python 3.12+ found; SDK conformance tests will be skipped"
else
	@$(MAKE) --no-print-directory $(SDK_VENV)/.installed-$(SDK_VERSION) SDK_PYTHON=$(SDK_PYTHON)
endif

# A failure here (no venv module, no registry) is reported and leaves no venv behind: the SDK
# tests then skip with the reason, or fail in CI (OPENALGO_TEST_REQUIRE_SERVICES=1).
$(SDK_VENV)/.installed-$(SDK_VERSION):
	@rm -rf $(SDK_VENV)
	@{ $(SDK_PYTHON) -m venv $(SDK_VENV) \
	  && $(SDK_VENV)/bin/python -m pip --disable-pip-version-check -q install "openalgo==$(SDK_VERSION)" \
	  && touch $@ && echo "sdk-env: openalgo $(SDK_VERSION) installed in $(SDK_VENV) ($(SDK_PYTHON))"; } \
	  || { rm -rf $(SDK_VENV); echo "sdk-env: could not build $(SDK_VENV); SDK conformance tests will not run"; }
