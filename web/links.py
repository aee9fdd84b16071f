"""Links of the search page: every one is a plain GET URL built from the current Query, so
pagination, facets, filter removal and "did you mean" all work without JavaScript and keep
whatever else the user had chosen.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field, replace
from typing import Any

from flask import url_for

from search.models import PeriodCount, Query, SourceCount
from search.query import DEFAULT_LIMIT, MAX_SOURCE_CHARS, MAX_SOURCES

__all__ = [
    "DateFacet",
    "FacetRow",
    "FilterChip",
    "PageLinks",
    "SourceFacet",
    "active_filters",
    "article_url",
    "back_url",
    "date_facets",
    "days",
    "month_label",
    "page_links",
    "query_args",
    "feed_url",
    "search_url",
    "source_facets",
]

SOURCE_ROWS = 8  # source facet rows shown; with more sources a search box lists them all


@dataclass(frozen=True)
class FacetRow:
    """One facet row: its label, count and bar (percent of the widest), and the link that
    applies it (None when it is applied already, or cannot be)."""

    label: str
    count: int
    bar: float
    active: bool = False
    url: str | None = None
    level: int = 0  # 0: a source or a year; 1: a month of the chosen year
    period: str = ""  # "YYYY" / "YYYY-MM" for date rows
    static: bool = False  # "No source" / "No date": counted, never a link


@dataclass(frozen=True)
class SourceFacet:
    rows: list[FacetRow] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # every source, for the search box
    hidden: int = 0  # sources not shown as rows


@dataclass(frozen=True)
class DateFacet:
    unit: str = "month"  # "year" when the matches span several years
    rows: list[FacetRow] = field(default_factory=list)


@dataclass(frozen=True)
class FilterChip:
    """A filter or ordering in force, in words, with the link that removes just it."""

    label: str
    url: str


@dataclass(frozen=True)
class PageLinks:
    previous: str | None  # None on the first page
    next: str | None  # None on the last page
    page: int
    pages: int


def days(value: float) -> str:
    """A recency half-life as the user would write it: 30.0 → "30", 2.5 → "2.5"."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def query_args(query: Query) -> dict[str, Any]:
    """The query-string arguments that reproduce ``query`` (defaults left out, mode kept; the
    front page, which has no text, needs neither ``q`` nor ``mode``)."""
    args: dict[str, Any] = {"q": query.text, "mode": query.mode} if query.text else {}
    if query.date_from:
        args["from"] = query.date_from
    if query.date_to:
        args["to"] = query.date_to
    if query.sources:
        args["source"] = list(query.sources)
    if query.sort != "relevance":
        args["sort"] = query.sort
    if query.recency is not None:
        args["recency"] = days(query.recency)
    if query.limit != DEFAULT_LIMIT:
        args["limit"] = query.limit
    if query.offset:
        args["offset"] = query.offset
    return args


def search_url(query: Query, **changes: Any) -> str:
    """The page URL for ``query`` with ``changes`` applied; any change but ``offset`` goes
    back to the first page, since the old position means nothing in a new result set."""
    if "offset" not in changes:
        changes["offset"] = 0
    return url_for("pages.index", **query_args(replace(query, **changes)))


def article_url(query: Query | None, article_id: str, anchor: str = "") -> str:
    """The article page, carrying the search it was reached from (so it can highlight the
    query's words and link back to the same results page) and ``#anchor``, the best passage."""
    args = query_args(query) if query is not None else {}
    url = url_for("pages.article", article_id=article_id, **args)
    return f"{url}#{anchor}" if anchor else url


def back_url(query: Query) -> str:
    """The results page ``query`` came from: same text, filters, ordering and page."""
    return url_for("pages.index", **query_args(query))


def feed_url(query: Query) -> str:
    """The Atom feed of ``query``'s text and filters (always newest first, first page)."""
    args = query_args(replace(query, offset=0, sort="relevance", limit=query.limit))
    args.pop("limit", None)
    return url_for("feed.atom", **args)


