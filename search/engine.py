"""The one public façade: ``Engine.open(settings).search(Query) -> Results``.

The web app and the CLI talk only to this class, so page, API and terminal never disagree.
An engine holds one generation; it notices a newly committed one (CURRENT changed) on the next
search and switches to it without failing a request; a damaged generation is reported and the
last good one keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from . import store
from .config import Settings
from .fusion import fuse, group
from .generation import Generation
from .highlight import highlight
from .models import ArticleHit, ParagraphHit, Query, Results
from .store import IndexCorrupt, IndexNotReady
from .vectors import Embedder, load_embedder

__all__ = ["Engine", "IndexNotReady", "IndexCorrupt"]
log = logging.getLogger(__name__)
RELOAD_CHECK_SECONDS = 1.0


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
        embedder = embedder or load_embedder(settings.model_name, settings.embed_batch_size)
        if embedder.dimension != gen.manifest["dimension"]:
            raise IndexCorrupt(f"{gen.path}: dimension {gen.manifest['dimension']} != model's")
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
                    self._gen = Generation.open(Path(self.settings.index_dir) / name, self.settings)
                    log.info("switched to %s", name)
                except (IndexCorrupt, OSError) as e:
                    self._failed = name
                    log.error("keeping %s: new generation unusable: %s", self._gen.path.name, e)
        return self._gen

    def health(self) -> dict[str, Any]:
        gen = self.generation
        return {
            "status": "ok",
            "generation": gen.path.name,
            "articles": len(gen.articles),
            "paragraphs": len(gen.paragraphs),
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
        return {**gen.articles[row], "paragraphs": paras}

    def search(self, query: Query) -> Results:
        t0 = time.perf_counter()
        s = self.settings
        gen = self.generation
        depth = max(s.depth, 3 * (query.offset + query.limit))
        text = query.text.strip()
        keyword_hits: list[tuple[int, float]] = []
        semantic_hits: list[tuple[int, float]] = []
        notice = None
        if query.mode in ("keyword", "hybrid") and text:
            kr = gen.keyword.search(text, depth)
            keyword_hits, terms = kr.hits, kr.terms
            if not terms:
                notice = "The query has no searchable words (only stop words or operators)."
                if query.mode == "hybrid":
                    notice += " Showing results by meaning only."
            elif kr.timed_out:
                notice = "The keyword search ran out of time; results may be incomplete."
        else:
            terms = gen.keyword.query_terms(text) if text else frozenset()
        if query.mode in ("semantic", "hybrid") and text:
            qvec = self._embedder.encode_query(text)
            semantic_hits = gen.vectors.search(qvec, depth)
        if not text:
            notice = "Type some words to search for."

        if query.mode == "keyword":
            scores = dict(keyword_hits)
        elif query.mode == "semantic":
            scores = dict(semantic_hits)
        else:
            scores = fuse(keyword_hits, semantic_hits, s.fusion, s.rrf_k, s.alpha)
        groups = group(
            scores, lambda r: int(gen.article_of[r]), s.paragraphs_per_article, s.article_score
        )
        kw_rank = {r: (i, sc) for i, (r, sc) in enumerate(keyword_hits, start=1)}
        sem_rank = {r: (i, sc) for i, (r, sc) in enumerate(semantic_hits, start=1)}
        results = []
        for art_row, score, rows in groups[query.offset : query.offset + query.limit]:
            a = gen.articles[art_row]
            paras = []
            for r in rows:
                p = gen.paragraphs[r]
                kr_, ks = kw_rank.get(r, (None, None))
                sr, ss = sem_rank.get(r, (None, None))
                paras.append(
                    ParagraphHit(
                        paragraph_id=p["id"],
                        text=p["text"],
                        highlighted=highlight(p["text"], terms),
                        keyword_rank=kr_,
                        keyword_score=ks,
                        semantic_rank=sr,
                        semantic_score=ss,
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
                )
            )
        took = (time.perf_counter() - t0) * 1000
        return Results(query.text, query.mode, len(groups), round(took, 2), results, notice)
