"""Read news files into Articles, and say exactly what was skipped or changed and why.

``read_corpus(paths)`` walks files and folders and yields, in a deterministic order, an
``Article`` for every usable record and a ``Problem`` for everything else: ``skipped=True`` when
the record (or file) was left out, ``skipped=False`` for a warning about an article that was
still kept (a bad date dropped, a file that was not UTF-8). Nothing is dropped silently.

Formats, chosen by suffix (see ``PARSERS``; add e.g. ``".html"`` there):

* ``.txt``   one article: first non-empty line is the title, blank lines separate paragraphs.
* ``.jsonl`` one JSON object per line; ``line`` in a Problem is the 1-based line number.
* ``.json``  a list of objects, ``{"articles": [...]}``, or one object; ``line`` is the item
  number (1-based), not a line of the file.
* ``.csv``   a header row then one article per row; ``line`` is the physical line where the row
  starts (the header is line 1).

Record fields: ``id``, ``title``, ``text`` (or ``body``; a string, or a list of paragraph
strings), and optional ``date``, ``source``, ``url``, ``dateline``. Other fields are ignored.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from search.htmlpage import parse_html
from search.models import MAX_ARTICLE_ID_CHARS, Article, Problem, Record
from search.paragraphs import split_sentences
from search.query import MAX_SOURCE_CHARS
from search.sources import (
    MAX_FILE_BYTES,
    NotTextError,
    decode,
    iter_files,
    iter_inputs,
    open_checked,
    read_rest,
    utf8_stream,
)
from search.text import clean_text, one_line, split_paragraphs

# kept importable from here
__all__ = ["NotTextError", "clean_text", "decode", "iter_files", "split_paragraphs"]
# (decoded text, or a text stream for the line formats; file label)
Parser = Callable[[Any, str], Iterator[Record | Problem]]

TITLE_FALLBACK_CHARS = 100
FIRST_YEAR = 1800  # earlier "dates" are placeholders or typos in news archives
# An article's text, all paragraphs together (issue #17: a size cap per article; the longest
# news articles are ~100k characters). A title is cut to MAX_TITLE_CHARS, with a warning.
MAX_ARTICLE_CHARS = 1_000_000
MAX_TITLE_CHARS = 1_000


class _BadRecord(Exception):
    """A record that cannot become an Article; the message is the Problem's reason."""


# --------------------------------------------------------------------------- parsers


def _is_dateline(line: str) -> bool:
    """A short all-capitals line such as "MOSCOW" or "WASHINGTON, D.C.", not a paragraph."""
    return (
        len(line) <= 40
        and len(line.split()) <= 4
        and any(c.isalpha() for c in line)
        and not any(c.islower() for c in line)
    )


def parse_txt(text: str, file: str) -> Iterator[Record | Problem]:
    """One article per file: title line, an optional repeat of it, an optional dateline, body.

    The repeated title (same after whitespace normalisation, case ignored) and a short
    all-capitals dateline just before the first paragraph are not body paragraphs.
    """
    lines = [" ".join(line.split()) for line in clean_text(text).split("\n")]
    start = next((i for i, line in enumerate(lines) if line), None)
    if start is None:
        yield (None, {"text": ""})
        return
    title = lines[start]
    blocks: list[list[str]] = [[]]
    for line in lines[start + 1 :]:
        if line:
            blocks[-1].append(line)
        elif blocks[-1]:
            blocks.append([])
    blocks = [b for b in blocks if b]
    if blocks and blocks[0][0].casefold() == title.casefold():
        blocks[0].pop(0)
        blocks = [b for b in blocks if b]
    dateline = None
    if blocks and _is_dateline(blocks[0][0]) and (len(blocks[0]) > 1 or len(blocks) > 1):
        dateline = blocks[0].pop(0).rstrip(" -–—:") or None
        blocks = [b for b in blocks if b]
    body = "\n\n".join(" ".join(b) for b in blocks)
    yield (None, {"title": title, "dateline": dateline, "text": body})


def _json_type(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")


def parse_jsonl(text: str | Iterable[str], file: str) -> Iterator[Record | Problem]:
    """One JSON object per line (text, or a stream of lines split on "\n" only); blank lines
    are ignored, bad lines reported by line number."""
    # Split on "\n" only: U+2028 and friends are legal inside JSON strings.
    lines = text.split("\n") if isinstance(text, str) else (x.removesuffix("\n") for x in text)
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, strict=False)
        except json.JSONDecodeError as e:
            yield Problem(file, n, f"invalid JSON: {e.msg} at column {e.colno}")
            continue
        except (ValueError, RecursionError) as e:  # e.g. an integer with too many digits
            yield Problem(file, n, f"invalid JSON: {e}")
            continue
        if isinstance(obj, dict):
            yield (n, obj)
        else:
            yield Problem(file, n, f"expected a JSON object, got {_json_type(obj)}")


