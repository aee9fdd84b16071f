#!/usr/bin/env bash
# A cold `newsearch search` (a new process each time: imports, model, index open, one query):
# wall clock, CPU and peak RSS of RUNS runs against an index of the demo corpus.
# Usage (from the repository root, after `make index`): bench/cold_search.sh [INDEX_DIR] [RUNS]
set -euo pipefail
index=${1:-index}
runs=${2:-5}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for _ in $(seq "$runs"); do
  /usr/bin/time -f "%e s wall, %U+%S CPU-s, %M KB peak RSS" \
    .venv/bin/newsearch search "Navalny poisoned" --index-dir "$index" --limit 3 > /dev/null
done
