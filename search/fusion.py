"""Fusion and grouping: pure functions, no I/O, tested on their own.

Rankings are lists of ``(paragraph_row, score)`` best first. Fusion gives every paragraph one
score; grouping turns paragraphs into articles, the way the product shows results.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

Ranking = Sequence[tuple[int, float]]


def rrf(rankings: Sequence[Ranking], k: int = 60) -> dict[int, float]:
    """Reciprocal rank fusion: sum over lists of 1 / (k + rank), rank counting from 1."""
    fused: dict[int, float] = defaultdict(float)
    for ranking in rankings:
        for rank, (row, _score) in enumerate(ranking, start=1):
            fused[row] += 1.0 / (k + rank)
    return dict(fused)


def minmax(ranking: Ranking) -> dict[int, float]:
    """Scores rescaled to [0, 1] within one list (all equal → all 1)."""
    if not ranking:
        return {}
    scores = [s for _, s in ranking]
    lo, hi = min(scores), max(scores)
    span = hi - lo
    return {row: (1.0 if span == 0 else (s - lo) / span) for row, s in ranking}


def weighted(keyword: Ranking, semantic: Ranking, alpha: float = 0.5) -> dict[int, float]:
    """``alpha * semantic + (1 - alpha) * keyword`` after min-max; a missing leg counts 0."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be in [0, 1]")
    kw, sem = minmax(keyword), minmax(semantic)
    return {
        r: alpha * sem.get(r, 0.0) + (1 - alpha) * kw.get(r, 0.0) for r in kw.keys() | sem.keys()
    }


def fuse(
    keyword: Ranking, semantic: Ranking, method: str = "rrf", k: int = 60, alpha: float = 0.5
) -> dict[int, float]:
    if method == "rrf":
        return rrf([keyword, semantic], k=k)
    if method == "weighted":
        return weighted(keyword, semantic, alpha)
    raise ValueError(f"unknown fusion {method!r} (rrf or weighted)")


def group(
    scores: dict[int, float],
    article_of: Callable[[int], int],
    per_article: int = 3,
    how: str = "max",
) -> list[tuple[int, float, list[int]]]:
    """Articles best first as ``(article_row, score, paragraph_rows best first)``.

    ``how``: ``max`` scores an article by its best paragraph; ``sum2`` adds half the second
    best, rewarding articles where more than one paragraph matches.
    """
    by_article: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for row, s in scores.items():
        by_article[article_of(row)].append((s, row))
    out = []
    for art, items in by_article.items():
        items.sort(key=lambda x: (-x[0], x[1]))
        if how == "max":
            score = items[0][0]
        elif how == "sum2":
            score = items[0][0] + (0.5 * items[1][0] if len(items) > 1 else 0.0)
        else:
            raise ValueError(f"unknown article score {how!r} (max or sum2)")
        out.append((art, score, [r for _, r in items[:per_article]]))
    out.sort(key=lambda x: (-x[1], x[0]))
    return out
