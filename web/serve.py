"""Run the web app under waitress, a production WSGI server (``newsearch serve``).

Waitress's defaults suit a trusted network, not a public one: 100 connections in all, an idle
connection kept for 2 minutes, a client that sends one header byte now and then kept forever,
and request bodies up to 1 GiB buffered to disk. Here (issue #17):

* a client that has not sent a whole request ``serve_request_seconds`` after its first byte,
  or sends nothing for ``serve_idle_seconds``, is disconnected;
* up to ``serve_connection_limit`` connections are open at once (idle ones are cheap: waitress
  multiplexes sockets in one thread; only ``threads`` requests run at a time);
* a request body over ``max_request_bytes`` (the API takes none) is answered 413 as soon as its
  headers say so, before any of it is read; headers are capped the same way.

For a public deployment put a reverse proxy in front as well (see README "Deploying").
"""

from __future__ import annotations

import logging
import time
from typing import Any

from search.config import Settings

__all__ = ["CannotListen", "create_server", "serve"]

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger(__name__)


def _timed_channel(base: type) -> type:
    """``base`` (waitress's HTTPChannel) remembering when the request being read began."""

    class TimedChannel(base):  # type: ignore[misc, valid-type]
        request_started: float | None = None

        def received(self, data: bytes) -> bool:
            if data and self.request is None:
                self.request_started = time.monotonic()
            done = super().received(data)
            if self.request is None:  # every request received so far is complete
                self.request_started = None
            return done

    return TimedChannel


def _drop_slow_clients(server: Any, request_seconds: float) -> None:
    """Make waitress's periodic maintenance also close channels whose request is unfinished
    ``request_seconds`` after its first byte (waitress alone only closes idle ones)."""
    idle_rule = server.maintenance

    def maintenance(now: float) -> None:
        idle_rule(now)
        cutoff = time.monotonic() - request_seconds
        for channel in list(server.active_channels.values()):
            started = getattr(channel, "request_started", None)
            if started is not None and started < cutoff and not channel.requests:
                channel.will_close = True

    server.channel_class = _timed_channel(server.channel_class)
    server.maintenance = maintenance


def create_server(app: Any, settings: Settings, host: str, port: int, threads: int) -> Any:
    """A waitress server for ``app`` with the limits above (not started; call ``.run()``)."""
    from waitress import create_server as waitress_server
    from waitress.server import BaseWSGIServer

    server = waitress_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="newsearch",
        connection_limit=settings.serve_connection_limit,
        channel_timeout=settings.serve_idle_seconds,
        cleanup_interval=1,  # how often the two timeouts are checked
        max_request_body_size=settings.max_request_bytes,
        max_request_header_size=settings.max_request_bytes,
    )
    # One listener, or (a host with several addresses) a MultiSocketServer over several.
    sockets = getattr(server, "map", None) or {}
    listeners = [s for s in sockets.values() if isinstance(s, BaseWSGIServer)]
    for listener in listeners or [server]:
        _drop_slow_clients(listener, settings.serve_request_seconds)
    return server


class CannotListen(OSError):
    """``host:port`` cannot be listened on (in use, not this machine's address); one line."""


class _Deferred:
    """The WSGI app, handed to the server once the socket is bound and the index opened."""

    app: Any = None

    def __call__(self, environ: dict, start_response: Any) -> Any:
        return self.app(environ, start_response)


def serve(
    settings: Settings, host: str = "127.0.0.1", port: int = 5000, threads: int | None = None
) -> None:
    """Serve the app on ``host:port`` until interrupted; the engine is opened once, here.

    The socket is bound first, so a port in use or a foreign address is one line
    (:class:`CannotListen`) before the index and the model are loaded."""
    from web import create_app

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    deferred = _Deferred()
    try:
        server = create_server(deferred, settings, host, port, threads or settings.serve_threads)
    except (OSError, ValueError) as e:  # waitress: ValueError for a host it cannot resolve
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e).rstrip(".")
        raise CannotListen(f"cannot listen on {host}:{port}: {why}") from None
    deferred.app = create_app({"SETTINGS": settings})
    log.info("newsearch on http://%s:%d/", host, port)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
