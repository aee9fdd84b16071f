"""Fusion and grouping are pure: checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from search.fusion import (
    article_cosines,
    article_ranking,
    fuse,
    fuse_articles,
    group,
    minmax,
    regroup,
    rrf,
    weighted,
    weighted_lists,
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


# Article-level fusion. Paragraph rows 0-2 belong to article 0, 3-4 to article 1, 5 to article 2.
ARTICLE_OF = {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 2}.__getitem__


def test_article_ranking_groups_one_leg():
    leg = [(3, 0.9), (0, 0.8), (1, 0.7), (5, 0.1)]
    assert article_ranking(leg, ARTICLE_OF, "max") == [(1, 0.9), (0, 0.8), (2, 0.1)]
    top = article_ranking(leg, ARTICLE_OF, "sum2")
    assert top[0] == (0, pytest.approx(0.8 + 0.35))  # two matching paragraphs beat one


def test_article_fusion_counts_each_article_once_per_leg():
    # Paragraph-level RRF lets article 0 collect three keyword ranks; at article level each
    # leg votes once per article, so article 1 (first in both legs' article rankings) wins.
    keyword = [(0, 9.0), (3, 8.0), (1, 7.0), (2, 6.0)]
    semantic = [(4, 0.9), (1, 0.8), (2, 0.7), (0, 0.6)]
    para = group(rrf([keyword, semantic], k=1), ARTICLE_OF, how="sum2")
    assert para[0][0] == 0
    art = fuse_articles(keyword, semantic, ARTICLE_OF, method="rrf", k=1, how="max")
    # keyword articles: 0 (rank 1), 1 (rank 2); semantic articles: 1 (rank 1), 0 (rank 2)
    assert art[0] == pytest.approx(1 / 2 + 1 / 3) == art[1]
    art = fuse_articles(keyword[1:], semantic, ARTICLE_OF, method="rrf", k=1, how="max")
    assert art[1] == pytest.approx(1 / 2 + 1 / 2) and art[0] == pytest.approx(1 / 3 + 1 / 3)


def test_article_cosines_rank_candidates_only():
    vecs = np.array([[1, 0], [0, 1], [0.6, 0.8], [0, 0]], dtype=np.float32)
    q = np.array([0, 1], dtype=np.float32)
    out = article_cosines(vecs, q, [0, 2, 2, 3])  # duplicates allowed; article 1 not a candidate
    assert [a for a, _ in out] == [2, 0, 3]  # 0 and 3 tie at 0: lower row first
    assert out[0][1] == pytest.approx(0.8)
    assert article_cosines(vecs, q, []) == []


def test_article_vector_is_a_third_vote():
    keyword = [(0, 9.0), (3, 8.0)]  # articles 0, 1
    semantic = [(3, 0.9), (0, 0.8)]  # articles 1, 0: a tie without a third list
    sims = [(0, 0.7), (1, 0.2)]  # the whole of article 0 is closer to the query
    art = fuse_articles(keyword, semantic, ARTICLE_OF, sims, method="rrf", k=60)
    assert art[0] > art[1]
    assert art[0] == pytest.approx(2 / 61 + 1 / 62)
    # semantic mode: no keyword leg, the two dense lists only
    sem_only = fuse_articles([], semantic, ARTICLE_OF, sims, method="rrf", k=60)
    assert sem_only[0] == pytest.approx(sem_only[1]) == pytest.approx(1 / 61 + 1 / 62)


def test_weighted_article_fusion_splits_alpha_over_dense_lists():
    keyword = [(0, 4.0), (3, 2.0)]  # article 0 → 1, article 1 → 0 after min-max
    semantic = [(3, 0.9), (0, 0.5)]  # article 1 → 1, article 0 → 0
    sims = [(0, 0.9), (1, 0.1)]  # article 0 → 1, article 1 → 0
    art = fuse_articles(keyword, semantic, ARTICLE_OF, sims, method="weighted", alpha=0.6)
    assert art[0] == pytest.approx(0.4 + 0.3)
    assert art[1] == pytest.approx(0.3)
    two = fuse_articles(keyword, semantic, ARTICLE_OF, method="weighted", alpha=0.6)
    assert two[0] == pytest.approx(0.4) and two[1] == pytest.approx(0.6)
    with pytest.raises(ValueError):
        fuse_articles(keyword, semantic, ARTICLE_OF, method="bogus")


def test_weighted_lists_keeps_zero_scored_keys():
    out = weighted_lists([[(1, 2.0), (2, 1.0)], [(3, 5.0)]], [0.5, 0.0])
    assert out == {1: 0.5, 2: 0.0, 3: 0.0}
    with pytest.raises(ValueError):
        weighted_lists([[(1, 1.0)]], [0.5, 0.5])


def test_regroup_reorders_articles_and_keeps_their_paragraphs():
    groups = [(0, 3.0, [1, 0]), (1, 2.0, [3]), (2, 1.0, [5])]
    out = regroup(groups, {2: 0.9, 1: 0.5})
    assert out == [(2, 0.9, [5]), (1, 0.5, [3]), (0, 0.0, [1, 0])]


@pytest.fixture(scope="module")
def article_engine(settings, built_index):
    from dataclasses import replace

    from search.engine import Engine

    return Engine.open(replace(settings, fusion_level="article", article_vector=True))


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_engine_article_fusion_end_to_end(article_engine, mode):
    from search.models import Query

    res = article_engine.search(Query("Idlib de-escalation", mode=mode, limit=20))
    top = res.results[0]
    assert top.title == "Turkey, Russia agree on coordination in Syria amid US withdrawal"
    assert [a.score for a in res.results] == sorted((a.score for a in res.results), reverse=True)
    gen = article_engine.backend.generation
    for hit in res.results:  # the paragraphs shown still belong to their article
        rows = {gen.paragraphs[r]["id"]: r for r in range(len(gen.paragraphs))}
        assert all(
            gen.articles[gen.article_of[rows[p.paragraph_id]]]["id"] == hit.article_id
            for p in hit.paragraphs
        )
    # the article-vector list only ranks candidates, so filters still hold
    res = article_engine.search(
        Query("Syria Moscow Ankara", mode=mode, date_from="2019-01-05", date_to="2019-02-01")
    )
    assert {a.article_id for a in res.results} == {"ceasefire-4", "theatre-7"}


def test_fusion_level_settings_from_env():
    from search.config import Settings

    s = Settings.from_env({"NEWSEARCH_FUSION_LEVEL": "article", "NEWSEARCH_ARTICLE_VECTOR": "1"})
    assert s.fusion_level == "article" and s.article_vector is True
    d = Settings.from_env({})
    assert d.fusion_level == "paragraph" and d.article_vector is False  # shipped defaults
