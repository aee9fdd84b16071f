"""Issue #17, classes 2 and 7: waitress as ``newsearch serve`` runs it, against hostile clients.

A real server on 127.0.0.1 (an ephemeral port) in a thread, over the session index. Bounds are
generous (a loaded 2-core machine); the precise timings are in ``bench/hostile.py``.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from web.serve import create_server

HALF_OPEN = 150


@pytest.fixture()
def server(app, settings) -> Iterator[tuple[str, int]]:
    limits = replace(settings, serve_request_seconds=1.0, serve_idle_seconds=4.0)
    srv = create_server(app, limits, "127.0.0.1", 0, threads=2)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield "127.0.0.1", srv.effective_port
    srv.task_dispatcher.shutdown(timeout=1)
    for obj in list(srv._map.values()):
        try:
            obj.close()
        except OSError:
            pass


def _connect(addr: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(addr, timeout=30)
    return sock


def _get(addr: tuple[str, int], path: str) -> tuple[int, bytes]:
    with _connect(addr) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _closed_by_server(sock: socket.socket, trickle: bool = False, within: float = 30) -> bool:
    """True when the server closes ``sock`` (recv gives b"" or a reset) within ``within`` s."""
    deadline = time.monotonic() + within
    sock.settimeout(0.3)
    while time.monotonic() < deadline:
        try:
            if trickle:
                sock.send(b"X")  # one more header byte now and then
            if sock.recv(4096) == b"":
                return True
        except TimeoutError:
            continue
        except OSError:  # reset, or a send after the close
            return True
    return False


def test_health_answers_while_half_open_sockets_are_held(server) -> None:
    held = []
    try:
        for _ in range(HALF_OPEN):
            sock = _connect(server)
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            held.append(sock)
        status, body = _get(server, "/api/health")  # waitress' default limit was 100
        assert status == 200 and json.loads(body)["status"] == "ok"
        # The server drops them: a request unfinished 1 s after its first byte is cut off.
        assert _closed_by_server(held[0])
        assert _closed_by_server(held[-1])
    finally:
        for sock in held:
            sock.close()


def test_a_trickling_client_is_dropped(server) -> None:
    with _connect(server) as sock:
        sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert _closed_by_server(sock, trickle=True)  # activity does not keep it open


def test_idle_connection_is_dropped_and_keepalive_still_works(server) -> None:
    with _connect(server) as sock:
        for _ in range(2):  # two whole requests on one connection are fine
            sock.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
            data = b""
            while b"\r\n\r\n" not in data:
                data += sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200")
            length = int(data.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            body = data.partition(b"\r\n\r\n")[2]
            while len(body) < length:
                body += sock.recv(65536)
        assert _closed_by_server(sock)  # then nothing for serve_idle_seconds: closed


def test_big_request_body_is_refused_before_it_is_read(server, settings) -> None:
    size = 50 * 1024 * 1024
    with _connect(server) as sock:
        head = f"GET /api/health HTTP/1.1\r\nHost: x\r\nContent-Length: {size}\r\n\r\n"
        sock.sendall(head.encode())
        sock.sendall(b"x" * 65536)  # a little of the body; the rest is never needed
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 413")
    with _connect(server) as sock:  # a chunked body is counted as it comes
        sock.sendall(b"POST /api/health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        chunk = b"x" * 16384
        try:
            for _ in range(2 * settings.max_request_bytes // len(chunk) + 2):
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except OSError:  # the server may close before everything is sent
            pass
        assert sock.recv(65536).startswith(b"HTTP/1.1 413")


def test_oversized_headers_are_refused(server, settings) -> None:
    with _connect(server) as sock:
        filler = "a" * 8000
        count = settings.max_request_bytes // len(filler) + 2
        lines = "".join(f"X-{i}: {filler}\r\n" for i in range(count))
        try:
            sock.sendall(f"GET /api/health HTTP/1.1\r\nHost: x\r\n{lines}\r\n".encode())
        except OSError:
            pass
        assert sock.recv(65536).split(b" ")[1] == b"431"


def test_flask_refuses_a_big_body_with_a_json_413(client, settings) -> None:
    # Under any other WSGI server Flask's own cap applies to a view that reads the body.
    from flask import request

    app = client.application

    @app.post("/api/_echo_len")
    def _echo_len():  # pragma: no cover - only this test registers it
        return {"n": len(request.get_data())}

    resp = client.post("/api/_echo_len", data=b"x" * (settings.max_request_bytes + 1))
    assert resp.status_code == 413
    assert resp.get_json()["error"]["code"] == "too_large"
