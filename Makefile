# The two commands a new user needs: `make run` and `make test`.
# Both create .venv if it is missing (with a Python >= 3.12 found by scripts/find-python;
# set PYTHON=... to choose one) and install the package into it.

VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= results/hjs-2025

.PHONY: run test test-all lint typecheck data clean

# .created marks a venv made by this Makefile with a suitable Python; an older .venv
# (e.g. Python 3.11 from before the move to PyMC 6) lacks it and is replaced.
$(VENV)/.created:
	@py="$$(sh scripts/find-python)" && echo "creating $(VENV) with $$py" && \
	  rm -rf $(VENV) && "$$py" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	touch $@

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(VENV)/.created
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(VENV)/.installed $@

## run: the hjs-2025 study on the embedded data (writes the briefing, prints where it is)
run: $(VENV)/.installed
	$(BIN)/hybridflow study run studies/hjs-2025

## test: the whole suite, plus lint and type checks
test: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow"

## test-all: also the slow sampling tests (long parameter-recovery and calibration runs)
test-all: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2 --dist loadgroup

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: $(VENV)/.installed-test
	$(BIN)/mypy

## data: rebuild the embedded snapshot from the raw official files
data: $(VENV)/.installed
	$(BIN)/hybridflow data build --raw ../shared/data/raw

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
