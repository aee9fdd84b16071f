"""The OpenAPI 3.1 description of the JSON API, generated and served at ``/api/openapi.json``.

Nothing here is written by hand that exists elsewhere: the search parameters come from the
query contract (:func:`search.query.search_parameters`, with the running app's settings, so
``NEWSEARCH_MAX_LIMIT`` changes the published maximum too), and the response schemas are
pydantic's JSON schema of the dataclasses the engine returns (:mod:`search.models`).
``tests/test_openapi.py`` runs schemathesis against the document and the real app.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from flask import Blueprint, jsonify
from pydantic import TypeAdapter

from search.config import Settings
from search.models import ArticleView, Health, Related, Results
from search.query import int_parameter, search_parameters
from web import get_settings
from web.api import MAX_ARTICLE_ID_CHARS, RELATED_LIMIT

__all__ = ["ErrorBody", "bp", "build_spec"]

bp = Blueprint("openapi", __name__, url_prefix="/api")


@dataclass(frozen=True)
class ErrorDetail:
    code: str
    message: str
    param: str | None = None  # the request parameter at fault (400)
    article_id: str | None = None  # the id that was not found (404)


@dataclass(frozen=True)
class ErrorBody:
    """Every error answer: ``{"error": {"code", "message", ...}}``."""

    error: ErrorDetail


# Schema name in the document -> the type the API serializes.
BODIES: dict[str, Any] = {
    "Results": Results,
    "Article": ArticleView,
    "Related": Related,
    "Health": Health,
    "Error": ErrorBody,
}
REF = "#/components/schemas/{model}"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


@lru_cache(maxsize=1)
def schemas() -> dict[str, Any]:
    """Component schemas of every response body (and the types they contain)."""
    adapters = [(name, "serialization", TypeAdapter(t)) for name, t in BODIES.items()]
    top, defs = TypeAdapter.json_schemas(adapters, ref_template=REF)
    out = dict(defs.get("$defs", {}))
    for (name, _mode), schema in top.items():
        if "$ref" in schema:  # the body's own type: publish it under the document's name
            own = schema["$ref"].rsplit("/", 1)[-1]
            if own != name:
                out[name] = out.pop(own)
                _rename_refs(out, own, name)
        else:
            out[name] = schema
    return out


def _rename_refs(node: Any, old: str, new: str) -> None:
    if isinstance(node, dict):
        if node.get("$ref") == REF.format(model=old):
            node["$ref"] = REF.format(model=new)
        for v in node.values():
            _rename_refs(v, old, new)
    elif isinstance(node, list):
        for v in node:
            _rename_refs(v, old, new)


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


_ERRORS = {
    "400": _json("Error", "Invalid parameter: `error.param` names it."),
    "404": _json("Error", "No article has this id."),
    "503": _json("Error", "The index is not built yet (or cannot be opened); retry later."),
}
_ARTICLE_ID = {
    "name": "article_id",
    "in": "path",
    "required": True,
    "description": "An article id as returned in search results (`article_id`).",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ARTICLE_ID_CHARS},
}


def _get(op: str, summary: str, ok: tuple[str, str], errors: str, params: list | None = None):
    out: dict[str, Any] = {"operationId": op, "summary": summary}
    if params:
        out["parameters"] = params
    out["responses"] = {"200": _json(*ok), **{c: _ERRORS[c] for c in errors.split()}}
    return {"get": out}


def build_spec(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of this API as an app with ``settings`` serves it."""
    default, low, high = RELATED_LIMIT
    related_limit = int_parameter("limit", "Related articles to return.", default, low, high)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "newsearch JSON API",
            "version": "1",
            "description": (
                "Hybrid (BM25F keyword + sentence-embedding) search over news articles. Every "
                'answer is JSON, errors included: `{"error": {"code", "message"}}`, except the '
                "server's plain-text refusal of an over-size request (413 body, 431 headers). "
                "Article fields are the source's data, not validated: check a url's scheme "
                "before linking it."
            ),
        },
        "paths": {
            "/api/search": _get(
                "search",
                "Search articles; best paragraphs per article, facets, did-you-mean.",
                ("Results", "Ranked articles (may be empty, see `notice`)."),
                "400 503",
                search_parameters(settings),
            ),
            "/api/articles/{article_id}": _get(
                "article",
                "One article with all of its paragraphs.",
                ("Article", "The article."),
                "404 503",
                [_ARTICLE_ID],
            ),
            "/api/articles/{article_id}/related": _get(
                "related",
                "The articles nearest in meaning (near-copies excluded).",
                (
                    "Related",
                    f"Related articles, nearest first: those with an article cosine of at least "
                    f"{settings.related_threshold:g} (`NEWSEARCH_RELATED_THRESHOLD`), as the "
                    "article page lists them.",
                ),
                "400 404 503",
                [_ARTICLE_ID, related_limit],
            ),
            "/api/health": _get(
                "health",
                "Index and model facts for monitoring.",
                ("Health", "The index is serving."),
                "503",
            ),
        },
        "components": {"schemas": schemas()},
    }


@bp.get("/openapi.json")
def openapi_json() -> Any:
    """The OpenAPI document of this API, with this app's limits."""
    return jsonify(build_spec(get_settings()))
