"""Relevance bench: our three modes beside the peer's three, on judged queries (issue #13).

For TIME dev (42 real judged queries) and a deterministic Reuters-21578 subsample with topic
labels as pseudo-judgments (a rough second check), prints per mode nDCG@10 / MAP / MRR@10 /
Recall@100 and the match set's size, precision and recall (issue #12), then the peer
(``search/peer.py``: bm25s over whole articles + all-MiniLM-L6-v2 on each article's best
180-word chunk, RRF k=60) and the paired-bootstrap 95% intervals of our hybrid's nDCG@10 minus
the peer's hybrid and minus the peer's better single leg. On Reuters (dated) it also prints
precision@10 with results sorted by date, which only an honest match set keeps high.

Ranking variants (fusion, normalisation, feedback) are swept by ``bench/fusion_sweep.py``, the
match-set thresholds by ``bench/matchset.py``. Indexes are cached under /tmp/newsearch-eval.

    .venv/bin/python bench/relevance.py            # both corpora
    .venv/bin/python bench/relevance.py --only time
    .venv/bin/python bench/relevance.py --only reuters --reuters-seed 1   # a second sample
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from search import evaluate as ev
from search.config import Settings
from search.engine import Engine
from search.models import MODES, Query

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
COLS = ("ndcg@10", "map", "mrr@10", "recall@100", "set_size", "set_precision", "set_recall")


@dataclass
class Corpus:
    """A judged collection: documents, queries and relevance judgments."""

    name: str
    docs: Path
    queries: dict[str, str]
    qrels: ev.Qrels
    note: str = ""


def time_corpus(data: Path) -> Corpus:
    d = data / "time"
    return Corpus(
        "TIME dev",
        d / "docs.jsonl",
        ev.load_queries(d / "queries_dev.jsonl"),
        ev.load_qrels(d / "qrels_dev.tsv"),
        "423 articles, 42 queries with human judgments",
    )


def reuters_corpus(data: Path, n_docs: int, cache: Path, seed: int = 0) -> Corpus:
    """Reuters topics; ``n_docs`` > 0 keeps a seeded random sample of that many articles.

    Judgments are restricted to the sample and topics left with no relevant article dropped.
    The sample is written once under ``cache`` (the data may not be copied into the repo).
    """
    d = data / "reuters21578"
    queries = ev.load_queries(d / "queries_topics.jsonl")
    # The qrels name articles by NEWID ("10"); docs.jsonl ids are "reuters-10".
    qrels = {
        q: {f"reuters-{doc}": r for doc, r in j.items()}
        for q, j in ev.load_qrels(d / "qrels_topics.tsv").items()
    }
    if n_docs <= 0:
        return Corpus("Reuters topics", d / "docs.jsonl", queries, qrels, "all 21,578 articles")
    out = cache / f"reuters-sample-{n_docs}-seed{seed}"
    docs = out / "docs.jsonl"
    if not docs.exists():
        lines = (d / "docs.jsonl").read_text(encoding="utf-8").splitlines()
        keep = sorted(random.Random(seed).sample(range(len(lines)), n_docs))
        out.mkdir(parents=True, exist_ok=True)
        tmp = docs.with_suffix(".tmp")
        tmp.write_text("".join(lines[i] + "\n" for i in keep), encoding="utf-8")
        tmp.replace(docs)  # written once: its mtime is part of the index fingerprint
    ids = {json.loads(line)["id"] for line in docs.read_text(encoding="utf-8").splitlines()}
    sample = {q: {doc: r for doc, r in j.items() if doc in ids} for q, j in qrels.items()}
    sample = {q: j for q, j in sample.items() if any(r > 0 for r in j.values())}
    pairs = sum(len(j) for j in sample.values())
    note = (
        f"seeded sample of {n_docs:,} of 21,578 articles (seed {seed}); {len(sample)} topics "
        f"with a labelled article in it, {pairs:,} (topic, article) pairs"
    )
    return Corpus("Reuters topics", docs, queries, sample, note)


def index_settings(corpus: Corpus, base: Settings, cache: Path, **index: Any) -> Settings:
    """Settings whose index dir is the cache dir of this corpus and index-time combination."""
    s = replace(base, **index)
    return replace(s, index_dir=ev.cache_dir([corpus.docs], s, root=cache))


def open_index(corpus: Corpus, settings: Settings, seed_from: Settings | None = None) -> Engine:
    """Open (building if needed) the index; a new variant starts as a copy of ``seed_from``."""
    target = Path(settings.index_dir)
    if seed_from is not None and not target.exists() and Path(seed_from.index_dir).exists():
        shutil.copytree(seed_from.index_dir, target, ignore=shutil.ignore_patterns("*.lock"))

    def report(rep: Any) -> None:
        print(f"  [{corpus.name}] {target.name}: {rep.summary()}", file=sys.stderr)

    return ev.open_engine([corpus.docs], settings, progress=False, on_build=report)


def measure(
    engine: Engine, corpus: Corpus, mode: str, limit: int = ev.RUN_DEPTH, **ranking: Any
) -> tuple[dict[str, float], dict[str, float]]:
    """Mean metrics and per-query nDCG@10 of ``mode`` with ranking settings overridden."""
    settings = replace(engine.settings, **ranking)
    variant = Engine(settings, engine.backend, engine.embedder)  # same index, same model
    judged = {q: t for q, t in corpus.queries.items() if q in corpus.qrels}
    run = ev.run(variant, judged, mode, limit)
    per = ev.per_query(run, corpus.qrels)
    means = {name: sum(v.values()) / len(v) for name, v in per.items()}
    return means, per["ndcg@10"]


def paired_ci(
    per: dict[str, float], ref: dict[str, float], n: int = 5000, seed: int = 0
) -> tuple[float, float]:
    """95% paired-bootstrap interval of the mean per-query difference ``per - ref``."""
    diffs = np.array([per[q] - ref[q] for q in ref])
    idx = np.random.default_rng(seed).integers(0, len(diffs), (n, len(diffs)))
    means = diffs[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def date_precision(engine: Engine, corpus: Corpus, mode: str, k: int = 10) -> float:
    """Mean precision@k of each judged query's results sorted newest first."""
    out = []
    for q, text in corpus.queries.items():
        if q not in corpus.qrels:
            continue
        res = engine.search(Query(text, mode=mode, sort="date", limit=k))
        rel = {d for d, r in corpus.qrels[q].items() if r > 0}
        out.append(sum(h.article_id in rel for h in res.results) / k)
    return float(np.mean(out)) if out else 0.0


