"""The split and embed stages of a build, each reusing the live generation's work.

``Previous`` is what a build may reuse from the live generation, read and verified once:
paragraph splits by split key (an article whose text, limits and splitting code are unchanged
is not split again) and vectors by content hash (a paragraph embedded the same way is not
embedded again). ``build.py`` runs the stages in order; ``update.py`` runs them for the
articles it adds.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import store
from .config import Settings
from .embed import Embedder, embedding_key
from .embed.base import TokenCounter
from .layout import ArticleRow, LiveIndex, ParagraphRow, embedding_matches
from .models import Article, BuildReport, Paragraph, Problem
from .paragraphs import split_article
from .progress import bar as progress_bar

__all__ = [
    "EMBED_CHUNK",
    "Previous",
    "content_hash",
    "embed_all",
    "embed_records",
    "embed_text",
    "split_all",
    "split_key",
]
EMBED_CHUNK = 512
log = logging.getLogger(__name__)


def embed_text(title: str, text: str, settings: Settings) -> str:
    return f"{title}. {text}" if settings.embed_title and title else text


def content_hash(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\0{text}".encode()).hexdigest()


@dataclass
class Previous:
    """What a build may reuse from the live generation, read and checksum-verified once:
    vectors by content hash, paragraph splits by split key, the Whoosh files by fingerprint."""

    live: LiveIndex | None = None
    # Another export of the model made the live vectors: its rows (and the add/delete work
    # in them) are kept, its vectors are not reused.
    vectors_stale: bool = False

    @classmethod
    def load(cls, settings: Settings) -> Previous:
        """The live generation, or nothing to reuse when there is none or it is damaged."""
        try:
            # Verified: anything copied from a damaged generation would get fresh checksums.
            live = LiveIndex.read(settings, mmap=True, embedding=False)
        except (store.IndexError_, OSError, ValueError, KeyError) as e:
            log.info("nothing reused from the live generation: %s", e)
            return cls()
        stale = not embedding_matches(live.manifest)
        if stale:
            log.info("the live vectors come from another export of the model: re-embedding all")
        return cls(live, stale)

    @property
    def vectors(self) -> np.ndarray | None:
        return self.live.vectors if self.live is not None and not self.vectors_stale else None

    def vector_rows(self) -> dict[str, int]:
        """content hash → row of ``vectors``."""
        if self.live is None or self.vectors_stale:
            return {}
        return {p["hash"]: i for i, p in enumerate(self.live.paragraphs)}

    def splits(self) -> dict[str, list[str]]:
        """split key → paragraph texts, in order."""
        if self.live is None:
            return {}
        keys = [r.get("split") for r in self.live.articles]
        out: dict[str, list[str]] = {}
        for p in self.live.paragraphs:
            key = keys[p["article"]] if p["article"] < len(keys) else None
            if key:
                out.setdefault(key, []).append(p["text"])
        return out

    def release_rows(self) -> None:
        """Drop the rows (the keyword step needs only the path and the manifest)."""
        if self.live is not None:
            self.live.articles, self.live.paragraphs = [], []


def embed_all(
    texts: list[str],
    hashes: list[str],
    embedder: Embedder,
    settings: Settings,
    progress: bool,
    previous: Previous | None = None,
    encode_all: Callable[[list[str]], np.ndarray] | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``: reused from the live generation where the hash matches.

    ``encode_all`` (e.g. ``rayembed.ray_encoder``) embeds every remaining text in one call
    instead of the embedder's chunks: a cluster job pays its start-up once."""
    previous = previous if previous is not None else Previous.load(settings)
    prev_rows, prev_vecs = previous.vector_rows(), previous.vectors
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo = []
    for i, h in enumerate(hashes):
        j = prev_rows.get(h)
        if j is not None and prev_vecs is not None:
            out[i] = prev_vecs[j]
        else:
            todo.append(i)
    # Identical paragraphs (wire boilerplate, repeated stories: ~4% of Reuters) are embedded
    # once; sorting by length across the whole corpus keeps padding small (≈2× faster).
    first: dict[str, int] = {}
    copies: list[tuple[int, int]] = []
    unique: list[int] = []
    for i in todo:
        j = first.setdefault(hashes[i], i)
        if j == i:
            unique.append(i)
        else:
            copies.append((i, j))
    unique.sort(key=lambda i: len(texts[i]))
    bar = progress_bar(total=len(todo), desc="embedding", unit="paragraphs", enabled=progress)
    if encode_all is not None and unique:
        out[unique] = encode_all([texts[i] for i in unique])
        bar.update(len(unique))
        unique = []
    for start in range(0, len(unique), EMBED_CHUNK):
        chunk = unique[start : start + EMBED_CHUNK]
        out[chunk] = embedder.encode([texts[i] for i in chunk])
        bar.update(len(chunk))
    for i, j in copies:
        out[i] = out[j]
    bar.update(len(copies))
    bar.close()
    return out, len(texts) - len(todo)


