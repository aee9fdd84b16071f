"""Build a generation: ingest → paragraphs → embeddings (reused by content hash) → Whoosh → swap.

Everything is written into a fresh temporary directory; only ``store.commit_generation`` makes
it live, so a failed or killed build leaves the previous index serving.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import store
from .config import FORMAT_VERSION, Settings
from .embed import Embedder, embedder_for, embedding_key
from .generation import (
    ARTICLES,
    DUPLICATES,
    PARAGRAPHS,
    VECTORS,
    WHOOSH,
    check_compatible,
    read_jsonl,
)
from .ingest import iter_files, read_corpus
from .keyword import KeywordDoc, write_index
from .models import Article, Paragraph, Problem
from .paragraphs import split_article
from .progress import bar as progress_bar
from .progress import plural
from .related import article_vectors, duplicate_groups
from .vectors import VectorStore, save_vectors

EMBED_CHUNK = 512
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
    if settings.embed_backend != "torch":  # torch keeps the fingerprints of older indexes
        h.update(f"embed_backend={settings.embed_backend}\n".encode())
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


def _reuse_keyword_index(previous: Previous, fingerprint: str, dest: Path) -> bool:
    """Hard-link the live generation's Whoosh files into ``dest`` when they were built from
    the same documents: an unchanged re-index then skips the slowest step (~130 s at 100k
    paragraphs). Generations are never written after commit, so sharing inodes is safe."""
    if previous.path is None or previous.manifest.get("keyword") != fingerprint:
        return False
    try:
        dest.mkdir()
        for src in (previous.path / WHOOSH).iterdir():
            try:
                os.link(src, dest / src.name)
            except OSError:  # e.g. a filesystem without hard links
                shutil.copy2(src, dest / src.name)
        return True
    except OSError as e:  # e.g. pruned meanwhile by another writer
        log.info("keyword index rebuilt in full: %s", e)
        shutil.rmtree(dest, ignore_errors=True)
        return False


def embed_text(title: str, text: str, settings: Settings) -> str:
    return f"{title}. {text}" if settings.embed_title and title else text


def content_hash(model: str, text: str) -> str:
    return hashlib.sha1(f"{model}\0{text}".encode()).hexdigest()


@dataclass
class Previous:
    """What a build may reuse from the live generation, read and checksum-verified once:
    vectors by content hash, paragraph splits by split key, the Whoosh files by fingerprint."""

    path: Path | None = None
    manifest: dict = field(default_factory=dict)
    articles: list[dict] = field(default_factory=list)
    paragraphs: list[dict] = field(default_factory=list)
    vectors: VectorStore | None = None

    @classmethod
    def load(cls, settings: Settings) -> Previous:
        """The live generation, or nothing to reuse when there is none or it is damaged."""
        try:
            gen = store.current_generation(settings.index_dir)
            # Verified: anything copied from a damaged generation would get fresh checksums.
            manifest = store.read_manifest(gen, verify=True)
            check_compatible(manifest, settings, gen)
            paras = read_jsonl(gen / PARAGRAPHS)
            vecs = VectorStore.load(gen / VECTORS, manifest["dimension"], mmap=True)
            if len(vecs) != len(paras):
                raise store.IndexCorrupt(f"{gen}: {len(vecs)} vectors, {len(paras)} paragraphs")
            return cls(gen, manifest, read_jsonl(gen / ARTICLES), paras, vecs)
        except (store.IndexError_, OSError, ValueError, KeyError) as e:
            log.info("nothing reused from the live generation: %s", e)
            return cls()

    def vector_rows(self) -> dict[str, int]:
        """content hash → row of ``vectors``."""
        return {p["hash"]: i for i, p in enumerate(self.paragraphs)}

    def splits(self) -> dict[str, list[str]]:
        """split key → paragraph texts, in order."""
        keys = [r.get("split") for r in self.articles]
        out: dict[str, list[str]] = {}
        for p in self.paragraphs:
            key = keys[p["article"]] if p["article"] < len(keys) else None
            if key:
                out.setdefault(key, []).append(p["text"])
        return out


def embed_all(
    texts: list[str],
    hashes: list[str],
    embedder: Embedder,
    settings: Settings,
    progress: bool,
    previous: Previous | None = None,
) -> tuple[np.ndarray, int]:
    """Vectors for ``texts``: reused from the live generation where the hash matches."""
    previous = previous if previous is not None else Previous.load(settings)
    prev_rows, prev_vecs = previous.vector_rows(), previous.vectors
    out = np.zeros((len(texts), embedder.dimension), dtype=np.float32)
    todo = []
    for i, h in enumerate(hashes):
        j = prev_rows.get(h)
        if j is not None and prev_vecs is not None:
            out[i] = prev_vecs.matrix[j]
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


def _article_record(a: Article) -> dict:
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
) -> BuildReport:
    """Index ``paths`` into a new generation of ``settings.index_dir`` and make it live."""
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
        records, para_records, embedder, settings, progress, previous=previous
    )
    previous.articles = previous.paragraphs = []  # the keyword step needs path + manifest only
    report.embedded = len(para_records) - report.reused
    report.timings["embed"] = time.perf_counter() - t

    with store.writer_lock(settings.index_dir, wait=60.0):
        tmp = store.new_generation_dir(settings.index_dir)
        t = time.perf_counter()
        kw_fingerprint = keyword_fingerprint(records, para_records, settings)
        report.keyword_reused = _reuse_keyword_index(previous, kw_fingerprint, tmp / WHOOSH)
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
            settings,
            tmp,
            records,
            para_records,
            vectors,
            fingerprint,
            report.skipped,
            kw_fingerprint,
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
) -> tuple[list[dict], list[dict]]:
    """Article and paragraph records; an article that yields no paragraph is reported.

    ``previous`` (split key → paragraph texts, from the live generation) spares re-splitting
    unchanged articles: counting word pieces is most of an unchanged re-index (~14 s at 100k)."""
    records: list[dict] = []
    paras: list[dict] = []
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
) -> tuple[np.ndarray, int]:
    texts = [
        embed_text(records[p["article"] - first_row]["title"], p["text"], settings) for p in paras
    ]
    hashes = [p["hash"] for p in paras]
    return embed_all(texts, hashes, embedder, settings, progress, previous)


def keyword_doc(records: list[dict], row: int, p: dict, first_row: int = 0) -> KeywordDoc:
    a = records[p["article"] - first_row]
    return KeywordDoc(row, a["id"], a["title"], p["text"], a.get("source"), a.get("date"))


def write_generation(
    settings: Settings,
    tmp: Path,
    records: list[dict],
    paras: list[dict],
    vectors: np.ndarray,
    fingerprint: str | None,
    skipped: int,
    keyword_fingerprint: str | None = None,
) -> Path:
    """Write the plain files beside an already written ``tmp/whoosh`` and publish them."""
    with open(tmp / ARTICLES, "w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(tmp / PARAGRAPHS, "w", encoding="utf-8") as f:
        for p in paras:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    save_vectors(tmp / VECTORS, vectors)
    article_of = np.fromiter((p["article"] for p in paras), dtype=np.int32, count=len(paras))
    alive = np.array([not r.get("deleted") for r in records], dtype=bool)
    art_vecs = article_vectors(vectors, article_of, len(records))
    groups = duplicate_groups(art_vecs, settings.duplicate_threshold, alive)
    (tmp / DUPLICATES).write_text(
        json.dumps({"threshold": settings.duplicate_threshold, "groups": groups}), "utf-8"
    )
    manifest = {
        "format_version": FORMAT_VERSION,
        "model": settings.model_name,
        "dimension": int(vectors.shape[1]),
        "counts": {
            "articles": int(alive.sum()),
            "paragraphs": int(alive[article_of].sum()) if len(paras) else 0,
            "rows": len(paras),
            "deleted_articles": int((~alive).sum()),
            "skipped": skipped,
            "duplicate_groups": len(groups),
        },
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": fingerprint,
        "keyword": keyword_fingerprint,  # what tmp/whoosh was built from (None: unknown)
        "settings": {
            "max_tokens": settings.max_tokens,
            "embed_title": settings.embed_title,
            "title_boost": settings.title_boost,
            "embed_backend": settings.embed_backend,
        },
    }
    return store.commit_generation(settings.index_dir, tmp, manifest)
