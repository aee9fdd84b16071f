"""The query syntax has one reader (search/syntax.py); every leg reads its record."""

from __future__ import annotations

import numpy as np
import pytest

from search import article_bm25
from search.article_bm25 import ArticleStats
from search.backends import Unsupported
from search.backends import milvus_articles as ma
from search.backends import milvus_query as mq
from search.backends.base import query_clauses
from search.keyword import KeywordDoc, KeywordIndex, fix_not, write_index
from search.syntax import parse_syntax

# The documented syntax, and shapes around it that Whoosh's operator rules decide.
QUERIES = [
    "Brexit talks",
    "Brexit -Johnson",
    "Brexit NOT Johnson",
    'title:Brexit "withdrawal agreement" -"Boris Johnson"',
    "Israel AND Syria",
    "BORDER DISPUTE BETWEEN ISRAEL AND SYRIA .",
    "RUSSIA OR A FOUR-POWER SUMMIT",
    "COUNTRIES NOT IN NATO",
    "THE BAATH (RENAISSANCE) PARTY OF SYRIA AND IRAQ",
    "brexit talks AND deal",
    "brexit AND talks OR deal",
    "deal OR vote johnson",
    "+talks +deal vote",
    "deal +talks -vote",
    "deal NOT vote NOT johnson",
    "NOT vote",
    "-vote",
    "parl* budget",
    "pre-war de-escalation",
    "text:budget title:deal",
    'title:"trade deal" talks',
    "the of and",
    "Erdoğan Çavuşoğlu",
    "KENNEDY ADMINISTRATION PRESSURE ON NGO DINH DIEM TO STOP SUPPRESSING THE BUDDHISTS .",
    # advanced: handed to Whoosh's parser as typed
    "(brexit OR deal) AND vote",
    "source:BBC deal",
    '"brexit deal"~3',
    "deal AND -vote",
    "NOT -vote deal",
    "ab* deal",
]


def test_clauses_of_the_documented_syntax():
    p = parse_syntax('Brexit -Johnson "withdrawal agreement" title:deal OR NOT vote +talks parl*')
    assert [(c.text, c.sign) for c in p.clauses] == [
        ("Brexit", ""),
        ("Johnson", "-"),
        ("withdrawal agreement", ""),
        ("deal", ""),
        ("vote", "NOT"),
        ("talks", "+"),
        ("parl", ""),
    ]
    assert [c.syntax for c in p.positive] == [
        "Brexit",
        '"withdrawal agreement"',
        "title:deal",
        "talks",
        "parl*",
    ]
    assert p.phrases == ("withdrawal agreement",)
    assert p.says_or and p.advanced  # "OR NOT": Whoosh's operator rules decide
    assert not parse_syntax('Brexit -Johnson "withdrawal agreement" title:deal +talks').advanced
    assert p.clauses[3].field == "title" and p.clauses[4].or_before
    assert p.clauses[-1].prefix
    assert parse_syntax("Israel AND Syria").clauses[1].and_before
    # A leading or trailing operator is a word (a stop word), as Whoosh reads it.
    assert [c.text for c in parse_syntax("AND vote").clauses] == ["AND", "vote"]


@pytest.mark.parametrize(
    "text", ["(a OR b) c", "source:BBC x", '"a b"~2', "a AND -b", "NOT -b", "ab*", "a*b"]
)
def test_syntax_beyond_the_documented_set_is_marked_advanced(text):
    assert parse_syntax(text).advanced


def test_meaning_drops_excluded_clauses_only():
    assert parse_syntax("Brexit -Johnson NOT Farage").meaning == "Brexit"
    assert parse_syntax('deal NOT title:"trade war" talks').meaning == "deal talks"
    assert parse_syntax("ISRAEL AND SYRIA").meaning == "ISRAEL AND SYRIA"
    assert parse_syntax("-Johnson").meaning == "-Johnson"


def _shape(q):
    """A Whoosh query's structure, field by field (Whoosh's == ignores some of them)."""
    out = [type(q).__name__, getattr(q, "fieldname", None), getattr(q, "text", None)]
    out += [tuple(getattr(q, "words", None) or ()), getattr(q, "slop", None), q.boost]
    if not q.is_leaf():
        out.append(tuple(_shape(c) for c in q.children()))
    return tuple(out)


def test_keyword_leg_builds_the_query_whoosh_would_parse(tmp_path):
    """The Whoosh query built from the record's clauses is the one Whoosh's own parser makes
    of the typed text (so the keyword leg ranks exactly as before)."""
    write_index(tmp_path / "w", [KeywordDoc(0, "a", "Brexit deal", "talks on de-escalation")])
    kw = KeywordIndex(tmp_path / "w")
    built = 0
    for text in QUERIES:
        parsed = parse_syntax(text)
        built += not parsed.advanced
        mine = fix_not(kw.whoosh_query(parsed))
        # A prose (all-capitals) query: as Whoosh parses it with its AND / NOT lower-cased.
        whoosh = fix_not(kw._parser.parse(parsed.whoosh_text))
        assert parsed.prose or parsed.whoosh_text == text
        assert _shape(mine) == _shape(whoosh), text
    assert built >= 19


