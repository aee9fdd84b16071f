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

from . import ranking
from .answer import Matched, answer_empty, shown_paragraphs
from .backends import RetrievalBackend, SemanticEvidence, open_backend
from .backends.base import articles_from_keyword_leg, articles_from_semantic_leg
from .config import Settings
from .embed import Embedder, query_embedder
from .facets import canonical_sources, facet_counts, filter_mask, recency_factor
from .highlight import highlight
from .latest import latest_rows
from .matchset import Calibration, calibration_for
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
from .query import meaning_text
from .related import fold_duplicates, nearest_articles, related_stories
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
        self._calibration: tuple[str, Calibration] | None = None  # (snapshot, its thresholds)

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

    def warm_up(self) -> threading.Thread | None:
        """In a background thread, what a long-lived process's first queries would otherwise
        pay for: the query embedder's input shapes (OpenVINO: 17-55 ms each the first time).
        A server calls it once after opening; a one-shot search does not (it would wait)."""
        warm = getattr(self.embedder, "warm_up", None)
        if warm is None:
            return None
        thread = threading.Thread(target=warm, name="query-shapes", daemon=True)
        thread.start()
        return thread

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
        near-copies, and near-copies of a story already listed are left out, and so are
        stories less similar than ``min_score``: by default ``settings.related_threshold``,
        the one cut the page and the API share (``min_score=-1``: the nearest, however far)."""
        b = self.backend
        row = b.article_row(article_id)
        if row is None:
            return None
        cat = b.catalog
        alive = cat.alive.copy()
        alive[cat.duplicate_of.get(row, [])] = False
        near = nearest_articles(cat.vectors(), row, 4 * limit + 8, alive)
        floor = self.settings.related_threshold if min_score is None else min_score
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
        b = self.backend
        query = _canonical(query, b.catalog.source_of)
        # Lone surrogates (undecodable bytes of a command-line argument) break the tokenizer.
        text = _SURROGATE.sub("\ufffd", query.text).strip()
        if not text:
            took = round((time.perf_counter() - t0) * 1000, 2)
            return Results(query.text, query.mode, 0, took, [], "Type some words to search for.")
        found = self._match(b, text, query)
        page = found.groups[query.offset : query.offset + query.limit]
        per = self.settings.paragraphs_per_article
        # only the shown paragraphs' records are read; their ranks in one pass per leg
        shown = found.ranked([shown_paragraphs(b.article_rows(a), found, per) for a, _ in page])
        results = [
            self._hit(b, found, a, score, s)
            for (_, score), a, s in zip(page, b.articles([g[0] for g in page]), shown, strict=True)
        ]
        suggestion = b.suggest(text)
        notice, hints = found.notice, []
        if not found.groups:
            notice, hints = answer_empty(
                b.catalog.alive,
                found,
                text,
                query,
                suggestion,
                self.settings,
                self.calibration(b),
                lambda: self.semantic_evidence(b, text).best,
                b.catalog.duplicate_of,
                lambda loose: len(self._match(b, loose, query).groups),
            )
        took = (time.perf_counter() - t0) * 1000
        return Results(
            query.text,
            query.mode,
            len(found.groups),
            round(took, 2),
            results,
            notice,
            suggestion,
            found.facets,
            hints,
        )

    def match_set(self, query: Query) -> list[str]:
        """Ids of every article matching ``query``, in result order (near-copies folded)."""
        text = _SURROGATE.sub("\ufffd", query.text).strip()
        if not text:
            return []
        b = self.backend
        found = self._match(b, text, _canonical(query, b.catalog.source_of))
        return [b.catalog.ids[a] for a, _ in found.groups]

    def calibration(self, b: RetrievalBackend) -> Calibration:
        """The semantic thresholds recorded with the index (older indexes: the table's).

        Fixed for a snapshot, so read once per snapshot rather than through ``stats()`` (which
        counts the live rows) two or three times per search."""
        cached = self._calibration
        if cached is not None and cached[0] == b.snapshot:
            return cached[1]
        st = b.stats()
        if st.match_set:
            cal = Calibration.from_dict(st.match_set)
        else:
            cal = calibration_for(st.model, st.embed_backend)
        self._calibration = (b.snapshot, cal)
        return cal

    def semantic_evidence(self, b: RetrievalBackend, text: str) -> SemanticEvidence:
        """The query against every paragraph of ``b``, exact near the top (see calibration)."""
        cal = self.calibration(b)
        window = max(cal.delta, cal.floor - cal.hybrid_floor, 0.0)
        vector = self.embedder.encode_query(meaning_text(text))
        if hasattr(b, "semantic_articles"):
            return b.semantic_articles(vector, window, (cal.hybrid_floor, cal.partial_floor))
        return articles_from_semantic_leg(b, vector)  # a backend with paragraph legs only

    def _match(self, b: RetrievalBackend, text: str, query: Query) -> Matched:
        """The query's whole match set, ranked, re-ordered (recency, date) and folded."""
        cat = b.catalog
        allowed = filter_mask(cat, query.date_from, query.date_to, query.sources)
        if hasattr(b, "keyword_articles"):
            kw = b.keyword_articles(text)
        else:  # a backend with paragraph legs only
            kw = articles_from_keyword_leg(b, text)
        notice = None
        if kw.evidence is None:
            notice = "The query has no searchable words (only stop words or operators)."
            if query.mode == "hybrid":
                notice += " Showing results by meaning only."
        elif kw.timed_out:
            notice = "The keyword search ran out of time; results may be incomplete."
        sem = self.semantic_evidence(b, text) if query.mode != "keyword" else None
        best = sem.best if sem is not None else None
        second = sem.second if sem is not None else None
        cal = self.calibration(b)
        cos = sem.cosines if sem is not None else None
        owners = sem.article_of if sem is not None else getattr(b, "paragraph_articles", None)
        # With filters, the rules are read on the unfiltered set, which the filters restrict.
        base = cat.alive if query.date_from or query.date_to or query.sources else None
        rows, scores, kw_set, sem_set = ranking.decide(
            query.mode, self.settings, cal, allowed, kw, best, second, cos, owners, base
        )
        groups = list(zip(rows.tolist(), scores.tolist(), strict=True))
        groups = self._rerank(cat.dates, cat.ordinals, groups, query)
        groups, collapsed = _collapse_duplicates(groups, cat.duplicate_of)

        def listed(date_from, date_to, sources) -> list[int]:
            """The articles listed under other filters (the legs are filter-free; a group of
            near-copies counts once)."""
            mask = filter_mask(cat, date_from, date_to, sources)
            got = ranking.match_members(
                query.mode, self.settings, cal, mask, kw, best, second, cat.alive
            )
            pairs = [(int(r), 0.0) for r in np.flatnonzero(got)]
            return [g[0] for g in _collapse_duplicates(pairs, cat.duplicate_of)[0]]

        rows = [g[0] for g in groups]
        facets = facet_counts(
            rows,
            cat.source_of,
            cat.date_of,
            source_rows=listed(query.date_from, query.date_to, ()) if query.sources else rows,
            date_rows=listed(None, None, query.sources)
            if query.date_from or query.date_to
            else rows,
        )
        return Matched(
            groups, facets, collapsed, kw, cos, best, allowed, notice, kw_set, sem_set, query.mode
        )

    def _hit(self, b: RetrievalBackend, found: Matched, a, score: float, shown) -> ArticleHit:
        by_row = {p.row: p for p in b.paragraphs([r for r, *_ in shown])}
        hits = [
            ParagraphHit(
                paragraph_id=by_row[r].id,
                text=by_row[r].text,
                highlighted=highlight(by_row[r].text, found.terms),
                keyword_rank=krank,
                keyword_score=kscore,
                semantic_rank=srank,
                semantic_score=sscore,
                score=pscore,
            )
            for r, krank, kscore, srank, sscore, pscore in shown
        ]
        dups = [b.catalog.ids[d] for d in found.collapsed.get(a.row, [])]
        return ArticleHit(a.id, a.title, a.date, a.source, a.url, score, hits, dups)

    @staticmethod
    def _rerank(dates: np.ndarray, ords: np.ndarray, groups: list, query: Query) -> list:
        """Apply the recency boost and the date sort to ranked ``(article, score)`` pairs."""
        if query.recency and groups:
            rows = np.array([g[0] for g in groups])
            newest = int(ords.max()) if len(ords) else 0
            factor = recency_factor(ords[rows], query.recency, newest)
            groups = [(a, sc * float(f)) for (a, sc), f in zip(groups, factor, strict=True)]
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
    """Keep the best-ranked article of each near-duplicate group; remember its copies that
    are in ``groups`` too (``related.fold_duplicates``)."""
    if not duplicate_of:
        return groups, {}
    kept, collapsed = fold_duplicates([g[0] for g in groups], duplicate_of)
    keep = set(kept)
    return [g for g in groups if g[0] in keep], collapsed
