"""The HTML search page: a plain GET form that works without JavaScript.

All text is autoescaped by Jinja; the only markup let through is the engine's
``highlighted`` field, and even that only if it contains nothing but ``<mark>`` tags.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, render_template, request, url_for
from markupsafe import Markup, escape

from web import get_engine, get_settings
from web.params import DEFAULT_LIMIT, ParamError, parse_search_args

__all__ = ["bp", "explain", "highlight", "page_links", "safe_url"]

bp = Blueprint("pages", __name__)
log = logging.getLogger(__name__)

PARAGRAPHS_SHOWN = 3
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


def highlight(paragraph: dict[str, Any]) -> Markup:
    """The engine's pre-escaped ``highlighted`` HTML, or the escaped plain text if it holds
    any tag other than ``<mark>`` (defence in depth: we mark only that field safe)."""
    html = paragraph.get("highlighted") or ""
    if html and not re.search(r"[<>]", _MARK_TAG.sub("", html)):
        return Markup(html)
    return escape(paragraph.get("text") or "")


def explain(paragraph: dict[str, Any]) -> str:
    """Why a paragraph matched, e.g. ``keyword #2 (score 7.1) · semantic #1 (cosine 0.62)``."""
    parts = []
    if paragraph.get("keyword_rank") is not None:
        part = f"keyword #{paragraph['keyword_rank']}"
        if paragraph.get("keyword_score") is not None:
            part += f" (score {paragraph['keyword_score']:.1f})"
        parts.append(part)
    if paragraph.get("semantic_rank") is not None:
        part = f"semantic #{paragraph['semantic_rank']}"
        if paragraph.get("semantic_score") is not None:
            part += f" (cosine {paragraph['semantic_score']:.2f})"
        parts.append(part)
    return " · ".join(parts)


def page_links(
    text: str, mode: str, limit: int, offset: int, total: int, max_offset: int
) -> dict[str, str | None]:
    """URLs of the previous and next result pages (None at either end), keeping q and mode."""

    def link(new_offset: int) -> str:
        args: dict[str, Any] = {"q": text, "mode": mode}
        if limit != DEFAULT_LIMIT:
            args["limit"] = limit
        if new_offset:
            args["offset"] = new_offset
        return url_for("pages.index", **args)

    previous = link(max(0, offset - limit)) if offset > 0 else None
    following = offset + limit
    has_next = following < total and following <= max_offset
    return {"previous": previous, "next": link(following) if has_next else None}


@bp.get("/")
def index() -> Any:
    """The search form, and the results when ``q`` is given."""
    settings = get_settings()
    form = {
        "q": request.args.get("q", ""),
        "mode": request.args.get("mode", "") or settings.mode,
        "limit": request.args.get("limit", ""),
    }
    context: dict[str, Any] = {"form": form, "modes": ("hybrid", "keyword", "semantic")}
    try:
        query = parse_search_args(request.args, settings, require_text=False)
    except ParamError as exc:
        return render_template("search.html", error=exc.message, **context), 400
    form["mode"] = query.mode
    form["limit"] = str(query.limit) if query.limit != DEFAULT_LIMIT else ""

    engine = get_engine()
    if engine is None:
        return render_template("search.html", not_ready=True, **context), 503
    if not query.text:
        return render_template("search.html", **context)
    try:
        results = engine.search(query).to_dict()
    except Exception:
        log.exception("search failed for %r", query)
        message = "Sorry, the search failed on our side. Please try again."
        return render_template("search.html", error=message, **context), 500

    for hit in results["results"]:
        hit["link"] = safe_url(hit.get("url"))
        hit["shown"] = [
            {"html": highlight(p), "why": explain(p)}
            for p in hit.get("paragraphs", [])[:PARAGRAPHS_SHOWN]
        ]
    links = page_links(
        query.text, query.mode, query.limit, query.offset, results["total"], settings.max_offset
    )
    return render_template(
        "search.html",
        query=query,
        results=results,
        first=query.offset + 1,
        last=query.offset + len(results["results"]),
        links=links,
        **context,
    )
