"""A :class:`~search.syntax.ParsedQuery` as a Whoosh query, built from its clauses directly.

Whoosh's ``QueryParser`` costs ~0.2 ms a clause (tagging, filters, group building) — ~2 ms of
a long query's 5–10 ms keyword leg. Each clause is a word, a phrase or a prefix in one field
or in ``title`` and ``text``, so its Whoosh leaves are made here as the parser would make them:
the field's analyzer (``mode="query"``) gives the tokens (a prefix is one token); one token
is a ``Term`` (or ``Prefix``), several a ``Phrase`` (the schema's
``multitoken_query="phrase"``), none nothing; the fields are OR-ed and normalized. A word
holding a character some parser plugin reads (quotes, ``:``, a leading sign, …) is still
handed to the parser, so the result is the parser's in every case
(``tests/test_clause_query.py`` compares them).
"""

from __future__ import annotations

import functools
import re

from whoosh import query

from .query_plan import prefix_text
from .syntax import Clause, ParsedQuery

__all__ = ["ClauseQueries"]

# A word no parser plugin reads specially: word characters and punctuation no plugin tags, a
# sign only inside (the plus/minus plugin reads one after a space), an apostrophe only after a
# word character (the single-quote plugin starts at a non-word one). No quotes, ':', '*',
# parentheses, brackets, '~', '^', '<', '>' or backslashes.
_PLAIN = re.compile(r"(?:[\w.,/;?!$%&#@=|]|(?<=\w)'|(?<=\S)[+\-])+")
_OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE", "REQUIRE"})


class ClauseQueries:
    """Whoosh queries for parsed queries over ``fields`` (``parser`` for the rest)."""

    def __init__(self, schema, parser, fields: tuple[str, ...]) -> None:
        self._schema = schema
        self._parser = parser
        self._fields = fields
        # Fields whose leaves are made from cached tokens: analyzed once per word and shared
        # by fields with the same analyzer (title and text); others ask the parser's term_query.
        self._same_analyzer = {
            f: next(g for g in fields if schema[g].analyzer is schema[f].analyzer)
            for f in fields
            if schema[f].analyzer is not None
            and not schema[f].self_parsing()
            and schema[f].multitoken_query.lower() == "phrase"
            and parser.phraseclass is query.Phrase
        }
        self._tokens = functools.lru_cache(maxsize=16384)(self._analyze)
        self._prefix = functools.lru_cache(maxsize=4096)(
            lambda field, text: prefix_text(self._schema[field].analyzer, text)
        )

    def whoosh_query(self, parsed: ParsedQuery) -> query.Query:
        """The Whoosh query for ``parsed`` (before NOT fix-ups and cost checks).

        Clauses are combined as Whoosh's own operator rules would (AND binds closest; +
        required, - excluded, NOT negates the next clause). Syntax beyond the documented set
        goes to Whoosh's full parser as typed (in a prose query, AND / NOT lower-cased)."""
        if parsed.advanced or not parsed.clauses:
            return self._parser.parse(parsed.whoosh_text)
        optional: list[query.Query] = []
        required: list[query.Query] = []
        banned: list[query.Query] = []
        last: list[query.Query] | None = None
        for c in parsed.clauses:
            node = self.clause(c)
            if c.and_before and last:
                last[-1] = query.And([last[-1], node])
                continue
            if c.sign == "NOT":
                node = query.Not(node)  # a negated member of the OR group, as Whoosh has it
            last = {"-": banned, "+": required}.get(c.sign, optional)
            last.append(node)
        # normalize() merges an Or's Or children into it, copying each leaf (deepcopy: ~40% of
        # the time here); merged beforehand, the leaves are the same and nothing is copied.
        group: query.Query = query.Or(_merged(optional))
        if required:
            group = query.AndMaybe(query.And(required), group)
        if banned:
            group = query.AndNot(group, query.Or(_merged(banned)))
        return group.normalize()

    def clause(self, c: Clause) -> query.Query:
        """One clause alone, as ``parser.parse(c.syntax)`` gives it (normalized)."""
        if not c.phrase and (not _PLAIN.fullmatch(c.text) or c.text in _OPERATOR_WORDS):
            return self._parser.parse(c.syntax)
        leaves = []
        for field in (c.field,) if c.field else self._fields:
            leaf = self._leaf(field, c)
            if leaf is not None:
                leaves.append(leaf)
        return query.Or(leaves).normalize()

    def _analyze(self, field: str, text: str) -> tuple[str, ...]:
        """The field analyzer's tokens of ``text`` in query mode."""
        return tuple(t.text for t in self._schema[field].analyzer(text, mode="query"))

    def _leaf(self, field: str, c: Clause) -> query.Query | None:
        key = self._same_analyzer.get(field)
        if key is not None:  # what the parser's term_query / phrase node make of the tokens
            if c.prefix and not c.phrase:  # what the parser's prefix node gives (Parser)
                text = self._prefix(key, c.text)
                return None if text is None else query.Prefix(field, text)
            texts = self._tokens(key, c.text)
            if c.phrase:
                return query.Phrase(field, list(texts), slop=1)
            if len(texts) > 1:  # the schema's multitoken_query="phrase"
                return query.Phrase(field, list(texts))
            if not texts:
                return None
            return query.Term(field, texts[0])
        if c.phrase:  # the phrase plugin: the field's tokens, slop 1
            words = [t.text for t in self._schema[field].tokenize(c.text, mode="query")]
            return query.Phrase(field, words, slop=1)
        if c.prefix:  # the prefix plugin's node: the whole text one token, stop words kept
            return self._parser.term_query(
                field, c.text, query.Prefix, tokenize=False, removestops=False
            )
        return self._parser.term_query(field, c.text, query.Term)


def _merged(nodes: list[query.Query]) -> list[query.Query]:
    """``nodes`` with each plain ``Or`` replaced by its children, as ``Or.normalize`` does."""
    out: list[query.Query] = []
    for node in nodes:
        if type(node) is query.Or and node.boost == 1.0:
            out.extend(node.subqueries)
        else:
            out.append(node)
    return out
