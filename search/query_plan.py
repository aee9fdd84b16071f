"""Parsed Whoosh queries made safe and planned: NOT fixed up, cost bounded (prefixes capped to
their most frequent expansions, term counts), positive and negative terms, the date/source
filter as a Whoosh query, and the term plan that ``postings.py``'s numpy scorer answers."""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass

from whoosh import query
from whoosh.analysis import CompositeAnalyzer, StemFilter
from whoosh.lang.porter import stem as porter_stem

__all__ = [
    "MAX_EXPANSIONS",
    "MAX_TERMS",
    "MIN_PREFIX",
    "USER_FIELDS",
    "TermPlan",
    "TopPrefix",
    "and_not",
    "cap_prefixes",
    "filter_query",
    "fix_not",
    "is_bounded",
    "negative_terms",
    "positive_terms",
    "prefix_text",
    "whole_word_term",
    "term_plan",
    "usable",
]

MIN_PREFIX = 3  # "a*" would expand to every term in the index
# Terms all prefixes of one query may expand to, together: Whoosh builds one matcher per
# expanded term *before* the time budget starts counting ("con*" on a big index is thousands).
MAX_EXPANSIONS = 512
MAX_TERMS = 64
USER_FIELDS = frozenset({"title", "text", "source", "date", "article", "row"})  # not spell_text


@dataclass(frozen=True)
class TermPlan:
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


