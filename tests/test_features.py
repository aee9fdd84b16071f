"""What news readers expect: filters, facets, sorting, suggestions, related and duplicate stories,
and incremental add/delete picked up by a running engine."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from search.build import build_index
from search.engine import Engine
from search.models import Query
from search.update import add_paths, delete_ids

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"


@pytest.fixture(scope="module")
def engine(settings, built_index):
    return Engine.open(settings)


def ids(res):
    return [a.article_id for a in res.results]


def test_date_filter_is_inclusive(engine):
    got = set()
    for word in ("Syria", "Moscow", "Ankara"):
        res = engine.search(Query(word, date_from="2019-01-05", date_to="2019-02-01"))
        assert all("2019-01-05" <= a.date <= "2019-02-01" for a in res.results)
        got |= {a.article_id for a in res.results}
    assert got == {"ceasefire-4", "theatre-7"}  # both boundary dates kept; undated seed dropped


# Matches in several sources and months; "OR" asks for any one of the words.
BROAD = "prices OR storm OR Syria OR Moscow OR smartphone"
MODE_QUERY = {"keyword": BROAD, "semantic": "wheat prices climb after a drought", "hybrid": BROAD}


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_source_filter_each_mode(engine, mode):
    res = engine.search(Query(MODE_QUERY[mode], mode=mode, sources=("Example Wire",)))
    assert res.results and all(a.source == "Example Wire" for a in res.results)


def test_two_sources(engine):
    res = engine.search(
        Query(BROAD, mode="keyword", limit=20, sources=("Tech Daily", "Coastal Herald"))
    )
    assert {a.source for a in res.results} == {"Tech Daily", "Coastal Herald"}


def test_facets_count_the_whole_match_set(engine):
    full = engine.search(Query(BROAD, mode="keyword", limit=1))
    assert full.total > 1 and len(full.results) == 1
    source_total = sum(f.count for f in full.facets.source)
    assert source_total == full.total - 1  # every match but the seed (no source) is counted
    months = [f.period for f in full.facets.date]
    assert months == sorted(months) and "2019-03" in months


def test_sort_by_date_newest_first(engine):
    res = engine.search(Query(BROAD, mode="keyword", sort="date", limit=20))
    dates = [a.date for a in res.results if a.date]
    assert dates == sorted(dates, reverse=True)
    assert res.results[-1].date is None  # undated last


def test_recency_boost_promotes_newer(engine):
    q = "Turkish parliament budget or Syria ceasefire talks"
    plain = ids(engine.search(Query(q, mode="semantic", limit=20)))
    boosted = ids(engine.search(Query(q, mode="semantic", limit=20, recency=30)))
    # ankara-6 (December) must gain on ceasefire-4 (January) with a 30-day half-life.
    assert boosted.index("ankara-6") < boosted.index("ceasefire-4")
    assert plain != boosted


def test_did_you_mean(engine):
    res = engine.search(Query("Idlb de-escalaton"))
    assert res.suggestion == "Idlib de-escalation"
    assert engine.search(Query("Idlib de-escalation")).suggestion is None


def test_article_and_related(engine):
    art = engine.article("ceasefire-4")
    assert art.title.startswith("Ceasefire holds") and len(art.paragraphs) == 2
    rel = engine.related("ceasefire-4", limit=3, min_score=-1.0)  # the nearest, however far
    assert len(rel) == 3 and "ceasefire-4" not in [r.article_id for r in rel]
    seed = next(a for a in engine.search(Query("Idlib", mode="keyword")).results)
    assert rel[0].article_id == seed.article_id  # the other Syria story is nearest
    assert engine.related("missing") is None


def test_near_duplicates_collapse(tmp_path, settings, corpus_dir):
    src = tmp_path / "src"
    shutil.copytree(corpus_dir, src)
    rates = json.loads((corpus_dir / "wire.jsonl").read_text().splitlines()[0])
    copy = {
        **rates,
        "id": "rates-copy",
        "source": "Reprint Daily",
        "text": rates["text"].replace("Thursday", "Thursday afternoon"),
    }
    (src / "copy.jsonl").write_text(json.dumps(copy) + "\n")
    s = replace(settings, index_dir=tmp_path / "ix")
    build_index([src], s)
    eng = Engine.open(s)
    res = eng.search(Query("central bank interest rate", limit=20))
    got = ids(res)
    assert ("rates-1" in got) != ("rates-copy" in got)  # one result for the story
    top = res.results[0]
    assert top.duplicates == ["rates-copy"] or top.duplicates == ["rates-1"]
    assert eng.article("rates-1").duplicates == ["rates-copy"]


def test_add_replace_delete_without_rebuild(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    first = build_index([corpus_dir], s)
    eng = Engine.open(s)
    new = tmp_path / "new.jsonl"
    new.write_text(
        json.dumps(
            {
                "id": "glacier-9",
                "title": "Glacier retreat speeds up",
                "date": "2019-11-02",
                "source": "Example Wire",
                "text": "Alpine glaciers lost a record share of their ice this summer.",
            }
        )
        + "\n"
        + json.dumps(
            {
                "id": "wheat-8",
                "title": "Wheat prices fall back",
                "date": "2019-08-01",
                "source": "Example Wire",
                "text": "Wheat futures eased as rain improved the outlook.",
            }
        )
        + "\n"
    )
    rep = add_paths([new], s)
    assert rep.articles == 2 and rep.embedded == 2 and rep.generation != first.generation
    eng._checked = -1e9  # the running engine picks the update up without a restart
    assert ids(eng.search(Query("glacier", mode="keyword"))) == ["glacier-9"]
    wheat = eng.search(Query("wheat", mode="keyword"))
    assert ids(wheat) == ["wheat-8"] and wheat.results[0].title == "Wheat prices fall back"
    assert eng.health().articles == 10

    deleted, unknown, _ = delete_ids(["glacier-9", "nope"], s)
    assert deleted == ["glacier-9"] and unknown == ["nope"]
    eng._checked = -1e9
    assert eng.search(Query("glacier", mode="keyword")).results == []
    sem = eng.search(Query("glaciers melting ice", mode="semantic", limit=20))
    assert "glacier-9" not in ids(sem) and eng.article("glacier-9") is None
    assert eng.health().articles == 9

    again = add_paths([new], s)  # unchanged paragraph of the glacier story is not re-embedded
    assert again.reused >= 1


def test_reindex_same_corpus_reuses_every_vector(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    one = build_index([corpus_dir], s)
    two = build_index([corpus_dir], s)
    assert one.embedded == one.paragraphs and two.embedded == 0
    assert two.reused == two.paragraphs


def test_filter_does_not_change_keyword_scores(engine):
    plain = engine.search(Query("Moscow", mode="keyword"))
    filtered = engine.search(Query("Moscow", mode="keyword", date_from="2019-01-01"))
    score = {a.article_id: a.score for a in plain.results}
    assert filtered.results and all(
        a.score == pytest.approx(score[a.article_id]) for a in filtered.results
    )
