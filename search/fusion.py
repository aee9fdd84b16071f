"""Fusion of ranked lists: pure functions, no I/O, tested on their own.

Rankings are lists of ``(key, score)`` best first (the peer fuses article lists with ``rrf``).
The engine's own fusion works on per-article arrays: see ``ranking.py``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

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
