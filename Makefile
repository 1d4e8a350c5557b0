# source-harvest: `make demo` runs a real sync against the bundled sandbox, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv test unit integration lint demo image pyairbyte-venv bench bench-memory clean

$(STAMP): setup.py
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[tests]'
	@touch $(STAMP)

venv: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check source_harvest unit_tests integration_tests
	$(BIN)/python -m pytest -q unit_tests integration_tests

unit: $(STAMP)
	$(BIN)/python -m pytest -q unit_tests

lint: $(STAMP)
	$(BIN)/ruff check source_harvest unit_tests integration_tests

demo: $(STAMP)
	$(BIN)/python -m integration_tests.demo $(if $(CONFIG),--config $(CONFIG))

# The container image source-harvest:dev, built offline from a local base (docker/README.md).
image:
	docker/build-image.sh

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

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
