# Two commands do all set-up: `make run` and `make test`. Both create or reuse .venv.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# llama-cpp-python compiles llama.cpp from source; skip the parts we never use.
# pip caches the built wheel, so only the first install pays for the build.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)
export TOKENIZERS_PARALLELISM ?= false

.PHONY: run test check lint install bench clean

# pyproject.toml makes the Space packages, `pipeline` and the tests' helpers importable (editable).
$(VENV)/.installed: requirements.txt requirements-nodeps.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps -e .
	@touch $@

# qdrant-client and Ray Data: only the tests (and users who scale out) need them.
$(VENV)/.installed-scale: $(VENV)/.installed requirements-scale.txt
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-scale.txt
	@touch $@

install: $(VENV)/.installed

# The whole product on the bundled corpus, offline: prints the URLs, Ctrl-C stops it.
run: install
	$(PY) -m pipeline up

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# The fast tier: pure tests only (no server, no model file), under a minute on 2 cores.
check: install lint
	$(PY) -m pytest tests -m pure -q -p no:cacheprovider $(PYTEST_ARGS)

# The full suite, which CI runs. pytest's exit 5 (no tests collected) is a failure, never a pass.
test: install $(VENV)/.installed-scale lint
	@$(PY) -m pytest tests $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: install
	$(PY) benchmarks/retrieval_quality.py
	$(PY) benchmarks/retrieval_speed.py

clean:
	rm -rf $(VENV) spaces/*/index