def fmt(v: float, col: str) -> str:
    return f"{v:.1f}" if col == "set_size" else f"{v:.4f}"


def bench_corpus(engine: Engine, corpus: Corpus) -> dict[str, Any]:
    judged = {q: t for q, t in corpus.queries.items() if q in corpus.qrels}
    rows, per = {}, {}
    for mode in MODES:
        m, p = measure(engine, corpus, mode)
        sets = ev.set_per_query(engine, judged, corpus.qrels, mode)
        m.update({k: ev.mean(v) for k, v in sets.items()})
        rows[mode], per[mode] = m, p
    peer_means, peer_per = ev.peer_results(engine, judged, corpus.qrels)
    rows.update(peer_means)
    per.update(peer_per)
    dated = corpus.name.startswith("Reuters")
    if dated:
        for mode in MODES:
            rows[mode]["p@10 by date"] = date_precision(engine, corpus, mode)
    cols = list(COLS) + (["p@10 by date"] if dated else [])
    print(f"\n### {corpus.name} ({corpus.note})\n")
    labels = {**ev.LABELS, "p@10 by date": "P@10 by date"}
    print("| mode | " + " | ".join(labels[c] for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, m in rows.items():
        print(f"| {name} | " + " | ".join(fmt(m[c], c) if c in m else "" for c in cols) + " |")
    best_leg = max(("peer keyword", "peer semantic"), key=lambda k: rows[k]["ndcg@10"])
    print()
    for ref in ("peer hybrid", best_leg):
        lo, hi = paired_ci(per["hybrid"], per[ref])
        ratio = rows["hybrid"]["ndcg@10"] / rows[ref]["ndcg@10"]
        print(
            f"hybrid vs {ref}: {ratio:.3f}x nDCG@10; paired bootstrap 95% interval of the "
            f"difference [{lo:+.4f}, {hi:+.4f}] ({len(per['hybrid'])} queries)"
        )
    # per-query nDCG@10 of every mode (in --json): intervals against another run's file
    return {**rows, "per query ndcg@10": per}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help="shared data folder")
    p.add_argument("--cache", type=Path, default=ev.CACHE_ROOT, help="index cache root")
    p.add_argument("--only", choices=("time", "reuters"), default=None)
    p.add_argument(
        "--reuters-docs", type=int, default=4000, help="Reuters sample size (0: all 21,578)"
    )
    p.add_argument(
        "--reuters-seed", type=int, default=0, help="which seeded Reuters sample (0: the usual)"
    )
    p.add_argument("--json", type=Path, default=None, help="also write all numbers here")
    args = p.parse_args(argv)
    defaults = Settings.from_env()
    corpora = []
    if args.only in (None, "time"):
        corpora.append(time_corpus(args.data))
    if args.only in (None, "reuters"):
        corpora.append(
            reuters_corpus(args.data, args.reuters_docs, args.cache, seed=args.reuters_seed)
        )
    s = defaults
    print(
        f"Defaults: fusion={s.fusion} rrf_k={s.rrf_k} alpha={s.alpha} "
        f"msm_fraction={s.msm_fraction} title_boost={s.title_boost} "
        f"embed_backend={s.embed_backend} max_tokens={s.max_tokens}"
    )
    results: dict[str, Any] = {}
    for corpus in corpora:
        t0 = time.perf_counter()
        engine = open_index(corpus, index_settings(corpus, defaults, args.cache))
        cal = engine.calibration(engine.backend)
        print(f"\n{corpus.name}: semantic match set {cal}", file=sys.stderr)
        results[corpus.name] = bench_corpus(engine, corpus)
        print(f"\n({corpus.name}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
