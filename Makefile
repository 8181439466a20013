# Everything a fresh machine needs: `make lab` (the main job) and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SAMPLE := connectly_nb/datasets/sample_export.csv

.PHONY: install lab validate test unit notebooks-test notebooks report lint format bench fuzz clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: make PYTHON=python3.11 ...")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --quiet --upgrade pip
	PYTHONWARNINGS="ignore:Editable installation" \
	    $(BIN)/python -m pip install --quiet --quiet --editable ".[test]"
	touch $(STAMP)

# The main job: check the bundled sample, then open JupyterLab on notebooks/.
# (as root, JupyterLab refuses to start without --allow-root)
lab: validate
	$(BIN)/jupyter lab --notebook-dir=notebooks $(if $(filter 0,$(shell id -u)),--allow-root,)

validate: $(STAMP)
	$(BIN)/connectly-nb validate $(SAMPLE)

# Style, then the import layers of docs/architecture.md (pyproject.toml's importlinter).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The notebooks analysts open (a scratch notebook saved in notebooks/ is not a test).
CURATED := $(wildcard notebooks/[0-9][0-9]_*.ipynb)

NBVAL := --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg \
         --nbval-kernel-startup-timeout 60

# The whole suite: lint, then unit and property tests, the package's doctests and every
# notebook under nbval, in one pytest run.
test: lint
	$(BIN)/python -m pytest $(NBVAL) tests/ connectly_nb/ $(CURATED) --ignore=connectly_nb/templates

unit: $(STAMP)
	$(BIN)/python -m pytest

notebooks-test: $(STAMP)
	$(BIN)/python -m pytest $(NBVAL) $(CURATED) tests/notebooks/

# Re-execute the curated notebooks in place (do it whenever what they show changes).
notebooks: $(STAMP)
	$(BIN)/python -m connectly_nb._notebooks $(CURATED) tests/notebooks/report.ipynb

# The sample report, rendered offline-safe.
report: $(STAMP)
	mkdir -p build
	$(BIN)/connectly-nb report --sample -o build/report.html

# A longer fuzzing run of the property tests (not part of `make test`).
fuzz: $(STAMP)
	HYPOTHESIS_PROFILE=long $(BIN)/python -m pytest tests/test_properties.py tests/test_fuzz.py

# Every benchmark behind docs/performance.md (about an hour; bench_store writes 1.4 GB of
# reports under benchmarks/data/ once).
bench: $(STAMP)
	$(BIN)/python benchmarks/bench_load.py
	$(BIN)/python benchmarks/bench_metrics.py
	$(BIN)/python benchmarks/bench_dashboard.py
	$(BIN)/python benchmarks/bench_save.py
	$(BIN)/python benchmarks/bench_false_winners.py
	$(BIN)/python benchmarks/bench_store.py --rounds 2

clean:
	rm -rf $(VENV) build .pytest_cache .hypothesis .ruff_cache
