"""Plain data records that flow through the pipeline and out of the engine."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

from .progress import plural

# Ingest refuses ids that could be indexed but not opened from a link (search.records.id_problem).
MAX_ARTICLE_ID_CHARS = 1_000


@dataclass(frozen=True)
class Article:
    """One parsed news article; ``paragraphs`` are raw paragraphs as the source split them."""

    id: str
    title: str
    paragraphs: tuple[str, ...]
    date: str | None = None  # ISO date "YYYY-MM-DD" or None
    source: str | None = None
    url: str | None = None
    dateline: str | None = None


@dataclass(frozen=True)
class Paragraph:
    """A model-sized piece of an article: id ``"<article_id>:<n>"``, ``n`` counting from 0."""

    id: str
    article_id: str
    n: int
    text: str


Record = tuple[int | None, dict[str, Any]]  # a raw input record: (line or item number, fields)


@dataclass(frozen=True)
class Problem:
    """A record that could not be ingested: where it is and why."""

    file: str
    line: int | None
    reason: str
    skipped: bool = True  # False: only a warning, the article was still indexed (e.g. date dropped)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


MODES = ("keyword", "semantic", "hybrid")
SORTS = ("relevance", "date")
Mode = Literal["keyword", "semantic", "hybrid"]


@dataclass(frozen=True)
class Query:
    """A search request as the engine sees it (already validated).

    ``date_from``/``date_to`` are inclusive ISO dates; ``sources`` keeps articles from any of
    them; ``recency`` is a half-life in days (None: off) measured back from the newest article
    in the index, since news corpora are rarely from today.
    """

    text: str
    mode: str = "hybrid"
    limit: int = 10
    offset: int = 0
    date_from: str | None = None
    date_to: str | None = None
    sources: tuple[str, ...] = ()
    sort: str = "relevance"
    recency: float | None = None


@dataclass
class ParagraphHit:
    """A matching paragraph with the evidence from each leg (None when a leg missed it)."""

    paragraph_id: str
    text: str
    highlighted: str
    keyword_rank: int | None = None
    keyword_score: float | None = None
    semantic_rank: int | None = None
    semantic_score: float | None = None
    score: float = 0.0


@dataclass
class ArticleHit:
    article_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    score: float
    paragraphs: list[ParagraphHit] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # near-copies collapsed into this one


@dataclass(frozen=True)
class Hint:
    """Something to try when a search found nothing, with what it would find.

    ``kind``: ``spelling`` (search ``text`` instead), ``filters`` (drop the date and source
    filters), ``operators`` (drop quotes, ``title:`` and ``-word``), ``mode`` (search in
    ``mode``), ``words`` (general advice). ``total``: articles the change would find, when known.
    """

    kind: Literal["spelling", "filters", "operators", "mode", "words"]
    message: str
    text: str | None = None
    mode: Mode | None = None
    total: int | None = None


@dataclass(frozen=True)
class SourceCount:
    value: str  # the source as the index spells it
    count: int


@dataclass(frozen=True)
class PeriodCount:
    period: str  # a month, "YYYY-MM"
    count: int


@dataclass(frozen=True)
class UnknownCount:
    """Listed articles with no value for a facet (no source, no date)."""

    facet: Literal["source", "date"]
    count: int


@dataclass
class Facets:
    """Counts over the articles listed (near-copies folded), each facet counted without its
    own filter (multi-select: a chosen source or month leaves the others to switch to)."""

    source: list[SourceCount] = field(default_factory=list)  # most first (the top 20)
    date: list[PeriodCount] = field(default_factory=list)  # chronological
    unknown: list[UnknownCount] = field(default_factory=list)  # only non-zero counts


@dataclass
class Results:
    query: str
    mode: Mode
    total: int
    took_ms: float
    results: list[ArticleHit] = field(default_factory=list)
    notice: str | None = None  # e.g. "query had no searchable words"
    suggestion: str | None = None  # "did you mean", from the index's own vocabulary
    facets: Facets = field(default_factory=Facets)
    hints: list[Hint] = field(default_factory=list)  # what to try when nothing matched

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(frozen=True)
class ArticleParagraph:
    paragraph_id: str
    text: str


@dataclass
class ArticleView:
    """An article with all of its paragraphs, as ``Engine.article`` returns it."""

    id: str
    title: str
    date: str | None
    source: str | None
    url: str | None  # as the source gave it, not validated: check the scheme before linking
    dateline: str | None
    paragraphs: list[ArticleParagraph] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)  # ids of its near-copies

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(frozen=True)
class RelatedArticle:
    article_id: str
    title: str
    date: str | None
    source: str | None
    url: str | None
    score: float


@dataclass
class Related:
    """The articles nearest in meaning to ``article_id``, nearest first."""

    article_id: str
    results: list[RelatedArticle] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass(frozen=True)
class Health:
    status: Literal["ok"]
    generation: str  # the snapshot being served
    articles: int
    paragraphs: int
    model: str
    dimension: int
    built_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return plain(self)


@dataclass
class BuildReport:
    """What a build, ``add`` or ``delete`` did (``newsearch index`` prints ``summary()``)."""

    articles: int = 0
    paragraphs: int = 0
    skipped: int = 0
    warnings: int = 0
    embedded: int = 0
    reused: int = 0
    keyword_reused: bool = False
    seconds: float = 0.0
    generation: str | None = None
    problems: list[Problem] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"indexed {plural(self.articles, 'article')}, {plural(self.paragraphs, 'paragraph')} "
            f"({self.embedded:,} embedded, {self.reused:,} reused); "
            f"skipped {plural(self.skipped, 'record')}, {plural(self.warnings, 'warning')}; "
            f"{self.seconds:.1f} s → {self.generation}"
        )


_FIELDS: dict[type, tuple[str, ...]] = {}
_AS_IS = (str, int, float, bool, type(None))


def plain(obj: Any) -> Any:
    """``dataclasses.asdict(obj)`` (the same dicts, lists and values), ~3x faster on a page of
    results: field names looked up once per class, and str/int/float/bool/None returned as
    they are (``asdict`` deep-copies them, which returns them as they are)."""
    kind = type(obj)
    if kind in _AS_IS:
        return obj
    if kind is list:
        return [plain(v) for v in obj]
    names = _FIELDS.get(kind)
    if names is None and is_dataclass(obj) and not isinstance(obj, type):
        names = _FIELDS[kind] = tuple(f.name for f in fields(obj))
    if names is not None:
        return {n: plain(getattr(obj, n)) for n in names}
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):  # a named tuple, as asdict does
        return kind(*[plain(v) for v in obj])
    if isinstance(obj, (list, tuple)):
        return kind(plain(v) for v in obj)
    if isinstance(obj, dict):
        return kind((plain(k), plain(v)) for k, v in obj.items())
    return copy.deepcopy(obj)
