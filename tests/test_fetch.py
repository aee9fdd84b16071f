"""Feeds and web pages: extraction without boilerplate, fallbacks and problems, fetch → index.

The feeds and pages in ``tests/data/html`` are served by a local HTTP server started here
(``{{BASE}}`` in a served file becomes the server's address): there is no outside network.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from search import fetch as fetch_module
from search.build import build_index
from search.cli import main
from search.config import Settings
from search.engine import Engine
from search.fetch import FetchError, article_from_html, decode_html, fetch, fetch_feeds, http_get
from search.htmlpage import html_to_paragraphs, http_url
from search.ingest import read_corpus, summarize
from search.models import Article, Problem, Query

DATA = Path(__file__).parent / "data" / "html"
HARBOUR = DATA / "articles" / "harbour.html"
HARBOUR_URL = "https://ledger.example.com/2024/03/harbour-cranes"
# Served, the page names itself on the test server's host (a canonical link on another host is
# ignored, see test_canonical_on_another_host_is_ignored); read as a file, HARBOUR_URL stays.
HARBOUR_PATH = "/2024/03/harbour-cranes"
HARBOUR_TITLE = "Harbour cranes return to Port Ellery after five-year refit"
ORCHARD_TITLE = "Late frost spares the valley's apple orchards"
# Text of the pages' navigation, banners, asides, footers and scripts: never article text.
BOILERPLATE = [
    "Subscribe",
    "cookies",
    "Related stories",
    "Ferry timetable changes announced",
    "Copyright",
    "newsletter",
    "By Mara Quinlan",
    "Log in",
    "Share this story",
    "Advertise",
    "TRACKER-SECRET",
    "INLINE-SCRIPT-TEXT",
    "FOOTER-SCRIPT",
    "ORCHARD-AD-SCRIPT",
    "ORCHARD-FOOTER-SCRIPT",
    "font-family",
]


class _Handler(BaseHTTPRequestHandler):
    """Files under DATA (feeds as XML, pages as HTML) plus a few misbehaving URLs."""

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass

    def _send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/slow.html":
            time.sleep(2)
            return self._send(200, b"<p>late</p>", "text/html")
        if path == "/to-ftp.html":
            return self._send(302, b"", "text/html", Location="ftp://127.0.0.1/secret.txt")
        if path == "/to-local.html":  # 127.0.0.2: "private" in test_redirects_are_checked
            where = f"http://127.0.0.2:{self.server.server_port}/articles/harbour.html"
            return self._send(302, b"", "text/html", Location=where)
        if path == "/trickle.html":  # a byte every 0.2 s, for at most 20 s
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", "100")
            self.end_headers()
            for _ in range(100):
                try:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
            return
        if path == "/report.pdf":
            return self._send(200, b"%PDF-1.4 ...", "application/pdf")
        file = HARBOUR if path == "/articles/elsewhere.html" else DATA / path.lstrip("/")
        if ".." in path or not file.is_file():
            return self._send(404, b"<h1>Not found</h1>", "text/html")
        base = self.server.base.encode()  # type: ignore[attr-defined]
        body = file.read_bytes().replace(b"{{BASE}}", base)
        if path == "/articles/elsewhere.html":  # names a page of another host as itself
            body = HARBOUR.read_bytes()
        else:
            body = body.replace(HARBOUR_URL.encode(), base + HARBOUR_PATH.encode())
        kind = "application/xml" if file.suffix == ".xml" else "text/html; charset=utf-8"
        self._send(200, body, kind)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    """Address of a local server for DATA, e.g. ``http://127.0.0.1:40123``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.base = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as mp:  # never send the local requests through a proxy
        for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
            mp.delenv(name, raising=False)
        yield server.base  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def fetched(base: str) -> tuple[list[Article], list[Problem]]:
    return fetch_feeds([f"{base}/rss.xml", f"{base}/atom.xml"], allow_local=True)


