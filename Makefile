# source-harvest: `make demo` runs a real sync against the bundled sandbox, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
LINTED := source_harvest unit_tests integration_tests tools

.PHONY: venv test unit integration lint demo image lock audit tools-venv pyairbyte-venv bench bench-memory soak clean

# The locked runtime set (hashes checked), then the package itself without dependencies (its build
# backend, setuptools, is in the lock), then the test tools from setup.py's `tests` extra; the last
# step fails if the test tools moved a locked package.
$(STAMP): setup.py $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python tools/lockfile.py extra tests | xargs -r -d '\n' $(BIN)/pip install --quiet
	$(BIN)/python tools/lockfile.py check --installed
	@touch $(STAMP)

venv: $(STAMP)

# lockfile.py check: setup.py and requirements.lock must agree (no network needed).
test: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/python tools/lockfile.py check
	$(BIN)/python -m pytest -q unit_tests integration_tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q unit_tests

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)

demo: $(STAMP)
	$(BIN)/python -m integration_tests.demo $(if $(CONFIG),--config $(CONFIG))

# The container image source-harvest:dev, built offline from a local base (docker/README.md).
image:
	docker/build-image.sh

# uv (writes the lock) and pip-audit (checks it), pinned in tools/requirements.txt, in a venv of their
# own so that neither changes the connector's locked set.
TOOLS_VENV := .venv-tools
TOOLS_REQUIREMENTS := tools/requirements.txt

$(TOOLS_VENV)/.installed: $(TOOLS_REQUIREMENTS)
	@test -x $(TOOLS_VENV)/bin/python || $(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/pip install --quiet -r $(TOOLS_REQUIREMENTS)
	@cp $(TOOLS_REQUIREMENTS) $@

tools-venv: $(TOOLS_VENV)/.installed

# Regenerate requirements.lock from setup.py (keeps current pins; UPGRADE=1 takes the newest in range).
lock: $(TOOLS_VENV)/.installed
	$(TOOLS_VENV)/bin/python tools/lockfile.py compile $(if $(UPGRADE),--upgrade)

# Known vulnerabilities in the locked set (pip-audit); skips, saying why, when the service does not answer.
AUDIT_SERVICE ?= pypi
audit: $(TOOLS_VENV)/.installed
	$(TOOLS_VENV)/bin/python tools/audit.py --service $(AUDIT_SERVICE) $(LOCK)

# PyAirbyte in a venv of its own (its pins conflict with the connector's); integration_tests/test_pyairbyte.py
# builds it the same way when it is missing.
PYAIRBYTE_VENV := .venv-pyairbyte
PYAIRBYTE_REQUIREMENTS := integration_tests/pyairbyte-requirements.txt

$(PYAIRBYTE_VENV)/.installed: $(PYAIRBYTE_REQUIREMENTS)
	@test -x $(PYAIRBYTE_VENV)/bin/python || $(PYTHON) -m venv $(PYAIRBYTE_VENV)
	$(PYAIRBYTE_VENV)/bin/pip install --quiet -r $(PYAIRBYTE_REQUIREMENTS)
	@cp $(PYAIRBYTE_REQUIREMENTS) $@

pyairbyte-venv: $(PYAIRBYTE_VENV)/.installed

bench: $(STAMP)
	$(BIN)/python bench/bench.py $(BENCH_ARGS)

# First syncs at scales 2 and 30 with the limits lifted: peak RSS as the account grows, state bytes
# per stream (README, "Memory on large accounts"); about 5 minutes on a slow 2-core VM.
bench-memory: $(STAMP)
	$(BIN)/python bench/bench.py --scales "" --unlimited-scale "" --memory-scales 2,30 $(BENCH_ARGS)

# Convergence soak (issue 19): seeds of an account's life (changes before and during syncs, faults, kills),
# folded into a simulated Airbyte warehouse and compared with the sandbox; the last seeds run each attempt as
# a real process and SIGKILL it. Prints a missing/ghost/stale table per stream and seed; fails on any divergence.
SOAK_ARGS ?= --seeds 1,2,3,4,5,6 --rounds 10 --sigkill-seeds 7,8
soak: $(STAMP)
	$(BIN)/python -m integration_tests.convergence $(SOAK_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS_VENV) build *.egg-info .pytest_cache .ruff_cache