def test_milvus_reads_the_same_clauses():
    p = mq.parse('brexit AND talks "trade deal" title:vote -johnson NOT "boris johnson"')
    enc = mq.exclusion
    assert p.required == enc("brexit") + enc("talks")
    assert p.phrases == (enc("trade deal"),)
    assert p.title == enc("vote")
    assert p.excluded == (enc("johnson"), enc("boris johnson"))
    with pytest.raises(Unsupported):
        mq.parse("parl* budget")
    assert mq.parse("parl* budget", strict=False).should == enc("parl") + enc("budget")


def test_paragraph_leg_clauses_keep_a_fielded_phrase_whole():
    pos, neg, req, says_or = query_clauses('title:"trade deal" talks -"boris johnson"')
    assert pos == ['title:"trade deal"', "talks"] and req == [0]
    assert neg == ['"boris johnson"'] and not says_or


def test_slashed_words_are_alternatives():
    """'Krone/Crown' reads as the words Krone Crown, alternatives of one clause (Whoosh's
    parser makes the phrase "krone crown" of it, which an article about the crown seldom
    holds); with digits ('1987/88', '9/11') or a sign, field or operator it stays one item."""
    p = parse_syntax("Norwegian Krone/Crown")
    assert [(c.text, c.span, c.phrase, c.slash_before) for c in p.clauses] == [
        ("Norwegian", (0, 9), False, False),
        ("Krone", (10, 15), False, False),
        ("Crown", (16, 21), False, True),
    ]
    assert p.alternatives == (("Krone", "Crown"),)
    assert not p.advanced and not p.says_or
    assert parse_syntax("oil/gas/coal d").alternatives == (("oil", "gas", "coal"),)
    for text in ("1987/88 season", "9/11", "-oil/gas", "title:oil/gas", "x/", "NOT oil/gas"):
        assert "/" in "".join(c.text for c in parse_syntax(text).clauses), text
        assert not parse_syntax(text).alternatives


@pytest.mark.parametrize("text", ["krone/crown AND oil", "oil AND krone/crown"])
def test_a_slashed_word_joined_by_and_stays_one_item(text):
    """AND joins one item: 'krone/crown AND oil' split would read krone OR (crown AND oil),
    an article with krone and no oil matching. Either order reads alike: the phrase AND oil."""
    p = parse_syntax(text)
    assert not p.alternatives and not p.advanced
    assert sorted(c.text for c in p.clauses) == ["krone/crown", "oil"]
    assert p.clauses[1].and_before
    plan = ma.plan(text)
    assert plan.groups is not None and len(plan.groups) == 1  # one AND chain of two clauses
    assert sorted(c.tokens for c in plan.clauses) == sorted(
        [mq.exclusion("krone crown"), mq.exclusion("oil")]
    )


@pytest.mark.parametrize("text", ["krone/crown OR oil", "oil OR krone/crown"])
def test_a_slashed_word_next_to_or_is_alternatives_either_way(text):
    p = parse_syntax(text)
    assert p.alternatives == (("krone", "crown"),) and p.says_or and not p.advanced
    assert not any(c.and_before for c in p.clauses)


@pytest.mark.parametrize(
    "text", ["TCP/IP", "AC/DC", "km/h", "U.S./Canada", "www.bbc.co.uk/news", "and/or"]
)
def test_compounds_with_a_short_or_dotted_part_stay_one_word(text):
    """A part of 1-2 letters or with a dot: a compound or an address, not alternatives
    ('www.bbc.co.uk/news' split would search 'news', stemmed 'new': nearly every article)."""
    p = parse_syntax(text)
    assert [c.text for c in p.clauses] == [text] and not p.alternatives


def test_the_slashed_reuters_topics_still_split():
    want = {
        "Mergers/Acquisitions": ("Mergers", "Acquisitions"),
        "Netherlands Guilder/Florin": ("Guilder", "Florin"),
        "Gross National/Domestic Product": ("National", "Domestic"),
        "Heating Oil/Gas Oil": ("Oil", "Gas"),
        "Instalment Debt/Consumer Credit": ("Debt", "Consumer"),
        "Money/Foreign Exchange": ("Money", "Foreign"),
        "Norwegian Krone/Crown": ("Krone", "Crown"),
        "Zürich/Genève": ("Zürich", "Genève"),
    }
    for text, alternatives in want.items():
        assert parse_syntax(text).alternatives == (alternatives,), text


