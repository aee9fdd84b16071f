"""The embedded backend: one committed generation on local disk (Whoosh + numpy vectors).

``EmbeddedBackend`` answers the seam of :mod:`search.backends.base` from a
:class:`search.generation.Generation`; ``open_embedded`` picks the live generation, or the newest
older one that verifies when the live one is damaged; ``reopen`` follows CURRENT to a newer one.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np

from .. import store
from ..article_bm25 import ArticleStats
from ..config import Settings
from ..embed import index_backend
from ..facets import article_mask
from ..generation import Generation
from ..store import IndexCorrupt
from .base import (
    ArticleKeyword,
    ArticleRecord,
    ArticleRows,
    Catalog,
    Filters,
    KeywordLeg,
    Leg,
    ParagraphRecord,
    SemanticEvidence,
    Stats,
)
from .keyword_articles import article_evidence, article_stats
from .runs import RunLayout, best_two

__all__ = ["EmbeddedBackend", "open_embedded"]
log = logging.getLogger(__name__)


def open_embedded(settings: Settings) -> EmbeddedBackend:
    """The live generation, or the newest older one that verifies when the live one is damaged."""
    index_dir = Path(settings.index_dir)
    current = store.current_generation(index_dir)
    candidates = [current] + [p for p in store.generations(index_dir) if p.name < current.name]
    errors = []
    for path in candidates:
        try:
            gen = Generation.open(path, settings)
            if errors:
                log.error("serving %s; newer generation unusable: %s", path.name, "; ".join(errors))
            return EmbeddedBackend(gen, settings)
        except IndexCorrupt as e:
            errors.append(str(e))
    raise IndexCorrupt("; ".join(errors))


class EmbeddedBackend:
    """A :class:`~search.backends.base.RetrievalBackend` over one local generation."""

    name = "embedded"

    def __init__(self, generation: Generation, settings: Settings) -> None:
        self.generation = generation
        self.settings = settings
        self._failed: str | None = None  # a newer generation that would not open

    @property
    def snapshot(self) -> str:
        return self.generation.path.name

    # -- the legs -------------------------------------------------------------------------
    def _excluded(self, exclude: tuple[str, ...]) -> np.ndarray | None:
        """Paragraph rows whose text or article title matches one of ``exclude``."""
        if not exclude:
            return None
        kw = self.generation.keyword
        words = " OR ".join(f'"{w}"' if " " in w else w for w in exclude)
        res = kw.search(words, max(1, kw.doc_count))
        return np.fromiter((r for r, _ in res.hits), dtype=np.int64, count=len(res.hits))

    def keyword(self, text: str, filters: Filters, limit: int | None) -> KeywordLeg:
        gen = self.generation
        k = max(1, gen.keyword.doc_count) if limit is None else limit
        kr = gen.keyword.search(text, k, filters.date_from, filters.date_to, filters.sources)
        rows = np.fromiter((r for r, _ in kr.hits), dtype=np.int64, count=len(kr.hits))
        scores = np.fromiter((s for _, s in kr.hits), dtype=np.float64, count=len(kr.hits))
        excluded = self._excluded(filters.exclude)
        if excluded is not None and len(rows):
            keep = ~np.isin(rows, excluded)
            rows, scores = rows[keep], scores[keep]
        complete = limit is None or len(kr.hits) < limit
        return KeywordLeg(
            rows,
            scores,
            gen.article_of[rows],
            total=len(rows) if complete and not kr.timed_out else None,
            complete=complete and not kr.timed_out,
            timed_out=kr.timed_out,
            terms=kr.terms,
            searchable=bool(kr.terms),
        )

    def semantic(
        self, vector: np.ndarray, filters: Filters, limit: int | None, floor: float | None = None
    ) -> Leg:
        gen = self.generation
        alive = gen.alive
        if filters.restricts:
            mask = article_mask(
                gen.dates,
                gen.source_ids,
                gen.source_names,
                filters.date_from,
                filters.date_to,
                filters.sources,
            )
            alive = alive & mask[gen.article_of]
        excluded = self._excluded(filters.exclude)
        if excluded is not None:
            alive = alive.copy()
            alive[excluded] = False
        k = len(gen.vectors) if limit is None else limit
        hits = gen.vectors.search(vector, k, alive)
        if floor is not None:
            hits = [h for h in hits if h[1] >= floor]
        rows = np.fromiter((r for r, _ in hits), dtype=np.int64, count=len(hits))
        scores = np.fromiter((s for _, s in hits), dtype=np.float64, count=len(hits))
        complete = limit is None or len(hits) < limit
        return Leg(
            rows,
            scores,
            gen.article_of[rows],
            total=len(rows) if complete else None,
            complete=complete,
        )

    @cached_property
    def _article_stats(self) -> ArticleStats:
        gen = self.generation
        return article_stats(gen.keyword, gen.article_of, len(gen.articles))

    @cached_property
    def _starts(self) -> tuple[np.ndarray, np.ndarray, bool]:
        """First row of each run of one article's paragraphs, that article's row, and whether
        every article is one run (then per-article maxima are plain assignments)."""
        a = self.generation.article_of
        starts = np.flatnonzero(np.r_[True, a[1:] != a[:-1]]) if len(a) else np.zeros(0, int)
        owners = a[starts].astype(np.int64)
        return starts, owners, len(np.unique(owners)) == len(owners)

    @cached_property
    def _dead_rows(self) -> np.ndarray:
        """Rows of deleted paragraphs (their cosine is −inf)."""
        return np.flatnonzero(~self.generation.alive)

    @cached_property
    def _layout(self) -> RunLayout | None:
        """The runs grouped for ``RunLayout.best_two`` (None unless every article is one run)."""
        starts, owners, single_runs = self._starts
        if not single_runs:
            return None
        return RunLayout.of(starts, owners, len(self.generation.article_of))

    @cached_property
    def _by_article(self) -> ArticleRows:
        return ArticleRows.of(self.generation.article_of, len(self.generation.articles))

    @property
    def paragraph_articles(self) -> np.ndarray:
        """Per paragraph row its article row (−1: none), as ``ArticleKeyword.paragraph_scores``
        is indexed: what the ranking's paragraph votes group by."""
        return self.generation.article_of

    def keyword_articles(self, text: str) -> ArticleKeyword:
        gen = self.generation
        return article_evidence(
            gen.keyword,
            text,
            self._article_stats,
            gen.article_of,
            self.settings.title_boost,
            self.settings.search_time_budget,
        )

    def semantic_articles(
        self, vector: np.ndarray, exact_within: float, exact_at: Sequence[float] = ()
    ) -> SemanticEvidence:
        """Cosines exact within ``exact_within`` of the best, and wherever an int8 score is
        within its error of one of ``exact_at`` (the fixed thresholds the match set compares
        with, e.g. the hybrid floor 0.30, far below the top of a query close to some article:
        an int8 score must not decide which side of one an article falls)."""
        gen = self.generation
        cos, err = gen.vectors.all_scores(vector)  # a fresh array: marked in place
        cos[self._dead_rows] = -np.inf
        best = float(cos.max()) if err and len(cos) else -np.inf  # −inf: no live row
        if best > -np.inf:  # int8 scores: the top made exact (the top itself is off by err)
            near = cos >= best - exact_within - 2 * err
            for cut in exact_at:
                near |= np.abs(cos - cut) <= err
            top = np.flatnonzero(near)
            cos[top] = gen.vectors.exact(top, vector)
        layout = self._layout
        if layout is not None:
            out, second = layout.best_two(cos, len(gen.articles))
        else:
            starts, owners, single_runs = self._starts
            out, second = best_two(cos, starts, owners, len(gen.articles), single_runs)
        return SemanticEvidence(cos, out, second, gen.article_of)

    def query_terms(self, text: str) -> frozenset[str]:
        return self.generation.keyword.query_terms(text)

    def suggest(self, text: str) -> str | None:
        return self.generation.keyword.suggest(text)

    # -- records --------------------------------------------------------------------------
    def _paragraph(self, row: int) -> ParagraphRecord:
        p = self.generation.paragraphs[row]
        return ParagraphRecord(row, p["id"], int(p["article"]), p["text"])

    def paragraphs(self, rows: Sequence[int]) -> list[ParagraphRecord]:
        return [self._paragraph(int(r)) for r in rows]

    def article_rows(self, article_row: int) -> np.ndarray:
        """An article's paragraph rows in reading order (empty for an unknown row)."""
        return self._by_article.get(article_row)

    def article_paragraphs(self, article_row: int) -> list[ParagraphRecord]:
        return self.paragraphs(self.article_rows(article_row).tolist())

    def article_row(self, article_id: str) -> int | None:
        return self.generation.article_index.get(article_id)

    def articles(self, rows: Sequence[int]) -> list[ArticleRecord]:
        out = []
        for r in rows:
            a = self.generation.articles[int(r)]
            out.append(
                ArticleRecord(
                    int(r),
                    a["id"],
                    a["title"],
                    a.get("date"),
                    a.get("source"),
                    a.get("url"),
                    a.get("dateline"),
                )
            )
        return out

    @cached_property
    def catalog(self) -> Catalog:
        gen = self.generation
        return Catalog(
            ids=[a["id"] for a in gen.articles],
            alive=gen.article_alive,
            dates=gen.dates,
            ordinals=gen.ordinals,
            source_of=gen.source_of,
            date_of=gen.date_of,
            duplicate_of=gen.duplicate_of,
            vectors=lambda: gen.article_vectors,
        )

    def stats(self) -> Stats:
        gen = self.generation
        m = gen.manifest
        articles, paragraphs = gen.live_count()
        return Stats(
            snapshot=self.snapshot,
            articles=articles,
            paragraphs=paragraphs,
            rows=len(gen.paragraphs),
            model=m["model"],
            dimension=m["dimension"],
            embed_backend=index_backend(m),
            built_at=m.get("built_at"),
            match_set=dict(m.get("match_set") or {}),
        )

    # -- lifecycle ------------------------------------------------------------------------
    def reopen(self) -> EmbeddedBackend | None:
        name = store.current_name(Path(self.settings.index_dir))
        if not name or name == self.snapshot or name == self._failed:
            return None
        try:
            gen = Generation.open(Path(self.settings.index_dir) / name, self.settings)
        except (IndexCorrupt, OSError) as e:
            self._failed = name
            raise IndexCorrupt(str(e)) from e
        return EmbeddedBackend(gen, self.settings)

    def prepare(self) -> None:
        self.generation.prepare()
        _ = self._layout, self._dead_rows  # ~10 ms at 100k rows, not on the first search

    def close(self) -> None:
        self.generation.close()
