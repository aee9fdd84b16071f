"""The one public façade: ``Engine.open(settings).search(Query) -> Results``.

The web app and the CLI talk only to this class, so page, API and terminal never disagree.
The engine asks a retrieval backend (:mod:`search.backends`) for the keyword and semantic legs,
paragraphs and article records; it keeps the ranking itself (fusion, grouping, recency, facets,
duplicates, highlighting, related stories). It notices a newly committed snapshot on the next
search and switches to it without failing a request; a damaged one is reported and the last
good one keeps serving.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import replace

import numpy as np

from .backends import Filters, RetrievalBackend, open_backend
from .config import Settings
from .embed import Embedder, query_embedder
from .facets import canonical_sources, facet_counts, recency_factor
from .fusion import article_cosines, fuse, fuse_articles, group, regroup
from .highlight import highlight
from .latest import latest_rows
from .models import (
    ArticleHit,
    ArticleParagraph,
    ArticleView,
    Health,
    ParagraphHit,
    Query,
    RelatedArticle,
    Results,
)
from .related import nearest_articles, related_stories
from .store import IndexCorrupt, IndexNotReady

__all__ = ["Engine", "IndexNotReady", "IndexCorrupt"]
log = logging.getLogger(__name__)
RELOAD_CHECK_SECONDS = 1.0
_SURROGATE = re.compile("[\ud800-\udfff]")


class Engine:
    def __init__(self, settings: Settings, backend: RetrievalBackend, embedder: Embedder) -> None:
        self.settings = settings
        self._backend = backend
        self.embedder = embedder
        self._lock = threading.Lock()
        self._checked = time.monotonic()

    @classmethod
    def open(
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        backend: RetrievalBackend | None = None,
    ) -> Engine:
        """Open the backend ``settings`` names on its live snapshot; raises
        IndexNotReady/IndexCorrupt."""
        backend = backend or open_backend(settings)
        stats = backend.stats()
        # Queries are embedded like the index was (its manifest says which backend).
        embedder = embedder or query_embedder(settings, stats.embed_backend)
        if embedder.dimension != stats.dimension:
            raise IndexCorrupt(f"{stats.snapshot}: dimension {stats.dimension} != model's")
        backend.prepare()
        return cls(settings, backend, embedder)

    @property
    def backend(self) -> RetrievalBackend:
        """The backend to answer with; switches to a newer committed snapshot when one appears."""
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return self._backend
        with self._lock:
            if now - self._checked < RELOAD_CHECK_SECONDS:
                return self._backend
            self._checked = now
            try:
                new = self._backend.reopen()
                if new is not None:
                    new.prepare()  # other requests keep using the old one meanwhile
                    self._backend = new
                    log.info("switched to %s", new.snapshot)
            except (IndexCorrupt, OSError) as e:
                log.error("keeping %s: new generation unusable: %s", self._backend.snapshot, e)
        return self._backend

    def close(self) -> None:
        self._backend.close()

    def health(self) -> Health:
        st = self.backend.stats()
        return Health(
            "ok", st.snapshot, st.articles, st.paragraphs, st.model, st.dimension, st.built_at
        )

    def article(self, article_id: str) -> ArticleView | None:
        """An article's metadata and all of its paragraphs, or None."""
        b = self.backend
        row = b.article_row(article_id)
        if row is None:
            return None
        (a,) = b.articles([row])
        paras = [ArticleParagraph(p.id, p.text) for p in b.article_paragraphs(row)]
        dups = [b.catalog.ids[r] for r in b.catalog.duplicate_of.get(row, [])]
        return ArticleView(a.id, a.title, a.date, a.source, a.url, a.dateline, paras, dups)

    def related(
        self, article_id: str, limit: int = 5, min_score: float | None = None
    ) -> list[RelatedArticle] | None:
        """Nearest articles by embedding, best first, or None for an unknown id. Itself, its
        near-copies, and near-copies of a story already listed are left out; with
        ``min_score`` only stories at least that similar (the page passes
        ``settings.related_threshold``; the API lists the nearest with their scores)."""
        b = self.backend
        row = b.article_row(article_id)
        if row is None:
            return None
        cat = b.catalog
        alive = cat.alive.copy()
        alive[cat.duplicate_of.get(row, [])] = False
        near = nearest_articles(cat.vectors(), row, 4 * limit + 8, alive)
        floor = -1.0 if min_score is None else min_score
        near = related_stories(near, cat.duplicate_of, floor)[:limit]
        records = b.articles([r for r, _ in near])
        return [
            RelatedArticle(a.id, a.title, a.date, a.source, a.url, score)
            for a, (_, score) in zip(records, near, strict=True)
        ]

    def latest(self, query: Query, lead: int = 3) -> Results:
        """The newest articles passing the query's date and source filters (its text is not
        used), each with its first ``lead`` paragraphs; ``score`` is 0 and there are no ranks."""
        t0 = time.perf_counter()
        b = self.backend
        cat = b.catalog
        query = _canonical(query, cat.source_of)
        page = latest_rows(
            cat.alive,
            cat.dates,
            cat.source_of,
            cat.date_of,
            cat.duplicate_of,
            date_from=query.date_from,
            date_to=query.date_to,
            sources=query.sources,
            offset=query.offset,
            limit=query.limit,
        )
        hits = []
        for a in b.articles(page.rows):
            paras = [
                ParagraphHit(p.id, p.text, highlight(p.text, frozenset()))
                for p in b.article_paragraphs(a.row)[:lead]
            ]
            dups = [cat.ids[d] for d in page.collapsed.get(a.row, [])]
            hits.append(ArticleHit(a.id, a.title, a.date, a.source, a.url, 0.0, paras, dups))
        took = round((time.perf_counter() - t0) * 1000, 2)
        return Results(query.text, query.mode, page.total, took, hits, None, None, page.facets)

    def highlight(self, query_text: str, texts: list[str]) -> list[str]:
        """Each of ``texts`` escaped for HTML, with the query's words in ``<mark>``."""
        text = _SURROGATE.sub("\ufffd", query_text).strip()
        terms = self.backend.query_terms(text) if text else frozenset()
        return [highlight(t, terms) for t in texts]

    def search(self, query: Query) -> Results:
        t0 = time.perf_counter()
        s = self.settings
        b = self.backend
        cat = b.catalog
        query = _canonical(query, cat.source_of)
        depth = max(s.depth, 3 * (query.offset + query.limit))
        # Lone surrogates (undecodable bytes of a command-line argument) break the tokenizer.
        text = _SURROGATE.sub("\ufffd", query.text).strip()
        filters = Filters(query.date_from, query.date_to, tuple(query.sources))
        keyword_hits: list[tuple[int, float]] = []
        semantic_hits: list[tuple[int, float]] = []
        article_of_row: dict[int, int] = {}
        notice = suggestion = None
        terms: frozenset[str] = frozenset()
        if not text:
            notice = "Type some words to search for."
        if text and query.mode in ("keyword", "hybrid"):
            kleg = b.keyword(text, filters, depth)
            keyword_hits, terms = kleg.pairs(), kleg.terms
            article_of_row.update(zip(kleg.rows.tolist(), kleg.articles.tolist(), strict=True))
            if not kleg.searchable:
                notice = "The query has no searchable words (only stop words or operators)."
                if query.mode == "hybrid":
                    notice += " Showing results by meaning only."
            elif kleg.timed_out:
                notice = "The keyword search ran out of time; results may be incomplete."
        elif text:
            terms = b.query_terms(text)
        if text and query.mode in ("semantic", "hybrid"):
            qvec = self.embedder.encode_query(text)
            sleg = b.semantic(qvec, filters, depth)
            semantic_hits = sleg.pairs()
            article_of_row.update(zip(sleg.rows.tolist(), sleg.articles.tolist(), strict=True))
        if text:
            suggestion = b.suggest(text)

        if query.mode == "keyword":
            scores = dict(keyword_hits)
        elif query.mode == "semantic":
            scores = dict(semantic_hits)
        else:
            scores = fuse(keyword_hits, semantic_hits, s.fusion, s.rrf_k, s.alpha)

        def article_of(r: int) -> int:
            return article_of_row[r]

        groups = group(scores, article_of, s.paragraphs_per_article, s.article_score)
        if s.fusion_level == "article" and query.mode != "keyword" and semantic_hits:
            sims: list[tuple[int, float]] = []
            if s.article_vector:  # candidates only: they already respect filters and deletions
                cands = np.array(
                    [article_of_row[r] for r, _ in keyword_hits + semantic_hits], dtype=np.int64
                )
                qvec = self.embedder.encode_query(text)  # cached: no second embedding
                sims = article_cosines(cat.vectors(), qvec, cands)
            kw = keyword_hits if query.mode == "hybrid" else []
            art = fuse_articles(
                kw, semantic_hits, article_of, sims, s.fusion, s.rrf_k, s.alpha, s.article_score
            )
            groups = regroup(groups, art)
        groups = self._rerank(cat.dates, cat.ordinals, groups, query)
        facets = facet_counts([g[0] for g in groups], cat.source_of, cat.date_of)
        groups, collapsed = _collapse_duplicates(groups, cat.duplicate_of)
        kw_rank = {r: (i, sc) for i, (r, sc) in enumerate(keyword_hits, start=1)}
        sem_rank = {r: (i, sc) for i, (r, sc) in enumerate(semantic_hits, start=1)}
        page = groups[query.offset : query.offset + query.limit]
        records = b.articles([g[0] for g in page])
        results = []
        for (art_row, score, rows), a in zip(page, records, strict=True):
            paras = []
            for p in b.paragraphs(rows):
                krank, kscore = kw_rank.get(p.row, (None, None))
                srank, sscore = sem_rank.get(p.row, (None, None))
                paras.append(
                    ParagraphHit(
                        paragraph_id=p.id,
                        text=p.text,
                        highlighted=highlight(p.text, terms),
                        keyword_rank=krank,
                        keyword_score=kscore,
                        semantic_rank=srank,
                        semantic_score=sscore,
                        score=scores[p.row],
                    )
                )
            results.append(
                ArticleHit(
                    article_id=a.id,
                    title=a.title,
                    date=a.date,
                    source=a.source,
                    url=a.url,
                    score=score,
                    paragraphs=paras,
                    duplicates=[cat.ids[d] for d in collapsed.get(art_row, [])],
                )
            )
        took = (time.perf_counter() - t0) * 1000
        return Results(
            query.text, query.mode, len(groups), round(took, 2), results, notice, suggestion, facets
        )

    @staticmethod
    def _rerank(dates: np.ndarray, ords: np.ndarray, groups: list, query: Query) -> list:
        """Apply the recency boost and the date sort to grouped articles."""
        if query.recency and groups:
            rows = np.array([g[0] for g in groups])
            newest = int(ords.max()) if len(ords) else 0
            factor = recency_factor(ords[rows], query.recency, newest)
            groups = [(a, sc * float(f), ps) for (a, sc, ps), f in zip(groups, factor, strict=True)]
            groups.sort(key=lambda g: (-g[1], g[0]))
        if query.sort == "date":
            groups = sorted(groups, key=lambda g: (-int(dates[g[0]]), -g[1], g[0]))
        return groups


def _canonical(query: Query, source_of: list[str | None]) -> Query:
    """``query`` with its sources in the index's own spelling (matched ignoring case)."""
    if not query.sources:
        return query
    names = {s for s in source_of if s}
    return replace(query, sources=canonical_sources(query.sources, sorted(names)))


def _collapse_duplicates(
    groups: list, duplicate_of: dict[int, list[int]]
) -> tuple[list, dict[int, list[int]]]:
    """Keep the best-ranked article of each near-duplicate group; remember the others."""
    if not duplicate_of:
        return groups, {}
    kept, collapsed, seen = [], {}, set()
    for g in groups:
        if g[0] in seen:
            continue
        others = duplicate_of.get(g[0], [])
        seen.update(others)
        if others:
            collapsed[g[0]] = others
        kept.append(g)
    return kept, collapsed