def parse_json(text: str, file: str) -> Iterator[Record | Problem]:
    """A list of objects, ``{"articles": [...]}`` or a single object; numbered from 1."""
    try:
        data = json.loads(text, strict=False)
    except (ValueError, RecursionError) as e:
        yield Problem(file, None, f"invalid JSON: {e}")
        return
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        data = data["articles"]
    elif isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        yield Problem(file, None, f"expected a JSON object or a list, got {_json_type(data)}")
        return
    for n, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            yield (n, obj)
        else:
            yield Problem(file, n, f"expected a JSON object, got {_json_type(obj)}")


def parse_csv(text: str | Iterable[str], file: str) -> Iterator[Record | Problem]:
    """Header row naming the fields (case-insensitive), then one article per row (text, or a
    stream opened with ``newline=""``)."""
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 26))  # whole articles in one cell
    reader = csv.reader(io.StringIO(text, newline="") if isinstance(text, str) else text)
    header: list[str] | None = None
    start = 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in row]
                if "text" not in header and "body" not in header:
                    yield Problem(file, line, "CSV header has no 'text' or 'body' column")
                    return
                continue
            if len(row) != len(header):
                yield Problem(file, line, f"expected {len(header)} columns, got {len(row)}")
                continue
            yield (line, dict(zip(header, row, strict=True)))
    except csv.Error as e:
        yield Problem(file, start, f"invalid CSV: {e}; rest of file skipped")


PARSERS: dict[str, Parser] = {
    ".txt": parse_txt,
    ".jsonl": parse_jsonl,
    ".json": parse_json,
    ".csv": parse_csv,
    **dict.fromkeys((".html", ".htm"), parse_html),
}
SUPPORTED: frozenset[str] = frozenset(PARSERS)


# --------------------------------------------------------------------------- records


def parse_date(value: str) -> str:
    """``YYYY-MM-DD``, ISO date-time (``Z`` or offset) or RFC 2822 → ``YYYY-MM-DD``.

    The date is the one written in the value (its own time zone), not converted to UTC.
    Raises ValueError when the value is none of these, or a year before ``FIRST_YEAR`` or
    after next year: "0001-01-01" and "9999-12-31" are placeholders, not dates, and would
    sort first or last and give date facets whose links no date filter accepts.
    """
    value = value.strip()
    try:
        day = datetime.fromisoformat(value).date()
    except ValueError:
        try:
            day = parsedate_to_datetime(value).date()
        except (TypeError, ValueError, IndexError, OverflowError) as e:
            raise ValueError(f"unrecognised date {value!r}") from e
    if not FIRST_YEAR <= day.year <= date.today().year + 1:
        raise ValueError(f"implausible date {value!r}")
    return day.isoformat()


def id_problem(article_id: str) -> str | None:
    """Why an article with this id could not be opened from a link, or None when it can.

    Ids are the last part of ``/articles/<id>``: a browser resolves "." and ".." segments
    (``a/../b`` would open article ``b``), a leading "/" is merged away, ``…/related`` is the
    related-articles route, and longer ids than ``MAX_ARTICLE_ID_CHARS`` are never looked up.
    """
    if len(article_id) > MAX_ARTICLE_ID_CHARS:
        return f"id longer than {MAX_ARTICLE_ID_CHARS} characters"
    if article_id.startswith("/"):
        return "id starts with '/'"
    if any(part in (".", "..") for part in article_id.split("/")):
        return "id has a '.' or '..' path segment (a browser would open another address)"
    if article_id.endswith("/related"):
        return "id ends with '/related' (the related-articles address)"
    return None


def content_id(title: str, paragraphs: Iterable[str]) -> str:
    """Stable id from content: first 16 hex digits of sha1(title, blank line, paragraphs)."""
    content = title + "\n\n" + "\n\n".join(paragraphs)
    return hashlib.sha1(content.encode("utf-8")).hexdigest()[:16]


def fallback_title(paragraph: str, limit: int = TITLE_FALLBACK_CHARS) -> str:
    """Title for an untitled article: its first sentence, cut at a word to ``limit`` chars + '…'."""
    sentences = split_sentences(paragraph)
    first = sentences[0] if sentences else ""
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:-–—") + "…"


