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
    _sorted_kw: np.ndarray | None = None
    _sorted_cos: np.ndarray | None = None

    @property
    def terms(self) -> frozenset[str]:
        return self.keyword.terms

    def keyword_rank(self, score: float) -> int:
        if self._sorted_kw is None:
            ps = self.keyword.paragraph_scores
            self._sorted_kw = np.sort(ps[ps > 0]) if ps is not None else np.zeros(0)
        return int(len(self._sorted_kw) - np.searchsorted(self._sorted_kw, score, "right")) + 1

    def semantic_rank(self, cos: float) -> int:
        if self._sorted_cos is None:
            c = self.cosines
            self._sorted_cos = np.sort(c[np.isfinite(c)]) if c is not None else np.zeros(0)
        return int(len(self._sorted_cos) - np.searchsorted(self._sorted_cos, cos, "right")) + 1


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
