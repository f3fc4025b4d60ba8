# xattn — cross-attention, step by step.
#   make book   build the website into _build/html (creates .venv from requirements.lock first)
#   make test   build the website, then run every test (the command CI runs)
# See README.md for the rest.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.xattn-installed
JOBS   ?= 2
# The nbgrader course folder: a term's submissions and grades. Outside _build, ignored
# by git, and deleted by no target.
COURSE ?= $(or $(XATTN_COURSE),course)

.PHONY: env book student-site test execute pretrained student grades feedback bench lock clean

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

# The website from the student versions (no solutions, no hidden tests): _build/student/_build/html.
student-site: $(STAMP)
	$(BIN)/python -m xattn.coursework student-site --out _build/student

# The two websites build side by side, one per core; then every test runs.
test: $(STAMP)
	$(MAKE) --no-print-directory -j $(JOBS) book student-site
	$(BIN)/python -m pytest -n $(JOBS) --durations=25

# Re-execute chapters in place, as the tests run them (one thread, the CPU settings of
# conftest.py): make execute NB="chapters/08_training.ipynb chapters/09_decoding.ipynb".
execute: $(STAMP)
	$(BIN)/python tests/execute.py $(NB)

# Retrain the date models that ship in xattn/checkpoints, under the same settings.
pretrained: $(STAMP)
	$(BIN)/python -c "import conftest, xattn.pretrained; xattn.pretrained.main()"

# Student versions of every chapter (nbgrader generate_assignment): $(COURSE)/release/chNN/.
student: $(STAMP)
	$(BIN)/python -m xattn.coursework release --course $(COURSE)

# Autograde $(COURSE)/submitted/<student>/<chNN>/ and write $(COURSE)/grades.csv;
# ONLY="03 04" grades those chapters (default: every chapter someone submitted).
grades: $(STAMP)
	$(BIN)/python -m xattn.coursework grade --course $(COURSE) $(if $(ONLY),--only $(ONLY))

# An HTML report per graded submission: $(COURSE)/feedback/<student>/<chNN>/.
feedback: $(STAMP)
	$(BIN)/python -m xattn.coursework feedback --course $(COURSE) $(if $(ONLY),--only $(ONLY))

# Speed measurements (not tests): attention layers, training steps, convergence, decoding caches,
# blockwise and approximate attention, reversible layers, int8 and pruned models, the
# chapters that train on scenes and speech, run with two threads, and grading a submission.
bench: $(STAMP)
	$(BIN)/python bench/attention.py
	$(BIN)/python bench/train.py
	$(BIN)/python bench/online.py
	$(BIN)/python bench/approximate.py
	$(BIN)/python bench/reversible.py
	$(BIN)/python bench/compression.py
	$(BIN)/python bench/chapter_training.py --threads 2
	$(BIN)/python bench/grading.py

# Maintainers: re-resolve every pin after changing pyproject.toml.
lock:
	$(PYTHON) .ci/lock.py

clean:
	rm -rf _build
