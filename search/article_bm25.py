"""Article-level keyword evidence: BM25F over whole articles from paragraph postings.

The keyword index holds one document per paragraph. A query's words are often spread over an
article with no single paragraph holding enough of them (issue #13), so an article is scored as
one BM25F document too: its body term frequency is the sum over its paragraphs, its body length
the sum of their lengths, and its title (repeated on every paragraph) counts once. Pure numpy
over arrays the keyword index decodes; no Whoosh here.

A query is a list of *clauses* (one per query word or phrase, its title and body leaves
together); besides the score, every article gets the number of clauses it matches, which the
match set (``matchset.py``) uses for its minimum-should-match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .backends.base import ClauseEvidence

K1 = 1.2
B = 0.75


@dataclass(frozen=True)
class ArticleStats:
    """Per-generation arrays: docnum → article row, and per-article field lengths."""

    art_of_doc: np.ndarray  # int64 per docnum, -1 for deleted documents
    body_len: np.ndarray  # float64 per article row
    title_len: np.ndarray
    live: int  # articles with at least one live paragraph

    @classmethod
    def build(
        cls,
        art_of_doc: np.ndarray,
        doc_body_len: np.ndarray,
        doc_title_len: np.ndarray,
        n_articles: int,
    ) -> ArticleStats:
        ok = art_of_doc >= 0
        arts = art_of_doc[ok]
        body = np.bincount(arts, weights=doc_body_len[ok], minlength=n_articles)
        title = np.zeros(n_articles)
        np.maximum.at(title, arts, doc_title_len[ok])
        live = int((np.bincount(arts, minlength=n_articles) > 0).sum())
        return cls(art_of_doc, body.astype(np.float64), title, live)


def _per_article(stats: ArticleStats, docs: np.ndarray, tf: np.ndarray, title: bool) -> np.ndarray:
    arts = stats.art_of_doc[docs]
    ok = arts >= 0
    out = np.zeros(len(stats.body_len))
    if title:  # the title repeats on every paragraph: count it once per article
        np.maximum.at(out, arts[ok], tf[ok])
    else:
        out += np.bincount(arts[ok], weights=tf[ok], minlength=len(out))
    return out


def score(
    stats: ArticleStats,
    clauses: list[list[tuple[str, np.ndarray, np.ndarray]]],
    title_weight: float = 2.0,
    k1: float = K1,
    b: float = B,
) -> ClauseEvidence:
    """BM25F of each article for ``clauses``, each a list of ``(field, docnums, tf)`` leaves.

    Per clause the fields' length-normalized frequencies are added (title weighted by
    ``title_weight``), saturated once with ``k1``, and weighted by the clause's article-level
    idf; an article's score is the sum over clauses.
    """
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
        for field, docs, freq in leaves:
            if not len(docs):
                continue
            if field == "title":
                tf += title_weight * _per_article(stats, docs, freq, True) / norm_title
            else:
                tf += _per_article(stats, docs, freq, False) / norm_body
        hit = tf > 0
        df = int(hit.sum())
        hits.append(hit)
        if not df:
            continue
        idf = np.log(1 + (stats.live - df + 0.5) / (df + 0.5))
        scores[hit] += idf * tf[hit] * (k1 + 1) / (tf[hit] + k1)
        matched += hit
    return ClauseEvidence(scores, matched, hits)


def any_of(stats: ArticleStats, leaves: list[np.ndarray]) -> np.ndarray:
    """Bool per article: holds any of the given docnum arrays (used for exclusions)."""
    out = np.zeros(len(stats.body_len), dtype=bool)
    for docs in leaves:
        arts = stats.art_of_doc[docs]
        out[arts[arts >= 0]] = True
    return out


def merge_alternatives(keys: list, alternatives: list[set]) -> list[list[int]]:
    """Clause indices grouped into clauses: those whose ``keys`` are in one set of
    ``alternatives`` (the analyzed words of a slashed word, 'Krone/Crown') become one clause,
    which an article matches with either word and which scores their summed frequencies, like
    one word; the others stay alone. Groups are in the order of their first clause."""
    parent = list(range(len(keys)))

    def root(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for alt in alternatives:
        members = [i for i, k in enumerate(keys) if k in alt]
        for i in members[1:]:
            parent[root(i)] = root(members[0])
    groups: dict[int, list[int]] = {}
    for i in range(len(keys)):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])
