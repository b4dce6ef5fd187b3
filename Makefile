# One-command set-up: `make test` and `make demo` create .venv and install everything on a fresh machine.
# Stamp files under .venv make a second run quick when nothing changed.
PYTHON ?= python3
VENV ?= .venv
TORCH_VERSION ?= 2.13.0
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.stamps

.PHONY: setup test demo clean bench

setup: $(STAMP)/package $(STAMP)/kernels

$(STAMP)/venv:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	mkdir -p $(STAMP) && touch $@

# CPU torch first: with torch already present, nothing below pulls a CUDA build.
$(STAMP)/torch: $(STAMP)/venv
	$(PIP) install -q torch==$(TORCH_VERSION)
	touch $@

# lava-nc 0.10.0 declares Python < 3.11 (SPEC §4): install its dependencies with the bounds it declares, then lava
# itself ignoring requires-python. snn.backends.lava applies the 3.11 compatibility fix at import time.
$(STAMP)/lava: $(STAMP)/torch
	$(PIP) install -q 'numpy<2' 'scipy<1.18' 'asteval>=0.9.31,<0.10' 'networkx<=2.8.7' 'scikit-learn>=1.5,<2'
	$(PIP) install -q --no-deps --ignore-requires-python lava-nc==0.10.0
	touch $@

# Peers for cross-check tests. norse without torchvision (--no-deps); dcls is the reference delay kernel.
# lava-dl 0.6.0 is the Loihi 2 netx loader the export must satisfy (tests/test_netx_lavadl.py): it declares Python
# < 3.11 and torch 2.3, so no deps and no requires-python check. Its import needs OpenCV (the headless build, numpy<2
# compatible) and torchvision; PyPI's torchvision for torch 2.13 is a CUDA build that cannot be imported beside the
# CPU torch, so it is not installed and that test puts an empty stand-in in its place (netx never calls it).
# neurobench 2.3.0 and spikingjelly 2.0.0 (op_counter) are the energy counts' references (tests/test_energy_peers.py):
# no deps, so torch stays; they import with loguru (spikingjelly) and what is above (snntorch, tonic for neurobench).
$(STAMP)/peers: $(STAMP)/lava
	$(PIP) install -q snntorch==1.0.0 nir nirtorch h5py
	$(PIP) install -q --no-deps norse==1.1.0 dcls==0.1.1
	$(PIP) install -q requests && $(PIP) install -q --no-deps tonic==1.7.0 importRosbag==1.0.4 expelliarmus==1.1.12
	$(PIP) install -q --no-deps --ignore-requires-python lava-dl==0.6.0 opencv-python-headless==4.10.0.84
	$(PIP) install -q loguru && $(PIP) install -q --no-deps neurobench==2.3.0 spikingjelly==2.0.0
	touch $@

$(STAMP)/package: $(STAMP)/peers pyproject.toml
	$(PIP) install -q --no-build-isolation -e '.[dev]'
	touch $@

# The C++/OpenMP kernels (snn/kernels/csrc), compiled for this machine's CPU into the venv (about 30 s; torch's
# extension builder needs ninja). Without them the pure-PyTorch paths run: same results, slower.
$(STAMP)/kernels: $(STAMP)/package $(wildcard snn/kernels/csrc/*.cpp) snn/kernels/__init__.py
	$(PIP) install -q ninja==1.13.0
	$(PY) -m snn.kernels build
	touch $@

# Headless Chromium renders the energy report in tests/test_energy_report.py (Debian's chromium, about 30 s to
# install). Installed when running as root (CI on a fresh machine); otherwise the test fails saying what to install.
$(STAMP)/chromium: $(STAMP)/venv
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "note: chromium is not installed and this is not root: tests/test_energy_report.py will fail" \
		"(install Debian's chromium)"; fi
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then touch $@; fi

test: setup $(STAMP)/chromium
	$(PY) -m pytest -q -n 2 tests

demo: setup
	$(VENV)/bin/snn demo

bench: setup
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
