# The whole set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo corpus: the article files of seeds/ (not its README).
DATA ?= $(wildcard seeds/*.txt seeds/*.jsonl)
INDEX_DIR ?= index
HOST ?= 127.0.0.1
PORT ?= 5000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test index bench bench-detail lint clean browser-deps

# `make run` needs only the base packages; the test extras (dev tools, Milvus Lite, Ray: most of
# a 2.4 GB venv and most of the install time) come with `make test`.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $(STAMP)

TEST_STAMP := $(VENV)/.test-installed
$(TEST_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[dev,milvus,ray]'
	touch $(TEST_STAMP)

# Rebuild the index only when it is missing or older than its inputs.
index: $(STAMP)
	$(BIN)/newsearch index $(DATA) --index-dir $(INDEX_DIR) --if-stale

run: index
	$(BIN)/newsearch serve --host $(HOST) --port $(PORT) --index-dir $(INDEX_DIR)

# Headless Chromium + chromedriver for tests/test_browser.py (Debian packages; needs root).
browser-deps:
	test -x /usr/bin/chromedriver || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)

test: $(TEST_STAMP) browser-deps
	$(BIN)/ruff check search web tests bench
	$(BIN)/python -m pytest -q

# `make bench`: the cost curve with the defaults — BBC first build (model export included), then
# 10k, 100k and 300k paragraphs: build, embedding/s, hybrid p50/p99, server start-up/RSS/HTTP,
# index size, each next to a same-run baseline (bench/curve.py; resumable, kept under /tmp).
# `make bench BENCH_ARGS="--sizes 10000 --skip bbc"` for a few minutes' run.
BENCH_ARGS ?=
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	$(BIN)/python bench/curve.py $(BENCH_ARGS)

# The detailed table of issue #6 (legs vs bm25s, writer options, re-index, 8/32 clients) and
# the load run (50 clients, 60 s, loopback, bounded) against the index bench/run.py built.
DETAIL_ARGS ?=
LOAD_INDEX ?= $${TMPDIR:-/tmp}/newsearch-bench/$(if $(findstring --quick,$(DETAIL_ARGS)),quick,full)/index
bench-detail: $(BENCH_STAMP)
	$(BIN)/python bench/run.py $(DETAIL_ARGS)
	$(BIN)/python bench/load.py --index-dir $(LOAD_INDEX)

lint: $(TEST_STAMP)
	$(BIN)/ruff check --fix search web tests bench
	$(BIN)/ruff format search web tests bench

clean:
	rm -rf $(VENV)
