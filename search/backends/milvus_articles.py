"""Article-level evidence from Milvus hits: the keyword clauses and the semantic cosines.

The Milvus backend's ``keyword_articles`` and ``semantic_articles`` (the engine's match set
and article ranking, README "How the match set is decided"). Milvus finds the paragraphs: one
BM25 search per field (text, title) returns every paragraph holding any query word (a BM25
score is > 0 exactly when a paragraph holds a query term) with its stored analyzed terms, and
one range search returns every paragraph within the calibrated cosine floor. What Milvus
cannot compute — BM25F over whole articles made of paragraphs, clause counts per article,
phrase adjacency — is computed here from those hits with the embedded backend's own scorer
(``article_bm25``), so scores, clause counts, required clauses and exclusions are the same.
No Milvus calls here: ``milvus.py`` fetches, this module counts.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
from whoosh.util.numeric import byte_to_length, length_to_byte

from .. import article_bm25
from ..article_bm25 import ArticleStats
from ..keyword import analyze
from ..syntax import parse_syntax
from .base import ArticleKeyword, ClauseEvidence, SemanticEvidence
from .milvus_store import encode_term

K1, B = 1.2, 0.75  # Whoosh's BM25F defaults (the embedded backend's paragraph scores)
_LUT = np.array([byte_to_length(length_to_byte(n)) for n in range(1024)], dtype=np.float64)


def whoosh_lengths(lengths: np.ndarray) -> np.ndarray:
    """Field lengths as Whoosh stores them (one byte each, so long fields are rounded): the
    embedded backend's BM25F reads these, so the same rounding keeps scores equal."""
    small = lengths < len(_LUT)
    out = np.empty(len(lengths), dtype=np.float64)
    out[small] = _LUT[lengths[small]]
    out[~small] = [byte_to_length(length_to_byte(int(n))) for n in lengths[~small]]
    return out


@dataclass(frozen=True)
class Clause:
    """One query word or phrase as encoded terms (``milvus_store.encode_term``)."""

    tokens: tuple[str, ...]
    field: str | None = None  # title:word / text:word: that field only
    # 'Krone/Crown': the other words that count as this clause (syntax.ParsedQuery.alternatives)
    alternatives: tuple[Clause, ...] = ()

    def parts(self) -> tuple[Clause, ...]:
        """This clause's words or phrases: itself, then its alternatives."""
        return (Clause(self.tokens, self.field), *self.alternatives)


@dataclass(frozen=True)
class Plan:
    clauses: tuple[Clause, ...]
    required: tuple[int, ...]  # clause indices: quoted, title:, +word
    excluded: tuple[tuple[str, ...], ...]  # -word, NOT word, -"a phrase"
    any_clause: bool  # the query says OR
    # ``a AND b`` / ``+a``: the embedded backend matches such a query per paragraph, as one
    # clause (Whoosh's boolean query): a paragraph matches when it holds every clause of one
    # AND-chain (``groups``) and every ``+`` clause (``must``).
    groups: tuple[tuple[int, ...], ...] | None = None
    must: tuple[int, ...] = ()

    def words(self) -> str:
        """Every term the hits must be searched for (positive and excluded), once each."""
        terms = [t for c in self.clauses for part in c.parts() for t in part.tokens]
        terms += [t for e in self.excluded for t in e]
        return " ".join(dict.fromkeys(terms))


def _tokens(words: str) -> tuple[str, ...]:
    return tuple(encode_term(t) for t in analyze(words))


def plan(text: str) -> Plan:
    """The query's clauses as the syntax reads them (``search.syntax``), analyzed: the same
    word twice, or two words with one stem, are one clause, as in the embedded backend;
    quoted phrases or words, ``title:`` words and ``+word`` are required."""
    parsed = parse_syntax(text)
    index: dict[tuple[str, ...], int] = {}
    clauses: list[Clause] = []
    need: set[int] = set()
    groups: list[list[int]] = []
    must: list[int] = []
    for c in parsed.positive:
        toks = _tokens(c.text)
        joins = c.and_before and bool(groups) and c.sign != "+"
        if not toks:  # stop words only: not a clause (Whoosh drops it from an AND, too)
            if not joins and c.sign != "+":
                groups.append([])
            continue
        j = index.get(toks)
        if j is None:
            j = index[toks] = len(clauses)
            clauses.append(Clause(toks, c.field))
        elif clauses[j].field != c.field:
            clauses[j] = Clause(toks, None)  # asked in both fields
        if c.sign == "+":
            must.append(j)
        elif joins:
            groups[-1].append(j)
        else:
            groups.append([j])
        if c.phrase or c.field == "title":
            need.add(j)
    excluded = tuple(dict.fromkeys(t for t in (_tokens(c.text) for c in parsed.excluded) if t))
    chains = tuple(tuple(dict.fromkeys(g)) for g in groups if g)
    if must or any(len(g) > 1 for g in chains):  # one clause, matched per paragraph (Plan)
        return Plan(tuple(clauses), (), excluded, False, chains, tuple(must))
    alternatives = [{_tokens(w) for w in a} for a in parsed.alternatives]
    merged = article_bm25.merge_alternatives([c.tokens for c in clauses], alternatives)
    if len(merged) < len(clauses):  # the embedded backend's alternative_clauses
        clauses = [
            replace(clauses[g[0]], alternatives=tuple(clauses[i] for i in g[1:])) for g in merged
        ]
        at = {i: n for n, g in enumerate(merged) for i in g}
        need = {at[j] for j in need}
    return Plan(tuple(clauses), tuple(sorted(need)), excluded, parsed.says_or)


