"""Engine end to end on the small corpus, with the real model."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from search import store
from search.build import build_index, is_stale
from search.engine import Engine
from search.generation import Generation
from search.models import Query

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"


@pytest.fixture(scope="module")
def engine(settings, built_index):
    return Engine.open(settings)


def test_build_report_counts(built_index):
    assert built_index.articles == 9
    assert built_index.paragraphs > 20
    assert built_index.skipped == 0


def test_hybrid_finds_seed_with_shoygu_paragraph_marked(engine):
    res = engine.search(Query("Idlib de-escalation"))
    top = res.results[0]
    assert top.title == SEED_TITLE
    first = top.paragraphs[0]
    assert "Shoygu" in first.text
    assert "<mark>Idlib</mark>" in first.highlighted
    assert first.keyword_rank == 1 and first.semantic_rank is not None


def test_keyword_accent_folding(engine):
    res = engine.search(Query("Cavusoglu", mode="keyword"))
    assert [a.title for a in res.results] == [SEED_TITLE]
    assert "<mark>Çavuşoğlu</mark>" in res.results[0].paragraphs[0].highlighted


def test_semantic_finds_paraphrase(engine):
    res = engine.search(Query("Turkish foreign minister in Moscow", mode="semantic"))
    assert res.results[0].title == SEED_TITLE
    assert all(p.keyword_rank is None for p in res.results[0].paragraphs)


def test_keyword_mode_only_returns_matches(engine):
    res = engine.search(Query("hurricane", mode="keyword"))
    assert [a.article_id for a in res.results] == ["storm-2"]
    assert res.total == 1


def test_query_syntax(engine):
    titles = {a.article_id for a in engine.search(Query("Moscow -Syria", mode="keyword")).results}
    assert titles == {"theatre-7"}
    only_title = engine.search(Query("title:wheat", mode="keyword")).results
    assert [a.article_id for a in only_title] == ["wheat-8"]
    phrase = engine.search(Query('"interest rate"', mode="keyword")).results
    assert [a.article_id for a in phrase] == ["rates-1"]


def test_stop_words_only_gives_notice(engine):
    res = engine.search(Query("the of and", mode="keyword"))
    assert res.results == [] and "no searchable words" in res.notice


def test_pagination_is_consistent(engine):
    full = engine.search(Query("Syria Turkey", limit=6))
    page2 = engine.search(Query("Syria Turkey", limit=2, offset=2))
    assert [a.article_id for a in page2.results] == [a.article_id for a in full.results[2:4]]
    assert page2.total == full.total


def test_article_lookup(engine):
    art = engine.article("rates-1")
    assert art.title.startswith("Central bank")
    assert [p.paragraph_id for p in art.paragraphs] == ["rates-1:0", "rates-1:1", "rates-1:2"]
    assert engine.article("nope") is None


def test_rebuild_is_idempotent_reuses_vectors_and_swaps(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    first = build_index([corpus_dir], s)
    assert not is_stale([corpus_dir], s)
    eng = Engine.open(s)
    second = build_index([corpus_dir], s)
    assert second.reused == second.paragraphs and second.embedded == 0
    g1 = tmp_path / "ix" / first.generation
    g2 = tmp_path / "ix" / second.generation
    for name in ("articles.jsonl", "paragraphs.jsonl", "vectors.npy"):
        assert (g1 / name).read_bytes() == (g2 / name).read_bytes()
    assert eng.backend.snapshot == first.generation  # reader keeps its generation…
    eng._checked = -1e9
    assert eng.backend.snapshot == second.generation  # …until it sees the new one


def test_refuses_index_of_another_model(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    rep = build_index([corpus_dir], s)
    gen = tmp_path / "ix" / rep.generation
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["model"] = "some/other-model"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(store.IndexCorrupt, match="other-model"):
        Generation.open(gen, s)
    assert is_stale([corpus_dir], s)


def test_damaged_generation_falls_back_to_previous(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    first = build_index([corpus_dir], s)
    extra = tmp_path / "more"
    shutil.copytree(corpus_dir, extra)
    (extra / "new.jsonl").write_text('{"id": "n1", "title": "Glacier", "text": "Ice melts."}\n')
    second = build_index([extra], s)
    vec = tmp_path / "ix" / second.generation / "vectors.npy"
    data = bytearray(vec.read_bytes())
    data[-3] ^= 0xFF
    vec.write_bytes(bytes(data))
    eng = Engine.open(s)
    assert eng.backend.snapshot == first.generation
    assert eng.article("n1") is None
