"""Run the web app under waitress, a production WSGI server (``newsearch serve``)."""

from __future__ import annotations

import logging

from search.config import Settings

__all__ = ["serve"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def serve(
    settings: Settings, host: str = "127.0.0.1", port: int = 5000, threads: int | None = None
) -> None:
    """Serve the app on ``host:port`` until interrupted; the engine is opened once, here."""
    from waitress import serve as waitress_serve

    from web import create_app

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    app = create_app({"SETTINGS": settings})
    logging.getLogger(__name__).info("newsearch on http://%s:%d/", host, port)
    threads = threads or settings.serve_threads
    waitress_serve(app, host=host, port=port, threads=threads, ident="newsearch")
