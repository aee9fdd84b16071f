"""Fusion and grouping are pure: checked against hand-computed values."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from search.fusion import fuse, minmax, rrf, weighted
from search.ranking import (
    best_per_article,
    convex,
    leg_ranks,
    paragraph_keyword_scores,
    passage_scores,
    rrf_articles,
    top_ranks,
)


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


def test_leg_ranks_rank_eligible_articles_ties_by_row():
    scores = np.array([0.5, 0.9, 0.5, 0.1])
    ok = np.array([True, True, True, False])
    assert leg_ranks(scores, ok).tolist() == [2, 1, 3, 0]


def test_rrf_articles_gives_each_article_one_vote_per_leg():
    kw = np.array([1, 2, 0])
    sem = np.array([2, 1, 3])
    fused = rrf_articles([kw, sem], k=60)
    assert fused[0] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[2] == pytest.approx(1 / 63)  # unranked by keyword: no keyword vote


def test_rrf_articles_weights_scale_each_lists_vote():
    kw = np.array([1, 2, 0])
    para = np.array([0, 1, 2])
    fused = rrf_articles([kw, para], k=10, weights=[1.0, 0.5])
    assert fused[0] == pytest.approx(1 / 11)  # unranked by the second list
    assert fused[1] == pytest.approx(1 / 12 + 0.5 / 11)
    assert fused[2] == pytest.approx(0.5 / 12)
    with pytest.raises(ValueError):
        rrf_articles([kw, para], k=10, weights=[1.0])


def test_convex_scales_each_leg_over_the_match_set():
    kw = np.array([10.0, 5.0, 0.0])
    best = np.array([0.2, 0.6, 0.4])
    members = np.array([True, True, True])
    out = convex(kw, kw > 0, best, np.ones(3, bool), members, alpha=0.5)
    # keyword 10, 5 → 1, 0; cosine 0.2, 0.6, 0.4 → 0, 1, 0.5
    assert out.tolist() == pytest.approx([0.5, 0.5, 0.25])


def test_best_per_article_takes_the_best_paragraph_of_contiguous_rows():
    para = np.array([0.1, 0.7, 0.3, 0.2, 0.9])
    starts = np.array([0, 2, 4])  # articles 0: rows 0-1, 3: rows 2-3, 1: row 4
    out = best_per_article(para, starts, np.array([0, 3, 1]), 4, -1.0)
    assert out.tolist() == pytest.approx([0.7, 0.9, -1.0, 0.3])


def test_top_ranks_keeps_the_best_eligible_rows_ties_by_row():
    scores = np.array([0.5, 0.9, 0.5, 0.1, 0.5, 0.95])
    ok = np.array([True, True, True, True, True, False])
    rows, ranks = top_ranks(scores, ok, 3)
    assert rows.tolist() == [1, 0, 2] and ranks.tolist() == [1, 2, 3]  # row 4 ties, loses
    rows, _ = top_ranks(scores, ok, 10)
    assert rows.tolist() == [1, 0, 2, 4, 3]


def test_passage_scores_add_an_articles_two_best_fused_paragraphs():
    # paragraphs 0-2 belong to article 0, 3-4 to article 1, 5 to article 2 (filtered out)
    article_of = np.array([0, 0, 0, 1, 1, 2])
    keyword = np.array([3.0, 0.0, 1.0, 2.0, 0.0, 9.0])
    cosines = np.array([0.2, 0.6, 0.5, 0.7, 0.1, 0.9])
    ok = np.array([True, True, False])
    out = passage_scores(keyword, cosines, article_of, ok, k=10, depth=10, floor=0.3)
    # keyword ranks: p0 1, p3 2, p2 3; cosine ranks (>= 0.3): p3 1, p1 2, p2 3
    p0, p1, p2, p3 = 1 / 11, 1 / 12, 1 / 13 + 1 / 13, 1 / 12 + 1 / 11
    assert out.tolist() == pytest.approx([p0 + p2, p3, 0.0])  # p1 is article 0's third
    assert p1 < p0 and p1 < p2
    # only ``depth`` paragraphs per leg vote
    shallow = passage_scores(keyword, cosines, article_of, ok, k=10, depth=1, floor=0.3)
    assert shallow.tolist() == pytest.approx([1 / 11, 1 / 11, 0.0])


def test_paragraph_keyword_scores_take_an_articles_best_plus_half_its_second():
    # paragraphs 0-2 belong to article 0, 3-4 to article 1, 5 to article 2 (filtered out),
    # 6 to none (-1)
    article_of = np.array([0, 0, 0, 1, 1, 2, -1])
    keyword = np.array([3.0, 0.0, 1.0, 2.0, 4.0, 9.0, 8.0])
    ok = np.array([True, True, False])
    out = paragraph_keyword_scores(keyword, article_of, ok, depth=10, second=0.5)
    assert out.tolist() == pytest.approx([3.0 + 0.5 * 1.0, 4.0 + 0.5 * 2.0, 0.0])
    # only the ``depth`` best paragraphs count: p4 (4.0), p0 (3.0)
    shallow = paragraph_keyword_scores(keyword, article_of, ok, depth=2, second=0.5)
    assert shallow.tolist() == pytest.approx([3.0, 4.0, 0.0])
    # an article whose words sit in one paragraph beats one with the same total spread thin
    assert paragraph_keyword_scores(
        np.array([4.0, 0.0, 2.0, 2.0]), np.array([0, 0, 1, 1]), np.array([True, True]), 10, 0.5
    ).tolist() == pytest.approx([4.0, 3.0])


def test_keyword_mode_adds_the_keyword_paragraph_ranking_at_half_weight():
    from search import ranking
    from search.backends.base import ArticleKeyword, ClauseEvidence
    from search.config import Settings
    from search.matchset import Calibration

    # article 0: the words spread thin over three paragraphs; article 1: together in one.
    # Whole-article BM25F puts 0 first; the paragraph ranking puts 1 first, and with only the
    # best paragraph voting (passage_depth 1) 0 gets no paragraph vote at all.
    article_of = np.array([0, 0, 0, 1, 1])
    para = np.array([1.0, 1.0, 1.0, 4.0, 0.0])
    scores = np.array([3.1, 3.0])
    matched = np.array([1, 1], np.int16)
    kw = ArticleKeyword(frozenset({"w"}), ClauseEvidence(scores, matched, []), 1)
    kw.paragraph_scores = para
    cal = Calibration(floor=0.3, delta=0.2, hybrid_floor=0.15)
    allowed = np.ones(2, bool)
    s = Settings(passage_depth=1)
    rows, fused, *_ = ranking.decide("keyword", s, cal, allowed, kw, None, None, None, article_of)
    assert rows.tolist() == [1, 0]
    assert fused.tolist() == pytest.approx([1 / 12 + 0.5 / 11, 1 / 11])
    # at full depth both get a paragraph vote and the half weight keeps BM25F's order
    deep = ranking.decide("keyword", Settings(), cal, allowed, kw, None, None, None, article_of)
    assert deep[0].tolist() == [0, 1]
    assert deep[1].tolist() == pytest.approx([1 / 11 + 0.5 / 12, 1 / 12 + 0.5 / 11])
    # without the paragraph owners, or with the vote off: article BM25F alone
    assert ranking.decide("keyword", s, cal, allowed, kw, None)[1].tolist() == [3.1, 3.0]
    off = replace(s, keyword_paragraph_vote=False)
    assert ranking.decide("keyword", off, cal, allowed, kw, None, None, None, article_of)[
        0
    ].tolist() == [0, 1]


@pytest.mark.parametrize("clauses", [2, 5])
def test_a_topic_query_counts_the_second_paragraph_more(clauses):
    """Semantic mode: article 0 has one close paragraph, article 1 two slightly less close ones.
    A one- or two-clause query (a topic) weighs the second by ``semantic_second_short`` (1.0):
    1 first; a longer one by ``semantic_second`` (0.35): 0 first."""
    from search.backends.base import ArticleKeyword, ClauseEvidence
    from search.config import Settings
    from search.matchset import Calibration
    from search.ranking import decide

    s = Settings()
    assert (s.semantic_second, s.semantic_second_short) == (0.35, 1.0)
    cal = Calibration(floor=0.3, delta=0.5, hybrid_floor=0.2)
    best = np.array([0.70, 0.55, 0.40])
    second = np.array([0.10, 0.50, 0.05])
    matched = np.array([1, 1, 1], np.int16)
    kw = ArticleKeyword(frozenset({"gold"}), ClauseEvidence(matched * 1.0, matched, []), clauses)
    rows = decide("semantic", s, cal, np.ones(3, bool), kw, best, second)[0].tolist()
    assert rows == ([1, 0, 2] if clauses == 2 else [0, 1, 2])
