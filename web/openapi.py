"""The OpenAPI 3 description of the JSON API, served at ``/api/openapi.json``.

The document is a plain dict (``SPEC``) kept next to the code it describes; ``tests/test_openapi``
runs schemathesis against it, so a parameter or field that changes without this file changing
fails the tests. Parameter schemas state exactly what :mod:`web.params` accepts (e.g. ``mode``
is matched case-insensitively and may carry spaces), so generated invalid data is really invalid.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from search.config import Settings
from search.models import MODES, SORTS
from web.api import MAX_ARTICLE_ID_CHARS, RELATED_LIMIT
from web.params import MAX_SOURCE_CHARS, MAX_SOURCES, RECENCY_RANGE

__all__ = ["SPEC", "bp", "spec"]

bp = Blueprint("openapi", __name__, url_prefix="/api")

_DEFAULTS = Settings()
# What web.params.parse_search_args accepts after stripping: at least one character that is
# neither whitespace (Python's idea of it, so U+0085 and U+001C-U+001F too) nor a control code.
_VISIBLE = r"[^\s\x00-\x1f\x7f\x85]"


def _ci(word: str) -> str:
    """A regex matching ``word`` in any letter case."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


def _choice(words: tuple[str, ...]) -> str:
    """``words`` in any case, with optional surrounding spaces (blank means the default)."""
    return rf"^\s*(?:{'|'.join(_ci(w) for w in words)})?\s*$"


# recency: a half-life of 1 to 36500 days, written as web.params reads it (at most 6 digits,
# then at most 6 decimals; leading zeros allowed within those 6 digits; blank means off).
_DAYS = (
    r"(?:0{0,5}[1-9]|0{0,4}[1-9][0-9]|0{0,3}[1-9][0-9]{2}|0{0,2}[1-9][0-9]{3}"
    r"|0?(?:[12][0-9]{4}|3[0-5][0-9]{3}|36[0-4][0-9]{2}))(?:\.[0-9]{1,6})?"
    r"|0?36500(?:\.0{1,6})?"
)
RECENCY_PATTERN = rf"^\s*(?:{_DAYS})?\s*$"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


_ERRORS = {
    "400": _json("Error", "Invalid parameter: `error.param` names it."),
    "404": _json("Error", "No article has this id."),
    "503": _json("Error", "The index is not built yet (or cannot be opened); retry later."),
}

_QUERY = {"in": "query", "required": False}
_LIMIT, _OFFSET = _DEFAULTS.max_limit, _DEFAULTS.max_offset
_DATE = {
    "description": "Inclusive ISO date `YYYY-MM-DD` (blank: no bound).",
    "schema": {
        "anyOf": [
            {"type": "string", "format": "date"},
            {"type": "string", "pattern": r"^\s*$"},
        ]
    },
}

