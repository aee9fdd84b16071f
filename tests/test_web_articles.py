"""Article JSON (``/api/articles/<id>``, ``.../related``) and the article page."""

from __future__ import annotations

import re

import pytest

from web import create_app

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"
ARTICLE_KEYS = {"id", "title", "date", "source", "url", "dateline", "paragraphs", "duplicates"}
RELATED_KEYS = {"article_id", "title", "date", "source", "url", "score"}


@pytest.fixture()
def seed_id(client) -> str:
    body = client.get("/api/search", query_string={"q": "Idlib de-escalation"}).get_json()
    assert body["results"][0]["title"] == SEED_TITLE
    return body["results"][0]["article_id"]


# --- API ------------------------------------------------------------------------------------


def test_article_json(client):
    response = client.get("/api/articles/ceasefire-4")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == ARTICLE_KEYS
    assert body["id"] == "ceasefire-4" and body["date"] == "2019-01-05"
    assert body["source"] == "Coastal Herald" and body["url"] == "https://example.org/ceasefire-4"
    assert [p["paragraph_id"] for p in body["paragraphs"]][:2] == ["ceasefire-4:0", "ceasefire-4:1"]
    assert body["duplicates"] == []
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "path", ["/api/articles/nope", "/api/articles/a/b", "/api/articles/x" + "y" * 2000]
)
def test_unknown_article_is_json_404(client, path):
    response = client.get(path)
    assert response.status_code == 404
    error = response.get_json()["error"]
    assert error["code"] == "not_found" and error["message"]


@pytest.fixture(scope="module")
def any_distance(settings, built_index):
    """A client whose related stories have no similarity cut (the limit alone decides)."""
    from dataclasses import replace

    from web import create_app

    every = replace(settings, related_threshold=-1.0)
    return create_app({"TESTING": True, "SETTINGS": every}).test_client()


def test_related_json(any_distance, seed_id):
    response = any_distance.get(f"/api/articles/{seed_id}/related")
    assert response.status_code == 200
    body = response.get_json()
    assert body["article_id"] == seed_id
    assert len(body["results"]) == 5, "default limit is 5 and the corpus has 9 articles"
    for story in body["results"]:
        assert set(story) == RELATED_KEYS and story["article_id"] != seed_id
    scores = [s["score"] for s in body["results"]]
    assert scores == sorted(scores, reverse=True)
    assert body["results"][0]["article_id"] == "ceasefire-4", "the other Syria story is nearest"


@pytest.mark.parametrize(("limit", "count"), [("1", 1), ("2", 2), ("50", 8)])
def test_related_limit(any_distance, seed_id, limit, count):
    body = any_distance.get(f"/api/articles/{seed_id}/related?limit={limit}").get_json()
    assert len(body["results"]) == count


def test_related_api_and_page_share_the_threshold(client, any_distance, settings, seed_id):
    """The API lists what the article page lists: the nearest at least related_threshold
    similar (one setting), not the nearest however far."""
    every = any_distance.get(f"/api/articles/{seed_id}/related?limit=50").get_json()["results"]
    body = client.get(f"/api/articles/{seed_id}/related?limit=50").get_json()["results"]
    close = [s for s in every if s["score"] >= settings.related_threshold]
    assert len(close) < len(every), "the corpus has stories below the threshold"
    assert [s["article_id"] for s in body] == [s["article_id"] for s in close]
    html = client.get(f"/articles/{seed_id}").get_data(as_text=True)
    shown = re.findall(r'<a dir="auto" href="/articles/([^"?]+)', html.split("related-heading")[-1])
    assert shown[: len(body)] == [s["article_id"] for s in body][:5]


@pytest.mark.parametrize("limit", ["0", "51", "x", "-1", "2.5"])
def test_related_bad_limit(client, limit):
    response = client.get(f"/api/articles/ceasefire-4/related?limit={limit}")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["param"] == "limit" and error["message"] == (
        "limit must be an integer between 1 and 50"
    )


