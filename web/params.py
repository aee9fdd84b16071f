"""Validation of search request parameters, shared by the HTML page and the JSON API.

One function turns query-string arguments into a :class:`search.models.Query` or raises
:class:`ParamError`, so the page and the API can never disagree about what is valid.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from search.config import Settings
from search.models import MODES, Query

__all__ = ["DEFAULT_LIMIT", "ParamError", "parse_search_args"]

BAD = "bad_parameter"
DEFAULT_LIMIT = 10
_DIGITS = re.compile(r"[0-9]{1,9}")  # ASCII only: int() would also accept "٣", "+1", " 1_0 "
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ParamError(ValueError):
    """A request parameter is missing or invalid; ``param`` names it (HTTP 400)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def _single(args: Mapping[str, str], name: str) -> str | None:
    """The one value of ``name``; a repeated parameter is allowed only if all copies agree."""
    getlist = getattr(args, "getlist", None)
    values = getlist(name) if getlist is not None else ([args[name]] if name in args else [])
    if not values:
        return None
    if any(v != values[0] for v in values[1:]):
        raise ParamError(BAD, f"{name} was given more than once with different values", name)
    return values[0]


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    """An integer parameter in ``[low, high]``; empty or absent means ``default``."""
    raw = _single(args, name)
    if raw is None or raw == "":
        return default
    value = int(raw) if _DIGITS.fullmatch(raw) else None
    if value is None or not low <= value <= high:
        raise ParamError(BAD, f"{name} must be an integer between {low} and {high}", name)
    return value


def parse_search_args(
    args: Mapping[str, str], settings: Settings, *, require_text: bool = True
) -> Query:
    """Validate ``q``, ``mode``, ``limit`` and ``offset`` into a :class:`Query`.

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

    limit = _int(args, "limit", min(DEFAULT_LIMIT, settings.max_limit), 1, settings.max_limit)
    offset = _int(args, "offset", 0, 0, settings.max_offset)
    return Query(text=text, mode=mode, limit=limit, offset=offset)