def _tf(tokens: list[str], counts: Counter, want: tuple[str, ...]) -> int:
    """Occurrences of a word; for a phrase, its words' smallest count where the words are
    adjacent (the embedded backend's phrase frequency), else 0."""
    if len(want) == 1:
        return counts.get(want[0], 0)
    if not all(w in counts for w in want):
        return 0
    joined = f" {' '.join(tokens)} "
    if f" {' '.join(want)} " not in joined:
        return 0
    return min(counts[w] for w in want)


@dataclass(frozen=True)
class Hit:
    """One paragraph a BM25 search returned, with the field's analyzed terms."""

    row: int
    tokens: list[str]


class _Field:
    """One field's hits indexed by the query's words: each hit's term counts, and per word
    the hits holding it (so a clause looks at its own hits only)."""

    def __init__(self, hits: list[Hit], words: set[str]) -> None:
        self.rows = [h.row for h in hits]
        self.tokens = [h.tokens for h in hits]
        self.counts = [Counter(h.tokens) for h in hits]
        self.post: dict[str, list[int]] = {w: [] for w in words}
        for i, cnt in enumerate(self.counts):
            for w in words.intersection(cnt):
                self.post[w].append(i)

    def holding(self, want: tuple[str, ...]) -> list[tuple[int, int]]:
        """(hit index, frequency) of the hits holding a word or phrase (a phrase: its
        words adjacent; its frequency the smallest of its words', as the embedded backend
        counts it)."""
        if len(want) == 1:
            return [(i, self.counts[i][want[0]]) for i in self.post[want[0]]]
        common = set(self.post[want[0]]).intersection(*(self.post[w] for w in want[1:]))
        got = [(i, _tf(self.tokens[i], self.counts[i], want)) for i in sorted(common)]
        return [(i, n) for i, n in got if n > 0]


@dataclass(frozen=True)
class RowStats:
    """Per paragraph row: its article's stats for BM25F and the field lengths Whoosh reads."""

    articles: ArticleStats
    body_len: np.ndarray  # float64 per row (Whoosh's rounding), 0 for rows not live
    title_len: np.ndarray
    live: np.ndarray  # bool per row
    paragraphs_of: np.ndarray  # int64 per article row: its live paragraphs
    avg_len: tuple[float, float] = (1.0, 1.0)  # text, title: exact means (as Whoosh keeps)

    @property
    def rows(self) -> int:
        return len(self.live)


def keyword_evidence(
    p: Plan,
    body: list[Hit],
    title: list[Hit],
    rs: RowStats,
    title_weight: float,
    title_boost: float,
    terms: frozenset[str],
) -> ArticleKeyword:
    """Every article's keyword evidence for plan ``p`` from its paragraphs' hits. ``title``
    tokens are the title's once (not the BM25 field's repetition); Whoosh counts a title word
    ``title_boost`` times (the field boost the index was built with), so that is its
    frequency here too; ``title_weight`` weighs the title in the article's BM25F."""
    if not p.clauses:
        return ArticleKeyword(terms, None)
    fields = (("text", body, 1.0), ("title", title, float(title_boost)))
    words = {w for c in p.clauses for part in c.parts() for w in part.tokens}
    words |= {w for e in p.excluded for w in e}
    indexed = [_Field(hits, words) for _, hits, _ in fields]
    n_live = max(int(rs.live.sum()), 1)
    lengths = {"text": rs.body_len, "title": rs.title_len}
    per_clause: list[np.ndarray] = []  # each clause's paragraph scores
    clauses: list = []
    for c in p.clauses:
        leaves = []
        para = np.zeros(rs.rows)
        for part in c.parts():
            for (name, _, boost), f in zip(fields, indexed, strict=True):
                if part.field is not None and part.field != name:
                    continue
                got = f.holding(part.tokens)
                if not got:
                    continue
                docs = np.array([f.rows[i] for i, _ in got], dtype=np.int64)
                tf = np.array([n for _, n in got], dtype=np.float64) * boost
                leaves.append((name, docs, tf))
                avg = rs.avg_len[0 if name == "text" else 1]
                norm = (1 - B) + B * lengths[name][docs] / (avg or 1.0)
                for w in part.tokens:  # Whoosh: a phrase scores as its words, at their own tf
                    wtf = np.array([f.counts[i][w] for i, _ in got], np.float64) * boost
                    idf = math.log(n_live / (len(f.post[w]) + 1)) + 1
                    para[docs] += idf * (wtf * (K1 + 1)) / (wtf + K1 * norm)
        clauses.append(leaves)
        per_clause.append(para)
    excluded = _excluded(p, indexed, rs)
    if p.groups is not None:
        return _boolean(p, per_clause, rs, terms, excluded)
    para = np.sum(per_clause, axis=0)
    evidence = article_bm25.score(rs.articles, clauses, title_weight)
    return ArticleKeyword(
        terms,
        evidence,
        len(p.clauses),
        p.required,
        excluded,
        paragraph_scores=para,
        any_clause=p.any_clause,
    )


