# xattn — cross-attention, step by step.
#   make book   build the website into _build/html (creates .venv from requirements.lock first)
#   make test   build the website, then run every test (the command CI runs)
# See README.md for the rest.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xattn-installed
JOBS   ?= 2

.PHONY: env book test student grades bench lock clean

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else "xattn needs Python 3.10 or newer; this is " + sys.version.split()[0] + " (set PYTHON=python3.x)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $@

book: $(STAMP)
	$(BIN)/jupyter-book build . --warningiserror --keep-going

test: book
	$(BIN)/python -m pytest -n $(JOBS) --durations=20

# Student versions of every chapter (nbgrader generate_assignment) in _build/course/release/.
student: $(STAMP)
	$(BIN)/python -m xattn.coursework release

# Autograde the submissions in _build/course/submitted/<student>/<chNN>/ and write _build/course/grades.csv.
grades: $(STAMP)
	$(BIN)/python -m xattn.coursework grade

# Speed measurements (not tests): attention layers, training steps, convergence, decoding caches.
bench: $(STAMP)
	$(BIN)/python bench/attention.py
	$(BIN)/python bench/train.py

# Maintainers: re-resolve every pin after changing pyproject.toml.
lock:
	$(PYTHON) .ci/lock.py

clean:
	rm -rf _build
