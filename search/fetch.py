"""Fetch RSS/Atom feeds and the article pages they link to, as Articles ready to index.

Each entry's page is downloaded (http/https only, size- and time-bounded) and its main text
extracted with ``search.htmlpage``. When the page cannot be had or holds no article text, the
feed's own title, summary and date stand in, with a warning. As in ``search.ingest`` nothing is
dropped silently: every skipped entry and every fallback is a ``Problem`` whose ``file`` is the
URL concerned (the feed's URL, with the entry number as ``line``, for an entry without a link).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import feedparser

from search.htmlpage import PageTooBig, hostname, html_record, html_to_paragraphs, http_url
from search.ingest import NotTextError, decode, make_article, parse_date
from search.models import Article, Problem
from search.safehttp import FetchError, http_get

__all__ = ["FetchError", "FetchReport", "fetch", "fetch_feeds", "http_get", "save_articles"]

MAX_FEED_BYTES = 10 * 1024 * 1024
MAX_PAGE_BYTES = 5 * 1024 * 1024
WORKERS = 4  # pages fetched at once: fast enough, and gentle on a site whose feed links to it
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)


@dataclass
class FetchReport:
    """What a fetch produced: articles in feed order, problems, and how much was looked at."""

    articles: list[Article] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    feeds_asked: int = 0
    feeds: int = 0  # feeds read (with or without entries)
    entries: int = 0  # entries seen in those feeds, including skipped ones

    def summary(self) -> str:
        skipped = sum(1 for p in self.problems if p.skipped)
        return (
            f"read {self.feeds} of {self.feeds_asked} feeds, {self.entries} entries → "
            f"{len(self.articles)} articles; skipped {skipped}, "
            f"{len(self.problems) - skipped} warnings"
        )


# --------------------------------------------------------------------------- HTTP


def _charset(content_type: str) -> str | None:
    msg = Message()
    msg["Content-Type"] = content_type
    return msg.get_content_charset()


def decode_html(data: bytes, content_type: str = "") -> str:
    """Page bytes to text: the HTTP charset, else the ``<meta charset>``, else ``ingest.decode``."""
    for declared in (_charset(content_type), *_META_CHARSET.findall(data[:4096])[:1]):
        name = declared.decode("ascii", "ignore") if isinstance(declared, bytes) else declared
        if name:
            try:
                return data.decode(name)
            except (LookupError, UnicodeDecodeError):
                pass
    try:
        return decode(data)[0]
    except NotTextError as e:
        raise FetchError(str(e)) from e


# --------------------------------------------------------------------------- entries


def _entry_date(entry: Any) -> str | None:
    """The entry's publication (else update) date as written in the feed, as YYYY-MM-DD."""
    for key in ("published", "updated"):
        raw = entry.get(key)
        if raw:
            try:
                return parse_date(raw)
            except ValueError:
                parsed = entry.get(f"{key}_parsed")  # feedparser knows more formats (in UTC)
                if parsed:
                    return date(*parsed[:3]).isoformat()
    return None


def _entry_text(entry: Any) -> list[str]:
    """The longest text the feed gives for an entry (full content, else the summary)."""
    candidates = [c.get("value", "") for c in entry.get("content", [])]
    candidates.append(entry.get("summary", ""))
    return max((html_to_paragraphs(c) for c in candidates if c), key=len, default=[])


def _fetch_entry(
    feed_url: str, n: int, entry: Any, timeout: float, allow_local: bool = False
) -> list[Article | Problem]:
    """One entry → ``[warnings..., Article]`` or ``[skipped Problem]`` (link already checked)."""
    link = http_url(entry.get("link"))
    where, line = (link, None) if link else (feed_url, n)
    warning = "entry has no link"
    if link:
        try:
            body, final_url, content_type = http_get(link, timeout, MAX_PAGE_BYTES, allow_local)
            if content_type and "html" not in content_type.lower():
                raise FetchError(f"not an HTML page ({content_type.split(';')[0]})")
            notes: list[str] = []
            article = article_from_html(decode_html(body, content_type), final_url, notes)
            if article is not None:
                article = replace(article, date=article.date or _entry_date(entry))
                return [*(Problem(where, line, w, skipped=False) for w in notes), article]
            warning = "no article text found on the page"
        except (FetchError, PageTooBig) as e:
            warning = f"cannot fetch page: {e}"
    record = {
        "id": link,
        "title": " ".join(html_to_paragraphs(entry.get("title", ""))),
        "text": _entry_text(entry),
        "date": _entry_date(entry),
        "source": hostname(link),
        "url": link,
    }
    if not record["text"]:
        return [Problem(where, line, f"{warning}, and the feed gives no summary: entry skipped")]
    made = make_article(where, line, record)
    if isinstance(made[-1], Article):
        made.insert(-1, Problem(where, line, f"{warning}: used the feed's summary", skipped=False))
    return made


