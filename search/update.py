"""Incremental updates: ``newsearch add`` and ``newsearch delete`` without a full rebuild.

An update copies the live generation into a new one: removed or replaced articles become
tombstones (``"deleted": true``; their rows stay so vectors and Whoosh rows keep lining up),
new paragraphs are appended, only they are embedded (the rest is reused by content hash), and
the Whoosh index is updated in place in the copy. The whole update runs under the writer lock
and is published with the same atomic swap as a build. A full build compacts tombstones away.
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
from .keyword import update_index
from .layout import WHOOSH, LiveIndex, index_shape, write_generation
from .models import BuildReport, Problem
from .stages import Previous, embed_records, split_all

LOCK_WAIT = 30.0


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

    with store.writer_lock(settings.index_dir, wait=LOCK_WAIT):
        index = LiveIndex.read(settings)
        records, paras, vectors = index.articles, index.paragraphs, index.vectors
        live = {r["id"]: i for i, r in enumerate(records) if not r.get("deleted")}
        replaced = [r["id"] for r in new_records if r["id"] in live]
        for article_id in replaced:
            records[live[article_id]]["deleted"] = True
        first = len(records)
        for p in new_paras:
            p["article"] += first
        new_vecs, report.reused = embed_records(
            new_records, new_paras, embedder, settings, progress, first, Previous(index), encode_all
        )
        report.embedded = len(new_paras) - report.reused
        first_para = len(paras)
        tmp = store.new_generation_dir(settings.index_dir)
        index.copy_keyword_index(tmp)
        docs = (keyword_doc(new_records, first_para + i, p, first) for i, p in enumerate(new_paras))
        update_index(tmp / WHOOSH, replaced, docs)
        all_vectors = np.concatenate([vectors, new_vecs]) if len(new_vecs) else vectors
        final = write_generation(
            settings.index_dir,
            tmp,
            index.shape,
            records + new_records,
            paras + new_paras,
            all_vectors,
            inputs=index.manifest.get("inputs"),
            skipped=index.manifest["counts"].get("skipped", 0),
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
        index = LiveIndex.read(settings)
        records = index.articles
        live = {r["id"]: i for i, r in enumerate(records) if not r.get("deleted")}
        deleted = [i for i in dict.fromkeys(ids) if i in live]
        unknown = [i for i in dict.fromkeys(ids) if i not in live]
        if not deleted:
            return [], unknown, None
        for article_id in deleted:
            records[live[article_id]]["deleted"] = True
        tmp = store.new_generation_dir(settings.index_dir)
        index.copy_keyword_index(tmp)
        update_index(tmp / WHOOSH, deleted, ())
        final = write_generation(
            settings.index_dir,
            tmp,
            index.shape,
            records,
            index.paragraphs,
            index.vectors,
            inputs=index.manifest.get("inputs"),
            skipped=index.manifest["counts"].get("skipped", 0),
        )
    return deleted, unknown, final.name
