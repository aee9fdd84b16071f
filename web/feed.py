"""An Atom feed for every search: ``/search.atom?q=…`` (same parameters as the page).

The feed holds the newest matches of the query and its filters, newest first (``sort`` is
always date), so a feed reader can follow a story; with no ``q`` it is the latest news. The
XML is written by feedgen (lxml underneath: every text is escaped, never concatenated), and
characters XML 1.0 cannot carry are dropped first.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from feedgen.feed import FeedGenerator
from flask import Blueprint, Response, abort, request, url_for

from search.models import ArticleHit, Query, Results
from search.query import QueryError, parse_query
from web import get_engine, get_settings
from web.links import query_args
from web.present import snippet_paragraph
from web.snippets import make_snippet

__all__ = ["FEED_ENTRIES", "bp", "build_feed"]

bp = Blueprint("feed", __name__)
log = logging.getLogger(__name__)

FEED_ENTRIES = 20  # unless the URL asks for another limit
MIME = "application/atom+xml; charset=utf-8"
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _clean(text: str | None) -> str:
    return _NOT_XML.sub("", text or "")


def _when(iso: str | None) -> datetime | None:
    """An article date (YYYY-MM-DD) as midnight UTC, or None if missing or malformed."""
    try:
        return datetime.fromisoformat(iso[:10]).replace(tzinfo=UTC) if iso else None
    except ValueError:
        return None


def _summary(hit: ArticleHit, engine: Any) -> str:
    best = snippet_paragraph(hit, engine)
    return make_snippet(best.text or "").text if best else ""


def build_feed(query: Query, results: Results, built_at: str | None, engine: Any) -> bytes:
    """The Atom document for ``results`` (already newest first)."""
    page_args = query_args(replace(query, sort="date", limit=10, offset=0))
    title = f"newsearch: {query.text}" if query.text else "newsearch: latest news"
    fg = FeedGenerator()
    fg.id(url_for("feed.atom", _external=True, **query_args(replace(query, offset=0))))
    fg.title(_clean(title))
    fg.author({"name": "newsearch"})
    fg.link(href=url_for("pages.index", _external=True, **page_args), rel="alternate")
    fg.link(href=request.url, rel="self")
    fg.generator("newsearch")
    dates = [d for d in (_when(h.date) for h in results.results) if d]
    fallback = _when(built_at) or datetime.now(UTC)
    fg.updated(max(dates) if dates else fallback)
    for hit in results.results:
        entry = fg.add_entry(order="append")
        page = url_for("pages.article", article_id=hit.article_id, _external=True)
        entry.id(page)
        entry.title(_clean(hit.title) or "(untitled)")
        # One link only: feedgen 1.0.0 drops the rel of entry links, and two rel-less (so
        # "alternate") links of the same type would break the Atom spec. Our article page
        # links the original.
        entry.link(href=page, rel="alternate")
        when = _when(hit.date) or fallback
        entry.updated(when)
        entry.published(when)
        if hit.source:
            entry.author({"name": _clean(hit.source)})
        summary = _clean(_summary(hit, engine))
        if summary:
            entry.summary(summary)
    return fg.atom_str(pretty=True)


@bp.get("/search.atom")
def atom() -> Any:
    """The newest matches of the search in the URL as Atom; 400 (plain text) on bad input."""
    settings = get_settings()
    args = request.args.copy()
    if not args.get("limit"):
        args["limit"] = str(min(FEED_ENTRIES, settings.max_limit))
    try:
        query = parse_query(args, settings, require_text=False)
    except QueryError as exc:
        return Response(exc.message + "\n", 400, mimetype="text/plain")
    engine = get_engine()
    if engine is None:
        abort(503, description="The search index is not ready yet.")
    query = replace(query, sort="date", offset=0)
    try:
        results = engine.search(query) if query.text else engine.latest(query)
        built_at = engine.health().built_at
    except Exception:
        log.exception("feed failed for %r", query)
        abort(500)
    return Response(build_feed(query, results, built_at, engine), mimetype=MIME)
