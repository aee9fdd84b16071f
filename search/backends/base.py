"""The retrieval-backend seam: what the engine asks of an index, and the typed answers.

A backend owns the stored data and the two retrieval legs (keyword and semantic) with filters
and exclusions applied inside each leg; the engine keeps everything else (match set, fusion,
grouping, recency, facets, duplicates, highlighting, related stories). ``embedded`` is today's
Whoosh + numpy generation; a second backend implements the same Protocol (/tmp/lead/seam.md
describes the contract for the streams building on it).

A paragraph is addressed by its *row* (an int, dense and stable within one snapshot), an
article by its *article row* (an index into ``Catalog``'s arrays) or its public id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from ..syntax import parse_syntax

__all__ = [
    "ArticleKeyword",
    "ArticleRecord",
    "Catalog",
    "ClauseEvidence",
    "Filters",
    "KeywordLeg",
    "Leg",
    "ParagraphRecord",
    "RetrievalBackend",
    "SemanticEvidence",
    "Stats",
    "Unsupported",
]


class Unsupported(ValueError):
    """This backend cannot answer this part of a query (e.g. ``prefix*`` on Milvus); the message
    says which, in words for the user. The API answers 400 ``unsupported``, the CLI one line."""


@dataclass(frozen=True)
class Filters:
    """Restrictions every leg applies itself (never filtered after the fact).

    ``date_from``/``date_to`` are inclusive ISO dates (undated articles never pass a date
    filter); ``sources`` keeps articles from any of them; ``exclude`` holds the query's negated
    words or phrases: a paragraph is out if its text or its article's title matches one.
    """

    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()  # authoritative: the engine fills it from the parsed query

    @property
    def restricts(self) -> bool:
        """True when date or source filters are set (exclusions aside)."""
        return bool(self.date_from or self.date_to or self.sources)


@dataclass(frozen=True)
class Leg:
    """One leg's hits, best first (ties by ascending row).

    ``total`` is the exact number of paragraphs matching the query and filters when the
    backend knows it (None: unknown); ``complete`` says ``rows`` is the whole match set.
    """

    rows: np.ndarray  # int64 paragraph rows
    scores: np.ndarray  # float64: BM25F (keyword) or cosine (semantic)
    articles: np.ndarray  # int32 article row of each hit
    total: int | None = None
    complete: bool = False
    timed_out: bool = False

    @classmethod
    def empty(cls, **kw: object) -> Leg:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, np.zeros(0), none.astype(np.int32), total=0, complete=True, **kw)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return int(len(self.rows))

    def pairs(self) -> list[tuple[int, float]]:
        """``[(row, score)]``, the shape fusion.py takes."""
        return list(zip(self.rows.tolist(), self.scores.tolist(), strict=True))


@dataclass(frozen=True)
class KeywordLeg(Leg):
    terms: frozenset[str] = frozenset()  # analyzed positive terms, for highlighting
    searchable: bool = True  # False: the query had only stop words or operators


@dataclass
class ClauseEvidence:
    """A keyword query scored over every article row (``search/article_bm25.py``)."""

    scores: np.ndarray  # BM25F of the whole article (0 where nothing matched)
    matched: np.ndarray  # int16: how many of the query's clauses each article holds
    clause_hits: list[np.ndarray]  # per clause, bool per article


@dataclass
class ArticleKeyword:
    """The keyword leg's evidence over all articles for one query (issues #12, #13).

    A *clause* is one query word or phrase (its title and body forms together). ``required``
    are the clauses the user made constraints (a quoted phrase, a ``title:`` word);
    ``excluded`` marks articles holding an excluded word (``-w``, ``NOT w``) in any paragraph
    or the title. Date and source filters are not applied here: the engine does that with
    the catalog, for both legs alike.
    """

    terms: frozenset[str]  # analyzed positive terms, for highlighting
    evidence: ClauseEvidence | None  # None: no searchable words
    clauses: int = 0
    required: tuple[int, ...] = ()
    excluded: np.ndarray | None = None  # bool per article row, None when nothing excluded
    timed_out: bool = False
    paragraph_scores: np.ndarray | None = None  # BM25F per paragraph row (0: no match)
    any_clause: bool = False  # the query says OR: one clause is enough

    def constraint(self, n_articles: int) -> np.ndarray | None:
        """Bool per article that the operators allow (phrases, title:, exclusions), or None."""
        mask = None
        if self.required and self.evidence is not None:
            mask = np.ones(n_articles, dtype=bool)
            for i in self.required:
                mask &= self.evidence.clause_hits[i]
        if self.excluded is not None:
            mask = ~self.excluded if mask is None else mask & ~self.excluded
        return mask


@dataclass(frozen=True)
class SemanticEvidence:
    """The query vector against every paragraph: the semantic leg's whole evidence.

    Cosines within ``exact_within`` of the best are exact fp32; the rest may come from the
    int8 scan (off by < 0.005).
    """

    cosines: np.ndarray  # float per paragraph row, -inf for deleted rows
    best: np.ndarray  # float per article row: its best paragraph's cosine, -inf if none
    second: np.ndarray | None = None  # per article row: the second best (-inf if none)
    article_of: np.ndarray | None = None  # per paragraph row: its article row (-1: none)


@dataclass(frozen=True)
class ParagraphRecord:
    row: int
    id: str  # "<article_id>:<n>"
    article: int  # article row
    text: str


@dataclass(frozen=True)
class ArticleRecord:
    row: int
    id: str
    title: str
    date: str | None = None
    source: str | None = None
    url: str | None = None
    dateline: str | None = None


@dataclass(frozen=True)
class Catalog:
    """What ranking needs per article row, in memory."""

    ids: list[str]
    alive: np.ndarray  # bool: not deleted
    dates: np.ndarray  # int64 yyyymmdd, 0 = undated
    ordinals: np.ndarray  # int64 days since 0001-01-01, 0 = undated
    source_of: list[str | None]
    date_of: list[str | None]
    duplicate_of: dict[int, list[int]]  # article row -> the other rows of its duplicate group
    vectors: Callable[[], np.ndarray] = field(repr=False)  # mean paragraph vector per article


@dataclass(frozen=True)
class Stats:
    snapshot: str  # generation name (embedded) or collection version
    articles: int  # live
    paragraphs: int  # live
    rows: int  # all paragraph rows, deleted included
    model: str
    dimension: int
    embed_backend: str  # how the stored vectors were embedded (queries must match)
    built_at: str | None = None
    match_set: dict[str, float] = field(default_factory=dict)  # calibration stored at build


@dataclass(frozen=True)
class ArticleRows:
    """Paragraph rows grouped by article, reading order within one; rows whose article is
    −1 (deleted) are left out. Both backends answer ``article_rows`` from one of these."""

    order: np.ndarray  # paragraph rows sorted by article (stable: reading order within one)
    bounds: np.ndarray  # where each article's rows begin in ``order`` (one more than articles)

    @classmethod
    def of(cls, article_of: np.ndarray, n_articles: int) -> ArticleRows:
        order = np.argsort(article_of, kind="stable")
        return cls(order, np.searchsorted(article_of[order], np.arange(n_articles + 1)))

    def get(self, article_row: int) -> np.ndarray:
        """The article's paragraph rows (empty for an unknown row)."""
        if not 0 <= article_row < len(self.bounds) - 1:
            return self.order[:0]
        return self.order[self.bounds[article_row] : self.bounds[article_row + 1]]


