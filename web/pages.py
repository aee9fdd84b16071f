"""The HTML pages: the search page ``/`` (the latest news when there is no query) and the
article page ``/articles/<id>``, which carries the search it was reached from.

Plain GET forms and links only, so everything works without JavaScript; the JSON API and
these pages share parameter validation (:mod:`search.query`) and the engine.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, abort, render_template, request
from werkzeug.datastructures import MultiDict

from search.backends import Unsupported
from search.models import ParagraphHit, Query, Results
from search.query import DEFAULT_LIMIT, MAX_SOURCES, QueryError, parse_query
from web import get_engine, get_settings
from web.api import MAX_ARTICLE_ID_CHARS
from web.links import (
    active_filters,
    article_url,
    back_url,
    date_facets,
    days,
    feed_url,
    page_links,
    search_url,
    source_facets,
)
from web.present import Passage, StoryRef, highlight, present_hit, safe_url, story_refs
from web.present import title_html as present_title

__all__ = ["RECENCY_CHOICES", "bp"]

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)

RELATED_SHOWN = 5
MODES = ("hybrid", "keyword", "semantic")
RECENCY_CHOICES = (("", "Off"), ("7", "7 days"), ("30", "30 days"), ("365", "365 days"))
SORT_CHOICES = (("relevance", "Best match"), ("date", "Newest first"))
NOT_READY_MESSAGE = "The search index is not ready yet. Please try again in a moment."
_RETRY = {"Retry-After": "5"}
_NUMBER = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,6})?")


def _form(args: MultiDict[str, str], query: Query | None, default_mode: str) -> dict[str, Any]:
    """What the form fields show: the validated query, or the raw input after a 400."""
    if query is None:
        return {
            "q": args.get("q", ""),
            "mode": args.get("mode", "") or default_mode,
            "limit": args.get("limit", ""),
            "from": args.get("from", ""),
            "to": args.get("to", ""),
            "sources": [s for s in args.getlist("source") if s][:MAX_SOURCES],
            "sort": args.get("sort", "") or "relevance",
            "recency": args.get("recency", ""),
        }
    return {
        "q": query.text,
        "mode": query.mode,
        "limit": str(query.limit) if query.limit != DEFAULT_LIMIT else "",
        "from": query.date_from or "",
        "to": query.date_to or "",
        "sources": list(query.sources),
        "sort": query.sort,
        "recency": days(query.recency) if query.recency is not None else "",
    }


def _choices(form: dict[str, Any]) -> dict[str, Any]:
    """Options of the selects; an unusual recency from the URL gets an option of its own."""
    recency = list(RECENCY_CHOICES)
    value = form["recency"]
    if _NUMBER.fullmatch(value) and value not in {v for v, _ in recency}:
        recency.append((value, f"{value} days"))
    return {"modes": MODES, "sorts": SORT_CHOICES, "recencies": recency}


def _highlighted(engine: Any, text: str, texts: list[str]) -> list[str | None]:
    """``texts`` with ``text``'s words marked, or Nones when there is nothing to mark."""
    if not text or not texts:
        return [None] * len(texts)
    try:
        return list(engine.highlight(text, texts))
    except Exception:  # highlighting is a nicety: never fail a page over it
        log.exception("highlighting failed for %r", text)
        return [None] * len(texts)


def run_search(engine: Any, query: Query) -> Results:
    """The query's results: a search, or the latest articles when it has no text."""
    if not query.text:
        return engine.latest(query)
    return engine.search(query)


