"""Relevance evaluation: judged queries in, nDCG@10 / MAP / MRR@10 / Recall@100 / q/s out.

Pure-ish pieces so the CLI (``newsearch eval``), the tuning bench (``bench/relevance.py``) and
the tests share one code path: ``load_queries`` + ``load_qrels`` read the files, ``run`` asks the
real engine (article-level ranking, as users see it), ``score`` hands the run to ``ir_measures``
(no hand-written metric formulas). Every judged query counts: one the engine returns nothing for
scores 0 instead of silently dropping out of the average.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import ir_measures
from ir_measures import AP, RR, R, nDCG

from . import store
from .config import IndexSettings, Settings
from .layout import index_shape
from .models import MODES, Query

if TYPE_CHECKING:
    from .build import BuildReport
    from .engine import Engine

Run = dict[str, dict[str, float]]  # query id -> article id -> score (higher is better)
Qrels = dict[str, dict[str, int]]  # query id -> article id -> relevance grade

# Output name -> ir_measures measure. R@100 only means something if the run holds 100 results.
MEASURES = {"ndcg@10": nDCG @ 10, "map": AP, "mrr@10": RR @ 10, "recall@100": R @ 100}
LABELS = {
    "ndcg@10": "nDCG@10",
    "map": "MAP",
    "mrr@10": "MRR@10",
    "recall@100": "Recall@100",
    "set_size": "set size",
    "set_precision": "set P",
    "set_recall": "set R",
    "qps": "queries/s",
}
SET_METRICS = ("set_size", "set_precision", "set_recall")
RUN_DEPTH = 100
CACHE_ROOT = Path(tempfile.gettempdir()) / "newsearch-eval"
# The index-shaping settings (config.IndexSettings) that key the cache directory; later
# additions count only when not at their default, so existing cache directories stay valid.
INDEX_SETTINGS = (
    "model_name",
    "max_tokens",
    "min_tokens",
    "embed_title",
    "title_boost",
    "embed_backend",
)


def load_queries(path: Path | str) -> dict[str, str]:
    """``{query_id: text}`` from a .jsonl file of ``{"id": ..., "text": ...}`` lines."""
    queries: dict[str, str] = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                queries[str(rec["id"])] = str(rec["text"])
            except (ValueError, KeyError, TypeError) as e:
                raise ValueError(f'{path}:{n}: expected {{"id", "text"}} JSON ({e})') from e
    return queries


def load_qrels(path: Path | str) -> Qrels:
    """``{query_id: {doc_id: relevance}}`` from ``query_id doc_id relevance`` lines.

    Tab or space separated; a TREC-style 4-column line (``qid 0 doc rel``) and a header line
    (one whose relevance is not a number) are accepted too.
    """
    qrels: Qrels = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) == 4:
                parts = [parts[0], parts[2], parts[3]]
            if len(parts) != 3:
                raise ValueError(f"{path}:{n}: expected query_id, doc_id, relevance")
            qid, doc, rel = parts
            try:
                grade = int(rel)
            except ValueError:
                if n == 1:  # header
                    continue
                raise ValueError(f"{path}:{n}: relevance {rel!r} is not an integer") from None
            qrels.setdefault(qid, {})[doc] = grade
    return qrels


def run(engine: Engine, queries: Mapping[str, str], mode: str, limit: int = RUN_DEPTH) -> Run:
    """Each query's top ``limit`` article ids from ``engine`` in ``mode``.

    Near-duplicates the engine folded into a hit are listed right after it: the result shows
    them, and dropping them would count a found story as missed. Scores are rank-derived
    (``limit - rank``) so ``ir_measures`` keeps the engine's exact order instead of re-breaking
    ties among equal fused scores by document id.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r} ({', '.join(MODES)})")
    out: Run = {}
    for qid, text in queries.items():
        res = engine.search(Query(text, mode=mode, limit=limit))
        ranked: list[str] = []
        for hit in res.results:
            ranked.append(hit.article_id)
            ranked.extend(getattr(hit, "duplicates", None) or [])
        ranked = list(dict.fromkeys(ranked))[:limit]
        out[qid] = {doc: float(limit - i) for i, doc in enumerate(ranked)}
    return out


