"""Issue #17, class 9: values the engine should not trust.

Every article that can be indexed can be opened from its result (no id a browser would rewrite
into another article's address, none too long to look up), no date outside any plausible range
is kept, and the page renders no filter link that the search then refuses.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from search.ingest import id_problem, make_article, parse_date, read_corpus
from search.models import Article, Problem, Query, SourceCount
from search.query import MAX_SOURCE_CHARS, MAX_SOURCES


@pytest.mark.parametrize(
    "value",
    ["0001-01-01", "0099-12-31", "1799-12-31", "9999-12-31", f"{date.today().year + 2}-01-01"],
)
def test_implausible_dates_are_refused(value: str) -> None:
    with pytest.raises(ValueError, match="implausible date"):
        parse_date(value)
    [warning, article] = make_article("f", 1, {"id": "d", "text": "Some text.", "date": value})
    assert article.date is None and "dropped" in warning.reason and not warning.skipped


def test_plausible_dates_are_kept() -> None:
    assert parse_date("1800-01-01") == "1800-01-01"
    assert parse_date("Tue, 10 Jun 2003 04:00:00 GMT") == "2003-06-10"
    assert parse_date(f"{date.today().year + 1}-06-30") == f"{date.today().year + 1}-06-30"


OPENABLE = ["https://example.com/2024/03/a", "reuters/123", "a..b", "dot.", "x%2Fy", "q?x#y", "é"]
UNOPENABLE = ["a/../b", "..", "./c", "a/./b", "/lead", "x/related", "z" * 1001]


def test_ids_that_cannot_be_opened_are_refused() -> None:
    assert [i for i in OPENABLE if id_problem(i)] == []
    assert [i for i in UNOPENABLE if not id_problem(i)] == []
    [problem] = make_article("f", 3, {"id": "a/../b", "text": "Opens article b instead."})
    assert problem.skipped and "could be indexed but not opened" in problem.reason


def _browser_path(path: str) -> str:
    """``path`` with "." and ".." segments resolved as a browser does (RFC 3986 5.2.4);
    "//" is kept."""
    out: list[str] = []
    segments = path.split("/")
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/".join(out)


def test_browser_path_resolves_dot_segments_only() -> None:
    assert _browser_path("/articles/a/../b") == "/articles/b"
    assert _browser_path("/articles/./c") == "/articles/c"
    assert _browser_path("/articles/https://x/a") == "/articles/https://x/a"


def test_every_indexed_id_opens_its_own_article(tmp_path: Path, settings) -> None:
    """Through the real app, with the path a browser would send (dot segments resolved)."""
    from dataclasses import replace
    from urllib.parse import urlsplit

    from flask import url_for

    from search.build import build_index
    from web import create_app

    corpus = tmp_path / "ids.jsonl"
    with open(corpus, "w", encoding="utf-8") as f:
        for n, article_id in enumerate(OPENABLE + UNOPENABLE + ["b", "c"]):
            text = f"Story number {n} about wheat and barley harvests in the valley."
            f.write(json.dumps({"id": article_id, "title": f"T{n}", "text": text}) + "\n")
    s = replace(settings, index_dir=tmp_path / "ix")
    report = build_index([corpus], s)
    assert report.articles == len(OPENABLE) + 2
    app = create_app({"TESTING": True, "SETTINGS": s})
    client = app.test_client()
    items = [x for x in read_corpus([corpus]) if isinstance(x, Article)]
    for article in items:
        with app.test_request_context():
            links = [
                url_for("api.article", article_id=article.id),
                url_for("pages.article", article_id=article.id),
            ]
        for link in links:
            parts = urlsplit(link)
            resp = client.get(_browser_path(parts.path))
            assert resp.status_code == 200, (article.id, link)
        assert client.get(links[0]).get_json()["id"] == article.id


def test_source_facets_link_only_to_searches_that_work(app) -> None:
    from web.links import source_facets

    long_name = "s" * (MAX_SOURCE_CHARS + 1)
    facet = [SourceCount("Reuters", 3), SourceCount(long_name, 1)]
    with app.test_request_context():
        rows = source_facets(Query("wheat"), facet).rows
        assert [r.url is not None for r in rows] == [True, False]
        full = Query("wheat", sources=tuple(f"src{i}" for i in range(MAX_SOURCES)))
        assert all(r.url is None for r in source_facets(full, facet).rows)
        client = app.test_client()
        assert client.get(rows[0].url).status_code == 200


def test_long_sources_are_cut_so_a_filter_can_name_them() -> None:
    record = {"id": "s", "text": "Text.", "source": "S" * 300}
    *warnings, article = make_article("f", 1, record)
    assert len(article.source) == MAX_SOURCE_CHARS
    assert [w.reason for w in warnings] == [f"source cut to {MAX_SOURCE_CHARS} characters"]
    assert all(isinstance(w, Problem) and not w.skipped for w in warnings)
