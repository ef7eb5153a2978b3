# Two commands: `make run` (set up, then run the daemon on embedded defaults)
# and `make test` (set up everything the tests need, then run them).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test system-deps bench lint clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements.lock -e '.[test]'
	touch $(STAMP)

# `make run` keeps its data in ./data of the checkout (a daemon run any other way uses the per-user or
# systemd folder); COOLSTOVE_STORAGE__DATA_DIR set in the environment still wins.
run: $(STAMP)
	COOLSTOVE_STORAGE__DATA_DIR="$${COOLSTOVE_STORAGE__DATA_DIR:-$(CURDIR)/data}" $(VENV)/bin/coolstove run

system-deps:
	bash deploy/install-test-deps.sh

# One BLAS thread: on a loaded 2-core machine threaded OpenBLAS makes small linear algebra ~100x slower.
test: $(STAMP) system-deps lint
	OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -q

# Lint, types and the layers (README "Development"): ruff, mypy (strict for core, daemon, devices,
# feeds), and the import-linter contracts in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	for f in bench/bench_*.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) data .pytest_cache