def by_title(articles: list[Article]) -> dict[str, Article]:
    return {a.title: a for a in articles}


def assert_no_boilerplate(article: Article) -> None:
    text = "\n".join(article.paragraphs)
    assert [b for b in BOILERPLATE if b in text] == []


# --------------------------------------------------------------------------- pages


def test_page_text_metadata_and_no_boilerplate(fetched, base: str) -> None:
    articles, _ = fetched
    harbour = by_title(articles)[HARBOUR_TITLE]  # og:title, not the feed's shorter title
    assert harbour.id == harbour.url == base + HARBOUR_PATH  # the canonical link, not the URL
    assert harbour.date == "2024-03-14"  # article:published_time
    assert harbour.source == "The Coastal Ledger"  # og:site_name
    assert len(harbour.paragraphs) == 4
    assert harbour.paragraphs[0].startswith("The four gantry cranes that once defined")
    assert harbour.paragraphs[-1].endswith("higher berthing fees over twelve years.")
    assert_no_boilerplate(harbour)


def test_page_without_date_takes_the_entrys(fetched, base: str) -> None:
    orchard = by_title(fetched[0])[ORCHARD_TITLE]
    assert orchard.date == "2024-03-16"  # Atom <published>, as written (+02:00), not UTC
    assert orchard.id == orchard.url == f"{base}/articles/orchard.html"  # no canonical link
    assert orchard.source == "127.0.0.1"  # no site name: the host, without the port
    assert orchard.paragraphs[1].startswith("By morning most of the blossom had survived.")
    assert len(orchard.paragraphs) == 3
    assert_no_boilerplate(orchard)


def test_fallbacks_and_problems(fetched, base: str) -> None:
    articles, problems = fetched
    assert [a.title for a in articles] == [
        HARBOUR_TITLE,
        "Ferry timetable changes for the winter season",
        "In pictures: the spring regatta",
        ORCHARD_TITLE,
    ]
    ferry = articles[1]  # its page is a 404: the RSS description, HTML paragraphs made text
    assert ferry.paragraphs == (
        "The island ferry will sail twice a day instead of four times from November, "
        "the operator said.",
        "Commuters said the reduced service would make day trips impossible.",
    )
    assert ferry.date == "2024-03-15"
    assert ferry.id == ferry.url == f"{base}/articles/ferry.html"
    gallery = articles[2]  # its page has no text, only a script-built gallery
    assert gallery.paragraphs[0].startswith("Sailing boats raced around the lighthouse")
    assert [(p.file.replace(base, ""), p.line, p.reason, p.skipped) for p in problems] == [
        (
            "/articles/ferry.html",
            None,
            "cannot fetch page: HTTP 404 Not Found: used the feed's summary",
            False,
        ),
        ("ftp://ledger.example.com/archive.zip", None, "not an http(s) link: entry skipped", True),
        (
            "/articles/gallery.html",
            None,
            "no article text found on the page: used the feed's summary",
            False,
        ),
        (
            "/articles/harbour.html?from=atom",
            None,
            f"same article as {base}/articles/harbour.html ({base}{HARBOUR_PATH})",
            True,
        ),
        (
            "/articles/withdrawn.html",
            None,
            "cannot fetch page: HTTP 404 Not Found, and the feed gives no summary: entry skipped",
            True,
        ),
    ]


def test_feed_problems_and_max_items(base: str) -> None:
    feeds = [f"{base}/missing.xml", f"{base}/articles/harbour.html", f"{base}/rss.xml"]
    report = fetch(feeds, max_items=1, allow_local=True)
    assert (report.feeds_asked, report.feeds, report.entries) == (3, 1, 4)
    assert [a.title for a in report.articles] == [HARBOUR_TITLE]
    reasons = [(p.file.replace(base, ""), p.reason, p.skipped) for p in report.problems]
    assert reasons[0] == ("/missing.xml", "cannot read feed: HTTP 404 Not Found", True)
    assert reasons[1][0] == "/articles/harbour.html"
    assert reasons[1][1].startswith("cannot read feed: not an RSS or Atom feed")
    assert reasons[2] == ("/rss.xml", "3 entries after the first 1 not fetched", True)
    assert report.summary() == "read 1 of 3 feeds, 4 entries → 1 articles; skipped 3, 0 warnings"


