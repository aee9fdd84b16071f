"""Hostile article content is indexed and shown inert, and pages carry security headers.

``tests/data/hostile/articles.jsonl`` holds ``<script>``, event-handler attributes,
attribute-breaking quotes, ``javascript:``/``data:``/``vbscript:`` URLs (mixed case, with
whitespace, scheme-relative), ids full of URL and HTML characters, and odd unicode (RTL
override and isolates, zero-width characters, combining marks, emoji sequences). Every page is
parsed as a browser would: no script, no event handler, no link but http(s) or our own paths,
and the hostile strings come out as the *text* they were.
"""

from __future__ import annotations

import html
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from search.build import build_index
from search.config import Settings
from search.ingest import read_corpus
from search.models import Article

HOSTILE = Path(__file__).parent / "data" / "hostile" / "articles.jsonl"
TEMPLATES = Path(__file__).parent.parent / "web" / "templates"
ACTIVE_TAGS = {"script", "img", "svg", "iframe", "object", "embed", "frame", "base", "form"}


class Page(HTMLParser):
    """What a browser would make of a page: tags, attributes and text."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)

    def links(self) -> list[str]:
        return [a[k] or "" for t, a in self.tags for k in ("href", "src", "action") if k in a]


def assert_inert(source: str) -> Page:
    """No active content, no handler, only http(s) or same-site links."""
    page = Page(source)
    forms = [a for t, a in page.tags if t == "form"]
    for tag, attrs in page.tags:
        ours = (tag, attrs.get("action"), attrs.get("class")) in (
            ("form", "/", "search-form"),  # the search form
            ("svg", None, "bar"),  # facet bars
        )
        if tag in ACTIVE_TAGS and not ours:
            pytest.fail(f"active <{tag}> in page: {attrs}")
        handlers = [k for k in attrs if k.startswith("on") or k in ("style", "srcdoc")]
        assert not handlers, (tag, attrs)
    assert len(forms) <= 1
    for link in page.links():
        squashed = re.sub(r"[\s\x00-\x1f]", "", link).lower()
        assert "javascript:" not in squashed and "vbscript:" not in squashed, link
        parts = urlsplit(link)
        if link == "data:,":  # the empty favicon of base.html
            continue
        assert parts.scheme in ("", "http", "https"), link
        if not parts.scheme:
            assert link.startswith(("/", "#", "?")) and not link.startswith("//"), link
    return page


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, settings: Settings):
    """(test client, {id: Article as ingested}) over an index of the hostile articles."""
    from web import create_app

    s = replace(settings, index_dir=tmp_path_factory.mktemp("hostile"))
    report = build_index([HOSTILE], s)
    articles = {a.id: a for a in read_corpus([HOSTILE]) if isinstance(a, Article)}
    assert report.articles == len(articles) == 11 and report.skipped == 0
    return create_app({"TESTING": True, "SETTINGS": s}).test_client(), articles


def test_search_page_shows_hostile_articles_as_text(hostile) -> None:
    client, articles = hostile
    res = client.get("/?q=harbour&mode=keyword&limit=20")
    assert res.status_code == 200
    page = assert_inert(res.get_data(as_text=True))
    text = page.all_text
    for a in articles.values():
        assert a.title in text, a.id  # shown, as the characters it has
    assert "<script>alert(document.cookie)</script>" in text  # text, not a tag
    assert "<img src=x onerror=alert(1)>" in text
    external = {link for link in page.links() if link.startswith("http")}
    # ... apart from the footer's credit for the demo corpus (Wikinews, CC BY 2.5)
    external -= {"https://en.wikinews.org/", "https://creativecommons.org/licenses/by/2.5/"}
    wanted = {articles[i].url for i in ("url-good", "unicode-odd")}  # the two real http(s) URLs
    assert external == wanted


def test_article_pages_are_inert_and_reachable_from_results(hostile) -> None:
    client, articles = hostile
    page = Page(client.get("/?q=harbour&mode=keyword&limit=20").get_data(as_text=True))
    hrefs = {link for link in page.links() if link.startswith("/articles/")}
    assert len(hrefs) == len(articles)
    for href in hrefs:
        res = client.get(html.unescape(href))
        assert res.status_code == 200, href
        shown = assert_inert(res.get_data(as_text=True)).all_text
        assert any(a.title in shown for a in articles.values()), href
    for article_id, a in articles.items():  # and by id, whatever characters it has
        res = client.get("/articles/" + quote(article_id, safe=""))
        assert res.status_code == 200, article_id
        assert a.title in assert_inert(res.get_data(as_text=True)).all_text


def test_json_keeps_the_data_and_highlights_only_with_mark(hostile) -> None:
    client, articles = hostile
    res = client.get("/api/search?q=harbour&mode=keyword&limit=20")
    assert res.mimetype == "application/json"
    assert res.headers["X-Content-Type-Options"] == "nosniff"
    body = res.get_json()
    assert {h["article_id"] for h in body["results"]} == set(articles)
    for hit in body["results"]:
        a = articles[hit["article_id"]]
        assert hit["title"] == a.title and hit["source"] == a.source
        for p in hit["paragraphs"]:
            assert p["text"] in a.paragraphs
            marked = re.sub(r"</?mark>", "", p["highlighted"])
            assert "<" not in marked and html.unescape(marked) == p["text"]
    for article_id, a in articles.items():
        got = client.get("/api/articles/" + quote(article_id, safe="")).get_json()
        assert got["id"] == article_id and got["title"] == a.title
        assert [p["text"] for p in got["paragraphs"]] == list(a.paragraphs)


def test_odd_unicode_survives_and_is_searchable(hostile) -> None:
    client, articles = hostile
    odd = articles["unicode-odd"]
    assert "\u202e" in odd.title and "\u2066" in odd.title  # RTL override and isolate kept
    joined = " ".join(odd.paragraphs)
    for ch in ("\u200b", "\u200c", "\u200d", "\u2060", "\u0338", "\U0001f469"):
        assert ch in joined, hex(ord(ch))
    body = client.get("/api/search?q=emoji+party&mode=keyword").get_json()
    assert body["results"][0]["article_id"] == "unicode-odd"
    assert "\U0001f525" in body["results"][0]["paragraphs"][0]["text"]
    for mode in ("semantic", "hybrid"):  # the model reads it too
        res = client.get(f"/api/search?q=Zalgo+joiners+emoji&mode={mode}")
        assert res.status_code == 200


def _isolated_texts(source: str) -> list[str]:
    """Text found directly inside elements with ``dir="auto"`` (bidi-isolated by the UA)."""
    found, stack = [], []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):  # noqa: ANN001
            if tag not in ("input", "img", "br", "meta", "link"):
                stack.append(dict(attrs).get("dir") == "auto")

        def handle_endtag(self, tag):  # noqa: ANN001
            if stack:
                stack.pop()

        def handle_data(self, data):  # noqa: ANN001
            if stack and stack[-1]:
                found.append(data)

    P().feed(source)
    return found


def test_rtl_override_in_a_title_stays_inside_it(hostile) -> None:
    """A U+202E in a title would reverse the rest of the line; titles and paragraphs are
    shown in dir="auto" elements, which isolate them."""
    client, articles = hostile
    odd = articles["unicode-odd"]
    page = client.get("/?q=emoji+party&mode=keyword").get_data(as_text=True)
    assert odd.title in _isolated_texts(page)
    art = client.get("/articles/unicode-odd").get_data(as_text=True)
    isolated = _isolated_texts(art)
    assert odd.title in isolated and odd.paragraphs[0] in isolated


def test_hostile_query_is_echoed_as_text(hostile) -> None:
    client, _ = hostile
    q = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    res = client.get("/", query_string={"q": q})
    assert res.status_code == 200
    page = assert_inert(res.get_data(as_text=True))
    values = [a.get("value") for t, a in page.tags if t == "input" and a.get("name") == "q"]
    assert values == [q]


SECURITY_PATHS = [
    "/",
    "/?q=harbour",
    "/?q=harbour&limit=abc",  # 400 page
    "/articles/xss-script",
    "/articles/no-such-article",  # 404 page
    "/api/search?q=harbour",
    "/api/search",  # 400 JSON
    "/api/health",
    "/static/style.css",
]


@pytest.mark.parametrize("path", SECURITY_PATHS)
def test_security_headers(hostile, path: str) -> None:
    client, _ = hostile
    res = client.get(path)
    csp = {
        d.split()[0]: d.split()[1:]
        for d in res.headers["Content-Security-Policy"].split(";")
        if d.strip()
    }
    script = csp.get("script-src", csp.get("default-src"))
    assert script == ["'self'"], csp  # no inline script, no eval, no other origin
    assert csp["default-src"] == ["'self'"] and csp.get("frame-ancestors") == ["'none'"]
    assert "'unsafe-inline'" not in csp.get("style-src", [])
    assert res.headers["X-Content-Type-Options"] == "nosniff"


def test_templates_need_no_inline_script() -> None:
    """What the CSP forbids, the templates do not use (so pages work under it)."""
    for template in TEMPLATES.glob("*.html"):
        source = template.read_text()
        assert "<script" not in source.lower(), template.name
        assert not re.search(r"\son[a-z]+\s*=", source), template.name
        assert not re.search(r"\sstyle\s*=", source), template.name
        assert "|safe" not in source.replace(" ", ""), template.name
