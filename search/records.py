"""One raw record (a dict of fields from any input format) → an ``Article``, or the
``Problem`` that kept it out: field types, dates, ids a link can open, fallback ids and
titles, the size caps. ``ingest.py`` reads files into records and hands each one here."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from search.models import MAX_ARTICLE_ID_CHARS, Article, Problem
from search.paragraphs import split_sentences
from search.query import MAX_SOURCE_CHARS
from search.text import one_line, split_paragraphs

TITLE_FALLBACK_CHARS = 100
FIRST_YEAR = 1800  # earlier "dates" are placeholders or typos in news archives
# An article's text, all paragraphs together (issue #17: a size cap per article; the longest
# news articles are ~100k characters). A title is cut to MAX_TITLE_CHARS, with a warning.
MAX_ARTICLE_CHARS = 1_000_000
MAX_TITLE_CHARS = 1_000


class _BadRecord(Exception):
    """A record that cannot become an Article; the message is the Problem's reason."""


def json_type(value: Any) -> str:
    """How a problem names a JSON value's type ("an object", "a list", "null" …)."""
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")


def parse_date(value: str) -> str:
    """``YYYY-MM-DD``, ISO date-time (``Z`` or offset) or RFC 2822 → ``YYYY-MM-DD``.

    The date is the one written in the value (its own time zone), not converted to UTC.
    Raises ValueError when the value is none of these, or a year before ``FIRST_YEAR`` or
    after next year: "0001-01-01" and "9999-12-31" are placeholders, not dates, and would
    sort first or last and give date facets whose links no date filter accepts.
    """
    value = value.strip()
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        try:
            day = parsedate_to_datetime(value).date()
        except (TypeError, ValueError, IndexError, OverflowError) as e:
            raise ValueError(f"unrecognised date {value!r}") from e
    if not FIRST_YEAR <= day.year <= date.today().year + 1:
        raise ValueError(f"implausible date {value!r}")
    return day.isoformat()


def id_problem(article_id: str) -> str | None:
    """Why an article with this id could not be opened from a link, or None when it can.

    Ids are the last part of ``/articles/<id>``: a browser resolves "." and ".." segments
    (``a/../b`` would open article ``b``), a leading "/" is merged away, ``…/related`` is the
    related-articles route, and longer ids than ``MAX_ARTICLE_ID_CHARS`` are never looked up.
    """
    if len(article_id) > MAX_ARTICLE_ID_CHARS:
        return f"id longer than {MAX_ARTICLE_ID_CHARS} characters"
    if article_id.startswith("/"):
        return "id starts with '/'"
    if any(part in (".", "..") for part in article_id.split("/")):
        return "id has a '.' or '..' path segment (a browser would open another address)"
    if article_id.endswith("/related"):
        return "id ends with '/related' (the related-articles address)"
    return None


def content_id(title: str, paragraphs: Iterable[str]) -> str:
    """Stable id from content: first 16 hex digits of sha1(title, blank line, paragraphs)."""
    content = title + "\n\n" + "\n\n".join(paragraphs)
    return hashlib.sha1(content.encode("utf-8")).hexdigest()[:16]


def fallback_title(paragraph: str, limit: int = TITLE_FALLBACK_CHARS) -> str:
    """Title for an untitled article: its first sentence, cut at a word to ``limit`` chars + '…'."""
    sentences = split_sentences(paragraph)
    first = sentences[0] if sentences else ""
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


def _field(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _BadRecord(f"field '{name}' must be text, got {json_type(value)}")


def _text_paragraphs(record: dict[str, Any], name: str) -> list[str]:
    value = record.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return split_paragraphs(value)
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return [p for item in value for p in split_paragraphs(item)]
    raise _BadRecord(f"field '{name}' must be text or a list of strings, got {json_type(value)}")


def make_article(file: str, line: int | None, record: dict[str, Any]) -> list[Article | Problem]:
    """One raw record → ``[warnings..., Article]`` or ``[skipped Problem]``.

    Titles and paragraphs are whitespace-normalised. A missing id becomes ``content_id`` of the
    title as given and the paragraphs; a missing title becomes ``fallback_title`` of the text.
    """

    def problem(reason: str, skipped: bool = True) -> Problem:
        return Problem(file, line, reason, skipped=skipped)

    try:
        given_id = one_line(_field(record, "id") or "")
        title = one_line(_field(record, "title") or "")
        paragraphs = _text_paragraphs(record, "text") or _text_paragraphs(record, "body")
        raw_date = _field(record, "date")
        source, url, dateline = (
            one_line(_field(record, k) or "") or None for k in ("source", "url", "dateline")
        )
    except _BadRecord as e:
        return [problem(str(e))]
    if not paragraphs:
        return [problem("no text (title only)" if title else "no text")]
    size = sum(len(p) for p in paragraphs)
    if size > MAX_ARTICLE_CHARS:
        return [problem(f"text is {size:,} characters, over the {MAX_ARTICLE_CHARS:,} limit")]
    if given_id and (why := id_problem(given_id)):
        return [problem(f"{why}: it could be indexed but not opened")]
    out: list[Article | Problem] = []
    if source and len(source) > MAX_SOURCE_CHARS:  # a source filter could not name it
        out.append(problem(f"source cut to {MAX_SOURCE_CHARS} characters", skipped=False))
        source = source[:MAX_SOURCE_CHARS].rstrip()
    if len(title) > MAX_TITLE_CHARS:
        out.append(problem(f"title cut to {MAX_TITLE_CHARS} characters", skipped=False))
        cut = title[: MAX_TITLE_CHARS - 1]
        title = (cut.rsplit(" ", 1)[0] if " " in cut[MAX_TITLE_CHARS // 2 :] else cut) + "…"
    article_date = None
    if raw_date is not None and raw_date.strip():
        try:
            article_date = parse_date(raw_date)
        except ValueError:
            out.append(problem(f"bad date {one_line(raw_date)[:40]!r}: dropped", skipped=False))
    article = Article(
        id=given_id or content_id(title, paragraphs),
        title=title or fallback_title(paragraphs[0]),
        paragraphs=tuple(paragraphs),
        date=article_date,
        source=source,
        url=url,
        dateline=dateline,
    )
    out.append(article)
    return out
