"""The keyword index: with ``postings.py`` (its numpy scorer), ``query_plan.py`` (what that scorer
takes) and ``whoosh_mmap.py`` (its segment reader) the only code that imports Whoosh.

One Whoosh document per paragraph. ``row`` is the paragraph's row number in the generation,
so keyword hits line up with ``vectors.npy`` rows. ``title`` repeats the article title on every
paragraph so BM25F can weigh it and ``title:word`` works.
"""

from __future__ import annotations

import functools
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
from whoosh.collectors import TimeLimit, TimeLimitCollector
from whoosh.fields import ID, NUMERIC, TEXT, Schema
from whoosh.support.charset import accent_map

from .clause_query import ClauseQueries
from .lexicon import IndexLexicon
from .postings import ScoredPostings
from .postings_file import open_postings
from .query_plan import (  # noqa: F401 - re-exported: part of this module's API
    MAX_EXPANSIONS,
    MAX_TERMS,
    MIN_PREFIX,
    USER_FIELDS,
    cap_prefixes,
    filter_query,
    fix_not,
    is_bounded,
    negative_terms,
    positive_terms,
    prefix_text,
    term_plan,
    usable,
)
from .suggest import suggest as suggest_rewrite
from .syntax import ParsedQuery, parse_syntax
from .whoosh_mmap import install_segment_reader

# Accent folding lets "Cavusoglu" find "Çavuşoğlu"; stemming lets "talks" find "talk".
ANALYZER = (
    RegexTokenizer(r"\w+(?:\.\w+)*")
    | LowercaseFilter()
    | CharsetFilter(accent_map)
    | StopFilter()
    | StemFilter()
)
_FOLD = RegexTokenizer(r"\w+") | LowercaseFilter() | CharsetFilter(accent_map)


def _fold(token: str) -> str:
    """A token as the spelling field stores it: lower-cased, accents folded."""
    return "".join(t.text for t in _FOLD(token))


_FILTER_SCORE = 1.0


# Whoosh reads compound segments through our in-place reader (RSS: see search/whoosh_mmap.py).
install_segment_reader()


class _Parser(qparser.QueryParser):
    """Whoosh's parser, with prefixes unstemmed (``query_plan.prefix_text``), as
    ``clause_query`` builds them."""

    def term_query(self, fieldname, text, termclass, boost=1.0, tokenize=True, removestops=True):
        q = super().term_query(fieldname, text, termclass, boost, tokenize, removestops)
        if termclass is query.Prefix and type(q) is query.Prefix:
            unstemmed = prefix_text(self.schema[fieldname].analyzer, text)
            if unstemmed is not None and unstemmed != q.text:
                return query.Prefix(fieldname, unstemmed, boost=boost)
        return q


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
    timed_out: bool = False


_WORD_RE = re.compile(rf"\w{{{MIN_PREFIX},}}|\w+(?!\*)")


