"""The retrieval-backend seam (search/backends/base.py) on the embedded backend: full match sets,
a similarity floor, filters and exclusions applied inside each leg, typed records."""

from __future__ import annotations

import numpy as np
import pytest

from search.backends import Filters, KeywordLeg, Leg, RetrievalBackend, Unsupported, open_backend
from search.embed import load_embedder
from search.facets import date_number
from search.models import Results


@pytest.fixture(scope="module")
def backend(settings, built_index):
    b = open_backend(settings)
    b.prepare()
    yield b
    b.close()


@pytest.fixture(scope="module")
def qvec(settings):
    return load_embedder(settings.model_name, settings.embed_batch_size).encode_query(
        "Turkish and Russian talks about Syria"
    )


def test_embedded_backend_is_a_retrieval_backend(backend):
    assert isinstance(backend, RetrievalBackend) and backend.name == "embedded"
    st = backend.stats()
    assert st.snapshot == backend.snapshot and st.rows >= st.paragraphs > 0
    assert len(backend.catalog.ids) == len(backend.catalog.alive) >= st.articles


def test_keyword_full_match_set_and_its_prefix(backend):
    text = "Syria Turkey bank rates wheat"
    full = backend.keyword(text, Filters(), None)
    assert isinstance(full, KeywordLeg) and full.complete and full.total == len(full)
    top = backend.keyword(text, Filters(), 3)
    assert len(top) == 3 and not top.complete
    assert top.rows.tolist() == full.rows[:3].tolist()
    # every paragraph with one of the words is in the full set
    with_word = {
        p.row for p in backend.paragraphs(range(backend.stats().rows)) if "wheat" in p.text.lower()
    }
    assert with_word
    assert with_word <= set(full.rows.tolist())
    assert np.all(np.diff(full.scores) <= 0)  # best first


def test_semantic_floor_and_all_rows(backend, qvec):
    everything = backend.semantic(qvec, Filters(), None)
    assert everything.complete and len(everything) == backend.stats().paragraphs
    floor = float(np.median(everything.scores))
    above = backend.semantic(qvec, Filters(), None, floor=floor)
    assert len(above) < len(everything) and np.all(above.scores >= floor)
    assert set(above.rows.tolist()) == {
        r for r, s in zip(everything.rows.tolist(), everything.scores.tolist(), strict=True)
        if s >= floor
    }  # fmt: skip


def test_filters_apply_inside_both_legs(backend, qvec):
    f = Filters(date_from="2019-01-05", date_to="2019-02-01")
    for leg in (backend.keyword("Syria", f, None), backend.semantic(qvec, f, None)):
        assert isinstance(leg, Leg) and len(leg)
        dates = backend.catalog.dates[leg.articles]
        assert np.all((dates >= date_number(f.date_from)) & (dates <= date_number(f.date_to)))
        recs = backend.paragraphs(leg.rows.tolist())
        assert [p.article for p in recs] == leg.articles.tolist()


def test_exclusions_apply_inside_both_legs(backend, qvec):
    plain = backend.semantic(qvec, Filters(), None)
    excluded = backend.keyword("Idlib", Filters(), None).rows.tolist()
    assert excluded
    for leg in (
        backend.semantic(qvec, Filters(exclude=("Idlib",)), None),
        backend.keyword("Syria", Filters(exclude=("Idlib",)), None),
    ):
        assert not set(leg.rows.tolist()) & set(excluded)
    assert len(backend.semantic(qvec, Filters(exclude=("Idlib",)), None)) < len(plain)


def test_records_by_row_and_id(backend):
    row = backend.article_row("rates-1")
    assert row is not None and backend.article_row("nope") is None
    (a,) = backend.articles([row])
    paras = backend.article_paragraphs(row)
    assert a.id == "rates-1" and [p.id for p in paras] == ["rates-1:0", "rates-1:1", "rates-1:2"]
    assert backend.paragraphs([paras[1].row]) == [paras[1]]


class _PickyEngine:
    def search(self, query):
        raise Unsupported("prefix searches (word*) are not supported by this backend")

    def latest(self, query):
        return Results("", "hybrid", 0, 0.0)


def test_unsupported_is_a_400_not_a_500(settings):
    from web import create_app

    app = create_app({"TESTING": True, "SETTINGS": settings, "ENGINE": _PickyEngine()})
    res = app.test_client().get("/api/search?q=harb*")
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "unsupported"
    page = app.test_client().get("/?q=harb*")
    assert page.status_code == 400 and "not supported by this backend" in page.get_data(True)
