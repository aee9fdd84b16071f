"""One bounded, guarded HTTP GET for ``newsearch fetch``: ``http_get``.

What a feed names is not trusted (issue #17):

* http and https only, also after a redirect (urllib without file:, ftp: or data: handlers);
* the host is resolved and refused when any of its addresses is not public (loopback, private,
  link-local, shared, reserved, multicast), and the connection goes to an address that was
  checked, so a second DNS answer cannot point it elsewhere; every redirect is checked the
  same way. ``allow_local=True`` (``newsearch fetch --allow-local``) lifts this for feeds on
  your own network. A proxy from the environment is the operator's choice and is not checked;
  the target host still is;
* ``timeout`` is a deadline for the whole URL (connect, headers, body, redirects), not per
  read: at the deadline the sockets are shut down, so a server sending a byte a second cannot
  hold a fetch for longer;
* at most ``max_bytes`` of body are read.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import threading
import time
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import (
    HTTPDefaultErrorHandler,
    HTTPErrorProcessor,
    HTTPHandler,
    HTTPRedirectHandler,
    HTTPSHandler,
    OpenerDirector,
    ProxyHandler,
    Request,
    getproxies,
)

from search import __version__
from search.htmlpage import http_url

__all__ = ["FetchError", "USER_AGENT", "http_get", "is_public_address"]

USER_AGENT = f"newsearch/{__version__} (feed reader)"
MAX_REDIRECTS = 5
LOCAL_HINT = "use --allow-local to fetch from your own network"


class FetchError(Exception):
    """A URL that could not be read; the message says why (it becomes a Problem's reason)."""


def is_public_address(address: str) -> bool:
    """True for a globally routable unicast address (IPv4-mapped IPv6 judged as IPv4)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


class _Guard:
    """Address checks and the deadline of one ``http_get``: every socket it opens is
    registered, and all are shut down when the deadline passes."""

    def __init__(self, allow_local: bool, seconds: float) -> None:
        self.allow_local = allow_local
        self.deadline = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._proxies = {urlsplit(u).hostname for u in getproxies().values() if "://" in u}

    def remaining(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            self.expired = True
            raise TimeoutError("deadline passed")
        return left

    def addresses(self, host: str, port: int) -> list[tuple]:
        """``getaddrinfo`` for ``host``; raises FetchError if one answer is not public."""
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as e:
            raise FetchError(f"cannot resolve {host}: {getattr(e, 'strerror', None) or e}") from e
        if not self.allow_local and host not in self._proxies:
            for *_, sockaddr in infos:
                if not is_public_address(sockaddr[0]):
                    raise FetchError(
                        f"{host} is a non-public address ({sockaddr[0]}): refused; {LOCAL_HINT}"
                    )
        return infos

    def check_url(self, url: str) -> None:
        parts = urlsplit(url)
        if http_url(url) is None:
            raise FetchError("not an http(s) URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as e:
            raise FetchError(f"bad port in {url}") from e
        self.addresses(parts.hostname or "", port)

    def connect(self, address: tuple[str, int], timeout: float, source_address=None):
        """``socket.create_connection`` to a checked address of ``address``'s host."""
        host, port = address
        last: OSError | None = None
        for family, kind, proto, _, sockaddr in self.addresses(host, port):
            sock = socket.socket(family, kind, proto)
            with self._lock:
                self._sockets.append(sock)
            try:
                sock.settimeout(min(timeout, self.remaining()))
                if source_address:
                    sock.bind(source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as e:
                last = e
                sock.close()
        raise last or OSError(f"cannot connect to {host}")

    def expire(self) -> None:
        self.expired = True
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _guarded(base: type, guard: _Guard) -> type:
    class Guarded(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._create_connection = guard.connect

    return Guarded


class _HTTP(HTTPHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.connection = _guarded(http.client.HTTPConnection, guard)

    def http_open(self, req):
        return self.do_open(self.connection, req)


class _HTTPS(HTTPSHandler):
    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.connection = _guarded(http.client.HTTPSConnection, guard)

    def https_open(self, req):
        return self.do_open(self.connection, req, context=self._context)


class _Redirects(HTTPRedirectHandler):
    max_redirections = MAX_REDIRECTS

    def __init__(self, guard: _Guard) -> None:
        super().__init__()
        self.guard = guard

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        self.guard.check_url(newurl)  # scheme and addresses, before following
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(guard: _Guard) -> OpenerDirector:
    opener = OpenerDirector()
    for handler in (
        ProxyHandler(),
        _HTTP(guard),
        _HTTPS(guard),
        _Redirects(guard),
        HTTPDefaultErrorHandler(),
        HTTPErrorProcessor(),
    ):
        opener.add_handler(handler)
    return opener


def http_get(
    url: str, timeout: float, max_bytes: int, allow_local: bool = False
) -> tuple[bytes, str, str]:
    """``(body, final URL after redirects, Content-Type)``; raises FetchError with the reason.

    ``timeout`` bounds the whole download of ``url``, redirects included.
    """
    guard = _Guard(allow_local, timeout)
    timer = threading.Timer(timeout, guard.expire)
    timer.daemon = True
    limit = f"{max_bytes / 1_048_576:g} MB"
    request = Request(url, headers={"User-Agent": USER_AGENT, "Accept": "*/*"})
    timer.start()
    try:
        guard.check_url(url)
        with _opener(guard).open(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise FetchError(f"larger than {limit} ({int(length)} bytes)")
            parts: list[bytes] = []
            size = 0
            while size <= max_bytes and (chunk := response.read1(65536)):
                parts.append(chunk)
                size += len(chunk)
                guard.remaining()
            if guard.expired:
                raise TimeoutError
            if size > max_bytes:
                raise FetchError(f"larger than {limit}")
            return b"".join(parts), response.geturl(), response.headers.get("Content-Type", "")
    except FetchError:
        raise
    except HTTPError as e:
        raise FetchError(f"HTTP {e.code} {e.reason}") from e
    except (TimeoutError, URLError, http.client.HTTPException, OSError, ValueError) as e:
        if guard.expired or isinstance(e, TimeoutError):
            raise FetchError(f"timed out after {timeout:g} s (the whole download)") from e
        if isinstance(e, URLError):
            if isinstance(e.reason, FetchError):
                raise e.reason from e
            raise FetchError(f"cannot connect: {e.reason}") from e
        raise FetchError(f"download failed: {e}") from e
    finally:
        timer.cancel()
