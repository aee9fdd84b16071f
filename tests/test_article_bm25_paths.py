"""article_bm25.score works over the articles each leaf touches; the dense computation over
every article it replaced is kept here as the reference: scores, clause counts and per-clause
hits must be identical (not merely close), for postings in article order and not, with
deleted documents, empty leaves, titles repeated on every paragraph or not."""

from __future__ import annotations

import numpy as np
import pytest

from search import article_bm25
from search.article_bm25 import ArticleStats


def _dense_per_article(stats, docs, tf, title):
    arts = stats.art_of_doc[docs]
    ok = arts >= 0
    out = np.zeros(len(stats.body_len))
    if title:
        np.maximum.at(out, arts[ok], tf[ok])
    else:
        out += np.bincount(arts[ok], weights=tf[ok], minlength=len(out))
    return out


def _dense_score(stats, clauses, title_weight=2.0, k1=1.2, b=0.75):
    """The scorer before it went sparse (main 722e6ad), verbatim but for names."""
    n = len(stats.body_len)
    avg_body = float(stats.body_len.sum()) / max(stats.live, 1) or 1.0
    avg_title = float(stats.title_len.sum()) / max(stats.live, 1) or 1.0
    norm_body = (1 - b) + b * stats.body_len / avg_body
    norm_title = (1 - b) + b * stats.title_len / avg_title
    scores = np.zeros(n)
    matched = np.zeros(n, dtype=np.int16)
    hits = []
    for leaves in clauses:
        tf = np.zeros(n)
        for fld, docs, freq in leaves:
            if not len(docs):
                continue
            if fld == "title":
                tf += title_weight * _dense_per_article(stats, docs, freq, True) / norm_title
            else:
                tf += _dense_per_article(stats, docs, freq, False) / norm_body
        hit = tf > 0
        df = int(hit.sum())
        hits.append(hit)
        if not df:
            continue
        idf = np.log(1 + (stats.live - df + 0.5) / (df + 0.5))
        scores[hit] += idf * tf[hit] * (k1 + 1) / (tf[hit] + k1)
        matched += hit
    return scores, matched, hits


def _stats(rng, n_docs, n_articles, ordered, deleted):
    if ordered:
        art = np.sort(rng.integers(0, n_articles, n_docs))
    else:
        art = rng.integers(0, n_articles, n_docs)
    art = art.astype(np.int64)
    if deleted:
        art[rng.random(n_docs) < 0.1] = -1
    body = rng.integers(1, 80, n_docs).astype(np.float64)
    title = rng.integers(1, 9, n_docs).astype(np.float64)
    return ArticleStats.build(art, body, title, n_articles)


def _leaf(rng, n_docs, field):
    k = int(rng.choice([0, 1, 3, 40, n_docs // 2, n_docs]))
    docs = np.sort(rng.choice(n_docs, size=min(k, n_docs), replace=False)).astype(np.int32)
    tf = rng.integers(1, 6, len(docs)).astype(np.float64)
    return (field, docs, tf)


@pytest.mark.parametrize("ordered", [True, False])
@pytest.mark.parametrize("deleted", [False, True])
def test_sparse_article_scores_equal_the_dense_ones_exactly(ordered, deleted):
    rng = np.random.default_rng(11 + 2 * ordered + deleted)
    for _ in range(60):
        n_docs = int(rng.integers(1, 3000))
        n_articles = int(rng.integers(1, max(2, n_docs // 3)))
        stats = _stats(rng, n_docs, n_articles, ordered, deleted)
        clauses = [
            [_leaf(rng, n_docs, f) for f in rng.choice(["title", "text"], rng.integers(0, 3))]
            for _ in range(int(rng.integers(1, 8)))
        ]
        tw = float(rng.choice([1.0, 2.0, 3.5]))
        got = article_bm25.score(stats, clauses, tw)
        scores, matched, hits = _dense_score(stats, clauses, tw)
        assert np.array_equal(got.scores, scores)
        assert np.array_equal(got.matched, matched) and got.matched.dtype == matched.dtype
        assert len(got.clause_hits) == len(hits)
        assert all(np.array_equal(a, b) for a, b in zip(got.clause_hits, hits, strict=True))


def test_norms_are_computed_once_per_b_and_read_only():
    stats = _stats(np.random.default_rng(1), 50, 10, True, False)
    a = stats.norms(0.75)
    assert stats.norms(0.75) is a and stats.norms(0.5) is not a
    with pytest.raises(ValueError):
        a[0][0] = 1.0