def term_plan(q: query.Query) -> TermPlan | None:
    """The plan for ``q`` when the vectorized scorer gives Whoosh's ranking, else None
    (boosts, nested groups, wildcards and anything unusual go to Whoosh)."""
    leaves = [q] if q.is_leaf() else list(q.leaves())
    n_prefix = sum(1 for x in leaves if isinstance(x, query.Prefix))
    limit = max(1, MAX_EXPANSIONS // n_prefix) if n_prefix else 0
    pos = _plain_leaves(q, limit)
    if pos is not None:
        return TermPlan(pos)
    if type(q) is query.And and q.boost == 1.0 and len(q.subqueries) == 2:
        a, b = q.subqueries
        if type(b) is query.Not and b.boost == 1.0:
            pos, neg = _plain_leaves(a, limit), _plain_leaves(b.query, limit)
            if pos is not None and neg is not None:
                return TermPlan(pos, neg)
    return None


def filter_query(date_from: str | None, date_to: str | None, sources: tuple[str, ...]):
    parts: list[query.Query] = []
    if date_from or date_to:
        # ISO dates compare as strings; "" (no date) falls outside any range.
        parts.append(query.TermRange("date", date_from or "0000", date_to or "9999-99-99"))
    if sources:
        parts.append(query.Or([query.Term("source", s) for s in sources]))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else query.And(parts)


class TopPrefix(query.Prefix):
    """A prefix that expands to its ``limit`` most frequent terms (Whoosh's expands to all)."""

    def __init__(self, fieldname: str, text: str, limit: int, boost: float = 1.0) -> None:
        super().__init__(fieldname, text, boost=boost)
        self.limit = limit

    def _btexts(self, ixreader):
        """The ``limit`` most frequent terms starting with the prefix, and the term of the
        prefix as a whole word (``whole_word_term``: "gas*" finds "gas", indexed "ga")."""
        found = ixreader.iter_prefix(self.fieldname, self.text)
        top = heapq.nlargest(self.limit, found, key=lambda t: t[1].doc_frequency())
        out = {btext for btext, _ in top}
        whole = whole_word_term(self.text)
        if whole != self.text and (self.fieldname, whole) in ixreader:
            out.add(whole.encode("utf-8"))
        return sorted(out)


def and_not(positive: query.Query, negative: query.Query) -> query.Query:
    # whoosh-reloaded 2.7.5's AndNotMatcher lets excluded documents through (seen on our test
    # corpus: "Moscow -Syria" kept a Syria paragraph); And + Not filters correctly.
    return query.And([positive, query.Not(negative)])


def fix_not(q: query.Query) -> query.Query:
    """In an OR group, ``a b NOT c`` means (a OR b) AND NOT c, as users expect."""
    if q.is_leaf():
        return q
    children = [fix_not(c) for c in q.children()]
    if isinstance(q, query.Or):
        neg = [c.query for c in children if isinstance(c, query.Not)]
        pos = [c for c in children if not isinstance(c, query.Not)]
        if neg and pos:
            positive = pos[0] if len(pos) == 1 else query.Or(pos)
            negative = neg[0] if len(neg) == 1 else query.Or(neg)
            return and_not(positive, negative)
    if isinstance(q, query.Not):
        return query.Not(children[0])
    if isinstance(q, query.AndNot):
        return and_not(children[0], children[1])
    if isinstance(q, query.AndMaybe):
        return query.AndMaybe(children[0], children[1])
    if isinstance(q, query.CompoundQuery):
        return q.__class__(children, boost=q.boost)
    return q


def cap_prefixes(q: query.Query) -> query.Query:
    """Share MAX_EXPANSIONS among the query's prefixes so matcher set-up stays bounded."""
    leaves = [q] if q.is_leaf() else list(q.leaves())
    n = sum(1 for x in leaves if isinstance(x, query.Prefix))
    if not n:
        return q
    limit = max(1, MAX_EXPANSIONS // n)

    def cap(node: query.Query) -> query.Query:
        if isinstance(node, query.Prefix) and not isinstance(node, TopPrefix):
            return TopPrefix(node.fieldname, node.text, limit, node.boost)
        return node

    return q.accept(cap)


def prefix_text(analyzer, text: str) -> str | None:
    """The text a ``text*`` prefix expands: ``text`` lower-cased and accent-folded as the
    analyzer does, not stemmed (None: no token). Whoosh's prefix plugin stems it, which turns a
    prefix into another: "say*" into "sai*" (every "said"), "bus*" into "bu" (too short to
    expand, so the query fell back to the word "bus" and missed "business"). What a prefix
    misses unstemmed, the stem of the whole word typed, ``TopPrefix`` adds back."""
    kw = {"mode": "query", "tokenize": False, "removestops": False}
    items = getattr(analyzer, "items", None)
    if items is not None:
        analyzer = CompositeAnalyzer(*(f for f in items if not isinstance(f, StemFilter)))
    toks = [t.text for t in analyzer(text, **kw)]
    return toks[0] if toks else None


def whole_word_term(prefix: str) -> str:
    """The indexed term of ``prefix`` read as a whole word: its stem (the Porter stemmer of
    ``keyword.ANALYZER``'s StemFilter): "gas" → "ga", "business" → "busi"."""
    return porter_stem(prefix)


def is_bounded(q: query.Query) -> bool:
    leaves = list(q.leaves()) if not q.is_leaf() else [q]
    return 0 < len(leaves) <= MAX_TERMS and not any(
        isinstance(x, (query.Wildcard, query.Regex, query.Every))
        or (isinstance(x, query.Prefix) and len(x.text) < MIN_PREFIX)
        or (x.field() is not None and x.field() not in USER_FIELDS)  # 'spell_text:"a b"' fails
        for x in leaves
    )


def usable(q: query.Query) -> bool:
    """Bounded in cost and has at least one positive term."""
    if q is query.NullQuery or isinstance(q, query.NullQuery.__class__):
        return False
    if not any(True for _ in positive_terms(q)):
        return False
    return is_bounded(q) and not isinstance(q, query.Every)


def negative_terms(q: query.Query) -> list[tuple[str, str]]:
    """``(field, text)`` of the terms under a NOT (or the right side of an AND NOT)."""
    out = []

    def walk(node: query.Query, negated: bool) -> None:
        if isinstance(node, query.Not):
            walk(node.query, True)
        elif isinstance(node, query.AndNot):
            walk(node.a, negated)
            walk(node.b, True)
        elif node.is_leaf():
            if negated:
                for f, t in node.iter_all_terms():
                    out.append((f, t.decode() if isinstance(t, bytes) else t))
        else:
            for child in node.children():
                walk(child, negated)

    walk(q, False)
    return [(f, t) for f, t in out if f in ("text", "title")]


def positive_terms(q: query.Query) -> Iterable[tuple[str, str]]:
    """Terms of ``q`` that are not under a NOT (those are what a reader expects marked)."""
    if isinstance(q, query.Not):
        return
    if isinstance(q, query.AndNot):
        yield from positive_terms(q.a)
        return
    if q.is_leaf():
        if isinstance(q, query.Prefix):
            yield q.field(), q.text + "*"  # term_spans marks every word starting with it
            if whole_word_term(q.text) != q.text:  # and the whole word (TopPrefix)
                yield q.field(), whole_word_term(q.text)
            return
        yield from q.iter_all_terms(phrases=True)
        return
    for child in q.children():
        yield from positive_terms(child)
