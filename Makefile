# FretCoach Desktop developer tasks. Everything runs from the project's own .venv.
#
#   make venv    system packages (if missing) + .venv with the package and dev tools
#   make test    the test suite, headless
#   make run     start the app
#   make bench   benchmark the analyzer against aubio and librosa on $(CORPUS), then on the
#                hard corpus (bench/hardcorpus.py, built on first use into $(HARD_CORPUS))
#                (extra options: make bench BENCH_ARGS="--markdown")
#   make lint    ruff and the import-linter contracts

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORPUS ?= ../shared/corpus
HARD_CORPUS ?= bench/.hard-corpus
BENCH_ARGS ?=

DEV_STAMP   := $(VENV)/.installed-dev
BENCH_STAMP := $(VENV)/.installed-bench

.PHONY: venv test run bench lint clean

venv: $(DEV_STAMP)

# Reinstalls whenever pyproject.toml changes (new dependencies, new extras).
$(DEV_STAMP): pyproject.toml scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh "$(PYTHON)"
	@if ! $(BIN)/python -m pip --version >/dev/null 2>&1; then \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install -e '.[dev]'
	touch $@

$(BENCH_STAMP): $(DEV_STAMP)
	bash scripts/install-system-deps.sh "$(PYTHON)" fluidsynth fluid-soundfont-gm
	$(BIN)/python -m pip install -e '.[dev,bench]'
	touch $@

test: venv
	$(BIN)/python -m pytest -q

run: venv
	$(BIN)/python -m fretcoach_desktop

bench: $(BENCH_STAMP)
	$(BIN)/python -m bench.analysis $(CORPUS) --by-condition $(BENCH_ARGS)
	$(BIN)/python -m bench.hardcorpus $(HARD_CORPUS)
	$(BIN)/python -m bench.analysis $(HARD_CORPUS) --by-condition --causality $(BENCH_ARGS)

# Runs both checks even when the first fails, then fails if either did.
lint: venv
	@status=0; \
	$(BIN)/ruff check . || status=1; \
	$(BIN)/lint-imports || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