@bp.get("/")
def index() -> Any:
    """The results with facets for ``q``; the latest articles when ``q`` is empty."""
    settings = get_settings()
    try:
        query = parse_query(request.args, settings, require_text=False)
    except QueryError as exc:
        form = _form(request.args, None, settings.mode)
        return render_template("search.html", error=exc.message, form=form, **_choices(form)), 400
    form = _form(request.args, query, settings.mode)
    context: dict[str, Any] = {"form": form, "query": query, **_choices(form)}

    engine = get_engine()
    if engine is None:
        return render_template("search.html", not_ready=True, **context), 503, _RETRY
    try:
        results = run_search(engine, query)
        titles = _highlighted(engine, query.text, [h.title or "" for h in results.results])
        hits = [
            present_hit(h, engine, t, query.recency, query.text)
            for h, t in zip(results.results, titles, strict=True)
        ]
    except Unsupported as exc:  # this backend cannot answer part of the query: say which
        return render_template("search.html", error=str(exc), **context), 400
    except Exception:
        log.exception("search failed for %r", query)
        message = "Sorry, the search failed on our side. Please try again."
        return render_template("search.html", error=message, **context), 500
    for hit in hits:  # the front page has no best passage to scroll to
        hit.page_url = article_url(query, hit.article_id, hit.anchor if query.text else "")

    facets = results.facets
    unknown = {u.facet: u.count for u in facets.unknown}
    suggestion = results.suggestion
    if suggestion and suggestion.casefold() == query.text.casefold():
        suggestion = None
    return render_template(
        "search.html",
        results=results,
        hits=hits,
        latest=not query.text,
        first=query.offset + 1,
        last=query.offset + len(hits),
        links=page_links(query, results.total, settings.max_offset),
        suggestion=suggestion,
        suggestion_url=search_url(query, text=suggestion) if suggestion else None,
        sources=source_facets(query, facets.source, unknown.get("source", 0)),
        dates=date_facets(query, facets.date, unknown.get("date", 0)),
        filters=active_filters(query),
        feed=feed_url(query),
        clear_url=search_url(
            query, date_from=None, date_to=None, sources=(), sort="relevance", recency=None
        ),
        **context,
    )


def _search_of(args: MultiDict[str, str]) -> Query | None:
    """The search an article page was reached from (its URL carries it), or None."""
    if not any(k in args for k in ("q", "from", "to", "source", "offset")):
        return None
    try:
        return parse_query(args, get_settings(), require_text=False)
    except QueryError:
        return None  # a damaged link still shows the article, just without the way back


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> Any:
    """One article in full, with related stories and its near-duplicates; 404 if unknown.

    With the search in the URL (``?q=…&source=…&offset=…``) the query's words are highlighted,
    the form shows the query, and "back to results" returns to the same results page.
    """
    engine = get_engine()
    if engine is None:
        body = render_template(
            "error.html", status=503, title="Not ready", message=NOT_READY_MESSAGE
        )
        return body, 503, _RETRY
    if len(article_id) > MAX_ARTICLE_ID_CHARS:
        abort(404, description="There is no article with this id.")
    found = engine.article(article_id)
    if found is None:
        abort(404, description="There is no article with this id.")
    search = _search_of(request.args)
    try:
        nearest = engine.related(article_id, RELATED_SHOWN) or []  # settings' threshold
    except Exception:  # the article itself is still worth showing
        log.exception("related search failed for %r", article_id)
        nearest = []
    related = [
        StoryRef(
            r.article_id,
            r.title,
            r.date,
            r.source,
            article_url(search, r.article_id),
            safe_url(r.url),
        )  # fmt: skip
        for r in nearest
    ]
    text = search.text if search else ""
    marked = _highlighted(engine, text, [p.text for p in found.paragraphs])
    shown = [
        Passage(
            highlight(ParagraphHit(p.paragraph_id, p.text, html or "")),
            f"p{p.paragraph_id.rpartition(':')[2]}",
            bool(html and "<mark>" in html),
        )
        for p, html in zip(found.paragraphs, marked, strict=True)
    ]
    title_marks = _highlighted(engine, text, [found.title or ""])[0]
    duplicates = story_refs(engine, list(found.duplicates))
    for story in duplicates:
        story.page_url = article_url(search, story.id)
    form = (
        _form(request.args, search, get_settings().mode)
        if search
        else _form(MultiDict(), None, get_settings().mode)
    )
    return render_template(
        "article.html",
        article=found,
        title_html=present_title(found.title or "(untitled)", title_marks),
        paragraphs=shown,
        link=safe_url(found.url),
        related=related,
        duplicates=duplicates,
        search=search,
        back=back_url(search) if search else None,
        form=form,
        **_choices(form),
    )
