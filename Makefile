# One entry point for developers and CI. `make test` builds the virtual environment, installs the
# project with its test extras, builds (or reuses) the e2e tools from Go modules into
# ~/.cache/kubectl-canary, lints, type-checks and runs every test inside a network namespace of its
# own (tests/e2e/netns.sh), where the e2e cluster, its pods and the gateway live.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
NETNS  := bash tests/e2e/netns.sh
export PATH := $(PATH):/usr/local/go/bin

.PHONY: all test test-fast lint tools demo bench soak clean

all: test

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# lint-imports checks the layers of both packages (the contracts in pyproject.toml).
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Tests marked `registry` fetch from PyPI, which the network namespace cannot reach: they run first, outside.
# `tools` built everything, so a test that finds a tool missing fails instead of skipping (tests/required.py).
test: export KUBECTL_CANARY_REQUIRE_TOOLS ?= 1
test: lint tools
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m registry
	PATH="$(CURDIR)/$(BIN):$$PATH" $(NETNS) $(BIN)/python -m pytest -m 'not registry'

# Hypothesis searches 100 examples per property here, 300 in `make test` (tests/conftest.py). The overload
# test (`load`, two 30 s floods) runs in `make test` only.
test-fast: lint
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m 'not e2e and not load' --hypothesis-profile=fast

tools:
	bash tests/e2e/build-tools.sh

demo: $(BIN)/.installed tools
	PATH="$(CURDIR)/$(BIN):$$PATH" $(NETNS) $(BIN)/python scripts/demo.py

# Benchmarks print numbers next to their baselines and the targets; none asserts. The two that start a
# local control plane (cli_startup's cluster part, apiserver_create) run inside the test network namespace.
bench: $(BIN)/.installed tools
	PATH="$(CURDIR)/$(BIN):$$PATH" $(NETNS) $(BIN)/python benchmarks/cli_startup.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/webhook_load.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/webhook_overload.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python benchmarks/webhook_cache.py
	PATH="$(CURDIR)/$(BIN):$$PATH" $(NETNS) $(BIN)/python benchmarks/apiserver_create.py

# The webhook worker's RSS after 100,000 fuzzed requests next to 100,000 ordinary ones (about 15 minutes).
soak: $(BIN)/.installed
	$(BIN)/python benchmarks/webhook_soak.py --requests 100000

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
