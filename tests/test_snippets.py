"""Snippets (web/snippets.py), related-story cuts and the latest-news ranking: pure functions."""

from __future__ import annotations

import html

import numpy as np
import pytest

from search.facets import canonical_sources
from search.latest import latest_rows
from search.models import PeriodCount, UnknownCount
from search.related import related_stories
from web.snippets import ELLIPSIS, is_boilerplate, make_snippet, mark_spans, render


def marked(text: str, *words: str) -> str:
    """``text`` escaped with ``words`` in <mark>, the way the engine highlights."""
    out = html.escape(text)
    for w in words:
        out = out.replace(html.escape(w), f"<mark>{html.escape(w)}</mark>")
    return out


@pytest.mark.parametrize(
    "text",
    [
        "Mime artists against Brexit. Image: EliasHabermas.",
        "Jorgensen with a supporter wearing a facemask.Image: Gage Skidmore.",
        "██ Syrian Arab Republic ██",
        "██ Hare: 3",
        "—Troy Roberts",
        "((WN))  What are the recurring insults you have received because of your volunteer work?",
        "((WSS)) : How has the pandemic affected your campaign and your ability to reach voters?",
        "((Sara Seager))  Not really.",
        "By Jane Smith, Reuters correspondent in Moscow",
        "12.5 | 13.1 | 14.0 | 15.2 | 16.3 | 17.7 | 18.1 | 19.9",
    ],
)
def test_page_furniture_is_boilerplate(text):
    assert is_boilerplate(text)


@pytest.mark.parametrize(
    "text",
    [
        "Today, Russian opposition leader Alexei Navalny was airlifted from the city of Omsk.",
        'Labour Party leader Jeremy Corbyn called the move a "smash and grab on our democracy".',
        "((Christian Keysers)) We were hoping for the cingulate to be necessary, and it turned out"
        " that it was, which tells us something about how empathy works in the rat brain and why"
        " harm aversion matters.",
    ],
)
def test_real_paragraphs_are_not_boilerplate(text):
    assert not is_boilerplate(text)


def test_mark_spans_map_back_onto_the_text():
    text = 'A & B said "Idlib" <b>'
    spans = mark_spans(text, marked(text, "Idlib", "B"))
    assert [text[a:b] for a, b in spans] == ["B", "Idlib"]
    assert mark_spans(text, "something else") == []
    assert mark_spans(text, marked(text, "Idlib").replace("&lt;b&gt;", "<b>")) == []
    assert mark_spans("x", "<mark><script></mark>") == []


def test_render_escapes_every_piece():
    text = "<img src=x> Idlib & co"
    out = render(text, mark_spans(text, marked(text, "Idlib")))
    assert out == "&lt;img src=x&gt; <mark>Idlib</mark> &amp; co"


def test_snippet_is_one_or_two_sentences_around_the_best_match():
    sentences = [
        "The council met on Monday to discuss the budget for the coming year.",
        "Members argued about roads, schools and parks for several hours.",
        "Finally the mayor said the Idlib delegation would visit in March.",
        "The visit is the first since the earthquake of 2019.",
        "Tickets for the reception are sold out.",
    ]
    text = " ".join(sentences)
    snip = make_snippet(text, marked(text, "Idlib"), limit=160)
    assert snip.text == sentences[2] + " " + sentences[3]
    assert snip.cut_start and snip.cut_end
    assert str(snip.html).startswith(ELLIPSIS + " Finally") and str(snip.html).endswith(ELLIPSIS)
    assert "<mark>Idlib</mark>" in snip.html
    whole = make_snippet(sentences[0])
    assert whole.text == sentences[0] and not (whole.cut_start or whole.cut_end)


def test_an_over_long_sentence_is_cut_at_spaces_around_the_match():
    text = (
        " ".join(f"word{i}" for i in range(200))
        + " Navalny "
        + " ".join("x" * 5 for _ in range(80))
    )
    snip = make_snippet(text, marked(text, "Navalny"), limit=120)
    assert len(snip.text) <= 120 and "Navalny" in snip.text
    assert snip.cut_start and snip.cut_end
    assert not snip.text.startswith(" ") and text.find(snip.text) > 0
    assert "<mark>Navalny</mark>" in snip.html


def test_snippet_of_hostile_text_stays_escaped():
    text = "<script>alert(1)</script> evil words here. More <b>bold</b> text follows."
    snip = make_snippet(text, marked(text, "evil"))
    assert "<script>" not in snip.html and "&lt;script&gt;" in snip.html
    assert "<mark>evil</mark>" in snip.html and "<b>" not in snip.html


def test_related_stories_cut_at_the_threshold_and_collapse_copies():
    near = [(4, 0.91), (7, 0.88), (2, 0.70), (9, 0.55), (3, 0.40)]
    duplicate_of = {4: [7], 7: [4]}
    assert related_stories(near, duplicate_of, 0.6) == [(4, 0.91), (2, 0.70)]
    assert related_stories(near, {}, 0.95) == []


def test_latest_rows_newest_first_filtered_and_collapsed():
    alive = np.array([True, True, True, False, True, True])
    dates = np.array([20190101, 20200105, 0, 20210101, 20200105, 20191231])
    source_of = ["A", "B", "A", "A", "b", None]
    date_of = ["2019-01-01", "2020-01-05", None, "2021-01-01", "2020-01-05", "2019-12-31"]
    page = latest_rows(alive, dates, source_of, date_of, {1: [4], 4: [1]}, limit=10)
    assert page.rows == [4, 5, 0, 2], "deleted row 3 out; 1 collapsed into 4; undated last"
    assert page.total == 4 and page.collapsed == {4: [1]}
    # Facets count the articles listed (1 folded into 4), the undated one apart: they add up.
    assert sum(f.count for f in page.facets.date) == 3
    assert page.facets.unknown == [UnknownCount("source", 1), UnknownCount("date", 1)]
    chosen = latest_rows(alive, dates, source_of, date_of, {}, date_from="2020-01-01")
    assert chosen.total == 2 and chosen.facets.date == [
        PeriodCount("2019-01", 1),
        PeriodCount("2019-12", 1),
        PeriodCount("2020-01", 2),
    ], "the date facet ignores its own filter: the other months stay to switch to"
    some = latest_rows(alive, dates, source_of, date_of, {}, sources=("A",), date_from="2019-06-01")
    assert some.rows == []
    window = latest_rows(alive, dates, source_of, date_of, {}, date_to="2019-12-31", offset=1)
    assert window.rows == [0] and window.total == 2


def test_sources_match_in_any_letter_case():
    names = ["Coastal Herald", "Reuters", "reuters"]
    assert canonical_sources(["coastal HERALD"], names) == ("Coastal Herald",)
    assert canonical_sources(["REUTERS"], names) == ("Reuters", "reuters")
    assert canonical_sources(["Nowhere"], names) == ("Nowhere",)


def test_an_interview_cue_reads_as_a_speaker():
    text = "((Sara Seager))  It's one of my life's goals to find signs of life on exoplanets."
    snip = make_snippet(text, marked(text, "exoplanets"))
    assert str(snip.html).startswith("Sara Seager: It&#39;s one of")
    assert "<mark>exoplanets</mark>" in snip.html
    hostile = make_snippet("((<b>x</b>)) some words here and more words follow on.")
    assert str(hostile.html).startswith("&lt;b&gt;x&lt;/b&gt;: some")
