"""The JSON API against a real index and the real model: results, validation, errors, headers."""

from __future__ import annotations

import re

import pytest

from search.build import build_index
from search.config import MODEL_DIM, MODEL_NAME
from search.models import Query, Results
from web import create_app

SEED_TITLE = "Turkey, Russia agree on coordination in Syria amid US withdrawal"
SEED_QUERY = "Idlib de-escalation"
TOP_KEYS = {
    "query", "mode", "total", "took_ms", "results", "notice", "suggestion", "facets", "hints"
}  # fmt: skip
HIT_KEYS = {"article_id", "title", "date", "source", "url", "score", "paragraphs", "duplicates"}
PARA_KEYS = {
    "paragraph_id",
    "text",
    "highlighted",
    "keyword_rank",
    "keyword_score",
    "semantic_rank",
    "semantic_score",
    "score",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def search(client, **params):
    response = client.get("/api/search", query_string=params)
    assert response.is_json, response.data[:200]
    return response, response.get_json()


def test_seed_article_first_with_marked_shoygu_paragraph(client):
    response, body = search(client, q=SEED_QUERY)
    assert response.status_code == 200
    top = body["results"][0]
    assert top["title"] == SEED_TITLE
    shoygu = [p for p in top["paragraphs"] if "Shoygu" in p["text"]]
    assert shoygu, "the paragraph quoting Shoygu should be among the best paragraphs"
    assert re.search(r"<mark>Idlib</mark>", shoygu[0]["highlighted"])
    assert shoygu[0]["keyword_rank"] is not None, "both legs should find the Idlib paragraph"
    assert shoygu[0]["semantic_rank"] is not None
    assert "<mark>" not in shoygu[0]["text"]


def test_json_shape(client):
    response, body = search(client, q=SEED_QUERY, limit=5)
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert set(body) == TOP_KEYS
    assert body["query"] == SEED_QUERY and body["mode"] == "hybrid"
    assert isinstance(body["total"], int) and body["total"] >= len(body["results"]) >= 1
    assert len(body["results"]) <= 5
    assert isinstance(body["took_ms"], int | float) and body["took_ms"] >= 0
    for hit in body["results"]:
        assert set(hit) == HIT_KEYS
        assert 1 <= len(hit["paragraphs"]) <= 3
        for para in hit["paragraphs"]:
            assert set(para) == PARA_KEYS
            assert para["paragraph_id"].startswith(f"{hit['article_id']}:")
    scores = [hit["score"] for hit in body["results"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("mode", ["keyword", "semantic", "hybrid"])
def test_each_mode(client, mode):
    response, body = search(client, q=SEED_QUERY, mode=mode)
    assert response.status_code == 200
    assert body["mode"] == mode
    assert SEED_TITLE in [hit["title"] for hit in body["results"]]
    paragraphs = [p for hit in body["results"] for p in hit["paragraphs"]]
    if mode == "keyword":
        assert all(p["keyword_rank"] is not None and p["semantic_rank"] is None for p in paragraphs)
    elif mode == "semantic":
        assert all(p["semantic_rank"] is not None and p["keyword_rank"] is None for p in paragraphs)
        assert all(-1.0 <= p["semantic_score"] <= 1.0 for p in paragraphs)


def test_mode_is_case_insensitive(client):
    response, body = search(client, q=SEED_QUERY, mode="Keyword")
    assert response.status_code == 200 and body["mode"] == "keyword"


def test_limit_and_offset_page_through_the_same_ranking(client):
    _, both = search(client, q="Syria", mode="semantic", limit=2)
    _, second = search(client, q="Syria", mode="semantic", limit=1, offset=1)
    assert len(both["results"]) == 2, "the test corpus should hold at least two articles"
    assert second["results"][0]["article_id"] == both["results"][1]["article_id"]
    assert second["total"] == both["total"]


def test_offset_past_the_end_is_empty_not_an_error(client):
    response, body = search(client, q=SEED_QUERY, offset=10_000)
    assert response.status_code == 200
    assert body["results"] == [] and body["total"] >= 1


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"q": "x", "limit": "0"}, "limit", "limit must be an integer between 1 and 100"),
        ({"q": "x", "limit": "101"}, "limit", "limit must be an integer between 1 and 100"),
        ({"q": "x", "limit": "abc"}, "limit", "limit must be an integer between 1 and 100"),
        ({"q": "x", "limit": "1e2"}, "limit", "limit must be an integer between 1 and 100"),
        ({"q": "x", "limit": "-5"}, "limit", "limit must be an integer between 1 and 100"),
        ({"q": "x", "limit": "9" * 5000}, "limit", "limit must be an integer between 1 and 100"),
        ({"q": "x", "offset": "-1"}, "offset", "offset must be an integer between 0 and 10000"),
        ({"q": "x", "offset": "10001"}, "offset", "offset must be an integer between 0 and 10000"),
        ({"q": "x", "offset": "1.5"}, "offset", "offset must be an integer between 0 and 10000"),
        ({}, "q", "q is required and must not be blank"),
        ({"q": "   "}, "q", "q is required and must not be blank"),
        ({"q": "a" * 1001}, "q", "q must be at most 1000 characters"),
        ({"q": "x", "mode": "bogus"}, "mode", "mode must be one of keyword, semantic, hybrid"),
        ({"q": "x", "limit": ["1", "2"]}, "limit", None),
        ({"q": ["x", "y"]}, "q", None),
    ],
)
def test_bad_parameters_are_400_json(client, params, param, message):
    response, body = search(client, **params)
    assert response.status_code == 400
    error = body["error"]
    assert error["code"] == "bad_parameter"
    assert error["param"] == param
    if message is None:
        assert param in error["message"]
    else:
        assert error["message"] == message


