"""The fast paths of issue #6 give the answers of the slow ones they replace.

* the numpy keyword scorer ranks and scores as Whoosh's own (exhaustive) search,
* cached highlighting marks the same spans as running the analyzer over the paragraph,
* the did-you-mean lexicon finds the same candidates as Whoosh's ``terms_within``,
* the int8 shortlist scan returns the exact scan's neighbours and scores.
"""

from __future__ import annotations

import numpy as np
import pytest
from whoosh import query

from search import keyword, store
from search.keyword import (
    ANALYZER,
    KeywordDoc,
    KeywordIndex,
    filter_query,
    term_plan,
    term_spans,
    update_index,
    write_index,
)
from search.models import Query
from search.suggest import edit_cost
from search.vectors import VectorStore

QUERIES = [
    "Idlib",
    "Turkish parliament budget",
    "ceasefire talks in Syria",
    "title:ceasefire",
    '"de-escalation zone"',
    "de-escalation",
    "Moscow -Syria",
    "Syria NOT Idlib",
    "cease*",
    "parl* budget",
    "Erdoğan Çavuşoğlu",
    "Cavusoglu",
    "the of and",
    "zzzunknownword",
]
FILTERS = [(None, None, ()), ("2019-01-01", "2019-01-31", ()), ("2019-01-10", None, ())]


def whoosh_ranking(kw: KeywordIndex, text: str, filters) -> list[tuple[int, float]]:
    """Exhaustive Whoosh search (no top-k collector), best first, ties by docnum."""
    q, _ = kw.parse(text)
    if q is None:
        return []
    q = keyword.cap_prefixes(q)
    allow = filter_query(*filters)
    off = 0.0
    if allow is not None:
        q = query.And([q, query.ConstantScoreQuery(allow, 1.0)])
        off = 1.0
    hits = kw._searcher().search(q, limit=None)
    ranked = sorted(
        ((h.score - off, h.docnum, h["row"]) for h in hits), key=lambda x: (-x[0], x[1])
    )
    return [(row, score) for score, _, row in ranked]


def same(a: list[tuple[int, float]], b: list[tuple[int, float]]) -> bool:
    return [r for r, _ in a] == [r for r, _ in b] and np.allclose(
        [s for _, s in a], [s for _, s in b], rtol=1e-9, atol=1e-9
    )


@pytest.fixture(scope="module")
def kw(settings, built_index) -> KeywordIndex:
    return KeywordIndex(store.current_generation(settings.index_dir) / "whoosh")


@pytest.mark.parametrize("filters", FILTERS)
def test_fast_keyword_path_ranks_as_whoosh(kw, filters):
    planned = 0
    for text in QUERIES:
        q, _ = kw.parse(text)
        if q is not None and term_plan(q) is not None:
            planned += 1
        got = kw.search(text, 1000, *filters).hits
        assert same(got, whoosh_ranking(kw, text, filters)), text
    assert planned >= len(QUERIES) - 3  # the fast path is what gets exercised


def test_fast_keyword_path_limit_and_ties(kw):
    full = kw.search("Syria", 1000).hits
    assert len(full) > 3
    for limit in (1, 2, 3):
        assert kw.search("Syria", limit).hits == full[:limit]


def test_fast_keyword_path_skips_deleted_documents(tmp_path):
    docs = [
        KeywordDoc(0, "a1", "Oil prices", "Oil prices rose sharply in Vienna."),
        KeywordDoc(1, "a1", "Oil prices", "Oil ministers met again."),
        KeywordDoc(2, "a2", "Gold", "Gold and oil both fell."),
        KeywordDoc(3, "a3", "Wheat", "Wheat harvest, no oil mentioned twice: oil."),
    ]
    write_index(tmp_path / "ix", docs)
    update_index(tmp_path / "ix", ["a1"], [KeywordDoc(4, "a4", "Oil", "Oil again.")])
    kw = KeywordIndex(tmp_path / "ix")
    try:
        for text in ("oil", "oil -gold", '"oil prices"', "oi*"):
            got = kw.search(text, 10).hits
            assert same(got, whoosh_ranking(kw, text, (None, None, ()))), text
            assert not {r for r, _ in got} & {0, 1}, text
    finally:
        kw.close()


def test_unplanned_queries_still_use_whoosh(kw, monkeypatch):
    calls = []
    monkeypatch.setattr(keyword, "term_plan", lambda q: calls.append(q))
    assert kw.search("Idlib", 10).hits
    assert calls


TEXTS = [
    "Erdoğan met Çavuşoğlu in Ankara; the U.S. envoy (Mr. Jeffrey) said talks were talking.",
    "De-escalation zones: Idlib's ceasefire, 3.5% growth, 1,200 troops and co-operation.",
    "The the THE of... éléphant ÉLÉPHANT naïve café's résumé",
    "",
    "   \n\n  ",
    "Syria-Turkey-Russia talks; parliamentarians in parliament; budgets and budgeting.",
]