SEARCH_PARAMETERS: list[dict[str, Any]] = [
    {
        "name": "q",
        "in": "query",
        "required": True,
        "description": (
            'Query text. Words are OR-ed and ranked; `"a phrase"`, `-word` or `NOT word`, '
            "`AND`, `OR`, `title:word` and `prefix*` (3+ letters) are understood; expensive or "
            "broken syntax falls back to the plain words."
        ),
        "schema": {
            "type": "string",
            "minLength": 1,
            "maxLength": _DEFAULTS.max_query_chars,
            "pattern": _VISIBLE,
        },
    },
    {
        **_QUERY,
        "name": "mode",
        "description": "Ranking: keyword (BM25F), semantic (embeddings) or hybrid (fused).",
        "schema": {"type": "string", "pattern": _choice(MODES), "example": "hybrid"},
    },
    {
        **_QUERY,
        "name": "limit",
        "description": "Articles per page.",
        "schema": {"type": "integer", "minimum": 1, "maximum": _LIMIT, "default": 10},
    },
    {
        **_QUERY,
        "name": "offset",
        "description": "Articles to skip (pagination).",
        "schema": {"type": "integer", "minimum": 0, "maximum": _OFFSET, "default": 0},
    },
    {**_QUERY, "name": "from", **_DATE},
    {**_QUERY, "name": "to", **_DATE, "description": "Inclusive end date; not before `from`."},
    {
        **_QUERY,
        "name": "source",
        "description": "Keep articles from any of these sources (repeat the parameter).",
        "style": "form",
        "explode": True,
        "schema": {
            "type": "array",
            "maxItems": MAX_SOURCES,
            "items": {"type": "string", "maxLength": MAX_SOURCE_CHARS},
        },
    },
    {
        **_QUERY,
        "name": "sort",
        "description": "relevance (default) or date (newest first).",
        "schema": {"type": "string", "pattern": _choice(SORTS), "example": "date"},
    },
    {
        **_QUERY,
        "name": "recency",
        "description": (
            f"Favour recent articles: a score half-life of {RECENCY_RANGE[0]:g} to "
            f"{RECENCY_RANGE[1]:g} days (a decimal number, at most 6 decimals), counted back "
            "from the newest article; blank: off."
        ),
        "schema": {"type": "string", "pattern": RECENCY_PATTERN, "example": "30"},
    },
]

_ARTICLE_ID = {
    "name": "article_id",
    "in": "path",
    "required": True,
    "description": "An article id as returned in search results (`article_id`).",
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_ARTICLE_ID_CHARS},
}

