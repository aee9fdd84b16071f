"""The JSON API: ``/api/search``, ``/api/articles/<id>``, ``/api/articles/<id>/related`` and
``/api/health``.

Every answer is JSON, errors included (``{"error": {"code", "message"}}``; only waitress's
refusal of an over-size request, 413/431, is plain text, web/serve.py); bad input gives
400, an unknown article 404, a missing index 503, and only a bug on our side 500 (logged,
never a traceback). Article ids come from the corpus and may contain ``/``; the one id shape
that cannot be fetched is one ending in ``/related``, which the related route answers instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, jsonify, request

from search.backends import Unsupported
from search.models import MAX_ARTICLE_ID_CHARS, Related  # longer ids are never indexed
from search.query import QueryError, parse_int, parse_query
from web import get_engine, get_settings, json_error

__all__ = ["MAX_ARTICLE_ID_CHARS", "RELATED_LIMIT", "bp"]

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)

NOT_READY = "The search index is not ready yet; build it with `newsearch index` and retry."
RELATED_LIMIT = (5, 1, 50)  # default, lowest, highest


def _not_ready() -> Any:
    response, status = json_error(503, "index_not_ready", NOT_READY)
    response.headers["Retry-After"] = "5"
    return response, status


def _not_found(article_id: str) -> Any:
    return json_error(404, "not_found", "No article has this id.", article_id=article_id)


def _call(what: str, fn: Callable[[], Any]) -> Any:
    """Run an engine call; a failure is logged and becomes a JSON 500 without internals."""
    try:
        return fn()
    except Unsupported:
        raise
    except Exception:
        log.exception("%s failed", what)
        raise _Failed(what) from None


class _Failed(Exception):
    """An engine call failed (already logged)."""


@bp.errorhandler(Unsupported)
def _unsupported(exc: Unsupported) -> Any:
    return json_error(400, "unsupported", str(exc), param="q")


@bp.errorhandler(_Failed)
def _failed(exc: _Failed) -> Any:
    return json_error(500, "internal_error", f"The {exc} failed on our side.")


@bp.get("/search")
def search() -> Any:
    """Search; the body is ``Results.to_dict()``. An empty ``q`` is allowed with ``sort=date``:
    the latest articles passing the filters (the front page)."""
    latest = (request.args.get("sort") or "").strip().lower() == "date"
    try:
        query = parse_query(request.args, get_settings(), require_text=not latest)
    except QueryError as exc:
        return json_error(400, exc.code, exc.message, param=exc.param)
    engine = get_engine()
    if engine is None:
        return _not_ready()
    if not query.text:
        results = _call("latest articles", lambda: engine.latest(query))
        return jsonify(results.to_dict())
    results = _call("search", lambda: engine.search(query))
    return jsonify(results.to_dict())


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> Any:
    """One article with all of its paragraphs and the ids of its near-duplicates."""
    engine = get_engine()
    if engine is None:
        return _not_ready()
    if len(article_id) > MAX_ARTICLE_ID_CHARS:
        return _not_found(article_id[:MAX_ARTICLE_ID_CHARS])
    found = _call("article lookup", lambda: engine.article(article_id))
    return jsonify(found.to_dict()) if found is not None else _not_found(article_id)


@bp.get("/articles/<path:article_id>/related")
def related(article_id: str) -> Any:
    """The articles nearest in meaning: ``{"article_id", "results": [...]}``."""
    default, low, high = RELATED_LIMIT
    try:
        limit = parse_int(request.args, "limit", default, low, high)
    except QueryError as exc:
        return json_error(400, exc.code, exc.message, param=exc.param)
    engine = get_engine()
    if engine is None:
        return _not_ready()
    if len(article_id) > MAX_ARTICLE_ID_CHARS:
        return _not_found(article_id[:MAX_ARTICLE_ID_CHARS])
    found = _call("related search", lambda: engine.related(article_id, limit))
    if found is None:
        return _not_found(article_id)
    return jsonify(Related(article_id, found).to_dict())


@bp.get("/health")
def health() -> Any:
    """Index and model facts for monitoring; 503 while no index can be opened."""
    engine = get_engine()
    if engine is None:
        return _not_ready()
    return jsonify(_call("health check", engine.health).to_dict())


@bp.after_request
def _no_store(response: Any) -> Any:
    """API answers reflect the live index; do not let caches keep them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response
