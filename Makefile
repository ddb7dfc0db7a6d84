# BAMM Motion — the two quick-start commands are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
# Users who want a CPU-only torch (a much smaller download) can run e.g.
#   make demo PIP_EXTRA="--extra-index-url https://download.pytorch.org/whl/cpu"
PIP_EXTRA ?=
STAMP  := $(VENV)/.installed

.PHONY: demo test test-blender-all test-blender-ci addon bench clean venv

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (Python 3.11 is required; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_EXTRA) -e ".[all]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py

test: $(STAMP)
	$(PY) -m pytest -q tests

# The add-on's Blender tests on each Blender release (bpy 4.2 LTS, 4.5 LTS, 5.0, 5.3), one venv
# each under build/blender-matrix/ pinned to the NumPy that Blender ships; prints a table.
test-blender-all:
	$(PYTHON) scripts/blender_matrix.py

# The part of the matrix .ci/run runs besides `make test` (which is Blender 5.0 in .venv).
BLENDER_CI ?= 4.2 4.5 5.3
test-blender-ci:
	$(PYTHON) scripts/blender_matrix.py --only $(BLENDER_CI)

addon: $(STAMP)
	$(PY) scripts/build_addon.py

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf dist build *.egg-info
