# The course's commands. `make help` lists them.
VENV ?= .venv
PY := $(VENV)/bin/python
BUILD := _build
NBVAL_WORKERS ?= 2
NBVAL_OPTS := --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider
JB_STRICT := $(VENV)/bin/jupyter-book build . --builder html --warningiserror --keep-going --quiet

.DEFAULT_GOAL := help
.PHONY: help setup sources book book-strict test lint unit exercises nbval nbval-portable student student-check guide api browser execute benchmark test-gpu test-lowest clean grade grade-benchmark nbgrader-source

help: ## list the commands
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

setup: ## create .venv from constraints.txt and install system packages (idempotent)
	@bash scripts/setup.sh

book: setup book-strict ## README command 1: set up, then build the HTML book into _build/html
	@echo "Book: $(BUILD)/html/index.html"

book-strict:
	$(JB_STRICT)

test: setup lint sources unit exercises nbval nbval-portable student-check book-strict browser ## README command 2: set up, then every check
	@echo "All checks passed."

lint: ## ruff over the package, the tests, the scripts and the notebooks
	$(PY) -m ruff check tutorial_lib tests scripts book
	$(PY) -m ruff format --check tutorial_lib tests scripts

# The fine-tuning chapter's source models, trained once into the cache before the
# notebooks need them (a cold pretraining is timed here, not inside a notebook).
sources: setup ## train or load the source models of the fine-tuning chapter, with timings
	$(PY) scripts/booktools.py sources

# Includes the grader's tests (tests/autograde): the end-to-end test, about 100-150 s on
# the 2-core reference machine with two boxes at a time (skipped, saying so, without
# bubblewrap), and the nbgrader test, about 35 s plus about 25 s the first time to
# install nbgrader into _build/nbgrader-pkgs.
unit: ## unit tests of tutorial_lib and the book tools
	$(PY) -m pytest tests -q --ignore=tests/browser --ignore=tests/exercises

# Every exercise's check against its reference solution, right answers written
# differently, plausible wrong answers and the untouched stub, in a strict-mode
# kernel per notebook (tests/exercises/harness.py); two notebooks at a time.
exercises: setup ## every exercise check against right and wrong answers (strict mode)
	OMP_NUM_THREADS=1 $(PY) -m pytest tests/exercises -q -p no:cacheprovider \
		-n $(NBVAL_WORKERS) --dist loadfile

nbval: setup ## re-execute every notebook of _toc.yml and compare with the stored outputs
	$(PY) -m pytest --nbval $(NBVAL_OPTS) --toc-notebooks -q $$($(PY) scripts/booktools.py list)

# The same check as another reader's machine runs it: AVX2 kernels (a CPU without
# AVX-512) and one thread per kernel; two notebooks at a time so it costs little more
# than half a pass.
nbval-portable: setup ## nbval again with AVX2 kernels and one thread, notebooks in parallel
	ATEN_CPU_CAPABILITY=avx2 OMP_NUM_THREADS=1 $(PY) -m pytest --nbval $(NBVAL_OPTS) \
		--toc-notebooks -q -n $(NBVAL_WORKERS) --dist loadfile $$($(PY) scripts/booktools.py list)

student: setup ## write the student edition (solutions removed, outputs cleared) to _build/student
	$(PY) scripts/booktools.py student --out $(BUILD)/student

student-check: student ## run every student notebook top to bottom (lax comparison)
	OMP_NUM_THREADS=1 $(PY) -m pytest --nbval-lax $(NBVAL_OPTS) -q \
		-n $(NBVAL_WORKERS) --dist loadfile $(BUILD)/student

guide: setup ## regenerate the exercise table of book/instructors.md from the notebooks' metadata
	$(PY) scripts/booktools.py guide

api: setup ## regenerate the package reference page book/api.md from the docstrings
	$(PY) scripts/booktools.py api

browser: ## the built book in headless Chromium: pages, links, images, search, dropdowns, screenshots
	$(PY) -m pytest tests/browser -q

execute: setup ## re-execute notebooks and store their outputs: make execute NB=book/x.ipynb
	$(PY) scripts/booktools.py execute $(NB)

benchmark: setup ## time every notebook: _build/benchmark/report.json and BENCHMARKS.md
	$(PY) scripts/booktools.py benchmark

test-lowest: ## the lowest versions pyproject.toml allows, in .venv-lowest: every notebook runs (lax)
	@bash scripts/test_lowest.sh

test-gpu: setup ## run the notebooks on CUDA (lax comparison); says so and skips without a GPU
	@bash scripts/test_gpu.sh

OUT ?= $(BUILD)/grades
GRADE_OPTS ?=
grade: setup ## grade notebooks in a sandbox: make grade SUBMISSIONS=<dir or .zip> OUT=<dir>
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=<dir or .zip> OUT=<dir> [GRADE_OPTS='--workers 2']"; exit 2; }
	$(PY) scripts/grade.py grade "$(SUBMISSIONS)" --out "$(OUT)" $(GRADE_OPTS)

NBGRADER_OUT = $(if $(filter command line,$(origin OUT)),$(OUT),$(BUILD)/nbgrader)
nbgrader-source: setup ## the course as an nbgrader course folder: make nbgrader-source OUT=<dir>
	$(PY) scripts/grade.py nbgrader-source --out "$(NBGRADER_OUT)"

grade-benchmark: setup ## time the grader: 2 workers vs 1, and vs plain execution (BENCHMARKS.md)
	$(PY) scripts/grade_benchmark.py

clean: ## remove build outputs (keeps .venv)
	rm -rf $(BUILD)
