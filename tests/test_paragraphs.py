"""Paragraph sizing: nothing over max_tokens, sentence-aware splits, short fragments merged."""

from __future__ import annotations

import random

import pytest

from search.models import Article
from search.paragraphs import approx_tokens, split_article, split_sentences


def words(text: str) -> int:
    return len(text.split())


def wordpiece_like(text: str) -> int:
    """A stricter counter than ``words``: punctuation counts, plus [CLS] and [SEP]."""
    return approx_tokens(text) + 2


def article(*paragraphs: str, id: str = "a1") -> Article:
    return Article(id=id, title="Title", paragraphs=tuple(paragraphs))


SENTENCES = [
    "The U.S. withdrawal was announced on Dec. 19 by the White House.",
    "Mr. Lavrov said the talks would go on.",
    "Growth was 3.5 percent in the third quarter, the ministry said.",
    '"We will continue close cooperation," he said.',
    "Officials from both countries met in Moscow for several hours.",
    "Is this the end of the war?",
    "Nobody knows yet!",
]


def test_split_sentences_respects_abbreviations_and_decimals() -> None:
    assert split_sentences(" ".join(SENTENCES)) == SENTENCES


def test_split_sentences_edge_cases() -> None:
    assert split_sentences("He met John F. Kennedy. Then he left.") == [
        "He met John F. Kennedy.",
        "Then he left.",
    ]
    assert split_sentences("e.g. this is lowercase. it does not split.") == [
        "e.g. this is lowercase. it does not split."
    ]
    # Spaced-out upper-case text (the TIME corpus): "U.S ." and "DEC ." are not ends.
    assert split_sentences(
        "THE U.S . FIRST PROPOSED IT (TIME, DEC . 28) . BUT EUROPE WAITED ."
    ) == [
        "THE U.S . FIRST PROPOSED IT (TIME, DEC . 28) .",
        "BUT EUROPE WAITED .",
    ]
    assert split_sentences("") == []


def test_long_paragraph_split_at_sentence_boundaries() -> None:
    text = " ".join(SENTENCES * 6)
    max_tokens = 40
    assert approx_tokens(text) > 4 * max_tokens
    paragraphs = split_article(article(text), approx_tokens, max_tokens=max_tokens, min_tokens=5)
    assert len(paragraphs) > 4
    assert all(approx_tokens(p.text) <= max_tokens for p in paragraphs)
    assert " ".join(p.text for p in paragraphs) == text  # nothing lost, order kept
    allowed = set(SENTENCES)
    for p in paragraphs:
        # Every piece is a run of whole sentences: never cut after "U.S." or "Mr." etc.
        assert set(split_sentences(p.text)) <= allowed
        assert not p.text.endswith(("U.S.", "Dec.", "Mr.", "3."))


def test_pieces_are_balanced_not_a_stub_at_the_end() -> None:
    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(11))
    paragraphs = split_article(article(text), words, max_tokens=40, min_tokens=1)
    sizes = [words(p.text) for p in paragraphs]
    assert sum(sizes) == 77
    # Greedy would give 35 + 35 + 7; the same number of pieces, evened out:
    assert sizes == [28, 28, 21]


def test_giant_sentence_split_by_words() -> None:
    vocabulary = ["alpha", "beta", "gamma", "delta", "epsilon"]
    rng = random.Random(3)
    text = " ".join(rng.choice(vocabulary) for _ in range(1000))  # no punctuation at all
    paragraphs = split_article(article(text), words, max_tokens=64, min_tokens=12)
    assert all(words(p.text) <= 64 for p in paragraphs)
    assert " ".join(p.text for p in paragraphs).split() == text.split()
    assert len(paragraphs) == 16  # ceil(1000 / 64)


def test_special_tokens_counted_once_per_piece() -> None:
    def with_specials(text: str) -> int:  # like a tokenizer adding [CLS] and [SEP]
        return len(text.split()) + 2

    text = " ".join(f"Sentence number {i} has exactly seven words." for i in range(8))
    paragraphs = split_article(article(text), with_specials, max_tokens=30, min_tokens=1)
    # 56 words fit in two pieces of 28 (+2 = 30), not three as summing 9 per sentence would say.
    assert [with_specials(p.text) for p in paragraphs] == [30, 30]


