"""Warm in-process latency per mode, p50/p99, over queries from a corpus's titles or the bench set.

    .venv/bin/python bench/warm_latency.py --index-dir /tmp/wikinews-ix \
        --docs ../shared/data/wikinews/docs.jsonl
    .venv/bin/python bench/warm_latency.py --index-dir /tmp/newsearch-bench/full/index \
        --bench-queries --embed-backend openvino-int8

Title queries are the first four words of the first 100 titles; 40 other titles warm the engine
up first. ``--bench-queries`` uses the 240 varied queries of ``make bench`` (bench/common.py:
TIME and Reuters topic queries, title pieces, phrases, NOT, title:, prefixes), warmed up on 240
others, each with a fresh query vector, as bench/latency.py times them (the issue #6 figures).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import CORPORA, query_set  # noqa: E402

from search import embed  # noqa: E402
from search.config import Settings  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.models import MODES, Query  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--index-dir", type=Path, required=True)
    ap.add_argument("--docs", type=Path, help="JSONL whose titles make the queries")
    ap.add_argument("--bench-queries", action="store_true", help="the 240 bench queries")
    ap.add_argument("--embed-backend", help="torch, openvino or openvino-int8")
    args = ap.parse_args()
    if args.bench_queries:
        both = query_set(CORPORA, 480)
        queries, warm = both[:240], both[240:]
    elif args.docs:
        with open(args.docs, encoding="utf-8") as f:
            titles = [json.loads(line).get("title") or "" for line in f][:140]
        titles = [" ".join(t.split()[:4]) for t in titles]
        queries, warm = titles[:100], titles[100:]
    else:
        ap.error("give --docs or --bench-queries")
    settings = Settings.from_env(index_dir=args.index_dir, embed_backend=args.embed_backend)
    engine = Engine.open(settings, embedder=embed.embedder_for(settings))
    for mode in MODES:
        for q in warm:
            engine.embedder.clear_cache()
            engine.search(Query(q, mode=mode))
        took = []
        for q in queries:
            engine.embedder.clear_cache()
            t = time.perf_counter()
            engine.search(Query(q, mode=mode))
            took.append((time.perf_counter() - t) * 1000)
        p50, p99 = np.percentile(took, [50, 99])
        print(f"{mode:9s} p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  ({len(took)} queries)")


if __name__ == "__main__":
    main()
