"""Hybrid ranking ablations: each ranking setting moved alone, beside the shipped defaults.

For TIME dev and the seeded Reuters sample (the indexes and the peer of ``bench/relevance.py``),
prints hybrid nDCG@10 for the shipped settings and for each variant below, with the paired-
bootstrap 95% interval of the difference to the shipped ranking and the ratio to the peer's
better single leg (issue #13's measure). Match sets do not depend on these settings, so only
the order inside the same set changes. Variants:

* ``passage_depth`` 0 (no passage and keyword paragraph votes: the two article votes only),
  100, 1000;
* ``keyword_paragraph_vote`` off (three votes), ``keyword_paragraph_second`` 0, 0.25, 1.0;
* ``semantic_second`` 0, 0.2, 0.5, 0.7 (weight of the second-best paragraph's cosine), and
  ``semantic_second_short`` (the same for one- or two-word queries) 0.35, 0.7;
* ``rrf_k`` 5, 20, 60.

    .venv/bin/python bench/rank_ablation.py [--only time|reuters] [--seed 1]

``--seed`` draws another Reuters sample (its index is built on first use; the peer is skipped
there, its chunk embeddings are the slow part).
"""

from __future__ import annotations

import argparse
from typing import Any

from relevance import (
    DATA,
    index_settings,
    measure,
    open_index,
    paired_ci,
    reuters_corpus,
    time_corpus,
)

from search import evaluate as ev
from search.config import Settings

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("no passage vote (passage_depth=0)", {"passage_depth": 0}),
    ("passage_depth=100", {"passage_depth": 100}),
    ("passage_depth=1000", {"passage_depth": 1000}),
    ("no keyword paragraph vote", {"keyword_paragraph_vote": False}),
    ("keyword_paragraph_second=0", {"keyword_paragraph_second": 0.0}),
    ("keyword_paragraph_second=0.25", {"keyword_paragraph_second": 0.25}),
    ("keyword_paragraph_second=1", {"keyword_paragraph_second": 1.0}),
    ("semantic_second=0", {"semantic_second": 0.0}),
    ("semantic_second=0.2", {"semantic_second": 0.2}),
    ("semantic_second=0.5", {"semantic_second": 0.5}),
    ("semantic_second=0.7", {"semantic_second": 0.7}),
    ("semantic_second_short=0.35", {"semantic_second_short": 0.35}),
    ("semantic_second_short=0.7", {"semantic_second_short": 0.7}),
    ("rrf_k=5", {"rrf_k": 5}),
    ("rrf_k=20", {"rrf_k": 20}),
    ("rrf_k=60", {"rrf_k": 60}),
]


def row(
    name: str,
    m: dict[str, float],
    per: dict[str, float],
    ref: dict[str, float],
    better: tuple[str, float] | None,
) -> None:
    """One table row: nDCG@10, its interval against ``ref``, its ratio to the peer's leg."""
    lo, hi = paired_ci(per, ref)
    ratio = f" {m['ndcg@10'] / better[1]:.3f}x |" if better else ""
    print(f"| {name} | {m['ndcg@10']:.4f} | [{lo:+.3f}, {hi:+.3f}] |{ratio}", flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("time", "reuters"), default=None)
    p.add_argument("--cache", default=ev.CACHE_ROOT)
    p.add_argument("--seed", type=int, default=0, help="Reuters sample seed (0: the usual one)")
    args = p.parse_args(argv)
    defaults = Settings.from_env()
    corpora = []
    if args.only in (None, "time"):
        corpora.append(time_corpus(DATA))
    if args.only in (None, "reuters"):
        corpora.append(reuters_corpus(DATA, 4000, args.cache, seed=args.seed))
    s = defaults
    print(
        f"Shipped: rrf_k={s.rrf_k} semantic_second={s.semantic_second} "
        f"passage_depth={s.passage_depth} keyword_paragraph_second={s.keyword_paragraph_second}"
    )
    for corpus in corpora:
        engine = open_index(corpus, index_settings(corpus, defaults, args.cache))
        judged = {q: t for q, t in corpus.queries.items() if q in corpus.qrels}
        shipped, ref = measure(engine, corpus, "hybrid")
        better = None
        if corpus.name.startswith("TIME") or args.seed == 0:
            peer, _ = ev.peer_results(engine, judged, corpus.qrels)
            legs = {m: peer[f"peer {m}"]["ndcg@10"] for m in ("keyword", "semantic")}
            better = max(legs.items(), key=lambda kv: kv[1])
        print(f"\n### {corpus.name} ({corpus.note})\n")
        head = "| hybrid ranking | nDCG@10 | vs shipped (95% CI) |"
        print(head + (f" x peer {better[0]} ({better[1]:.4f}) |" if better else ""))
        print("|---|---:|---:|" + ("---:|" if better else ""))

        row("shipped", shipped, ref, ref, better)
        for name, overrides in VARIANTS:
            row(name, *measure(engine, corpus, "hybrid", **overrides), ref, better)


if __name__ == "__main__":
    main()
