"""``newsearch index/add/delete --backend milvus``: the embedded build's steps, Milvus storage.

Parsing, splitting and embedding are the embedded build's own functions (so both backends
index the same paragraphs with the same vectors, and ``--ray`` works for both); only storage
differs (``milvus_store``). A build is idempotent (same inputs, same collections' content) and
reuses the live collection's vectors by content hash, like the embedded build.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from .. import build
from ..config import FORMAT_VERSION, Settings
from ..embed import Embedder, embedder_for, embedding_identity
from ..facets import date_number
from ..keyword import analyze
from ..layout import LiveIndex, embedding_matches
from ..matchset import calibration_current, calibration_for
from ..models import Problem
from ..related import article_vectors, duplicate_groups
from ..store import IndexNotReady
from . import milvus_store as ms


def _terms(text: str, repeat: int = 1) -> tuple[str, int]:
    """The analyzed, encoded terms of ``text`` (repeated ``repeat`` times) and their count."""
    terms = [ms.encode_term(t) for t in analyze(text)]
    words = " ".join(terms)
    return (" ".join([words] * repeat) if words else ""), len(terms)


def _paragraph_entities(
    records: list[dict], paras: list[dict], vectors: np.ndarray, first_row: int, settings: Settings
) -> Iterator[dict[str, Any]]:
    boost = max(1, round(settings.title_boost))  # Whoosh multiplies title term weights by it
    title_terms: dict[int, tuple[str, int]] = {}
    first_article = records[0]["row"] if records else 0
    for i, p in enumerate(paras):
        a = records[p["article"] - first_article]
        if p["article"] not in title_terms:
            title_terms = {p["article"]: _terms(a["title"] or "", boost)}
        terms, n_terms = _terms(p["text"])
        yield {
            "row": first_row + i,
            "article": p["article"],
            "article_id": a["id"],
            "pid": p["id"],
            "text": p["text"],
            "hash": p["hash"],
            "terms": terms,
            "tterms": title_terms[p["article"]][0],
            "tlen": n_terms,
            "ttlen": title_terms[p["article"]][1],
            "date": date_number(a.get("date")),
            "source": a.get("source") or "",
            "vector": vectors[i].tolist(),
        }


def _article_entities(records: list[dict], art_vecs: np.ndarray, dup: np.ndarray):
    for i, r in enumerate(records):
        yield {
            "row": r["row"],
            "id": r["id"],
            "title": r.get("title") or "",
            "url": r.get("url") or "",
            "dateline": r.get("dateline") or "",
            "date": r.get("date") or "",
            "source": r.get("source") or "",
            "deleted": False,
            "dup": int(dup[i]),
            "vector": art_vecs[i].tolist(),
        }


def _previous(client: Any, settings: Settings) -> build.Previous:
    """The live collection's vectors by content hash (nothing when there is none)."""
    try:
        lv = ms.live(client, settings.milvus_collection)
    except IndexNotReady:
        return build.Previous()
    if lv.manifest.get("model") != settings.model_name or not embedding_matches(lv.manifest):
        return build.Previous()  # its vectors are another network's: nothing to reuse
    hashes, vecs = [], []
    for e in ms.scan(client, lv.paragraphs, ["hash", "vector"]):
        hashes.append({"hash": e["hash"]})
        vecs.append(e["vector"])
    if not vecs:
        return build.Previous()
    matrix = np.asarray(vecs, np.float32)
    return build.Previous(LiveIndex(Path(lv.paragraphs), lv.manifest, [], hashes, matrix))


def _manifest(settings: Settings, dim: int, counts: dict, inputs: str | None, nxt: tuple) -> dict:
    return {
        "format_version": FORMAT_VERSION,
        "milvus_format": ms.FORMAT,
        "model": settings.model_name,
        "dimension": dim,
        "counts": counts,
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "inputs": inputs,
        "next_row": int(nxt[0]),
        "next_article": int(nxt[1]),
        "match_set": calibration_for(settings.model_name, settings.embed_backend).to_dict(),
        "embedding": embedding_identity(settings.model_name, settings.embed_backend),
        "settings": {
            "max_tokens": settings.max_tokens,
            "embed_title": settings.embed_title,
            "title_boost": settings.title_boost,
            "embed_backend": settings.embed_backend,
            "dense_index": settings.milvus_index,
        },
    }


