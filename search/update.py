"""Incremental updates: ``newsearch add`` and ``newsearch delete`` without a full rebuild.

An update copies the live generation into a new one: removed or replaced articles become
tombstones (``"deleted": true``; their rows stay so vectors and Whoosh rows keep lining up),
new paragraphs are appended, only they are embedded (the rest is reused by content hash), and
the Whoosh index is updated in place in the copy. Reading, splitting and embedding the new
articles happen before the writer lock is taken; the rest runs under it and is published with
the same atomic swap as a build.

Tombstones cost disk and skew the keyword statistics (Whoosh counts deleted documents in its
idf and average lengths): once they hold more than ``COMPACT_RATIO`` of the paragraph rows, an
update writes a compacted generation instead (rows renumbered, Whoosh rebuilt from the live
documents, vectors reused). A deleted article keeps a tombstone row without paragraphs, so a
full ``index`` still knows it was deleted (see ``build.carry_over``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import store
from .build import build_index, keyword_doc, read_articles
from .config import Settings
from .embed import Embedder, embedder_for
from .keyword import update_index, write_index
from .layout import POSTINGS, WHOOSH, LiveIndex, index_shape, write_generation
from .models import BuildReport, Problem
from .postings_update import update_postings
from .stages import Previous, embed_records, split_all

LOCK_WAIT = 30.0
COMPACT_RATIO = 0.2  # tombstoned paragraph rows above this share of all rows: compact


def compacted(
    records: list[dict], paras: list[dict], vectors: np.ndarray, force: bool = False
) -> tuple[list[dict], list[dict], np.ndarray] | None:
    """``(records, paragraphs, vectors)`` without the tombstoned articles' paragraphs, rows
    renumbered; None while tombstones hold at most ``COMPACT_RATIO`` of the rows (unless
    ``force``). Tombstones of deleted ids stay as article rows without paragraphs (a replaced
    article's old row goes: its id is live again)."""
    dead = np.array([bool(r.get("deleted")) for r in records], dtype=bool)
    article_of = np.fromiter((p["article"] for p in paras), dtype=np.int64, count=len(paras))
    dead_rows = int(dead[article_of].sum()) if len(paras) else 0
    if not force and dead_rows <= COMPACT_RATIO * len(paras):
        return None
    live_ids = {r["id"] for r in records if not r.get("deleted")}
    keep = [i for i, r in enumerate(records) if not r.get("deleted") or r["id"] not in live_ids]
    kept_ids: set[str] = set()
    row_of: dict[int, int] = {}
    out_records: list[dict] = []
    for i in keep:
        r = records[i]
        if r.get("deleted"):
            if r["id"] in kept_ids:  # deleted twice: one tombstone is enough
                continue
            r = {k: v for k, v in r.items() if k != "split"}
        kept_ids.add(r["id"])
        row_of[i] = len(out_records)
        out_records.append(r)
    rows = [j for j, p in enumerate(paras) if not dead[p["article"]]]
    out_paras = [{**paras[j], "article": row_of[paras[j]["article"]]} for j in rows]
    return out_records, out_paras, np.asarray(vectors)[rows]


def _write_keyword(tmp: Path, index: LiveIndex, records, paras, compact: bool, gone, new_docs):
    """The new generation's Whoosh index: rebuilt from every row when compacting, else the
    live one copied and updated (``gone`` articles out, ``new_docs`` in), and its postings
    from the live ones and the segment(s) Whoosh wrote (else ``write_generation`` decodes
    them all)."""
    if compact:
        docs = (keyword_doc(records, i, p) for i, p in enumerate(paras))
        write_index(tmp / WHOOSH, docs, index.shape.title_boost)
    else:
        index.copy_keyword_index(tmp)
        update_index(tmp / WHOOSH, gone, new_docs)
        live = index.path
        update_postings(live / WHOOSH, live / POSTINGS, tmp / WHOOSH, tmp / POSTINGS)


def add_paths(
    paths: list[Path],
    settings: Settings,
    progress: bool = False,
    embedder: Embedder | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    encode_all: Callable[[list[str]], np.ndarray] | None = None,
) -> BuildReport:
    """Add (or replace, by id) the articles in ``paths``; builds from scratch if no index."""
    try:
        store.current_generation(settings.index_dir)
    except store.IndexNotReady:
        return build_index(paths, settings, progress, embedder, on_problem, encode_all)
    t0 = time.perf_counter()
    report = BuildReport()
    # Split and embed the way the index was built (its manifest says how), or paragraphs
    # would be sized differently and content hashes would not match.
    live_manifest = store.read_manifest(store.current_generation(settings.index_dir), verify=False)
    settings = settings.shaped_like(index_shape(live_manifest, settings.index_shape))
    embedder = embedder or embedder_for(settings)
    new = read_articles(paths, report, progress, on_problem)
    # Split before taking the lock (the slowest step on text: a writer waiting for the lock,
    # e.g. `delete`, gives up after LOCK_WAIT); rows are numbered once the live count is known.
    new_records, new_paras = split_all(new, settings, embedder, progress, report)
    # Embedding too (reusing the live vectors by content hash): under the lock, a 400 KB
    # record's paragraphs would keep every other writer waiting.
    before = LiveIndex.read(settings, mmap=True)
    new_vecs, report.reused = embed_records(
        new_records, new_paras, embedder, settings, progress, 0, Previous(before), encode_all
    )
    report.embedded = len(new_paras) - report.reused

    with store.writer_lock(settings.index_dir, wait=LOCK_WAIT):
        unchanged = store.current_name(settings.index_dir) == before.path.name
        index = before if unchanged else LiveIndex.read(settings)
        dups = index.duplicates_before()
        records, paras, vectors = index.articles, index.paragraphs, index.vectors
        live = {r["id"]: i for i, r in enumerate(records) if not r.get("deleted")}
        replaced = [r["id"] for r in new_records if r["id"] in live]
        for article_id in replaced:
            records[live[article_id]]["deleted"] = True
        compact = compacted(records, paras, vectors)
        if compact is not None:
            records, paras, vectors = compact
            dups = None  # rows renumbered
        first = len(records)
        for r in new_records:
            r["added"] = True  # not from a full build's inputs: `index` keeps it (build.py)
        for p in new_paras:
            p["article"] += first
        first_para = len(paras)
        tmp = store.new_generation_dir(settings.index_dir)
        docs = (keyword_doc(new_records, first_para + i, p, first) for i, p in enumerate(new_paras))
        all_records, all_paras = records + new_records, paras + new_paras
        _write_keyword(tmp, index, all_records, all_paras, compact is not None, replaced, docs)
        all_vectors = np.concatenate([vectors, new_vecs]) if len(new_vecs) else vectors
        final = write_generation(
            settings.index_dir,
            tmp,
            index.shape,
            all_records,
            all_paras,
            all_vectors,
            inputs=index.manifest.get("inputs"),
            skipped=index.manifest["counts"].get("skipped", 0),
            match_set=index.manifest.get("match_set"),  # the thresholds it was built with
            duplicates_before=dups,
            extends=(index.path, first_para) if compact is None else None,
            verified=index.path,
        )
    for article_id in replaced:  # e.g. a fetched page naming an indexed article as itself
        problem = Problem(article_id, None, "replaces the indexed article with this id", False)
        report.problems.append(problem)
        report.warnings += 1
        if on_problem:
            on_problem(problem)
    report.articles, report.paragraphs = len(new_records), len(new_paras)
    report.generation = final.name
    report.seconds = time.perf_counter() - t0
    return report


def delete_ids(ids: list[str], settings: Settings) -> tuple[list[str], list[str], str | None]:
    """Remove articles by id. Returns (deleted, unknown, new generation name or None)."""
    with store.writer_lock(settings.index_dir, wait=LOCK_WAIT):
        index = LiveIndex.read(settings, mmap=True)
        dups = index.duplicates_before()
        records = index.articles
        live = {r["id"]: i for i, r in enumerate(records) if not r.get("deleted")}
        deleted = [i for i in dict.fromkeys(ids) if i in live]
        unknown = [i for i in dict.fromkeys(ids) if i not in live]
        if not deleted:
            return [], unknown, None
        for article_id in deleted:
            records[live[article_id]]["deleted"] = True
        paras, vectors = index.paragraphs, index.vectors
        compact = compacted(records, paras, vectors)
        if compact is not None:
            records, paras, vectors = compact
        tmp = store.new_generation_dir(settings.index_dir)
        _write_keyword(tmp, index, records, paras, compact is not None, deleted, ())
        same = compact is None  # tombstones: the paragraphs and vectors are the live ones
        final = write_generation(
            settings.index_dir,
            tmp,
            index.shape,
            records,
            paras,
            vectors,
            inputs=index.manifest.get("inputs"),
            skipped=index.manifest["counts"].get("skipped", 0),
            match_set=index.manifest.get("match_set"),  # the thresholds it was built with
            extends=(index.path, len(paras)) if same else None,
            duplicates_before=dups if same else None,
            verified=index.path,
        )
    return deleted, unknown, final.name
