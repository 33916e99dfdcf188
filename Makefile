# cnn-lens: `make run` serves the dashboard, `make test` runs every test. See README.md.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SEED_MODEL := models/cnn.keras
SHAPES_MODEL := models/shapes.keras
RESIDUAL_MODEL := models/residual.keras
# `make run MODEL=path.keras DATA=path.npz` serves another model (default: the seed CNN).
MODEL ?=
DATA ?=
APP_ARGS := $(if $(MODEL),--model $(MODEL)) $(if $(DATA),--data $(DATA))
# What `run`/`serve` need first: the seed or the colour example trained if missing.
SERVED := $(if $(MODEL),$(filter $(SHAPES_MODEL) $(RESIDUAL_MODEL),$(MODEL)),$(SEED_MODEL))
HOST ?= 127.0.0.1
PORT ?= 8050
TRAIN_ARGS ?=
PYTEST_ARGS ?=
# Test processes (pytest-xdist), 0 = one process. --dist loadgroup is scheduled by
# tests/conftest.py: the browser tests share one process (one dashboard server per model, one
# Chromium), the tests on the shared gunicorn another, and each other file goes whole to the
# next free process. On 2 cores the suite is CPU-bound: 3 processes were not faster (README).
# The tests' ~20 Python processes (servers, workers) keep their compiled modules in __pycache__
# even where PYTHONDONTWRITEBYTECODE is set (collecting the tests took 5.5 s in each instead
# of 2.8 s).
TEST_WORKERS ?= 2

.PHONY: run serve soak install install-test train train-shapes train-residual test lint format \
	bench worker clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The pinned dependencies, then the project itself as an editable install (no dependencies
# again): `.venv/bin/cnn-lens` runs this checkout. The embedded MNIST subset is package data.
$(VENV)/.installed: requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

$(SEED_MODEL): | $(VENV)/.installed
	$(PY) -m cnn_core.train $(TRAIN_ARGS)

train: install
	$(PY) -m cnn_core.train $(TRAIN_ARGS)

# The colour example: models/shapes.keras, its data shapes.npz and sidecar shapes.json.
$(SHAPES_MODEL): | $(VENV)/.installed
	$(PY) -m cnn_core.train --example shapes

train-shapes: install
	$(PY) -m cnn_core.train --example shapes

# The residual example: a nested residual base on the same shapes (models/residual.keras).
$(RESIDUAL_MODEL): | $(VENV)/.installed
	$(PY) -m cnn_core.train --example residual

train-residual: install
	$(PY) -m cnn_core.train --example residual

run: install $(SERVED)
	$(VENV)/bin/cnn-lens serve --host $(HOST) --port $(PORT) $(APP_ARGS)

# gunicorn (gunicorn.conf.py): CNN_LENS_HOST/PORT/WORKERS/THREADS... from the environment
serve: install $(SERVED)
	CNN_LENS_HOST=$${CNN_LENS_HOST:-$(HOST)} CNN_LENS_PORT=$${CNN_LENS_PORT:-$(PORT)} \
		$(if $(MODEL),CNN_LENS_MODEL=$(MODEL)) $(if $(DATA),CNN_LENS_DATA=$(DATA)) \
		$(VENV)/bin/gunicorn --config gunicorn.conf.py

test: install-test $(SEED_MODEL) $(SHAPES_MODEL) $(RESIDUAL_MODEL)
	bash scripts/system-deps.sh
	$(PY) -m ruff check .
	PYTHONDONTWRITEBYTECODE= $(PY) -m pytest $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadgroup) $(PYTEST_ARGS)

lint: install-test
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install-test
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: install-test $(SEED_MODEL) $(SHAPES_MODEL) $(RESIDUAL_MODEL)
	for script in bench/*.py; do \
		case $$script in *soak.py|*_peer_*.py) continue;; esac; $(PY) $$script || exit 1; done

# 11 minutes: gunicorn under steady load, the worker's memory growth (one JSON line)
soak: install-test $(SEED_MODEL)
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) models .pytest_cache .ruff_cache
