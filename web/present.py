"""Turning engine output into what the templates show: safe links, short highlighted snippets,
explanations in words, and titles for near-duplicate ids.

The engine's typed records (``ArticleHit``, ``ParagraphHit``, ``ArticleView``,
``RelatedArticle``) come in; typed views (``HitView``, ``Passage``, ``StoryRef``) go to the
templates, which read the records through them. No dicts: JSON is made only in ``web/api.py``.

All text is autoescaped by Jinja; the only markup let through is highlighting rebuilt from
escaped text (:mod:`web.snippets`), and the engine's ``highlighted`` field only if it contains
nothing but ``<mark>`` tags. Scores stay in the JSON API; the page explains in words.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from search.models import ArticleHit, ParagraphHit
from web.snippets import is_boilerplate, make_snippet, mark_spans, render

__all__ = [
    "HitView",
    "Passage",
    "StoryRef",
    "explain_hit",
    "highlight",
    "matched_words",
    "present_hit",
    "safe_url",
    "snippet_paragraph",
    "story_refs",
    "title_html",
]


class Marked(Protocol):
    """A paragraph with the engine's highlighted copy (``ParagraphHit``)."""

    text: str
    highlighted: str


@dataclass(frozen=True)
class Passage:
    """A paragraph as a page shows it: safe markup, and its anchor on the article page."""

    html: Markup
    anchor: str = ""  # "p7"
    hit: bool = False  # holds a marked word (the article page tints it)


@dataclass
class StoryRef:
    """A link to another article (a near-copy or a related story), as the lists show it."""

    id: str
    title: str
    date: str | None = None
    source: str | None = None
    page_url: str | None = None  # set by the page: carries the search it came from
    link: str | None = None  # the original story, when its URL is safe


@dataclass
class HitView:
    """One result as the page shows it: the engine's ``hit`` and what the page made of it."""

    hit: ArticleHit
    title_html: Markup
    link: str | None
    snippet: Markup | None
    anchor: str  # the snippet's paragraph on the article page ("" if none)
    more: list[Passage] = field(default_factory=list)
    why: str = ""
    similar: list[StoryRef] = field(default_factory=list)
    similar_more: int = 0
    page_url: str = ""  # set by the page

    @property
    def article_id(self) -> str:
        return self.hit.article_id

    @property
    def date(self) -> str | None:
        return self.hit.date

    @property
    def source(self) -> str | None:
        return self.hit.source

    @property
    def similar_count(self) -> int:
        return len(self.hit.duplicates)


log = logging.getLogger(__name__)

DUPLICATES_SHOWN = 10  # titles looked up per result; the rest are only counted
WORDS_SHOWN = 6  # matched words named in an explanation
# Snippet length on the page: three lines of the desktop column, so four results fit above
# the fold at 1280×800 (tests/test_reader.py measures it).
SNIPPET_CHARS = 240
_MARK_TAG = re.compile(r"</?mark>")
_UNSAFE_URL_CHARS = re.compile(r"[\x00-\x20\x7f<>\"'`\\]")


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL (so never ``javascript:``), else None."""
    if not url:
        return None
    url = url.strip()
    if _UNSAFE_URL_CHARS.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc:
        return None
    return url


def highlight(paragraph: Marked) -> Markup:
    """A paragraph's highlighting rebuilt from its escaped text, or the escaped plain text if
    the engine's ``highlighted`` is not a ``<mark>``-only copy of it."""
    text = paragraph.text or ""
    html = paragraph.highlighted or ""
    if html and not re.search(r"[<>]", _MARK_TAG.sub("", html)):
        spans = mark_spans(text, html)
        if spans:
            return render(text, spans)
    return escape(text)


def title_html(title: str, highlighted: str | None) -> Markup:
    """The title with the query's words marked (escaped; plain if ``highlighted`` is unusable)."""
    spans = mark_spans(title, highlighted or "")
    return render(title, spans) if spans else escape(title)


def _marked(text: str, highlighted: str | None) -> list[str]:
    """The marked words of ``text``; marks joined by a hyphen are one word ("de-escalation")."""
    spans: list[list[int]] = []
    for a, b in mark_spans(text, highlighted or ""):
        if spans and text[spans[-1][1] : a] in {"-", "‐", "–"}:
            spans[-1][1] = b
        else:
            spans.append([a, b])
    return [text[a:b] for a, b in spans]


def _same_word(a: str, b: str) -> bool:
    """ "Election" and "elections" are one word to a reader (a plural or possessive apart)."""
    a, b = sorted((a.casefold(), b.casefold()), key=len)
    return b.startswith(a) and len(b) - len(a) <= 2 and b[len(a) :] in {"", "s", "es", "'s", "’s"}


