# The workbook's commands. Each one installs first if needed (a fresh clone needs nothing else).
VENV   ?= .venv
ENV    ?= dev
PY     := $(VENV)/bin/python
WB     := $(VENV)/bin/mlops-workbook
NBVAL  := -p nbval --nbval --nbval-kernel-name mlops-workbook --nbval-sanitize-with tests/notebooks/sanitize.cfg
# Test workers: most of a notebook's time is spent waiting on Docker, servers and pipelines, so 3 workers
# keep 2 cores busy. Each worker has its own ports and deploy state (mlops_workbook.core.instance); what must
# share a worker is grouped in conftest.py. WORKERS=0 runs everything in this process, in order.
WORKERS ?= 3
XDIST  := -n $(WORKERS) --no-loadscope-reorder

.PHONY: install pipelines lock run test test-grading quick lint reproduce lab notebooks labs site latest bench devcontainer

install: $(VENV)/.installed

# uv installs the locks' versions (it is what writes them, `make lock`): in parallel, from one cache the three
# environments share, about a minute on a fresh machine where pip took six. It comes from PyPI at the version the
# lock pins, into a folder of its own (.uv/) so that it needs nothing but python3. Without uv, pip installs the same
# versions: `python3 -m venv .venv && .venv/bin/pip install -c requirements/workbook.lock -e '.[dev]'` (README).
# `--seed` gives each environment pip too: the serving wheelhouse is built with `pip wheel` (ci/wheels.py).
# UV_COMPILE_BYTECODE writes .venv's .pyc files now, as pip does: a grading container mounts .venv read-only and
# would otherwise compile pandas and the rest at every start (a lab's set-up: 3 s compiled, over 10 s not). The
# pipelines' environments compile what they import on first use instead (a third of them: 30 s less to install),
# so Python may write its bytecode cache even where the machine says not to (PYTHONDONTWRITEBYTECODE, which would
# have every Airflow task compile Airflow again).
# uv is an order-only prerequisite (after `|`): an environment needs it, but a newer uv does not reinstall one.
export PYTHONDONTWRITEBYTECODE :=
UV     := .uv/bin/uv
UV_ENV := UV_PYTHON_DOWNLOADS=never UV_NO_PROGRESS=1
OVERRIDES := --overrides requirements/overrides.txt  # what the environments leave out, and why: that file
$(UV): requirements/workbook.lock
	test -x .uv/bin/python || python3 -m venv .uv
	.uv/bin/python -m pip install --quiet --disable-pip-version-check "$$(grep -m1 '^uv==' requirements/workbook.lock)"
	touch $@

$(VENV)/.installed: pyproject.toml requirements/workbook.lock requirements/overrides.txt | $(UV)
	test -x $(PY) || $(UV_ENV) $(UV) venv --quiet --seed --python python3 $(VENV)
	$(UV_ENV) UV_COMPILE_BYTECODE=1 $(UV) pip install --quiet --python $(PY) --constraint requirements/workbook.lock \
		$(OVERRIDES) -e '.[dev]'
	$(WB) kernel
	$(PY) -c "import matplotlib.pyplot"  # builds matplotlib's font cache now, not in a notebook's first output
	touch $@

# Airflow and the Kubeflow Pipelines SDK, each in its own environment (04_cd_pipelines): the core and one extra.
pipelines: .venv-airflow/.installed .venv-kfp/.installed

.venv-%/.installed: requirements/%.lock pyproject.toml requirements/overrides.txt | $(UV)
	test -x .venv-$*/bin/python || $(UV_ENV) $(UV) venv --quiet --seed --python python3 .venv-$*
	$(UV_ENV) $(UV) pip install --quiet --python .venv-$*/bin/python --constraint requirements/$*.lock $(OVERRIDES) -e '.[$*]'
	touch $@

# Re-resolve every environment's lock from pyproject.toml (after changing a pin there), for every platform and Python
# 3.11 release (`--universal`: Debian's 3.11.2 gets what it can install), keeping the other pins
# where they still fit; `make lock UPGRADE=--upgrade` moves every indirect dependency to its newest fitting release.
LOCK := $(UV) pip compile pyproject.toml --quiet --universal --python-version 3.11 $(OVERRIDES) $(UPGRADE)
lock: $(UV)
	$(LOCK) --extra dev --output-file requirements/workbook.lock
	$(LOCK) --extra airflow --output-file requirements/airflow.lock
	$(LOCK) --extra kfp --output-file requirements/kfp.lock

# Execute every lesson for one environment with papermill into runs/$(ENV)/ (make run ENV=staging).
run: install pipelines
	$(WB) run --env $(ENV)

# The whole suite: unit tests, lab checks, papermill runs per environment, nbval on stored outputs.
test: install pipelines
	$(VENV)/bin/pytest tests notebooks solutions $(NBVAL) $(XDIST) -m "not grading"

# nbgrader's autograde of the labs that build images or start servers (33 s on 3 workers): .ci/run runs it after `test`.
test-grading: install pipelines
	$(VENV)/bin/pytest tests/notebooks/test_nbgrader.py $(XDIST) -m grading

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

# The course as a static website from the stored notebooks (runs/site/, or OUT=public); SOLUTIONS=1 adds the solved labs.
OUT ?= runs/site
site: install
	$(WB) site --out $(OUT) $(if $(SOLUTIONS),--solutions)

# The early-warning lane (the course's CI runs it on a schedule, allowed to fail): the newest release of every
# direct dependency instead of the lock, in .venv-latest, the quick tier on it, and runs/latest/report.md (which
# packages moved or were held back, which tests broke). `install` runs on the system's Python; a conflict between
# the newest releases is reported there. The tier's run records no notebook as checked (-p no:notebook-checks):
# what it checked is not the lock the site's stamps name.
latest: | $(UV)
	PYTHONPATH=src python3 -m mlops_workbook.course.latest install
	.venv-latest/bin/pytest tests notebooks solutions $(NBVAL) $(XDIST) -m "not heavy" -q -p no:notebook-checks \
		--junitxml runs/latest/junit.xml; echo $$? > runs/latest/pytest-exit
	.venv-latest/bin/python -m mlops_workbook.course.latest report

# Measure speed and size against the usual alternatives; writes bench/results/latest.{md,json}.
bench: install
	$(PY) -m bench.run $(SECTIONS)
