"""Settings: one frozen dataclass with defaults, overridable by ``NEWSEARCH_*`` variables.

Settings are passed in (to the engine, builder, web app), never read from a global.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_DIM = 384
FORMAT_VERSION = 2  # 2: duplicates.json, tombstones, counts.rows


@dataclass(frozen=True)
class Settings:
    """Everything tunable about newsearch, with measured defaults (see README)."""

    index_dir: Path = Path("index")
    model_name: str = MODEL_NAME
    # Paragraph sizing, in the model's word pieces (the model truncates at 256).
    max_tokens: int = 200
    min_tokens: int = 12
    embed_batch_size: int = 64
    # "torch" (fp32 SentenceTransformer, the reference), "openvino" (fp32) or "openvino-int8"
    # (NNCF static int8, exported once into <index_dir>/models); see search/vectors.py.
    embed_backend: str = "torch"
    embed_title: bool = False  # prepend the article title to each embedded paragraph
    # Ranking.
    mode: str = "hybrid"
    fusion: str = "rrf"  # "rrf" or "weighted"
    rrf_k: int = 60
    alpha: float = 0.5  # weight of the semantic leg in the weighted sum
    depth: int = 400  # candidate paragraphs taken from each leg
    paragraphs_per_article: int = 3
    article_score: str = "sum2"  # "max" or "sum2" (best paragraph plus half the second)
    # "paragraph": fuse the legs' paragraph rankings, then group into articles; "article":
    # group each leg into articles first, then fuse the article rankings (search/fusion.py).
    fusion_level: str = "paragraph"
    # With fusion_level="article", semantic and hybrid also fuse the cosine of the query to each
    # candidate article's mean paragraph vector. Off: +0.03 nDCG@10 on TIME, -0.08 on the
    # Reuters check (bench/relevance.py).
    article_vector: bool = False
    title_boost: float = 2.0
    # Articles whose mean paragraph vectors have cosine ≥ this are one story (see README).
    duplicate_threshold: float = 0.95
    # Limits on requests.
    max_limit: int = 100
    max_offset: int = 10_000
    max_query_chars: int = 1_000
    search_time_budget: float = 1.5  # seconds for the keyword leg
    # Waitress worker threads. Searching is CPU-bound (2 cores, the GIL) and waitress does the
    # socket I/O itself, so more threads add queueing and per-thread memory, not throughput.
    serve_threads: int = 4

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``NEWSEARCH_<FIELD>`` environment variables, then ``overrides``."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"NEWSEARCH_{f.name.upper()}")
            if raw is None:
                continue
            default = getattr(cls, f.name)
            if isinstance(default, Path):
                values[f.name] = Path(raw)
            elif isinstance(default, bool):
                values[f.name] = raw.lower() in {"1", "true", "yes", "on"}
            else:
                values[f.name] = type(default)(raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "index_dir" in values:
            values["index_dir"] = Path(values["index_dir"])
        return replace(cls(), **values)
