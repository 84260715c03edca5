# The workbook's commands. Each one installs first if needed (a fresh clone needs nothing else).
VENV   ?= .venv
ENV    ?= dev
PY     := $(VENV)/bin/python
WB     := $(VENV)/bin/mlops-workbook
NBVAL  := --nbval --nbval-current-env --nbval-sanitize-with tests/notebooks/sanitize.cfg

.PHONY: install run test lab notebooks labs bench

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(WB) kernel
	touch $@

# Execute every lesson for one environment with papermill into runs/$(ENV)/ (make run ENV=staging).
run: install
	$(WB) run --env $(ENV)

# The whole suite: unit tests, lab checks, papermill runs per environment, nbval on stored outputs.
test: install
	$(VENV)/bin/pytest tests notebooks solutions $(NBVAL)

# JupyterLab on the repository, with the project's kernel registered.
lab: install
	$(VENV)/bin/jupyter lab --notebook-dir=.

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
