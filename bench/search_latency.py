"""Warm search latency of one engine on one index: p50/p95 per mode over a query list.

Uses only ``Engine.open`` / ``Engine.search``, so the same script times another checkout of the
code against the same index (``PYTHONPATH=/path/to/other/checkout``): the way #13's "no slower"
is checked here, alternating runs of the two trees in the same session. Queries: the TIME dev
queries and the Reuters topic names (long and short).

    .venv/bin/python bench/search_latency.py --index-dir IDX [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def queries() -> list[str]:
    out = []
    for f in (DATA / "time" / "queries_dev.jsonl", DATA / "reuters21578" / "queries_topics.jsonl"):
        out += [json.loads(line)["text"] for line in f.read_text().splitlines() if line.strip()]
    return out


def main() -> None:
    import search
    from search.config import Settings
    from search.engine import Engine
    from search.models import Query

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--index-dir", required=True)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    engine = Engine.open(Settings.from_env(index_dir=args.index_dir))
    qs = queries()
    for q in qs:  # warm: query embeddings cached, first-use state built
        engine.search(Query(q, mode="hybrid"))
    for mode in ("keyword", "semantic", "hybrid"):
        times = []
        for _ in range(args.rounds):
            for q in qs:
                t0 = time.perf_counter()
                engine.search(Query(q, mode=mode))
                times.append((time.perf_counter() - t0) * 1000)
        times.sort()
        p95 = times[int(0.95 * (len(times) - 1))]
        tree = Path(search.__file__).parent.parent.name
        p50 = statistics.median(times)
        print(
            f"{tree} {mode}: p50 {p50:.1f} ms p95 {p95:.1f} ms "
            f"({len(times)} searches, {args.index_dir})",
            flush=True,
        )


if __name__ == "__main__":
    main()
