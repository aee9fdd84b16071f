"""Retrieval backends: where the engine's keyword and semantic legs come from.

``open_backend(settings)`` opens the one ``settings.backend`` names; the contract is
:mod:`search.backends.base`.
"""

from __future__ import annotations

from ..config import Settings
from .base import (
    ArticleKeyword,
    ArticleRecord,
    Catalog,
    Filters,
    KeywordLeg,
    Leg,
    ParagraphRecord,
    RetrievalBackend,
    SemanticEvidence,
    Stats,
    Unsupported,
)

__all__ = [
    "ArticleKeyword",
    "ArticleRecord",
    "Catalog",
    "Filters",
    "KeywordLeg",
    "Leg",
    "ParagraphRecord",
    "RetrievalBackend",
    "SemanticEvidence",
    "Stats",
    "Unsupported",
    "open_backend",
]


def open_backend(settings: Settings) -> RetrievalBackend:
    """The backend ``settings`` asks for, on its live snapshot (IndexNotReady/IndexCorrupt)."""
    backend = getattr(settings, "backend", "embedded")
    if backend == "embedded":
        from .embedded import open_embedded

        return open_embedded(settings)
    if backend == "milvus":
        from .milvus import open_milvus  # pymilvus only when asked for

        return open_milvus(settings)
    raise ValueError(f"unknown retrieval backend {backend!r}")
