"""The one public façade: ``Engine.open(settings).search(Query) -> Results``.

The web app and the CLI talk only to this class, so page, API and terminal never disagree.
An engine holds one generation; it notices a newly committed one (CURRENT changed) on the next
search and switches to it without failing a request; a damaged generation is reported and the
last good one keeps serving.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import store
from .config import Settings
from .facets import article_mask, facet_counts, recency_factor
from .fusion import article_cosines, fuse, fuse_articles, group, regroup
from .generation import Generation
from .highlight import highlight
from .models import ArticleHit, ParagraphHit, Query, Results
from .related import nearest_articles
from .store import IndexCorrupt, IndexNotReady
from .vectors import Embedder, index_backend, query_embedder

__all__ = ["Engine", "IndexNotReady", "IndexCorrupt"]
log = logging.getLogger(__name__)
RELOAD_CHECK_SECONDS = 1.0
_SURROGATE = re.compile("[\ud800-\udfff]")
_INTERNAL = frozenset({"split", "deleted"})  # bookkeeping in articles.jsonl, not article data


def _open_best(settings: Settings) -> Generation:
    """The live generation, or the newest older one that verifies when the live one is damaged."""
    index_dir = Path(settings.index_dir)
    current = store.current_generation(index_dir)
    candidates = [current] + sorted(
        (p for p in index_dir.glob("gen-??????") if p.name < current.name), reverse=True
    )
    errors = []
    for path in candidates:
        try:
            gen = Generation.open(path, settings)
            if errors:
                log.error("serving %s; newer generation unusable: %s", path.name, "; ".join(errors))
            return gen
        except IndexCorrupt as e:
            errors.append(str(e))
    raise IndexCorrupt("; ".join(errors))


class Engine:
    def __init__(self, settings: Settings, generation: Generation, embedder: Embedder) -> None:
        self.settings = settings
        self._gen = generation
        self._embedder = embedder
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._failed: str | None = None

    @classmethod
    def open(cls, settings: Settings, embedder: Embedder | None = None) -> Engine:
        """Open the live generation of ``settings.index_dir``; raises IndexNotReady/IndexCorrupt."""
        gen = _open_best(settings)
        # Queries are embedded like the index was (its manifest says which backend).
        embedder = embedder or query_embedder(
            settings, index_backend(gen.manifest, settings.embed_backend)
        )
        if embedder.dimension != gen.manifest["dimension"]:
            raise IndexCorrupt(f"{gen.path}: dimension {gen.manifest['dimension']} != model's")
        gen.prepare()  # after the embedder: the int8 vector scan needs OpenVINO loaded
        return cls(settings, gen, embedder)

    @property
    def generation(self) -> Generation:
        """The generation to answer with; switches to a newer committed one when it appears."""
        now = time.monotonic()
        if now - self._checked < RELOAD_CHECK_SECONDS:
            return self._gen
        with self._lock:
            if now - self._checked < RELOAD_CHECK_SECONDS:
                return self._gen
            self._checked = now
            name = store.current_name(Path(self.settings.index_dir))
            if name and name != self._gen.path.name and name != self._failed:
                try:
                    new = Generation.open(Path(self.settings.index_dir) / name, self.settings)
                    new.prepare()  # other requests keep using the old one meanwhile
                    self._gen = new
                    log.info("switched to %s", name)
                except (IndexCorrupt, OSError) as e:
                    self._failed = name
                    log.error("keeping %s: new generation unusable: %s", self._gen.path.name, e)
        return self._gen

    def health(self) -> dict[str, Any]:
        gen = self.generation
        articles, paragraphs = gen.live_count()
        return {
            "status": "ok",
            "generation": gen.path.name,
            "articles": articles,
            "paragraphs": paragraphs,
            "model": gen.manifest["model"],
            "dimension": gen.manifest["dimension"],
            "built_at": gen.manifest.get("built_at"),
        }

    def article(self, article_id: str) -> dict[str, Any] | None:
        """An article's metadata and all of its paragraphs, or None."""
        gen = self.generation
        row = gen.article_index.get(article_id)
        if row is None:
            return None
        rows = np.flatnonzero(gen.article_of == row)
        paras = [
            {"paragraph_id": gen.paragraphs[i]["id"], "text": gen.paragraphs[i]["text"]}
            for i in rows
        ]
        dups = [gen.articles[r]["id"] for r in gen.duplicate_of.get(row, [])]
        record = {k: v for k, v in gen.articles[row].items() if k not in _INTERNAL}
        return {**record, "paragraphs": paras, "duplicates": dups}

    def related(self, article_id: str, limit: int = 5) -> list[dict[str, Any]] | None:
        """Nearest articles by embedding (itself and its near-copies excluded), or None."""
        gen = self.generation
        row = gen.article_index.get(article_id)
        if row is None:
            return None
        alive = gen.article_alive.copy()
        alive[gen.duplicate_of.get(row, [])] = False
        out = []
        for r, score in nearest_articles(gen.article_vectors, row, limit, alive):
            a = gen.articles[r]
            out.append(
                {
                    "article_id": a["id"],
                    "title": a["title"],
                    "date": a.get("date"),
                    "source": a.get("source"),
                    "url": a.get("url"),
                    "score": score,
                }
            )
        return out

    def search(self, query: Query) -> Results:
        t0 = time.perf_counter()
        s = self.settings
        gen = self.generation
        depth = max(s.depth, 3 * (query.offset + query.limit))
        # Lone surrogates (undecodable bytes of a command-line argument) break the tokenizer.
        text = _SURROGATE.sub("\ufffd", query.text).strip()
        filtered = bool(query.date_from or query.date_to or query.sources)
        keyword_hits: list[tuple[int, float]] = []
        semantic_hits: list[tuple[int, float]] = []
        notice = suggestion = None
        terms: frozenset[str] = frozenset()
        if not text:
            notice = "Type some words to search for."
        if text and query.mode in ("keyword", "hybrid"):
            kr = gen.keyword.search(text, depth, query.date_from, query.date_to, query.sources)
            keyword_hits, terms = kr.hits, kr.terms
            if not terms:
                notice = "The query has no searchable words (only stop words or operators)."
                if query.mode == "hybrid":
                    notice += " Showing results by meaning only."
            elif kr.timed_out:
                notice = "The keyword search ran out of time; results may be incomplete."
        elif text:
            terms = gen.keyword.query_terms(text)
        if text and query.mode in ("semantic", "hybrid"):
            alive = gen.alive
            if filtered:
                mask = article_mask(
                    gen.dates,
                    gen.source_ids,
                    gen.source_names,
                    query.date_from,
                    query.date_to,
                    query.sources,
                )
                alive = alive & mask[gen.article_of]
            qvec = self._embedder.encode_query(text)
            semantic_hits = gen.vectors.search(qvec, depth, alive)
        if text:
            suggestion = gen.keyword.suggest(text)

        if query.mode == "keyword":
            scores = dict(keyword_hits)
        elif query.mode == "semantic":
            scores = dict(semantic_hits)
        else:
            scores = fuse(keyword_hits, semantic_hits, s.fusion, s.rrf_k, s.alpha)

        def article_of(r: int) -> int:
            return int(gen.article_of[r])

        groups = group(scores, article_of, s.paragraphs_per_article, s.article_score)
        if s.fusion_level == "article" and query.mode != "keyword" and semantic_hits:
            sims: list[tuple[int, float]] = []
            if s.article_vector:  # candidates only: they already respect filters and deletions
                cands = gen.article_of[[r for r, _ in keyword_hits + semantic_hits]]
                qvec = self._embedder.encode_query(text)  # cached: no second embedding
                sims = article_cosines(gen.article_vectors, qvec, cands)
            kw = keyword_hits if query.mode == "hybrid" else []
            art = fuse_articles(
                kw, semantic_hits, article_of, sims, s.fusion, s.rrf_k, s.alpha, s.article_score
            )
            groups = regroup(groups, art)
        groups = self._rerank(gen, groups, query)
        facets = facet_counts([g[0] for g in groups], gen.source_of, gen.date_of)
        groups, collapsed = _collapse_duplicates(groups, gen.duplicate_of)
        kw_rank = {r: (i, sc) for i, (r, sc) in enumerate(keyword_hits, start=1)}
        sem_rank = {r: (i, sc) for i, (r, sc) in enumerate(semantic_hits, start=1)}
        results = []
        for art_row, score, rows in groups[query.offset : query.offset + query.limit]:
            a = gen.articles[art_row]
            paras = []
            for r in rows:
                p = gen.paragraphs[r]
                krank, kscore = kw_rank.get(r, (None, None))
                srank, sscore = sem_rank.get(r, (None, None))
                paras.append(
                    ParagraphHit(
                        paragraph_id=p["id"],
                        text=p["text"],
                        highlighted=highlight(p["text"], terms),
                        keyword_rank=krank,
                        keyword_score=kscore,
                        semantic_rank=srank,
                        semantic_score=sscore,
                        score=scores[r],
                    )
                )
            results.append(
                ArticleHit(
                    article_id=a["id"],
                    title=a["title"],
                    date=a.get("date"),
                    source=a.get("source"),
                    url=a.get("url"),
                    score=score,
                    paragraphs=paras,
                    duplicates=[gen.articles[d]["id"] for d in collapsed.get(art_row, [])],
                )
            )
        took = (time.perf_counter() - t0) * 1000
        return Results(
            query.text, query.mode, len(groups), round(took, 2), results, notice, suggestion, facets
        )

    @staticmethod
    def _rerank(gen: Generation, groups: list, query: Query) -> list:
        """Apply the recency boost and the date sort to grouped articles."""
        if query.recency and groups:
            rows = np.array([g[0] for g in groups])
            ords = gen.ordinals
            newest = int(ords.max()) if len(ords) else 0
            factor = recency_factor(ords[rows], query.recency, newest)
            groups = [(a, sc * float(f), ps) for (a, sc, ps), f in zip(groups, factor, strict=True)]
            groups.sort(key=lambda g: (-g[1], g[0]))
        if query.sort == "date":
            groups = sorted(groups, key=lambda g: (-int(gen.dates[g[0]]), -g[1], g[0]))
        return groups


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