def test_giant_word_split_by_characters() -> None:
    blob = "x" * 1000

    def chars(text: str) -> int:
        return len(text)

    paragraphs = split_article(article(f"See {blob} here."), chars, max_tokens=300, min_tokens=1)
    assert all(len(p.text) <= 300 for p in paragraphs)
    assert "".join(p.text for p in paragraphs).replace(" ", "") == f"See{blob}here."


def test_short_fragment_merged_with_previous() -> None:
    paragraphs = split_article(
        article(
            "Before the meeting, the minister said that they came to Russia to hold talks.",
            '"Thus we made progress," he said.',
            "With our Russian partners, we will discuss what we can do in Syria, he added.",
        ),
        words,
        max_tokens=40,
        min_tokens=8,
    )
    assert [p.text for p in paragraphs] == [
        "Before the meeting, the minister said that they came to Russia to hold talks. "
        '"Thus we made progress," he said.',
        "With our Russian partners, we will discuss what we can do in Syria, he added.",
    ]


def test_short_first_fragment_merged_with_next() -> None:
    paragraphs = split_article(
        article("Breaking news.", "The rest of the story follows here in some detail."),
        words,
        max_tokens=40,
        min_tokens=5,
    )
    assert [p.text for p in paragraphs] == [
        "Breaking news. The rest of the story follows here in some detail."
    ]


def test_short_fragment_kept_alone_when_merging_would_overflow() -> None:
    long_a, long_b = " ".join(["a"] * 10), " ".join(["b"] * 10)
    paragraphs = split_article(
        article(long_a, "Short.", long_b), words, max_tokens=10, min_tokens=3
    )
    assert [p.text for p in paragraphs] == [long_a, "Short.", long_b]


def test_ids_sequential_and_article_id_with_colon() -> None:
    paragraphs = split_article(
        article(
            *(f"Paragraph {i} is long enough to stand on its own." for i in range(5)),
            id="enwikinews:Some_story",
        ),
        words,
        max_tokens=40,
        min_tokens=3,
    )
    assert [p.n for p in paragraphs] == [0, 1, 2, 3, 4]
    assert [p.id for p in paragraphs] == [f"enwikinews:Some_story:{n}" for n in range(5)]
    assert all(p.article_id == "enwikinews:Some_story" for p in paragraphs)
    assert paragraphs[3].id.rsplit(":", 1) == ["enwikinews:Some_story", "3"]


def test_empty_paragraphs_give_nothing() -> None:
    assert split_article(article("", "  \n "), words) == []


@pytest.mark.parametrize("max_tokens", [16, 25, 60, 200])
def test_never_over_max_with_any_counter(max_tokens: int) -> None:
    rng = random.Random(max_tokens)
    pool = [*SENTENCES, "A.", "Yes!", "x" * 90, "Short quote, he said."]
    paras = [" ".join(rng.choice(pool) for _ in range(rng.randrange(1, 30))) for _ in range(20)]
    for counter in (approx_tokens, wordpiece_like, words):
        result = split_article(article(*paras), counter, max_tokens=max_tokens, min_tokens=8)
        assert result and all(counter(p.text) <= max_tokens for p in result)
        assert [p.n for p in result] == list(range(len(result)))
        joined = " ".join(p.text for p in result).replace(" ", "")
        assert joined == " ".join(paras).replace(" ", "")


def test_approx_tokens() -> None:
    assert approx_tokens("") == 0
    assert approx_tokens("Hello, world!") == 6  # 4 tokens * 1.3 = 5.2, rounded up
    assert approx_tokens(" ".join(["word"] * 100)) == 130


def test_invalid_limits_rejected() -> None:
    with pytest.raises(ValueError):
        split_article(article("Some text."), words, max_tokens=5, min_tokens=10)


def test_counter_where_joining_costs_more_still_fits() -> None:
    def chars(text: str) -> int:  # the joining spaces count too: the sum of parts is too low
        return len(text)

    text = " ".join(SENTENCES * 3)
    paragraphs = split_article(article(text), chars, max_tokens=120, min_tokens=1)
    assert all(len(p.text) <= 120 for p in paragraphs)
    assert " ".join(p.text for p in paragraphs) == text
