"""The JSON API: ``GET /api/search`` and ``GET /api/health``.

Every answer is JSON, errors included (``{"error": {"code", "message"}}``); bad input gives
400, a missing index 503, and only a bug on our side 500 (logged, never a traceback).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from web import get_engine, get_settings, json_error
from web.params import ParamError, parse_search_args

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api")
log = logging.getLogger(__name__)

NOT_READY = "The search index is not ready yet; build it with `newsearch index` and retry."


def _not_ready() -> Any:
    response, status = json_error(503, "index_not_ready", NOT_READY)
    response.headers["Retry-After"] = "5"
    return response, status


@bp.get("/search")
def search() -> Any:
    """Search; the body is ``Results.to_dict()``."""
    try:
        query = parse_search_args(request.args, get_settings())
    except ParamError as exc:
        return json_error(400, exc.code, exc.message, param=exc.param)
    engine = get_engine()
    if engine is None:
        return _not_ready()
    try:
        results = engine.search(query)
    except Exception:
        log.exception("search failed for %r", query)
        return json_error(500, "internal_error", "The search failed on our side.")
    return jsonify(results.to_dict())


@bp.get("/health")
def health() -> Any:
    """Index and model facts for monitoring; 503 while no index can be opened."""
    engine = get_engine()
    if engine is None:
        return _not_ready()
    try:
        return jsonify(engine.health())
    except Exception:
        log.exception("health check failed")
        return json_error(500, "internal_error", "The health check failed on our side.")


@bp.after_request
def _no_store(response: Any) -> Any:
    """API answers reflect the live index; do not let caches keep them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response
