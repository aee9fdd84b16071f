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
import io
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from search.htmlpage import parse_html
from search.models import Article, Problem, Record
from search.records import (
    MAX_ARTICLE_CHARS,
    MAX_TITLE_CHARS,
    content_id,
    fallback_title,
    id_problem,
    json_type,
    make_article,
    parse_date,
)
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
from search.text import clean_text, split_paragraphs

# kept importable from here (records.py: one record -> Article; sources.py: files and bytes)
__all__ = [
    "MAX_ARTICLE_CHARS",
    "MAX_TITLE_CHARS",
    "NotTextError",
    "clean_text",
    "content_id",
    "decode",
    "fallback_title",
    "id_problem",
    "iter_files",
    "make_article",
    "parse_date",
    "split_paragraphs",
]
# (decoded text, or a text stream for the line formats; file label)
Parser = Callable[[Any, str], Iterator[Record | Problem]]

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
            yield Problem(file, n, f"expected a JSON object, got {json_type(obj)}")


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
        yield Problem(file, None, f"expected a JSON object or a list, got {json_type(data)}")
        return
    for n, obj in enumerate(data, start=1):
        if isinstance(obj, dict):
            yield (n, obj)
        else:
            yield Problem(file, n, f"expected a JSON object, got {json_type(obj)}")


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
