"""Milvus searches that return every hit, never a page cut at the topk limit.

The match set needs *all* paragraphs holding a query word and *all* within the semantic floor
(``milvus.py``: ``keyword_articles``, ``semantic_articles``). A Milvus server caps one search
at ``MAX_TOPK`` hits (Milvus Lite has no cap, ``cap=None``); a full page is asked again range
by range of rows, each range at most ``cap`` rows, so no range can be cut.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import milvus_store as ms


def search_all(
    client: Any,
    lv: ms.Live,
    cap: int | None,
    data: list,
    field: str,
    params: dict,
    output: list[str],
    expr: str = "",
) -> list:
    """Every hit of one search (BM25: each paragraph holding a query term; dense with a
    radius: each within it), among the rows ``expr`` selects."""
    n = max(int(lv.manifest.get("next_row", 0)), 1)
    kw = {"anns_field": field, "output_fields": output, "search_params": params}
    limit = n if cap is None else min(n, cap)
    raw = client.search(lv.paragraphs, data, limit=limit, filter=expr, **kw)[0]
    if cap is None or len(raw) < limit:
        return list(raw)
    out: list = []
    for lo in range(0, n, cap):
        cond = f"row >= {lo} and row < {lo + cap}" + (f" and ({expr})" if expr else "")
        out.extend(client.search(lv.paragraphs, data, limit=cap, filter=cond, **kw)[0])
    return out


def within(client: Any, lv: ms.Live, cap: int | None, q: np.ndarray, radius: float) -> list:
    """Every paragraph with cosine ≥ ``radius``: range searches with a growing limit until
    one comes back short of it (then it holds them all). Milvus Lite ranks 5 × limit
    candidates before the radius cut, so the HNSW beam is that wide (a narrow one missed 4%
    of them at 100k paragraphs)."""
    n = max(int(lv.manifest.get("next_row", 0)), 1)
    params: dict[str, Any] = {"radius": radius - 1e-6}  # Milvus keeps scores > radius
    limit = min(ms.RANGE_START, n)
    while True:
        if cap is not None and limit >= cap:
            params["ef"] = ms.MAX_EF
            cosine = {"metric_type": "COSINE", "params": params}
            return search_all(client, lv, cap, [q.tolist()], "vector", cosine, ["article"])
        params["ef"] = max(min(5 * limit, ms.MAX_EF), 256)
        cosine = {"metric_type": "COSINE", "params": params}
        raw = client.search(lv.paragraphs, [q.tolist()], anns_field="vector", limit=limit,
                            output_fields=["article"], search_params=cosine)[0]  # fmt: skip
        if len(raw) < limit or limit >= n:
            return list(raw)
        limit = min(4 * limit, n)


def cosines(raw: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cosines, article rows) of dense search hits."""
    rows = np.fromiter((h["row"] for h in raw), np.int64, len(raw))
    cos = np.fromiter((h["distance"] for h in raw), np.float64, len(raw))
    arts = np.fromiter((h["entity"]["article"] for h in raw), np.int64, len(raw))
    return rows, cos, arts


def all_paragraphs(
    client: Any, lv: ms.Live, rows: np.ndarray, q: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cosines, article rows) of the paragraphs ``rows``, from their stored vectors
    (fetched by primary key: a filtered vector search cost 3-5× as much on Milvus Lite)."""
    got: list = []
    for at in range(0, len(rows), ms.SCAN_PAGE):
        ids = rows[at : at + ms.SCAN_PAGE].tolist()
        got.extend(client.get(lv.paragraphs, ids=ids, output_fields=["article", "vector"]))
    rows = np.fromiter((e["row"] for e in got), np.int64, len(got))
    arts = np.fromiter((e["article"] for e in got), np.int64, len(got))
    vecs = np.asarray([e["vector"] for e in got], dtype=np.float32).reshape(len(got), len(q))
    norms = np.linalg.norm(vecs, axis=1) * float(np.linalg.norm(q))
    cos = (vecs @ q).astype(np.float64) / np.maximum(norms, 1e-12)
    return rows, cos, arts
