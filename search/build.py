"""Build a generation: ingest → paragraphs → embeddings (reused by content hash) → Whoosh → swap.

Everything is written into a fresh temporary directory; only ``store.commit_generation`` makes
it live, so a failed or killed build leaves the previous index serving.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import store
from .config import IndexSettings, Settings
from .embed import Embedder, embedder_for, embedding_key
from .ingest import iter_files, read_corpus
from .keyword import KeywordDoc, write_index
from .layout import WHOOSH, ArticleRow, LiveIndex, ParagraphRow, check_compatible, write_generation
from .models import Article, Paragraph, Problem
from .paragraphs import split_article
from .progress import bar as progress_bar
from .progress import plural

EMBED_CHUNK = 512
DEFAULT_SHAPE = IndexSettings()
log = logging.getLogger(__name__)


class NothingIndexed(store.IndexError_):
    """No input record gave an article: nothing is committed (the live index stays)."""


@dataclass
class BuildReport:
    articles: int = 0
    paragraphs: int = 0
    skipped: int = 0
    warnings: int = 0
    embedded: int = 0
    reused: int = 0
    keyword_reused: bool = False
    seconds: float = 0.0
    generation: str | None = None
    problems: list[Problem] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"indexed {plural(self.articles, 'article')}, {plural(self.paragraphs, 'paragraph')} "
            f"({self.embedded:,} embedded, {self.reused:,} reused); "
            f"skipped {plural(self.skipped, 'record')}, {plural(self.warnings, 'warning')}; "
            f"{self.seconds:.1f} s → {self.generation}"
        )


def inputs_fingerprint(paths: Iterable[Path], settings: Settings) -> str:
    """Changes when any input file or a setting that shapes the index changes."""
    h = hashlib.sha1()
    for key in ("model_name", "max_tokens", "min_tokens", "embed_title", "title_boost"):
        h.update(f"{key}={getattr(settings, key)}\n".encode())
    # Later additions count only when not at their default, so older indexes keep theirs.
    if settings.embed_backend != "torch":
        h.update(f"embed_backend={settings.embed_backend}\n".encode())
    if settings.duplicate_threshold != DEFAULT_SHAPE.duplicate_threshold:
        h.update(f"duplicate_threshold={settings.duplicate_threshold}\n".encode())
    for p in iter_files(paths):
        try:
            st = p.stat()
        except OSError:  # e.g. a dangling symlink: read_corpus reports it, it must not stop us
            h.update(f"{p.resolve()}\0missing\n".encode())
            continue
        h.update(f"{p.resolve()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def is_stale(paths: list[Path], settings: Settings) -> bool:
    """True when there is no usable index or it was built from other inputs/settings."""
    try:
        gen = store.current_generation(settings.index_dir)
        manifest = store.read_manifest(gen, verify=True)  # a damaged index is stale
        check_compatible(manifest, settings, gen)
    except store.IndexError_:
        return True
    return manifest.get("inputs") != inputs_fingerprint(paths, settings)


def keyword_fingerprint(records: list[dict], paras: list[dict], settings: Settings) -> str:
    """Changes when anything the Whoosh index is made of changes: every keyword document, the
    title boost, and the code of our Whoosh modules (schema, analyzers) and Whoosh's."""
    import whoosh

    from . import keyword, postings

    h = hashlib.sha256()
    for module in (keyword, postings):
        h.update(Path(module.__file__).read_bytes())
    h.update(f"whoosh={whoosh.versionstring()}\0title_boost={settings.title_boost}\n".encode())
    for row, p in enumerate(paras):
        d = keyword_doc(records, row, p)
        h.update(json.dumps([d.row, d.article, d.title, d.text, d.source, d.date]).encode())
    return h.hexdigest()


def _reuse_keyword_index(previous: Previous, fingerprint: str, tmp: Path) -> bool:
    """Hard-link the live generation's Whoosh files into ``tmp`` when they were built from
    the same documents: an unchanged re-index then skips the slowest step (~130 s at 100k
    paragraphs)."""
    live = previous.live
    if live is None or live.manifest.get("keyword") != fingerprint:
        return False
    return live.link_keyword_index(tmp)


def embed_text(title: str, text: str, settings: Settings) -> str:
    return f"{title}. {text}" if settings.embed_title and title else text


