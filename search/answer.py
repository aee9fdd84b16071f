"""Turning a ranked match set into what the reader sees: the paragraphs shown under each
article (with each leg's evidence) and, when nothing matched, a real "no results" answer with
things to try and what each would find (issue #12 item 4)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from . import ranking
from .backends import ArticleKeyword
from .config import Settings
from .matchset import Calibration
from .models import MODES, Facets, Hint, Query
from .related import fold_duplicates
from .syntax import parse_syntax

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

    @property
    def terms(self) -> frozenset[str]:
        return self.keyword.terms

    def keyword_ranks(self, scores: Sequence[float]) -> list[int]:
        """Per score, 1 + paragraphs of the index with a higher keyword score (of those > 0)."""
        ps = self.keyword.paragraph_scores
        return [1] * len(scores) if ps is None else ranks_above(ps, scores, positive=True)

    def semantic_ranks(self, cosines: Sequence[float]) -> list[int]:
        """Per cosine, 1 + paragraphs of the index with a higher (finite) cosine."""
        c = self.cosines
        return [1] * len(cosines) if c is None else ranks_above(c, cosines)

    def ranked(self, shown: list[list[tuple[int, float | None, float | None, float]]]):
        """Each article's ``shown_paragraphs`` as ``(row, kw rank, kw score, sem rank, sem
        score, score)``: the ranks of a whole page in one pass over each leg's scores."""
        ks = [k for picks in shown for _, k, _, _ in picks if k is not None]
        cs = [c for picks in shown for _, _, c, _ in picks if c is not None]
        kr, sr = iter(self.keyword_ranks(ks)), iter(self.semantic_ranks(cs))
        return [
            [
                (r, None if k is None else next(kr), k, None if c is None else next(sr), c, sc)
                for r, k, c, sc in picks
            ]
            for picks in shown
        ]


SORT_AT_MOST = 1 << 15  # past this many candidates, count per score instead of sorting them


def ranks_above(values: np.ndarray, scores: Sequence[float], positive: bool = False) -> list[int]:
    """Per score, 1 + how many finite ``values`` (and > 0 with ``positive``; −inf marks a
    paragraph the leg did not score) exceed it. Only values at or above the lowest score can
    count: those are sorted once for the whole page (or, when there are very many, counted
    for each score), rather than every row of the index sorted."""
    if not len(scores):
        return []
    s = np.asarray(scores, dtype=np.float64)
    keep = values >= s.min()
    if positive:
        keep &= values > 0
    top = values[keep]
    top = top[np.isfinite(top)]
    if len(top) <= SORT_AT_MOST:
        top.sort()
        return (len(top) - np.searchsorted(top, s, "right") + 1).tolist()
    return [int(np.count_nonzero(top > x)) + 1 for x in s]


def shown_paragraphs(rows: np.ndarray, found: Matched, per_article: int):
    """``(row, kw score, sem score, score)`` of the paragraphs to show of an article whose
    paragraph rows are ``rows`` (a leg's score None where it did not score the paragraph);
    ``Matched.ranked`` adds each leg's rank."""
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
        out.append((r, k, c, float(score[i])))
    return out


def without_operators(text: str) -> str:
    """``text`` with its quotes, ``title:``/``text:`` fields and excluded words dropped ("" when
    it has none of them or nothing else): what the operators hint says to search for."""
    parsed = parse_syntax(text)
    if parsed.advanced or not any(c.phrase or c.field or c.negated for c in parsed.clauses):
        return ""
    words = []
    for c in parsed.clauses:
        if c.negated:
            continue
        join = "OR " if c.or_before else "AND " if c.and_before and words else ""
        words.append(join + c.text + ("*" if c.prefix else ""))
    return " ".join(words)


def answer_empty(
    alive: np.ndarray,
    found: Matched,
    text: str,
    query: Query,
    suggestion: str | None,
    settings: Settings,
    cal: Calibration,
    semantic_best: Callable[[], np.ndarray],
    duplicate_of: dict[int, list[int]] | None = None,
    total_of: Callable[[str], int] | None = None,
) -> tuple[str, list[Hint]]:
    """The notice and hints for an empty answer; each hint says what it would find: the
    ``total`` that search would show (near-copies in ``duplicate_of`` folded, like it).

    ``semantic_best`` gives the best cosine per article when the search did not compute it
    (keyword mode), to tell whether another mode would find something; ``total_of`` the total
    of another query text in this search's mode and filters (the operators hint's).
    """
    mode = query.mode
    why = {
        "keyword": "no article contains enough of these words",
        "semantic": "nothing in the index is close enough in meaning",
        "hybrid": "no article contains these words or is close enough in meaning",
    }[mode]
    notice = found.notice or f"No articles match “{text}”: {why}."
    if found.keyword.evidence is None:  # not "showing results by meaning only": there are none
        notice = "The query has no searchable words (only stop words or operators)" + (
            "." if mode == "keyword" else ", and nothing in the index is close enough in meaning."
        )
    hints: list[Hint] = []
    if suggestion:
        hints.append(Hint("spelling", f"Search for “{suggestion}” instead.", text=suggestion))
    kw, best = found.keyword, found.best

    def count(m: str, allowed: np.ndarray, leg: ArticleKeyword, b) -> int:
        rows, *_ = ranking.decide(m, settings, cal, allowed, leg, b, unfiltered=alive)
        return len(fold_duplicates(rows.tolist(), duplicate_of or {})[0])

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
    loose = without_operators(text)
    if kw.evidence is not None and total_of is not None and loose and loose != text:
        n = total_of(loose)  # the query as the hint says to type it: "a b", not "a b" quoted
        if n:
            hints.append(
                Hint(
                    "operators",
                    f"Drop the quotes, title: and -word operators: {n} "
                    f"article{'s' if n != 1 else ''} match without them.",
                    text=loose,
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
