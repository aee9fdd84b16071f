"""Validation of search request parameters, shared by the HTML page and the JSON API.

One function turns query-string arguments into a :class:`search.models.Query` or raises
:class:`ParamError`, so the page and the API can never disagree about what is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date

from search.config import Settings
from search.models import MODES, SORTS, Query

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_SOURCES",
    "MAX_SOURCE_CHARS",
    "RECENCY_RANGE",
    "ParamError",
    "parse_int",
    "parse_search_args",
]

BAD = "bad_parameter"
DEFAULT_LIMIT = 10
MAX_SOURCES = 20
MAX_SOURCE_CHARS = 200
RECENCY_RANGE = (1.0, 36_500.0)  # half-life in days: a day to a century
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: int() would also accept "٣", "+1", " 1_0 "
_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")  # no exponents, signs, nan or inf
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")  # fromisoformat alone allows "20190101"
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ParamError(ValueError):
    """A request parameter is missing or invalid; ``param`` names it (HTTP 400)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def _all(args: Mapping[str, str], name: str) -> list[str]:
    """Every value of ``name`` (a MultiDict may hold several; a plain dict at most one)."""
    getlist = getattr(args, "getlist", None)
    if getlist is not None:
        return list(getlist(name))
    return [args[name]] if name in args else []


def _single(args: Mapping[str, str], name: str) -> str | None:
    """The one value of ``name``; a repeated parameter is allowed only if all copies agree."""
    values = _all(args, name)
    if not values:
        return None
    if any(v != values[0] for v in values[1:]):
        raise ParamError(BAD, f"{name} was given more than once with different values", name)
    return values[0]


def parse_int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer parameter in ``[low, high]``; empty or absent means ``default``."""
    raw = _single(args, name)
    if raw is None or raw == "":
        return default
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise ParamError(BAD, f"{name} must be an integer between {low} and {high}", name)
    return value


def _date(args: Mapping[str, str], name: str) -> str | None:
    """An ISO calendar date ``YYYY-MM-DD`` (empty or absent: None)."""
    raw = (_single(args, name) or "").strip()
    if not raw:
        return None
    try:
        if _ISO_DATE.fullmatch(raw):
            return date.fromisoformat(raw).isoformat()
    except ValueError:
        pass
    raise ParamError(BAD, f"{name} must be a real date written YYYY-MM-DD", name)


def _sources(args: Mapping[str, str]) -> tuple[str, ...]:
    """The ``source`` values, blanks dropped and repeats merged, in the order given."""
    values = []
    for raw in _all(args, "source"):
        value = _CONTROL.sub(" ", raw).strip()
        if len(value) > MAX_SOURCE_CHARS:
            raise ParamError(BAD, f"source must be at most {MAX_SOURCE_CHARS} characters", "source")
        if value and value not in values:
            values.append(value)
    if len(values) > MAX_SOURCES:
        raise ParamError(BAD, f"source may be given at most {MAX_SOURCES} times", "source")
    return tuple(values)


def _recency(args: Mapping[str, str]) -> float | None:
    """The recency half-life in days, or None (off) when empty or absent."""
    raw = (_single(args, "recency") or "").strip()
    if not raw:
        return None
    low, high = RECENCY_RANGE
    value = float(raw) if _DECIMAL.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        message = f"recency must be a number of days between {low:g} and {high:g}"
        raise ParamError(BAD, message, "recency")
    return value


def parse_search_args(
    args: Mapping[str, str], settings: Settings, *, require_text: bool = True
) -> Query:
    """Validate ``q``, ``mode``, ``limit``, ``offset``, ``from``, ``to``, ``source``, ``sort``
    and ``recency`` into a :class:`Query`.

    With ``require_text=False`` (the page's empty form) a blank ``q`` gives a Query whose
    text is ``""``; every other parameter is still validated the same way.
    """
    raw = _single(args, "q")
    text = _CONTROL.sub(" ", raw or "").strip()
    if not text and require_text:
        raise ParamError(BAD, "q is required and must not be blank", "q")
    if len(text) > settings.max_query_chars:
        raise ParamError(BAD, f"q must be at most {settings.max_query_chars} characters", "q")

    mode = (_single(args, "mode") or "").strip().lower() or settings.mode
    if mode not in MODES:
        raise ParamError(BAD, f"mode must be one of {', '.join(MODES)}", "mode")

    limit = parse_int(args, "limit", min(DEFAULT_LIMIT, settings.max_limit), 1, settings.max_limit)
    offset = parse_int(args, "offset", 0, 0, settings.max_offset)

    date_from, date_to = _date(args, "from"), _date(args, "to")
    if date_from and date_to and date_from > date_to:
        raise ParamError(BAD, "from must not be later than to", "from")

    sort = (_single(args, "sort") or "").strip().lower() or "relevance"
    if sort not in SORTS:
        raise ParamError(BAD, f"sort must be one of {', '.join(SORTS)}", "sort")

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
