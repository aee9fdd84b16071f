"""News web pages (HTML) → article records: main text without navigation, ads or scripts.

trafilatura finds the article body and its metadata (title from og:title/<title>, publication
date from meta tags, site name, canonical URL). ``parse_html`` is the ``.html``/``.htm`` parser
for ``search.ingest`` (it yields raw records like the other parsers, so ``make_article`` gives
ids, titles and dates the same treatment); ``article_from_html`` is the same for a fetched page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

from search.models import Problem, Record
from search.text import split_paragraphs

# trafilatura is imported where it is used: it takes ~0.4 s and most runs need no HTML.

NO_TEXT = "no article text found"
# Fewer words than this is not an article but a leftover such as "Home" or "Loading…".
MIN_WORDS = 5

# The extractor's budget per page (issue #17): lxml and trafilatura are quadratic in the
# attributes of one element (40k attributes: 13 s) and slow on huge trees, so a page is checked
# and tamed in one linear pass first. Real pages stay far below these.
MAX_HTML_CHARS = 5_000_000
MAX_ELEMENTS = 30_000  # ~100 µs each in trafilatura: a few seconds at most
MAX_ATTRIBUTES = 64  # per element; the rest are dropped before parsing
_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_ATTR = re.compile(r"""[^\s"'<>/=]+(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_LONG_TAG = 512  # shorter tags cannot hold MAX_ATTRIBUTES attributes worth worrying about


class PageTooBig(ValueError):
    """A page over the extractor's budget; the message is the Problem's reason."""


def _tame_tag(match: re.Match[str]) -> str:
    tag = match.group()
    if len(tag) < _LONG_TAG:
        return tag
    name_end = next((i for i, c in enumerate(tag) if c.isspace() or c in "/>"), len(tag) - 1)
    attrs = []
    for m in _ATTR.finditer(tag, name_end, len(tag) - 1):
        attrs.append(m.group())
        if len(attrs) > MAX_ATTRIBUTES:
            return f"{tag[:name_end]} {' '.join(attrs[:MAX_ATTRIBUTES])}>"
    return tag


def within_budget(html: str) -> str:
    """``html`` with attributes past ``MAX_ATTRIBUTES`` dropped from every element; raises
    PageTooBig over ``MAX_HTML_CHARS`` characters or ``MAX_ELEMENTS`` elements."""
    if len(html) > MAX_HTML_CHARS:
        raise PageTooBig(f"page larger than {MAX_HTML_CHARS:,} characters ({len(html):,})")
    elements = 0

    def tame(match: re.Match[str]) -> str:
        nonlocal elements
        elements += 1
        return _tame_tag(match)

    tamed = _TAG.sub(tame, html)
    if elements > MAX_ELEMENTS:
        raise PageTooBig(f"page has more than {MAX_ELEMENTS:,} HTML elements ({elements:,})")
    return tamed


_BLOCKS = frozenset("p div li ul ol h1 h2 h3 h4 h5 h6 blockquote pre table tr br hr".split())
_HIDDEN = frozenset(("script", "style", "template"))


def http_url(url: str | None, base: str | None = None) -> str | None:
    """``url`` (resolved against ``base``) when it is an absolute http(s) URL, else None."""
    if not url:
        return None
    url = urljoin(base, url.strip()) if base else url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def hostname(url: str | None) -> str | None:
    """Host of ``url`` without a leading ``www.``: the source when a page names no site."""
    host = urlsplit(url).hostname if url else None
    return host.removeprefix("www.") if host else None


def same_host(a: str, b: str) -> bool:
    """True when two URLs name the same host (case and a leading ``www.`` aside)."""
    return hostname(a.lower()) == hostname(b.lower())


def _is_host_of(name: str, *urls: str | None) -> bool:
    """True when ``name`` is the host (with port), or a domain of the host, of one of ``urls``."""
    name = name.lower()
    netlocs = [urlsplit(u).netloc.lower() for u in urls if u]
    return bool(name) and any(n == name or n.endswith("." + name) for n in netlocs)


class _TextCollector(HTMLParser):
    """Text of an HTML fragment with a blank line at every block boundary; scripts dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN:
            self._hidden += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_paragraphs(fragment: str) -> list[str]:
    """An HTML fragment (a feed summary) as plain paragraphs: one per block element or <br>."""
    collector = _TextCollector()
    collector.feed(fragment)
    collector.close()
    return split_paragraphs("".join(collector.parts))


def html_record(html: str, url: str | None = None) -> dict[str, Any] | None:
    """Fields of the article in ``html`` for ``make_article``, or None when it has no text.

    ``url`` is where the page came from (used to resolve a relative canonical link, and as the
    URL when the page names none). The id is the URL, which stays stable across fetches;
    without one ``make_article`` falls back to the content hash. Raises PageTooBig for a page
    over the budget (``within_budget``).
    """
    import trafilatura
    from trafilatura.settings import set_date_params

    doc = trafilatura.bare_extraction(
        within_budget(html),
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,  # layout tables, tickers and score widgets make poor paragraphs
        favor_precision=True,  # link lists ("Related stories", section pages) are not text
        # Only dates the page states in its metadata or markup: the extensive search guesses
        # from free text and takes e.g. a footer's "© 2019" for the publication date.
        date_extraction_params=set_date_params(extensive=False),
    )
    if doc is None or not doc.text:
        return None
    title = " ".join((doc.title or "").split())
    paragraphs = [p for p in (" ".join(line.split()) for line in doc.text.split("\n")) if p]
    if paragraphs and title and paragraphs[0].casefold() == title.casefold():
        paragraphs.pop(0)  # the page's <h1>, already the title
    if sum(len(p.split()) for p in paragraphs) < MIN_WORDS:
        return None
    page_url = http_url(doc.url, base=url) or http_url(url)
    ignored = None
    if url and page_url and not same_host(page_url, url):
        # A page may only name itself on its own host: a canonical link elsewhere would put
        # this text under another site's id (and replace that article).
        ignored, page_url = page_url, http_url(url)
    site = " ".join((doc.sitename or "").split())
    if _is_host_of(site, url, page_url):  # trafilatura's stand-in for a missing name
        site = ""  # so the source is the same as in a feed entry without a page
    return {
        "id": page_url,
        "title": title,
        "text": paragraphs,
        "date": doc.date,  # trafilatura's default output format is already YYYY-MM-DD
        "source": site or hostname(page_url),
        "url": page_url,
        "ignored_canonical": ignored,
    }


def parse_html(text: str, file: str) -> Iterator[Record | Problem]:
    """One article per HTML file (the ``search.ingest`` parser for ``.html`` and ``.htm``)."""
    try:
        record = html_record(text)
    except PageTooBig as e:
        yield Problem(file, None, str(e))
        return
    if record is None:
        yield Problem(file, None, NO_TEXT)
    else:
        yield (None, record)
