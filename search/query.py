"""The query contract: request parameters → a validated :class:`search.models.Query`.

One parser for every front end: the page and the JSON API (``web/``) and the ``newsearch search``
command all call :func:`parse_query` with the running :class:`Settings`, so they accept and
reject exactly the same things, with the same limits. :func:`search_parameters` states the same
rules as OpenAPI parameter objects for the generated ``/api/openapi.json``: a rule changed here
changes the published document with it (tests/test_openapi.py runs schemathesis against both).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from search.config import Settings
from search.models import MODES, SORTS, Query
from search.syntax import parse_syntax

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_SOURCES",
    "MAX_SOURCE_CHARS",
    "RECENCY_RANGE",
    "QueryError",
    "parse_int",
    "parse_query",
    "search_parameters",
]

Args = Mapping[str, Any]  # a MultiDict, or a dict of str / list of str

BAD = "bad_parameter"
DEFAULT_LIMIT = 10
MAX_SOURCES = 20
MAX_SOURCE_CHARS = 200
RECENCY_RANGE = (1.0, 36_500.0)  # half-life in days: a day to a century
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: int() would also accept "٣", "+1", " 1_0 "
_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")  # no exponents, signs, nan or inf
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat alone allows "20190101"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class QueryError(ValueError):
    """A request parameter is missing or invalid; ``param`` names it (HTTP 400, CLI usage)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def _all(args: Args, name: str) -> list[str]:
    """Every value of ``name`` (a MultiDict may hold several; a plain dict one, or a list)."""
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        return list(getlist(name))
    value = args.get(name)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def _single(args: Args, name: str) -> str | None:
    """The one value of ``name``; a repeated parameter is allowed only if all copies agree."""
    values = _all(args, name)
    if not values:
        return None
    if any(v != values[0] for v in values[1:]):
        raise QueryError(BAD, f"{name} was given more than once with different values", name)
    return values[0]


def parse_int(args: Args, name: str, default: int, low: int, high: int) -> int:
    """An integer parameter in ``[low, high]``; empty or absent means ``default``."""
    raw = _single(args, name)
    if raw is None or raw == "":
        return default
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise QueryError(BAD, f"{name} must be an integer between {low} and {high}", name)
    return value


def _date(args: Args, name: str) -> str | None:
    """An ISO calendar date ``YYYY-MM-DD`` (empty or absent: None)."""
    raw = (_single(args, name) or "").strip()
    if not raw:
        return None
    try:
        if _ISO_DATE.fullmatch(raw):
            return date.fromisoformat(raw).isoformat()
    except ValueError:
        pass
    raise QueryError(BAD, f"{name} must be a real date written YYYY-MM-DD", name)


def _sources(args: Args) -> tuple[str, ...]:
    """The ``source`` values, blanks dropped and repeats merged, in the order given."""
    values = []
    for raw in _all(args, "source"):
        value = _CONTROL.sub(" ", raw).strip()
        if len(value) > MAX_SOURCE_CHARS:
            raise QueryError(BAD, f"source must be at most {MAX_SOURCE_CHARS} characters", "source")
        if value and value not in values:
            values.append(value)
    if len(values) > MAX_SOURCES:
        raise QueryError(BAD, f"source may be given at most {MAX_SOURCES} times", "source")
    return tuple(values)


def _recency(args: Args) -> float | None:
    """The recency half-life in days, or None (off) when empty or absent."""
    raw = (_single(args, "recency") or "").strip()
    if not raw:
        return None
    low, high = RECENCY_RANGE
    value = float(raw) if _DECIMAL.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        message = f"recency must be a number of days between {low:g} and {high:g}"
        raise QueryError(BAD, message, "recency")
    return value


def parse_query(args: Args, settings: Settings, *, require_text: bool = True) -> Query:
    """Validate ``q``, ``mode``, ``limit``, ``offset``, ``from``, ``to``, ``source``, ``sort``
    and ``recency`` into a :class:`Query`.

    With ``require_text=False`` (the page's empty form) a blank ``q`` gives a Query whose
    text is ``""``; every other parameter is still validated the same way.
    """
    raw = _single(args, "q")
    text = _CONTROL.sub(" ", raw or "").strip()
    if not text and require_text:
        raise QueryError(BAD, "q is required and must not be blank", "q")
    if len(text) > settings.max_query_chars:
        raise QueryError(BAD, f"q must be at most {settings.max_query_chars} characters", "q")

    mode = (_single(args, "mode") or "").strip().lower() or settings.mode
    if mode not in MODES:
        raise QueryError(BAD, f"mode must be one of {', '.join(MODES)}", "mode")

    limit = parse_int(args, "limit", min(DEFAULT_LIMIT, settings.max_limit), 1, settings.max_limit)
    offset = parse_int(args, "offset", 0, 0, settings.max_offset)

    date_from, date_to = _date(args, "from"), _date(args, "to")
    if date_from and date_to and date_from > date_to:
        raise QueryError(BAD, "from must not be later than to", "from")

    sort = (_single(args, "sort") or "").strip().lower() or "relevance"
    if sort not in SORTS:
        raise QueryError(BAD, f"sort must be one of {', '.join(SORTS)}", "sort")

    return Query(
        text=text,
        mode=mode,
        limit=limit,
        offset=offset,
        date_from=date_from,
        date_to=date_to,
        sources=_sources(args),
        sort=sort,
        recency=_recency(args),
    )