def matched_words(title: str, title_marked: str | None, paragraphs: list[Marked]) -> tuple:
    """(words as they appear, first spelling of each, in title order then text order; whether
    any is in the title; whether any is in the text)."""
    in_title = _marked(title, title_marked)
    in_text = [w for p in paragraphs for w in _marked(p.text or "", p.highlighted)]
    words: list[str] = []
    for w in in_title + in_text:
        if not any(_same_word(w, v) for v in words):
            words.append(w)
    return words, bool(in_title), bool(in_text)


def explain_hit(
    hit: ArticleHit, title_marked: str | None = None, recency: float | None = None
) -> str:
    """Why an article matched, in words: "Matched your words: Brexit, parliament (in the
    title)", "Close in meaning to your query", or both; empty when there was no query."""
    paragraphs = hit.paragraphs
    words, in_title, in_text = matched_words(hit.title or "", title_marked, paragraphs)
    by_words = bool(words) or any(p.keyword_rank is not None for p in paragraphs)
    by_meaning = any(p.semantic_rank is not None for p in paragraphs)
    part = ""
    if by_words:
        part = "Matched your words"
        if words:
            shown = ", ".join(words[:WORDS_SHOWN]) + (" …" if len(words) > WORDS_SHOWN else "")
            part += f": {shown}" + (" (in the title)" if in_title else "")
    if by_meaning:
        part = (
            f"{part} and close in meaning to your query"
            if part
            else "Close in meaning to your query"
        )
    if recency is not None and part:
        part += "; recent stories favoured"
    return part + "." if part else ""


def story_refs(
    engine: Any, article_ids: list[str], limit: int = DUPLICATES_SHOWN
) -> list[StoryRef]:
    """Up to ``limit`` article ids with their titles, dates and sources (unknown ids are
    listed by id alone, so a link is never lost)."""
    refs = []
    for article_id in article_ids[:limit]:
        try:
            found = engine.article(article_id)
        except Exception:
            log.exception("article lookup failed for %r", article_id)
            found = None
        refs.append(
            StoryRef(
                article_id,
                (found.title if found else None) or article_id,
                found.date if found else None,
                found.source if found else None,
            )
        )
    return refs


def _anchor(paragraph_id: str) -> str:
    """ "<article id>:7" → "p7", the id of that paragraph on the article page."""
    n = paragraph_id.rpartition(":")[2]
    return f"p{n}" if n.isdigit() else ""


def snippet_paragraph(hit: ArticleHit, engine: Any, query_text: str = "") -> ParagraphHit | None:
    """The paragraph to cut the snippet from: the best-ranked matching paragraph that is not
    page furniture; if every matching paragraph is (captions, interview cues), the article's
    first real paragraph, highlighted for ``query_text``; else the best match after all."""
    paragraphs = hit.paragraphs
    real = next((p for p in paragraphs if not is_boilerplate(p.text or "")), None)
    if real is not None:
        return real
    try:
        article = engine.article(hit.article_id)
    except Exception:
        log.exception("article lookup failed for %r", hit.article_id)
        article = None
    texts = [(p.paragraph_id, p.text) for p in getattr(article, "paragraphs", None) or []]
    lead = next(((i, t) for i, t in texts if not is_boilerplate(t)), None)
    if lead is None:
        return paragraphs[0] if paragraphs else None
    marked = None
    if query_text:
        try:
            marked = engine.highlight(query_text, [lead[1]])[0]
        except Exception:
            log.exception("highlighting failed for %r", query_text)
    return ParagraphHit(lead[0], lead[1], marked or "")


def present_hit(
    hit: ArticleHit,
    engine: Any,
    title_marked: str | None,
    recency: float | None,
    query_text: str = "",
) -> HitView:
    """A result as the template wants it: safe link, one short snippet from the best real
    paragraph, the other matching paragraphs in full for "more from this article", the
    explanation in words and the titles of collapsed near-duplicates."""
    paragraphs = hit.paragraphs
    real = [p for p in paragraphs if not is_boilerplate(p.text or "")]
    best = snippet_paragraph(hit, engine, query_text)
    snippet = None
    more = []
    if best is not None:
        highlighted = best.highlighted or ""
        if re.search(r"[<>]", _MARK_TAG.sub("", highlighted)):
            highlighted = ""  # not a <mark>-only copy: show the text unhighlighted
        snippet = make_snippet(best.text or "", highlighted, SNIPPET_CHARS)
        rest = [p for p in real if p is not best] + [p for p in paragraphs if p not in real]
        if snippet.cut_start or snippet.cut_end or best not in paragraphs:
            rest.insert(0, best)
        more = [Passage(highlight(p), _anchor(p.paragraph_id or "")) for p in rest]
    duplicates = hit.duplicates
    return HitView(
        hit=hit,
        title_html=title_html(hit.title or "(untitled)", title_marked),
        link=safe_url(hit.url),
        snippet=snippet.html if snippet else None,
        anchor=_anchor(best.paragraph_id or "") if best else "",
        more=more,
        why=explain_hit(hit, title_marked, recency),
        similar=story_refs(engine, duplicates) if duplicates else [],
        similar_more=max(0, len(duplicates) - DUPLICATES_SHOWN),
    )