def _write_pair(
    client: Any,
    settings: Settings,
    records: list[dict],
    paras: list[dict],
    vectors: np.ndarray,
    inputs: str | None,
    skipped: int,
) -> str:
    """New collections with ``records``/``paras``, published under the alias."""
    for i, r in enumerate(records):
        r["row"] = i
    article_of = np.fromiter((p["article"] for p in paras), np.int32, len(paras))
    art_vecs = article_vectors(vectors, article_of, len(records))
    dup = np.full(len(records), -1, dtype=np.int64)
    groups = duplicate_groups(art_vecs, settings.duplicate_threshold)
    for g in groups:
        dup[g] = g[0]
    dim = int(vectors.shape[1])
    pname, aname = ms.create_pair(client, settings.milvus_collection, dim, settings.milvus_index)
    try:
        ms.insert(client, aname, _article_entities(records, art_vecs, dup))
        ms.insert(client, pname, _paragraph_entities(records, paras, vectors, 0, settings))
        counts = {
            "articles": len(records),
            "paragraphs": len(paras),
            "rows": len(paras),
            "deleted_articles": 0,
            "skipped": skipped,
            "duplicate_groups": len(groups),
        }
        manifest = _manifest(settings, dim, counts, inputs, (len(paras), len(records)))
        ms.publish(client, settings.milvus_collection, pname, aname, manifest)
    except BaseException:
        ms.drop_pair(client, pname, aname)  # nothing half-written stays behind
        raise
    return pname


def is_stale(paths: list[Path], settings: Settings) -> bool:
    client = ms.connect(settings.milvus_uri)
    try:
        lv = ms.live(client, settings.milvus_collection)
    except IndexNotReady:
        return True
    recorded = lv.manifest.get("match_set")
    if not calibration_current(recorded, settings.model_name, settings.embed_backend):
        return True
    return lv.manifest.get("inputs") != build.inputs_fingerprint(paths, settings)


def build_milvus(
    paths: list[Path],
    settings: Settings,
    progress: bool = False,
    embedder: Embedder | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    encode_all: Callable[[list[str]], np.ndarray] | None = None,
    previous: build.Previous | None = None,
) -> build.BuildReport:
    """Index ``paths`` into a new pair of collections and switch the alias to it. Vectors are
    reused by content hash from the live collections, or from ``previous`` when given (e.g.
    an embedded index of the same corpus: a migration embeds nothing)."""
    t0 = time.perf_counter()
    report = build.BuildReport()
    paths = [Path(p) for p in paths]
    client = ms.connect(settings.milvus_uri)  # fail before the slow steps
    embedder = embedder or embedder_for(settings)
    inputs = build.inputs_fingerprint(paths, settings)
    articles = build.read_articles(paths, report, progress, on_problem)
    t = time.perf_counter()
    records, paras = build.split_all(articles, settings, embedder, progress, report)
    report.timings["split"] = time.perf_counter() - t
    if not records:
        raise build.NothingIndexed(
            f"nothing could be indexed from {', '.join(map(str, paths))}; "
            "the index was left as it was"
        )
    t = time.perf_counter()
    previous = previous if previous is not None else _previous(client, settings)
    vectors, report.reused = build.embed_records(
        records, paras, embedder, settings, progress, previous=previous, encode_all=encode_all
    )
    report.embedded = len(paras) - report.reused
    report.timings["embed"] = time.perf_counter() - t
    t = time.perf_counter()
    report.generation = _write_pair(client, settings, records, paras, vectors, inputs,
                                    report.skipped)  # fmt: skip
    report.timings["milvus"] = time.perf_counter() - t
    report.articles, report.paragraphs = len(records), len(paras)
    report.seconds = time.perf_counter() - t0
    return report


def _bump(client: Any, lv: ms.Live, counts: dict, nxt: tuple[int, int] | None = None) -> str:
    manifest = {**lv.manifest, "counts": {**lv.manifest.get("counts", {}), **counts}}
    if nxt is not None:
        manifest["next_row"], manifest["next_article"] = int(nxt[0]), int(nxt[1])
    ms.set_props(client, lv.paragraphs, **{ms.MANIFEST: json.dumps(manifest),
                                           ms.WRITES: str(lv.writes + 1)})  # fmt: skip
    return f"{lv.paragraphs}#{lv.writes + 1}"


def _tombstone(client: Any, lv: ms.Live, rows: list[int]) -> None:
    """Remove the articles' paragraphs; keep their article rows, marked deleted (rows stay
    dense, like the embedded backend's tombstones)."""
    if not rows:
        return
    client.delete(lv.paragraphs, filter=f"article in {rows}")
    fields = ["id", "title", "url", "dateline", "date", "source", "dup", "vector"]
    old = client.query(lv.articles, filter=f"row in {rows}", output_fields=["row", *fields])
    client.upsert(lv.articles, [{**e, "deleted": True, "dup": -1} for e in old])


def _live_ids(client: Any, lv: ms.Live, ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(ids), ms.BATCH):
        chunk = ids[start : start + ms.BATCH]
        expr = f"id in [{', '.join(ms.quote(i) for i in chunk)}] and deleted == false"
        for e in client.query(lv.articles, filter=expr, output_fields=["row", "id"]):
            out[e["id"]] = int(e["row"])
    return out


