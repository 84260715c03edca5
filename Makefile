# The workbook's commands. Each one installs first if needed (a fresh clone needs nothing else).
VENV   ?= .venv
ENV    ?= dev
PY     := $(VENV)/bin/python
WB     := $(VENV)/bin/mlops-workbook
NBVAL  := -p nbval --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg
# Test workers: most of a notebook's time is spent waiting on Docker, servers and pipelines, so 3 workers
# keep 2 cores busy. Each worker has its own ports and deploy state (mlops_workbook.instance); what must
# share a worker is grouped in conftest.py. WORKERS=0 runs everything in this process, in order.
WORKERS ?= 3
XDIST  := -n $(WORKERS) --no-loadscope-reorder

.PHONY: install pipelines lock run test quick lint reproduce lab notebooks labs bench devcontainer

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements/workbook.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --constraint requirements/workbook.lock -e '.[dev]'
	$(WB) kernel
	$(PY) -c "import matplotlib.pyplot"  # builds matplotlib's font cache now, not in a notebook's first output
	touch $@

# Airflow and the Kubeflow Pipelines SDK, each in its own environment (04_cd_pipelines): the core and one extra.
pipelines: .venv-airflow/.installed .venv-kfp/.installed

.venv-%/.installed: requirements/%.lock pyproject.toml
	test -x .venv-$*/bin/python || python3 -m venv .venv-$*
	.venv-$*/bin/python -m pip install --quiet --upgrade pip
	.venv-$*/bin/python -m pip install --quiet --constraint requirements/$*.lock -e '.[$*]'
	touch $@

# Re-resolve every environment's lock from pyproject.toml (after changing a pin there), for every platform and Python
# 3.11 release (`--universal`: Debian's 3.11.2 gets what it can install), keeping the other pins
# where they still fit; `make lock UPGRADE=--upgrade` moves every indirect dependency to its newest fitting release.
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --quiet --universal --python-version 3.11 $(UPGRADE)
lock: install
	$(LOCK) --extra dev --output-file requirements/workbook.lock
	$(LOCK) --extra airflow --output-file requirements/airflow.lock
	$(LOCK) --extra kfp --output-file requirements/kfp.lock

# Execute every lesson for one environment with papermill into runs/$(ENV)/ (make run ENV=staging).
run: install pipelines
	$(WB) run --env $(ENV)

# The whole suite: unit tests, lab checks, papermill runs per environment, nbval on stored outputs.
test: install pipelines
	$(VENV)/bin/pytest tests notebooks solutions $(NBVAL) $(XDIST)

# The edit loop's tier: unit tests, the light notebooks and their labs; nothing that starts a server or
# builds an image (the items conftest.py marks heavy).
quick: install
	$(VENV)/bin/pytest tests notebooks solutions $(NBVAL) $(XDIST) -m "not heavy"

# Lint and format check (ruff, configured in pyproject.toml); CI runs it before the tests. `ruff format .`
# and `ruff check --fix .` fix most of what it finds; `pre-commit install` runs them on every commit.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

# Re-execute the stored notebooks and solutions and compare every output with nbval (self-study readers).
reproduce: install pipelines
	$(VENV)/bin/pytest notebooks solutions $(NBVAL) $(XDIST)

# JupyterLab on the repository, with the project's kernel registered.
lab: install
	$(WB) lab

# The dev container (.devcontainer/): its image built from the local base, and the quick tier run inside it.
devcontainer: install
	bash .devcontainer/check

# Refresh the stored outputs of notebooks/ and solutions/ (dev parameters), then the labs.
notebooks: install
	$(WB) refresh
	$(WB) labs

# Regenerate labs/ from solutions/.
labs: install
	$(WB) labs

# Measure speed and size against the usual alternatives; writes bench/results/latest.{md,json}.
bench: install
	$(PY) -m bench.run $(SECTIONS)
