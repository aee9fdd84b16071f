"""Honest match sets (issue #12): every rule on small hand-made corpora, with the real model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from search.build import build_index
from search.config import Settings
from search.engine import Engine
from search.matchset import (
    FEW,
    Calibration,
    calibration_for,
    hybrid_set,
    keyword_set,
    min_should_match,
    semantic_set,
    wants_partial,
)
from search.models import MODES, Query
from search.query import meaning_text

CAL = Calibration(floor=0.3, delta=0.2, hybrid_floor=0.15)


def test_min_should_match_all_of_short_queries_a_fraction_of_long_ones():
    assert [min_should_match(n, 0.5) for n in range(1, 9)] == [1, 2, 2, 2, 2, 3, 3, 4]
    assert min_should_match(10, 0.75) == 7


def test_keyword_set_needs_enough_clauses_and_allowed():
    matched = np.array([3, 2, 1, 0, 3], dtype=np.int16)
    allowed = np.array([True, True, True, True, False])
    assert keyword_set(matched, 3, allowed, 0.5).tolist() == [True, True, False, False, False]
    assert not keyword_set(matched, 0, allowed, 0.5).any()


def test_semantic_set_floor_and_relative_cut():
    best = np.array([0.62, 0.45, 0.41, 0.29, -np.inf])
    assert semantic_set(best, CAL).tolist() == [True, True, False, False, False]
    # Nothing clears the floor: no semantic match at all, whatever the best hit is.
    assert not semantic_set(np.array([0.29, 0.1]), CAL).any()


def test_hybrid_set_adds_keyword_matches_the_meaning_does_not_contradict():
    kw = np.array([True, True, False, False])
    sem = np.array([False, False, True, False])
    best = np.array([0.2, 0.1, 0.5, 0.4])
    assert hybrid_set(kw, sem, best, CAL).tolist() == [True, False, True, False]
    # Keyword matched but nothing survives: the keyword set is the answer, never empty.
    only_kw = hybrid_set(kw, np.zeros(4, bool), np.array([0.0, 0.0, 0.0, 0.0]), CAL)
    assert only_kw.tolist() == kw.tolist()


def test_hybrid_set_adds_partial_matches_close_in_meaning():
    # Two-word query: article 0 holds both words, 1-3 only one, 4 none.
    kw = np.array([True, False, False, False, False])  # the keyword set: both words
    shares = np.array([True, True, True, True, False])
    sem = np.zeros(5, bool)
    best = np.array([0.05, 0.26, 0.20, 0.10, 0.9])
    cal = Calibration(floor=0.3, delta=0.2, hybrid_floor=0.15, partial_floor=0.25)
    # without partial matches: the article holding both words (and 2, one word at 0.20 > 0.15,
    # is not a keyword match: it holds one of two required words)
    assert hybrid_set(kw, sem, best, cal, kw, shares).tolist() == [True, False, False, False, False]
    got = hybrid_set(kw, sem, best, cal, complete=kw, shares_word=shares, partial=True)
    # 1 holds one word and clears partial_floor; 2 and 3 do not; 4 holds no word
    assert got.tolist() == [True, True, False, False, False]
    # partial_floor is never read below hybrid_floor
    low = Calibration(floor=0.3, delta=0.2, hybrid_floor=0.15, partial_floor=0.0)
    got = hybrid_set(kw, sem, best, low, kw, shares, partial=True)
    assert got.tolist() == [True, True, True, False, False]


def test_partial_matches_only_for_short_queries_whose_words_seldom_meet():
    few, many = np.zeros(50, bool), np.zeros(50, bool)
    few[: FEW - 1], many[:FEW] = True, True
    assert wants_partial(2, False, few) and wants_partial(1, False, few)
    assert not wants_partial(2, False, many)  # a page of articles holds both words
    assert not wants_partial(3, False, few)  # longer queries have minimum-should-match
    assert not wants_partial(2, True, few)  # OR: any one word already matches
    assert not wants_partial(0, False, few)


def test_a_two_word_query_whose_words_seldom_meet_gets_partial_matches_in_hybrid():
    from search import ranking
    from search.backends.base import ArticleKeyword, ClauseEvidence

    cal = Calibration(floor=0.5, delta=0.3, hybrid_floor=0.2, partial_floor=0.3)
    n = 40
    matched = np.zeros(n, np.int16)
    matched[0] = 2  # article 0 holds both words ("iron and steel")
    matched[1:30] = 1  # 1-29 hold one of them
    scores = matched * 1.0
    best = np.full(n, 0.1)
    best[0], best[1], best[2] = 0.45, 0.35, 0.25  # 1 is close in meaning, 2 is not
    kw = ArticleKeyword(frozenset({"iron", "steel"}), ClauseEvidence(scores, matched, []), 2)
    allowed = np.ones(n, bool)
    rows = ranking.decide("hybrid", Settings(), cal, allowed, kw, best)[0]
    assert sorted(rows.tolist()) == [0, 1]
    assert ranking.match_members("hybrid", Settings(), cal, allowed, kw, best).sum() == 2
    # keyword mode is not widened
    assert ranking.decide("keyword", Settings(), cal, allowed, kw, best)[0].tolist() == [0]
    # once a page of articles holds both words, one word is not enough
    many = matched.copy()
    many[20 : 20 + FEW] = 2
    kw = ArticleKeyword(frozenset({"iron", "steel"}), ClauseEvidence(many * 1.0, many, []), 2)
    rows = ranking.decide("hybrid", Settings(), cal, allowed, kw, best)[0]
    assert 1 not in rows.tolist() and 0 in rows.tolist()


def test_calibration_is_per_model_and_uncalibrated_models_are_strict():
    minilm = calibration_for("sentence-transformers/all-MiniLM-L6-v2", "torch")
    other = calibration_for("some/other-model", "torch")
    assert other.floor > minilm.floor
    assert Calibration.from_dict(minilm.to_dict()).floor == minilm.floor
    assert Calibration.from_dict(minilm.to_dict()).partial_floor == minilm.partial_floor
    # an index recorded before partial_floor existed reads the default
    old = {"floor": 0.43, "delta": 0.3, "hybrid_floor": 0.3}
    assert Calibration.from_dict(old).partial_floor == minilm.partial_floor


ARTICLES = [
    {
        "id": "brexit-long",
        "title": "Parliament debates the Brexit deal",
        "date": "2020-01-10",
        "source": "Wire",
        "text": "Members of parliament debated the Brexit withdrawal agreement for a sixth day.\n\n"
        "Boris Johnson urged lawmakers to back the deal before the deadline.\n\n"
        "The opposition said the agreement would hurt workers and manufacturers.",
    },
    {
        "id": "brexit-short",
        "title": "Brexit vote delayed again",
        "date": "2020-01-12",
        "source": "Herald",
        "text": "The Brexit vote in parliament was delayed again after a procedural dispute.\n\n"
        "Officials said a new date for the vote would be set next week.",
    },
    {
        "id": "fishing",
        "title": "Fishing fleets wait for quota talks",
        "date": "2020-02-03",
        "source": "Herald",
        "text": "Fishing fleets in the north sea stayed in port while quota talks continued.\n\n"
        "Crews said fuel prices and low catches had already cut their income.",
    },
    {
        "id": "volcano",
        "title": "Volcano erupts on remote island",
        "date": "2020-03-01",
        "source": "Wire",
        "text": "A volcano on a remote Pacific island erupted, sending ash high into the sky.\n\n"
        "Scientists had recorded increasing tremors in the weeks before the eruption.",
    },
    {
        "id": "gardening",
        "title": "Spring gardening tips",
        "date": "2020-03-20",
        "source": "Wire",
        "text": "Gardeners should plant tomatoes after the last frost and water seedlings.\n\n"
        "Compost improves the soil and attracts earthworms.",
    },
]
# A long article that mentions elections in passing in many paragraphs, and a two-paragraph
# article entirely about them: the short one is #1 in both legs and must be #1 in hybrid.
LONG = {
    "id": "long-review",
    "title": "A year in review",
    "date": "2020-04-01",
    "source": "Wire",
    "text": "\n\n".join(
        f"In month {i} the council also discussed the local election turnout among other "
        f"business such as roads, parks item {i} and the library budget."
        for i in range(1, 13)
    ),
}
SHORT = {
    "id": "turnout",
    "title": "Local election turnout falls to a record low",
    "date": "2020-04-02",
    "source": "Herald",
    "text": "Turnout in the local election fell to a record low, officials said.\n\n"
    "Fewer than one in four voters cast a ballot in the local election, the lowest turnout "
    "since records began.",
}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Engine:
    d = tmp_path_factory.mktemp("matchset")
    docs = d / "docs.jsonl"
    docs.write_text(
        "".join(json.dumps(a) + "\n" for a in [*ARTICLES, LONG, SHORT]), encoding="utf-8"
    )
    settings = Settings.from_env(index_dir=d / "index")
    build_index([docs], settings, progress=False)
    return Engine.open(settings)


def ids(res):
    return [a.article_id for a in res.results]


@pytest.mark.parametrize("mode", MODES)
def test_exclusion_is_per_article_in_every_mode(small, mode):
    res = small.search(Query("Brexit parliament -Johnson", mode=mode))
    assert "brexit-long" not in ids(res)  # "Johnson" is in its second paragraph only
    if mode != "semantic":
        assert "brexit-short" in ids(res)
    assert res.total == len(res.results)


@pytest.mark.parametrize("mode", MODES)
def test_phrase_and_title_constrain_every_leg(small, mode):
    res = small.search(Query('"withdrawal agreement"', mode=mode))
    assert ids(res) == ["brexit-long"]
    res = small.search(Query("title:volcano", mode=mode))
    assert ids(res) == ["volcano"]


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_nonsense_gets_no_results_and_something_to_try(small, mode):
    res = small.search(Query("xylophone zebra quasar", mode=mode))
    assert res.total == 0 and res.results == []
    assert res.notice and "No articles match" in res.notice
    assert res.hints


def test_no_results_says_which_filter_to_drop_and_what_it_would_find(small):
    res = small.search(Query("volcano eruption", date_from="2020-01-01", date_to="2020-01-31"))
    assert res.total == 0
    drop = [h for h in res.hints if h.kind == "filters"]
    assert drop and drop[0].total == 1


def test_no_results_in_keyword_mode_offers_another_mode(small):
    res = small.search(Query("lava mountain explosion", mode="keyword"))
    assert res.total == 0
    assert any(h.kind == "mode" and h.mode in ("semantic", "hybrid") for h in res.hints)


def test_empty_keyword_answer_embeds_the_query_once_for_its_mode_hints(small, monkeypatch):
    calls = []
    real = small.embedder.encode_query
    monkeypatch.setattr(small.embedder, "encode_query", lambda t: calls.append(t) or real(t))
    res = small.search(Query("lava mountain explosion", mode="keyword"))
    assert res.total == 0 and {h.mode for h in res.hints if h.kind == "mode"}
    assert calls == ["lava mountain explosion"]  # semantic and hybrid hints share one vector


def test_keyword_answers_imply_a_hybrid_answer(small):
    for text in ("quota", "earthworms", "library budget", "tremors ash"):
        kw = small.search(Query(text, mode="keyword"))
        assert kw.total > 0
        assert small.search(Query(text, mode="hybrid")).total > 0


def test_total_facets_and_date_sort_cover_the_whole_set(small):
    base = small.search(Query("Brexit parliament vote", limit=1))
    totals = {
        small.search(Query("Brexit parliament vote", limit=1, offset=o)).total
        for o in range(0, base.total + 2)
    }
    assert totals == {base.total}
    assert sum(f.count for f in base.facets.source) == base.total
    every = small.search(Query("Brexit parliament vote", limit=100, sort="date"))
    assert len(every.results) == base.total
    dates = [a.date for a in every.results]
    assert dates == sorted(dates, reverse=True)
    assert small.search(Query("Brexit parliament vote", offset=base.total)).results == []


def test_two_paragraph_article_that_wins_both_legs_wins_hybrid(small):
    q = "local election turnout"
    assert ids(small.search(Query(q, mode="keyword")))[0] == "turnout"
    assert ids(small.search(Query(q, mode="semantic")))[0] == "turnout"
    assert ids(small.search(Query(q, mode="hybrid")))[0] == "turnout"


def test_long_query_keyword_set_uses_minimum_should_match(small):
    # Five clauses: an article needs two; "gardening" holds none of them.
    res = small.search(Query("fishing quota talks fuel income", mode="keyword"))
    assert ids(res) == ["fishing"]


def test_query_clauses_for_backends_with_paragraph_legs_only():
    from search.backends.base import query_clauses

    pos, neg, req, says_or = query_clauses(
        'Brexit -Johnson "withdrawal agreement" title:deal OR NOT vote +talks'
    )
    assert pos == ["Brexit", '"withdrawal agreement"', "title:deal", "talks"]
    assert neg == ["Johnson", "vote"]
    assert req == [1, 2, 3] and says_or


def test_or_query_in_hybrid_keeps_every_keyword_match(small):
    kw = small.search(Query("quota OR earthworms OR tremors", mode="keyword", limit=20))
    hybrid = small.search(Query("quota OR earthworms OR tremors", mode="hybrid", limit=20))
    assert set(ids(kw)) == {"fishing", "gardening", "volcano"}
    assert set(ids(kw)) <= set(ids(hybrid))


def test_the_semantic_leg_embeds_the_positive_words_only():
    assert meaning_text("Brexit -Johnson") == "Brexit"
    assert meaning_text("Brexit NOT Johnson") == "Brexit"
    assert meaning_text('title:Brexit "withdrawal agreement" -"Boris Johnson"') == (
        'title:Brexit "withdrawal agreement"'
    )
    assert meaning_text("ISRAEL AND SYRIA") == "ISRAEL AND SYRIA"
    assert meaning_text("pre-war de-escalation") == "pre-war de-escalation"
    assert meaning_text("-Johnson") == "-Johnson"  # nothing positive: embed what was typed


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_not_and_minus_exclude_alike_in_every_leg(small, mode, monkeypatch):
    embedded = []
    real = small.embedder.encode_query
    monkeypatch.setattr(small.embedder, "encode_query", lambda t: embedded.append(t) or real(t))
    minus = small.search(Query("Brexit parliament -Johnson", mode=mode))
    spelled = small.search(Query("Brexit parliament NOT Johnson", mode=mode))
    assert ids(minus) == ids(spelled)
    assert "brexit-long" not in ids(spelled)
    assert embedded == ["Brexit parliament", "Brexit parliament"]  # the excluded word is not sought


def test_an_index_recording_other_thresholds_is_stale_and_rebuilt_without_embedding(
    tmp_path, settings, built_index, corpus_dir
):
    import shutil
    from dataclasses import replace

    from search import build, store

    ix = replace(settings, index_dir=tmp_path / "index")
    shutil.copytree(settings.index_dir, ix.index_dir, ignore=shutil.ignore_patterns(".lock"))
    assert not build.is_stale([corpus_dir], ix)
    path = store.current_generation(ix.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    today = calibration_for(ix.model_name, ix.embed_backend).to_dict()
    assert manifest["match_set"] == today
    manifest["match_set"] = {**today, "floor": today["floor"] - 0.01}  # an older calibration
    path.write_text(json.dumps(manifest), "utf-8")
    assert build.is_stale([corpus_dir], ix)  # `make run` rebuilds it
    report = build.build_index([corpus_dir], ix)
    assert report.embedded == 0  # the vectors are reused: only the thresholds were old
    rebuilt = store.read_manifest(store.current_generation(ix.index_dir))
    assert rebuilt["match_set"] == today and not build.is_stale([corpus_dir], ix)
