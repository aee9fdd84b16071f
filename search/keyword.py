"""The keyword index: the only module that imports Whoosh (schema, writer, searcher, analyzer).

One Whoosh document per paragraph. ``row`` is the paragraph's row number in the generation,
so keyword hits line up with ``vectors.npy`` rows. ``title`` repeats the article title on every
paragraph so BM25F can weigh it and ``title:word`` works.
"""

from __future__ import annotations

import functools
import heapq
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index as windex
from whoosh import qparser, query, scoring
from whoosh.analysis import CharsetFilter, LowercaseFilter, RegexTokenizer, StemFilter, StopFilter
from whoosh.codec.whoosh3 import LENGTHS_COLUMN as _LENGTHS_COLUMN
from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.fields import ID, NUMERIC, TEXT, Schema
from whoosh.filedb import compound as _compound
from whoosh.filedb.structfile import BufferFile
from whoosh.support.charset import accent_map
from whoosh.util.numeric import byte_to_length

# Accent folding lets "Cavusoglu" find "Çavuşoğlu"; stemming lets "talks" find "talk".
ANALYZER = (
    RegexTokenizer(r"\w+(?:\.\w+)*")
    | LowercaseFilter()
    | CharsetFilter(accent_map)
    | StopFilter()
    | StemFilter()
)
_FOLD = RegexTokenizer(r"\w+") | LowercaseFilter() | CharsetFilter(accent_map)
_FILTER_SCORE = 1.0
MIN_PREFIX = 3  # "a*" would expand to every term in the index
MAX_TERMS = 64
# Terms all prefixes of one query may expand to, together: Whoosh builds one matcher per
# expanded term *before* the time budget starts counting ("con*" on a big index is thousands).
MAX_EXPANSIONS = 512
MAX_SUGGEST = 32  # unknown words of one query looked up for "did you mean" (a fuzzy scan each)
USER_FIELDS = frozenset({"title", "text", "source", "date", "article", "row"})  # not spell_text


class _View:
    """read/seek/tell over a memoryview of the mapped segment, without copying it."""

    __slots__ = ("_mv", "_pos")

    def __init__(self, mv: memoryview) -> None:
        self._mv, self._pos = mv, 0

    def read(self, n: int | None = -1) -> bytes:
        start = self._pos
        end = len(self._mv) if n is None or n < 0 else min(start + n, len(self._mv))
        self._pos = end
        return self._mv[start:end].tobytes()

    def readline(self, limit: int = -1) -> bytes:
        end = len(self._mv) if limit is None or limit < 0 else min(self._pos + limit, len(self._mv))
        i = self._pos
        while i < end and self._mv[i] != 10:
            i += 1
        return self.read(min(i + 1, end) - self._pos)

    def seek(self, pos: int, whence: int = 0) -> int:
        self._pos = (
            pos if whence == 0 else (self._pos + pos if whence == 1 else len(self._mv) + pos)
        )
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        self._mv = memoryview(b"")


class _ViewFile(BufferFile):
    """Whoosh's BufferFile copies its buffer into a BytesIO: ~80 MB per searcher at 100k
    paragraphs, one searcher per server thread (RSS 0.66 → 1.9 GiB under load). This one
    reads the mapped segment in place."""

    def __init__(self, buf: memoryview, name: str | None = None, onclose=None) -> None:  # noqa: ANN001
        self._buf, self._name, self.onclose = buf, name, onclose
        self.file = _View(buf)
        self.is_real = self.is_closed = False

    def subset(self, position: int, length: int, name: str | None = None) -> _ViewFile:
        return _ViewFile(self._buf[position : position + length], name=name or self._name)


_compound.BufferFile = _ViewFile  # used only by CompoundStorage.open_file (reading segments)


def make_schema(title_boost: float = 2.0) -> Schema:
    return Schema(
        row=NUMERIC(stored=True, unique=True, bits=32, signed=False),
        article=ID(stored=False),
        # "de-escalation" analyzes to two tokens: search them as the phrase "de escal".
        title=TEXT(analyzer=ANALYZER, field_boost=title_boost, multitoken_query="phrase"),
        # spelling=True keeps unstemmed words in "spell_text" for "did you mean".
        text=TEXT(analyzer=ANALYZER, multitoken_query="phrase", spelling=True),
        source=ID,
        date=ID,
    )


