"""Turning a ranked match set into what the reader sees: the paragraphs shown under each
article (with each leg's evidence) and, when nothing matched, a real "no results" answer with
things to try and what each would find (issue #12 item 4)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from . import ranking
from .backends import ArticleKeyword
from .config import Settings
from .matchset import Calibration
from .models import MODES, Facets, Hint, Query

WITHIN_ARTICLE_RRF_K = 10  # orders an article's paragraphs by both legs


@dataclass
class Matched:
    """One query's folded, ordered match set and the evidence behind it."""

    groups: list[tuple[int, float]]  # (article row, score) in result order
    facets: Facets
    collapsed: dict[int, list[int]]
    keyword: ArticleKeyword
    cosines: np.ndarray | None  # per paragraph row
    best: np.ndarray | None  # per article
    allowed: np.ndarray
    notice: str | None
    keyword_set: np.ndarray | None = None
    semantic_set: np.ndarray | None = None
    mode: str = "hybrid"
    # Per leg, (threshold, sorted scores at or above it): enough to rank the shown paragraphs
    # without sorting every row of the index for each page.
    _kw_top: tuple[float, np.ndarray] | None = None
    _cos_top: tuple[float, np.ndarray] | None = None

    @property
    def terms(self) -> frozenset[str]:
        return self.keyword.terms

    def keyword_rank(self, score: float) -> int:
        """1 + paragraphs of the index with a higher keyword score (of those scoring > 0)."""
        ps = self.keyword.paragraph_scores
        if ps is None:
            return 1
        if self._kw_top is None or score < self._kw_top[0]:
            self._kw_top = _scores_from(ps, score / 2 if score > 0 else 0.0, positive=True)
        return _rank_in(self._kw_top[1], score)

    def semantic_rank(self, cos: float) -> int:
        """1 + paragraphs of the index with a higher (finite) cosine."""
        c = self.cosines
        if c is None:
            return 1
        if self._cos_top is None or cos < self._cos_top[0]:
            self._cos_top = _scores_from(c, cos - 0.1)
        return _rank_in(self._cos_top[1], cos)


def _scores_from(
    values: np.ndarray, threshold: float, positive: bool = False
) -> tuple[float, np.ndarray]:
    """``threshold`` and the sorted ``values`` at or above it (and above 0 with ``positive``;
    never infinite: −inf marks a paragraph the leg did not score)."""
    keep = values >= threshold
    if positive:
        keep &= values > 0
    top = values[keep]
    return threshold, np.sort(top[np.isfinite(top)])


def _rank_in(top: np.ndarray, score: float) -> int:
    """1 + how many of ``top`` (every value above the threshold, sorted) exceed ``score``."""
    return int(len(top) - np.searchsorted(top, score, "right")) + 1


def shown_paragraphs(rows: np.ndarray, found: Matched, per_article: int):
    """``(row, kw rank, kw score, sem rank, sem score, score)`` of the paragraphs to show of
    an article whose paragraph rows are ``rows``."""
    kw = found.keyword.paragraph_scores if found.mode != "semantic" else None
    cos = found.cosines if found.mode != "keyword" else None
    kws = kw[rows] if kw is not None else np.zeros(len(rows))
    coss = cos[rows] if cos is not None else np.full(len(rows), -np.inf)
    if found.mode == "keyword":
        pick = rows[kws > 0] if (kws > 0).any() else rows
        score = kws[kws > 0] if (kws > 0).any() else kws
    elif found.mode == "semantic":
        pick, score = rows, coss
    else:
        kr = ranking.leg_ranks(kws, kws > 0)
        sr = ranking.leg_ranks(coss, np.isfinite(coss))
        pick, score = rows, ranking.rrf_articles([kr, sr], WITHIN_ARTICLE_RRF_K)
    order = np.lexsort((pick, -score))[:per_article]
    out = []
    for i in order:
        r = int(pick[i])
        k = float(kw[r]) if kw is not None and kw[r] > 0 else None
        c = float(cos[r]) if cos is not None and np.isfinite(cos[r]) else None
        out.append(
            (
                r,
                found.keyword_rank(k) if k is not None else None,
                k,
                found.semantic_rank(c) if c is not None else None,
                c,
                float(score[i]),
            )
        )
    return out


def answer_empty(
    alive: np.ndarray,
    found: Matched,
    text: str,
    query: Query,
    suggestion: str | None,
    settings: Settings,
    cal: Calibration,
    semantic_best: Callable[[], np.ndarray],
) -> tuple[str, list[Hint]]:
    """The notice and hints for an empty answer; each hint says what it would find.

    ``semantic_best`` gives the best cosine per article when the search did not compute it
    (keyword mode), to tell whether another mode would find something.
    """
    mode = query.mode
    why = {
        "keyword": "no article contains enough of these words",
        "semantic": "nothing in the index is close enough in meaning",
        "hybrid": "no article contains these words or is close enough in meaning",
    }[mode]
    notice = found.notice or f"No articles match “{text}”: {why}."
    hints: list[Hint] = []
    if suggestion:
        hints.append(Hint("spelling", f"Search for “{suggestion}” instead.", text=suggestion))
    kw, best = found.keyword, found.best

    def count(m: str, allowed: np.ndarray, leg: ArticleKeyword, b) -> int:
        rows, *_ = ranking.decide(m, settings, cal, allowed, leg, b)
        return len(rows)

    if query.date_from or query.date_to or query.sources:
        n = count(mode, alive, kw, best)
        if n:
            hints.append(
                Hint(
                    "filters",
                    f"Remove the date and source filters: {n} "
                    f"article{'s' if n != 1 else ''} match without them.",
                    total=n,
                )
            )
    if kw.evidence is not None and (kw.required or kw.excluded is not None):
        loose = replace(kw, required=(), excluded=None)
        n = count(mode, found.allowed, loose, best)
        if n:
            hints.append(
                Hint(
                    "operators",
                    f"Drop the quotes, title: and -word operators: {n} "
                    f"article{'s' if n != 1 else ''} match without them.",
                    total=n,
                )
            )
    for other in MODES:
        if other == mode or (other == "keyword" and kw.evidence is None):
            continue
        if best is None and other != "keyword":
            best = semantic_best()  # once: semantic and hybrid share it (one query embedding)
        n = count(other, found.allowed, kw, best if other != "keyword" else found.best)
        if n:
            hints.append(
                Hint(
                    "mode",
                    f"Try {other} mode: {n} article{'s' if n != 1 else ''} match there.",
                    mode=other,
                    total=n,
                )
            )
    if not hints:
        hints.append(Hint("words", "Try other or fewer words, or check the spelling."))
    return notice, hints
