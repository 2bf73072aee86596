# Two commands do everything on a fresh machine:
#   make demo   set up .venv if missing, then run the whole pipeline on the embedded synthetic data (reports/cpu/)
#   make test   set up .venv if missing, then run the test suite
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
PROFILE ?= cpu

.PHONY: demo test setup clean-venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of PyTorch first: an unpinned torch would pull gigabytes of CUDA packages
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/emohead reproduce --profile $(PROFILE) --out reports/$(PROFILE)

test: $(VENV)/.installed
	$(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)