@runtime_checkable
class RetrievalBackend(Protocol):
    name: str

    @property
    def snapshot(self) -> str: ...

    @property
    def catalog(self) -> Catalog: ...

    def keyword(self, text: str, filters: Filters, limit: int | None) -> KeywordLeg:
        """Paragraphs matching the user query ``text``; ``limit=None``: the full match set."""
        ...

    def semantic(
        self, vector: np.ndarray, filters: Filters, limit: int | None, floor: float | None = None
    ) -> Leg:
        """Rows by cosine to ``vector``: those ≥ ``floor`` (all when None), the best ``limit``."""
        ...

    # Optional, for the match sets and article-level ranking (issues #12, #13); without them
    # the engine derives both from the full paragraph legs (``articles_from_*_leg`` below):
    #   keyword_articles(text) -> ArticleKeyword   every article's keyword evidence, no filters
    #   semantic_articles(vector, exact_within: float, exact_at=()) -> SemanticEvidence
    #       the cosine to every paragraph, exact within ``exact_within`` of the best and
    #       wherever it is near one of the cosines ``exact_at`` (the match set's fixed floors)

    def query_terms(self, text: str) -> frozenset[str]: ...

    def suggest(self, text: str) -> str | None: ...

    def paragraphs(self, rows: Sequence[int]) -> list[ParagraphRecord]: ...

    def article_rows(self, article_row: int) -> np.ndarray:
        """An article's paragraph rows in reading order (empty for an unknown row)."""
        ...

    def article_paragraphs(self, article_row: int) -> list[ParagraphRecord]: ...

    def article_row(self, article_id: str) -> int | None: ...

    def articles(self, rows: Sequence[int]) -> list[ArticleRecord]: ...

    def stats(self) -> Stats: ...

    def reopen(self) -> RetrievalBackend | None:
        """A backend on a newer committed snapshot, or None; IndexCorrupt if it is unusable."""
        ...

    def prepare(self) -> None: ...

    def close(self) -> None: ...