def _live_counts(client: Any, lv: ms.Live) -> dict[str, int]:
    return {
        "articles": ms.count(client, lv.articles, "deleted == false"),
        "deleted_articles": ms.count(client, lv.articles, "deleted == true"),
        "paragraphs": ms.count(client, lv.paragraphs),
    }


def delete_milvus(ids: list[str], settings: Settings) -> tuple[list[str], list[str], str | None]:
    """Remove articles by id from the live collections. (deleted, unknown, snapshot or None)."""
    client = ms.connect(settings.milvus_uri)
    lv = ms.live(client, settings.milvus_collection)
    wanted = list(dict.fromkeys(ids))
    found = _live_ids(client, lv, wanted)
    deleted = [i for i in wanted if i in found]
    unknown = [i for i in wanted if i not in found]
    if not deleted:
        return [], unknown, None
    _tombstone(client, lv, [found[i] for i in deleted])
    for name in (lv.paragraphs, lv.articles):
        client.flush(name)
    return deleted, unknown, _bump(client, lv, _live_counts(client, lv))


def add_milvus(
    paths: list[Path],
    settings: Settings,
    progress: bool = False,
    embedder: Embedder | None = None,
    on_problem: Callable[[Problem], None] | None = None,
    encode_all: Callable[[list[str]], np.ndarray] | None = None,
) -> build.BuildReport:
    """Add (or replace, by id) articles in the live collections; builds when there are none.
    New rows are inserted before replaced ones are removed, so a failure in between leaves
    both versions, never neither."""
    client = ms.connect(settings.milvus_uri)
    try:
        lv = ms.live(client, settings.milvus_collection)
    except IndexNotReady:
        return build_milvus(paths, settings, progress, embedder, on_problem, encode_all)
    ms.check_format(lv)
    t0 = time.perf_counter()
    report = build.BuildReport()
    backend = lv.manifest.get("settings", {}).get("embed_backend", settings.embed_backend)
    settings = replace(settings, embed_backend=backend)  # the vectors' backend, not the default
    embedder = embedder or embedder_for(settings)
    new = build.read_articles(paths, report, progress, on_problem)
    first_row, first_article = lv.manifest["next_row"], lv.manifest["next_article"]
    records, paras = build.split_all(new, settings, embedder, progress, report, first_article)
    if records:
        vectors, report.reused = build.embed_records(
            records,
            paras,
            embedder,
            settings,
            progress,
            first_article,
            build.Previous(),
            encode_all,
        )
        report.embedded = len(paras) - report.reused
        replaced = _live_ids(client, lv, [r["id"] for r in records])
        for i, r in enumerate(records):
            r["row"] = first_article + i
        article_of = np.fromiter((p["article"] - first_article for p in paras), np.int32)
        art_vecs = article_vectors(vectors, article_of, len(records))
        dup = _new_duplicates(client, lv, art_vecs, settings.duplicate_threshold, first_article)
        ms.insert(client, lv.articles, _article_entities(records, art_vecs, dup))
        ms.insert(client, lv.paragraphs,
                  _paragraph_entities(records, paras, vectors, first_row, settings))  # fmt: skip
        _tombstone(client, lv, list(replaced.values()))
        for name in (lv.paragraphs, lv.articles):
            client.flush(name)
        nxt = (first_row + len(paras), first_article + len(records))
        report.generation = _bump(client, lv, _live_counts(client, lv), nxt)
    report.articles, report.paragraphs = len(records), len(paras)
    report.seconds = time.perf_counter() - t0
    return report


def _new_duplicates(
    client: Any, lv: ms.Live, art_vecs: np.ndarray, threshold: float, first: int
) -> np.ndarray:
    """Duplicate group of each new article: the group of the closest live article with cosine
    ≥ ``threshold`` (its own row when that one had none), or among the new ones."""
    dup = np.full(len(art_vecs), -1, dtype=np.int64)
    for i, v in enumerate(art_vecs):
        hits = client.search(
            lv.articles, [v.tolist()], anns_field="vector", limit=1,
            filter="deleted == false", output_fields=["dup"],
            search_params={"metric_type": "COSINE"},
        )[0]  # fmt: skip
        if hits and hits[0]["distance"] >= threshold:
            dup[i] = hits[0]["entity"]["dup"] if hits[0]["entity"]["dup"] >= 0 else hits[0]["row"]
    for g in duplicate_groups(art_vecs, threshold):
        root = min([first + g[0], *[int(dup[j]) for j in g if dup[j] >= 0]])
        dup[g] = root
    return dup
