"""Build a generation: ingest → paragraphs → embeddings (reused by content hash) → Whoosh → swap.

Everything is written into a fresh temporary directory; only ``store.commit_generation`` makes
it live, so a failed or killed build leaves the previous index serving.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from . import keyword_job, store
from .carry import CarryOver, plan_carry_over, without_ids
from .config import IndexSettings, Settings
from .embed import Embedder
from .embed.pending import PendingEmbedder
from .ingest import iter_files, read_corpus
from .keyword import KeywordDoc, write_index
from .keyword_job import KeywordJob
from .layout import POSTINGS, WHOOSH, check_compatible, write_generation
from .matchset import calibration_current, calibration_for
from .models import Article, BuildReport, Problem
from .progress import bar as progress_bar
from .stages import (  # noqa: F401 - split_all, embed_records, embed_all: part of the build API
    Previous,
    embed_all,
    embed_records,
    split_all,
)

DEFAULT_SHAPE = IndexSettings()
log = logging.getLogger(__name__)


class NothingIndexed(store.IndexError_):
    """No input record gave an article: nothing is committed (the live index stays)."""


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
    if not (gen / POSTINGS / "meta.json").is_file():  # built before postings/: give it them
        return True
    if not calibration_current(
        manifest.get("match_set"), settings.model_name, settings.embed_backend
    ):
        return True
    return manifest.get("inputs") != inputs_fingerprint(paths, settings)


def keyword_fingerprint(records: list[dict], paras: list[dict], settings: Settings) -> str:
    """Changes when anything the Whoosh index is made of changes: every keyword document, the
    title boost, and the code of our Whoosh modules (schema, analyzers), of the postings/ writer
    (a rebuild links postings/ with whoosh/) and Whoosh's."""
    import whoosh

    from . import keyword, postings, postings_file, postings_write

    h = hashlib.sha256()
    for module in (keyword, postings, postings_file, postings_write):
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
    exact: bool = False,
) -> BuildReport:
    """Index ``paths`` into a new generation of ``settings.index_dir`` and make it live
    (``encode_all``: embed on a Ray cluster, see ``embed_all``).

    Articles added and deleted since the last full build stay so unless ``exact`` (see
    ``search.carry``); either way every article kept, dropped or restored is reported by id."""
    t0 = time.perf_counter()
    report = BuildReport()
    paths = [Path(p) for p in paths]
    # An OpenVINO backend exports its model on first use on this machine (counted here): in a
    # child process, while this one reads, splits and starts the keyword index.
    pending: PendingEmbedder | None = None
    keywords: KeywordJob | None = None
    try:
        pending = PendingEmbedder(settings, embedder)
        report.timings["model"] = time.perf_counter() - t0
        t = time.perf_counter()
        fingerprint = inputs_fingerprint(paths, settings)

        articles = read_articles(paths, report, progress, on_problem)
        report.timings["parse"] = time.perf_counter() - t

        t = time.perf_counter()
        previous = Previous.load(settings)
        plan = plan_carry_over(previous.live, articles, exact)
        inputs = articles
        articles = [a for a in articles if a.id not in plan.left_out]
        records, para_records = split_all(
            articles, settings, pending, progress, report, previous=previous.splits()
        )
        report.timings["split"] = time.perf_counter() - t
        if not records and not plan.records:  # an empty generation would replace a good index
            raise NothingIndexed(
                f"nothing could be indexed from {', '.join(map(str, paths))}; "
                "the index was left as it was"
            )
        keywords = _start_keyword_index(previous, plan, records, para_records, settings)

        t = time.perf_counter()
        ready = pending.ready()
        _embed_carried(plan, previous, ready)
        vectors, report.reused = embed_records(
            records,
            para_records,
            ready,
            settings,
            progress,
            previous=previous,
            encode_all=encode_all,
        )
        previous.release_rows()
        report.embedded = len(para_records) - report.reused
        report.timings["embed"] = time.perf_counter() - t
        if keywords is not None and not keywords.finish():  # waited for outside the lock
            keywords.discard()
            keywords = None

        with store.writer_lock(settings.index_dir, wait=60.0):
            keyword_job.remove_abandoned(settings.index_dir)
            changed = store.current_name(settings.index_dir) != plan.snapshot
            if changed:
                # An add or delete committed while this build ran: keep that work too.
                fresh = Previous.load(settings)
                plan = plan_carry_over(fresh.live, inputs, exact)
                _embed_carried(plan, fresh, ready)
                records, para_records, vectors = without_ids(
                    records, para_records, vectors, plan.left_out
                )
            records, para_records, vectors = plan.append_to(records, para_records, vectors)
            tmp = store.new_generation_dir(settings.index_dir)
            t = time.perf_counter()
            if keywords is not None and not changed:  # the rows its key was computed from
                kw_fingerprint = keywords.key
            else:
                kw_fingerprint = keyword_fingerprint(records, para_records, settings)
            if keywords is not None and keywords.key == kw_fingerprint:
                keywords.move_into(tmp)
            else:
                report.keyword_reused = _reuse_keyword_index(previous, kw_fingerprint, tmp)
            if not (tmp / WHOOSH).exists():
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
                # The semantic match-set thresholds for this model and backend (matchset.py).
                match_set=calibration_for(settings.model_name, settings.embed_backend).to_dict(),
            )
            report.timings["commit"] = time.perf_counter() - t
    finally:
        if pending is not None:
            pending.cancel()
        if keywords is not None:
            keywords.discard()
    for problem in plan.problems:
        report.problems.append(problem)
        report.skipped += problem.skipped
        report.warnings += not problem.skipped
        if on_problem:
            on_problem(problem)
    report.articles = sum(1 for r in records if not r.get("deleted"))
    report.paragraphs = len(para_records)
    report.generation = final.name
    report.seconds = time.perf_counter() - t0
    return report


def _embed_carried(plan: CarryOver, previous: Previous, embedder: Embedder) -> None:
    """Rows carried over from a live generation whose vectors another export of the model
    made (``Previous.vectors_stale``) are embedded again, like every other row."""
    if previous.vectors_stale and plan.paragraphs:
        plan.vectors = embedder.encode([p["text"] for p in plan.paragraphs])


def _start_keyword_index(
    previous: Previous, plan: CarryOver, records: list[dict], paras: list[dict], settings: Settings
) -> KeywordJob | None:
    """The keyword index of the rows this build will commit, started in a child process —
    unless it is small, or the live generation's can be reused (same documents)."""
    if len(paras) + len(plan.paragraphs) < keyword_job.MIN_PARAGRAPHS:
        return None
    final_records, final_paras, _ = plan.append_to(records, paras, None)
    key = keyword_fingerprint(final_records, final_paras, settings)
    if previous.live is not None and previous.live.manifest.get("keyword") == key:
        return None
    docs = [keyword_doc(final_records, i, p) for i, p in enumerate(final_paras)]
    return KeywordJob(settings.index_dir, docs, settings.title_boost, key)


def keyword_doc(records: list[dict], row: int, p: dict, first_row: int = 0) -> KeywordDoc:
    a = records[p["article"] - first_row]
    return KeywordDoc(row, a["id"], a["title"], p["text"], a.get("source"), a.get("date"))