@pytest.mark.parametrize(
    "text", ["(oil) krone/crown", "source:bbc krone/crown", "KRONE/CROWN (OIL)"]
)
def test_an_advanced_query_reads_slashes_as_whoosh_does(tmp_path, text):
    """Whoosh's full parser reads an advanced query as typed (a/b: the phrase "a b"), so the
    record does too and Milvus plans the same phrase, not alternatives."""
    p = parse_syntax(text)
    assert p.advanced and not p.alternatives
    assert "krone/crown" in [c.text.lower() for c in p.clauses]
    plan = ma.plan(text)
    assert mq.exclusion("krone crown") in [c.tokens for c in plan.clauses]
    assert not any(c.alternatives for c in plan.clauses)
    write_index(tmp_path / "w", [KeywordDoc(0, "a", "Crown", "the krone fell")])
    kw = KeywordIndex(tmp_path / "w")
    assert 'text:"krone crown"' in str(fix_not(kw.whoosh_query(p)))


def test_slashed_words_reach_every_leg_as_words(tmp_path):
    write_index(tmp_path / "w", [KeywordDoc(0, "a", "Crown", "the krone fell")])
    kw = KeywordIndex(tmp_path / "w")
    mine = fix_not(kw.whoosh_query(parse_syntax("Norwegian Krone/Crown")))
    assert _shape(mine) == _shape(fix_not(kw._parser.parse("Norwegian Krone Crown")))
    assert _shape(mine) != _shape(fix_not(kw._parser.parse("Norwegian Krone/Crown")))
    assert mq.parse("Krone/Crown").should == mq.exclusion("krone") + mq.exclusion("crown")
    plan = ma.plan("Norwegian Krone/Crown")
    assert [c.tokens for c in plan.clauses] == [mq.exclusion("norwegian"), mq.exclusion("krone")]
    assert [p.tokens for p in plan.clauses[1].parts()] == [
        mq.exclusion("krone"),
        mq.exclusion("crown"),
    ]


def test_alternatives_merge_into_one_clause():
    """Clauses whose keys are alternatives of one slashed word become one clause, in the
    order of their first member; a word repeated elsewhere joins it ('Heating Oil/Gas Oil')."""
    merge = article_bm25.merge_alternatives
    assert merge(["heat", "oil", "gas"], [{"oil", "gas"}]) == [[0], [1, 2]]
    assert merge(["gas", "x", "oil"], [{"oil", "gas"}]) == [[0, 2], [1]]
    assert merge(["a", "b", "c", "d"], [{"a", "c"}, {"c", "d"}]) == [[0, 2, 3], [1]]
    assert merge(["a", "b"], []) == [[0], [1]]


def test_an_alternative_clause_scores_its_words_summed_frequencies():
    """Hand-computed BM25F: one clause of two words scores like one word holding both
    frequencies (saturated once, idf of the articles holding either)."""
    # 3 articles of 10 body words (paragraphs 0,1 -> article 0; 2 -> 1; 3 -> 2), no titles.
    stats = ArticleStats.build(
        np.array([0, 0, 1, 2]), np.array([5.0, 5.0, 10.0, 10.0]), np.zeros(4), 3
    )
    krone = ("text", np.array([0]), np.array([2.0]))  # article 0: krone x2 (paragraph 0)
    crown = ("text", np.array([1, 2]), np.array([1.0, 3.0]))  # article 0 x1, article 1 x3
    ev = article_bm25.score(stats, [[krone, crown]])
    idf = np.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # two of three articles hold either word
    want = [idf * 3 * 2.2 / (3 + 1.2), idf * 3 * 2.2 / (3 + 1.2), 0.0]
    np.testing.assert_allclose(ev.scores, want)
    assert ev.matched.tolist() == [1, 1, 0]


def test_slashed_words_match_across_an_article(built_index, settings):
    """Article-level: 'Syria/Moscow' is one clause an article matches with either word in any
    paragraph (not the phrase "syria moscow", which no article of the test corpus holds)."""
    from search.engine import Engine

    engine = Engine.open(settings)
    try:
        b = engine.backend
        slashed, words = b.keyword_articles("Syria/Moscow"), b.keyword_articles("Syria Moscow")
        phrase = b.keyword_articles('"Syria Moscow"')
        assert slashed.clauses == 1 and words.clauses == 2
        either = words.evidence.clause_hits[0] | words.evidence.clause_hits[1]
        assert slashed.evidence.clause_hits[0].tolist() == either.tolist()
        assert slashed.evidence.matched.tolist() == either.astype(int).tolist()
        both = words.evidence.matched == 2
        assert both.any() and (slashed.evidence.scores[both] > 0).all()
        assert not phrase.evidence.matched.any()
    finally:
        engine.close()