def per_query(run: Run, qrels: Qrels) -> dict[str, dict[str, float]]:
    """``{metric: {query_id: value}}`` over every judged query (absent from the run: 0)."""
    scored = {qid: docs for qid, docs in run.items() if qid in qrels and docs}
    values = {name: dict.fromkeys(qrels, 0.0) for name in MEASURES}
    by_measure = {m: name for name, m in MEASURES.items()}
    if scored:
        for m in ir_measures.iter_calc(list(MEASURES.values()), qrels, scored):
            values[by_measure[m.measure]][m.query_id] = float(m.value)
    return values


def score(run: Run, qrels: Qrels) -> dict[str, float]:
    """Mean of each metric over all judged queries (see ``per_query``)."""
    if not qrels:
        raise ValueError("no judged queries")
    return {name: sum(v.values()) / len(v) for name, v in per_query(run, qrels).items()}


def set_per_query(
    engine: Engine, queries: Mapping[str, str], qrels: Qrels, mode: str
) -> dict[str, dict[str, float]]:
    """``{metric: {query_id: value}}`` for the whole match set of each judged query: its size
    (articles, near-copies counted), the share of it that is relevant (precision; 0 for an
    empty set) and the share of the relevant articles in it (recall)."""
    out: dict[str, dict[str, float]] = {m: {} for m in SET_METRICS}
    for qid, text in queries.items():
        if qid not in qrels:
            continue
        members = set(engine.match_set(Query(text, mode=mode)))
        b = engine.backend
        dup, ids = b.catalog.duplicate_of, b.catalog.ids
        for doc in list(members):  # folded near-copies are shown with their story
            members.update(ids[d] for d in dup.get(b.article_row(doc), []))
        relevant = {d for d, r in qrels[qid].items() if r > 0}
        hit = len(members & relevant)
        out["set_size"][qid] = float(len(members))
        out["set_precision"][qid] = hit / len(members) if members else 0.0
        out["set_recall"][qid] = hit / len(relevant) if relevant else 1.0
    return out


def mean(values: Mapping[str, float]) -> float:
    return sum(values.values()) / len(values) if values else 0.0


