"""The HTML pages: the search page ``/`` and the article page ``/articles/<id>``.

Plain GET forms and links only, so everything works without JavaScript; the JSON API and
these pages share parameter validation (:mod:`search.query`) and the engine.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from flask import Blueprint, abort, render_template, request
from werkzeug.datastructures import MultiDict

from search.models import Query
from search.query import DEFAULT_LIMIT, MAX_SOURCES, QueryError, parse_query
from web import get_engine, get_settings
from web.api import MAX_ARTICLE_ID_CHARS
from web.links import active_filters, date_facets, days, page_links, search_url, source_facets
from web.present import present_hit, safe_url, story_refs

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


@bp.get("/")
def index() -> Any:
    """The search form, and the results with facets when ``q`` is given."""
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
    if not query.text:
        return render_template("search.html", **context)
    try:
        results = engine.search(query).to_dict()
        hits = [present_hit(h, engine, query.mode, query.recency) for h in results["results"]]
    except Exception:
        log.exception("search failed for %r", query)
        message = "Sorry, the search failed on our side. Please try again."
        return render_template("search.html", error=message, **context), 500

    facets = results.get("facets") or {}
    suggestion = results.get("suggestion")
    if suggestion and suggestion.casefold() == query.text.casefold():
        suggestion = None
    return render_template(
        "search.html",
        results=results,
        hits=hits,
        first=query.offset + 1,
        last=query.offset + len(hits),
        links=page_links(query, results["total"], settings.max_offset),
        suggestion=suggestion,
        suggestion_url=search_url(query, text=suggestion) if suggestion else None,
        sources=source_facets(query, facets.get("source") or []),
        dates=date_facets(query, facets.get("date") or []),
        filters=active_filters(query),
        clear_url=search_url(
            query, date_from=None, date_to=None, sources=(), sort="relevance", recency=None
        ),
        **context,
    )


@bp.get("/articles/<path:article_id>")
def article(article_id: str) -> Any:
    """One article in full, with related stories and its near-duplicates; 404 if unknown."""
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
    try:
        related = engine.related(article_id, RELATED_SHOWN) or []
    except Exception:  # the article itself is still worth showing
        log.exception("related search failed for %r", article_id)
        related = []
    form = _form(MultiDict(), None, get_settings().mode)
    return render_template(
        "article.html",
        article=found,
        link=safe_url(found.url),
        related=related,
        duplicates=story_refs(engine, found.duplicates),
        form=form,
        **_choices(form),
    )