def page_links(query: Query, total: int, max_offset: int) -> PageLinks:
    """Previous/next page URLs (None at either end) and "page N of M" numbers."""
    step = query.limit
    previous = search_url(query, offset=max(0, query.offset - step)) if query.offset > 0 else None
    following = query.offset + step
    has_next = following < total and following <= max_offset
    return PageLinks(
        previous,
        search_url(query, offset=following) if has_next else None,
        query.offset // step + 1,
        max(1, -(-total // step)),
    )


def _bar(count: int, most: int) -> float:
    """Bar length in percent of the widest bar (a visible sliver for any non-zero count)."""
    return max(2.0, round(100.0 * count / most, 1)) if most else 0.0


def _unknown_row(label: str, count: int, most: int) -> FacetRow:
    """The articles without a source (or date): counted, so the rows add up, but no link."""
    return FacetRow(label, count, _bar(count, most), static=True)


def source_facets(query: Query, facet: list[SourceCount], unknown: int = 0) -> SourceFacet:
    """The source facet: ``rows`` (label, count, bar, link adding that source filter) for the
    most frequent sources, and ``names`` (all of them) for a search box when there are more.
    A source already chosen, in any letter case, is shown active; ``unknown`` articles with
    no source get a last row of their own."""
    most = max((f.count for f in facet), default=0)
    chosen = {s.casefold() for s in query.sources}
    rows = []
    for f in facet:
        value = str(f.value)
        active = value.casefold() in chosen
        # No link the search would refuse: a source too long to name, or one too many.
        refused = active or len(value) > MAX_SOURCE_CHARS or len(query.sources) >= MAX_SOURCES
        url = None if refused else search_url(query, sources=(*query.sources, value))
        rows.append(FacetRow(value, f.count, _bar(f.count, most), active, url))
    shown = rows[:SOURCE_ROWS] + [r for r in rows[SOURCE_ROWS:] if r.active]
    names = [r.label for r in rows] if len(rows) > SOURCE_ROWS else []
    hidden = len(rows) - len(shown)
    if unknown and rows:
        shown.append(_unknown_row("No source", unknown, max(most, unknown)))
    return SourceFacet(shown, names, hidden)


def month_label(period: str) -> str:
    """ "2019-03" → "Mar 2019"; a year or anything odd is shown as it is."""
    try:
        year, month = period.split("-")
        return f"{calendar.month_abbr[int(month)]} {int(year)}"
    except (ValueError, IndexError):
        return period


def _span(period: str) -> tuple[str, str] | None:
    """First and last day of a "YYYY-MM" month or "YYYY" year, or None if malformed."""
    try:
        if len(period) == 4:
            year = int(period)
            return f"{year:04d}-01-01", f"{year:04d}-12-31"
        year, month = (int(x) for x in period.split("-"))
        last = calendar.monthrange(year, month)[1]
        return f"{year:04d}-{month:02d}-01", f"{year:04d}-{month:02d}-{last:02d}"
    except (ValueError, calendar.IllegalMonthError):
        return None


def _chosen_year(query: Query, years: list[str]) -> str | None:
    """The year whose months to list: the one the date filter lies in, or the only one."""
    if query.date_from and query.date_to and query.date_from[:4] == query.date_to[:4]:
        return query.date_from[:4]
    return years[0] if len(years) == 1 else None


def date_facets(query: Query, facet: list[PeriodCount], unknown: int = 0) -> DateFacet:
    """The date facet: one row per year, and under the chosen year (the one the date filter
    lies in, or the only year there is) one row per month of it, so a 40-year archive shows
    40 + 12 rows, never 480. Each row links to its whole year or month; ``unknown`` undated
    articles get a last row of their own (no link: a date filter never keeps them).

    ``unit`` is "year" or "month"; a row has ``level`` 0 (a year) or 1 (a month of the chosen
    year).
    """
    months = [(str(f.period), int(f.count)) for f in facet]
    months = [(p, c) for p, c in months if _span(p) and len(p) == 7]  # malformed dates: out
    by_year: dict[str, int] = {}
    for period, count in months:
        by_year[period[:4]] = by_year.get(period[:4], 0) + count
    years = sorted(by_year)
    chosen = _chosen_year(query, years)
    counts: list[tuple[str, int, int]] = []
    for year in years:
        if len(years) > 1:
            counts.append((year, by_year[year], 0))
        if year == chosen:
            counts += [(p, c, 1) for p, c in months if p[:4] == year and p != year]
    most_year = max(by_year.values(), default=0)
    most_month = max((c for _, c, level in counts if level == 1), default=0)
    rows = []
    for period, count, level in counts:
        span = _span(period)
        active = span == (query.date_from, query.date_to)
        url = None
        if span and not active:
            url = search_url(query, date_from=span[0], date_to=span[1])
        label = month_label(period) if level else period
        bar = _bar(count, most_month if level else most_year)
        rows.append(FacetRow(label, count, bar, active, url, level, period))
    if unknown and rows:
        most = most_year if len(years) > 1 else most_month
        rows.append(_unknown_row("No date", unknown, max(most, unknown)))
    return DateFacet("year" if len(years) > 1 else "month", rows)


def active_filters(query: Query) -> list[FilterChip]:
    """Each filter or ordering in force, in words, with a link that removes just it."""
    out = []
    if query.date_from:
        out.append(FilterChip(f"From {query.date_from}", search_url(query, date_from=None)))
    if query.date_to:
        out.append(FilterChip(f"To {query.date_to}", search_url(query, date_to=None)))
    for source in query.sources:
        rest = tuple(s for s in query.sources if s != source)
        out.append(FilterChip(f"Source: {source}", search_url(query, sources=rest)))
    if query.sort != "relevance":
        out.append(FilterChip("Newest first", search_url(query, sort="relevance")))
    if query.recency is not None:
        label = f"Recent stories favoured (half-life {days(query.recency)} days)"
        out.append(FilterChip(label, search_url(query, recency=None)))
    return out
