"""The keyword leg's fast path: Whoosh's BM25F computed with numpy over decoded postings.

Plain queries (terms, ``title:``, phrases, prefixes, ``NOT``, date/source filters) are planned
here and scored as sums of per-term ``(document, score)`` arrays, with Whoosh's own statistics,
so rankings match an exhaustive Whoosh search; anything else goes back to Whoosh in
``keyword.py``. The arrays are read from the generation's decoded postings
(``postings_file.py``), or, for an index built before those, decoded from Whoosh's postings
once per term. Whoosh is imported only by keyword.py, this module, query_plan.py,
clause_query.py, postings_file.py, postings_write.py, postings_update.py and whoosh_mmap.py.
"""

from __future__ import annotations

import threading
import time

import numpy as np
from cachetools import LRUCache
from whoosh import query

from .postings_file import PostingsFile, field_lengths
from .postings_write import dead_documents, doc_rows, read_postings
from .query_plan import TermPlan, TopPrefix, filter_query

# Per-process caches keyed by what users type are bounded by bytes, least recently used out:
# unbounded, 15k random-word queries grew a server by 180 MiB (issue #17). A term that is not
# indexed costs a small entry, so misses are cached too but cannot crowd out much.
MAX_POSTINGS_BYTES = 32 << 20
MAX_PHRASE_BYTES = 8 << 20
# What one entry costs besides its arrays: the key tuple and string plus cachetools' three
# dicts (measured ~450 bytes; counted double). At 256 a cache could hold 65k misses in
# ~30 MiB of real memory against its 16 MiB budget.
_MISS_BYTES = 1024


def _nbytes(value) -> int:
    """Bytes a cached value holds: its numpy arrays, or a small constant for a miss."""
    if value is None:
        return _MISS_BYTES
    if isinstance(value, np.ndarray):
        return value.nbytes + _MISS_BYTES
    return sum(a.nbytes for a in value) + _MISS_BYTES