def content_hash(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\0{text}".encode()).hexdigest()


@dataclass
class Previous:
    """What a build may reuse from the live generation, read and checksum-verified once:
    vectors by content hash, paragraph splits by split key, the Whoosh files by fingerprint."""

    live: LiveIndex | None = None

    @classmethod
    def load(cls, settings: Settings) -> Previous:
        """The live generation, or nothing to reuse when there is none or it is damaged."""
        try:
            # Verified: anything copied from a damaged generation would get fresh checksums.
            return cls(LiveIndex.read(settings, mmap=True))
        except (store.IndexError_, OSError, ValueError, KeyError) as e:
            log.info("nothing reused from the live generation: %s", e)
            return cls()

    @property
    def vectors(self) -> np.ndarray | None:
        return self.live.vectors if self.live is not None else None

    def vector_rows(self) -> dict[str, int]:
        """content hash → row of ``vectors``."""
        paras = self.live.paragraphs if self.live is not None else []
        return {p["hash"]: i for i, p in enumerate(paras)}

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


def read_articles(
    paths: list[Path],
    report: BuildReport,
    progress: bool = False,
    on_problem: Callable[[Problem], None] | None = None,
) -> list[Article]:
    """Every good article of ``paths``; problems go into ``report`` (and to ``on_problem``)."""
    articles: list[Article] = []
    for item in progress_bar(read_corpus(paths), desc="reading", unit="records", enabled=progress):
        if isinstance(item, Problem):
            report.problems.append(item)
            if on_problem:
                on_problem(item)
        else:
            articles.append(item)
    report.skipped = sum(1 for p in report.problems if p.skipped)
    report.warnings = len(report.problems) - report.skipped
    return articles


def build_index(
    paths: list[Path],
    settings: Settings,
    progress: bool = False,
    embedder: Embedder | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    encode_all: Callable[[list[str]], np.ndarray] | None = None,
) -> BuildReport:
    """Index ``paths`` into a new generation of ``settings.index_dir`` and make it live
    (``encode_all``: embed on a Ray cluster, see ``embed_all``)."""
    t0 = time.perf_counter()
    report = BuildReport()
    paths = [Path(p) for p in paths]
    # An OpenVINO backend exports its model on first use on this machine (counted here).
    embedder = embedder or embedder_for(settings)
    report.timings["model"] = time.perf_counter() - t0
    t = time.perf_counter()
    fingerprint = inputs_fingerprint(paths, settings)

    articles = read_articles(paths, report, progress, on_problem)
    report.timings["parse"] = time.perf_counter() - t

    t = time.perf_counter()
    previous = Previous.load(settings)
    records, para_records = split_all(
        articles, settings, embedder, progress, report, previous=previous.splits()
    )
    report.timings["split"] = time.perf_counter() - t
    if not records:  # an empty generation would replace a good index
        raise NothingIndexed(
            f"nothing could be indexed from {', '.join(map(str, paths))}; "
            "the index was left as it was"
        )

    t = time.perf_counter()
    vectors, report.reused = embed_records(
        records,
        para_records,
        embedder,
        settings,
        progress,
        previous=previous,
        encode_all=encode_all,
    )
    previous.release_rows()
    report.embedded = len(para_records) - report.reused
    report.timings["embed"] = time.perf_counter() - t

    with store.writer_lock(settings.index_dir, wait=60.0):
        tmp = store.new_generation_dir(settings.index_dir)
        t = time.perf_counter()
        kw_fingerprint = keyword_fingerprint(records, para_records, settings)
        report.keyword_reused = _reuse_keyword_index(previous, kw_fingerprint, tmp)
        if not report.keyword_reused:
            keyword_docs = (keyword_doc(records, i, p) for i, p in enumerate(para_records))
            keyword_docs = progress_bar(
                keyword_docs,
                total=len(para_records),
                desc="keyword index",
                unit="paragraphs",
                enabled=progress,
            )
            write_index(tmp / WHOOSH, keyword_docs, settings.title_boost)
        report.timings["keyword"] = time.perf_counter() - t
        t = time.perf_counter()
        final = write_generation(
            settings.index_dir,
            tmp,
            settings.index_shape,
            records,
            para_records,
            vectors,
            inputs=fingerprint,
            skipped=report.skipped,
            keyword=kw_fingerprint,
        )
        report.timings["commit"] = time.perf_counter() - t
    report.articles, report.paragraphs = len(records), len(para_records)
    report.generation = final.name
    report.seconds = time.perf_counter() - t0
    return report


def split_all(
    articles: list[Article],
    settings: Settings,
    embedder: Embedder,
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


def keyword_doc(records: list[dict], row: int, p: dict, first_row: int = 0) -> KeywordDoc:
    a = records[p["article"] - first_row]
    return KeywordDoc(row, a["id"], a["title"], p["text"], a.get("source"), a.get("date"))
