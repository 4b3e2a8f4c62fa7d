# Two entry points for a fresh machine: `make demo` (the main job) and `make test`.
# Each creates its own virtual environment in .venv (torch pinned to the CPU wheel).
PYTHON ?= python3
VENV   ?= .venv
PIP    := $(VENV)/bin/pip
PY     := $(VENV)/bin/python

.PHONY: venv demo test clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv  # the main job: depth x precision sweep of the reference checkpoint, prints where the report is
	$(VENV)/bin/redge sweep

test: venv
	$(PY) -m pytest

clean:
	rm -rf $(VENV) runs
