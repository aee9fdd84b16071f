"""The newsearch web front end: a Flask app factory in the style of Flask's tutorial.

The app talks to the search engine only through :class:`search.engine.Engine`, which is
opened once per process.  If no index is built yet, the app still starts and answers 503
until an index appears (it retries opening at most every ``ENGINE_RETRY_SECONDS``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException, InternalServerError

from search.config import Settings
from search.engine import Engine, IndexCorrupt, IndexNotReady

__all__ = ["create_app", "get_engine", "get_settings", "is_api_request", "json_error"]

EXTENSION = "newsearch"
log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


class _EngineSlot:
    """Retry bookkeeping for an engine that could not be opened yet (one per app)."""

    def __init__(self, settings: Settings, retry_seconds: float) -> None:
        self.settings = settings
        self.retry_seconds = retry_seconds
        self.last_attempt = 0.0
        self.lock = threading.Lock()

    def try_open(self) -> Engine | None:
        """Open the engine, or return None if the index is not ready (logged, not raised)."""
        self.last_attempt = time.monotonic()
        try:
            engine = Engine.open(self.settings)
            engine.warm_up()
            return engine
        except IndexNotReady as exc:
            log.warning("index not ready at %s: %s", self.settings.index_dir, exc)
        except IndexCorrupt as exc:
            log.error("index at %s is unusable: %s", self.settings.index_dir, exc)
        except Exception:  # a broken index must not turn every request into a 500
            log.exception("could not open the index at %s", self.settings.index_dir)
        return None


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the Flask app.

    ``test_config`` may set any Flask config key plus ``SETTINGS`` (a :class:`Settings`),
    ``INDEX_DIR`` (overrides the index directory), ``ENGINE`` (an already opened engine,
    so a test session opens the model once) and ``ENGINE_RETRY_SECONDS``.
    """
    app = Flask(__name__)
    app.config.from_mapping(ENGINE_RETRY_SECONDS=5.0)
    if test_config:
        app.config.from_mapping(test_config)
    app.json.sort_keys = False  # keep the documented field order of Results.to_dict()
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    settings = app.config.get("SETTINGS") or Settings.from_env()
    if app.config.get("INDEX_DIR") is not None:
        settings = replace(settings, index_dir=Path(app.config["INDEX_DIR"]))
    app.config["SETTINGS"] = settings
    # Waitress refuses bigger bodies before reading them (web/serve.py); this covers any other
    # WSGI server, for a view that reads the body.
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = settings.max_request_bytes

    slot = _EngineSlot(settings, float(app.config["ENGINE_RETRY_SECONDS"]))
    engine = app.config.get("ENGINE")
    if engine is None:
        engine = slot.try_open()
    app.extensions[EXTENSION] = engine
    app.extensions[f"{EXTENSION}.slot"] = slot

    from web import api, feed, openapi, pages

    app.register_blueprint(api.bp)
    app.register_blueprint(feed.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.after_request(_add_security_headers)
    app.register_error_handler(HTTPException, _handle_http_error)
    return app


def get_settings() -> Settings:
    """The settings of the current app."""
    return current_app.config["SETTINGS"]


def get_engine() -> Engine | None:
    """The app's engine, retrying a failed open at most every few seconds; None if not ready."""
    engine = current_app.extensions.get(EXTENSION)
    if engine is not None:
        return engine
    slot: _EngineSlot = current_app.extensions[f"{EXTENSION}.slot"]
    if time.monotonic() - slot.last_attempt < slot.retry_seconds:
        return None
    if not slot.lock.acquire(blocking=False):  # another request is opening it right now
        return None
    try:
        engine = current_app.extensions.get(EXTENSION)
        if engine is None:
            engine = slot.try_open()
            current_app.extensions[EXTENSION] = engine
        return engine
    finally:
        slot.lock.release()


def is_api_request() -> bool:
    """True if the request is for the JSON API (so errors must be JSON, never HTML)."""
    return request.path == "/api" or request.path.startswith("/api/")


def json_error(status: int, code: str, message: str, **extra: Any) -> tuple[Response, int]:
    """The API's error body: ``{"error": {"code": ..., "message": ...}}``."""
    return jsonify({"error": {"code": code, "message": message, **extra}}), status


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "internal_error",
    503: "unavailable",
}


def _handle_http_error(exc: HTTPException) -> Any:
    """JSON errors under /api, a small HTML page elsewhere; never a traceback."""
    status = exc.code or 500
    if isinstance(exc, InternalServerError) and exc.original_exception is not None:
        log.error("unhandled error", exc_info=exc.original_exception)
    message = exc.description or exc.name
    if status >= 500:
        message = "Something went wrong on our side."
    if is_api_request():
        response, _ = json_error(status, _HTTP_CODES.get(status, "http_error"), message)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status
    body = render_template("error.html", status=status, title=exc.name, message=message)
    return body, status, [h for h in exc.get_headers() if h[0].lower() != "content-type"]


def _add_security_headers(response: Response) -> Response:
    """Same-origin-only CSP and friends on every response, errors included."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