def test_related_of_unknown_article_is_404(client):
    response = client.get("/api/articles/nope/related")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_article_endpoints_503_without_index(tmp_path):
    client = create_app({"TESTING": True, "INDEX_DIR": tmp_path}).test_client()
    for path in ("/api/articles/x", "/api/articles/x/related"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "index_not_ready"
    assert client.get("/api/articles/x/related?limit=0").status_code == 400
    response = client.get("/articles/x")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert "not ready" in response.get_data(as_text=True)


class _BrokenEngine:
    def article(self, article_id):
        raise RuntimeError("boom: secret internals")

    def related(self, article_id, limit=5, min_score=None):
        raise RuntimeError("boom: secret internals")


def test_article_failure_is_json_500(settings, caplog):
    client = create_app(
        {"TESTING": True, "SETTINGS": settings, "ENGINE": _BrokenEngine()}
    ).test_client()
    for path in ("/api/articles/x", "/api/articles/x/related"):
        response = client.get(path)
        assert response.status_code == 500
        assert response.get_json()["error"]["code"] == "internal_error"
        assert "boom" not in response.get_data(as_text=True)
    assert "boom: secret internals" in caplog.text


# --- page -----------------------------------------------------------------------------------


def test_article_page(client, seed_id):
    response = client.get(f"/articles/{seed_id}")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert f'<h1 dir="auto">{SEED_TITLE}</h1>' in html
    assert '<span class="dateline">MOSCOW</span>' in html
    assert "Idlib de-escalation zone" in html and "<mark>" not in html
    assert html.count('<p id="p') >= 5
    assert "Read the original story" not in html, "the seed article has no url"
    related = re.findall(r'<a dir="auto" href="/articles/([^"?#]+)">', html)
    assert seed_id not in related
    assert "Back to results" not in html, "reached without a search: no way back to one"
    assert "<script" not in html and "style=" not in html and "autofocus" not in html


def test_search_result_links_to_the_article_page(client, seed_id):
    html = client.get("/?q=Idlib+de-escalation").get_data(as_text=True)
    link = re.search(rf'<a dir="auto" href="/articles/{seed_id}\?([^"#]*)#p(\d+)">(.*?)</a>', html)
    assert link and re.sub(r"</?mark>", "", link.group(3)) == SEED_TITLE
    assert link.group(1) == "q=Idlib+de-escalation&amp;mode=hybrid"
    source = client.get("/?q=ceasefire").get_data(as_text=True)
    link = '<a class="external" href="https://example.org/ceasefire-4" rel="noopener noreferrer">'
    assert link + "source</a>" in source


def test_article_page_with_date_source_and_link(client):
    html = client.get("/articles/ceasefire-4").get_data(as_text=True)
    assert '<time datetime="2019-01-05">2019-01-05</time>' in html
    assert '<span class="source" dir="auto">Coastal Herald</span>' in html
    assert (
        'href="https://example.org/ceasefire-4" rel="noopener noreferrer">Read the original story'
        in html
    )


def test_unknown_article_page_is_404(client):
    response = client.get("/articles/no-such-story")
    assert response.status_code == 404 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "There is no article with this id." in html and "Back to search" in html


from search.models import ArticleParagraph, ArticleView, RelatedArticle  # noqa: E402


class _HostileEngine:
    """An article whose every field is an injection attempt, with near-duplicates."""

    def article(self, article_id):
        if article_id == "gone":
            return None
        return ArticleView(
            id=article_id,
            title="<script>alert(1)</script>",
            date="2019-01-01",
            source="<b>src</b>",
            url="javascript:alert(1)",
            dateline="<i>PARIS</i>",
            paragraphs=[ArticleParagraph(f"{article_id}:0", "<img src=x onerror=alert(1)>")],
            duplicates=["dup/1", "gone"],
        )

    def related(self, article_id, limit=5, min_score=None):
        return [RelatedArticle("r?1", "<u>rel</u>", None, None, "javascript:x", 0.5)]


def test_article_page_escapes_everything(settings):
    app = create_app({"TESTING": True, "SETTINGS": settings, "ENGINE": _HostileEngine()})
    response = app.test_client().get("/articles/evil")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for raw in ("<script>alert", "<b>src", "<i>PARIS", "<img", "<u>rel", "javascript:"):
        assert raw not in html, raw
    assert "&lt;script&gt;alert(1)&lt;/script&gt;</h1>" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "Read the original story" not in html
    assert 'href="/articles/r%3F1"' in html
    assert "More on this story" in html
    assert 'href="/articles/dup/1"' in html and 'href="/articles/gone">gone</a>' in html


def test_article_ids_with_slashes_and_spaces_round_trip(settings):
    app = create_app({"TESTING": True, "SETTINGS": settings, "ENGINE": _HostileEngine()})
    client = app.test_client()
    response = client.get("/articles/dup/1")
    assert response.status_code == 200
    assert client.get("/api/articles/a%20b/c").get_json()["id"] == "a b/c"
    assert client.get("/api/articles/a/b/related").get_json()["article_id"] == "a/b"
