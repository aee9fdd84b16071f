"""Turning engine output into what the templates show: safe links, highlighted snippets,
explanations in words, and titles for near-duplicate ids.

All text is autoescaped by Jinja; the only markup let through is the engine's
``highlighted`` field, and even that only if it contains nothing but ``<mark>`` tags.
"""

from __future__ import annotations

import logging
import re
from typing import Any
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from web.links import days

__all__ = ["explain", "explain_hit", "highlight", "story_refs", "present_hit", "safe_url"]

log = logging.getLogger(__name__)

PARAGRAPHS_SHOWN = 3
DUPLICATES_SHOWN = 10  # titles looked up per result; the rest are only counted
# How an article's score is named and rounded in each mode (BM25 is ~1-30, RRF ~0.01-0.03).
_SCORE_STYLE = {
    "hybrid": ("combined score", 4),
    "keyword": ("article score", 1),
    "semantic": ("article score", 2),
}
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
    """One paragraph's evidence, e.g. ``keyword rank 2 (BM25 7.1), semantic rank 1
    (similarity 0.62)``; empty if neither leg found it."""
    parts = []
    if paragraph.get("keyword_rank") is not None:
        part = f"keyword rank {paragraph['keyword_rank']}"
        if paragraph.get("keyword_score") is not None:
            part += f" (BM25 {paragraph['keyword_score']:.1f})"
        parts.append(part)
    if paragraph.get("semantic_rank") is not None:
        part = f"semantic rank {paragraph['semantic_rank']}"
        if paragraph.get("semantic_score") is not None:
            part += f" (similarity {paragraph['semantic_score']:.2f})"
        parts.append(part)
    return ", ".join(parts)


def _words(paragraph: dict[str, Any]) -> str | None:
    if paragraph.get("keyword_rank") is None:
        return None
    score = paragraph.get("keyword_score")
    extra = f", BM25 {score:.1f}" if score is not None else ""
    return f"your words (keyword rank {paragraph['keyword_rank']}{extra})"


def _meaning(paragraph: dict[str, Any]) -> str | None:
    if paragraph.get("semantic_rank") is None:
        return None
    score = paragraph.get("semantic_score")
    extra = f", similarity {score:.2f}" if score is not None else ""
    return f"your meaning (semantic rank {paragraph['semantic_rank']}{extra})"


def _number(value: float, digits: int) -> str:
    """``value`` to ``digits`` decimals, or to 3 significant digits when that would show 0."""
    if value and abs(value) < 10**-digits:
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def explain_hit(hit: dict[str, Any], mode: str, recency: float | None = None) -> str:
    """Why an article matched, in a sentence, from its best paragraph: e.g. "Matched your
    words (keyword rank 1, BM25 11.1) and your meaning (semantic rank 1, similarity 0.53);
    combined score 0.0328." """
    paragraphs = hit.get("paragraphs") or []
    best = paragraphs[0] if paragraphs else {}
    words, meaning = _words(best), _meaning(best)
    if words and meaning:
        sentence = f"Matched {words} and {meaning}"
    elif words:
        sentence = f"Matched {words}"
        if mode == "hybrid":
            sentence += " but was not among the closest in meaning"
    elif meaning:
        sentence = f"Matched {meaning}"
        if mode == "hybrid":
            sentence += " but not your exact words"
    else:
        sentence = "Ranked by the article as a whole"
    score = hit.get("score")
    leg = {"keyword": "keyword_score", "semantic": "semantic_score"}.get(mode)
    same = leg is not None and score is not None and best.get(leg) == score
    if score is not None and (recency is not None or not same):
        kind, digits = _SCORE_STYLE.get(mode, ("score", 4))
        sentence += f"; {kind} {_number(score, digits)}"
        if recency is not None:
            sentence += f" after favouring recent stories (half-life {days(recency)} days)"
    return sentence + "."


def story_refs(engine: Any, article_ids: list[str], limit: int = DUPLICATES_SHOWN) -> list[dict]:
    """``{"id", "title", "date", "source"}`` for up to ``limit`` article ids (unknown ids are
    listed by id alone, so a link is never lost)."""
    refs = []
    for article_id in article_ids[:limit]:
        try:
            found = engine.article(article_id)
        except Exception:
            log.exception("article lookup failed for %r", article_id)
            found = None
        refs.append(
            {
                "id": article_id,
                "title": (found.title if found else None) or article_id,
                "date": found.date if found else None,
                "source": found.source if found else None,
            }
        )
    return refs


def present_hit(hit: dict[str, Any], engine: Any, mode: str, recency: float | None) -> dict:
    """A result as the template wants it: safe link, snippets, explanation, duplicates."""
    duplicates = list(hit.get("duplicates") or [])
    return {
        **hit,
        "link": safe_url(hit.get("url")),
        "shown": [
            {"html": highlight(p), "why": explain(p)}
            for p in (hit.get("paragraphs") or [])[:PARAGRAPHS_SHOWN]
        ],
        "why": explain_hit(hit, mode, recency),
        "similar": story_refs(engine, duplicates) if duplicates else [],
        "similar_more": max(0, len(duplicates) - DUPLICATES_SHOWN),
        "similar_count": len(duplicates),
    }