class ScoredPostings:
    """Whoosh's BM25F for plain term queries, computed with numpy.

    Whoosh scores an OR of common words one posting at a time in Python (hundreds of ms on
    100k paragraphs). Here each term's postings are decoded once into arrays of
    (docnum, BM25F score) — the same formula, statistics and encoded field lengths Whoosh
    uses — cached for the life of the (read-only) index, and a query adds them up in a dense
    array. Ties rank by docnum, as Whoosh's collector does.
    """

    MAX_FILTERS = 32

    def __init__(self, ix, decoded: PostingsFile | None = None) -> None:
        self._ix = ix
        self._file = decoded  # the generation's decoded postings (None: decode Whoosh's)
        self._lock = threading.Lock()
        # (field, term) -> (docnums, scores) or None; (field, words, slop) -> docnums, so paging
        # a phrase query is cheap. Both LRU, by bytes; read and written under the lock.
        # The budget is shared by scores and the term frequencies they are computed from.
        self._postings: LRUCache = LRUCache(MAX_POSTINGS_BYTES // 2, getsizeof=_nbytes)
        self._phrases: LRUCache = LRUCache(MAX_PHRASE_BYTES, getsizeof=_nbytes)
        # (field, term) -> (docnums, term frequencies): the article-level scorer's input.
        self._tf: LRUCache = LRUCache(MAX_POSTINGS_BYTES // 2, getsizeof=_nbytes)
        self._all_rows: np.ndarray | None = None
        self._lengths: dict[str, np.ndarray] = {}
        self._dead: np.ndarray | None = None
        self._any_dead = True
        self._rows_are_docnums: bool | None = None
        self._row_of: np.ndarray | None = None
        self._filters: dict[tuple, np.ndarray] = {}
        self._local = threading.local()

    def reset_timeout(self) -> None:
        """Start a new query in this thread (``timed_out`` becomes False)."""
        self._local.timed_out = False

    def timed_out(self) -> bool:
        return getattr(self._local, "timed_out", False)

    def prepare(self, s) -> None:
        if self._dead is None:
            with self._lock:
                if self._dead is None:
                    self._setup(s)
        for field in ("title", "text"):
            self._field_lengths(s, field)

    def _setup(self, s) -> None:
        if self._file is not None:
            self._all_rows = self._file.rows
            self._row_of = self._file.rows
            dead = self._file.dead  # computed on each access: read once
            self._any_dead = bool(dead.any())
            self._dead = dead
            return
        self._row_of = np.full(s.doc_count_all(), -1, dtype=np.int64)
        dead = dead_documents(s)
        self._any_dead = bool(dead.any())
        self._dead = dead  # set last: other threads test it without the lock

    def _field_lengths(self, s, field: str) -> np.ndarray:
        fl = self._lengths.get(field)
        if fl is None and self._file is not None:
            fl = self._lengths[field] = self._file.fields[field].lengths
        elif fl is None:
            fl = self._lengths[field] = field_lengths(s, field)
        return fl

    def _term(self, s, field: str, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(docnums, BM25F scores) of one term's live postings; None when not indexed."""
        key = (field, text)
        with self._lock:
            if key in self._postings:
                return self._postings[key]
        if self._file is not None:  # one lookup: postings, Whoosh's idf recorded at build
            raw = self._decoded(s, field, text)
        else:
            raw = self.term_tf(s, field, text)
        if raw is None:
            self._remember(self._postings, key, None)
            return None
        ids, w = raw[0], raw[1]
        weighting = s.weighting
        b = weighting._field_B.get(field, weighting.B)
        k1 = weighting.K1
        if self._file is not None:  # and its average length
            idf = raw[2]
            avgfl = self._file.fields[field].avg_field_length
        else:
            idf = s.idf(field, text)
            avgfl = s.avg_field_length(field) or 1
        fl = self._field_lengths(s, field)[ids]
        scores = idf * ((w * (k1 + 1)) / (w + k1 * ((1 - b) + b * fl / avgfl)))
        out = (ids, scores)
        self._remember(self._postings, key, out)
        return out

    def _decoded(self, s, field: str, text: str) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(docnums, frequencies, idf) of a term from the decoded postings; None if absent."""
        fp = self._file.fields.get(field)
        i = fp.find(s.schema[field].to_bytes(text)) if fp is not None else -1
        if i < 0:
            return None
        ids, tf = fp.postings(i)
        return ids, tf, float(fp.idf[i])

    def term_tf(self, s, field: str, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(sorted docnums, term frequencies) of one term's live postings; None when absent."""
        if self._file is not None:  # a slice of the mapped arrays: nothing to decode or cache
            got = self._decoded(s, field, text)
            return got[:2] if got is not None else None
        key = (field, text)
        with self._lock:
            if key in self._tf:
                return self._tf[key]
        if self._dead is None:
            self.prepare(s)
        ids_parts, w_parts = [], []
        btext = s.schema[field].to_bytes(text)
        for sub, offset in s.leaf_searchers():
            r = sub.reader()
            if (field, btext) not in r:
                continue
            ids, ws = read_postings(r, field, btext)
            ids_parts.append(ids + offset)
            w_parts.append(ws)
        if not ids_parts:
            self._remember(self._tf, key, None)
            return None
        ids = np.concatenate(ids_parts)
        w = np.concatenate(w_parts).astype(np.float64)
        keep = ~self._dead[ids]
        out = (ids[keep].astype(np.int32), w[keep])
        self._remember(self._tf, key, out)
        return out

    def leaf_tf(self, s, leaf: tuple, deadline: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(sorted docnums, frequencies) of one plan leaf; None when it matches nothing.

        A phrase counts the smallest frequency of its words in each document that holds it
        (an upper bound on its occurrences); a prefix sums its expansions.
        """
        if len(leaf) == 2:
            return self.term_tf(s, *leaf)
        field, what, extra = leaf
        if isinstance(what, tuple):
            docs, complete = self._phrase_docs(s, field, what, extra, deadline)
            self._local.timed_out = getattr(self._local, "timed_out", False) or not complete
            if not len(docs):
                return None
            tf = np.full(len(docs), np.inf)
            for word in what:
                ids, w = self.term_tf(s, field, word)
                tf = np.minimum(tf, w[np.searchsorted(ids, docs)])
            return docs.astype(np.int32), tf
        expansions = TopPrefix(field, what[:-1], extra)._btexts(s.reader())
        return _summed([self.term_tf(s, field, field_text(s, field, b)) for b in expansions])

    def doc_rows(self, s) -> np.ndarray:
        """Paragraph row of every docnum (-1 for deleted documents), read once."""
        if self._all_rows is None and self._file is not None:
            self._all_rows = self._file.rows
        if self._all_rows is None:
            self._all_rows = doc_rows(s)
        return self._all_rows

    def field_lengths(self, s, field: str) -> np.ndarray:
        """Per-docnum length of ``field`` as BM25F reads it (0 when absent)."""
        return self._field_lengths(s, field)

    def paragraph_scores(self, s, plan: TermPlan, deadline: float) -> np.ndarray:
        """BM25F of every docnum for ``plan``'s positive leaves (0 where none matches)."""
        if self._dead is None:
            self.prepare(s)
        acc = np.zeros(s.doc_count_all(), dtype=np.float64)
        for leaf in plan.positive:
            got = self._leaf(s, leaf, deadline)
            if got is not None:
                acc[got[0]] += got[1]
        if self._any_dead:  # deleted documents score 0 (row_scores relies on it)
            acc[self._dead] = 0.0
        return acc

    def row_scores(self, s, plan: TermPlan, deadline: float, n_rows: int) -> np.ndarray:
        """:meth:`paragraph_scores` by paragraph row (0 for rows with no live document)."""
        acc = self.paragraph_scores(s, plan, deadline)
        rows = self.doc_rows(s)
        if self._rows_are_docnums is None:  # deleted ones score 0, their rows are -1
            live = rows >= 0
            self._rows_are_docnums = len(rows) == n_rows and bool(
                np.array_equal(rows[live], np.flatnonzero(live))
            )
        if self._rows_are_docnums and len(rows) == n_rows:  # no merge since the build
            return acc
        para = np.zeros(n_rows)
        live = rows >= 0
        para[rows[live]] = acc[live]
        return para

    def _remember(self, cache: LRUCache, key, value) -> None:
        with self._lock:
            try:
                cache[key] = value
            except ValueError:  # one value larger than the whole budget: not cached
                pass

    def cached_bytes(self) -> int:
        """Bytes held by the caches keyed by query words (for tests and benchmarks)."""
        with self._lock:
            return int(self._postings.currsize + self._phrases.currsize + self._tf.currsize)

    def docnums(self, s, field: str, text: str) -> np.ndarray:
        """Sorted live document numbers containing a term (empty when not indexed)."""
        if self._dead is None:
            self.prepare(s)
        hit = self._term(s, field, text)
        return hit[0] if hit is not None else np.zeros(0, dtype=np.int32)

    def allowed(
        self, s, date_from: str | None, date_to: str | None, sources: tuple[str, ...]
    ) -> np.ndarray | None:
        """Boolean mask over docnums passing the date/source filter; None when unfiltered."""
        allow = filter_query(date_from, date_to, sources)
        if allow is None:
            return None
        key = (date_from, date_to, tuple(sorted(sources)))
        mask = self._filters.get(key)
        if mask is None:
            mask = np.zeros(s.doc_count_all(), dtype=bool)
            docs = np.fromiter(s.docs_for_query(allow), dtype=np.int64)
            mask[docs] = True
            with self._lock:
                if len(self._filters) >= self.MAX_FILTERS:
                    self._filters.pop(next(iter(self._filters)))
                self._filters[key] = mask
        return mask

    def _phrase_docs(
        self, s, field: str, words: tuple[str, ...], slop: int, deadline: float
    ) -> tuple[np.ndarray, bool]:
        """Sorted docnums containing the phrase (cached), and whether the search finished
        before ``deadline`` (if not, the documents found so far, not cached).

        Whoosh checks positions document by document: "mln dlrs" takes ~200 ms at 100k.
        """
        key = (field, words, slop)
        with self._lock:
            docs = self._phrases.get(key)
        if docs is not None:
            return docs, True
        fp = self._file.fields.get(field) if self._file is not None and slop == 1 else None
        docs = fp.phrase_docs([s.schema[field].to_bytes(w) for w in words]) if fp else None
        if docs is not None:  # over the decoded positions, in numpy
            self._remember(self._phrases, key, docs)
            return docs, True
        found = []
        for i, d in enumerate(s.docs_for_query(query.Phrase(field, list(words), slop=slop))):
            found.append(d)
            if not i & 255 and time.monotonic() > deadline:
                return np.sort(np.asarray(found, dtype=np.int32)), False
        docs = np.sort(np.asarray(found, dtype=np.int32))
        if time.monotonic() > deadline:
            return docs, False
        self._remember(self._phrases, key, docs)
        return docs, True

    def _leaf(self, s, leaf: tuple, deadline: float) -> tuple[np.ndarray, np.ndarray] | None:
        """(sorted docnums, scores) of one plan leaf; None when it matches nothing."""
        if len(leaf) == 2:
            return self._term(s, *leaf)
        field, what, extra = leaf
        if isinstance(what, tuple):  # a phrase: Whoosh finds the documents (positions)
            docs, complete = self._phrase_docs(s, field, what, extra, deadline)
            self._local.timed_out |= not complete
            if not len(docs):
                return None
            scores = np.zeros(len(docs))
            for word in what:  # every word occurs in each matching document
                ids, sc = self._term(s, field, word)
                scores += sc[np.searchsorted(ids, docs)]
            return docs.astype(np.int32), scores
        expansions = TopPrefix(field, what[:-1], extra)._btexts(s.reader())
        parts = [self._term(s, field, field_text(s, field, b)) for b in expansions]
        return parts[0] if len(parts) == 1 else _summed(parts)

    def top(
        self,
        s,
        plan: TermPlan,
        limit: int,
        allow: np.ndarray | None = None,
        deadline: float = float("inf"),
    ) -> list[tuple[int, float]] | None:
        """The best ``limit`` (row, score), as Whoosh would rank them; None to defer to it.

        ``timed_out()`` tells whether phrase matching ran past ``deadline`` (monotonic clock)
        in this thread's last call; the ranking then covers the phrase matches found in time.
        """
        self._local.timed_out = False
        if self._dead is None:
            self.prepare(s)
        # Caches are filled without the lock: two threads may decode the same term once each.
        postings = [self._leaf(s, leaf, deadline) for leaf in plan.positive]
        excluded = [self._leaf(s, leaf, deadline) for leaf in plan.negative]
        postings = [p for p in postings if p is not None]
        if not postings or limit <= 0:
            return []
        n = s.doc_count_all()
        acc = np.zeros(n, dtype=np.float64)
        hit = np.zeros(n, dtype=bool)
        for ids, sc in postings:  # a leaf's docnums are distinct, so += adds each once
            acc[ids] += sc
            hit[ids] = True
        hit &= ~self._dead
        if plan.negative:
            for p in excluded:
                if p is not None:
                    hit[p[0]] = False
            acc += 1.0  # Whoosh's Not matcher scores a constant 1 inside the And
        if allow is not None:
            hit &= allow
        docs = np.flatnonzero(hit)
        scores = acc[docs]
        if len(docs) > limit:
            part = np.argpartition(-scores, limit - 1)[:limit]
            # Keep every document tied with the cut-off score: ties go to the lowest docnum.
            cut = scores[part].min()
            part = np.flatnonzero(scores >= cut)
            docs, scores = docs[part], scores[part]
        order = np.lexsort((docs, -scores))[:limit]
        docs, scores = docs[order], scores[order]
        rows = self._rows(s, docs)
        return [(int(r), float(sc)) for r, sc in zip(rows, scores, strict=True)]

    def _rows(self, s, docs: np.ndarray) -> np.ndarray:
        row_of = self._row_of
        missing = docs[row_of[docs] < 0]
        for d in missing.tolist():
            row_of[d] = s.stored_fields(d)["row"]
        return row_of[docs]


def _summed(parts: list) -> tuple[np.ndarray, np.ndarray] | None:
    """(docnums, values) arrays added up per document (a prefix's expansions)."""
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    ids = np.concatenate([p[0] for p in parts])
    docs, inverse = np.unique(ids, return_inverse=True)
    return docs.astype(np.int32), np.bincount(
        inverse, weights=np.concatenate([p[1] for p in parts])
    )


def field_text(s, field: str, btext: bytes) -> str:
    """A term's text from its indexed bytes."""
    return s.schema[field].from_bytes(btext)
