"""Article-level ranking variants, swept offline over per-query evidence (issue #13).

For every judged query the engine's evidence is computed once (article BM25F and clause
counts, best-paragraph BM25F, best-paragraph cosine, article mean-vector cosine); the variants
below are then pure numpy over those arrays, each scored with ir_measures, inside the hybrid
match set the engine would use. Printed per corpus with the paired-bootstrap 95% interval of
each variant's nDCG@10 difference to the shipped default and to the peer's hybrid.

    .venv/bin/python bench/fusion_sweep.py [--only time|reuters]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from relevance import DATA, index_settings, open_index, paired_ci, reuters_corpus, time_corpus

from search import evaluate as ev
from search import ranking
from search.config import Settings
from search.matchset import keyword_set, semantic_set


def gather(engine, corpus):
    b = engine.backend
    gen = b.generation  # embedded only: the article mean vectors and the matrix
    n = len(b.catalog.ids)
    starts, owners = b._starts
    avec = b.catalog.vectors()
    cal = engine.calibration(b)
    out = {}
    judged = {q: t for q, t in corpus.queries.items() if q in corpus.qrels}
    for qid, text in judged.items():
        kw = b.keyword_articles(text)
        sem = engine.semantic_evidence(b, text)
        qvec = engine.embedder.encode_query(text)
        para = (
            kw.paragraph_scores if kw.paragraph_scores is not None else np.zeros(len(sem.cosines))
        )
        kw_best = ranking.best_per_article(para, starts, owners, n, 0.0)
        mean_cos = avec @ qvec
        out[qid] = dict(kw=kw, best=sem.best, kw_best=kw_best, mean_cos=mean_cos, q=qvec)

    def requery(qvec):
        c = np.where(gen.alive, np.asarray(gen.vectors.matrix) @ qvec, -np.inf)
        return ranking.best_per_article(c, starts, owners, n, -np.inf)

    return out, cal, judged, requery, avec


def ids_run(cat, order_rows, k=100):
    return {cat.ids[r]: float(k - i) for i, r in enumerate(order_rows[:k])}


def minmax(x, sel):
    out = np.zeros(len(x))
    if sel.any():
        lo, hi = x[sel].min(), x[sel].max()
        out[sel] = 1.0 if hi == lo else (x[sel] - lo) / (hi - lo)
    return out


def variants(e, settings, cal, alive, requery=None, avec=None):
    kw = e["kw"]
    ev_ = kw.evidence
    n = len(alive)
    kscore = ev_.scores if ev_ is not None else np.zeros(n)
    kok = alive & (ev_.matched > 0) if ev_ is not None else np.zeros(n, bool)
    best = np.where(alive, e["best"], -np.inf)
    sok = np.isfinite(best)
    kw_s = (
        keyword_set(ev_.matched, kw.clauses, alive, settings.msm_fraction)
        if ev_ is not None
        else np.zeros(n, bool)
    )
    sem_s = semantic_set(best, cal)
    rows, *_ = ranking.decide("hybrid", settings, cal, alive, kw, e["best"])
    members = np.zeros(n, dtype=bool)
    members[rows] = True
    del kw_s, sem_s
    kr = ranking.leg_ranks(kscore, kok)
    pr = ranking.leg_ranks(e["kw_best"], alive & (e["kw_best"] > 0))
    sr = ranking.leg_ranks(best, sok)
    mr = ranking.leg_ranks(e["mean_cos"], alive)
    bestf = np.where(sok, best, 0.0)
    V = {}
    for k in (10, 30, 60, 100):
        V[f"rrf k={k}"] = ranking.rrf_articles([kr, sr], k)
    V["rrf k=60 +para kw"] = ranking.rrf_articles([kr, pr, sr], 60)
    V["rrf k=60 +mean vec"] = ranking.rrf_articles([kr, sr, mr], 60)
    V["rrf k=60 +both"] = ranking.rrf_articles([kr, pr, sr, mr], 60)
    cand = members
    for a in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        V[f"convex a={a}"] = a * minmax(bestf, cand & sok) + (1 - a) * minmax(kscore, cand & kok)
    # scale-free: keyword by its max, cosine raw (theoretical min 0)
    kmax = kscore[cand].max() if cand.any() and kscore[cand].max() > 0 else 1.0
    for a in (0.5, 0.6, 0.7, 0.8):
        V[f"tmm a={a}"] = a * np.maximum(bestf, 0) + (1 - a) * kscore / kmax
    for a in (0.6, 0.7):
        sem2 = 0.7 * bestf + 0.3 * e["mean_cos"]
        V[f"convex a={a} sem=0.7max+0.3mean"] = a * minmax(sem2, cand & sok) + (1 - a) * minmax(
            kscore, cand & kok
        )
    if requery is not None:
        for base in ("rrf k=10", "convex a=0.6"):
            for m in (3, 5, 10):
                for beta in (0.5, 1.0):
                    rows = np.flatnonzero(members)
                    top = rows[np.lexsort((rows, -V[base][rows]))][:m]
                    if not len(top):
                        continue
                    q2 = e["q"] + beta * avec[top].mean(axis=0)
                    q2 = q2 / np.linalg.norm(q2)
                    b2 = np.where(alive, requery(q2.astype(np.float32)), -np.inf)
                    ok2 = np.isfinite(b2)
                    if base.startswith("rrf"):
                        f = ranking.rrf_articles([kr, ranking.leg_ranks(b2, ok2)], 10)
                    else:
                        f = 0.6 * minmax(np.where(ok2, b2, 0), cand & ok2) + 0.4 * minmax(
                            kscore, cand & kok
                        )
                    V[f"{base} + rocchio m={m} b={beta}"] = f
    return V, members


def main() -> None:
    p = argparse.ArgumentParser()
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
        cat = engine.backend.catalog
        data, cal, judged, requery, avec = gather(engine, corpus)
        runs: dict[str, dict] = {}
        for qid, e in data.items():
            V, members = variants(e, engine.settings, cal, cat.alive, requery, avec)
            for name, fused in V.items():
                rows = np.flatnonzero(members)
                rows = rows[np.lexsort((rows, -fused[rows]))]
                runs.setdefault(name, {})[qid] = ids_run(cat, rows)
        _, peer_per = ev.peer_results(engine, judged, corpus.qrels)
        per = {name: ev.per_query(r, corpus.qrels)["ndcg@10"] for name, r in runs.items()}
        ref = per["rrf k=60"]
        print(f"\n### {corpus.name}\n")
        print("| variant | nDCG@10 | vs rrf k=60 (95% CI) | vs peer hybrid (95% CI) |")
        print("|---|---:|---:|---:|")
        for name, pq in per.items():
            lo, hi = paired_ci(pq, ref)
            plo, phi = paired_ci(pq, peer_per["peer hybrid"])
            print(
                f"| {name} | {ev.mean(pq):.4f} | [{lo:+.3f}, {hi:+.3f}] | "
                f"[{plo:+.3f}, {phi:+.3f}] |"
            )
        for m, pq in peer_per.items():
            print(f"| {m} | {ev.mean(pq):.4f} | | |")


if __name__ == "__main__":
    main()
