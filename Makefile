# Two commands do everything on a fresh machine:
#   make demo   set up .venv if missing, run the whole pipeline on the embedded synthetic data into runs/cpu/,
#               then compare its metrics with the committed reference reports/cpu/
#   make test   set up .venv if missing, then run the test suite
# make reference refreshes the committed reference reports/$(PROFILE)/ on purpose (then review and commit it).
VENV   ?= .venv
PYTHON ?= python3
PY     := $(VENV)/bin/python
PROFILE ?= cpu

.PHONY: demo reference test setup clean-venv

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# the CPU build of PyTorch first: an unpinned torch would pull gigabytes of CUDA packages
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

setup: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/emohead reproduce --profile $(PROFILE) --out runs/$(PROFILE)
	@if [ -d reports/$(PROFILE) ]; then $(VENV)/bin/emohead compare runs/$(PROFILE) reports/$(PROFILE); \
	else echo "no committed reference reports/$(PROFILE)/ to compare with"; fi

reference: $(VENV)/.installed
	$(VENV)/bin/emohead reproduce --profile $(PROFILE) --out reports/$(PROFILE) --update-reference

test: $(VENV)/.installed
	$(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)