def _excluded(p: Plan, indexed: list[_Field], rs: RowStats) -> np.ndarray | None:
    """Bool per article holding an excluded word or phrase in any paragraph or its title."""
    if not p.excluded:
        return None
    docs = [
        np.array([f.rows[i] for i, _ in f.holding(e)], dtype=np.int64)
        for e in p.excluded
        for f in indexed
    ]
    return article_bm25.any_of(rs.articles, docs)


def _boolean(p: Plan, per_clause: list[np.ndarray], rs: RowStats, terms, excluded):
    """An AND / + query as the embedded backend evaluates it (Whoosh's boolean query): one
    clause, the paragraphs matching it, each scored by the clauses of the AND-chains it
    satisfies and its ``+`` clauses; an article by its best paragraph."""
    none = np.zeros(rs.rows, dtype=bool)
    match, para = none.copy(), np.zeros(rs.rows)
    for g in dict.fromkeys(p.groups or ()):  # a chain typed twice is one OR branch
        held = np.logical_and.reduce([per_clause[i] > 0 for i in g])
        match |= held
        para += np.where(held, np.sum([per_clause[i] for i in g], axis=0), 0.0)
    if not p.groups:
        match = ~none
    for i in dict.fromkeys(p.must):
        match &= per_clause[i] > 0
        para += per_clause[i]
    para = np.where(match, para, 0.0)
    n = len(rs.articles.body_len)
    scores = np.zeros(n)
    arts = rs.articles.art_of_doc
    ok = match & (arts >= 0)
    np.maximum.at(scores, arts[ok], para[ok])
    hit = np.zeros(n, dtype=bool)
    hit[arts[ok]] = True
    evidence = ClauseEvidence(scores, hit.astype(np.int16), [hit])
    return ArticleKeyword(terms, evidence, 1, (), excluded, paragraph_scores=para)


def semantic_evidence(
    rows: np.ndarray, articles: np.ndarray, cosines: np.ndarray, n_rows: int, n_articles: int
) -> SemanticEvidence:
    """Per paragraph row its cosine (−inf where Milvus returned none: deleted, or below the
    searched floor), per article its best and second-best paragraph's."""
    cos = np.full(n_rows, -np.inf)
    cos[rows] = cosines
    best = np.full(n_articles, -np.inf)
    second = best.copy()
    if len(rows):
        order = np.lexsort((-cosines, articles))
        a, s = articles[order].astype(np.int64), cosines[order]
        first = np.r_[True, a[1:] != a[:-1]]
        best[a[first]] = s[first]
        nxt = np.flatnonzero(first) + 1
        ok = nxt < len(a)
        nxt = nxt[ok]
        ok2 = a[nxt] == a[nxt - 1]
        second[a[nxt[ok2]]] = s[nxt[ok2]]
    return SemanticEvidence(cos, best, second)


def row_stats(
    row: np.ndarray,
    article: np.ndarray,
    body_len: np.ndarray,
    title_len: np.ndarray,
    n_rows: int,
    n_articles: int,
) -> RowStats:
    """RowStats from Milvus's stored per-paragraph term counts (rows it did not return are
    deleted: article −1, length 0)."""
    art = np.full(n_rows, -1, dtype=np.int64)
    body = np.zeros(n_rows, dtype=np.int64)
    title = np.zeros(n_rows, dtype=np.int64)
    art[row], body[row], title[row] = article, body_len, title_len
    bl, tl = whoosh_lengths(body), whoosh_lengths(title)
    count = np.bincount(art[art >= 0], minlength=n_articles).astype(np.int64)
    live = art >= 0
    avg = tuple(float(x[live].mean()) if live.any() else 1.0 for x in (body, title))
    return RowStats(ArticleStats.build(art, bl, tl, n_articles), bl, tl, live, count, avg)