def _read_feed(url: str, timeout: float, allow_local: bool) -> tuple[list[Any], list[Problem]]:
    """Entries of one feed, and problems with the feed itself; raises FetchError."""
    body, final_url, content_type = http_get(url, timeout, MAX_FEED_BYTES, allow_local)
    # The headers give feedparser the base for relative links and the declared encoding.
    headers = {"content-location": final_url, "content-type": content_type}
    parsed = feedparser.parse(body, response_headers=headers)
    problems: list[Problem] = []
    if parsed.bozo:
        reason = str(parsed.get("bozo_exception", "malformed"))
        if not parsed.entries:
            raise FetchError(f"not an RSS or Atom feed ({reason})")
        problems.append(Problem(url, None, f"feed is not well-formed ({reason})", skipped=False))
    elif not parsed.entries:
        problems.append(Problem(url, None, "feed has no entries", skipped=False))
    return list(parsed.entries), problems


Job = tuple[str, int, Any]  # (feed URL, entry number from 1, feedparser entry)


def _plan(
    urls: Iterable[str], timeout: float, max_items: int, report: FetchReport, allow_local: bool
) -> list[Job | Problem]:
    """Read the feeds: the entries to fetch and the problems found so far, in feed order."""
    plan: list[Job | Problem] = []
    links: set[str] = set()
    for url in urls:
        report.feeds_asked += 1
        try:
            entries, problems = _read_feed(url, timeout, allow_local)
        except FetchError as e:
            plan.append(Problem(url, None, f"cannot read feed: {e}"))
            continue
        report.feeds += 1
        report.entries += len(entries)
        plan.extend(problems)
        if len(entries) > max_items:
            reason = f"{len(entries) - max_items} entries after the first {max_items} not fetched"
            plan.append(Problem(url, None, reason))
        for n, entry in enumerate(entries[:max_items], start=1):
            raw = (entry.get("link") or "").strip()
            link = http_url(raw)
            if raw and link is None:
                plan.append(Problem(raw, None, "not an http(s) link: entry skipped"))
            elif link in links:
                plan.append(Problem(link, None, "same link as an earlier entry"))
            else:
                if link:
                    links.add(link)
                plan.append((url, n, entry))
    return plan


def fetch(
    urls: Iterable[str],
    timeout: float = 10,
    max_items: int = 200,
    workers: int = WORKERS,
    allow_local: bool = False,
) -> FetchReport:
    """Articles from the feeds at ``urls``: at most ``max_items`` entries from each feed.

    Articles and problems come in feed and entry order. An entry linking to a page already
    taken (same link, or the same canonical URL) is skipped. ``timeout`` is the deadline of
    each URL; ``allow_local`` lets feeds and pages on non-public addresses be fetched (see
    ``search.safehttp``).
    """
    report = FetchReport()
    plan = _plan(urls, timeout, max_items, report, allow_local)
    jobs = [step for step in plan if not isinstance(step, Problem)]
    first: dict[str, str] = {}  # article id → link of the entry that gave it
    with ThreadPoolExecutor(max(1, workers)) as pool:
        results = pool.map(lambda job: _fetch_entry(*job, timeout, allow_local), jobs)
        for step in plan:
            if isinstance(step, Problem):
                report.problems.append(step)
                continue
            url, n, entry = step
            items = next(results)
            last = items[-1]
            link = http_url(entry.get("link"))
            where, line = (link, None) if link else (url, n)
            if isinstance(last, Article) and last.id in first:
                items = [Problem(where, line, f"same article as {first[last.id]} ({last.id})")]
            elif isinstance(last, Article):
                first[last.id] = link or f"{url} entry {n}"
            for item in items:
                (report.articles if isinstance(item, Article) else report.problems).append(item)
    return report


def fetch_feeds(
    urls: list[str], timeout: float = 10, max_items: int = 200, allow_local: bool = False
) -> tuple[list[Article], list[Problem]]:
    """``(articles, problems)`` from the feeds at ``urls``; see ``fetch`` for the details."""
    report = fetch(urls, timeout, max_items, allow_local=allow_local)
    return report.articles, report.problems


# --------------------------------------------------------------------------- saving


def save_articles(articles: Iterable[Article], folder: Path) -> Path:
    """Write ``articles`` to a new ``<folder>/<UTC time>.jsonl`` that ``newsearch index`` reads.

    Written under a hidden name and renamed, so a reader never sees half a file.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = folder / f"{stamp}.jsonl"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stamp}-{n}.jsonl"
    tmp = folder / f".{path.name}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        for a in articles:
            record = {
                "id": a.id,
                "title": a.title,
                "date": a.date,
                "source": a.source,
                "url": a.url,
                "text": list(a.paragraphs),
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    os.replace(tmp, path)
    return path


def article_from_html(html: str, url: str | None, notes: list[str] | None = None) -> Article | None:
    """The article on a web page fetched from ``url``, or None when it has no article text;
    raises PageTooBig for a page over the extractor's budget. Warnings about the page (a
    canonical link to another host, ignored) are appended to ``notes``."""
    record = html_record(html, url)
    if record is None:
        return None
    if record["ignored_canonical"] and notes is not None:
        notes.append(f"canonical link to another host ignored ({record['ignored_canonical']})")
    made = make_article(url or "<html>", None, record)
    return made[-1] if isinstance(made[-1], Article) else None
