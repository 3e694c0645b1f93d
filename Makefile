# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0

.PHONY: demo test lint venv install-demo install-dev bench bench-deps bench-service clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

install-demo: $(PY)
	$(PIP) install --quiet -e ".[demo]"

# torch first, pinned: here 2.13.0 is a CPU build on local disk; an unpinned `torch` pulled in by
# sentence-transformers would download a multi-gigabyte CUDA build.
install-dev: $(PY)
	$(PIP) install --quiet "torch==$(TORCH_VERSION)"
	$(PIP) install --quiet -e ".[dev]"

demo: install-demo
	$(VENV)/bin/synerec demo

test: install-dev
	$(PY) -m pytest -n 2 --durations=15

lint: install-dev
	$(PY) -m ruff check src tests bench

# The load generator of the service benchmarks (Debian/Ubuntu package; needs root or sudo).
bench-deps:
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk) \
		|| sudo sh -c 'apt-get update && apt-get install -y wrk'

# Issue 15's figures: the service under hostile load and faults (about 15-25 minutes).
bench-service: install-dev bench-deps
	$(PY) bench/service_faults.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache synerec-report