def test_http_get_limits(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body, final, kind = http_get(f"{base}/articles/harbour.html", 5, 1 << 20, allow_local=True)
    assert b"gantry cranes" in body and final.endswith("harbour.html") and "html" in kind
    with pytest.raises(FetchError, match="larger than"):
        http_get(f"{base}/articles/harbour.html", 5, 100, allow_local=True)
    with pytest.raises(FetchError, match="timed out"):
        http_get(f"{base}/slow.html", 0.3, 1 << 20, allow_local=True)
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", f"{base}/to-ftp.html"):
        with pytest.raises(FetchError):
            http_get(url, 5, 1 << 20, allow_local=True)
    # A linked file that is not a web page falls back to the summary like a failed fetch.
    feed = {"link": f"{base}/report.pdf", "title": "Annual report", "summary": "Profits rose."}
    items = fetch_module._fetch_entry(f"{base}/rss.xml", 1, feed, 5, True)
    expected = "cannot fetch page: not an HTML page (application/pdf): used the feed's summary"
    assert (items[0].reason, items[0].skipped) == (expected, False)
    assert isinstance(items[-1], Article) and items[-1].paragraphs == ("Profits rose.",)
    monkeypatch.setattr(fetch_module, "MAX_PAGE_BYTES", 100)
    items = fetch_module._fetch_entry(
        f"{base}/rss.xml", 1, feed | {"link": f"{base}/rss.xml"}, 5, True
    )
    assert items[0].reason.startswith("cannot fetch page: larger than")


def test_decode_html_charsets() -> None:
    page = '<html><head><meta charset="windows-1252"></head><body>café</body></html>'
    assert "café" in decode_html(page.encode("cp1252"))
    assert "café" in decode_html("<p>café</p>".encode("latin-1"), "text/html; charset=ISO-8859-1")
    assert "café" in decode_html("<p>café</p>".encode(), "text/html")  # no charset: UTF-8
    with pytest.raises(FetchError, match="not text"):
        decode_html(b"\x00\x01\x02\x03" * 100)


def test_html_helpers() -> None:
    fragment = "<p>One &amp; two<br>three</p><script>bad()</script><div>four <b>five</b></div>"
    assert html_to_paragraphs(fragment) == ["One & two", "three", "four five"]
    assert html_to_paragraphs("plain\n\ntext") == ["plain", "text"]
    assert http_url("/a/b", "https://x.example/c") == "https://x.example/a/b"
    assert http_url("javascript:alert(1)") is None and http_url("mailto:a@b.c") is None
    assert article_from_html("<html><body><nav>Home</nav></body></html>", None) is None
    page = HARBOUR.read_text(encoding="utf-8")
    named = page.replace('content="The Coastal Ledger"', 'content="Ledger"')
    article = article_from_html(named, "https://www.ledger.example.com/x")
    assert article is not None and article.source == "Ledger"  # a site name, not a host
    unnamed = page.replace('property="og:site_name"', 'name="x"').replace(HARBOUR_URL, "")
    article = article_from_html(unnamed, "https://www.ledger.example.com/x")
    assert article is not None and article.source == "ledger.example.com"
    assert article.id == article.url == "https://www.ledger.example.com/x"


# --------------------------------------------------------------------------- ingest


def test_html_files_in_read_corpus(tmp_path: Path) -> None:
    shutil.copy(HARBOUR, tmp_path / "a.htm")
    shutil.copy(DATA / "articles" / "gallery.html", tmp_path / "b.html")
    articles, problems = summarize(read_corpus([tmp_path]))
    assert problems == [Problem(str(tmp_path / "b.html"), None, "no article text found")]
    [harbour] = articles
    assert (harbour.id, harbour.title, harbour.date) == (HARBOUR_URL, HARBOUR_TITLE, "2024-03-14")
    assert (harbour.source, harbour.url) == ("The Coastal Ledger", HARBOUR_URL)
    assert len(harbour.paragraphs) == 4
    assert_no_boilerplate(harbour)


def test_html_file_without_url_gets_content_id(tmp_path: Path) -> None:
    page = HARBOUR.read_text(encoding="utf-8").replace(HARBOUR_URL, "ftp://nowhere/x")
    (tmp_path / "page.html").write_text(page, encoding="utf-8")
    [article] = list(read_corpus([tmp_path / "page.html"]))
    assert isinstance(article, Article)
    assert article.url is None and len(article.id) == 16  # ingest's content hash


# --------------------------------------------------------------------------- CLI


def test_cli_fetch_adds_to_the_index_and_searches(
    base: str, tmp_path: Path, corpus_dir: Path
) -> None:
    index_dir, save_dir = tmp_path / "index", tmp_path / "feeds"
    settings = Settings.from_env(index_dir=index_dir)
    build_index([corpus_dir], settings)  # an existing index the fetched articles join
    args = ["fetch", f"{base}/rss.xml", f"{base}/atom.xml", "--allow-local"]
    args += ["--index-dir", str(index_dir), "--save", str(save_dir)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "read 2 of 2 feeds, 7 entries → 4 articles; skipped 3, 2 warnings" in result.stdout
    assert "indexed 4 articles" in result.stdout
    assert "warning: " in result.stderr and "skipped: ftp://" in result.stderr
    [saved] = save_dir.glob("*.jsonl")
    assert f"saved 4 articles to {saved}" in result.stdout
    records = [json.loads(line) for line in saved.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in records][0] == base + HARBOUR_PATH
    assert summarize(read_corpus([saved]))[1] == []  # the saved file reads back cleanly

    engine = Engine.open(settings)
    top = engine.search(Query("gantry cranes", mode="keyword")).results[0]
    expected = (base + HARBOUR_PATH, HARBOUR_TITLE, "2024-03-14")
    assert (top.article_id, top.title, top.date) == expected
    top = engine.search(Query("blossom survived freezing night", mode="semantic")).results[0]
    assert top.title == ORCHARD_TITLE
    assert engine.search(Query("hurricane", mode="keyword")).total == 1  # the corpus stayed

    again = CliRunner().invoke(main, args)  # the same articles again replace, not duplicate
    assert again.exit_code == 0, again.output
    assert f"warning: {base + HARBOUR_PATH}: replaces the indexed article" in again.stderr
    assert len(list(save_dir.glob("*.jsonl"))) == 2
    assert Engine.open(settings).search(Query("gantry cranes", mode="keyword")).total == 1


def test_cli_fetch_adds_to_the_backend_the_settings_name(
    base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fetch` with NEWSEARCH_BACKEND=milvus (as `serve` reads it) or --milvus-uri adds to
    Milvus, like `add`, instead of writing an embedded index nobody serves."""
    from search.backends import milvus_write
    from search.models import BuildReport

    added: list[tuple[list[Path], str]] = []

    def add_milvus(paths, settings, *args, **kwargs):  # noqa: ANN001, ANN202
        added.append((paths, settings.milvus_uri))
        return BuildReport(articles=4, generation="newsearch_1_p")

    monkeypatch.setattr(milvus_write, "add_milvus", add_milvus)
    index_dir = tmp_path / "index"
    args = ["fetch", f"{base}/rss.xml", "--allow-local", "--save", str(tmp_path / "feeds")]
    env = {"NEWSEARCH_BACKEND": "milvus", "NEWSEARCH_MILVUS_URI": str(tmp_path / "m.db")}
    result = CliRunner().invoke(main, [*args, "--index-dir", str(index_dir)], env=env)
    assert result.exit_code == 0, result.output
    assert "indexed 4 articles" in result.stdout
    [(paths, uri)] = added
    assert uri == str(tmp_path / "m.db") and paths[0].suffix == ".jsonl"
    assert not index_dir.exists()  # nothing written beside Milvus
    flag = CliRunner().invoke(main, [*args, "--milvus-uri", str(tmp_path / "n.db")])
    assert flag.exit_code == 0, flag.output
    assert added[1][1] == str(tmp_path / "n.db")


def test_cli_fetch_nothing_fetched(base: str, tmp_path: Path) -> None:
    dirs = ["--index-dir", str(tmp_path / "i"), "--save", str(tmp_path / "f")]
    result = CliRunner().invoke(main, ["fetch", f"{base}/missing.xml", "--allow-local", *dirs])
    assert result.exit_code == 1
    assert "no articles fetched, index left as it was" in result.output
    assert not (tmp_path / "f").exists() and not (tmp_path / "i").exists()


# --------------------------------------------------------------------------- issue #17, class 6


def test_loopback_feed_is_refused_without_the_opt_in(base: str, tmp_path: Path) -> None:
    report = fetch([f"{base}/rss.xml"])
    assert (report.feeds, report.articles) == (0, [])
    [problem] = report.problems
    assert "non-public address (127.0.0.1): refused" in problem.reason
    assert "--allow-local" in problem.reason
    dirs = ["--index-dir", str(tmp_path / "i"), "--save", str(tmp_path / "f")]
    result = CliRunner().invoke(main, ["fetch", f"{base}/rss.xml", *dirs])
    assert result.exit_code == 1 and "non-public address" in result.output
    assert not (tmp_path / "i").exists()


def test_addresses_that_are_not_public() -> None:
    from search.safehttp import is_public_address

    for address in (
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.1",
        "172.16.5.4",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "::1",
        "fe80::1",
        "fd00::1",
        "::ffff:127.0.0.1",
        "224.0.0.1",
        "255.255.255.255",
    ):
        assert not is_public_address(address), address
    for address in ("93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"):
        assert is_public_address(address), address


def test_names_are_checked_after_dns_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    from search import safehttp

    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "intranet.example":  # a public-looking name with a private address
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(safehttp.socket, "getaddrinfo", fake)
    with pytest.raises(FetchError, match=r"intranet.example is a non-public address \(10.0.0.5\)"):
        http_get("http://intranet.example/admin", 5, 1 << 20)


def test_redirects_are_checked(base: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from search import safehttp

    # Pretend 127.0.0.1 (the test server) is public, so only the redirect's target is not.
    monkeypatch.setattr(safehttp, "is_public_address", lambda a: a == "127.0.0.1")
    body, _, _ = http_get(f"{base}/articles/harbour.html", 5, 1 << 20)
    assert b"gantry" in body
    with pytest.raises(FetchError, match=r"non-public address \(127.0.0.2\)"):
        http_get(f"{base}/to-local.html", 5, 1 << 20)


def test_timeout_is_a_deadline_for_the_whole_url(base: str) -> None:
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="timed out after 1 s"):
        http_get(f"{base}/trickle.html", 1, 1 << 20, allow_local=True)  # each read is quick
    assert time.monotonic() - t0 < 10  # per-read timeouts would have taken 20 s


def test_canonical_on_another_host_is_ignored(base: str) -> None:
    link = f"{base}/articles/elsewhere.html"
    entry = {"link": link, "title": "x", "summary": "y"}
    *warnings, article = fetch_module._fetch_entry(f"{base}/rss.xml", 1, entry, 5, True)
    assert isinstance(article, Article)
    assert article.id == article.url == link  # not the ledger's article id
    assert [(w.reason, w.skipped) for w in warnings] == [
        (f"canonical link to another host ignored ({HARBOUR_URL})", False)
    ]
