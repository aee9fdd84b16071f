"""Relevance bench: which ranking settings to ship, decided by nDCG@10 on judged queries.

Prints Markdown comparison tables on TIME dev (42 real judged queries) and on a deterministic
Reuters-21578 subsample with topic labels as pseudo-judgments (a rough second check):

* keyword / semantic / hybrid at the current defaults;
* fusion: RRF (several k) vs min-max weighted sum for alpha 0.1..0.9, article score max vs sum2;
* article-level fusion (legs grouped into articles, then fused), with and without the
  article-vector list, and semantic + article vector as a single-mode competitor;
* depth (candidate paragraphs per leg) 50..400;
* index-time settings: title_boost 1/2/3 x embed_title off/on (one cached index per combination).

Ranking-time settings reuse one opened index: a new ``Engine`` over the same generation and
embedder per configuration (query embeddings are cached by the embedder, so only the keyword
leg and grouping are repeated). Indexes are cached under ``/tmp/newsearch-eval``; a variant
that only changes index-time settings starts as a copy of the base index so its vectors are
reused by content hash (only changed paragraphs are embedded again).

Run from the repository root::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/relevance.py            # both corpora
    HF_HUB_OFFLINE=1 .venv/bin/python bench/relevance.py --only time
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from search import evaluate as ev
from search.config import Settings
from search.engine import Engine

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
ALPHAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
RRF_KS = (10, 30, 60, 100)
DEPTHS = (50, 100, 200, 400)
TITLE_BOOSTS = (1.0, 2.0, 3.0)
ARTICLE_RRF_KS = (10, 60)
ARTICLE_ALPHAS = (0.5, 0.7)
ARTICLE_LEVEL = {"fusion_level": "article", "article_vector": True}
COLS = ("ndcg@10", "map", "mrr@10", "recall@100")


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


def wins(per: dict[str, float], ref: dict[str, float], eps: float = 1e-9) -> str:
    """Per-query nDCG@10 wins/losses against a reference configuration."""
    w = sum(per[q] > ref[q] + eps for q in per)
    lose = sum(per[q] < ref[q] - eps for q in per)
    return f"+{w}/-{lose}"


def paired_ci(
    per: dict[str, float], ref: dict[str, float], n: int = 5000, seed: int = 0
) -> tuple[float, float]:
    """95% paired-bootstrap interval of the mean per-query difference ``per - ref``."""
    diffs = np.array([per[q] - ref[q] for q in ref])
    idx = np.random.default_rng(seed).integers(0, len(diffs), (n, len(diffs)))
    means = diffs[idx].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def table(rows: Iterable[tuple[str, dict[str, float], str]], cols: Iterable[str] = COLS) -> str:
    cols = list(cols)
    head = ["configuration"] + [ev.LABELS[c] for c in cols] + ["vs best leg"]
    body = [[name] + [f"{m[c]:.4f}" for c in cols] + [w] for name, m, w in rows]
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        padded = (
            c.ljust(w) if i in (0, len(cells) - 1) else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    sep = "|" + "|".join(
        "-" * (w + 2) if i in (0, len(widths) - 1) else "-" * (w + 1) + ":"
        for i, w in enumerate(widths)
    )
    return "\n".join([line(head), sep + "|", *(line(r) for r in body)])


def bench_ranking(engine: Engine, corpus: Corpus) -> dict[str, Any]:
    """Modes, fusion, article score and depth over one index; prints the tables."""
    out: dict[str, Any] = {}
    base: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
    for how in ("max", "sum2"):
        for mode in ("keyword", "semantic"):
            base[f"{mode} {how}"] = measure(engine, corpus, mode, article_score=how)
        # A single-mode configuration too: the dense leg's best paragraph fused (RRF) with the
        # cosine to the article's mean paragraph vector. Counted when picking the best leg.
        for k in ARTICLE_RRF_KS:
            base[f"semantic {how} + article vector (rrf k={k})"] = measure(
                engine, corpus, "semantic", article_score=how, rrf_k=k, **ARTICLE_LEVEL
            )
    best_name = max(base, key=lambda k: base[k][0]["ndcg@10"])
    ref = base[best_name][1]
    rows = [(name, m, wins(p, ref)) for name, (m, p) in base.items()]

    per: dict[str, dict[str, float]] = {}  # per-query nDCG@10 of every hybrid configuration

    def hybrid(label: str, **ranking: Any) -> None:
        m, p = measure(engine, corpus, "hybrid", **ranking)
        rows.append((label, m, wins(p, ref)))
        out[label] = m
        per[label] = p

    for how in ("max", "sum2"):
        for k in RRF_KS:
            hybrid(f"hybrid rrf k={k} {how}", fusion="rrf", rrf_k=k, article_score=how)
        for a in ALPHAS:
            hybrid(f"hybrid weighted a={a} {how}", fusion="weighted", alpha=a, article_score=how)
    out.update({name: m for name, (m, _) in base.items()})
    a_rows = [(name, m, wins(p, ref)) for name, (m, p) in base.items()]

    def article_level(label: str, **ranking: Any) -> None:
        m, p = measure(engine, corpus, "hybrid", fusion_level="article", **ranking)
        a_rows.append((label, m, wins(p, ref)))
        out[label] = m
        per[label] = p

    for how in ("max", "sum2"):
        for vec in (False, True):
            tag = " + article vector" if vec else ""
            for k in ARTICLE_RRF_KS:
                article_level(
                    f"hybrid article-level rrf k={k} {how}{tag}",
                    fusion="rrf",
                    rrf_k=k,
                    article_score=how,
                    article_vector=vec,
                )
            for a in ARTICLE_ALPHAS:
                article_level(
                    f"hybrid article-level weighted a={a} {how}{tag}",
                    fusion="weighted",
                    alpha=a,
                    article_score=how,
                    article_vector=vec,
                )
    best_single = base[best_name][0]["ndcg@10"]
    best_hybrid = max(
        (r for r in rows + a_rows if r[0].startswith("hybrid")), key=lambda r: r[1]["ndcg@10"]
    )
    s = engine.settings
    print(f"\n### {corpus.name}: modes and fusion ({corpus.note})\n")
    depth = max(s.depth, 3 * ev.RUN_DEPTH)  # the engine's floor for a 100-result request
    print(f"Index: title_boost={s.title_boost}, embed_title={s.embed_title}; effective depth ")
    print(f"{depth} (max of depth={s.depth} and 3 x limit). 'vs best leg': per-query nDCG@10 ")
    print(f"wins/losses against the best single mode, {best_name}.\n")
    print(table(rows))
    print(f"\n### {corpus.name}: article-level fusion (each leg grouped into articles first)\n")
    print("'+ article vector': a third list, the cosine of the query to each candidate article's")
    print("mean paragraph vector (settings fusion_level=article, article_vector=true). The")
    print("single-mode rows are repeated for reference.\n")
    print(table(a_rows))
    ratio = best_hybrid[1]["ndcg@10"] / best_single if best_single else float("nan")
    lo, hi = paired_ci(per[best_hybrid[0]], ref)
    print(
        f"\nBest single mode: {best_name} {best_single:.4f}; best hybrid of those tried: "
        f"{best_hybrid[0]} {best_hybrid[1]['ndcg@10']:.4f} ({ratio:.3f}x; target 1.05x = "
        f"{1.05 * best_single:.4f}). Paired bootstrap 95% interval of the nDCG@10 gain over the "
        f"best single mode: [{lo:+.4f}, {hi:+.4f}] ({len(ref)} queries; picked on this set, so "
        "optimistic)."
    )

    # depth only matters below the engine's floor of 3 x limit, so measure it as the first
    # page is served (limit=10: depth = max(depth, 30)); @10 metrics only.
    d_rows = []
    for depth in DEPTHS:
        for mode in ("keyword", "semantic", "hybrid"):
            m, p = measure(engine, corpus, mode, limit=10, depth=depth)
            d_rows.append((f"{mode} depth={depth}", m, wins(p, ref)))
            out[f"{mode} depth={depth} limit=10"] = m
    print(f"\n### {corpus.name}: depth, at limit=10 (fusion {s.fusion}, k={s.rrf_k}, ")
    print(f"alpha={s.alpha}, article score {s.article_score})\n")
    print(table(d_rows, ("ndcg@10", "mrr@10")))
    return out


def bench_index(corpus: Corpus, defaults: Settings, cache: Path, base: Settings) -> dict:
    """keyword / semantic / hybrid (current ranking defaults) per index-time combination."""
    rows, out, ref = [], {}, None
    for et in (False, True):
        seed = base if et == base.embed_title else None  # same embedded text: vectors reusable
        for tb in TITLE_BOOSTS:
            s = index_settings(corpus, defaults, cache, title_boost=tb, embed_title=et)
            engine = open_index(corpus, s, seed_from=seed)
            seed = seed or s
            for mode in ("keyword", "semantic", "hybrid"):
                m, p = measure(engine, corpus, mode)
                label = f"{mode} title_boost={tb:g} embed_title={'on' if et else 'off'}"
                if ref is None and mode == "hybrid":
                    ref = p
                rows.append((label, m, p))
                out[label] = m
    shown = [(label, m, wins(p, ref) if ref else "") for label, m, p in rows]
    print(f"\n### {corpus.name}: index-time settings (ranking: current defaults)\n")
    print("'vs best leg' here: per-query nDCG@10 against hybrid title_boost=1 embed_title=off.\n")
    print(table(shown))
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help="shared data folder")
    p.add_argument("--cache", type=Path, default=ev.CACHE_ROOT, help="index cache root")
    p.add_argument("--only", choices=("time", "reuters"), default=None)
    p.add_argument(
        "--reuters-docs", type=int, default=4000, help="Reuters sample size (0: all 21,578)"
    )
    p.add_argument("--skip-index", action="store_true", help="skip the index-time variants")
    p.add_argument("--json", type=Path, default=None, help="also write all numbers here")
    args = p.parse_args(argv)

    defaults = Settings.from_env()
    corpora = []
    if args.only in (None, "time"):
        corpora.append(time_corpus(args.data))
    if args.only in (None, "reuters"):
        corpora.append(reuters_corpus(args.data, args.reuters_docs, args.cache))
    s = defaults
    print(
        f"Defaults: fusion={s.fusion} rrf_k={s.rrf_k} alpha={s.alpha} depth={s.depth} "
        f"article_score={s.article_score} title_boost={s.title_boost} "
        f"embed_title={s.embed_title} max_tokens={s.max_tokens}"
    )
    results: dict[str, Any] = {}
    for corpus in corpora:
        t0 = time.perf_counter()
        base = index_settings(corpus, defaults, args.cache)
        engine = open_index(corpus, base)
        results[corpus.name] = {"ranking": bench_ranking(engine, corpus)}
        if not args.skip_index:
            results[corpus.name]["index"] = bench_index(corpus, defaults, args.cache, base)
        print(f"\n({corpus.name}: {time.perf_counter() - t0:.0f} s)", file=sys.stderr)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
