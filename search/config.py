"""Settings: frozen, validated dataclasses with defaults, overridable by ``NEWSEARCH_*`` variables.

Split by concern, flat to read (``settings.fusion``):

* :class:`IndexSettings` — what shapes an index (paragraph sizing, model, embedding backend,
  title boost, duplicate threshold). A build writes them into the manifest; ``add`` and
  ``eval`` read them back from there, so an index is always extended the way it was built.
* :class:`SearchSettings` — ranking, the retrieval backend, request limits.
* :class:`ServeSettings` — the server.

:class:`Settings` is all three plus where the index lives. Every value is checked when a
``Settings`` is made (enums are ``Literal``, numbers have ranges): a bad ``NEWSEARCH_FUSION``
stops ``newsearch serve`` at start-up with one line, instead of failing every search.
Settings are passed in (to the engine, builder, web app), never read from a global.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass

__all__ = [
    "FORMAT_VERSION",
    "MODEL_DIM",
    "MODEL_NAME",
    "IndexSettings",
    "SearchSettings",
    "ServeSettings",
    "Settings",
    "SettingsError",
    "unknown_variables",
]

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MODEL_DIM = 384
FORMAT_VERSION = 2  # 2: duplicates.json, tombstones, counts.rows

EmbedBackend = Literal["torch", "openvino", "openvino-int8"]
Positive = Annotated[int, Field(ge=1)]


class SettingsError(ValueError):
    """A setting has a value newsearch cannot run with; the message is one line."""


@dataclass(frozen=True)
class IndexSettings:
    """What shapes an index: written to the manifest, read back by ``add`` and ``eval``."""

    model_name: str = MODEL_NAME
    # Paragraph sizing, in the model's word pieces (the model truncates at 256).
    max_tokens: Annotated[int, Field(ge=8, le=512)] = 200
    min_tokens: Annotated[int, Field(ge=0)] = 12
    # "openvino-int8" (NNCF static int8: ~6x torch's speed, -0.5% nDCG@10 on TIME dev),
    # "openvino" (fp32) or "torch" (fp32 SentenceTransformer, the reference); see search/embed.
    embed_backend: EmbedBackend = "openvino-int8"
    embed_title: bool = False  # prepend the article title to each embedded paragraph
    title_boost: Annotated[float, Field(gt=0, le=100)] = 2.0
    # Articles whose mean paragraph vectors have cosine ≥ this are one story (see README).
    duplicate_threshold: Annotated[float, Field(gt=0, le=1.0)] = 0.95

    @model_validator(mode="after")
    def _sizes_agree(self) -> IndexSettings:
        if self.min_tokens > self.max_tokens:
            raise ValueError(f"min_tokens {self.min_tokens} > max_tokens {self.max_tokens}")
        return self


@dataclass(frozen=True)
class SearchSettings:
    """Ranking, the retrieval backend and request limits."""

    backend: Literal["embedded", "milvus"] = "embedded"  # search/backends/
    # backend "milvus": a .db file (Milvus Lite, in-process) or http://host:19530 (a server).
    milvus_uri: str = ""
    # The alias readers follow; every build makes new collections and switches it.
    milvus_collection: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,150}$")] = (
        "newsearch"
    )
    milvus_index: Literal["HNSW", "FLAT"] = "HNSW"  # the dense index (FLAT: exact scan)
    mode: Literal["keyword", "semantic", "hybrid"] = "hybrid"
    fusion: Literal["rrf", "weighted"] = "rrf"
    rrf_k: Positive = 10  # article-level RRF (bench/relevance.py, README "Relevance")
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.5  # weight of the semantic leg (weighted)
    depth: Positive = 400  # candidate paragraphs for the latency benches' keyword leg (bench/)
    # Hybrid RRF's third vote ranks this many paragraphs per leg, fused across the legs (an
    # article scores by its two best; 0: no passage vote). README "Relevance".
    passage_depth: Annotated[int, Field(ge=0, le=100_000)] = 400
    # Its fourth vote: the same depth of paragraphs by BM25F alone, an article scored by its
    # best plus this times its second best (off: three votes). README "Relevance".
    keyword_paragraph_vote: bool = True
    keyword_paragraph_second: Annotated[float, Field(ge=0, le=1)] = 0.5
    paragraphs_per_article: Positive = 3
    # Keyword match set: an article holds all words of a one- or two-word query and this
    # fraction of a longer one's, rounded down (search/matchset.py; bench/matchset.py).
    msm_fraction: Annotated[float, Field(ge=0, le=1)] = 0.5
    # The semantic leg ranks an article by its best paragraph's cosine plus this times its
    # second best (bench/relevance.py: 0 is best on TIME, 0.5 on the Reuters topics).
    semantic_second: Annotated[float, Field(ge=0, le=1)] = 0.35
    # The same for a query of one or two words (a topic, search/matchset.py SHORT_QUERY): a
    # second paragraph close to "gold" says the article is about gold (README "Relevance").
    semantic_second_short: Annotated[float, Field(ge=0, le=1)] = 1.0
    # Related stories are listed on the article page only when their article cosine is ≥
    # this (README "The page"; measured with bench/related.py on Wikinews, BBC and Reuters).
    related_threshold: Annotated[float, Field(ge=-1.0, le=1.0)] = 0.65
    # Limits on requests.
    max_limit: Annotated[int, Field(ge=1, le=10_000)] = 100
    max_offset: Annotated[int, Field(ge=0)] = 10_000
    max_query_chars: Annotated[int, Field(ge=1, le=100_000)] = 1_000
    search_time_budget: Annotated[float, Field(gt=0)] = 1.5  # seconds for the keyword leg
    # "int8": a shortlist from an int8 copy of the vectors, rescored exactly (search/vectors.py);
    # "exact": the whole fp32 matrix per query.
    vector_scan: Literal["int8", "exact"] = "int8"

    @model_validator(mode="after")
    def _backend_located(self) -> SearchSettings:
        if self.backend == "milvus" and not self.milvus_uri:
            raise ValueError(
                "backend milvus needs milvus_uri (--milvus-uri or NEWSEARCH_MILVUS_URI)"
            )
        return self


@dataclass(frozen=True)
class ServeSettings:
    # Waitress worker threads. Searching is CPU-bound (2 cores, the GIL) and waitress does the
    # socket I/O itself, so more threads add queueing and per-thread memory, not throughput.
    serve_threads: Annotated[int, Field(ge=1, le=256)] = 4
    # Waitress limits for a hostile network (web/serve.py, README "Deploying"): connections
    # open at once, seconds a client may take to send one whole request, seconds a connection
    # may sit idle, and the largest request body (and header block) accepted; bigger → 413.
    serve_connection_limit: Annotated[int, Field(ge=10, le=100_000)] = 500
    serve_request_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    serve_idle_seconds: Annotated[float, Field(gt=0, le=3600)] = 30.0
    max_request_bytes: Annotated[int, Field(ge=4096)] = 64 * 1024


INDEX_FIELDS = tuple(f.name for f in fields(IndexSettings))
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings(ServeSettings, SearchSettings, IndexSettings):
    """Everything tunable about newsearch, with measured defaults (see README)."""

    index_dir: Path = Path("index")
    embed_batch_size: Positive = 64
    # Where OpenVINO exports are cached, once per machine ("": ~/.cache/newsearch/models).
    model_cache: str = ""

    @property
    def index_shape(self) -> IndexSettings:
        """The index-shaping group of these settings."""
        return IndexSettings(**{k: getattr(self, k) for k in INDEX_FIELDS})

    def shaped_like(self, shape: IndexSettings) -> Settings:
        """These settings with the index-shaping group replaced by ``shape`` (an index's own)."""
        return replace(self, **asdict(shape))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, then ``NEWSEARCH_<FIELD>`` environment variables, then ``overrides``.

        Raises SettingsError, naming the variable, when a value is not allowed.
        """
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        source: dict[str, str] = {}
        defaults = cls()
        for f in fields(cls):
            name = f"NEWSEARCH_{f.name.upper()}"
            raw = env.get(name)
            if raw is None:
                continue
            source[f.name] = name
            if isinstance(getattr(defaults, f.name), bool):
                low = raw.strip().lower()
                if low not in _TRUE | _FALSE:
                    raise SettingsError(
                        f"bad setting: {name}={raw!r}: expected 1/0, true/false, yes/no, on/off"
                    )
                values[f.name] = low in _TRUE
            else:
                values[f.name] = raw.strip()
        values.update({k: v for k, v in overrides.items() if v is not None})
        for k in overrides:
            source.setdefault(k, k)
        return cls.checked(source, **values)

    @classmethod
    def checked(cls, source: dict[str, str] | None = None, **values: Any) -> Settings:
        """``Settings(**values)``, or SettingsError with one line naming what is wrong."""
        try:
            return cls(**values)
        except ValidationError as e:
            raise SettingsError(describe(e, source or {}, values)) from None
        except TypeError as e:  # an unknown field
            raise SettingsError(str(e)) from None


# NEWSEARCH_ variables that are no setting on purpose (read by the tests, not by newsearch).
NOT_SETTINGS = frozenset({"NEWSEARCH_SCREENSHOTS"})


def unknown_variables(env: dict[str, str] | None = None) -> list[str]:
    """One line per ``NEWSEARCH_*`` variable that names no setting, which ``from_env`` would
    otherwise ignore without a word (``NEWSEARCH_FUSON=weighted`` changes nothing), with the
    setting it is closest to."""
    env = dict(os.environ if env is None else env)
    known = [f"NEWSEARCH_{f.name.upper()}" for f in fields(Settings)]
    lines = []
    for name in sorted(env):
        if not name.startswith("NEWSEARCH_") or name in known or name in NOT_SETTINGS:
            continue
        near = difflib.get_close_matches(name, known, n=1, cutoff=0.75)
        hint = f"; did you mean {near[0]}?" if near else ""
        lines.append(f"{name} is not a newsearch setting, ignored{hint}")
    return lines


def describe(e: ValidationError, source: dict[str, str], values: dict[str, Any]) -> str:
    """One line for a settings validation error: which setting, what was given, what is allowed."""
    parts = []
    for err in e.errors(include_url=False):
        loc = ".".join(str(x) for x in err["loc"]) or "settings"
        where = source.get(loc, loc)
        got = f"={values[loc]!r}" if loc in values else ""
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}{got}: {msg}")
    return "bad setting: " + "; ".join(parts)