_STR = {"type": "string"}
_OPT_STR = _nullable(_STR)
# Article fields are the source's data, never validated or escaped: e.g. a url may be
# "javascript:..." and a title may hold "<script>" (the HTML pages link http(s) URLs only).
_URL = _nullable(
    {
        "type": "string",
        "description": "As the source gave it, not validated: check the scheme before linking.",
    }
)
_DATE_OUT = _nullable({"type": "string", "format": "date"})

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": _STR,
                    "message": _STR,
                    "param": _OPT_STR,
                    "article_id": _STR,
                },
            }
        },
    },
    "ParagraphHit": {
        "type": "object",
        "required": ["paragraph_id", "text", "highlighted", "score"],
        "properties": {
            "paragraph_id": _STR,
            "text": _STR,
            "highlighted": {
                "type": "string",
                "description": "`text` HTML-escaped, with matched words in `<mark>`.",
            },
            "keyword_rank": _nullable({"type": "integer", "minimum": 1}),
            "keyword_score": _nullable({"type": "number"}),
            "semantic_rank": _nullable({"type": "integer", "minimum": 1}),
            "semantic_score": _nullable({"type": "number"}),
            "score": {"type": "number"},
        },
    },
    "ArticleHit": {
        "type": "object",
        "required": ["article_id", "title", "date", "source", "url", "score", "paragraphs"],
        "properties": {
            "article_id": _STR,
            "title": _STR,
            "date": _DATE_OUT,
            "source": _OPT_STR,
            "url": _URL,
            "score": {"type": "number"},
            "paragraphs": {"type": "array", "items": _ref("ParagraphHit")},
            "duplicates": {
                "type": "array",
                "items": _STR,
                "description": "Ids of near-copies collapsed into this result.",
            },
        },
    },
    "Results": {
        "type": "object",
        "required": ["query", "mode", "total", "took_ms", "results", "notice", "suggestion"],
        "properties": {
            "query": _STR,
            "mode": {"type": "string", "enum": list(MODES)},
            "total": {"type": "integer", "minimum": 0},
            "took_ms": {"type": "number", "minimum": 0},
            "results": {"type": "array", "items": _ref("ArticleHit")},
            "notice": _nullable(
                {
                    "type": "string",
                    "description": "Said to the user, e.g. when the query has no searchable "
                    "words or the keyword search ran out of time.",
                }
            ),
            "suggestion": _nullable({"type": "string", "description": "Did you mean."}),
            "facets": {
                "type": "object",
                "properties": {
                    "source": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["value", "count"],
                            "properties": {"value": _STR, "count": {"type": "integer"}},
                        },
                    },
                    "date": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["period", "count"],
                            "properties": {
                                "period": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$"},
                                "count": {"type": "integer"},
                            },
                        },
                    },
                },
            },
        },
    },
    "Article": {
        "type": "object",
        "required": ["id", "title", "paragraphs", "duplicates"],
        "properties": {
            "id": _STR,
            "title": _STR,
            "date": _DATE_OUT,
            "source": _OPT_STR,
            "url": _URL,
            "dateline": _OPT_STR,
            "paragraphs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["paragraph_id", "text"],
                    "properties": {"paragraph_id": _STR, "text": _STR},
                },
            },
            "duplicates": {"type": "array", "items": _STR},
        },
    },
    "Related": {
        "type": "object",
        "required": ["article_id", "results"],
        "properties": {
            "article_id": _STR,
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["article_id", "title", "score"],
                    "properties": {
                        "article_id": _STR,
                        "title": _STR,
                        "date": _DATE_OUT,
                        "source": _OPT_STR,
                        "url": _URL,
                        "score": {"type": "number"},
                    },
                },
            },
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "generation", "articles", "paragraphs", "model", "dimension"],
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "generation": {"type": "string", "pattern": "^gen-[0-9]{6}$"},
            "articles": {"type": "integer", "minimum": 0},
            "paragraphs": {"type": "integer", "minimum": 0},
            "model": _STR,
            "dimension": {"type": "integer", "minimum": 1},
            "built_at": _OPT_STR,
        },
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {
        "title": "newsearch JSON API",
        "version": "1",
        "description": (
            "Hybrid (BM25F keyword + sentence-embedding) search over news articles. Every "
            'answer is JSON, errors included: `{"error": {"code", "message"}}`.'
        ),
    },
    "paths": {
        "/api/search": {
            "get": {
                "operationId": "search",
                "summary": "Search articles; best paragraphs per article, facets, did-you-mean.",
                "parameters": SEARCH_PARAMETERS,
                "responses": {
                    "200": _json("Results", "Ranked articles (may be empty, see `notice`)."),
                    "400": _ERRORS["400"],
                    "503": _ERRORS["503"],
                },
            }
        },
        "/api/articles/{article_id}": {
            "get": {
                "operationId": "article",
                "summary": "One article with all of its paragraphs.",
                "parameters": [_ARTICLE_ID],
                "responses": {
                    "200": _json("Article", "The article."),
                    "404": _ERRORS["404"],
                    "503": _ERRORS["503"],
                },
            }
        },
        "/api/articles/{article_id}/related": {
            "get": {
                "operationId": "related",
                "summary": "The articles nearest in meaning (near-copies excluded).",
                "parameters": [
                    _ARTICLE_ID,
                    {
                        **_QUERY,
                        "name": "limit",
                        "schema": {
                            "type": "integer",
                            "minimum": RELATED_LIMIT[1],
                            "maximum": RELATED_LIMIT[2],
                            "default": RELATED_LIMIT[0],
                        },
                    },
                ],
                "responses": {
                    "200": _json("Related", "Related articles, nearest first."),
                    "400": _ERRORS["400"],
                    "404": _ERRORS["404"],
                    "503": _ERRORS["503"],
                },
            }
        },
        "/api/health": {
            "get": {
                "operationId": "health",
                "summary": "Index and model facts for monitoring.",
                "responses": {
                    "200": _json("Health", "The index is serving."),
                    "503": _ERRORS["503"],
                },
            }
        },
    },
    "components": {"schemas": SCHEMAS},
}


def spec() -> dict[str, Any]:
    """The OpenAPI document (a fresh copy each call is not needed: it is never mutated)."""
    return SPEC


@bp.get("/openapi.json")
def openapi_json() -> Any:
    """The OpenAPI 3 document of this API."""
    return jsonify(SPEC)
