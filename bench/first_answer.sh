#!/usr/bin/env bash
# Fresh clone -> `make run` -> first answer: the wall clock a new user waits, set-up included.
# Clones this repository into a scratch dir (beside a link to ../shared, as CI lays it out),
# runs `make run` there with an empty model cache, and polls the JSON API until it answers.
# Usage (from the repository root): bench/first_answer.sh [PORT] [SCRATCH]
# The server is left running for screenshots; stop it with: pkill -f "port PORT"
set -euo pipefail
port=${1:-5120}
scratch=${2:-/tmp/newsearch-first-answer}
repo=$(git rev-parse --show-toplevel)
t0=$(date +%s.%N)
rm -rf "$scratch" && mkdir -p "$scratch"
git clone -q "$repo" "$scratch/main"
if [ -d "$repo/../shared" ]; then ln -s "$(cd "$repo/../shared" && pwd)" "$scratch/shared"; fi
cd "$scratch/main"
NEWSEARCH_MODEL_CACHE="$scratch/model-cache" nohup make run PORT="$port" > "$scratch/make-run.log" 2>&1 &
until curl -sf "http://127.0.0.1:$port/api/search?q=Navalny" -o "$scratch/answer.json"; do
  if ! kill -0 $! 2>/dev/null; then echo "make run stopped; see $scratch/make-run.log" >&2; exit 1; fi
  sleep 1
done
t1=$(date +%s.%N)
echo "fresh clone -> first answer: $(echo "$t1 - $t0" | bc) s ($(git -C "$repo" rev-parse --short HEAD))"
