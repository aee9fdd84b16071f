"""Milvus collections of one newsearch index: schema, atomic publish, reads and writes by row.

A build writes two new collections, ``<alias>_<stamp>_p`` (one entity per paragraph: ids,
display text, the analyzed terms the BM25 functions read, filters, vector) and
``<alias>_<stamp>_a`` (one per article: metadata, tombstone, duplicate group, mean vector),
flushes and loads them, then points the alias ``<alias>`` at the paragraph collection
(``alter_alias``, Milvus's own atomic switch). The paragraph collection's properties name its
article collection and hold the manifest, so one alias lookup gives a consistent pair. A failed
or killed build leaves only unaliased collections, dropped by the next build; readers never
see them. ``add``/``delete`` write the live pair in place and bump ``newsearch.writes``.

Text analysis is newsearch's own (``keyword.analyze``: accent folding, stop words, stemming;
Milvus Lite has no english analyzer): the joined terms are stored in ``terms``/``tterms`` and
Milvus's BM25 functions only split them again. Terms outside ``[a-z0-9]`` are hex-encoded so
every Milvus tokenizer keeps each one whole.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..layout import embedding_matches
from ..store import IndexCorrupt, IndexError_, IndexNotReady

log = logging.getLogger(__name__)

FORMAT = 2  # 2: per-paragraph term counts (tlen, ttlen) for article-level BM25F
MANIFEST = "newsearch.manifest"
ARTICLES = "newsearch.articles"
WRITES = "newsearch.writes"
BATCH = 1000  # entities per insert / rows per paged query
MAX_TOPK = 16_384  # Milvus's limit on one search's limit
MAX_EF = 65_536  # HNSW beam for a search over (nearly) every row
SCAN_PAGE = 16_384  # rows per paged query of small fields
RANGE_START = 1024  # first limit of a range search (grown 4× while pages come back full)
TEXT_MAX = 65_535
ID_MAX = 4_096
_PLAIN = re.compile(r"[a-z0-9]+")


class MilvusUnavailable(IndexError_):
    """The Milvus at the configured uri cannot be used (not installed, not reachable, busy)."""


def encode_term(term: str) -> str:
    """An analyzed term as one token for any Milvus tokenizer (collision-free: plain terms
    never contain ``_``, every encoded one does)."""
    return term if _PLAIN.fullmatch(term) else "x_" + term.encode("utf-8", "replace").hex()


def decode_term(token: str) -> str:
    return bytes.fromhex(token[2:]).decode("utf-8", "replace") if token.startswith("x_") else token


def connect(uri: str, token: str = "") -> Any:
    """A ``MilvusClient`` for ``uri`` (a ``.db`` file: Milvus Lite in-process; ``http://…``: a
    server), or MilvusUnavailable with one clear line."""
    if not uri:
        raise MilvusUnavailable("the milvus backend needs --milvus-uri (or NEWSEARCH_MILVUS_URI)")
    try:
        from pymilvus import MilvusClient
    except ImportError as e:
        raise MilvusUnavailable(
            f"the milvus backend needs: pip install -e '.[milvus]' ({e})"
        ) from e
    for name in ("pymilvus", "milvus_lite"):  # quiet: their errors reach us as exceptions
        logging.getLogger(name).setLevel(logging.CRITICAL)
    if uri.endswith(".db"):  # Milvus Lite's in-process gRPC server logs calls it lacks (the
        logging.getLogger("grpc._server").setLevel(logging.CRITICAL)  # client copes)
    kwargs: dict[str, Any] = {"token": token} if token else {}
    if uri.endswith(".db"):  # in-process: keepalive pings only make Lite's server send GOAWAY
        kwargs["grpc_options"] = {"grpc.keepalive_time_ms": 2**31 - 1}
    try:
        return MilvusClient(uri=uri, **kwargs)
    except Exception as e:  # pymilvus raises MilvusException / ConnectionConfigException
        hint = ""
        if uri.endswith(".db") and Path(uri).resolve().parent.is_dir():
            hint = (
                " (Milvus Lite opens a .db file in one process at a time: stop the other "
                "newsearch process, or share it with `milvus-lite server --data-dir FILE` "
                "and --milvus-uri http://127.0.0.1:19530)"
            )
        raise MilvusUnavailable(f"cannot open Milvus at {uri}: {e}{hint}") from e


def is_lite(uri: str) -> bool:
    """A ``.db`` file: Milvus Lite in-process (no topk limit, one process per file)."""
    return uri.endswith(".db")


def check_format(lv: Live) -> None:
    """IndexCorrupt with one clear line for collections an older newsearch wrote."""
    got = int(lv.manifest.get("milvus_format", 1))
    if got != FORMAT:
        raise IndexCorrupt(
            f"Milvus index {lv.paragraphs} has format {got}, this newsearch reads {FORMAT}; "
            "rebuild it with `newsearch index` (stored vectors are reused)"
        )
    if not embedding_matches(lv.manifest):  # the same rule as an embedded generation's
        raise IndexCorrupt(
            f"Milvus index {lv.paragraphs}: embedded with {lv.manifest.get('embedding')}, not "
            "the model export this engine embeds queries with; rebuild it with `newsearch index`"
        )


def _schemas(client: Any, dim: int) -> tuple[Any, Any]:
    from pymilvus import DataType, Function, FunctionType

    p = client.create_schema(auto_id=False, enable_dynamic_field=False)
    p.add_field("row", DataType.INT64, is_primary=True)
    p.add_field("article", DataType.INT64)
    p.add_field("article_id", DataType.VARCHAR, max_length=ID_MAX)
    p.add_field("pid", DataType.VARCHAR, max_length=ID_MAX + 16)
    p.add_field("text", DataType.VARCHAR, max_length=TEXT_MAX)
    p.add_field("hash", DataType.VARCHAR, max_length=64)
    for name in ("terms", "tterms"):
        p.add_field(name, DataType.VARCHAR, max_length=TEXT_MAX, enable_analyzer=True,
                    enable_match=True)  # fmt: skip
    p.add_field("tlen", DataType.INT64)  # analyzed terms in text, title (BM25F lengths)
    p.add_field("ttlen", DataType.INT64)
    p.add_field("date", DataType.INT64)  # yyyymmdd, 0 = undated
    p.add_field("source", DataType.VARCHAR, max_length=ID_MAX)
    p.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    p.add_field("tsparse", DataType.SPARSE_FLOAT_VECTOR)
    p.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    for src, out in (("terms", "sparse"), ("tterms", "tsparse")):
        p.add_function(Function(name=f"bm25_{src}", function_type=FunctionType.BM25,
                                input_field_names=[src], output_field_names=[out]))  # fmt: skip
    a = client.create_schema(auto_id=False, enable_dynamic_field=False)
    a.add_field("row", DataType.INT64, is_primary=True)
    a.add_field("id", DataType.VARCHAR, max_length=ID_MAX)
    for name in ("title", "url", "dateline"):
        a.add_field(name, DataType.VARCHAR, max_length=TEXT_MAX)
    a.add_field("date", DataType.VARCHAR, max_length=32)
    a.add_field("source", DataType.VARCHAR, max_length=ID_MAX)
    a.add_field("deleted", DataType.BOOL)
    a.add_field("dup", DataType.INT64)  # smallest row of its near-duplicate group, -1 = none
    a.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return p, a


def _index_params(client: Any, dense: str, dense_field: bool, sparse: bool) -> Any:
    ip = client.prepare_index_params()
    if sparse:
        for f in ("sparse", "tsparse"):
            ip.add_index(f, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                         params={"bm25_k1": 1.2, "bm25_b": 0.75})  # fmt: skip  # Whoosh's
    if dense_field:
        params = {"M": 16, "efConstruction": 200} if dense == "HNSW" else {}
        ip.add_index("vector", index_type=dense, metric_type="COSINE", params=params)
    return ip


@dataclass(frozen=True)
class Live:
    """The collections an alias points at, and what their build recorded."""

    paragraphs: str
    articles: str
    manifest: dict[str, Any]
    writes: int

    @property
    def snapshot(self) -> str:
        return f"{self.paragraphs}#{self.writes}"


def live(client: Any, alias: str) -> Live:
    """The live pair behind ``alias``; IndexNotReady when nothing was built yet."""
    try:
        target = client.describe_alias(alias)["collection_name"]
    except Exception as e:
        raise IndexNotReady(f"no index named {alias!r} in Milvus yet; run `newsearch index`") from e
    props = client.describe_collection(target).get("properties", {})
    try:
        lv = Live(target, props[ARTICLES], json.loads(props[MANIFEST]), int(props.get(WRITES, 0)))
    except (KeyError, ValueError) as e:
        raise IndexCorrupt(f"Milvus collection {target}: not a newsearch index ({e})") from e
    ensure_loaded(client, lv)  # Milvus Lite starts every collection released
    return lv


def ensure_loaded(client: Any, lv: Live) -> None:
    """Load the pair into memory (Milvus Lite starts every collection released)."""
    for name in (lv.paragraphs, lv.articles):
        state = str(client.get_load_state(name).get("state", ""))
        if not state.endswith("Loaded"):
            client.load_collection(name)


def create_pair(client: Any, alias: str, dim: int, dense: str) -> tuple[str, str]:
    """Two new, empty, unaliased collections for a build."""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
    pname, aname = f"{alias}_{stamp}_p", f"{alias}_{stamp}_a"
    pschema, aschema = _schemas(client, dim)
    client.create_collection(pname, schema=pschema,
                             index_params=_index_params(client, dense, True, True))  # fmt: skip
    client.create_collection(aname, schema=aschema,
                             index_params=_index_params(client, "FLAT", True, False))  # fmt: skip
    return pname, aname


def insert(client: Any, collection: str, entities: Iterator[dict[str, Any]]) -> int:
    n, batch = 0, []
    for e in entities:
        batch.append(e)
        if len(batch) >= BATCH:
            client.insert(collection, batch)
            n, batch = n + len(batch), []
    if batch:
        client.insert(collection, batch)
        n += len(batch)
    return n


def set_props(client: Any, pname: str, **props: str) -> None:
    client.alter_collection_properties(pname, properties=props)


def publish(client: Any, alias: str, pname: str, aname: str, manifest: dict[str, Any]) -> None:
    """Flush, load and describe the new pair, switch ``alias`` to it, drop what it replaced
    and anything a killed build left behind."""
    for name in (pname, aname):
        client.flush(name)
        client.load_collection(name)
    set_props(client, pname, **{MANIFEST: json.dumps(manifest), ARTICLES: aname, WRITES: "0"})
    try:
        old = client.describe_alias(alias)["collection_name"]
    except Exception:
        old = None
    if old is None:
        client.create_alias(pname, alias)
    else:
        client.alter_alias(pname, alias)
    prune(client, alias, keep=(pname, aname))


def prune(client: Any, alias: str, keep: Sequence[str]) -> None:
    """Drop this alias's collections other than ``keep`` (replaced or half-built ones)."""
    pat = re.compile(re.escape(alias) + r"_\d{20}_[pa]")
    for name in client.list_collections():
        if pat.fullmatch(name) and name not in keep:
            try:
                client.drop_collection(name)
            except Exception as e:  # e.g. still aliased by another writer's switch
                log.warning("could not drop %s: %s", name, e)


def drop_pair(client: Any, pname: str, aname: str) -> None:
    for name in (pname, aname):
        try:
            client.drop_collection(name)
        except Exception as e:
            log.warning("could not drop %s: %s", name, e)


def scan(
    client: Any, collection: str, fields: list[str], expr: str = "", batch: int = BATCH
) -> Iterator[dict[str, Any]]:
    """Every entity of ``collection`` (matching ``expr``) in primary-key order, paged by row."""
    lo = -1
    while True:
        cond = f"row > {lo}" + (f" and ({expr})" if expr else "")
        page = client.query(collection, filter=cond, output_fields=["row", *fields], limit=batch)
        if not page:
            return
        page = sorted(page, key=lambda e: e["row"])
        yield from page
        lo = int(page[-1]["row"])
        if len(page) < batch:
            return


def count(client: Any, collection: str, expr: str = "") -> int:
    res = client.query(collection, filter=expr, output_fields=["count(*)"])
    return int(res[0]["count(*)"])


def quote(value: str) -> str:
    """A string literal for a Milvus filter expression."""
    return json.dumps(value, ensure_ascii=False)