# --------------------------------------------------------------------------- the same, as OpenAPI

# What parse_query accepts for q after stripping: at least one character that is neither
# whitespace (Python's idea of it, so U+0085 and U+001C-U+001F too) nor a control code.
_VISIBLE = r"[^\s\x00-\x1f\x7f\x85]"
# recency: a half-life of 1 to 36500 days, written as _recency reads it (at most 6 digits, then
# at most 6 decimals; leading zeros allowed within those 6 digits; blank means off).
_DAYS = (
    r"(?:0{0,5}[1-9]|0{0,4}[1-9][0-9]|0{0,3}[1-9][0-9]{2}|0{0,2}[1-9][0-9]{3}"
    r"|0?(?:[12][0-9]{4}|3[0-5][0-9]{3}|36[0-4][0-9]{2}))(?:\.[0-9]{1,6})?"
    r"|0?36500(?:\.0{1,6})?"
)
RECENCY_PATTERN = rf"^\s*(?:{_DAYS})?\s*$"
_DATE = {
    "description": "Inclusive ISO date `YYYY-MM-DD` (blank: no bound).",
    "schema": {
        "anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "pattern": r"^\s*$"},
        ]
    },
}


def _ci(word: str) -> str:
    """A regex matching ``word`` in any letter case."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _choice(words: Sequence[str]) -> str:
    """``words`` in any case, with optional surrounding spaces (blank means the default)."""
    return rf"^\s*(?:{'|'.join(_ci(w) for w in words)})?\s*$"


def _optional(name: str, description: str, schema: dict[str, Any], **extra: Any) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema, **extra}  # fmt: skip


def int_parameter(name: str, description: str, default: int, low: int, high: int) -> dict:
    """The OpenAPI parameter :func:`parse_int` accepts with these bounds."""
    schema = {"type": "integer", "minimum": low, "maximum": high, "default": default}
    return _optional(name, description, schema)


def search_parameters(settings: Settings) -> list[dict[str, Any]]:
    """OpenAPI parameter objects for exactly what :func:`parse_query` accepts with ``settings``."""
    low, high = RECENCY_RANGE
    q_text = (
        'Query text. Words are OR-ed and ranked; `"a phrase"`, `-word` or `NOT word`, '
        "`AND`, `OR`, `title:word` and `prefix*` (3+ letters) are understood; `a/b` (words "
        "of 3+ letters, `Krone/Crown`) means either word; in a sentence typed all in capitals "
        "(4+ words) `AND`/`NOT` are words, not operators; expensive or "
        "broken syntax falls back to the plain words. Required (not blank) unless "
        "`sort=date`: then an empty or absent `q` gives the latest articles passing the "
        "filters, newest first (the front page)."
    )
    q_schema = {"type": "string", "maxLength": settings.max_query_chars}
    return [
        _optional("q", q_text, q_schema),
        _optional(
            "mode",
            f"Ranking: keyword (BM25F), semantic (embeddings) or hybrid (fused); default "
            f"{settings.mode}.",
            {"type": "string", "pattern": _choice(MODES), "example": "hybrid"},
        ),
        int_parameter(
            "limit",
            "Articles per page.",
            min(DEFAULT_LIMIT, settings.max_limit),
            1,
            settings.max_limit,
        ),
        int_parameter("offset", "Articles to skip (pagination).", 0, 0, settings.max_offset),
        {**_optional("from", "", {}), **_DATE},
        {
            **_optional("to", "", {}),
            **_DATE,
            "description": "Inclusive end date; not before `from`.",
        },
        _optional(
            "source",
            "Keep articles from any of these sources (repeat the parameter).",
            {
                "type": "array",
                "maxItems": MAX_SOURCES,
                "items": {"type": "string", "maxLength": MAX_SOURCE_CHARS},
            },
            style="form",
            explode=True,
        ),
        _optional(
            "sort",
            "relevance (default) or date (newest first).",
            {"type": "string", "pattern": _choice(SORTS), "example": "date"},
        ),
        _optional(
            "recency",
            f"Favour recent articles: a score half-life of {low:g} to {high:g} days (a decimal "
            "number, at most 6 decimals), counted back from the newest article; blank: off.",
            {"type": "string", "pattern": RECENCY_PATTERN, "example": "30"},
        ),
    ]


def meaning_text(text: str) -> str:
    """``text`` as the semantic leg reads it: :attr:`search.syntax.ParsedQuery.meaning`."""
    return parse_syntax(text).meaning