def _field(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _BadRecord(f"field '{name}' must be text, got {_json_type(value)}")


def _text_paragraphs(record: dict[str, Any], name: str) -> list[str]:
    value = record.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return split_paragraphs(value)
    if isinstance(value, list) and all(isinstance(p, str) for p in value):
        return [p for item in value for p in split_paragraphs(item)]
    raise _BadRecord(f"field '{name}' must be text or a list of strings, got {_json_type(value)}")


def make_article(file: str, line: int | None, record: dict[str, Any]) -> list[Article | Problem]:
    """One raw record → ``[warnings..., Article]`` or ``[skipped Problem]``.

    Titles and paragraphs are whitespace-normalised. A missing id becomes ``content_id`` of the
    title as given and the paragraphs; a missing title becomes ``fallback_title`` of the text.
    """

    def problem(reason: str, skipped: bool = True) -> Problem:
        return Problem(file, line, reason, skipped=skipped)

    try:
        given_id = one_line(_field(record, "id") or "")
        title = one_line(_field(record, "title") or "")
        paragraphs = _text_paragraphs(record, "text") or _text_paragraphs(record, "body")
        raw_date = _field(record, "date")
        source, url, dateline = (
            one_line(_field(record, k) or "") or None for k in ("source", "url", "dateline")
        )
    except _BadRecord as e:
        return [problem(str(e))]
    if not paragraphs:
        return [problem("no text (title only)" if title else "no text")]
    size = sum(len(p) for p in paragraphs)
    if size > MAX_ARTICLE_CHARS:
        return [problem(f"text is {size:,} characters, over the {MAX_ARTICLE_CHARS:,} limit")]
    if given_id and (why := id_problem(given_id)):
        return [problem(f"{why}: it could be indexed but not opened")]
    out: list[Article | Problem] = []
    if source and len(source) > MAX_SOURCE_CHARS:  # a source filter could not name it
        out.append(problem(f"source cut to {MAX_SOURCE_CHARS} characters", skipped=False))
        source = source[:MAX_SOURCE_CHARS].rstrip()
    if len(title) > MAX_TITLE_CHARS:
        out.append(problem(f"title cut to {MAX_TITLE_CHARS} characters", skipped=False))
        cut = title[: MAX_TITLE_CHARS - 1]
        title = (cut.rsplit(" ", 1)[0] if " " in cut[MAX_TITLE_CHARS // 2 :] else cut) + "…"
    article_date = None
    if raw_date is not None and raw_date.strip():
        try:
            article_date = parse_date(raw_date)
        except ValueError:
            out.append(problem(f"bad date {one_line(raw_date)[:40]!r}: dropped", skipped=False))
    article = Article(
        id=given_id or content_id(title, paragraphs),
        title=title or fallback_title(paragraphs[0]),
        paragraphs=tuple(paragraphs),
        date=article_date,
        source=source,
        url=url,
        dateline=dateline,
    )
    out.append(article)
    return out


# --------------------------------------------------------------------------- files


_STREAMED = {".jsonl": "\n", ".csv": ""}  # formats parsed line by line, and their newline


def _read_file(path: Path) -> Iterator[tuple[int | None, list[Article | Problem]]]:
    """Per record: its line and what came of it (problems, or warnings then the Article)."""
    file = str(path)
    if not path.exists():
        yield None, [Problem(file, None, "no such file or directory")]
        return
    if not path.is_file():  # reading a FIFO or /dev/zero would never end
        yield None, [Problem(file, None, "not a regular file (a pipe, device or socket)")]
        return
    suffix = path.suffix.lower()
    parser = PARSERS.get(suffix)
    if parser is None:
        kind = path.suffix or "(no suffix)"
        supported = ", ".join(sorted(PARSERS))
        yield None, [Problem(file, None, f"unsupported file type {kind} (supported: {supported})")]
        return
    try:
        f, sample = open_checked(path)
    except OSError as e:
        yield None, [Problem(file, None, f"cannot read: {e.strerror or e}")]
        return
    except ValueError as e:  # NotTextError, not a regular file, over the size cap
        yield None, [Problem(file, None, str(e))]
        return
    with f:
        stream = utf8_stream(f, sample, _STREAMED[suffix]) if suffix in _STREAMED else None
        if stream is not None:
            source, warning = stream, None
        else:
            try:
                f.seek(0)
                source, warning = decode(read_rest(f, MAX_FILE_BYTES[suffix]))
            except OSError as e:
                yield None, [Problem(file, None, f"cannot read: {e.strerror or e}")]
                return
            except ValueError as e:  # NotTextError, or the file grew past its cap
                yield None, [Problem(file, None, str(e))]
                return
        if warning:
            yield None, [Problem(file, None, warning, skipped=False)]
        for item in parser(source, file):
            if isinstance(item, Problem):
                yield item.line, [item]
            else:
                line, record = item
                yield line, make_article(file, line, record)


def read_corpus(paths: Iterable[str | Path]) -> Iterator[Article | Problem]:
    """Articles and Problems from all files under ``paths``, in a deterministic order.

    Warnings about an article come just before it. An id seen before in the same call makes
    the later record a skipped Problem (instead of it and its warnings) naming where the id
    was first seen.
    """
    first_seen: dict[str, str] = {}
    for path, skip in iter_inputs(paths):
        if skip is not None:
            yield Problem(str(path), None, skip)
            continue
        for line, items in _read_file(path):
            last = items[-1]
            if isinstance(last, Article):
                if last.id in first_seen:
                    reason = f"duplicate id {last.id} (first seen at {first_seen[last.id]})"
                    items = [Problem(str(path), line, reason)]
                else:
                    first_seen[last.id] = f"{path}:{line}" if line is not None else str(path)
            yield from items


def summarize(items: Iterable[Article | Problem]) -> tuple[list[Article], list[Problem]]:
    """Split ``read_corpus`` output into (articles, problems), each in order."""
    articles: list[Article] = []
    problems: list[Problem] = []
    for item in items:
        (articles if isinstance(item, Article) else problems).append(item)
    return articles, problems