@dataclass(frozen=True)
class KeywordDoc:
    row: int
    article: str
    title: str
    text: str
    source: str | None = None
    date: str | None = None


def write_index(directory: Path, docs: Iterable[KeywordDoc], title_boost: float = 2.0) -> int:
    """Create a fresh Whoosh index in ``directory`` from ``docs``; returns the document count."""
    directory.mkdir(parents=True, exist_ok=True)
    ix = windex.create_in(str(directory), make_schema(title_boost))
    return _write(ix.writer(limitmb=256), docs, ())


def update_index(
    directory: Path, delete_articles: Iterable[str], docs: Iterable[KeywordDoc]
) -> int:
    """In a copy of a generation's index: drop articles' paragraphs, add ``docs``."""
    ix = windex.open_dir(str(directory))
    return _write(ix.writer(limitmb=128), docs, delete_articles)


def _write(writer, docs: Iterable[KeywordDoc], delete_articles: Iterable[str]) -> int:
    n = 0
    try:
        for article_id in delete_articles:
            writer.delete_by_term("article", article_id)
        for d in docs:
            writer.add_document(
                row=d.row,
                article=d.article,
                title=d.title,
                text=d.text,
                source=d.source or "",
                date=d.date or "",
            )
            n += 1
    except BaseException:
        writer.cancel()
        raise
    writer.commit()
    return n


@dataclass
class KeywordResult:
    hits: list[tuple[int, float]]  # (row, BM25F score), best first
    terms: frozenset[str]  # analyzed positive terms, for highlighting
    rewritten: bool = False  # the query could not be used as typed
    timed_out: bool = False


_WORD_RE = re.compile(rf"\w{{{MIN_PREFIX},}}|\w+(?!\*)")


