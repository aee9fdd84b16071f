"""Article-level vectors, related stories and near-duplicate groups: pure numpy, no I/O.

An article's vector is the normalized mean of its paragraph vectors. Near-duplicates (wire
copies, re-publications) are pairs of articles whose vectors are almost identical; they are
grouped transitively (union-find) so a search shows one result per story.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def article_vectors_of(vectors: np.ndarray, article_of: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``article_vectors(vectors, article_of, n)[rows]`` from those articles' paragraphs only:
    each article's rows are added in the same order and normalized alike, so the same bits."""
    rows = np.asarray(rows, dtype=np.int64)
    order = np.unique(rows)
    take = np.flatnonzero(np.isin(article_of, order))
    local = np.searchsorted(order, article_of[take])
    some = article_vectors(np.asarray(vectors)[take], local, len(order))
    return some[np.searchsorted(order, rows)]


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


# A cosine this close to the threshold is decided exactly (float32 products summed in another
# order -- another matrix shape, another BLAS kernel -- differ by up to ~2e-7): the groups are
# then the same whether computed over every pair at a build or only over an update's new pairs.
EXACT_BAND = 1e-5


def _exact_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """The dot product of two float32 vectors, correctly rounded (each product is exact in
    float64, ``fsum`` adds them exactly)."""
    return math.fsum((a.astype(np.float64) * b.astype(np.float64)).tolist())


def _linked(art_vecs, threshold, left, sims, right) -> np.ndarray:
    """Which of the candidate pairs (rows ``left``, ``right``, float32 cosines ``sims``) are
    at or above ``threshold``, the ones within EXACT_BAND of it decided exactly."""
    sure = sims >= threshold + EXACT_BAND
    for i in np.flatnonzero(~sure):
        sure[i] = _exact_cosine(art_vecs[left[i]], art_vecs[right[i]]) >= threshold
    return sure


def _candidates(art_vecs, rows: np.ndarray, threshold: float):
    """(row, other row, float32 cosine) of every pair of one of ``rows`` with any article
    that could be at or above ``threshold``."""
    sims = art_vecs[rows] @ art_vecs.T
    i, c = np.nonzero(sims >= threshold - EXACT_BAND)
    return rows[i], c, sims[i, c]


def _groups(
    n: int, valid: np.ndarray, pairs: list[tuple[np.ndarray, np.ndarray]]
) -> list[list[int]]:
    """Connected components (size >= 2, rows ascending, by first row) of the linked pairs."""
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return int(i)

    for left, right in pairs:
        for r, c in zip(left.tolist(), right.tolist(), strict=True):
            a, b = find(r), find(c)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = {}
    for i in np.flatnonzero(valid):
        groups.setdefault(find(int(i)), []).append(int(i))
    return sorted((g for g in groups.values() if len(g) > 1), key=lambda g: g[0])


def _valid(art_vecs: np.ndarray, alive: np.ndarray | None) -> np.ndarray:
    live = np.ones(art_vecs.shape[0], bool) if alive is None else alive.astype(bool)
    return live & (np.linalg.norm(art_vecs, axis=1) > 0)


def duplicate_groups(
    art_vecs: np.ndarray, threshold: float, alive: np.ndarray | None = None
) -> list[list[int]]:
    """Groups (size >= 2, rows ascending) of articles linked by cosine >= ``threshold``."""
    n = art_vecs.shape[0]
    valid = _valid(art_vecs, alive)
    pairs = []
    for start in range(0, n, BLOCK):
        r, c, sims = _candidates(art_vecs, np.arange(start, min(n, start + BLOCK)), threshold)
        keep = (c > r) & valid[r] & valid[c]
        r, c, sims = r[keep], c[keep], sims[keep]
        ok = _linked(art_vecs, threshold, r, sims, c)
        pairs.append((r[ok], c[ok]))
    return _groups(n, valid, pairs)


