"""newsearch's query syntax as Milvus requests: BM25 text, filter expressions, phrase checks.

The syntax is read by ``search/syntax.py``; this module turns its clauses into Milvus terms.
Milvus sees only analyzed terms (``keyword.analyze``, hex-encoded by ``milvus_store``), so a
query is analyzed here the same way. Supported like the embedded backend: words (OR, BM25),
``"quoted phrases"`` and ``+word`` / ``a AND b`` (required), ``title:word`` (required, in the
title), ``-word`` / ``NOT word`` / ``-"a phrase"`` (excluded). Milvus has no positional
phrase query, so phrases are narrowed with ``text_match`` on every word and checked for
adjacency here. Prefixes (``word*``) have no sparse equivalent: Unsupported (a 400).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..keyword import analyze
from ..syntax import parse_syntax
from .base import Unsupported
from .milvus_store import encode_term, quote


@dataclass(frozen=True)
class Parsed:
    should: tuple[str, ...] = ()  # encoded terms scored by BM25 in both fields
    title: tuple[str, ...] = ()  # encoded terms required in the title (title:word)
    required: tuple[str, ...] = ()  # encoded terms required in text or title
    phrases: tuple[tuple[str, ...], ...] = ()  # encoded, required, adjacency checked
    excluded: tuple[tuple[str, ...], ...] = ()  # encoded words / phrases
    terms: frozenset[str] = field(default_factory=frozenset)  # analyzed, for highlighting

    @property
    def searchable(self) -> bool:
        return bool(self.should or self.title or self.required or self.phrases)

    def text_query(self) -> str:
        words = [*self.should, *self.required, *(w for p in self.phrases for w in p)]
        return " ".join(dict.fromkeys(words))

    def title_query(self) -> str:
        return " ".join(dict.fromkeys([*self.text_query().split(), *self.title]))


def parse(text: str, strict: bool = True) -> Parsed:
    """The query's clauses (:func:`search.syntax.parse_syntax`) as analyzed, encoded Milvus
    terms; raises Unsupported for prefixes (``strict=False``: read as words)."""
    should: list[str] = []
    title: list[str] = []
    required: list[str] = []
    phrases: list[tuple[str, ...]] = []
    excluded: list[tuple[str, ...]] = []
    terms: set[str] = set()
    last: list[str] | None = None  # the previous positive word's terms (for "a AND b")
    for c in parse_syntax(text).clauses:
        if c.and_before and last:
            for w in last:
                if w in should:
                    should.remove(w)
            required.extend(last)
        if strict and c.prefix:
            raise Unsupported(
                f"prefix search ({c.text}*) is not supported by the milvus backend; "
                "type the whole word"
            )
        analyzed = analyze(c.text)
        enc = tuple(encode_term(t) for t in analyzed)
        if not enc:
            continue
        if c.negated:
            excluded.append(enc)
            continue
        terms.update(analyzed)
        if c.field == "title":
            title.extend(enc)
            last = None
        elif c.phrase and len(enc) > 1:
            phrases.append(enc)
            last = None
        elif c.phrase or c.sign == "+" or c.and_before:
            required.extend(enc)
            last = None
        else:
            should.extend(enc)
            last = list(enc)
    return Parsed(tuple(dict.fromkeys(should)), tuple(dict.fromkeys(title)),
                  tuple(dict.fromkeys(required)), tuple(phrases), tuple(excluded),
                  frozenset(terms))  # fmt: skip


def exclusion(words: str) -> tuple[str, ...]:
    """An excluded word or phrase of ``Filters.exclude``, analyzed and encoded."""
    return tuple(encode_term(t) for t in analyze(words))


def _match(field_: str, words: tuple[str, ...]) -> str:
    return " and ".join(f"text_match({field_}, {quote(w)})" for w in words)


def required_expr(q: Parsed) -> list[str]:
    """Filter clauses every hit must satisfy (words of phrases narrowed, checked later)."""
    out = [f"text_match(tterms, {quote(w)})" for w in q.title]
    out += [
        f"(text_match(terms, {quote(w)}) or text_match(tterms, {quote(w)}))" for w in q.required
    ]
    for p in q.phrases:
        out.append(f"(({_match('terms', p)}) or ({_match('tterms', p)}))")
    return out


def excluded_words_expr(words: tuple[tuple[str, ...], ...]) -> str | None:
    """Filter matching paragraphs that hold any excluded single word (text or title)."""
    single = [w[0] for w in words if len(w) == 1]
    if not single:
        return None
    joined = quote(" ".join(single))  # text_match with several words: any of them
    return f"(text_match(terms, {joined}) or text_match(tterms, {joined}))"


def has_phrase(terms: str, phrase: tuple[str, ...]) -> bool:
    """True when ``phrase`` occurs as consecutive tokens of the stored ``terms``."""
    return f" {' '.join(phrase)} " in f" {terms} "


def filter_expr(date_from: str | None, date_to: str | None, sources: tuple[str, ...]) -> list[str]:
    from ..facets import date_number

    out = []
    if date_from:
        out.append(f"date >= {date_number(date_from)}")
    if date_to:
        out.append(f"date > 0 and date <= {date_number(date_to)}")
    if sources:
        out.append(f"source in [{', '.join(quote(s) for s in sources)}]")
    return out
