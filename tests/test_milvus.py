"""The Milvus backend (Milvus Lite, a .db file in tmp) against the embedded one on the test corpus:
same legs where they must agree, same query syntax, filters inside legs, add/delete, and builds
that publish only complete collections (alias switch)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from search.backends import Filters, Unsupported  # noqa: E402
from search.backends import milvus_store as ms  # noqa: E402
from search.backends.milvus_write import build_milvus, is_stale  # noqa: E402
from search.cli import main  # noqa: E402
from search.config import Settings, SettingsError  # noqa: E402
from search.engine import Engine  # noqa: E402
from search.models import Query  # noqa: E402

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"
QUERIES = ["Idlib de-escalation", "interest rates inflation", "hurricane evacuation", "wheat"]


@pytest.fixture(scope="module")
def msettings(settings, tmp_path_factory) -> Settings:
    uri = tmp_path_factory.mktemp("milvus") / "t.db"
    return replace(settings, backend="milvus", milvus_uri=str(uri), milvus_index="HNSW")


@pytest.fixture(scope="module")
def mbuilt(msettings, corpus_dir, built_index):
    return build_milvus([corpus_dir], msettings)


@pytest.fixture(scope="module")
def mengine(msettings, mbuilt):
    return Engine.open(msettings)


@pytest.fixture(scope="module")
def eengine(settings, built_index):
    return Engine.open(settings)


def test_build_matches_embedded_counts(mbuilt, built_index, mengine):
    assert (mbuilt.articles, mbuilt.paragraphs) == (built_index.articles, built_index.paragraphs)
    health = mengine.health()
    assert health.articles == 9 and health.paragraphs == built_index.paragraphs


def test_hybrid_top_story_and_highlight(mengine):
    res = mengine.search(Query("Idlib de-escalation"))
    top = res.results[0]
    assert top.title == SEED_TITLE
    assert "<mark>Idlib</mark>" in top.paragraphs[0].highlighted
    assert top.paragraphs[0].keyword_rank == 1 and top.paragraphs[0].semantic_rank is not None


def test_semantic_leg_equals_embedded(mengine, eengine):
    for q in QUERIES:
        vec = eengine.embedder.encode_query(q)
        m = mengine.backend.semantic(vec, Filters(), 10)
        e = eengine.backend.semantic(vec, Filters(), 10)
        assert m.rows.tolist() == e.rows.tolist()
        assert np.allclose(m.scores, e.scores, atol=1e-5)
        assert m.articles.tolist() == e.articles.tolist()


def test_keyword_leg_finds_what_embedded_finds(mengine, eengine):
    for q in QUERIES:
        m = mengine.backend.keyword(q, Filters(), None)
        e = eengine.backend.keyword(q, Filters(), None)
        assert set(m.rows.tolist()) == set(e.rows.tolist()), q  # same match set
        assert m.rows[0] == e.rows[0], q  # same best paragraph on this corpus
        assert m.terms == e.terms


EVIDENCE_QUERIES = [
    *QUERIES,
    "Syria Turkey Moscow",
    '"interest rate"',
    "title:wheat",
    "Syria NOT Moscow",
    "Moscow -Syria",
    "Syria OR Moscow",
    "rates rates Rate",
    "text:wheat prices",
    '-"interest rate" rates',
    "de-escalation Idlib",
    "Idlib AND Turkey",
    "+wheat prices",
    "wheat AND the prices",
    '"interest rates" AND inflation OR storm',
    "the of and",
    "Syria/Moscow wheat",
    "Moscow turkey Syria/Moscow",  # an alternative also typed alone: one clause with it
    "TALKS ON SYRIA AND TURKEY NOT MOSCOW",  # all capitals, sentence-like: AND / NOT words
    "Syria/Moscow AND wheat",  # AND joins one item (the phrase), in either order
    "wheat AND Syria/Moscow",
    "wheat OR Syria/Moscow",
    "Syria/Moscow (wheat)",  # advanced: the phrase, as Whoosh's parser reads it
]


def _evidence(backend, text):
    return backend.keyword_articles(text)


def test_article_keyword_evidence_equals_embedded(mengine, eengine):
    """Milvus's native keyword_articles gives the embedded backend's evidence: the same
    clauses, clause counts per article, required clauses, exclusions and BM25F scores."""
    assert mengine.backend.catalog.ids == eengine.backend.catalog.ids
    for text in EVIDENCE_QUERIES:
        m, e = _evidence(mengine.backend, text), _evidence(eengine.backend, text)
        assert m.terms == e.terms, text
        if e.evidence is None:
            assert m.evidence is None, text
            continue
        assert (m.clauses, m.required, m.any_clause) == (e.clauses, e.required, e.any_clause), text
        assert m.evidence.matched.tolist() == e.evidence.matched.tolist(), text
        for mh, eh in zip(m.evidence.clause_hits, e.evidence.clause_hits, strict=True):
            assert mh.tolist() == eh.tolist(), text
        np.testing.assert_allclose(m.evidence.scores, e.evidence.scores, rtol=1e-9)
        assert (m.excluded is None) == (e.excluded is None), text
        if e.excluded is not None:
            assert m.excluded.tolist() == e.excluded.tolist(), text
        mp, ep = m.paragraph_scores, e.paragraph_scores
        assert np.flatnonzero(mp).tolist() == np.flatnonzero(ep).tolist(), text
        np.testing.assert_allclose(mp, ep, rtol=1e-9, err_msg=text)  # shown under articles


def test_article_semantic_evidence_equals_embedded(mengine, eengine):
    """Every paragraph within the recorded floor, and every paragraph of an article with one
    there, gets the embedded backend's cosine; so the best and second-best paragraph the
    engine ranks articles by are the same; articles with none above the floor have none."""
    radius = mengine.backend.semantic_radius
    assert radius is not None and radius <= mengine.calibration(mengine.backend).hybrid_floor
    art_of = eengine.backend.generation.article_of
    for q in [*QUERIES, "economy", "a storm hits the coast"]:
        vec = eengine.embedder.encode_query(q)
        m = mengine.backend.semantic_articles(vec, 0.3)
        e = eengine.backend.semantic_articles(vec, 1.0)  # all exact
        near = e.best >= radius + 1e-4
        assert near.any() and not near.all(), q
        mine = near[art_of]  # the paragraphs of those articles
        np.testing.assert_allclose(m.cosines[mine], e.cosines[mine], atol=1e-5, err_msg=q)
        np.testing.assert_allclose(m.best[near], e.best[near], atol=1e-5)
        np.testing.assert_allclose(m.second[near], e.second[near], atol=1e-5)
        far = e.best < radius - 1e-4
        assert not np.isfinite(m.best[far]).any(), q


def test_evidence_not_cut_at_topk(mengine, monkeypatch):
    """A server caps one search at topk hits: a full page is fetched again by row ranges,
    so the evidence with a tiny cap equals the uncapped one."""
    b = mengine.backend
    full_kw = b.keyword_articles("Syria OR rates OR storm")
    vec = mengine.embedder.encode_query("central bank interest rates")
    full_sem = b.semantic_articles(vec, 0.3)
    monkeypatch.setattr(b, "topk_cap", 7)
    calls = []
    real = b._client.search
    monkeypatch.setattr(
        b._client, "search", lambda *a, **k: calls.append(k["limit"]) or real(*a, **k)
    )
    small_kw = b.keyword_articles("Syria OR rates OR storm")
    assert max(calls) <= 7 and len(calls) > 4
    assert small_kw.evidence.matched.tolist() == full_kw.evidence.matched.tolist()
    np.testing.assert_allclose(small_kw.evidence.scores, full_kw.evidence.scores)
    np.testing.assert_allclose(small_kw.paragraph_scores, full_kw.paragraph_scores)
    small_sem = b.semantic_articles(vec, 0.3)
    assert np.array_equal(small_sem.cosines, full_sem.cosines)
    monkeypatch.setattr(b, "topk_cap", None)  # Lite: range searches grow from a small limit
    monkeypatch.setattr(ms, "RANGE_START", 1)
    calls.clear()
    grown = b.semantic_articles(vec, 0.3)
    assert calls[:2] == [1, 4], calls
    assert np.array_equal(grown.cosines, full_sem.cosines)


def test_engine_answers_equal_embedded(mengine, eengine):
    """With native evidence the engine's match set, totals, facets and order are the
    embedded backend's in every mode (the test corpus has no cosine below the floor that a
    hybrid member would rank by)."""
    for text in EVIDENCE_QUERIES[:-1]:
        for mode in ("keyword", "semantic", "hybrid"):
            q = Query(text, mode=mode, limit=50)
            m, e = mengine.search(q), eengine.search(q)
            assert m.total == e.total, (text, mode)
            assert [a.article_id for a in m.results] == [a.article_id for a in e.results], (
                text,
                mode,
            )
            assert m.facets == e.facets, (text, mode)


def test_query_syntax_like_embedded(mengine, eengine):
    for text in ("Moscow -Syria", "title:wheat", '"interest rate"', "Syria NOT Moscow"):
        q = Query(text, mode="keyword")
        got = {a.article_id for a in mengine.search(q).results}
        assert got == {a.article_id for a in eengine.search(q).results}, text
        assert got, text


def test_prefix_is_unsupported_not_ignored(mengine, msettings, mbuilt):
    with pytest.raises(Unsupported, match="prefix"):
        mengine.search(Query("infla*", mode="keyword"))
    from web import create_app

    client = create_app({"TESTING": True, "SETTINGS": msettings, "ENGINE": mengine}).test_client()
    r = client.get("/api/search?q=infla*")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "unsupported"
    page = client.get("/?q=infla*")
    assert page.status_code == 400 and b"not supported" in page.data


def test_filters_inside_both_legs(mengine, eengine):
    for mode in ("keyword", "semantic", "hybrid"):
        text = "ceasefire talks in northern Syria" if mode == "semantic" else "Syria OR Moscow"
        q = Query(text, mode=mode, date_from="2019-01-01", date_to="2019-06-30")
        got = [(a.article_id, a.date) for a in mengine.search(q).results]
        assert got and all("2019-01-01" <= d <= "2019-06-30" for _, d in got)
        assert {a for a, _ in got} == {a.article_id for a in eengine.search(q).results}
        text = "smartphone battery life" if mode == "semantic" else "prices battery goal"
        q = Query(text, mode=mode, sources=("Tech Daily",))
        res = mengine.search(q)
        assert res.results and {a.source for a in res.results} == {"Tech Daily"}


def test_article_related_and_page(mengine, eengine, msettings):
    art = mengine.article("rates-1")
    assert art == eengine.article("rates-1")
    assert mengine.related("rates-1") == eengine.related("rates-1")
    from web import create_app

    client = create_app({"TESTING": True, "SETTINGS": msettings, "ENGINE": mengine}).test_client()
    page = client.get("/?q=Idlib+de-escalation")
    assert page.status_code == 200 and SEED_TITLE.encode() in page.data
    assert b"<mark>Idlib</mark>" in page.data


def test_rebuild_is_idempotent_and_switches_alias(msettings, corpus_dir, mbuilt, mengine):
    s = replace(msettings, milvus_collection="again")
    first = build_milvus([corpus_dir], s)
    assert not is_stale([corpus_dir], s)
    eng = Engine.open(s)
    before = eng.search(Query("Syria Turkey")).to_dict()
    second = build_milvus([corpus_dir], s)
    assert second.reused == second.paragraphs and second.embedded == 0
    assert second.generation != first.generation
    client = ms.connect(s.milvus_uri)
    mine = sorted(n for n in client.list_collections() if n.startswith("again_"))
    assert mine == sorted([second.generation, second.generation[:-1] + "a"])  # old pair dropped
    eng._checked = -1e9
    assert eng.backend.snapshot.startswith(second.generation)
    after = eng.search(Query("Syria Turkey")).to_dict()
    strip = lambda d: [(a["article_id"], a["score"]) for a in d["results"]]  # noqa: E731
    assert strip(after) == strip(before)


def test_failed_build_leaves_live_collections_serving(msettings, corpus_dir, monkeypatch):
    s = replace(msettings, milvus_collection="crash")
    good = build_milvus([corpus_dir], s)
    client = ms.connect(s.milvus_uri)
    real_insert = ms.insert

    def dying_insert(c, collection, entities):
        if collection.endswith("_p"):
            real_insert(c, collection, (e for _, e in zip(range(5), entities, strict=False)))
            raise OSError("killed mid-build")
        return real_insert(c, collection, entities)

    monkeypatch.setattr(ms, "insert", dying_insert)
    with pytest.raises(OSError, match="killed"):
        build_milvus([corpus_dir], s)
    monkeypatch.undo()
    assert ms.live(client, "crash").paragraphs == good.generation
    left = [n for n in client.list_collections() if n.startswith("crash_")]
    assert len(left) == 2  # the half-written pair was dropped
    # A build killed outright leaves unaliased collections: the next build removes them.
    ms.create_pair(client, "crash", 384, "FLAT")
    build_milvus([corpus_dir], s)
    assert len([n for n in client.list_collections() if n.startswith("crash_")]) == 2
    res = Engine.open(s).search(Query("hurricane", mode="keyword"))
    assert [a.article_id for a in res.results] == ["storm-2"]


def test_cli_delete_and_add(msettings, corpus_dir, tmp_path):
    s = replace(msettings, milvus_collection="cli")
    uri = ["--backend", "milvus", "--milvus-uri", s.milvus_uri]
    env = {"NEWSEARCH_MILVUS_COLLECTION": "cli", "NEWSEARCH_INDEX_DIR": str(tmp_path)}
    run = CliRunner(env=env)
    out = run.invoke(main, ["index", str(corpus_dir), "--quiet", *uri])
    assert out.exit_code == 0, out.output
    eng = Engine.open(s)
    assert [a.article_id for a in eng.search(Query("hurricane", mode="keyword")).results] == [
        "storm-2"
    ]
    client = ms.connect(s.milvus_uri)
    for name in client.list_collections():  # as a new process finds them in Milvus Lite
        if name.startswith("cli_"):
            client.release_collection(name)
    out = run.invoke(main, ["delete", "storm-2", "nope", *uri])
    assert out.exit_code == 1 and "deleted 1 article" in out.output  # like rm: not all found
    assert "not found: nope" in out.output
    eng._checked = -1e9
    assert eng.search(Query("hurricane", mode="keyword")).results == []
    assert eng.article("storm-2") is None and eng.health().articles == 8
    assert "storm-2" not in {a.article_id for a in eng.search(Query("storm coast")).results}
    new = tmp_path / "new.jsonl"
    new.write_text(
        '{"id": "wheat-8", "title": "Glacier retreat", "text": "The glacier lost ice."}\n'
        '{"id": "moon-9", "title": "Lunar lander", "text": "A probe touched down on the moon."}\n'
    )
    out = run.invoke(main, ["add", str(new), "--quiet", *uri])
    assert out.exit_code == 0, out.output
    eng._checked = -1e9
    assert [a.article_id for a in eng.search(Query("glacier", mode="keyword")).results] == [
        "wheat-8"
    ]
    assert eng.search(Query("drought harvest", mode="keyword")).results == []  # replaced
    assert eng.search(Query("lunar probe")).results[0].article_id == "moon-9"
    assert eng.health().articles == 9
    out = run.invoke(main, ["search", "infla*", *uri])
    assert out.exit_code == 1 and "not supported" in out.output


def test_settings_need_a_uri():
    with pytest.raises(SettingsError, match="milvus_uri"):
        Settings.from_env(env={"NEWSEARCH_BACKEND": "milvus"})
    out = CliRunner().invoke(main, ["search", "x", "--milvus-uri", "/no/such/dir/x.db"])
    assert out.exit_code == 1 and "cannot open Milvus" in out.output


def test_older_format_asks_for_a_rebuild(msettings, corpus_dir):
    """Collections written before the per-paragraph term counts: one clear line, no crash
    mid-query."""
    import json

    from search.backends.milvus import open_milvus
    from search.store import IndexCorrupt

    s = replace(msettings, milvus_collection="oldfmt")
    build_milvus([corpus_dir], s)
    client = ms.connect(s.milvus_uri)
    lv = ms.live(client, "oldfmt")
    ms.set_props(client, lv.paragraphs,
                 **{ms.MANIFEST: json.dumps({**lv.manifest, "milvus_format": 1})})  # fmt: skip
    with pytest.raises(IndexCorrupt, match="rebuild it with `newsearch index`"):
        open_milvus(s, client)


def test_another_exports_collection_is_refused_and_not_reused(msettings, corpus_dir):
    """The manifest records which export embedded the vectors, as an embedded generation's
    does: another one is refused at open and a rebuild re-embeds instead of reusing them."""
    import json

    from search.backends.milvus import open_milvus
    from search.embed import embedding_identity
    from search.store import IndexCorrupt

    s = replace(msettings, milvus_collection="otherexport")
    build_milvus([corpus_dir], s)
    client = ms.connect(s.milvus_uri)
    lv = ms.live(client, "otherexport")
    assert lv.manifest["embedding"] == embedding_identity(s.model_name, s.embed_backend)
    other = {**lv.manifest, "embedding": "all-MiniLM-L6-v2-openvino-int8-v1-000000000000"}
    ms.set_props(client, lv.paragraphs, **{ms.MANIFEST: json.dumps(other)})
    with pytest.raises(
        IndexCorrupt, match="embedded with .*-v1-.*rebuild it with `newsearch index`"
    ):
        open_milvus(s, client)
    report = build_milvus([corpus_dir], s)
    assert report.reused == 0
    open_milvus(s, client)
