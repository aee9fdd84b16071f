"""A keyword query as clauses over articles: what each article matches, scores and excludes.

The embedded backend's ``keyword_articles``. ``keyword.py`` parses the query and
``postings.py`` decodes postings; this module groups the plan's leaves into
clauses (one per query word or phrase: ``title:w`` and ``text:w`` together), marks the clauses
the user made explicit constraints (a quoted phrase, a ``title:`` word), and scores articles
with ``article_bm25``. Exclusions (``-word``, ``NOT``) are per article: an article holding an
excluded word in any paragraph is out, whichever leg found it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .. import article_bm25
from ..article_bm25 import ArticleStats
from ..keyword import KeywordIndex, analyze, terms_of
from ..query_plan import negative_terms, term_plan
from ..syntax import parse_syntax
from .base import ArticleKeyword, ClauseEvidence


def _key(leaf: tuple) -> tuple:
    return leaf[1:]  # the same word or phrase in another field is the same clause


def group_clauses(leaves: tuple[tuple, ...]) -> list[list[tuple]]:
    """Leaves grouped by what they search for, in query order."""
    groups: dict[tuple, list[tuple]] = {}
    for leaf in leaves:
        groups.setdefault(_key(leaf), []).append(leaf)
    return list(groups.values())


def alternative_clauses(
    clauses: list[list[tuple]], text: str, analyze: Callable[[str], list[str]]
) -> list[list[tuple]]:
    """``clauses`` with the words of each slashed word ('Krone/Crown') as one clause."""
    alternatives = parse_syntax(text).alternatives
    if not alternatives:
        return clauses

    def key(word: str) -> tuple:
        toks = tuple(analyze(word))
        return toks if len(toks) == 1 else (toks, 1)  # a multi-token word: Whoosh's phrase

    keys = [_key(leaves[0]) for leaves in clauses]
    groups = article_bm25.merge_alternatives(keys, [{key(w) for w in a} for a in alternatives])
    return [[leaf for i in g for leaf in clauses[i]] for g in groups]


def required_clauses(
    clauses: list[list[tuple]], text: str, analyze: Callable[[str], list[str]]
) -> tuple[int, ...]:
    """Indices of clauses the user asked for explicitly: a quoted phrase or word, or a word
    searched in the title only (``title:word``)."""
    quoted = {tuple(analyze(p)) for p in parse_syntax(text).phrases}
    out = []
    for i, leaves in enumerate(clauses):
        what = leaves[0][1]
        words = what if isinstance(what, tuple) else (what,)
        if words in quoted or all(leaf[0] == "title" for leaf in leaves):
            out.append(i)
    return tuple(out)


def evaluate(
    positive: tuple[tuple, ...],
    negative: tuple[tuple, ...],
    text: str,
    leaf_tf: Callable[[tuple], tuple[np.ndarray, np.ndarray] | None],
    stats: ArticleStats,
    analyze: Callable[[str], list[str]],
    title_weight: float,
) -> tuple[ClauseEvidence, tuple[int, ...], np.ndarray | None, int]:
    """(evidence, required clause indices, excluded articles or None, clause count)."""
    clauses = alternative_clauses(group_clauses(positive), text, analyze)
    leaves = []
    for group in clauses:
        found = []
        for leaf in group:
            got = leaf_tf(leaf)
            if got is not None:
                found.append((leaf[0], got[0], got[1]))
        leaves.append(found)
    evidence = article_bm25.score(stats, leaves, title_weight)
    excluded = None
    if negative:
        docs = [got[0] for got in map(leaf_tf, negative) if got is not None]
        excluded = article_bm25.any_of(stats, docs)
    return evidence, required_clauses(clauses, text, analyze), excluded, len(clauses)


def article_stats(index: KeywordIndex, article_of: np.ndarray, n_articles: int) -> ArticleStats:
    """Docnum → article row and per-article field lengths, for one generation's index."""
    s, scored = index.scorer()
    rows = scored.doc_rows(s)
    art = np.where(rows >= 0, article_of[np.maximum(rows, 0)], -1).astype(np.int64)
    return ArticleStats.build(
        art, scored.field_lengths(s, "text"), scored.field_lengths(s, "title"), n_articles
    )


def article_evidence(
    index: KeywordIndex,
    text: str,
    stats: ArticleStats,
    article_of: np.ndarray,
    title_weight: float,
    budget: float,
) -> ArticleKeyword:
    """Every article's keyword evidence for the user query ``text``."""
    q, _ = index.parse(text)
    if q is None:
        return ArticleKeyword(frozenset(), None)
    terms = terms_of(q)
    s, scored = index.scorer()
    plan = term_plan(q)
    if plan is None:
        return _by_whoosh(index, q, text, terms, stats, article_of)
    deadline = time.monotonic() + budget
    scored.reset_timeout()

    def leaf_tf(leaf: tuple):
        return scored.leaf_tf(s, leaf, deadline)

    evidence, required, excluded, n = evaluate(
        plan.positive, plan.negative, text, leaf_tf, stats, analyze, title_weight
    )
    timed_out = scored.timed_out()
    para = scored.row_scores(s, plan, deadline, len(article_of))
    return ArticleKeyword(
        terms,
        evidence,
        n,
        required,
        excluded,
        timed_out=timed_out,
        paragraph_scores=para,
        any_clause=parse_syntax(text).says_or,
    )


def _by_whoosh(index, q, text, terms, stats, article_of) -> ArticleKeyword:
    """Queries the numpy scorer does not plan (nested boolean groups): Whoosh's paragraph
    matches, each article scored by its best paragraph, as one clause."""
    hits = index.search(text, max(1, index.doc_count))
    scores = np.zeros(len(stats.body_len))
    para = np.zeros(len(article_of))
    for row, sc in hits.hits:
        a = int(article_of[row])
        scores[a] = max(scores[a], sc)
        para[row] = sc
    hit = scores > 0
    excluded = None
    negative = negative_terms(q)
    if negative:
        s, scored = index.scorer()
        docs = [got[0] for got in (scored.term_tf(s, f, t) for f, t in negative) if got]
        excluded = article_bm25.any_of(stats, docs)
    evidence = ClauseEvidence(scores, hit.astype(np.int16), [hit])
    return ArticleKeyword(
        terms, evidence, 1, (), excluded, timed_out=hits.timed_out, paragraph_scores=para
    )
