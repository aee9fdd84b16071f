"""Fusion and grouping are pure: checked against hand-computed values."""

from __future__ import annotations

import pytest

from search.fusion import fuse, group, minmax, rrf, weighted


def test_rrf_sums_reciprocal_ranks():
    fused = rrf([[(7, 9.0), (3, 5.0)], [(3, 0.9), (5, 0.8)]], k=60)
    assert fused[3] == pytest.approx(1 / 62 + 1 / 61)
    assert fused[7] == pytest.approx(1 / 61)
    assert fused[5] == pytest.approx(1 / 62)
    assert max(fused, key=fused.get) == 3  # found by both legs wins


def test_rrf_ignores_raw_scores():
    a = rrf([[(1, 1000.0), (2, 0.001)]])
    b = rrf([[(1, 2.0), (2, 1.0)]])
    assert a == b


def test_minmax_scales_and_handles_ties():
    assert minmax([(1, 10.0), (2, 5.0), (3, 0.0)]) == {1: 1.0, 2: 0.5, 3: 0.0}
    assert minmax([(1, 3.0), (2, 3.0)]) == {1: 1.0, 2: 1.0}
    assert minmax([]) == {}


def test_weighted_alpha_extremes_follow_one_leg():
    kw = [(1, 9.0), (2, 1.0)]
    sem = [(2, 0.9), (1, 0.1)]
    only_kw = weighted(kw, sem, alpha=0.0)
    only_sem = weighted(kw, sem, alpha=1.0)
    assert only_kw[1] > only_kw[2]
    assert only_sem[2] > only_sem[1]
    half = weighted(kw, sem, alpha=0.5)
    assert half[1] == pytest.approx(0.5) and half[2] == pytest.approx(0.5)


def test_weighted_missing_leg_counts_zero():
    out = weighted([(1, 5.0), (2, 1.0)], [(3, 0.7), (4, 0.2)], alpha=0.25)
    assert out[1] == pytest.approx(0.75)
    assert out[3] == pytest.approx(0.25)
    assert out[2] == out[4] == 0.0


def test_weighted_rejects_bad_alpha():
    with pytest.raises(ValueError):
        weighted([], [], alpha=1.5)
    with pytest.raises(ValueError):
        fuse([], [], method="bogus")


def test_group_by_best_paragraph_and_order():
    scores = {0: 0.2, 1: 0.9, 2: 0.5, 3: 0.8, 4: 0.1}
    article_of = {0: 0, 1: 0, 2: 1, 3: 1, 4: 2}.__getitem__
    out = group(scores, article_of, per_article=3, how="max")
    assert [a for a, _, _ in out] == [0, 1, 2]
    assert out[0] == (0, 0.9, [1, 0])
    assert out[1][2] == [3, 2]


def test_group_sum2_rewards_several_matching_paragraphs():
    scores = {0: 0.9, 1: 0.8, 2: 0.7, 3: 0.95}
    article_of = {0: 0, 1: 0, 2: 0, 3: 1}.__getitem__
    assert group(scores, article_of, how="max")[0][0] == 1
    best = group(scores, article_of, per_article=2, how="sum2")[0]
    assert best[0] == 0 and best[1] == pytest.approx(0.9 + 0.4) and best[2] == [0, 1]


def test_group_ties_are_deterministic():
    scores = {5: 1.0, 3: 1.0}
    out = group(scores, lambda r: r, how="max")
    assert [a for a, _, _ in out] == [3, 5]
