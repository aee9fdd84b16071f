"""Match-set calibration: how big, how precise and how complete each mode's set is.

For TIME dev (exhaustive human judgments) and the seeded Reuters sample (topic labels), the
engine's per-article evidence is computed once per query (keyword clause counts, best
paragraph cosine); then the rules of ``search/matchset.py`` are swept over a grid:

* keyword: ``msm_fraction``;
* semantic: ``floor`` x ``delta``, and the share of the 100 *calibration* nonsense queries
  (bench/data/nonsense_calibrate.txt) each floor leaves empty on each corpus;
* hybrid: ``hybrid_floor`` and ``partial_floor`` for the chosen keyword and semantic rules.

Set precision is the mean over queries of relevant/size (0 for an empty set), set recall the
mean of found/relevant. The *test* nonsense list (bench/data/nonsense_test.txt) is only
reported, with the shipped calibration. Run from the repository root::

    .venv/bin/python bench/matchset.py            # TIME dev + Reuters sample
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
from common import REPO
from relevance import DATA, index_settings, open_index, reuters_corpus, time_corpus

from search import evaluate as ev
from search import ranking
from search.config import Settings
from search.engine import Engine
from search.matchset import Calibration
from search.models import Query

NONSENSE = REPO / "bench" / "data"
FRACTIONS = (0.3, 0.4, 0.5, 0.6, 0.75, 1.0)
FLOORS = (0.2, 0.25, 0.3, 0.325, 0.35, 0.375, 0.4, 0.45)
DELTAS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 1.0)
HYBRID_FLOORS = (0.0, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 1.0)
PARTIAL_FLOORS = (0.3, 0.33, 0.35, 0.38, 0.4, 0.43, 1.0)  # 1.0: no partial matches


def nonsense(name: str) -> list[str]:
    return (NONSENSE / f"nonsense_{name}.txt").read_text(encoding="utf-8").split("\n")[:-1]


def evidence(engine: Engine, texts: dict[str, str]):
    """Per query: (ArticleKeyword, best cosine per article)."""
    b = engine.backend
    return {
        qid: (b.keyword_articles(t), engine.semantic_evidence(b, t).best)
        for qid, t in texts.items()
    }


def set_stats(sets: dict[str, np.ndarray], relevant: dict[str, np.ndarray]) -> tuple:
    size = np.mean([s.sum() for s in sets.values()])
    p = np.mean([(s & relevant[q]).sum() / s.sum() if s.any() else 0.0 for q, s in sets.items()])
    r = np.mean([(s & relevant[q]).sum() / relevant[q].sum() for q, s in sets.items()])
    return float(size), float(p), float(r)


def sweep(engine: Engine, corpus, cal: Calibration) -> None:
    b = engine.backend
    judged = {q: t for q, t in corpus.queries.items() if q in corpus.qrels}
    ev_q = evidence(engine, judged)
    relevant = {}
    for q in judged:
        m = np.zeros(len(b.catalog.ids), dtype=bool)
        for doc, r in corpus.qrels[q].items():
            if r > 0 and b.article_row(doc) is not None:
                m[b.article_row(doc)] = True
        relevant[q] = m
    alive = b.catalog.alive
    noise = evidence(engine, dict(enumerate(nonsense("calibrate"))))
    noise_top = np.array([float(b.max()) for _, b in noise.values()])
    print(f"\n### {corpus.name}: match sets ({corpus.note})\n")
    print("| keyword msm_fraction | set size | set P | set R |\n|---|---:|---:|---:|")
    for f in FRACTIONS:
        s = replace(engine.settings, msm_fraction=f)
        sets = {q: _set("keyword", s, cal, alive, *ev_q[q]) for q in judged}
        print("| {} | {:.1f} | {:.4f} | {:.4f} |".format(f, *set_stats(sets, relevant)))
    print("\n| semantic floor | delta | set size | set P | set R | nonsense empty |")
    print("|---:|---:|---:|---:|---:|---:|")
    for fl in FLOORS:
        empty = float((noise_top < fl).mean())
        for d in DELTAS:
            c = replace(cal, floor=fl, delta=d)
            sets = {q: _set("semantic", engine.settings, c, alive, *ev_q[q]) for q in judged}
            print(
                "| {} | {} | {:.1f} | {:.4f} | {:.4f} | {:.2f} |".format(
                    fl, d, *set_stats(sets, relevant), empty
                )
            )
    print(
        f"\nhybrid, msm_fraction={engine.settings.msm_fraction}, floor={cal.floor}, "
        f"delta={cal.delta}:\n"
    )
    print("| hybrid_floor | set size | set P | set R |\n|---:|---:|---:|---:|")
    for hf in HYBRID_FLOORS:
        c = replace(cal, hybrid_floor=hf)
        sets = {q: _set("hybrid", engine.settings, c, alive, *ev_q[q]) for q in judged}
        print("| {} | {:.1f} | {:.4f} | {:.4f} |".format(hf, *set_stats(sets, relevant)))
    print("\n| partial_floor | set size | set P | set R |\n|---:|---:|---:|---:|")
    for pf in PARTIAL_FLOORS:
        c = replace(cal, partial_floor=pf)
        sets = {q: _set("hybrid", engine.settings, c, alive, *ev_q[q]) for q in judged}
        print("| {} | {:.1f} | {:.4f} | {:.4f} |".format(pf, *set_stats(sets, relevant)))
    test = nonsense("test")
    for mode in ("semantic", "hybrid"):
        empty = sum(engine.search(Query(t, mode=mode)).total == 0 for t in test)
        print(f"\nnonsense test list, {mode}, shipped calibration: {empty}/{len(test)} empty")
    print(
        f"(nonsense calibration list top cosine: median {np.median(noise_top):.3f}, "
        f"95th pct {np.percentile(noise_top, 95):.3f}, max {noise_top.max():.3f})"
    )


def _set(mode, settings, cal, alive, kw, best) -> np.ndarray:
    rows, *_ = ranking.decide(mode, settings, cal, alive, kw, best)
    out = np.zeros(len(alive), dtype=bool)
    out[rows] = True
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--only", choices=("time", "reuters"), default=None)
    p.add_argument("--cache", type=Path, default=ev.CACHE_ROOT)
    args = p.parse_args()
    defaults = Settings.from_env()
    corpora = []
    if args.only in (None, "time"):
        corpora.append(time_corpus(DATA))
    if args.only in (None, "reuters"):
        corpora.append(reuters_corpus(DATA, 4000, args.cache))
    for corpus in corpora:
        engine = open_index(corpus, index_settings(corpus, defaults, args.cache))
        sweep(engine, corpus, engine.calibration(engine.backend))


if __name__ == "__main__":
    main()
