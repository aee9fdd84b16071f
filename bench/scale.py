"""Milvus backend and Ray embedding next to the embedded backend, in the same run (issue #16).

    .venv/bin/python bench/scale.py --equivalence          # TIME dev + Wikinews, a few minutes
    heavy .venv/bin/python bench/scale.py --prepare --keep DIR [--quick]   # 100k builds
    quiet .venv/bin/python bench/scale.py --speed --keep DIR               # latency, Ray
    .venv/bin/python bench/scale.py                        # all of it in a temp folder

Equivalence: nDCG@10 per mode for both backends (TIME dev: the human judgments; Wikinews:
known-item, each title as a query, its own article relevant), per query the top-10 overlap and
the total of each mode, and the article-level evidence the engine decides the match set from
(``keyword_articles``: clause counts and BM25F per article; ``semantic_articles``: the best
cosine per article above the recorded floor). Both backends hold the same vectors (the Milvus
build reuses the embedded index's by content hash).

Speed: ``--prepare`` builds reuters21578 + bbc (embedded, local embedding) and the Milvus
collections of the same vectors (the Milvus write alone); ``--speed`` opens both and measures
warm in-process hybrid latency of the bench queries (prefix queries are unsupported on Milvus
and left out for both), interleaved query by query so both see the same machine load, for at
most ``--budget`` seconds, then ``--sample`` paragraphs of the index embedded locally (the
build's own path) and on a local Ray cluster.
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
from search.backends import Unsupported  # noqa: E402
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
              " min | top-10 identical | totals equal |")  # fmt: skip
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        for mode in MODES:
            ov, totals = [], 0
            for q in queries.values():
                re_, rm = emb.search(Query(q, mode=mode)), mil.search(Query(q, mode=mode))
                a = [r.article_id for r in re_.results]
                b = [r.article_id for r in rm.results]
                ov.append(_overlap(a, b) if a or b else 1.0)
                totals += re_.total == rm.total
            ne, nm = res_e[mode]["ndcg@10"], res_m[mode]["ndcg@10"]
            same = sum(o == 1.0 for o in ov)
            print(f"| {mode} | {ne:.4f} | {nm:.4f} | {nm - ne:+.4f} | {np.mean(ov):.3f} | "
                  f"{min(ov):.2f} | {same}/{len(ov)} | {totals}/{len(ov)} |")  # fmt: skip
        _evidence(emb, mil, queries)


def _evidence(emb: Engine, mil: Engine, queries: dict[str, str]) -> None:
    """Per query, the article-level evidence the engine decides the match set from."""
    kb, mb = emb.backend, mil.backend
    radius = mb.semantic_radius or -1.0
    same_clauses = same_scores = 0
    max_rel, sem_same, sem_err, skipped = 0.0, 0, 0.0, 0
    for q in queries.values():
        try:
            ke, km = kb.keyword_articles(q), mb.keyword_articles(q)
        except Unsupported:
            skipped += 1
            continue
        if ke.evidence is None or km.evidence is None:
            same_clauses += (ke.evidence is None) == (km.evidence is None)
            same_scores += (ke.evidence is None) == (km.evidence is None)
        else:
            same_clauses += np.array_equal(ke.evidence.matched, km.evidence.matched)
            d = np.abs(ke.evidence.scores - km.evidence.scores)
            rel = float((d / np.maximum(np.abs(ke.evidence.scores), 1e-12)).max())
            max_rel = max(max_rel, rel)
            same_scores += rel < 1e-9
        vec = emb.embedder.encode_query(q)
        se, sm = kb.semantic_articles(vec, 1.0), mb.semantic_articles(vec, 0.3)
        ok = se.best >= radius + 1e-4
        sem_same += bool(np.array_equal(np.argsort(-se.best[ok], kind="stable"),
                                        np.argsort(-sm.best[ok], kind="stable")))  # fmt: skip
        if ok.any():
            sem_err = max(sem_err, float(np.abs(se.best[ok] - sm.best[ok]).max()))
    n = len(queries) - skipped
    print(
        f"\nEvidence per query ({n} queries, {skipped} unsupported on Milvus): keyword clause "
        f"counts per article identical {same_clauses}/{n}, article BM25F identical {same_scores}/"
        f"{n} (max relative difference {max_rel:.1e}); semantic: articles above the floor "
        f"({radius:.2f}) in the same order {sem_same}/{n}, max |Δ best cosine| {sem_err:.1e}"
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


def _speed_settings(work: Path) -> tuple[Settings, Settings]:
    es = Settings.from_env(index_dir=work / "embedded")
    return es, replace(es, backend="milvus", milvus_uri=str(work / "milvus.db"))


def prepare(work: Path, every: int) -> None:
    """The builds (slow: run under ``heavy``): embedded with local embedding, then the Milvus
    write of the same vectors."""
    from common import subset_corpus

    docs = subset_corpus(CORPORA, every, work / "subset") if every > 1 else list(CORPORA)
    es, ms = _speed_settings(work)
    what = f"every {every}th article of " if every > 1 else ""
    print(f"\n## Builds ({what}reuters21578 + bbc)\n")
    print("| build | wall | detail |\n|---|---:|---|")
    _build("embedded, local embedding", lambda: writers.build(docs, es))
    _build("milvus, vectors reused (the Milvus write alone)",
           lambda: build_milvus(docs, ms, previous=Previous.load(es)))  # fmt: skip


def speed(work: Path, sample: int, budget: float) -> None:
    """Warm in-process hybrid latency on both prepared indexes, interleaved query by query
    (so both see the same load; stops after ``budget`` seconds), then local vs Ray embedding
    of ``sample`` paragraphs. Run under ``quiet``."""
    es, ms = _speed_settings(work)
    t = time.perf_counter()
    emb, mil = Engine.open(es), Engine.open(ms)
    for eng in (emb, mil):
        eng.backend.prepare()
    print(f"\nopened and prepared both backends in {time.perf_counter() - t:.1f} s")
    both = query_set(CORPORA, 480)
    queries = [q for q in both[:240] if not q.rstrip().endswith("*")]
    warm = [q for q in both[240:] if not q.rstrip().endswith("*")][:10]
    for q in warm:
        for eng in (emb, mil):
            eng.search(Query(q))
    took: dict[str, list[float]] = {"embedded": [], "milvus": []}
    unsupported = 0
    stop = time.perf_counter() + budget
    for q in queries:
        if time.perf_counter() > stop:
            break
        for name, eng in (("embedded", emb), ("milvus", mil)):
            eng.embedder.clear_cache()
            t = time.perf_counter()
            try:
                eng.search(Query(q))
            except Unsupported:
                unsupported += 1
                continue
            took[name].append((time.perf_counter() - t) * 1000)
    n = len(took["milvus"])
    print(f"\n## Hybrid latency, warm, in-process: {n} of {len(queries)} bench queries in "
          f"the {budget:.0f} s budget (prefix queries left out; {unsupported} other "
          "unsupported on Milvus)\n")  # fmt: skip
    print("| backend | p50 ms | p95 ms | p99 ms | mean ms |\n|---|---:|---:|---:|---:|")
    for name, ms_ in took.items():
        s = latency_summary(ms_)
        print(f"| {name} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} | {s['mean']:.1f} |")
    sys.stdout.flush()
    if sample:
        _embedding(es, sample)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--equivalence", action="store_true")
    ap.add_argument("--prepare", action="store_true", help="the 100k builds (under heavy)")
    ap.add_argument("--speed", action="store_true", help="latency + Ray (under quiet)")
    ap.add_argument("--budget", type=float, default=300, help="seconds of latency queries")
    ap.add_argument("--quick", action="store_true", help="speed on ~10k paragraphs")
    ap.add_argument("--every", type=int, help="speed on every N-th article (--quick: 10)")
    ap.add_argument("--sample", type=int, default=10_000, help="paragraphs for local vs Ray")
    ap.add_argument("--keep", type=Path, help="work folder to keep (default: a temp one)")
    args = ap.parse_args()
    both = not (args.equivalence or args.speed or args.prepare)
    work = args.keep or Path(tempfile.mkdtemp(prefix="newsearch-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        if args.equivalence or both:
            equivalence(work)
        if args.prepare or both:
            prepare(work, args.every or (10 if args.quick else 1))
        if args.speed or both:
            speed(work, args.sample, args.budget)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
