"""ranking.match_members (the facets' cheap match set) is decide's match set, unranked."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from search import ranking
from search.backends.base import ArticleKeyword, ClauseEvidence
from search.config import Settings
from search.matchset import Calibration
from search.models import MODES

CAL = Calibration(floor=0.3, delta=0.2, hybrid_floor=0.15)


def _evidence(seed: int, n: int = 400, any_clause: bool = False, required=()):
    rng = np.random.default_rng(seed)
    hits = [rng.random(n) < 0.2, rng.random(n) < 0.1, rng.random(n) < 0.05]
    matched = np.sum(hits, axis=0).astype(np.int16)
    scores = np.where(matched > 0, rng.random(n) * 10, 0.0)
    excluded = rng.random(n) < 0.05
    kw = ArticleKeyword(
        frozenset({"w"}),
        ClauseEvidence(scores, matched, hits),
        3,
        tuple(required),
        excluded,
        any_clause=any_clause,
    )
    best = rng.normal(0.25, 0.15, n)
    best[rng.random(n) < 0.1] = -np.inf
    allowed = rng.random(n) < 0.8
    return kw, best, best - 0.05, allowed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("fusion", ["rrf", "weighted"])
@pytest.mark.parametrize(
    ("seed", "any_clause", "required"), [(1, False, ()), (2, True, ()), (3, False, (1,))]
)
def test_match_members_is_the_set_decide_ranks(mode, fusion, seed, any_clause, required):
    settings = replace(Settings(), fusion=fusion)
    kw, best, second, allowed = _evidence(seed, any_clause=any_clause, required=required)
    rows = ranking.decide(mode, settings, CAL, allowed, kw, best, second)[0]
    members = ranking.match_members(mode, settings, CAL, allowed, kw, best, second)
    assert sorted(rows.tolist()) == np.flatnonzero(members).tolist()
    assert len(rows) > 0 or mode == "semantic"
    no_words = ArticleKeyword(frozenset(), None)  # only stop words: the semantic set
    rows = ranking.decide(mode, settings, CAL, allowed, no_words, best, second)[0]
    members = ranking.match_members(mode, settings, CAL, allowed, no_words, best, second)
    assert sorted(rows.tolist()) == np.flatnonzero(members).tolist()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", [4, 5, 6])
def test_filters_only_restrict_the_match_set(mode, seed):
    """With ``unfiltered`` (the live articles), the rules are read on the set without the
    filters and the filters restrict it: the filtered set is the unfiltered one ∩ the filter,
    so a facet row counts what filtering on it finds (``decide`` orders the same set)."""
    settings = Settings()
    kw, best, second, allowed = _evidence(seed, required=(1,) if seed == 6 else ())
    alive = np.ones(len(allowed), dtype=bool)
    every = ranking.match_members(mode, settings, CAL, alive, kw, best, second)
    got = ranking.match_members(mode, settings, CAL, allowed, kw, best, second, alive)
    assert (got == (every & allowed)).all() and got.any()
    rows = ranking.decide(mode, settings, CAL, allowed, kw, best, second, unfiltered=alive)[0]
    assert sorted(rows.tolist()) == np.flatnonzero(got).tolist()