class KeywordIndex:
    """A read-only searcher over one generation's Whoosh index (one searcher per thread)."""

    def __init__(self, directory: Path, time_budget: float = 1.5) -> None:
        self._ix = windex.open_dir(str(directory))
        self._budget = time_budget
        self._local = threading.local()
        self._searchers: list = []
        self._lock = threading.Lock()
        fields = ["title", "text"]
        self._parser = qparser.MultifieldParser(
            fields, self._ix.schema, group=qparser.OrGroup.factory(0.9)
        )
        # "-word" excludes, but the hyphen inside "de-escalation" is part of the word.
        self._parser.add_plugin(qparser.PlusMinusPlugin(r"(?<![^\s(])\+", r"(?<![^\s(])-"))
        for plugin in (qparser.WildcardPlugin, qparser.RangePlugin, qparser.BoostPlugin):
            self._parser.remove_plugin_class(plugin)
        self._parser.add_plugin(qparser.PrefixPlugin())
        self._plain = qparser.MultifieldParser(
            fields,
            self._ix.schema,
            group=qparser.OrGroup.factory(0.9),
            plugins=[qparser.WhitespacePlugin()],
        )
        self._plain.remove_plugin_class(qparser.FieldsPlugin)
        self._scored = _ScoredPostings(self._ix)
        self._spelling = _SpellingLexicon()

    @property
    def doc_count(self) -> int:
        return self._ix.doc_count()

    def _searcher(self):
        s = getattr(self._local, "searcher", None)
        if s is None:
            s = self._ix.searcher(weighting=scoring.BM25F())
            self._local.searcher = s
            with self._lock:
                self._searchers.append(s)
        return s

    def prepare(self) -> None:
        """Build what the first query would otherwise pay for (~0.3 s at 100k paragraphs):
        deletion mask, per-document field lengths, the did-you-mean lexicon."""
        s = self._searcher()
        self._scored.prepare(s)
        self._spelling.within(s.reader(), "a")

    def close(self) -> None:
        with self._lock:
            for s in self._searchers:
                s.close()
            self._searchers.clear()

    def parse(self, text: str) -> tuple[query.Query | None, bool]:
        """Parse user syntax. Returns (query or None when nothing is searchable, rewritten).

        Syntax errors and over-expensive parts (short prefixes, wildcards, too many terms) fall
        back to the plain words of the query; a purely negative query searches nothing.
        """
        try:
            q = _fix_not(self._parser.parse(text))
        except Exception:  # Whoosh raises assorted errors on odd syntax
            q = None
        if q is not None and _usable(q):
            return q, False
        if q is not None and _is_bounded(q) and not any(True for _ in _positive_terms(q)):
            return None, False
        words = " ".join(_WORD_RE.findall(text)[: MAX_TERMS // 2])
        q = self._plain.parse(words) if words else None
        return (q if q is not None and _usable(q) else None), True

    def search(
        self,
        text: str,
        limit: int,
        date_from: str | None = None,
        date_to: str | None = None,
        sources: tuple[str, ...] = (),
    ) -> KeywordResult:
        q, rewritten = self.parse(text)
        if q is None or q is query.NullQuery:
            return KeywordResult([], frozenset(), rewritten)
        terms = frozenset(
            t.decode() if isinstance(t, bytes) else t
            for f, t in _positive_terms(q)
            if f in ("text", "title")
        )
        s = self._searcher()
        plan = _term_plan(q)
        if plan is not None:
            allow_docs = self._scored.allowed(s, date_from, date_to, sources)
            deadline = time.monotonic() + self._budget
            hits = self._scored.top(s, plan, limit, allow_docs, deadline)
            if hits is not None:
                return KeywordResult(hits, terms, rewritten, self._scored.timed_out())
        q = _cap_prefixes(q)
        allow = _filter(date_from, date_to, sources)
        if allow is not None:
            # The filter as an AND clause scoring a constant 1 (taken off again below): a
            # FilterCollector would be bypassed by TimeLimitCollector, which feeds its child
            # directly, and Whoosh turns a constant score of 0 into 1 anyway.
            q = query.And([q, query.ConstantScoreQuery(allow, _FILTER_SCORE)])
        timed = TimeLimitCollector(
            s.collector(limit=limit), timelimit=self._budget, use_alarm=False
        )
        timed_out = False
        try:
            s.search_with_collector(q, timed)
        except TimeLimit:
            timed_out = True
        results = timed.results()
        offset = _FILTER_SCORE if allow is not None else 0.0
        hits = [(hit["row"], float(hit.score) - offset) for hit in results]
        return KeywordResult(hits, terms, rewritten, timed_out)

    def suggest(self, text: str) -> str | None:
        """The query with unknown words replaced by the closest indexed word, or None.

        A word is "unknown" when neither its stemmed form occurs in the text or title field;
        candidates come from the unstemmed spelling field, closest edit distance first, then
        the most frequent.
        """
        reader = self._searcher().reader()
        changed = False
        lookups = 0

        def fix(m: re.Match[str]) -> str:
            nonlocal changed, lookups
            word = m.group(0)
            folded = "".join(t.text for t in _FOLD(word))
            stems = analyze(word)
            if not folded or not stems or len(folded) < 3 or folded.isdigit():
                return word.lower()
            if any(reader.doc_frequency(f, st) for st in stems for f in ("text", "title")):
                return word.lower()
            lookups += 1
            if lookups > MAX_SUGGEST:
                return word.lower()
            for cands in self._spelling.within(reader, folded):  # distance 1, then 2
                if cands:
                    best = max(cands, key=lambda c: (reader.frequency("spell_text", c), c))
                    changed = True
                    return best
            return word.lower()

        # A word typed as a prefix ("mone*") is not a misspelling.
        fixed = re.sub(r"\w+(?!\w|\*)", fix, text)
        return " ".join(fixed.split()) if changed else None

    def query_terms(self, text: str) -> frozenset[str]:
        """Analyzed positive terms of a query (used to highlight semantic results too)."""
        q, _ = self.parse(text)
        if q is None:
            return frozenset()
        return frozenset(
            t.decode() if isinstance(t, bytes) else t
            for f, t in _positive_terms(q)
            if f in ("text", "title")
        )


@dataclass(frozen=True)
class _TermPlan:
    """A query Whoosh scores as a plain sum over its leaves: positive leaves OR-ed, optionally
    ``AND NOT`` an OR of excluded leaves (which adds Whoosh's constant 1.0 to every score).

    A leaf is ``(field, text)`` for a term, ``(field, words, slop)`` for a phrase (scored as
    the sum of its words' term scores, as Whoosh's span matcher does) or ``(field, "abc*",
    limit)`` for a prefix (its ``limit`` most frequent expansions, each scored as a term).
    """

    positive: tuple[tuple, ...]
    negative: tuple[tuple, ...] = ()


def _plain_leaves(q: query.Query, prefix_limit: int) -> tuple[tuple, ...] | None:
    """Leaves of a plain leaf or of an unboosted, unscaled Or of them; else None."""
    if type(q) is query.Or and q.boost == 1.0 and not q.scale and not q.minmatch:
        nodes = list(q.subqueries)
    else:
        nodes = [q]
    out = []
    for x in nodes:
        if x.boost != 1.0 or getattr(x, "fieldname", None) not in ("title", "text"):
            return None
        if type(x) is query.Term:
            out.append((x.fieldname, x.text))
        elif type(x) is query.Phrase and x.words:
            out.append((x.fieldname, tuple(x.words), x.slop))
        elif type(x) is query.Prefix and len(x.text) >= MIN_PREFIX:
            out.append((x.fieldname, x.text + "*", prefix_limit))
        else:
            return None
    return tuple(out)


def _term_plan(q: query.Query) -> _TermPlan | None:
    """The plan for ``q`` when the vectorized scorer gives Whoosh's ranking, else None
    (boosts, nested groups, wildcards and anything unusual go to Whoosh)."""
    leaves = [q] if q.is_leaf() else list(q.leaves())
    n_prefix = sum(1 for x in leaves if isinstance(x, query.Prefix))
    limit = max(1, MAX_EXPANSIONS // n_prefix) if n_prefix else 0
    pos = _plain_leaves(q, limit)
    if pos is not None:
        return _TermPlan(pos)
    if type(q) is query.And and q.boost == 1.0 and len(q.subqueries) == 2:
        a, b = q.subqueries
        if type(b) is query.Not and b.boost == 1.0:
            pos, neg = _plain_leaves(a, limit), _plain_leaves(b.query, limit)
            if pos is not None and neg is not None:
                return _TermPlan(pos, neg)
    return None


class _SpellingLexicon:
    """``terms_within(spell_text, word, d, prefix=1)`` for d = 1 and 2, without Whoosh's
    Python DFA walk (10-20 ms per distance-2 lookup at 100k paragraphs).

    Words of the spelling field are grouped by first letter with a histogram of their
    characters (hashed into 32 bins). One edit changes the histogram's L1 distance by at most
    2 and the length by at most 1, so those bounds discard most words with numpy; survivors
    get the exact (plain, no transpositions) Levenshtein distance Whoosh's automaton uses.
    """

    BINS = 32

    def __init__(self) -> None:
        self._groups: dict[str, tuple[list[str], np.ndarray, np.ndarray]] | None = None
        self._lock = threading.Lock()

    def _build(self, reader) -> dict[str, tuple[list[str], np.ndarray, np.ndarray]]:
        by_first: dict[str, list[str]] = {}
        for b in reader.lexicon("spell_text"):
            w = b.decode("utf-8") if isinstance(b, bytes) else b
            if w:
                by_first.setdefault(w[0], []).append(w)
        groups = {}
        for first, words in by_first.items():
            hist = np.zeros((len(words), self.BINS), dtype=np.int16)
            for i, w in enumerate(words):
                for c in w[1:]:
                    hist[i, ord(c) % self.BINS] += 1
            lengths = np.fromiter((len(w) for w in words), dtype=np.int32, count=len(words))
            groups[first] = (words, lengths, hist)
        return groups

    def within(self, reader, word: str) -> tuple[list[str], list[str]]:
        """(words within distance 1, within 2) that share ``word``'s first letter."""
        if self._groups is None:
            with self._lock:
                if self._groups is None:
                    self._groups = self._build(reader)
        group = self._groups.get(word[:1])
        if group is None:
            return [], []
        words, lengths, hist = group
        h = np.zeros(self.BINS, dtype=np.int16)
        for c in word[1:]:
            h[ord(c) % self.BINS] += 1
        near = (np.abs(lengths - len(word)) <= 2) & (np.abs(hist - h).sum(axis=1) <= 4)
        one, two = [], []
        for i in np.flatnonzero(near).tolist():
            d = _levenshtein(word[1:], words[i][1:], 2)
            if d <= 1:
                one.append(words[i])
            elif d == 2:
                two.append(words[i])
        return one, one + two


def _levenshtein(a: str, b: str, limit: int) -> int:
    """Edit distance (insert, delete, substitute) of ``a`` and ``b``, or ``limit + 1``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        best = i
        for j, cb in enumerate(b, start=1):
            v = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            cur[j] = v
            best = min(best, v)
        if best > limit:
            return limit + 1
        prev = cur
    return min(prev[-1], limit + 1)


class _ScoredPostings:
    """Whoosh's BM25F for plain term queries, computed with numpy.

    Whoosh scores an OR of common words one posting at a time in Python (hundreds of ms on
    100k paragraphs). Here each term's postings are decoded once into arrays of
    (docnum, BM25F score) — the same formula, statistics and encoded field lengths Whoosh
    uses — cached for the life of the (read-only) index, and a query adds them up in a dense
    array. Ties rank by docnum, as Whoosh's collector does.
    """

    MAX_FILTERS = 32
    MAX_PHRASES = 256  # (field, words, slop) -> docnums, so paging a phrase query is cheap

    def __init__(self, ix) -> None:
        self._ix = ix
        self._lock = threading.Lock()
        self._postings: dict[tuple[str, str], tuple[np.ndarray, np.ndarray] | None] = {}
        self._lengths: dict[str, np.ndarray] = {}
        self._dead: np.ndarray | None = None
        self._row_of: np.ndarray | None = None
        self._filters: dict[tuple, np.ndarray] = {}
        self._phrases: dict[tuple, np.ndarray] = {}
        self._local = threading.local()

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
        n = s.doc_count_all()
        dead = np.zeros(n, dtype=bool)
        for sub, offset in s.leaf_searchers():
            r = sub.reader()
            if r.has_deletions():
                gone = [d for d in range(r.doc_count_all()) if r.is_deleted(d)]
                dead[np.asarray(gone, dtype=np.int64) + offset] = True
        self._row_of = np.full(n, -1, dtype=np.int64)
        self._dead = dead  # set last: other threads test it without the lock

    def _field_lengths(self, s, field: str) -> np.ndarray:
        fl = self._lengths.get(field)
        if fl is None:
            lut = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)
            fl = np.zeros(s.doc_count_all(), dtype=np.float64)
            for sub, offset in s.leaf_searchers():
                r = sub.reader()
                n = r.doc_count_all()
                # The encoded length byte per document, as BM25F reads it (0 when absent).
                col = r._perdoc._cached_reader(f"_{field}_len", _LENGTHS_COLUMN)
                if col is not None:
                    b = np.fromiter((col[i] for i in range(n)), dtype=np.uint8, count=n)
                    fl[offset : offset + n] = lut[b]
            self._lengths[field] = fl
        return fl

    def _term(self, s, field: str, text: str) -> tuple[np.ndarray, np.ndarray] | None:
        """(docnums, BM25F scores) of one term's live postings; None when not indexed."""
        key = (field, text)
        if key in self._postings:
            return self._postings[key]
        ids_parts, w_parts = [], []
        btext = s.schema[field].to_bytes(text)
        for sub, offset in s.leaf_searchers():
            r = sub.reader()
            if (field, btext) not in r:
                continue
            ids, ws = _read_postings(r, field, btext)
            ids_parts.append(ids + offset)
            w_parts.append(ws)
        if not ids_parts:
            self._postings[key] = None
            return None
        ids = np.concatenate(ids_parts)
        w = np.concatenate(w_parts).astype(np.float64)
        keep = ~self._dead[ids]
        ids, w = ids[keep], w[keep]
        weighting = s.weighting
        b = weighting._field_B.get(field, weighting.B)
        k1 = weighting.K1
        idf = s.idf(field, text)
        avgfl = s.avg_field_length(field) or 1
        fl = self._field_lengths(s, field)[ids]
        scores = idf * ((w * (k1 + 1)) / (w + k1 * ((1 - b) + b * fl / avgfl)))
        out = (ids.astype(np.int32), scores)
        self._postings[key] = out
        return out

    def allowed(
        self, s, date_from: str | None, date_to: str | None, sources: tuple[str, ...]
    ) -> np.ndarray | None:
        """Boolean mask over docnums passing the date/source filter; None when unfiltered."""
        allow = _filter(date_from, date_to, sources)
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
        docs = self._phrases.get(key)
        if docs is not None:
            return docs, True
        found = []
        for i, d in enumerate(s.docs_for_query(query.Phrase(field, list(words), slop=slop))):
            found.append(d)
            if not i & 255 and time.monotonic() > deadline:
                return np.sort(np.asarray(found, dtype=np.int32)), False
        docs = np.sort(np.asarray(found, dtype=np.int32))
        if time.monotonic() > deadline:
            return docs, False
        with self._lock:
            if len(self._phrases) >= self.MAX_PHRASES:
                self._phrases.pop(next(iter(self._phrases)))
            self._phrases[key] = docs
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
        expansions = _TopPrefix(field, what[:-1], extra)._btexts(s.reader())
        parts = [self._term(s, field, field_text(s, field, b)) for b in expansions]
        parts = [p for p in parts if p is not None]
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        ids = np.concatenate([p[0] for p in parts])
        docs, inverse = np.unique(ids, return_inverse=True)
        scores = np.bincount(inverse, weights=np.concatenate([p[1] for p in parts]))
        return docs.astype(np.int32), scores

    def top(
        self,
        s,
        plan: _TermPlan,
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


def field_text(s, field: str, btext: bytes) -> str:
    """A term's text from its indexed bytes."""
    return s.schema[field].from_bytes(btext)


def _read_postings(reader, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    """All (docnum, weight) postings of a term in one segment, deleted ones included, decoded
    a block at a time (Whoosh's matcher steps through them one by one)."""
    m = reader._terms.matcher(field, btext, reader.schema[field].format, scorer=None)
    ids, ws = [], []
    read_block = getattr(m, "_read_data", None)
    if read_block is None or not hasattr(m, "_next_block"):  # not the W3 codec: step through
        while m.is_active():
            ids.append(m.id())
            ws.append(m.weight())
            m.next()
        return np.asarray(ids, dtype=np.int64), np.asarray(ws, dtype=np.float64)
    while m.is_active():
        read_block()
        data, n = m._data, m._blocklength
        if m._byteids:
            ids.append(np.asarray(data[0], dtype=np.int64))
        else:
            ids.append(np.cumsum(np.asarray(data[0], dtype=np.int64)))  # delta-coded
        w = data[1]
        if w is None:
            ws.append(np.ones(n))
        elif isinstance(w, float):
            ws.append(np.full(n, w))
        else:
            ws.append(np.asarray(w, dtype=np.float64))
        m._next_block()
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(ids), np.concatenate(ws)


def _filter(date_from: str | None, date_to: str | None, sources: tuple[str, ...]):
    parts: list[query.Query] = []
    if date_from or date_to:
        # ISO dates compare as strings; "" (no date) falls outside any range.
        parts.append(query.TermRange("date", date_from or "0000", date_to or "9999-99-99"))
    if sources:
        parts.append(query.Or([query.Term("source", s) for s in sources]))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else query.And(parts)


def _and_not(positive: query.Query, negative: query.Query) -> query.Query:
    # whoosh-reloaded 2.7.5's AndNotMatcher lets excluded documents through (seen on our test
    # corpus: "Moscow -Syria" kept a Syria paragraph); And + Not filters correctly.
    return query.And([positive, query.Not(negative)])


def _fix_not(q: query.Query) -> query.Query:
    """In an OR group, ``a b NOT c`` means (a OR b) AND NOT c, as users expect."""
    if q.is_leaf():
        return q
    children = [_fix_not(c) for c in q.children()]
    if isinstance(q, query.Or):
        neg = [c.query for c in children if isinstance(c, query.Not)]
        pos = [c for c in children if not isinstance(c, query.Not)]
        if neg and pos:
            positive = pos[0] if len(pos) == 1 else query.Or(pos)
            negative = neg[0] if len(neg) == 1 else query.Or(neg)
            return _and_not(positive, negative)
    if isinstance(q, query.Not):
        return query.Not(children[0])
    if isinstance(q, query.AndNot):
        return _and_not(children[0], children[1])
    if isinstance(q, query.AndMaybe):
        return query.AndMaybe(children[0], children[1])
    if isinstance(q, query.CompoundQuery):
        return q.__class__(children, boost=q.boost)
    return q


class _TopPrefix(query.Prefix):
    """A prefix that expands to its ``limit`` most frequent terms (Whoosh's expands to all)."""

    def __init__(self, fieldname: str, text: str, limit: int, boost: float = 1.0) -> None:
        super().__init__(fieldname, text, boost=boost)
        self.limit = limit

    def _btexts(self, ixreader):
        found = ixreader.iter_prefix(self.fieldname, self.text)
        top = heapq.nlargest(self.limit, found, key=lambda t: t[1].doc_frequency())
        return sorted(btext for btext, _ in top)


def _cap_prefixes(q: query.Query) -> query.Query:
    """Share MAX_EXPANSIONS among the query's prefixes so matcher set-up stays bounded."""
    leaves = [q] if q.is_leaf() else list(q.leaves())
    n = sum(1 for x in leaves if isinstance(x, query.Prefix))
    if not n:
        return q
    limit = max(1, MAX_EXPANSIONS // n)

    def cap(node: query.Query) -> query.Query:
        if isinstance(node, query.Prefix) and not isinstance(node, _TopPrefix):
            return _TopPrefix(node.fieldname, node.text, limit, node.boost)
        return node

    return q.accept(cap)


def _is_bounded(q: query.Query) -> bool:
    leaves = list(q.leaves()) if not q.is_leaf() else [q]
    return 0 < len(leaves) <= MAX_TERMS and not any(
        isinstance(x, (query.Wildcard, query.Regex, query.Every))
        or (isinstance(x, query.Prefix) and len(x.text) < MIN_PREFIX)
        or (x.field() is not None and x.field() not in USER_FIELDS)  # 'spell_text:"a b"' fails
        for x in leaves
    )


def _usable(q: query.Query) -> bool:
    """Bounded in cost and has at least one positive term."""
    if q is query.NullQuery or isinstance(q, query.NullQuery.__class__):
        return False
    if not any(True for _ in _positive_terms(q)):
        return False
    return _is_bounded(q) and not isinstance(q, query.Every)


def _positive_terms(q: query.Query) -> Iterable[tuple[str, str]]:
    """Terms of ``q`` that are not under a NOT (those are what a reader expects marked)."""
    if isinstance(q, query.Not):
        return
    if isinstance(q, query.AndNot):
        yield from _positive_terms(q.a)
        return
    if q.is_leaf():
        if isinstance(q, query.Prefix):
            yield q.field(), q.text + "*"  # term_spans marks every word starting with it
            return
        yield from q.iter_all_terms(phrases=True)
        return
    for child in q.children():
        yield from _positive_terms(child)


_TOKEN_RE = re.compile(r"\w+(?:\.\w+)*")  # ANALYZER's tokenizer


@functools.lru_cache(maxsize=100_000)
def _analyzed_word(word: str) -> str:
    """The analyzed form of one token of ``ANALYZER`` (stop words kept, unstemmed).

    Every filter of the chain works on one token at a time, so a word analyses the same alone
    as inside a paragraph; caching it spares re-stemming the same words in every result.
    """
    return "".join(t.text for t in ANALYZER(word, removestops=False))


def term_spans(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    """Character spans of tokens in ``text`` whose analyzed form is one of ``terms``."""
    if not terms:
        return []
    prefixes = tuple(t[:-1] for t in terms if t.endswith("*"))
    spans = []
    for m in _TOKEN_RE.finditer(text):
        form = _analyzed_word(m.group())
        if form in terms or (prefixes and form.startswith(prefixes)):
            spans.append(m.span())
    return spans


def analyze(text: str) -> list[str]:
    """Analyzed tokens of ``text`` (lower-cased, accent-folded, stemmed, stop words dropped)."""
    return [t.text for t in ANALYZER(text)]
