"""The generated OpenAPI document at /api/openapi.json, checked by schemathesis against the app.

Every documented operation and parameter is exercised with generated valid and invalid data;
all of schemathesis's checks run (no 5xx, documented status codes, content types and response
schemas, valid data accepted, invalid data rejected). Examples are bounded so this stays fast.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from search.config import Settings
from web.openapi import build_spec

SPEC = build_spec(Settings())  # what the test app (default settings) serves

EXAMPLES = 40  # per operation and generation mode; ~4 operations x 2 modes


@pytest.fixture(scope="module")
def api_app(settings, built_index):  # noqa: F811 - pytest fixture named like hypothesis' settings
    from web import create_app

    return create_app({"TESTING": True, "SETTINGS": settings})


@pytest.fixture(scope="module")
def api_schema(api_app):
    return schemathesis.openapi.from_wsgi("/api/openapi.json", api_app)


# Every operation with valid data; those with parameters with invalid data too.
RUNS = [
    (path, method.upper(), mode)
    for path, item in SPEC["paths"].items()
    for method, op in item.items()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if op.get("parameters") or mode is GenerationMode.POSITIVE
]


@pytest.mark.parametrize(
    ("path", "method", "mode"), RUNS, ids=[f"{p}-{m.value}" for p, _, m in RUNS]
)
def test_api_conforms_to_its_openapi_document(api_schema, path, method, mode):
    """Generated requests for one operation; all schemathesis checks must pass."""
    # schemathesis' own pytest plugin (schema.parametrize) needs pytest < 9, so its Hypothesis
    # strategies are driven directly, as its documentation shows for non-schemathesis tests.
    strategy = api_schema[path][method].as_strategy(generation_mode=mode)
    calls = 0

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case):
        nonlocal calls
        calls += 1
        query = case.query or {}
        start, end = (str(query.get(k) or "").strip() for k in ("from", "to"))
        blank = not str(query.get("q") or "").strip()
        latest = str(query.get("sort") or "").strip().lower() == "date"
        if path == "/api/search" and mode is GenerationMode.POSITIVE and blank and not latest:
            response = case.call()  # the other rule: q may be blank only with sort=date
            assert response.status_code == 400, response.text
            assert response.json()["error"]["param"] in {"q", "mode", "sort", "from", "to"}
            return
        if path == "/api/search" and mode is GenerationMode.POSITIVE and start and end:
            if start > end:  # the one rule a schema cannot state: from not later than to
                response = case.call()
                assert response.status_code == 400, response.text
                assert response.json()["error"]["param"] == "from"
                return
        case.call_and_validate()

    check()
    print(f"{method} {path} {mode.value}: {calls} generated requests")
    has_parameters = bool(SPEC["paths"][path][method.lower()].get("parameters"))
    assert calls >= (EXAMPLES // 2 if has_parameters else 1)


def test_document_is_served_and_covers_the_api(client):
    res = client.get("/api/openapi.json")
    assert res.status_code == 200 and res.mimetype == "application/json"
    doc = res.get_json()
    assert doc == SPEC and doc["openapi"].startswith("3.")
    assert set(doc["paths"]) == {
        "/api/search",
        "/api/health",
        "/api/articles/{article_id}",
        "/api/articles/{article_id}/related",
    }
    names = {p["name"] for p in doc["paths"]["/api/search"]["get"]["parameters"]}
    assert names == {"q", "mode", "limit", "offset", "from", "to", "source", "sort", "recency"}


def test_documented_routes_exist(app):
    """Every documented path is a real route (and the API has no undocumented GET route)."""
    routes = {
        r.rule.replace("<path:article_id>", "{article_id}")
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/") and "GET" in r.methods
    }
    assert routes - {"/api/openapi.json"} == set(SPEC["paths"])


def test_document_follows_the_running_settings():
    """Limits come from the app's settings, not from defaults: the spec and validator agree."""
    from dataclasses import replace

    from web import create_app

    s = replace(Settings(), max_limit=7, max_query_chars=50)
    app = create_app({"TESTING": True, "SETTINGS": s, "ENGINE_RETRY_SECONDS": 3600})
    doc = app.test_client().get("/api/openapi.json").get_json()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/search"]["get"]["parameters"]}
    assert params["limit"]["maximum"] == 7 and params["q"]["maxLength"] == 50
    assert app.test_client().get("/api/search?q=x&limit=8").status_code == 400


def test_response_schemas_are_the_engine_dataclasses():
    from dataclasses import fields

    from search.models import ArticleHit, Health, ParagraphHit, Results

    schemas = SPEC["components"]["schemas"]
    for name, cls in [("Results", Results), ("ArticleHit", ArticleHit), ("Health", Health),
                      ("ParagraphHit", ParagraphHit)]:  # fmt: skip
        assert set(schemas[name]["properties"]) == {f.name for f in fields(cls)}
