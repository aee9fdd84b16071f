"""Near-duplicate groups after an add/delete, computed from the groups before it and the new
articles' pairs only (``related.updated_duplicate_groups``), are the groups computed over every
pair; cosines at the threshold's edge are decided exactly either way."""

from __future__ import annotations

import numpy as np
import pytest

from search.related import (
    EXACT_BAND,
    article_vectors,
    article_vectors_of,
    duplicate_groups,
    groups_after_delete,
    groups_unchanged,
    updated_duplicate_groups,
)

THRESHOLD = 0.95


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _articles(rnd: np.random.Generator, n: int, dim: int = 24) -> np.ndarray:
    """Articles of which many are near copies of a few stories (chains of copies, too: a group
    that loses its middle article splits), some without paragraphs (zero vectors)."""
    stories = _unit(rnd.normal(size=(max(2, n // 6), dim)))
    out = np.empty((n, dim), np.float32)
    for i in range(n):
        kind = rnd.random()
        if kind < 0.5 and i:  # a copy of an earlier article, a little off (chains form)
            out[i] = _unit(out[rnd.integers(i)][None] + rnd.normal(scale=0.2, size=dim) / 9)[0]
        elif kind < 0.9:
            s = stories[rnd.integers(len(stories))]
            out[i] = _unit(s[None] + rnd.normal(scale=0.35, size=dim) / 4)[0]
        else:
            out[i] = _unit(rnd.normal(size=(1, dim)))[0]
        if rnd.random() < 0.03:
            out[i] = 0
    return out


@pytest.mark.parametrize("seed", range(6))
def test_updated_groups_are_the_groups_of_every_pair(seed):
    rnd = np.random.default_rng(seed)
    vecs = _articles(rnd, 300)
    alive = np.ones(len(vecs), bool)
    groups = duplicate_groups(vecs, THRESHOLD, alive)
    assert len(groups) > 5 and max(map(len, groups)) > 3  # the test has something to break
    split = unchanged = 0
    for _ in range(40):
        alive_before = alive.copy()
        alone = rnd.random() < 0.3  # only articles without near-duplicates go, none come
        grouped = {i for g in groups for i in g}
        pool = [i for i in np.flatnonzero(alive) if not alone or i not in grouped]
        gone = rnd.choice(pool, size=min(len(pool), int(rnd.integers(0, 6))), replace=False)
        alive[gone] = False
        extra = _articles(rnd, 0 if alone else int(rnd.integers(0, 12)))
        if len(extra):  # new articles, some copies of live ones
            copies = rnd.random(len(extra)) < 0.5
            src = vecs[rnd.choice(np.flatnonzero(alive), size=int(copies.sum()))]
            extra[copies] = _unit(src + rnd.normal(scale=0.02, size=src.shape))
        vecs = np.concatenate([vecs, extra])
        alive = np.concatenate([alive, np.ones(len(extra), bool)])
        got = updated_duplicate_groups(vecs, THRESHOLD, alive, groups, alive_before)
        full = duplicate_groups(vecs, THRESHOLD, alive)
        assert got == full
        if groups_unchanged(groups, alive, alive_before):
            unchanged += 1
            assert full == groups
        split += len(full) > len(groups) - len(gone) and len(gone) > 0
        groups = full
    assert split and unchanged


def test_a_cosine_at_the_threshold_is_decided_exactly_in_both():
    """Two articles whose float32 cosine is within EXACT_BAND of the threshold: linked iff the
    exact cosine reaches it, for every pair, at build and at update alike."""
    rnd = np.random.default_rng(1)
    a64 = _unit(rnd.normal(size=(1, 32)))[0].astype(np.float64)
    u = rnd.normal(size=32)
    u = (u - (u @ a64) * a64) / np.linalg.norm(u - (u @ a64) * a64)
    a = a64.astype(np.float32)
    found = {True: False, False: False}
    for target in THRESHOLD + np.linspace(-0.8, 0.8, 300) * EXACT_BAND:
        b = (target * a64 + np.sqrt(1 - target**2) * u).astype(np.float32)
        assert abs(float(a @ b) - THRESHOLD) < EXACT_BAND
        exact = float(np.dot(a.astype(np.float64), b.astype(np.float64))) >= THRESHOLD
        vecs = np.stack([a, b])
        full = duplicate_groups(vecs, THRESHOLD)
        assert full == ([[0, 1]] if exact else [])
        upd = updated_duplicate_groups(vecs, THRESHOLD, np.ones(2, bool), [], np.ones(1, bool))
        assert upd == full
        found[exact] = True
    assert found[True] and found[False]


def test_an_article_alive_again_is_computed_over_every_pair():
    rnd = np.random.default_rng(3)
    vecs = _articles(rnd, 80)
    was = np.ones(80, bool)
    was[5] = False
    groups = duplicate_groups(vecs, THRESHOLD, was)
    now = np.ones(80, bool)
    got = updated_duplicate_groups(vecs, THRESHOLD, now, groups, was)
    assert got == duplicate_groups(vecs, THRESHOLD, now)


def test_some_articles_vectors_are_the_bits_of_all_articles_vectors():
    rnd = np.random.default_rng(4)
    sizes = rnd.integers(0, 9, size=300)  # paragraphs per article, some none
    article_of = np.repeat(np.arange(300), sizes)
    vectors = _unit(rnd.normal(size=(len(article_of), 48)))
    every = article_vectors(vectors, article_of, 300)
    for _ in range(20):
        rows = rnd.choice(300, size=int(rnd.integers(1, 40)), replace=False)
        assert np.array_equal(article_vectors_of(vectors, article_of, rows), every[rows])


@pytest.mark.parametrize("seed", range(4))
def test_groups_after_deletions_only_are_the_groups_of_every_pair(seed):
    """Deleting grouped articles (chains split) recomputes only the groups that lost one, from
    those articles' paragraphs: the groups of every pair."""
    rnd = np.random.default_rng(seed)
    sizes = rnd.integers(1, 4, size=240)
    article_of = np.repeat(np.arange(240), sizes)
    arts = _articles(rnd, 240)
    vectors = np.repeat(arts, sizes, axis=0)  # paragraphs = their article's vector
    art_vecs = article_vectors(vectors, article_of, 240)
    alive = np.ones(240, bool)
    groups = duplicate_groups(art_vecs, THRESHOLD, alive)
    lost = 0
    for _ in range(15):
        grouped = sorted({i for g in groups for i in g if alive[i]})
        alive[rnd.choice(grouped, size=min(len(grouped), 3), replace=False)] = False
        got = groups_after_delete(
            groups, alive, THRESHOLD, lambda rows: article_vectors_of(vectors, article_of, rows)
        )
        full = duplicate_groups(art_vecs, THRESHOLD, alive)
        assert got == full
        lost += sum(len(g) for g in full) < sum(len(g) for g in groups) - 3  # a split too
        groups = full
    assert lost