def test_a_query_in_capitals_reads_and_and_not_as_words():
    """All capitals: AND / NOT cannot be told from prose, and each takes the reading that
    excludes nothing: AND and NOT are words (stop words), OR still relaxes the match set."""
    p = parse_syntax("BORDER DISPUTE BETWEEN ISRAEL AND SYRIA .")
    assert p.prose and not p.advanced and not any(c.and_before for c in p.clauses)
    assert [c.text for c in p.clauses][3:6] == ["ISRAEL", "AND", "SYRIA"]
    assert p.meaning == p.text  # the semantic leg embeds it as typed, as before
    n = parse_syntax("EUROPEAN COUNTRIES NOT IN NATO")
    assert not n.excluded and "NOT" in [c.text for c in n.clauses]
    assert parse_syntax("RUSSIA OR A FOUR-POWER SUMMIT").says_or
    assert parse_syntax("THE BAATH (RENAISSANCE) PARTY OF SYRIA AND IRAQ").whoosh_text == (
        "THE BAATH (RENAISSANCE) PARTY OF SYRIA and IRAQ"
    )
    # Any lower-case letter: the operators are operators.
    mixed = parse_syntax("Israel AND Syria NOT Lebanon")
    assert not mixed.prose and mixed.clauses[1].and_before and mixed.clauses[2].sign == "NOT"
    long = "DISPUTE ISRAEL AND SYRIA BORDER"
    words = ("dispute", "israel", "syria", "border")  # AND: a stop word
    assert mq.parse(long).should == sum(map(mq.exclusion, words), ())
    assert mq.parse("Israel AND Syria").required == mq.exclusion("israel") + mq.exclusion("syria")


@pytest.mark.parametrize(
    "text", ["BREXIT AND NOT JOHNSON", "NATO NOT RUSSIA", "ISRAEL AND SYRIA", "EU AND UK NOT US"]
)
def test_a_short_query_in_capitals_keeps_its_operators(text):
    """Fewer than PROSE_WORDS words besides the operators is not a sentence: 'NATO NOT
    RUSSIA' excludes RUSSIA (the prose reading searched for it)."""
    p = parse_syntax(text)
    assert not p.prose
    assert any(c.negated for c in p.clauses) or any(c.and_before for c in p.clauses)
    assert "JOHNSON" not in p.meaning and "RUSSIA" not in p.meaning


@pytest.mark.parametrize(
    "text,excluded",
    [
        ("北京 NOT 上海", "上海"),
        ("مصر NOT ليبيا", "ليبيا"),
        ("2001 NOT 2002", "2002"),
        ("北京 天津 河北 山东 NOT 上海", "上海"),
        ("1984 1985 1986 1987 NOT 1988", "1988"),
    ],
)
def test_a_query_without_cased_letters_keeps_not(text, excluded):
    """Scripts without case (Chinese, Arabic, ...) and digits have no lower-case letter, but
    they are not typed in capitals: NOT still excludes."""
    p = parse_syntax(text)
    assert not p.prose and [c.text for c in p.excluded] == [excluded]
    assert mq.parse(text).excluded == (mq.exclusion(excluded),)


def test_every_time_dev_query_with_and_or_not_is_prose():
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1].parent / "shared/data/time/queries_dev.jsonl"
    if not path.exists():
        pytest.skip("no TIME data next to the checkout")
    queries = [json.loads(line)["text"] for line in path.read_text().splitlines()]
    with_ops = [q for q in queries if {"AND", "NOT"} & set(q.split())]
    assert len(with_ops) >= 10
    assert all(parse_syntax(q).prose for q in with_ops)


def test_a_query_in_capitals_has_article_level_keyword_evidence(built_index, settings):
    """'TALKS ON SYRIA AND MOSCOW' is planned as clauses over whole articles (a clause per
    word, each anywhere in the article), like 'talks on syria moscow', not as Whoosh's
    paragraph-level boolean (one clause, an article scored by its best paragraph)."""
    from search.engine import Engine

    engine = Engine.open(settings)
    try:
        b = engine.backend
        caps = b.keyword_articles("TALKS ON SYRIA AND MOSCOW")
        words = b.keyword_articles("talks on syria moscow")
        assert caps.clauses == words.clauses == 3
        assert caps.evidence.matched.tolist() == words.evidence.matched.tolist()
        np.testing.assert_allclose(caps.evidence.scores, words.evidence.scores)
        assert b.keyword_articles("Syria AND Moscow").clauses == 1  # the boolean: one clause
        assert b.keyword_articles("SYRIA AND MOSCOW").clauses == 1  # short: the operator
    finally:
        engine.close()
