"""One committed generation, opened for reading: metadata, paragraphs, vectors, keyword index.

Files (all plain and inspectable)::

    manifest.json     format version, model + dimension, counts, build time, input fingerprint,
                      per-file sha256 (checked on open)
    articles.jsonl    one article a line; row order = article number
    paragraphs.jsonl  {"id", "article", "text", "hash"}; row i = vectors.npy row i = Whoosh "row"
    vectors.npy       float32 (N, dim), L2-normalized
    whoosh/           keyword index
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .config import FORMAT_VERSION, Settings
from .keyword import KeywordIndex
from .store import IndexCorrupt, read_manifest
from .vectors import VectorStore

ARTICLES = "articles.jsonl"
PARAGRAPHS = "paragraphs.jsonl"
VECTORS = "vectors.npy"
WHOOSH = "whoosh"


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def check_compatible(manifest: dict[str, Any], settings: Settings, where: Path) -> None:
    """Refuse an index built with another format or model: its vectors would be meaningless."""
    if manifest.get("format_version") != FORMAT_VERSION:
        raise IndexCorrupt(
            f"{where}: index format {manifest.get('format_version')} != {FORMAT_VERSION}; "
            "rebuild it with `newsearch index`"
        )
    if manifest.get("model") != settings.model_name:
        raise IndexCorrupt(
            f"{where}: built with model {manifest.get('model')!r}, this engine uses "
            f"{settings.model_name!r}; rebuild it with `newsearch index`"
        )


@dataclass
class Generation:
    path: Path
    manifest: dict[str, Any]
    articles: list[dict[str, Any]]
    paragraphs: list[dict[str, Any]]
    article_of: np.ndarray  # paragraph row -> article row
    vectors: VectorStore
    keyword: KeywordIndex
    article_index: dict[str, int]

    @classmethod
    def open(cls, path: Path, settings: Settings, verify: bool = True) -> Generation:
        manifest = read_manifest(path, verify=verify)
        check_compatible(manifest, settings, path)
        try:
            articles = read_jsonl(path / ARTICLES)
            paragraphs = read_jsonl(path / PARAGRAPHS)
            vectors = VectorStore.load(path / VECTORS, manifest["dimension"])
            keyword = KeywordIndex(path / WHOOSH, settings.search_time_budget)
        except (OSError, ValueError, KeyError) as e:
            raise IndexCorrupt(f"{path}: cannot open ({e})") from e
        n = len(paragraphs)
        if not (len(vectors) == n == keyword.doc_count == manifest["counts"]["paragraphs"]):
            raise IndexCorrupt(
                f"{path}: rows misaligned (paragraphs {n}, vectors {len(vectors)}, "
                f"keyword {keyword.doc_count})"
            )
        article_of = np.fromiter((p["article"] for p in paragraphs), dtype=np.int32, count=n)
        index = {a["id"]: i for i, a in enumerate(articles)}
        return cls(path, manifest, articles, paragraphs, article_of, vectors, keyword, index)

    def close(self) -> None:
        self.keyword.close()
