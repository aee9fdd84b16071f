"""The front page: the newest articles, filtered by date and source, with no query text.

Pure ranking over per-article arrays (no I/O, no search leg): newest first (undated articles
last, later-added first on the same date), near-duplicates collapsed into their newest copy,
and facets over the articles listed (each facet without its own filter). The engine turns the
page of article rows into :class:`search.models.Results`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .facets import facet_counts, row_mask
from .models import Facets
from .related import fold_duplicates

__all__ = ["LatestPage", "latest_rows"]


@dataclass(frozen=True)
class LatestPage:
    rows: list[int]  # article rows of the requested page, newest first
    total: int  # articles passing the filters, near-duplicates collapsed
    facets: Facets
    collapsed: dict[int, list[int]]  # shown row -> its near-duplicates left out


def latest_rows(
    alive: np.ndarray,
    dates: np.ndarray,
    source_of: Sequence[str | None],
    date_of: Sequence[str | None],
    duplicate_of: dict[int, list[int]],
    *,
    date_from: str | None = None,
    date_to: str | None = None,
    sources: Sequence[str] = (),
    offset: int = 0,
    limit: int = 10,
) -> LatestPage:
    """One page of the newest live articles passing the date range (inclusive) and sources.
    Facets count the articles listed, each facet without its own filter (multi-select)."""

    def newest(date_from, date_to, sources) -> tuple[list[int], dict[int, list[int]]]:
        rows = np.flatnonzero(row_mask(alive, dates, source_of, date_from, date_to, sources))
        order = np.lexsort((-rows, -dates[rows]))
        return fold_duplicates([int(r) for r in rows[order]], duplicate_of)

    kept, collapsed = newest(date_from, date_to, sources)
    by_source = newest(date_from, date_to, ())[0] if sources else kept
    by_date = newest(None, None, sources)[0] if date_from or date_to else kept
    facets = facet_counts(kept, source_of, date_of, source_rows=by_source, date_rows=by_date)
    page = kept[offset : offset + limit]
    return LatestPage(page, len(kept), facets, {r: collapsed[r] for r in page if r in collapsed})