def groups_unchanged(before: list[list[int]], alive: np.ndarray, alive_before: np.ndarray) -> bool:
    """True when an update cannot change the groups: no new articles, none alive again, and
    every grouped article still alive (an article without links takes none with it)."""
    return (
        len(alive) == len(alive_before)
        and not bool(np.any(alive & ~alive_before))
        and all(alive[i] for g in before for i in g)
    )


def _relinked(vecs: np.ndarray, members: np.ndarray, threshold: float):
    """The linked pairs (rows) among ``members``, whose vectors are ``vecs``."""
    sims = vecs @ vecs.T
    i, j = np.nonzero(np.triu(sims >= threshold - EXACT_BAND, 1))
    ok = _linked(vecs, threshold, i, sims[i, j], j)
    return members[i][ok], members[j][ok]


def _surviving_pairs(before: list[list[int]], keep: np.ndarray, threshold: float, vectors_of):
    """The links of the groups ``before`` among their members still in ``keep``: an intact
    group stays linked (one chain is enough); one that lost a member is linked again from its
    members' vectors (``vectors_of(rows)``)."""
    pairs = []
    for g in before:
        members = np.asarray([i for i in g if keep[i]], dtype=np.int64)
        if len(members) == len(g):
            pairs.append((members[:1].repeat(len(members) - 1), members[1:]))
        elif len(members) > 1:
            pairs.append(_relinked(vectors_of(members), members, threshold))
    return pairs


def groups_after_delete(
    before: list[list[int]], alive: np.ndarray, threshold: float, vectors_of
) -> list[list[int]]:
    """:func:`duplicate_groups` after deletions only (no article new or alive again): a group
    keeps its links but its deleted members'; one that lost a member is linked again from its
    members' vectors (``vectors_of(rows)``: no other article's vector is needed)."""
    pairs = _surviving_pairs(before, alive.astype(bool), threshold, vectors_of)
    return _groups(len(alive), alive.astype(bool), pairs)


def updated_duplicate_groups(
    art_vecs: np.ndarray,
    threshold: float,
    alive: np.ndarray,
    before: list[list[int]],
    alive_before: np.ndarray,
) -> list[list[int]]:
    """:func:`duplicate_groups` after an add/delete, from the groups ``before`` it (made with
    the same threshold): articles keep their rows and vectors, some stop being alive, new ones
    are appended (rows from ``len(alive_before)``). Only the new articles' pairs and the pairs
    inside a group that lost a member are computed; every other link is unchanged."""
    n, m = art_vecs.shape[0], len(alive_before)
    valid = _valid(art_vecs, alive)
    if m > n or bool(np.any(valid[:m] & ~alive_before.astype(bool))):  # not an add/delete
        return duplicate_groups(art_vecs, threshold, alive)
    pairs = _surviving_pairs(before, valid, threshold, lambda rows: art_vecs[rows])
    new = np.flatnonzero(valid[m:]) + m
    for start in range(0, len(new), BLOCK):
        r, c, sims = _candidates(art_vecs, new[start : start + BLOCK], threshold)
        keep = valid[c] & ((c < m) | (c > r))  # a pair of two new articles once
        r, c, sims = r[keep], c[keep], sims[keep]
        ok = _linked(art_vecs, threshold, r, sims, c)
        pairs.append((r[ok], c[ok]))
    return _groups(n, valid, pairs)


def fold_duplicates(
    rows: Sequence[int], duplicate_of: dict[int, list[int]]
) -> tuple[list[int], dict[int, list[int]]]:
    """``rows`` (best first) with each near-duplicate group kept once, by its first row, and
    for each kept row its copies *among* ``rows``: a copy the query does not match, or that
    the filters leave out, is folded into no result (it would be listed as a similar story of
    a search that excludes it)."""
    listed = set(rows)
    kept, folded, seen = [], {}, set()
    for r in rows:
        if r in seen:
            continue
        others = duplicate_of.get(r, [])
        seen.update(others)
        mine = [o for o in others if o in listed]
        if mine:
            folded[r] = mine
        kept.append(r)
    return kept, folded


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
