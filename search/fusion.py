"""Fusion and grouping: pure functions, no I/O, tested on their own.

Rankings are lists of ``(paragraph_row, score)`` best first. Fusion gives every paragraph one
score; grouping turns paragraphs into articles, the way the product shows results. Article-level
fusion (``fuse_articles``) groups each leg first and fuses the article rankings instead, so a
long article cannot collect several votes from one leg; ``regroup`` re-orders grouped articles by
those scores while keeping the paragraphs chosen for display.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence

import numpy as np

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


# Article-level fusion: each leg becomes a ranking of articles first, then the article rankings
# are fused, optionally with a third list that scores each article as a whole (the cosine of the
# query to the article's mean paragraph vector). Opt-in (``fusion_level="article"``,
# ``article_vector``): on TIME it helps, on the Reuters check it hurts; see bench/relevance.py.


def article_ranking(
    ranking: Ranking, article_of: Callable[[int], int], how: str = "max"
) -> list[tuple[int, float]]:
    """One leg's paragraph ranking as ``(article_row, score)`` best first (``how`` as in group)."""
    return [(art, score) for art, score, _ in group(dict(ranking), article_of, 1, how)]


def article_cosines(
    article_vectors: np.ndarray, qvec: np.ndarray, articles: Iterable[int]
) -> list[tuple[int, float]]:
    """``(article_row, cosine)`` best first for the given articles (rows of normalized vectors).

    An article without paragraphs has a zero vector and so a cosine of 0.
    """
    rows = np.array(sorted(set(articles)), dtype=np.int64)
    if not len(rows):
        return []
    sims = np.asarray(article_vectors[rows], dtype=np.float32) @ np.asarray(qvec, np.float32)
    order = np.lexsort((rows, -sims))  # by cosine, ties by row: deterministic
    return [(int(rows[i]), float(sims[i])) for i in order]


def weighted_lists(rankings: Sequence[Ranking], weights: Sequence[float]) -> dict[int, float]:
    """Sum of ``weight * min-max(score)`` over the lists; a key missing from a list gets 0 there."""
    if len(rankings) != len(weights):
        raise ValueError("one weight per ranking")
    out: dict[int, float] = defaultdict(float)
    for ranking, w in zip(rankings, weights, strict=True):
        for key, s in minmax(ranking).items():
            out[key] += w * s
    for ranking in rankings:  # keys seen only with weight 0 still belong to the result
        for key, _ in ranking:
            out.setdefault(key, 0.0)
    return dict(out)


def fuse_articles(
    keyword: Ranking,
    semantic: Ranking,
    article_of: Callable[[int], int],
    article_sims: Ranking = (),
    method: str = "rrf",
    k: int = 60,
    alpha: float = 0.5,
    how: str = "max",
) -> dict[int, float]:
    """Article scores from fusing article rankings rather than paragraph rankings.

    ``keyword`` and ``semantic`` are paragraph rankings (either may be empty); each is grouped
    into an article ranking with ``how``. ``article_sims`` is an optional article ranking (e.g.
    ``article_cosines``) fused as one more semantic-side list. ``rrf`` sums reciprocal ranks;
    ``weighted`` gives the keyword list ``1 - alpha`` and splits ``alpha`` evenly over the
    semantic-side lists (after min-max), so ``alpha`` keeps its meaning.
    """
    kw = article_ranking(keyword, article_of, how) if keyword else []
    dense = [article_ranking(semantic, article_of, how)] if semantic else []
    if article_sims:
        dense.append(list(article_sims))
    lists = ([kw] if kw else []) + dense
    if method == "rrf":
        return rrf(lists, k=k)
    if method == "weighted":
        if not 0.0 <= alpha <= 1.0:
            raise ValueError("alpha must be in [0, 1]")
        if not kw or not dense:  # one side only: its lists share the whole weight
            return weighted_lists(lists, [1.0 / len(lists)] * len(lists)) if lists else {}
        return weighted_lists(lists, [1 - alpha] + [alpha / len(dense)] * len(dense))
    raise ValueError(f"unknown fusion {method!r} (rrf or weighted)")


def regroup(
    groups: list[tuple[int, float, list[int]]], article_scores: dict[int, float]
) -> list[tuple[int, float, list[int]]]:
    """``group``'s output re-scored and re-sorted by ``article_scores`` (missing → 0).

    The paragraphs shown under each article (and their order) are kept as grouped.
    """
    out = [(art, article_scores.get(art, 0.0), rows) for art, _, rows in groups]
    out.sort(key=lambda x: (-x[1], x[0]))
    return out
