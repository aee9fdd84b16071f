"""Article-level vectors, related stories and near-duplicate groups: pure numpy, no I/O.

An article's vector is the normalized mean of its paragraph vectors. Near-duplicates (wire
copies, re-publications) are pairs of articles whose vectors are almost identical; they are
grouped transitively (union-find) so a search shows one result per story.
"""

from __future__ import annotations

import numpy as np

BLOCK = 2048


def article_vectors(vectors: np.ndarray, article_of: np.ndarray, n_articles: int) -> np.ndarray:
    """(n_articles, dim) normalized means; an article without paragraphs gets a zero row."""
    dim = vectors.shape[1]
    sums = np.zeros((n_articles, dim), dtype=np.float32)
    if len(article_of):
        # Paragraph rows of one article are contiguous, so reduceat is one pass.
        starts = np.flatnonzero(np.r_[True, article_of[1:] != article_of[:-1]])
        sums[article_of[starts]] = np.add.reduceat(np.asarray(vectors), starts, axis=0)
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return np.divide(sums, norms, out=np.zeros_like(sums), where=norms > 0)


def nearest_articles(
    art_vecs: np.ndarray, row: int, k: int, alive: np.ndarray | None = None
) -> list[tuple[int, float]]:
    """The ``k`` articles most similar to article ``row`` (itself excluded), best first."""
    scores = art_vecs @ art_vecs[row]
    scores[row] = -np.inf
    if alive is not None:
        scores[~alive] = -np.inf
    k = min(k, int(np.isfinite(scores).sum()))
    if k <= 0:
        return []
    top = np.argpartition(-scores, k - 1)[:k]
    top = top[np.lexsort((top, -scores[top]))]
    return [(int(i), float(scores[i])) for i in top]


def duplicate_groups(
    art_vecs: np.ndarray, threshold: float, alive: np.ndarray | None = None
) -> list[list[int]]:
    """Groups (size ≥ 2, rows ascending) of articles linked by cosine ≥ ``threshold``."""
    n = art_vecs.shape[0]
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    live = np.ones(n, bool) if alive is None else alive.astype(bool)
    valid = live & (np.linalg.norm(art_vecs, axis=1) > 0)
    for start in range(0, n, BLOCK):
        block = art_vecs[start : start + BLOCK]
        sims = block @ art_vecs.T
        rows, cols = np.nonzero(sims >= threshold)
        for r, c in zip(rows + start, cols, strict=True):
            if c > r and valid[r] and valid[c]:
                a, b = find(r), find(c)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(valid):
        groups.setdefault(find(int(i)), []).append(int(i))
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def related_stories(
    near: list[tuple[int, float]], duplicate_of: dict[int, list[int]], threshold: float
) -> list[tuple[int, float]]:
    """``near`` (best first) cut at cosine ``threshold``, keeping only the first article of
    each near-duplicate group, so a wire story and its copies are listed once."""
    out, seen = [], set()
    for row, score in near:
        if score < threshold:
            break
        if row in seen:
            continue
        seen.update(duplicate_of.get(row, []))
        out.append((row, score))
    return out