def query_clauses(text: str) -> tuple[list[str], list[str], list[int], bool]:
    """The user query (:func:`search.syntax.parse_syntax`) as (positive clauses, excluded
    words/phrases, indices of required clauses, says OR), each clause in the query syntax:
    ``"phrases"``, ``title:w`` and ``+w`` are required."""
    parsed = parse_syntax(text)
    positive = [c.syntax for c in parsed.positive]
    required = [
        i for i, c in enumerate(parsed.positive) if c.phrase or c.field == "title" or c.sign == "+"
    ]
    return positive, [c.syntax for c in parsed.excluded], required, parsed.says_or


def articles_from_keyword_leg(backend: RetrievalBackend, text: str) -> ArticleKeyword:
    """``keyword_articles`` for a backend with the paragraph leg only: one full leg
    (``limit=None``) per clause of the query gives each article's clause count, the whole
    query's leg its score (its best paragraph's) and the paragraphs' scores."""
    n = len(backend.catalog.ids)
    whole = backend.keyword(text, Filters(), None)
    if not whole.searchable:
        return ArticleKeyword(whole.terms, None)
    positive, negative, required, says_or = query_clauses(text)
    hits, kept = [], []
    for i, clause in enumerate(positive):
        leg = backend.keyword(clause, Filters(), None)
        if not leg.searchable:  # a stop word: not a clause
            continue
        hit = np.zeros(n, dtype=bool)
        hit[leg.articles] = True
        if i in required:
            kept.append(len(hits))
        hits.append(hit)
    excluded = None
    for clause in negative:
        leg = backend.keyword(clause, Filters(), None)
        if leg.searchable:
            excluded = np.zeros(n, dtype=bool) if excluded is None else excluded
            excluded[leg.articles] = True
    scores = np.zeros(n)
    np.maximum.at(scores, whole.articles.astype(np.int64), whole.scores)
    matched = np.sum(hits, axis=0).astype(np.int16) if hits else np.zeros(n, np.int16)
    para = np.zeros(backend.stats().rows)
    para[whole.rows] = whole.scores
    evidence = ClauseEvidence(scores, matched, hits)
    return ArticleKeyword(
        whole.terms,
        evidence,
        len(hits),
        tuple(kept),
        excluded,
        timed_out=whole.timed_out,
        paragraph_scores=para,
        any_clause=says_or,
    )


def articles_from_semantic_leg(backend: RetrievalBackend, vector: np.ndarray) -> SemanticEvidence:
    """``semantic_articles`` for a backend that only has the paragraph leg (all rows scored)."""
    leg = backend.semantic(vector, Filters(), None)
    cos = np.full(backend.stats().rows, -np.inf)
    cos[leg.rows] = leg.scores
    best = np.full(len(backend.catalog.ids), -np.inf)
    np.maximum.at(best, leg.articles.astype(np.int64), leg.scores)
    return SemanticEvidence(cos, best)
