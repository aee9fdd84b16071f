"""In-process query latency, warm: each mode of ``Engine.search`` and each leg against a baseline.

* keyword leg (BM25F over the Whoosh index, ``settings.depth`` deep) vs ``bm25s`` over the same
  paragraphs (title + text),
* dense leg (``VectorStore.search``) vs ``sentence_transformers.util.semantic_search`` (exact),
* whole ``Engine.search`` per mode (keyword, semantic, hybrid), the query-embedding cache
  cleared before every query so each one pays for its own embedding as a new query would.

Every timed pass follows an untimed warm-up pass over other queries of the same kind.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from common import Row, latency_summary

MODES = ("keyword", "semantic", "hybrid")


def _time_each(fn, items: Sequence[Any]) -> list[float]:
    out = []
    for x in items:
        t = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t) * 1000)
    return out


def engine_latency(
    engine: Any, queries: Sequence[str], warm: Sequence[str], limit: int = 10
) -> dict[str, dict]:
    """``{mode: latency summary}`` for ``Engine.search``: warmed up on ``warm`` (other
    queries), then ``queries`` timed, each with a fresh query vector."""
    from search.models import Query

    out = {}
    for mode in MODES:

        def one(q: str, mode: str = mode) -> None:
            engine.embedder.clear_cache()
            engine.search(Query(q, mode=mode, limit=limit))

        _time_each(one, warm)
        out[mode] = latency_summary(_time_each(one, queries))
    return out


def leg_latency(
    engine: Any, queries: Sequence[str], warm: Sequence[str], depth: int
) -> dict[str, dict]:
    """The two legs alone, next to the libraries a reader would reach for first."""
    import bm25s
    import torch
    from sentence_transformers import util

    gen = engine.backend.generation  # embedded backend
    emb = engine.embedder
    titles = [a["title"] or "" for a in gen.articles]
    corpus = [f"{titles[int(gen.article_of[i])]} {p['text']}" for i, p in enumerate(gen.paragraphs)]
    t = time.perf_counter()
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(corpus, stopwords="en", show_progress=False), show_progress=False
    )
    bm25_index_s = time.perf_counter() - t
    del corpus

    def ours_kw(q: str) -> None:
        gen.keyword.search(q, depth)

    def bm25(q: str) -> None:
        toks = bm25s.tokenize([q], stopwords="en", show_progress=False)
        if toks.vocab:
            retriever.retrieve(
                toks, k=min(depth, len(gen.paragraphs)), show_progress=False, n_threads=1
            )

    qvecs = np.stack([emb.encode_query(q) for q in queries])
    matrix = np.asarray(gen.vectors.matrix)
    corpus_t = torch.from_numpy(np.array(matrix, dtype=np.float32))

    def ours_dense(i: int) -> None:
        gen.vectors.search(qvecs[i], depth)

    def st_dense(i: int) -> None:
        util.semantic_search(torch.from_numpy(qvecs[i : i + 1]), corpus_t, top_k=depth)

    def encode(q: str) -> None:
        emb.encode([q])

    plain = baseline_model()

    def plain_semantic(q: str) -> list:
        v = plain.encode([q], normalize_embeddings=True, convert_to_tensor=True)
        return util.semantic_search(v, corpus_t, top_k=depth)[0]

    def plain_hybrid(q: str) -> None:
        """bm25s + plain dense + reciprocal rank fusion: what one would write first."""
        scores: dict[int, float] = {}
        toks = bm25s.tokenize([q], stopwords="en", show_progress=False)
        if toks.vocab:
            docs, _ = retriever.retrieve(
                toks, k=min(depth, len(gen.paragraphs)), show_progress=False, n_threads=1
            )
            for rank, d in enumerate(docs[0], start=1):
                scores[int(d)] = 1 / (60 + rank)
        for rank, hit in enumerate(plain_semantic(q), start=1):
            scores[hit["corpus_id"]] = scores.get(hit["corpus_id"], 0) + 1 / (60 + rank)
        sorted(scores.items(), key=lambda kv: -kv[1])[:10]

    idx = list(range(len(queries)))
    wq = list(warm)[: len(queries)]
    widx = [i % len(queries) for i in range(len(wq))]
    res = {}
    for name, fn, items in (
        ("keyword leg", ours_kw, queries),
        ("bm25s", bm25, queries),
        ("dense leg", ours_dense, idx),
        ("semantic_search", st_dense, idx),
        ("query embedding", encode, queries),
        ("plain semantic", plain_semantic, queries),
        ("plain hybrid", plain_hybrid, queries),
    ):
        _time_each(fn, widx if items is idx else wq)
        res[name] = latency_summary(_time_each(fn, items))
    res["bm25s index seconds"] = bm25_index_s
    return res


def baseline_model() -> Any:
    """Plain SentenceTransformer (torch fp32) of the packaged model, for the baselines."""
    from sentence_transformers import SentenceTransformer

    from search.config import MODEL_NAME
    from search.embed import model_path

    return SentenceTransformer(str(model_path(MODEL_NAME)), device="cpu")


def rows(
    engine: Any,
    queries: Sequence[str],
    warm: Sequence[str],
    depth: int,
    embed_backend: str,
    modes: dict[str, dict] | None = None,
) -> list[Row]:
    """Table rows for the in-process latency section (``modes``: already measured)."""
    legs = leg_latency(engine, queries, warm, depth)
    modes = modes or engine_latency(engine, queries, warm)
    n = len(queries)
    out = []
    kw, bm = legs["keyword leg"], legs["bm25s"]
    for p in ("p50", "p99"):
        out.append(
            Row(
                "query (in-process)",
                f"keyword leg {p}, depth {depth}",
                kw[p],
                "ms",
                bm[p],
                "bm25s",
                target="≤ 3× bm25s" if p == "p50" else "",
                ok=(kw[p] <= 3 * bm[p]) if p == "p50" else None,
            )
        )
    dn, ss = legs["dense leg"], legs["semantic_search"]
    for p in ("p50", "p99"):
        out.append(
            Row(
                "query (in-process)",
                f"dense leg {p}, depth {depth}",
                dn[p],
                "ms",
                ss[p],
                "util.semantic_search",
            )
        )
    qe = legs["query embedding"]
    out.append(
        Row(
            "query (in-process)",
            f"query embedding p50 ({embed_backend})",
            qe["p50"],
            "ms",
            note=f"p99 {qe['p99']:.1f} ms",
        )
    )
    baselines = {
        "keyword": (bm, "bm25s"),
        "semantic": (legs["plain semantic"], "ST.encode + semantic_search"),
        "hybrid": (legs["plain hybrid"], "bm25s + ST + semantic_search + RRF"),
    }
    for mode in MODES:
        m = modes[mode]
        base, base_what = baselines[mode]
        for p in ("p50", "p95", "p99"):
            target, ok = "", None
            if mode == "hybrid" and p == "p50":
                target, ok = "≤ 25 ms", m[p] <= 25
            if mode == "hybrid" and p == "p99":
                target, ok = "≤ 100 ms", m[p] <= 100
            out.append(
                Row(
                    "query (in-process)",
                    f"{mode} {p} ({n} queries)",
                    m[p],
                    "ms",
                    base[p],
                    base_what,
                    target=target,
                    ok=ok,
                )
            )
    return out
