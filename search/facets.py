"""Filters, facets, date sorting and recency: pure functions over per-article arrays."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from .models import Facets, PeriodCount, SourceCount, UnknownCount


def date_number(iso: str | None) -> int:
    """ "2019-01-05" → 20190105; missing → 0 (sorts last, never inside a date filter)."""
    if not iso:
        return 0
    try:
        return int(iso[:10].replace("-", ""))
    except ValueError:
        return 0


def date_mask(dates: np.ndarray, date_from: str | None, date_to: str | None) -> np.ndarray:
    """THE date filter rule, over ``date_number`` values: inclusive at both ends; an undated
    article (0) never passes a date filter."""
    mask = np.ones(len(dates), dtype=bool)
    if date_from:
        mask &= dates >= date_number(date_from)
    if date_to:
        mask &= (dates <= date_number(date_to)) & (dates > 0)
    return mask


def row_mask(
    alive: np.ndarray,
    dates: np.ndarray,
    source_of: Sequence[str | None],
    date_from: str | None,
    date_to: str | None,
    sources: Sequence[str],
) -> np.ndarray:
    """Bool per article row: live and passing the date range and the sources (any of them)."""
    mask = alive.astype(bool) & date_mask(dates, date_from, date_to)
    if sources:
        wanted = set(sources)
        mask &= np.fromiter((s in wanted for s in source_of), bool, len(mask))
    return mask


def article_mask(
    dates: np.ndarray,
    source_ids: np.ndarray,
    sources: list[str],
    date_from: str | None,
    date_to: str | None,
    wanted: Sequence[str],
) -> np.ndarray:
    """:func:`row_mask` for sources stored as ids into ``sources`` (liveness aside)."""
    mask = date_mask(dates, date_from, date_to)
    if wanted:
        ids = [i for i, s in enumerate(sources) if s in set(wanted)]
        mask &= np.isin(source_ids, ids)
    return mask


def facet_counts(
    rows: Sequence[int],
    source_of: Sequence[str | None],
    date_of: Sequence[str | None],
    top: int = 20,
    *,
    source_rows: Sequence[int] | None = None,
    date_rows: Sequence[int] | None = None,
) -> Facets:
    """Source counts (most first) and per-month counts (chronological) over the articles
    listed, and ``unknown``: how many of them have no source or no date, so the rows add up
    to the total a reader sees.

    Multi-select faceting: each facet counts the match set under the *other* facets' filters
    (``source_rows``: without the source filter; ``date_rows``: without the date filter;
    both default to ``rows``), so a chosen source or year leaves the others to switch to.
    """
    source_rows = rows if source_rows is None else source_rows
    date_rows = rows if date_rows is None else date_rows
    sources = Counter(source_of[r] for r in source_rows if source_of[r])
    months = Counter(date_of[r][:7] for r in date_rows if date_of[r])
    unknown = [
        UnknownCount("source", sum(1 for r in source_rows if not source_of[r])),
        UnknownCount("date", sum(1 for r in date_rows if not date_of[r])),
    ]
    return Facets(
        [SourceCount(v, c) for v, c in sorted(sources.items(), key=lambda x: (-x[1], x[0]))[:top]],
        [PeriodCount(p, c) for p, c in sorted(months.items())],
        [u for u in unknown if u.count],
    )


def date_ordinal(iso: str | None) -> int:
    """Days since 0001-01-01 for an ISO date; 0 when missing or invalid."""
    from datetime import date

    try:
        return date.fromisoformat(iso[:10]).toordinal() if iso else 0
    except ValueError:
        return 0


def recency_factor(ordinals: np.ndarray, half_life_days: float, newest: int) -> np.ndarray:
    """Multiplier 0.5 ** (age / half-life), age counted back from the newest article's date;
    undated articles get the smallest factor present (they are not promoted)."""
    age = np.where(ordinals > 0, newest - ordinals, np.inf).astype(np.float64)
    factor = np.power(0.5, np.maximum(age, 0) / half_life_days)
    return factor


def canonical_sources(wanted: Sequence[str], names: Sequence[str]) -> tuple[str, ...]:
    """The index's own spelling of each wanted source, matched case-insensitively
    ("wikinews" → "Wikinews"); a name matching none is kept as given (it then matches
    nothing, as before). Several index names differing only in case all match."""
    by_fold: dict[str, list[str]] = {}
    for name in names:
        by_fold.setdefault(name.casefold(), []).append(name)
    out: list[str] = []
    for w in wanted:
        for name in by_fold.get(w.casefold(), [w]):
            if name not in out:
                out.append(name)
    return tuple(out)


def filter_mask(catalog, date_from: str | None, date_to: str | None, sources) -> np.ndarray:
    """Bool per article: live and passing the date range (inclusive) and sources."""
    return row_mask(catalog.alive, catalog.dates, catalog.source_of, date_from, date_to, sources)