@functools.cache
def _splitter_code() -> bytes:
    from . import paragraphs

    return Path(paragraphs.__file__).read_bytes()


def split_key(a: Article, limit: int, settings: Settings, code: bytes) -> str:
    """What an article's paragraphs depend on: its id and text, the limits, the model's
    tokenizer and the splitting code itself."""
    h = hashlib.sha1(code)
    h.update(f"\0{settings.model_name}\0{limit}\0{settings.min_tokens}\0{a.id}\0".encode())
    for raw in a.paragraphs:
        h.update(raw.encode("utf-8", "surrogatepass") + b"\0\1")
    return h.hexdigest()


def _article_record(a: Article) -> ArticleRow:
    return {
        "id": a.id,
        "title": a.title,
        "date": a.date,
        "source": a.source,
        "url": a.url,
        "dateline": a.dateline,
    }


def split_all(
    articles: list[Article],
    settings: Settings,
    embedder: TokenCounter,
    progress: bool,
    report: BuildReport,
    first_row: int = 0,
    previous: dict[str, list[str]] | None = None,
) -> tuple[list[ArticleRow], list[ParagraphRow]]:
    """Article and paragraph records; an article that yields no paragraph is reported.

    ``previous`` (split key → paragraph texts, from the live generation) spares re-splitting
    unchanged articles: counting word pieces is most of an unchanged re-index (~14 s at 100k)."""
    records: list[ArticleRow] = []
    paras: list[ParagraphRow] = []
    code = _splitter_code()
    for a in progress_bar(articles, desc="splitting", unit="articles", enabled=progress):
        title_cost = embedder.count_tokens(a.title) if settings.embed_title else 0
        limit = max(32, settings.max_tokens - title_cost)
        key = split_key(a, limit, settings, code)
        if previous and key in previous:  # the same text split the same way last time
            pieces = [
                Paragraph(id=f"{a.id}:{n}", article_id=a.id, n=n, text=t)
                for n, t in enumerate(previous[key])
            ]
        else:
            pieces = split_article(a, embedder.count_tokens, limit, settings.min_tokens)
        if not pieces:
            report.problems.append(Problem(a.id, None, "no paragraph text"))
            report.skipped += 1
            continue
        row = first_row + len(records)
        records.append({**_article_record(a), "split": key})
        for p in pieces:
            text = embed_text(a.title, p.text, settings)
            paras.append(
                {
                    "id": p.id,
                    "article": row,
                    "text": p.text,
                    "hash": content_hash(
                        embedding_key(settings.model_name, settings.embed_backend), text
                    ),
                }
            )
    return records, paras


def embed_records(
    records: list[dict],
    paras: list[dict],
    embedder: Embedder,
    settings: Settings,
    progress: bool,
    first_row: int = 0,
    previous: Previous | None = None,
    encode_all: Callable[[list[str]], np.ndarray] | None = None,
) -> tuple[np.ndarray, int]:
    texts = [
        embed_text(records[p["article"] - first_row]["title"], p["text"], settings) for p in paras
    ]
    hashes = [p["hash"] for p in paras]
    return embed_all(texts, hashes, embedder, settings, progress, previous, encode_all)
