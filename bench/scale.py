"""Milvus backend and Ray embedding next to the embedded backend, in the same run (issue #16).

    .venv/bin/python bench/scale.py --equivalence          # TIME dev + Wikinews, a few minutes
    .venv/bin/python bench/scale.py --speed [--quick]      # the 100k-paragraph bench corpus
    .venv/bin/python bench/scale.py                        # both

Equivalence: nDCG@10 per mode for both backends (TIME dev: the human judgments; Wikinews:
known-item, each title as a query, its own article relevant), and per query the top-10
overlap of each leg (rows) and of each mode's articles. Both backends hold the same vectors
(the Milvus build reuses the embedded index's by content hash), so the semantic leg should
match exactly; the keyword leg differs by what Milvus computes BM25 from (IDF per segment in
Lite, no Whoosh OR-coordination bonus).

Speed: a full build of reuters21578 + bbc (embedded, local embedding), the Milvus build of the
same corpus storing those vectors (the Milvus write alone), warm in-process hybrid latency of
the 240 bench queries (prefix queries are unsupported on Milvus and left out for both) on both
backends, interleaved query by query so both see the same machine load, then ``--sample``
paragraphs of the index embedded locally (the build's own path) and on a local Ray cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import CORPORA, DATA, TIME_DOCS, TIME_QRELS, TIME_QUERIES, latency_summary, query_set  # noqa: E402,E501

from search import evaluate as ev  # noqa: E402
from search import writers  # noqa: E402
from search.backends import Filters, Unsupported  # noqa: E402
from search.backends.milvus_write import build_milvus  # noqa: E402
from search.build import Previous  # noqa: E402
from search.config import Settings  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.models import MODES, Query  # noqa: E402
from search.rayembed import RaySpec  # noqa: E402

WIKINEWS = DATA / "wikinews" / "docs.jsonl"


def _engines(docs: list[Path], work: Path) -> tuple[Engine, Engine, float]:
    es = ev.eval_settings(docs, work / "embedded")
    ev.ensure_index(docs, es, progress=False)
    ms = replace(es, backend="milvus", milvus_uri=str(work / "milvus.db"))
    t = time.perf_counter()
    build_milvus(docs, ms, previous=Previous.load(es))
    return Engine.open(es), Engine.open(ms), time.perf_counter() - t


def _wikinews_known_items() -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    queries, qrels = {}, {}
    with open(WIKINEWS, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i % 2:  # every other article: 147 queries keep the run to minutes
                continue
            d = json.loads(line)
            queries[f"w{i}"] = d["title"]
            qrels[f"w{i}"] = {d["id"]: 1}
    return queries, qrels


def _overlap(a: list, b: list, k: int = 10) -> float:
    a, b = a[:k], b[:k]
    return len(set(a) & set(b)) / max(1, min(k, max(len(a), len(b))))


def equivalence(work: Path) -> None:
    corpora = {
        "TIME dev": ([TIME_DOCS], ev.load_queries(TIME_QUERIES), ev.load_qrels(TIME_QRELS)),
        "Wikinews known-item": ([WIKINEWS], *_wikinews_known_items()),
    }
    for name, (docs, queries, qrels) in corpora.items():
        emb, mil, t_build = _engines(docs, work / name.split()[0].lower())
        print(f"\n## {name}: {len(queries)} queries (Milvus build from the embedded vectors "
              f"{t_build:.1f} s)\n")  # fmt: skip
        res_e = ev.evaluate(emb, queries, qrels, MODES)
        res_m = ev.evaluate(mil, queries, qrels, MODES)
        print("| mode | nDCG@10 embedded | nDCG@10 milvus | Δ | article top-10 overlap mean |"
              " min | queries identical |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|")
        for mode in MODES:
            ov = []
            for q in queries.values():
                a = [r.article_id for r in emb.search(Query(q, mode=mode)).results]
                b = [r.article_id for r in mil.search(Query(q, mode=mode)).results]
                ov.append(_overlap(a, b) if a or b else 1.0)
            ne, nm = res_e[mode]["ndcg@10"], res_m[mode]["ndcg@10"]
            same = sum(o == 1.0 for o in ov)
            print(f"| {mode} | {ne:.4f} | {nm:.4f} | {nm - ne:+.4f} | {np.mean(ov):.3f} | "
                  f"{min(ov):.2f} | {same}/{len(ov)} |")  # fmt: skip
        kw, sem, sem_exact = [], [], 0
        for q in queries.values():
            vec = emb.embedder.encode_query(q)
            se = emb.backend.semantic(vec, Filters(), 10).rows.tolist()
            sm = mil.backend.semantic(vec, Filters(), 10).rows.tolist()
            sem.append(_overlap(se, sm))
            sem_exact += se == sm
            ke = emb.backend.keyword(q, Filters(), 10).rows.tolist()
            km = mil.backend.keyword(q, Filters(), 10).rows.tolist()
            kw.append(_overlap(ke, km) if ke or km else 1.0)
        same_kw = sum(o == 1.0 for o in kw)
        print(
            f"\nLegs, top-10 paragraphs: semantic overlap mean {np.mean(sem):.3f} "
            f"(identical order {sem_exact}/{len(sem)}); keyword overlap mean "
            f"{np.mean(kw):.3f}, min {min(kw):.2f}, identical sets {same_kw}/{len(kw)}"
        )


def _build(label: str, fn) -> dict:  # noqa: ANN001
    t = time.perf_counter()
    rep = fn()
    secs = time.perf_counter() - t
    parts = ", ".join(f"{k} {v:.0f} s" for k, v in rep.timings.items() if v >= 0.5)
    print(f"| {label} | {secs:.1f} s | {rep.paragraphs} paragraphs, {rep.embedded} embedded "
          f"({parts}) |", flush=True)  # fmt: skip
    return {"seconds": secs, "timings": rep.timings}


def _embedding(es: Settings, n: int) -> None:
    """Local embedding against Ray on the same paragraphs of the built index (same run)."""
    from search.embed import embedder_for
    from search.layout import LiveIndex
    from search.rayembed import cluster, ray_encode
    from search.stages import embed_all

    paras = LiveIndex.read(es).paragraphs
    step = max(1, len(paras) // n)
    texts = [p["text"] for p in paras[::step][:n]]
    hashes = [f"{i}" for i in range(len(texts))]  # all distinct: nothing reused
    embedder = embedder_for(es)
    t = time.perf_counter()
    local, _ = embed_all(texts, hashes, embedder, es, False, previous=Previous())
    t_local = time.perf_counter() - t
    t = time.perf_counter()
    with cluster(RaySpec()) as cpus:
        t_start = time.perf_counter() - t
        t = time.perf_counter()
        remote = ray_encode(texts, es, RaySpec())
        t_ray = time.perf_counter() - t
    cos = float((local * remote).sum(axis=1).min())
    print(f"\n## Embedding {len(texts)} paragraphs of the index ({es.embed_backend})\n")
    print("| how | seconds | paragraphs/s |\n|---|---:|---:|")
    print(f"| local (build's path: length-sorted, one process, {os.cpu_count()} threads) | "
          f"{t_local:.1f} | {len(texts) / t_local:.0f} |")  # fmt: skip
    print(f"| Ray, {cpus} single-threaded actors, cluster already up | {t_ray:.1f} | "
          f"{len(texts) / t_ray:.0f} |")  # fmt: skip
    print(f"| Ray local cluster start | {t_start:.1f} | |")
    print(f"\nmin cosine Ray vs local: {cos:.6f}")


def speed(work: Path, every: int, sample: int) -> None:
    from common import subset_corpus

    docs = subset_corpus(CORPORA, every, work / "subset") if every > 1 else list(CORPORA)
    es = Settings.from_env(index_dir=work / "embedded")
    ms = replace(es, backend="milvus", milvus_uri=str(work / "milvus.db"))
    what = f"every {every}th article of " if every > 1 else ""
    print(f"\n## Builds ({what}reuters21578 + bbc)\n")
    print("| build | wall | detail |\n|---|---:|---|")
    _build("embedded, local embedding", lambda: writers.build(docs, es))
    _build("milvus, vectors reused (the Milvus write alone)",
           lambda: build_milvus(docs, ms, previous=Previous.load(es)))  # fmt: skip
    emb, mil = Engine.open(es), Engine.open(ms)
    both = query_set(CORPORA, 480)
    queries = [q for q in both[:240] if not q.rstrip().endswith("*")]
    warm = [q for q in both[240:] if not q.rstrip().endswith("*")][:60]
    for q in warm:
        for eng in (emb, mil):
            eng.search(Query(q))
    took: dict[str, list[float]] = {"embedded": [], "milvus": []}
    unsupported = 0
    for q in queries:
        for name, eng in (("embedded", emb), ("milvus", mil)):
            eng.embedder.clear_cache()
            t = time.perf_counter()
            try:
                eng.search(Query(q))
            except Unsupported:
                unsupported += 1
                continue
            took[name].append((time.perf_counter() - t) * 1000)
    print(f"\n## Hybrid latency, warm, in-process, {len(queries)} bench queries "
          f"(prefix queries left out; {unsupported} other unsupported on Milvus)\n")  # fmt: skip
    print("| backend | p50 ms | p95 ms | p99 ms | mean ms |\n|---|---:|---:|---:|---:|")
    for name, ms_ in took.items():
        s = latency_summary(ms_)
        print(f"| {name} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} | {s['mean']:.1f} |")
    sys.stdout.flush()
    _embedding(es, sample)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--equivalence", action="store_true")
    ap.add_argument("--speed", action="store_true")
    ap.add_argument("--quick", action="store_true", help="speed on ~10k paragraphs")
    ap.add_argument("--every", type=int, help="speed on every N-th article (--quick: 10)")
    ap.add_argument("--sample", type=int, default=10_000, help="paragraphs for local vs Ray")
    ap.add_argument("--keep", type=Path, help="work folder to keep (default: a temp one)")
    args = ap.parse_args()
    both = not (args.equivalence or args.speed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="newsearch-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.equivalence or both:
            equivalence(work)
        if args.speed or both:
            speed(work, args.every or (10 if args.quick else 1), args.sample)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
