"""Issue #17, class 3: every ingest stage is linear or bounded on hostile input.

Work is measured in characters handed to the token counter (deterministic), not in seconds;
``bench/hostile.py`` times a 400 KB one-"word" record through ``newsearch add``.
"""

from __future__ import annotations

from pathlib import Path

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


# --------------------------------------------------------------------------- class 7


def _problems(path) -> list[tuple[str, str, bool]]:
    from search.ingest import read_corpus
    from search.models import Problem

    return [
        (Path(p.file).name, p.reason, p.skipped)
        for p in read_corpus([path])
        if isinstance(p, Problem)
    ]


def test_a_huge_sparse_file_is_sniffed_not_read(tmp_path) -> None:
    import tracemalloc

    big = tmp_path / "zeros.jsonl"
    with open(big, "wb") as f:
        f.truncate(2 << 30)  # 2 GB, sparse: no disk used
    tracemalloc.start()
    try:
        problems = _problems(big)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert problems == [("zeros.jsonl", "not text: binary data (control bytes)", True)]
    assert peak < 4 << 20  # was the whole file: 2.1 GB


def test_files_over_their_cap_are_refused_from_their_size(tmp_path) -> None:
    from search.sources import MAX_FILE_BYTES

    page = tmp_path / "page.txt"
    with open(page, "wb") as f:
        f.write(b"A title\n\n" + b"Plain words of text. " * 3000)
        f.truncate(MAX_FILE_BYTES[".txt"] + 1)
    [(name, reason, skipped)] = _problems(page)
    assert name == "page.txt" and skipped
    assert reason.startswith("file is 5.0 MB, over the 5 MB limit for .txt files")


def test_line_formats_are_streamed(tmp_path) -> None:
    import tracemalloc

    from search.ingest import read_corpus

    row = "id{n},Title {n}," + "word " * 400 + "\n"
    csv_file = tmp_path / "big.csv"
    with open(csv_file, "w", encoding="utf-8") as f:
        f.write("id,title,text\n")
        for n in range(4000):  # ~8 MB
            f.write(row.format(n=n))
    tracemalloc.start()
    try:
        count = sum(1 for _ in read_corpus([csv_file]))  # articles not kept
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 4000
    assert peak < 4 << 20  # reading it whole held bytes + text: > 16 MB


def test_symlinks_out_of_the_folder_are_reported_and_skipped(tmp_path) -> None:
    from search.ingest import read_corpus
    from search.models import Article

    outside, corpus = tmp_path / "outside", tmp_path / "corpus"
    (outside / "deep").mkdir(parents=True)
    corpus.mkdir()
    secret = '{"id": "secret", "title": "Secret", "text": "Private notes of the operator."}\n'
    (outside / "secret.jsonl").write_text(secret, encoding="utf-8")
    (outside / "deep" / "more.jsonl").write_text(secret.replace("secret", "more"), "utf-8")
    story = '{"id": "ok", "title": "Fine", "text": "A story inside the folder."}\n'
    (corpus / "story.jsonl").write_text(story, encoding="utf-8")
    (corpus / "link.jsonl").symlink_to(outside / "secret.jsonl")
    (corpus / "dir").symlink_to(outside / "deep")
    (corpus / "inside.jsonl").symlink_to(corpus / "story.jsonl")  # inside: fine, read once
    items = list(read_corpus([corpus]))
    assert [a.id for a in items if isinstance(a, Article)] == ["ok"]
    reasons = sorted((Path(p.file).name, p.reason) for p in items if not isinstance(p, Article))
    assert reasons == [
        ("dir", f"symbolic link to {outside / 'deep'}, outside the folder being indexed: skipped"),
        (
            "link.jsonl",
            f"symbolic link to {outside / 'secret.jsonl'}, outside the folder being indexed: "
            "skipped",
        ),
    ]
    # Named explicitly, a link is the user's choice and is read.
    assert [a.id for a in read_corpus([corpus / "link.jsonl"])] == ["secret"]


def test_article_and_title_caps() -> None:
    from search.ingest import MAX_ARTICLE_CHARS, MAX_TITLE_CHARS, make_article

    [problem] = make_article("f", 1, {"id": "big", "text": "word " * (MAX_ARTICLE_CHARS // 4)})
    assert problem.skipped and "over the 1,000,000 limit" in problem.reason
    warning, article = make_article("f", 2, {"title": "long " * 1000, "text": "Some text."})
    assert not warning.skipped and warning.reason == "title cut to 1000 characters"
    assert len(article.title) <= MAX_TITLE_CHARS and article.title.endswith("…")