def peer_results(
    engine: Engine, queries: Mapping[str, str], qrels: Qrels, limit: int = RUN_DEPTH
) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The peer's (``search/peer.py``) three modes: ``({"peer MODE": metrics},
    {"peer MODE": per-query nDCG@10})``. Raises ImportError without ``bm25s``."""
    from .embed import load_embedder
    from .peer import PEER_MODES, Peer

    judged = {qid: text for qid, text in queries.items() if qid in qrels}
    s = engine.settings
    embedder = load_embedder(s.model_name, s.embed_batch_size)  # torch fp32, as published
    peer = Peer(engine.backend, embedder, Path(s.index_dir))
    means, per = {}, {}
    for mode in PEER_MODES:
        values = per_query(peer.run(judged, mode, limit), qrels)
        means[f"peer {mode}"] = {name: mean(v) for name, v in values.items()}
        per[f"peer {mode}"] = values["ndcg@10"]
    return means, per


def evaluate(
    engine: Engine,
    queries: Mapping[str, str],
    qrels: Qrels,
    modes: Iterable[str] = MODES,
    limit: int = RUN_DEPTH,
) -> dict[str, dict[str, float]]:
    """``{mode: {metric: value, ..., "qps": queries per second}}`` for each mode.

    Only judged queries are run. q/s is measured warm, as a running server would see it: one
    untimed pass first lets torch prepare its kernels for every query length (the first query
    of a new length costs ~0.5 s, which would otherwise be charged to whichever mode runs
    first); the query-embedding cache is then cleared before each mode, so every mode pays
    for its own embeddings.
    """
    judged = {qid: text for qid, text in queries.items() if qid in qrels}
    if not judged:
        raise ValueError("none of the queries has judgments")
    modes = list(modes)
    warm = "semantic" if any(m != "keyword" for m in modes) else "keyword"
    for text in judged.values():  # untimed
        engine.search(Query(text, mode=warm))
    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        engine.embedder.clear_cache()
        t0 = time.perf_counter()
        r = run(engine, judged, mode, limit)
        seconds = time.perf_counter() - t0
        sets = {m: mean(v) for m, v in set_per_query(engine, judged, qrels, mode).items()}
        results[mode] = {
            **score(r, qrels),
            **sets,
            "qps": len(judged) / seconds if seconds else 0.0,
        }
    return results


def judged_coverage(engine: Engine, qrels: Qrels) -> float:
    """Share of relevant judged documents that are in the index (catches mismatched ids)."""
    relevant = {doc for docs in qrels.values() for doc, rel in docs.items() if rel > 0}
    if not relevant:
        return 1.0
    backend = engine.backend
    return sum(backend.article_row(doc) is not None for doc in relevant) / len(relevant)


def cache_dir(docs: Iterable[Path | str], settings: Settings, root: Path = CACHE_ROOT) -> Path:
    """A per-corpus, per-index-settings directory under the system temp dir.

    One directory per combination matters beyond speed: a build reuses vectors by content
    hash only from the index it replaces, so switching settings in one directory would
    re-embed everything each time.
    """
    paths = sorted(str(Path(p).resolve()) for p in docs)
    key = "\n".join(paths + [f"{k}={getattr(settings, k)}" for k in INDEX_SETTINGS])
    if settings.duplicate_threshold != IndexSettings().duplicate_threshold:
        key += f"\nduplicate_threshold={settings.duplicate_threshold}"
    backend = getattr(settings, "embed_backend", "torch")
    if backend != "torch":  # other backends' vectors differ slightly: keep them apart
        key += f"\nembed_backend={backend}"
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    stem = (Path(paths[0]).parent.name if paths else "") or "docs"
    return root / f"{stem}-{digest}"


def ensure_index(
    docs: list[Path], settings: Settings, progress: bool = True, force: bool = False
) -> BuildReport | None:
    """Build ``docs`` into ``settings.index_dir`` unless it is already current (then None)."""
    from .writers import build, is_stale

    if not force and not is_stale(docs, settings):
        return None
    Path(settings.index_dir).mkdir(parents=True, exist_ok=True)
    return build(docs, settings, progress=progress)


def open_engine(
    docs: list[Path],
    settings: Settings,
    progress: bool = True,
    on_build: Callable[[BuildReport], None] | None = None,
) -> Engine:
    """An engine over ``docs``, (re)building the index first when needed.

    A current-looking index that cannot be opened (e.g. written by an older build of the same
    format version) is rebuilt once; vectors are still reused from it by content hash.
    """
    from .engine import Engine
    from .store import IndexCorrupt

    for force in (False, True):
        rep = ensure_index(docs, settings, progress, force=force)
        if rep is not None and on_build is not None:
            on_build(rep)
        try:
            return Engine.open(settings)
        except IndexCorrupt:
            if force or rep is not None:
                raise
    raise AssertionError("unreachable")


def eval_settings(docs: list[Path], index_dir: Path | str | None = None, **overrides) -> Settings:
    """Settings for an evaluation: environment + overrides, index in ``index_dir`` or the cache.

    ``NEWSEARCH_INDEX_DIR`` is deliberately ignored: evaluating must never rebuild the
    production index with the evaluation corpus.
    """
    settings = Settings.from_env(**overrides)
    if not index_dir:  # the cache is keyed by the index shape of ``settings``
        return replace(settings, index_dir=cache_dir(docs, settings))
    # An existing index is evaluated as it was built: its manifest gives the index shape.
    settings = replace(settings, index_dir=Path(index_dir))
    try:
        manifest = store.read_manifest(store.current_generation(settings.index_dir), verify=False)
    except store.IndexError_:
        return settings
    return settings.shaped_like(index_shape(manifest, settings.index_shape))


def format_table(results: Mapping[str, Mapping[str, float]], first: str = "mode") -> str:
    """A Markdown table, one row per key of ``results`` (readable in a terminal and a README)."""
    cols = [c for c in LABELS if any(c in r for r in results.values())]
    head = [first] + [LABELS[c] for c in cols]
    rows = [
        [name]
        + [
            "" if c not in r else f"{r[c]:.1f}" if c in ("qps", "set_size") else f"{r[c]:.4f}"
            for c in cols
        ]
        for name, r in results.items()
    ]
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        padded = (
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )
        return "| " + " | ".join(padded) + " |"

    sep = (
        "|"
        + "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(head), sep, *(line(r) for r in rows)])
