"""One committed generation, opened for reading: metadata, paragraphs, vectors, keyword index.

The files and their records are described (and written) by :mod:`search.layout`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .config import IndexSettings, Settings
from .facets import date_number, date_ordinal
from .keyword import KeywordIndex
from .layout import (
    ARTICLES,
    DUPLICATES,
    PARAGRAPHS,
    POSTINGS,
    VECTORS,
    WHOOSH,
    check_compatible,
    index_shape,
    read_jsonl,
)
from .related import article_vectors
from .rowfile import JsonlRecords
from .store import IndexCorrupt, read_manifest
from .vectors import VectorStore

__all__ = ["Generation"]


@dataclass
class Generation:
    path: Path
    manifest: dict[str, Any]
    articles: list[dict[str, Any]]
    paragraphs: JsonlRecords  # row -> {id, article, text, hash}, parsed when asked for
    article_of: np.ndarray  # paragraph row -> article row
    vectors: VectorStore
    keyword: KeywordIndex
    article_index: dict[str, int]  # live article id -> row
    duplicate_groups: list[list[int]]

    @classmethod
    def open(cls, path: Path, settings: Settings, verify: bool = True) -> Generation:
        manifest = read_manifest(path, verify=verify)
        check_compatible(manifest, settings, path)
        try:
            articles = read_jsonl(path / ARTICLES)
            paragraphs = JsonlRecords(path / PARAGRAPHS)
            article_of = paragraphs.int_field("article").astype(np.int32)
            vectors = VectorStore.load(
                path / VECTORS, manifest["dimension"], scan=settings.vector_scan
            )
            keyword = KeywordIndex(path / WHOOSH, settings.search_time_budget, path / POSTINGS)
            dups = json.loads((path / DUPLICATES).read_text(encoding="utf-8"))["groups"]
        except (OSError, ValueError, KeyError) as e:
            raise IndexCorrupt(f"{path}: cannot open ({e})") from e
        n = len(paragraphs)
        deleted = np.array([bool(a.get("deleted")) for a in articles], dtype=bool)
        live_rows = int((~deleted[article_of]).sum()) if n else 0
        if not (len(vectors) == n == manifest["counts"]["rows"]) or keyword.doc_count != live_rows:
            raise IndexCorrupt(
                f"{path}: rows misaligned (paragraphs {n}, vectors {len(vectors)}, "
                f"keyword {keyword.doc_count} of {live_rows} live)"
            )
        index = {a["id"]: i for i, a in enumerate(articles) if not a.get("deleted")}
        return cls(path, manifest, articles, paragraphs, article_of, vectors, keyword, index, dups)

    @property
    def shape(self) -> IndexSettings:
        """The settings this generation was built with (from its manifest)."""
        return index_shape(self.manifest)

    def close(self) -> None:
        self.keyword.close()

    def prepare(self) -> None:
        """Build what the first search would otherwise pay for (~0.6 s at 100k paragraphs):
        keyword scorer arrays, spelling lexicon, int8 vector scan, live-row mask."""
        self.keyword.prepare()
        _ = self.alive
        # ~0.35 s at 100k rows; searches meanwhile use the exact scan (same results, slower).
        threading.Thread(target=self.vectors.prepare, name="int8-scan", daemon=True).start()

    # Derived arrays, computed once per generation on first use.
    @cached_property
    def article_alive(self) -> np.ndarray:
        return np.array([not a.get("deleted") for a in self.articles], dtype=bool)

    @cached_property
    def alive(self) -> np.ndarray:
        """Paragraph rows that belong to live articles."""
        return self.article_alive[self.article_of]

    @cached_property
    def dates(self) -> np.ndarray:
        return np.array([date_number(a.get("date")) for a in self.articles], dtype=np.int64)

    @cached_property
    def ordinals(self) -> np.ndarray:
        return np.array([date_ordinal(a.get("date")) for a in self.articles], dtype=np.int64)

    @cached_property
    def source_of(self) -> list[str | None]:
        return [a.get("source") for a in self.articles]

    @cached_property
    def date_of(self) -> list[str | None]:
        return [a.get("date") for a in self.articles]

    @cached_property
    def source_names(self) -> list[str]:
        """Sources of live articles (a source whose articles were all deleted is gone)."""
        return sorted(
            {a["source"] for a in self.articles if a.get("source") and not a.get("deleted")}
        )

    @cached_property
    def source_ids(self) -> np.ndarray:
        ids = {s: i for i, s in enumerate(self.source_names)}
        return np.array([ids.get(a.get("source") or "", -1) for a in self.articles], np.int32)

    @cached_property
    def article_vectors(self) -> np.ndarray:
        out = article_vectors(self.vectors.matrix, self.article_of, len(self.articles))
        self.vectors.release()  # read once: not kept mapped in the process
        return out

    @cached_property
    def duplicate_of(self) -> dict[int, list[int]]:
        """Article row → the other rows of its near-duplicate group."""
        out: dict[int, list[int]] = {}
        for g in self.duplicate_groups:
            for r in g:
                out[r] = [x for x in g if x != r]
        return out

    def live_count(self) -> tuple[int, int]:
        """(articles, paragraphs) that searches can return."""
        return int(self.article_alive.sum()), int(self.alive.sum())
