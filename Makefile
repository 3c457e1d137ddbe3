# Two commands: `make demo` and `make test`. Each builds or refreshes .venv
# from pyproject.toml when pyproject.toml is newer than the last install.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint bench browser clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-notebooks: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[notebooks]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-notebooks

# The five reports (HTML that opens offline) and the close pack of the sandbox's last month, then where they are.
demo: $(VENV)/.installed-notebooks
	$(BIN)/ledgerkit report --out reports

# Lint, format check and type check first: a lint error fails make test (and .ci/run) before pytest starts.
lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Test files spread over every core (pytest-xdist), each file on one worker: its module fixtures are built once.
test: lint
	$(BIN)/python -m pytest -n auto --dist loadfile

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.installed-bench
	$(BIN)/python benchmarks/run.py

# Debian's chromium for the browser test of the HTML reports (as root; .ci/run calls this).
browser:
	@command -v chromium >/dev/null 2>&1 || { export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -q && apt-get install -y -q chromium; }

clean:
	rm -rf $(VENV) reports .pytest_cache .ruff_cache .mypy_cache