class KeywordIndex:
    """A read-only searcher over one generation's Whoosh index (one searcher per thread)."""

    def __init__(
        self, directory: Path, time_budget: float = 1.5, postings: Path | None = None
    ) -> None:
        """``postings``: the generation's decoded postings (``postings_file.py``); None, or an
        index built before them, decodes Whoosh's postings instead (same results, slower)."""
        self._ix = windex.open_dir(str(directory))
        self._budget = time_budget
        self._local = threading.local()
        self._searchers: list = []
        self._lock = threading.Lock()
        fields = ["title", "text"]
        # Whoosh's MultifieldParser, with _Parser's prefixes
        self._parser = _Parser(None, self._ix.schema, group=qparser.OrGroup.factory(0.9))
        self._parser.add_plugin(qparser.MultifieldPlugin(fields))
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
        self._clauses = ClauseQueries(self._ix.schema, self._parser, tuple(fields))
        decoded = open_postings(postings, self._ix) if postings is not None else None
        self._scored = ScoredPostings(self._ix, decoded)
        self._lexicon: IndexLexicon | None = None

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
        self.lexicon().prepare()

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
            q = fix_not(self.whoosh_query(parse_syntax(text)))
        except Exception:  # Whoosh raises assorted errors on odd syntax
            q = None
        if q is not None and usable(q):
            return q, False
        if q is not None and is_bounded(q) and not any(True for _ in positive_terms(q)):
            return None, False
        words = " ".join(_WORD_RE.findall(text)[: MAX_TERMS // 2])
        q = self._plain.parse(words) if words else None
        return (q if q is not None and usable(q) else None), True

    def whoosh_query(self, parsed: ParsedQuery) -> query.Query:
        """The Whoosh query for ``parsed`` (before NOT fix-ups and cost checks), built from
        its clauses (``clause_query.py``); syntax beyond the documented set goes to Whoosh's
        full parser as typed."""
        return self._clauses.whoosh_query(parsed)

    def search(
        self,
        text: str,
        limit: int,
        date_from: str | None = None,
        date_to: str | None = None,
        sources: tuple[str, ...] = (),
    ) -> KeywordResult:
        q, _ = self.parse(text)
        if q is None or q is query.NullQuery:
            return KeywordResult([], frozenset())
        terms = terms_of(q)
        s = self._searcher()
        plan = term_plan(q)
        if plan is not None:
            allow_docs = self._scored.allowed(s, date_from, date_to, sources)
            deadline = time.monotonic() + self._budget
            hits = self._scored.top(s, plan, limit, allow_docs, deadline)
            if hits is not None:
                return KeywordResult(hits, terms, self._scored.timed_out())
        q = cap_prefixes(q)
        allow = filter_query(date_from, date_to, sources)
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
        return KeywordResult(hits, terms, timed_out)

    def suggest(self, text: str) -> str | None:
        """Did you mean: the query with unknown words rewritten (``search/suggest.py``), or None."""
        return suggest_rewrite(text, self.lexicon())

    def lexicon(self) -> IndexLexicon:
        """This index's spelling lexicon and co-occurrence counts (built once, then shared)."""
        lex = self._lexicon
        if lex is None:
            reader = self._searcher().reader()  # before the lock: _searcher() takes it too
            with self._lock:
                if self._lexicon is None:
                    self._lexicon = IndexLexicon(
                        reader, _fold, analyze, self._stem_docs, self._stem_indexed
                    )
                lex = self._lexicon
        return lex

    def _stem_docs(self, stem: str) -> np.ndarray:
        """Documents whose text or title contains an analyzed term."""
        s = self._searcher()
        text = self._scored.docnums(s, "text", stem)
        title = self._scored.docnums(s, "title", stem)
        if not title.size:
            return text
        return np.union1d(text, title) if text.size else title

    def _stem_indexed(self, stem: str) -> bool:
        """Whether ``_stem_docs(stem)`` is non-empty (without merging the two fields)."""
        s = self._searcher()
        return bool(self._scored.docnums(s, "text", stem).size) or bool(
            self._scored.docnums(s, "title", stem).size
        )

    def scorer(self) -> tuple[object, ScoredPostings]:
        """This thread's searcher and the numpy scorer, for the article-level scorer
        (``clauses.py``), which reads the same cached postings."""
        return self._searcher(), self._scored

    def query_terms(self, text: str) -> frozenset[str]:
        """Analyzed positive terms of a query (used to highlight semantic results too)."""
        q, _ = self.parse(text)
        return terms_of(q)


def terms_of(q: query.Query | None) -> frozenset[str]:
    """Analyzed positive terms of a parsed query, in the text and title fields."""
    if q is None:
        return frozenset()
    return frozenset(
        t.decode() if isinstance(t, bytes) else t
        for f, t in positive_terms(q)
        if f in ("text", "title")
    )


_TOKEN_RE = re.compile(r"\w+(?:\.\w+)*")  # ANALYZER's tokenizer


@functools.lru_cache(maxsize=100_000)
def _analyzed_word(word: str) -> str:
    """The analyzed form of one token of ``ANALYZER``: "" for a stop word, which the index
    never holds (kept, "US" would be marked for "using", both "us").

    Every filter of the chain works on one token at a time, so a word analyses the same alone
    as inside a paragraph; caching it spares re-stemming the same words in every result.
    """
    return "".join(t.text for t in ANALYZER(word))


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