def old_spans(text: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    prefixes = tuple(t[:-1] for t in terms if t.endswith("*"))
    return [
        (t.startchar, t.endchar)
        for t in ANALYZER(text, chars=True)  # stop words dropped, as the index drops them
        if t.text in terms or (prefixes and t.text.startswith(prefixes))
    ]


@pytest.mark.parametrize("text", TEXTS)
def test_cached_highlighting_matches_the_analyzer(text):
    for terms in (
        frozenset(keyword.analyze("talks Cavusoglu elephant parliament syria budget")),
        frozenset({"the", "of", "u.s", "3.5", "cafe", "parliament*", "de", "escal"}),
        frozenset({"talk*", "co*"}),
        frozenset(),
    ):
        assert term_spans(text, terms) == (old_spans(text, terms) if terms else [])


def test_spelling_lexicon_finds_what_a_full_scan_finds(kw):
    """The numpy prefilter of ``IndexLexicon.near`` loses no candidate: compared with the
    weighted distance to every word of the spelling field (and with Whoosh's own Levenshtein
    automaton for what it can see: same first letter, no transpositions)."""
    reader = kw._searcher().reader()
    lex = kw.lexicon()
    words = [b.decode() for b in reader.lexicon("spell_text")]
    probes = words[::3] + [w[:-1] + "x" for w in words[::5] if len(w) > 3]
    probes += [w[0] + w[2:] for w in words[::7] if len(w) > 4] + ["idlb", "escalaton", "zz"]
    probes += [w[1] + w[0] + w[2:] for w in words[::11] if len(w) > 3]  # first letters swapped
    for w in probes:
        for limit in (1.0, 2.0):
            got = dict(lex.near(w, limit))
            assert all(c == edit_cost(w, x, limit) <= limit for x, c in got.items()), w
            if limit == 1.0:  # at most two plain edits: the prefilter's bound is exact
                full = {x for x in words if x[0] == w[0] and edit_cost(w, x, limit) <= limit}
                swapped = w[1:2] + w[:1] + w[2:]
                if swapped in words and w[:1] != w[1:2]:
                    full.add(swapped)
                assert set(got) == full, w
            lev = set(reader.terms_within("spell_text", w, 2, prefix=1))
            assert {x for x in lev if edit_cost(w, x, limit) <= limit} <= set(got), w


def test_suggestion_for_misspelled_query_and_not_for_prefixes(settings, built_index):
    from search.engine import Engine

    engine = Engine.open(settings)
    # "Idlib" is in one paragraph, never with "ceasefire": only the typo it earns is fixed.
    assert engine.search(Query("Idlb ceasfire")).suggestion == "Idlb ceasefire"
    assert engine.search(Query("Idlb de-escalaton")).suggestion == "Idlib de-escalation"
    assert engine.search(Query("Idlib ceasefire")).suggestion is None
    assert engine.search(Query("cease*")).suggestion is None
    assert engine.search(Query("ceasf*")).suggestion is None  # a prefix is not a misspelling


def test_int8_shortlist_scan_matches_exact_scan(monkeypatch):
    pytest.importorskip("openvino")
    rng = np.random.default_rng(5)
    m = rng.standard_normal((4000, 48)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    fast, exact = VectorStore(m, "int8", min_rows=0), VectorStore(m, "exact")
    alive = rng.random(len(m)) > 0.4
    for i in range(12):
        qv = m[rng.integers(len(m))] + 0.3 * rng.standard_normal(48).astype(np.float32)
        qv /= np.linalg.norm(qv)
        for k in (1, 10, 400, 5000):
            for mask in (None, alive):
                a, b = fast.search(qv, k, mask), exact.search(qv, k, mask)
                assert [r for r, _ in a] == [r for r, _ in b], (i, k)
                assert np.allclose([s for _, s in a], [s for _, s in b], atol=1e-5)
    assert fast._scan is not None, "the int8 scan was not used"
    assert fast.search(m[0], 5, np.zeros(len(m), dtype=bool)) == []
    assert fast.search(m[0], 0) == []


def test_phrase_matching_keeps_the_time_budget(settings, built_index):
    path = store.current_generation(settings.index_dir) / "whoosh"
    slow = KeywordIndex(path, time_budget=0.0)
    try:
        res = slow.search('"de-escalation zone" Idlib', 100)
        assert res.timed_out  # reported, as the Whoosh collector's budget was
        assert res.hits  # the terms still rank
    finally:
        slow.close()
    kw = KeywordIndex(path)
    try:
        first = kw.search('"de-escalation zone"', 100)
        assert not first.timed_out
        assert kw.search('"de-escalation zone"', 100).hits == first.hits  # cached phrase
    finally:
        kw.close()


def test_prepare_builds_first_use_state(settings, built_index):
    path = store.current_generation(settings.index_dir) / "whoosh"
    kw = KeywordIndex(path)
    try:
        kw.prepare()
        assert kw._scored._dead is not None and set(kw._scored._lengths) == {"title", "text"}
        assert kw.lexicon()._groups
        assert kw.search("Idlib", 5).hits
    finally:
        kw.close()
