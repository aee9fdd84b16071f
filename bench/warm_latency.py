"""Warm in-process latency per mode over 100 distinct queries made from a corpus's titles.

    .venv/bin/python bench/warm_latency.py --index-dir /tmp/wikinews-ix \
        --docs ../shared/data/wikinews/docs.jsonl

Queries are the first four words of the first 100 titles; 40 other titles warm the engine up
first, so model loading and first-use costs are not counted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from search.config import Settings
from search.engine import Engine
from search.models import MODES, Query


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--docs", type=Path, required=True)
    args = ap.parse_args()
    with open(args.docs, encoding="utf-8") as f:
        titles = [json.loads(line).get("title") or "" for line in f][:140]
    queries = [" ".join(t.split()[:4]) for t in titles]
    engine = Engine.open(Settings.from_env(index_dir=args.index_dir))
    for q in queries[100:]:
        engine.search(Query(q))
    for mode in MODES:
        took = []
        for q in queries[:100]:
            t = time.perf_counter()
            engine.search(Query(q, mode=mode))
            took.append((time.perf_counter() - t) * 1000)
        p50, p99 = np.percentile(took, [50, 99])
        print(f"{mode:9s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({len(took)} queries)")


if __name__ == "__main__":
    main()
