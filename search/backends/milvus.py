"""The Milvus backend: the seam's two legs and records from a Milvus collection pair.

``--backend milvus --milvus-uri URI``: a ``.db`` file runs Milvus Lite in-process; ``http://
host:19530`` talks to Milvus Standalone or Distributed with the same code. The collections are
written by ``milvus_write`` (layout: ``milvus_store``). Each leg is one Milvus request with the
filters (date, source, exclusions, required words) inside its expression, so ranks, fusion,
grouping, facets, highlighting and related stories stay the engine's. The keyword leg is
BM25 over newsearch's own analyzed terms in two fields, summed like BM25F (text + title with
the title's terms weighted by ``title_boost``); IDF is Milvus's (per segment in Lite), so
keyword scores differ a little from Whoosh's. Milvus scores are opaque (Lite's BM25 distances
are negative): ranks come from their order, scores are reported as absolute values.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np

from ..config import Settings
from ..facets import date_number, date_ordinal
from ..store import IndexCorrupt
from . import milvus_articles as ma
from . import milvus_query as mq
from . import milvus_search as mz
from . import milvus_store as ms
from .base import (
    ArticleKeyword,
    ArticleRecord,
    ArticleRows,
    Catalog,
    Filters,
    KeywordLeg,
    Leg,
    ParagraphRecord,
    SemanticEvidence,
    Stats,
)

__all__ = ["MilvusBackend", "open_milvus"]
log = logging.getLogger(__name__)
_ARTICLE_FIELDS = ["id", "title", "date", "source", "url", "dateline"]


def open_milvus(settings: Settings, client: Any = None) -> MilvusBackend:
    """The backend on the live collections of ``settings.milvus_collection``."""
    client = client or ms.connect(settings.milvus_uri)
    lv = ms.live(client, settings.milvus_collection)
    ms.check_format(lv)
    if lv.manifest.get("model") != settings.model_name:
        raise IndexCorrupt(
            f"Milvus index {lv.paragraphs}: built with model {lv.manifest.get('model')!r}, "
            f"this engine uses {settings.model_name!r}; rebuild it with `newsearch index`"
        )
    return MilvusBackend(client, lv, settings)


class MilvusBackend:
    name = "milvus"

    def __init__(self, client: Any, lv: ms.Live, settings: Settings) -> None:
        self._client = client
        self._live = lv
        self.settings = settings
        # Milvus Lite has no topk limit; a server caps one search at MAX_TOPK hits.
        self.topk_cap: int | None = None if ms.is_lite(settings.milvus_uri) else ms.MAX_TOPK

    @property
    def snapshot(self) -> str:
        return self._live.snapshot

    # -- filters ------------------------------------------------------------------------
    def _excluded_rows(self, items: tuple[tuple[str, ...], ...]) -> list[int]:
        """Paragraph rows whose text or article title holds an excluded word or phrase."""
        rows: set[int] = set()
        words = mq.excluded_words_expr(items)
        if words:
            rows.update(e["row"] for e in ms.scan(self._client, self._live.paragraphs, [], words))
        for phrase in (p for p in items if len(p) > 1):
            expr = mq.required_expr(mq.Parsed(phrases=(phrase,)))[0]
            for e in ms.scan(self._client, self._live.paragraphs, ["terms", "tterms"], expr):
                if mq.has_phrase(e["terms"], phrase) or mq.has_phrase(e["tterms"], phrase):
                    rows.add(int(e["row"]))
        return sorted(rows)

    def _expr(self, filters: Filters, excluded: tuple[tuple[str, ...], ...], extra=()) -> str:
        parts = mq.filter_expr(filters.date_from, filters.date_to, filters.sources)
        parts += list(extra)
        items = excluded + tuple(mq.exclusion(w) for w in filters.exclude)
        items = tuple(i for i in dict.fromkeys(items) if i)
        if items:
            rows = self._excluded_rows(items)
            if rows:
                parts.append(f"row not in {rows}")
        return " and ".join(f"({p})" for p in parts)

    @staticmethod
    def _hits(raw: Any, articles: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rows = np.fromiter((h["row"] for h in raw), dtype=np.int64, count=len(raw))
        scores = np.fromiter((abs(h["distance"]) for h in raw), dtype=np.float64, count=len(raw))
        arts = np.fromiter((h["entity"]["article"] for h in raw), dtype=np.int32, count=len(raw))
        order = np.lexsort((rows, -scores))  # best first, ties by row: deterministic
        return rows[order], scores[order], arts[order]

    # -- the legs -----------------------------------------------------------------------
    def keyword(self, text: str, filters: Filters, limit: int | None) -> KeywordLeg:
        from pymilvus import AnnSearchRequest, WeightedRanker

        q = mq.parse(text)
        if not q.searchable:
            return KeywordLeg.empty(terms=q.terms, searchable=False)
        expr = self._expr(filters, q.excluded, mq.required_expr(q))
        want = ms.MAX_TOPK if limit is None else min(limit, ms.MAX_TOPK)
        n = ms.MAX_TOPK if q.phrases else want  # phrases are checked here: fetch the lot
        fields = ["article", "terms", "tterms"] if q.phrases else ["article"]
        bm25 = {"metric_type": "BM25"}
        reqs = []
        if q.text_query():
            reqs.append(AnnSearchRequest([q.text_query()], "sparse", bm25, n, expr=expr))
        reqs.append(AnnSearchRequest([q.title_query()], "tsparse", bm25, n, expr=expr))
        pname = self._live.paragraphs
        if len(reqs) == 1:
            r = reqs[0]
            raw = self._client.search(pname, r.data, anns_field=r.anns_field, limit=n,
                                      filter=expr, output_fields=fields,
                                      search_params=bm25)[0]  # fmt: skip
        else:  # text + title summed, unnormalized: BM25F as Whoosh scores it
            ranker = WeightedRanker(1.0, 1.0, norm_score=False)
            raw = self._client.hybrid_search(pname, reqs, ranker, limit=n,
                                             output_fields=fields)[0]  # fmt: skip
        if q.phrases:
            raw = [
                h
                for h in raw
                if all(
                    mq.has_phrase(h["entity"]["terms"], p)
                    or mq.has_phrase(h["entity"]["tterms"], p)
                    for p in q.phrases
                )
            ]
        rows, scores, arts = self._hits(raw)
        found = len(rows) if len(raw) < n else None  # the whole match set was fetched
        rows, scores, arts = rows[:want], scores[:want], arts[:want]
        return KeywordLeg(
            rows,
            scores,
            arts,
            total=found,
            complete=found is not None and found <= want,
            terms=q.terms,
            searchable=True,
        )

    def semantic(
        self, vector: np.ndarray, filters: Filters, limit: int | None, floor: float | None = None
    ) -> Leg:
        n = ms.MAX_TOPK if limit is None else min(limit, ms.MAX_TOPK)
        params: dict[str, Any] = {"ef": max(2 * n, 256)}  # HNSW: wide beam, near-exact
        if floor is not None:
            params["radius"] = float(floor) - 1e-6  # Milvus keeps scores > radius
        raw = self._client.search(
            self._live.paragraphs,
            [np.asarray(vector, dtype=np.float32).tolist()],
            anns_field="vector",
            limit=n,
            filter=self._expr(filters, ()),
            output_fields=["article"],
            search_params={"metric_type": "COSINE", "params": params},
        )[0]
        rows, scores, arts = self._hits(raw)
        if floor is not None:
            keep = scores >= floor
            rows, scores, arts = rows[keep], scores[keep], arts[keep]
        complete = len(raw) < n
        return Leg(rows, scores, arts, total=len(rows) if complete else None, complete=complete)

    # -- article-level evidence (the engine's match set and ranking) --------------------
    @property
    def paragraph_articles(self) -> np.ndarray:
        """Per paragraph row its article row (−1: none), as ``ArticleKeyword.paragraph_scores``
        is indexed: what the ranking's paragraph votes group by."""
        return self._row_stats.articles.art_of_doc

    @cached_property
    def _row_stats(self) -> ma.RowStats:
        got = list(ms.scan(self._client, self._live.paragraphs, ["article", "tlen", "ttlen"],
                           batch=ms.SCAN_PAGE))  # fmt: skip
        col = lambda k: np.fromiter((e[k] for e in got), np.int64, len(got))  # noqa: E731
        n_rows = int(self._live.manifest.get("next_row", len(got)))
        return ma.row_stats(col("row"), col("article"), col("tlen"), col("ttlen"), n_rows,
                            len(self.catalog.ids))  # fmt: skip

    def keyword_articles(self, text: str) -> ArticleKeyword:
        """Every article's keyword evidence (BM25F over the article, clauses matched,
        required clauses, exclusions), as the embedded backend computes it: Milvus returns
        every paragraph holding a query word, ``milvus_articles`` counts (see there)."""
        q = mq.parse(text)  # Unsupported for prefixes
        p = ma.plan(text)
        if not q.searchable or not p.clauses:
            return ArticleKeyword(q.terms, None)
        bm25 = {"metric_type": "BM25"}
        words = [p.words()]
        every = lambda *a: mz.search_all(self._client, self._live, self.topk_cap, *a)  # noqa: E731
        body = [ma.Hit(int(h["row"]), h["entity"]["terms"].split())
                for h in every(words, "sparse", bm25, ["terms"])]  # fmt: skip
        built = float(self._live.manifest.get("settings", {}).get("title_boost", 1.0))
        repeat = max(1, round(built))  # the BM25 field holds the title's terms this often
        title = []
        for h in every(words, "tsparse", bm25, ["tterms"]):
            toks = h["entity"]["tterms"].split()
            title.append(ma.Hit(int(h["row"]), toks[: len(toks) // repeat]))
        return ma.keyword_evidence(p, body, title, self._row_stats, self.settings.title_boost,
                                   built, q.terms)  # fmt: skip

    def semantic_articles(
        self, vector: np.ndarray, exact_within: float, exact_at: Sequence[float] = ()
    ) -> SemanticEvidence:
        """The cosine of every paragraph down to the index's lowest calibrated floor, and of
        every paragraph of an article that has one there (so best and second best are exact
        for every article the match set or the ranking can use); every paragraph's when the
        index recorded no floor. The cosines are fp32-exact, so ``exact_within`` and
        ``exact_at`` need nothing more. An article with no paragraph above the floor has no
        cosine (−inf): it is in no semantic set and unranked by the semantic leg (README
        "Scaling out")."""
        n = max(int(self._live.manifest.get("next_row", 0)), 1)
        q = np.asarray(vector, dtype=np.float32)
        radius = self.semantic_radius
        if radius is None:
            cosine = {"metric_type": "COSINE", "params": {"ef": max(min(n, ms.MAX_EF), 256)}}
            hits = mz.search_all(self._client, self._live, self.topk_cap, [q.tolist()],
                                 "vector", cosine, ["article"])  # fmt: skip
            rows, cos, arts = mz.cosines(hits)
        else:
            hits = mz.within(self._client, self._live, self.topk_cap, q, radius)
            rows, cos, arts = mz.cosines(hits)
            near = np.zeros(len(self.catalog.ids), dtype=bool)
            near[arts] = True  # every paragraph of these: their seconds are exact
            of = self._row_stats.articles.art_of_doc
            every = np.flatnonzero((of >= 0) & near[np.maximum(of, 0)])
            if len(every) > len(rows):
                rows, cos, arts = mz.all_paragraphs(self._client, self._live, every, q)
        ev = ma.semantic_evidence(rows, arts, cos, n, len(self.catalog.ids))
        owners = self._row_stats.articles.art_of_doc  # row -> article (hybrid's passage vote)
        return replace(ev, article_of=owners) if len(owners) == len(ev.cosines) else ev

    @property
    def semantic_radius(self) -> float | None:
        """The lowest cosine any match-set rule reads (the recorded semantic and hybrid
        floors), or None for an index that recorded none."""
        m = self._live.manifest.get("match_set") or {}
        floors = [float(m[k]) for k in ("floor", "hybrid_floor") if k in m]
        return min(floors) if floors else None

    def query_terms(self, text: str) -> frozenset[str]:
        return mq.parse(text, strict=False).terms

    def suggest(self, text: str) -> str | None:
        return None  # Milvus exposes no term dictionary to look spellings up in

    # -- records ------------------------------------------------------------------------
    def paragraphs(self, rows: Sequence[int]) -> list[ParagraphRecord]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        got = self._client.get(self._live.paragraphs, ids=rows,
                               output_fields=["pid", "article", "text"])  # fmt: skip
        by_row = {int(e["row"]): e for e in got}
        return [
            ParagraphRecord(r, by_row[r]["pid"], int(by_row[r]["article"]), by_row[r]["text"])
            for r in rows
            if r in by_row
        ]

    def article_rows(self, article_row: int) -> np.ndarray:
        """An article's paragraph rows in reading order (from the row stats: no request)."""
        return self._by_article.get(article_row)

    @cached_property
    def _by_article(self) -> ArticleRows:
        return ArticleRows.of(self._row_stats.articles.art_of_doc, len(self.catalog.ids))

    def article_paragraphs(self, article_row: int) -> list[ParagraphRecord]:
        return self.paragraphs(self.article_rows(article_row).tolist())

    def article_row(self, article_id: str) -> int | None:
        return self._article_index.get(article_id)

    def articles(self, rows: Sequence[int]) -> list[ArticleRecord]:
        rows = [int(r) for r in rows]
        if not rows:
            return []
        got = self._client.get(self._live.articles, ids=rows, output_fields=_ARTICLE_FIELDS)
        by_row = {int(e["row"]): e for e in got}
        out = []
        for r in rows:
            e = by_row.get(r)
            if e is not None:
                out.append(
                    ArticleRecord(
                        r,
                        e["id"],
                        e["title"],
                        e["date"] or None,
                        e["source"] or None,
                        e["url"] or None,
                        e["dateline"] or None,
                    )  # fmt: skip
                )
        return out

    @cached_property
    def _articles_table(self) -> list[dict[str, Any]]:
        fields = ["id", "date", "source", "deleted", "dup"]
        table = list(ms.scan(self._client, self._live.articles, fields))
        if [e["row"] for e in table] != list(range(len(table))):
            raise IndexCorrupt(f"Milvus collection {self._live.articles}: article rows not dense")
        return table

    @cached_property
    def _article_index(self) -> dict[str, int]:
        return {e["id"]: int(e["row"]) for e in self._articles_table if not e["deleted"]}

    @cached_property
    def _article_vectors(self) -> np.ndarray:
        vecs = [e["vector"] for e in ms.scan(self._client, self._live.articles, ["vector"])]
        dim = int(self._live.manifest["dimension"])
        return np.asarray(vecs, dtype=np.float32).reshape(-1, dim)

    @cached_property
    def catalog(self) -> Catalog:
        t = self._articles_table
        groups: dict[int, list[int]] = {}
        for e in t:
            if e["dup"] >= 0 and not e["deleted"]:
                groups.setdefault(int(e["dup"]), []).append(int(e["row"]))
        duplicate_of = {
            r: [x for x in g if x != r] for g in groups.values() if len(g) > 1 for r in g
        }
        return Catalog(
            ids=[e["id"] for e in t],
            alive=np.array([not e["deleted"] for e in t], dtype=bool),
            dates=np.array([date_number(e["date"]) for e in t], dtype=np.int64),
            ordinals=np.array([date_ordinal(e["date"] or None) for e in t], dtype=np.int64),
            source_of=[e["source"] or None for e in t],
            date_of=[e["date"] or None for e in t],
            duplicate_of=duplicate_of,
            vectors=lambda: self._article_vectors,
        )

    def stats(self) -> Stats:
        m = self._live.manifest
        c = m.get("counts", {})
        return Stats(
            snapshot=self.snapshot,
            articles=int(c.get("articles", 0)),
            paragraphs=int(c.get("paragraphs", 0)),
            rows=int(m.get("next_row", c.get("rows", 0))),
            model=m["model"],
            dimension=int(m["dimension"]),
            embed_backend=m.get("settings", {}).get("embed_backend", self.settings.embed_backend),
            built_at=m.get("built_at"),
            match_set=dict(m.get("match_set") or {}),
        )

    # -- lifecycle ----------------------------------------------------------------------
    def reopen(self) -> MilvusBackend | None:
        lv = ms.live(self._client, self.settings.milvus_collection)
        if lv.snapshot == self.snapshot:
            return None
        return MilvusBackend(self._client, lv, self.settings)

    def prepare(self) -> None:
        _ = self.catalog, self._article_index, self._row_stats

    def close(self) -> None:
        pass  # the client is shared by the snapshots of one process