def test_repeated_but_equal_parameters_are_fine(client):
    response, body = search(client, q=SEED_QUERY, limit=["2", "2"])
    assert response.status_code == 200 and len(body["results"]) <= 2


def test_longest_allowed_query(client):
    q = ("syria " * 200)[:1000]
    response, body = search(client, q=q)
    assert response.status_code == 200, body


@pytest.mark.parametrize(
    "q",
    [
        '"unbalanced',
        "(",
        "AND",
        "NOT OR",
        "title:",
        "*",
        "?",
        "~2",
        "\\",
        "a^b",
        "{x TO",
        "[",
        "<script>",
        "\x00\x01",
        "ünïcödé ☃",
        "a" * 300 + "*",
    ],
)
def test_hostile_queries_never_fail(client, q):
    response, body = search(client, q=q)
    assert response.status_code in (200, 400), body
    if response.status_code == 200:
        assert set(body) == TOP_KEYS


def test_unbalanced_quote_is_200(client):
    response, body = search(client, q='"unbalanced')
    assert response.status_code == 200
    assert body["query"] == '"unbalanced'


def test_health_counts(client, built_index):
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["articles"] == built_index.articles >= 2
    assert body["paragraphs"] == built_index.paragraphs >= body["articles"]
    assert body["generation"] == built_index.generation
    assert body["model"] == MODEL_NAME and body["dimension"] == MODEL_DIM


def test_engine_stored_in_extensions(app):
    assert app.extensions["newsearch"] is not None


def test_503_when_index_dir_is_empty(tmp_path):
    app = create_app({"TESTING": True, "INDEX_DIR": tmp_path})
    assert app.extensions["newsearch"] is None
    client = app.test_client()
    for path in ("/api/search?q=syria", "/api/health"):
        response = client.get(path)
        assert response.status_code == 503
        assert response.get_json()["error"]["code"] == "index_not_ready"
        assert response.headers["Retry-After"]
    # Bad input is still reported as such, index or not.
    assert client.get("/api/search?limit=0&q=x").status_code == 400


def test_recovers_once_the_index_is_built(tmp_path, built_index, corpus_dir):
    index_dir = tmp_path / "index"
    app = create_app({"TESTING": True, "INDEX_DIR": index_dir, "ENGINE_RETRY_SECONDS": 0})
    client = app.test_client()
    assert client.get("/api/health").status_code == 503
    build_index([corpus_dir], app.config["SETTINGS"])
    response = client.get("/api/health")
    assert response.status_code == 200
    assert response.get_json()["articles"] == built_index.articles


def test_retry_is_rate_limited(tmp_path):
    app = create_app({"TESTING": True, "INDEX_DIR": tmp_path, "ENGINE_RETRY_SECONDS": 3600})
    slot = app.extensions["newsearch.slot"]
    first = slot.last_attempt
    assert app.test_client().get("/api/health").status_code == 503
    assert slot.last_attempt == first, "should not retry opening within the retry interval"


@pytest.mark.parametrize("path", ["/api/search?q=syria", "/api/health", "/api/nope", "/"])
def test_security_headers(client, path):
    response = client.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value


def test_unknown_api_path_is_json_404(client):
    response = client.get("/api/nope")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_wrong_method_is_json_405(client):
    response = client.post("/api/search?q=x")
    assert response.status_code == 405
    assert response.get_json()["error"]["code"] == "method_not_allowed"
    assert "GET" in response.headers["Allow"]


class _BrokenEngine:
    def search(self, query: Query) -> Results:
        raise RuntimeError("boom: secret internals")

    def health(self) -> dict:
        raise RuntimeError("boom: secret internals")


def test_engine_failure_is_logged_json_500(settings, caplog):
    app = create_app({"TESTING": True, "SETTINGS": settings, "ENGINE": _BrokenEngine()})
    client = app.test_client()
    for path in ("/api/search?q=syria", "/api/health"):
        response = client.get(path)
        assert response.status_code == 500
        body = response.get_json()
        assert body["error"]["code"] == "internal_error"
        assert "boom" not in response.get_data(as_text=True)
    assert "boom: secret internals" in caplog.text
