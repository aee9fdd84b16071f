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

import dataclasses
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
    _norms: dict = dataclasses.field(default_factory=dict, compare=False, repr=False)

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

    def norms(self, b: float) -> tuple[np.ndarray, np.ndarray]:
        """BM25's length normalization of every article's body and title, for ``b``
        (computed once per ``b``: the arrays are read-only)."""
        got = self._norms.get(b)
        if got is None:
            avg_body = float(self.body_len.sum()) / max(self.live, 1) or 1.0
            avg_title = float(self.title_len.sum()) / max(self.live, 1) or 1.0
            got = ((1 - b) + b * self.body_len / avg_body, (1 - b) + b * self.title_len / avg_title)
            for a in got:
                a.flags.writeable = False
            self._norms[b] = got
        return got


def _per_article(
    stats: ArticleStats, docs: np.ndarray, tf: np.ndarray, title: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(article rows, per-article frequency) of one leaf's postings, articles in ascending
    order: the body sums its paragraphs' frequencies (in posting order), the title, repeated
    on every paragraph, counts once (the largest)."""
    arts = stats.art_of_doc[docs]
    if len(arts) and arts.min() < 0:  # deleted documents
        ok = arts >= 0
        arts, tf = arts[ok], tf[ok]
    if not len(arts):
        return arts, np.zeros(0)
    step = arts[1:] != arts[:-1]
    if np.all(arts[1:] >= arts[:-1]):  # postings in article order (as built): runs, no sort
        first = np.flatnonzero(np.concatenate(([True], step)))
        rows = arts[first]
        if title:
            return rows, np.maximum.reduceat(tf, first)
        inverse = np.cumsum(np.concatenate(([0], step)))
    else:
        rows, inverse = np.unique(arts, return_inverse=True)
        if title:
            out = np.zeros(len(rows))
            np.maximum.at(out, inverse, tf)
            return rows, out
    return rows, np.bincount(inverse, weights=tf, minlength=len(rows))


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

    Computed over the articles each leaf touches (the arithmetic of every touched article is
    the same, in the same order, as over all articles; untouched ones only ever added 0).
    """
    n = len(stats.body_len)
    norm_body, norm_title = stats.norms(b)
    scores = np.zeros(n)
    matched = np.zeros(n, dtype=np.int16)
    hits = []
    for leaves in clauses:
        tf = np.zeros(n)
        for field, docs, freq in leaves:
            if not len(docs):
                continue
            if field == "title":
                rows, f = _per_article(stats, docs, freq, True)
                tf[rows] += title_weight * f / norm_title[rows]
            else:
                rows, f = _per_article(stats, docs, freq, False)
                tf[rows] += f / norm_body[rows]
        hit = tf > 0
        hits.append(hit)
        at = np.flatnonzero(hit)
        df = len(at)
        if not df:
            continue
        idf = np.log(1 + (stats.live - df + 0.5) / (df + 0.5))
        t = tf[at]
        scores[at] += idf * t * (k1 + 1) / (t + k1)
        matched[at] += 1
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
