"""Issue #17, class 3: every ingest stage is linear or bounded on hostile input.

Work is measured in characters handed to the token counter (deterministic), not in seconds;
``bench/hostile.py`` times a 400 KB one-"word" record through ``newsearch add``.
"""

from __future__ import annotations

import pytest

from search import htmlpage
from search.htmlpage import PageTooBig, html_record, within_budget
from search.models import Article
from search.paragraphs import approx_tokens, split_article, split_sentences


class _Counting:
    def __init__(self) -> None:
        self.chars = 0

    def __call__(self, text: str) -> int:
        self.chars += len(text)
        return approx_tokens(text)


@pytest.mark.parametrize(
    "text",
    ["ab," * 133_333, "." * 400_000, "x. " * 133_333, "a" * 200 + "," * 399_800],
    ids=["ab-comma", "dots", "short-sentences", "punctuation-run"],
)
def test_splitting_a_400_kb_word_is_linear(text: str) -> None:
    counter = _Counting()
    pieces = split_article(Article(id="x", title="t", paragraphs=(text,)), counter)
    assert all(approx_tokens(p.text) <= 200 for p in pieces)
    assert "".join(p.text.replace(" ", "") for p in pieces) == text.replace(" ", "")
    # A binary search over the whole word counted ~10^9 characters here.
    assert counter.chars < 40 * len(text)


def test_sentence_boundaries_unchanged_by_the_linear_regex(monkeypatch) -> None:
    import re

    from search import paragraphs

    texts = [
        "Wait... What? Yes!! \u201cNo.\u201d Then (he left.) Done. U.S. troops left.",
        "Mr. Smith said so.  J. F. Kennedy spoke. Dec. 5 was cold.",
        "It rose 3.5 pct. The Fed?! (Yes.) [Maybe.] 'Quote.' End",
        "A.B.C. Corp said. It is ... . . . Next one! ?! Last",
    ]
    new = [split_sentences(t) for t in texts]
    old = re.compile(
        r"[.!?\u2026]+[\"'\u201d\u2019)\]]*\s+(?=[\"'\u201c\u2018(\[]*[A-Z0-9\u00c0-\u00de])"
    )
    monkeypatch.setattr(paragraphs, "_BOUNDARY", old)
    assert new == [split_sentences(t) for t in texts]
    assert len(new[0]) > 5
    assert len(split_sentences("." * 100_000 + " Next")) == 2


def test_html_budget_tames_attributes_and_refuses_huge_pages() -> None:
    attrs = " ".join(f'a{i}="v"' for i in range(40_000))
    body = "<p>" + "Enough words for an article body here. " * 10 + "</p>"
    page = f"<html><body><div {attrs} id='main'>{body}</div></body></html>"
    tamed = within_budget(page)
    assert len(tamed) < 5_000 and 'a63="v"' in tamed and 'a64="v"' not in tamed
    assert html_record(page) is not None  # 13 s before, now a fraction of a second
    with pytest.raises(PageTooBig, match="characters"):
        within_budget("x" * (htmlpage.MAX_HTML_CHARS + 1))
    with pytest.raises(PageTooBig, match="HTML elements"):
        within_budget("<b>x</b>" * (htmlpage.MAX_ELEMENTS + 1))
