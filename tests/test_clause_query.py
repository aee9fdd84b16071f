"""clause_query builds each clause's Whoosh query without Whoosh's parser: it must be the
parser's query, clause by clause and for whole queries (the fast path vs the path it replaces)."""

from __future__ import annotations

import random

import pytest
from whoosh import query

from search.keyword import KeywordDoc, KeywordIndex, fix_not, write_index
from search.syntax import parse_syntax

WORDS = [
    "the", "oil", "Brexit", "de-escalation", "U.S.", "nasser's", "talks", "a", "of", "AND",
    "OR", "NOT", "REQUIRE", "Erdoğan", "c++", "co-op", "germany,", ".", "Oil/Gas", "$100",
    "3.5%", "rock'n'roll", "what?", "e-mail", "AT&T", "title:", "text:", "running*", "stop*",
]  # fmt: skip
ALPHABET = "abcXYZéçß019 ..,,//;;??!!$%&#@=|+-'\"*:()^~[]{}<>_\\\t"


def _shape(q):
    """A query's structure, field by field (Whoosh's == ignores some of them)."""
    if q is query.NullQuery:
        return "null"
    out = [type(q).__name__, getattr(q, "fieldname", None), getattr(q, "text", None)]
    out += [tuple(getattr(q, "words", None) or ()), getattr(q, "slop", None), q.boost]
    out += [getattr(q, "scale", None), getattr(q, "minmatch", None)]
    if not q.is_leaf():
        out.append(tuple(_shape(c) for c in q.children()))
    return tuple(out)


def _parsed_per_clause(kw, parsed):
    """The query as built before clause_query: Whoosh's parser run on each clause alone."""
    if parsed.advanced or not parsed.clauses:
        return kw._parser.parse(parsed.whoosh_text)
    optional, required, banned, last = [], [], [], None
    for c in parsed.clauses:
        node = kw._parser.parse(c.syntax)
        if c.and_before and last:
            last[-1] = query.And([last[-1], node])
            continue
        if c.sign == "NOT":
            node = query.Not(node)
        last = {"-": banned, "+": required}.get(c.sign, optional)
        last.append(node)
    group = query.Or(optional)
    if required:
        group = query.AndMaybe(query.And(required), group)
    if banned:
        group = query.AndNot(group, query.Or(banned))
    return group.normalize()


def _random_queries(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(1, 6)):
            if rnd.random() < 0.5:
                parts.append(rnd.choice(WORDS))
            else:
                parts.append("".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 6))))
            if rnd.random() < 0.15:
                parts[-1] = rnd.choice(["-", "+", '"', "title:", "NOT "]) + parts[-1]
        out.append(" ".join(parts))
    return out


@pytest.fixture(scope="module")
def kw(tmp_path_factory):
    d = tmp_path_factory.mktemp("cq") / "w"
    write_index(d, [KeywordDoc(0, "a", "Brexit deal", "talks on de-escalation")])
    return KeywordIndex(d)


def test_each_clause_is_what_the_parser_makes_of_it(kw):
    seen = 0
    for text in _random_queries(3000, seed=1):
        for c in parse_syntax(text).clauses:
            seen += 1
            assert _shape(kw._clauses.clause(c)) == _shape(kw._parser.parse(c.syntax)), c
    assert seen > 5000


def test_whole_queries_are_what_the_parser_per_clause_made(kw):
    plain = 0
    for text in _random_queries(3000, seed=2) + [" ".join(WORDS), '"bank of england" rate']:
        parsed = parse_syntax(text)
        plain += not parsed.advanced
        try:
            want = _shape(fix_not(_parsed_per_clause(kw, parsed)))
        except Exception as e:  # Whoosh raises on some odd syntax: so must the new path
            with pytest.raises(type(e)):
                fix_not(kw.whoosh_query(parsed))
            continue
        assert _shape(fix_not(kw.whoosh_query(parsed))) == want, text
    assert plain > 1000


def test_plain_clauses_do_not_run_the_parser(kw, monkeypatch):
    """The point of the module: words, phrases and prefixes are built without the parser."""
    calls = []
    real = kw._parser.parse
    monkeypatch.setattr(kw._parser, "parse", lambda text, **k: calls.append(text) or real(text))
    q = kw.whoosh_query(parse_syntax('Brexit "trade deal" title:vote parl* -johnson U.S. oil,'))
    assert calls == []
    assert "Phrase" in repr(q) and "Prefix" in repr(q)
    kw.whoosh_query(parse_syntax("source:BBC deal"))  # advanced: Whoosh's parser, as typed
    assert calls == ["source:BBC deal"]
