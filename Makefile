# mmwe — two commands: `make demo` (build everything, then serve) and `make test` (the whole suite).
# Every step is a file target keyed on an artifact's manifest.json, so re-running reuses what is built.

PYTHON_BOOT ?= python3.11
VENV        ?= .venv
PY          := $(VENV)/bin/python
PIP         := $(PY) -m pip
DATA        ?= $(or $(MMWE_DATA_DIR),data)
export MMWE_DATA_DIR := $(DATA)

DEMO_CORPUS   := $(DATA)/corpus/demo
DEMO_FEATURES := $(DATA)/features/demo
DEMO_W2V      := $(DATA)/embeddings/demo-word2vec
DEMO_MODEL    := $(DATA)/embeddings/demo-a
DEMO_INDEX    := $(DATA)/index/default
DEMO_DEBS     := wordnet-base tuxpaint-stamps-default libcairo2
TEST_DEBS     := wordnet-base chromium chromium-driver nginx-light
BENCH_DEBS    := wrk

.PHONY: demo test serve install install-dev system-deps system-deps-test corpus features model index db \
        lint typecheck bench bench-full clean-demo help

help:
	@echo "make demo   build the demo corpus, model and index, migrate the DB, serve on http://127.0.0.1:8000"
	@echo "make test   install test dependencies into $(VENV) and run the whole suite"

$(PY):
	$(PYTHON_BOOT) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

# Installs are stamped on pyproject.toml: editing dependencies reinstalls, nothing else does.
$(VENV)/.installed-all: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[serve,train]'
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PIP) install --quiet -e '.[serve,train,dev]'
	@touch $@ $(VENV)/.installed-all

install: $(VENV)/.installed-all
install-dev: $(VENV)/.installed-dev

# Debian packages: installed when root, otherwise the exact command to run is printed.
define ensure_debs
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Missing Debian packages:$$missing"; echo "Run: sudo apt-get install -y$$missing"; exit 1; fi; \
	fi
endef

system-deps:
	$(call ensure_debs,$(DEMO_DEBS))

system-deps-test:
	$(call ensure_debs,$(TEST_DEBS))

# --- the demo pipeline --------------------------------------------------------------------------------------
$(DEMO_CORPUS)/manifest.json: | $(VENV)/.installed-all system-deps
	$(PY) -m training prepare --source demo --out $(DEMO_CORPUS)

$(DEMO_FEATURES)/manifest.json: $(DEMO_CORPUS)/manifest.json
	$(PY) -m training features --corpus $(DEMO_CORPUS) --out $(DEMO_FEATURES)

# word2vec on the demo corpus (about a minute), then Model A started from it (--init-embeddings) with the
# Tux Paint images: a short, gentle fine-tune, the embedding matrix at 0.3x the learning rate of the other
# layers (docs/training.md, "The demo model": chosen on the dev relatedness sets). The service's default
# evaluation scores both, side by side (the served model's manifest records the word2vec artifact).
$(DEMO_W2V)/manifest.json: $(DEMO_CORPUS)/manifest.json
	$(PY) -m training word2vec --corpus $(DEMO_CORPUS) --out $(DEMO_W2V) --seed 0 --workers 2

$(DEMO_MODEL)/manifest.json: $(DEMO_FEATURES)/manifest.json $(DEMO_W2V)/manifest.json
	$(PY) -m training train --model a --corpus $(DEMO_CORPUS) --features $(DEMO_FEATURES) --out $(DEMO_MODEL) \
	    --init-embeddings $(DEMO_W2V) --optimizer adam --lr 0.002 --embed-lr-scale 0.3 --max-tokens 1500000 \
	    --max-minutes 4 --threads 2 --seed 0

$(DEMO_INDEX)/manifest.json: $(DEMO_MODEL)/manifest.json
	$(PY) -m index build --embeddings $(DEMO_MODEL) --corpus $(DEMO_CORPUS) --out $(DEMO_INDEX)

corpus: $(DEMO_CORPUS)/manifest.json
features: $(DEMO_FEATURES)/manifest.json
model: $(DEMO_MODEL)/manifest.json
index: $(DEMO_INDEX)/manifest.json

db: | $(VENV)/.installed-all
	$(PY) -m app db upgrade

serve: | $(VENV)/.installed-all
	MMWE_INDEX_DIR=$(DEMO_INDEX) $(PY) -m app serve

demo: index db serve

clean-demo:
	rm -rf $(DATA)

# --- quality ------------------------------------------------------------------------------------------------
# The whole suite: lint, types, then every test (slow ones included; PYTEST_ARGS='-m "not slow"' skips them).
test: $(VENV)/.installed-dev system-deps-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) -m pytest $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(VENV)/.installed-dev
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

# Benchmarks print JSON. `make bench` runs the quick sizes; `make bench-full` the issue-sized ones (1M phrases,
# 10M triplets: tens of minutes, the 1M serving index is cached under BENCH_DIR).
BENCH_DIR ?= $(DATA)/bench
# Each bench says what it lacks instead of failing with a traceback (prepare_bench skips without the shared
# Flickr8k captions; load_bench names the package when wrk is missing).
bench: $(VENV)/.installed-dev
	$(call ensure_debs,$(BENCH_DEBS))
	$(PY) bench/prepare_bench.py
	$(PY) bench/train_bench.py
	$(PY) bench/eval_bench.py --triplets 1000000 --phrases 100000 --vocab 50000
	$(PY) bench/index_bench.py --sizes 100000
	$(PY) bench/load_bench.py --num-phrases 100000 --work $(BENCH_DIR)

bench-full: $(VENV)/.installed-dev
	$(call ensure_debs,$(BENCH_DEBS))
	$(PY) bench/eval_bench.py
	$(PY) bench/index_bench.py --sizes 1000000 --exact-queries 20
	$(PY) bench/load_bench.py --work $(BENCH_DIR)
