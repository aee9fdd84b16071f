"""Ingest: every format's layout, every bad record reported with file, line and reason."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from search.ingest import (
    SUPPORTED,
    NotTextError,
    clean_text,
    content_id,
    decode,
    fallback_title,
    iter_files,
    parse_date,
    read_corpus,
    summarize,
)
from search.models import Article, Problem

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).parent / "data" / "ingest"
SEED = ROOT / "seeds" / "000_86765f195378a7fa.txt"
SHARED_DATA = ROOT.parent / "shared" / "data"


def read(*paths: str | Path) -> tuple[list[Article], list[Problem]]:
    return summarize(read_corpus(paths))


def by_id(articles: list[Article]) -> dict[str, Article]:
    return {a.id: a for a in articles}


def reasons(problems: list[Problem]) -> list[tuple[int | None, str, bool]]:
    return [(p.line, p.reason, p.skipped) for p in problems]


# --------------------------------------------------------------------------- .txt


def test_seed_layout() -> None:
    articles, problems = read(SEED)
    assert problems == []
    [article] = articles
    assert article.title == "Turkey, Russia agree on coordination in Syria amid US withdrawal"
    assert article.dateline == "MOSCOW"
    assert article.paragraphs[0].startswith("Turkey and Russia have agreed on coordination")
    assert article.title not in article.paragraphs  # the repeated title was dropped
    assert "MOSCOW" not in article.paragraphs
    assert len(article.paragraphs) == 10
    assert article.paragraphs[-1].endswith("targeting the YPG/PKK.")
    assert "countries agreed" in article.paragraphs[4]  # no-break space normalised
    assert all("  " not in p and "\n" not in p for p in article.paragraphs)


def test_txt_id_is_a_stable_content_hash() -> None:
    [article] = read(SEED)[0]
    assert article.id == content_id(article.title, article.paragraphs)
    # Pinned: ids must not change between builds, or updates and links break.
    assert article.id == "5588663c6f7b6295"
    assert ":" not in article.id and len(article.id) == 16


def test_txt_lines_joined_and_dateline_with_punctuation() -> None:
    [article] = read(DATA / "nested" / "deeper" / "story.txt")[0]
    assert article.title == "Senate passes budget bill"
    assert article.dateline == "WASHINGTON, D.C."
    assert article.paragraphs == (
        "The Senate passed the bill on Tuesday after a long debate.",
        '"It is done," he said.',
    )


def test_txt_title_repeat_with_other_spacing_and_no_dateline(tmp_path: Path) -> None:
    f = tmp_path / "a.txt"
    f.write_text(
        "\n\n  Big  news today \nBig news   today\n\n"
        "THIS IS A LONG LINE IN CAPITALS, NOT A DATELINE\n\n"
        "second\r\nline of body\r\n",
        encoding="utf-8",
    )
    [article] = read(f)[0]
    assert article.title == "Big news today"
    assert article.dateline is None
    assert article.paragraphs == (
        "THIS IS A LONG LINE IN CAPITALS, NOT A DATELINE",
        "second line of body",
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ("", "no text"),
        ("\n \n\t\n", "no text"),
        ("Only a title\n\nOnly a title\n", "no text (title only)"),
    ],
)
def test_txt_without_body_is_skipped(tmp_path: Path, content: str, reason: str) -> None:
    f = tmp_path / "empty.txt"
    f.write_text(content, encoding="utf-8")
    articles, problems = read(f)
    assert articles == []
    assert problems == [Problem(str(f), None, reason, skipped=True)]


# --------------------------------------------------------------------------- .jsonl


def test_jsonl_good_and_bad_lines() -> None:
    f = DATA / "articles.jsonl"
    articles, problems = read(f)
    assert {p.file for p in problems} == {str(f)}
    assert reasons(problems) == [
        (3, "invalid JSON: Expecting ',' delimiter at column 62", True),
        (4, "expected a JSON object, got a list", True),
        (5, "no text (title only)", True),
        (6, "bad date 'sometime in May': dropped", False),
        (7, f"duplicate id j1 (first seen at {f}:1)", True),
    ]
    untitled = content_id(
        "", ["An untitled story gets its first sentence as a title. The rest stays in the body."]
    )
    assert [a.id for a in articles] == ["j1", "j3", "42", untitled, "j5"]
    arts = by_id(articles)
    j1 = arts["j1"]
    assert j1.title == "Markets rally on rate hopes"
    assert j1.paragraphs == (
        "Stocks rose on Monday as investors bet on lower rates.",
        "Bond yields fell.",
    )
    assert (j1.date, j1.source, j1.url) == ("2019-01-02", "Wire", "https://example.org/j1")
    assert arts["j3"].date is None  # kept, date dropped
    assert arts["42"].paragraphs == ("The body field is used when text is absent.",)
    assert arts["42"].date == "2019-01-01"
    assert arts[untitled].title == "An untitled story gets its first sentence as a title."
    assert arts[untitled].date == "2019-01-02"  # the date as written, not shifted to UTC
    assert arts["j5"].paragraphs == ("Nul and bell are stripped; Sony’s quote is repaired.",)


def test_jsonl_line_numbers_count_blank_lines_and_crlf(tmp_path: Path) -> None:
    f = tmp_path / "crlf.jsonl"
    rows = [
        json.dumps({"id": "a", "text": "one"}),
        "",
        json.dumps({"id": "b", "text": "two\u2028still two"}),
        "{oops",
    ]
    f.write_bytes("\r\n".join(rows).encode("utf-8"))
    articles, problems = read(f)
    assert [a.id for a in articles] == ["a", "b"]
    assert articles[1].paragraphs == ("two still two",)
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [(4, "invalid JSON")]


# --------------------------------------------------------------------------- .json and .csv


def test_json_list_items_numbered() -> None:
    f = DATA / "articles.json"
    articles, problems = read(f)
    assert [a.id for a in articles] == ["k1", "k2"]
    assert by_id(articles)["k1"].date == "2020-05-06"
    assert by_id(articles)["k2"].paragraphs == ("First paragraph.", "Second paragraph.")
    assert reasons(problems) == [
        (2, "expected a JSON object, got a string", True),
        (4, "field 'title' must be text, got a list", True),
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {"articles": [{"id": "x", "text": "Wrapped."}]},
        {"id": "x", "text": "Wrapped."},
    ],
)
def test_json_wrapper_and_single_object(tmp_path: Path, payload: object) -> None:
    f = tmp_path / "one.json"
    f.write_text(json.dumps(payload), encoding="utf-8")
    articles, problems = read(f)
    assert problems == []
    assert [(a.id, a.paragraphs) for a in articles] == [("x", ("Wrapped.",))]


def test_json_invalid_file(tmp_path: Path) -> None:
    f = tmp_path / "bad.json"
    f.write_text('[{"id": 1,}]', encoding="utf-8")
    articles, problems = read(f)
    assert articles == []
    [p] = problems
    assert p.line is None and p.skipped and p.reason.startswith("invalid JSON: ")
    assert "line 1 column" in p.reason


def test_csv_rows_by_physical_line() -> None:
    f = DATA / "articles.csv"
    articles, problems = read(f)
    assert [a.id for a in articles] == ["c1", "c4"]
    c1 = by_id(articles)["c1"]
    assert c1.paragraphs == ("First paragraph continues here.", "Second paragraph.")
    assert (c1.date, c1.source) == ("2020-03-04", "Desk")
    assert by_id(articles)["c4"].date is None
    assert reasons(problems) == [
        (6, "expected 5 columns, got 3", True),
        (7, "no text (title only)", True),
    ]


def test_csv_without_text_column(tmp_path: Path) -> None:
    f = tmp_path / "x.csv"
    f.write_text("id,title\n1,Hello\n", encoding="utf-8")
    assert read(f) == ([], [Problem(str(f), 1, "CSV header has no 'text' or 'body' column")])


# --------------------------------------------------------------------------- encodings


def test_cp1252_file_decoded_with_warning(tmp_path: Path) -> None:
    f = tmp_path / "legacy.txt"
    text = "Café owners’ “strike” ends\n\nThe naïve plan cost €3,000 — the owner said so.\n"
    f.write_bytes(text.encode("cp1252"))
    articles, problems = read(f)
    assert problems == [Problem(str(f), None, "decoded as cp1252, not UTF-8", skipped=False)]
    [article] = articles
    assert article.title == "Café owners’ “strike” ends"
    assert article.paragraphs == ("The naïve plan cost €3,000 — the owner said so.",)


def test_short_cp1252_is_not_taken_for_utf16() -> None:
    text, warning = decode("Café “x”".encode("cp1252"))
    assert text == "Café “x”"
    assert warning == "decoded as cp1252, not UTF-8"


def test_stray_byte_in_utf8_keeps_the_utf8() -> None:
    data = "Çavuşoğlu said: ".encode() + b"it\x92s fine"
    text, warning = decode(data)
    assert text == "Çavuşoğlu said: it’s fine"
    assert warning == "1 byte(s) were not valid UTF-8: read them as cp1252"


def test_utf8_bom_and_utf16_bom() -> None:
    assert decode("\ufeffhello".encode()) == ("hello", None)
    text, warning = decode("héllo wörld".encode("utf-16"))
    assert text == "héllo wörld"
    assert warning is not None and "UTF-16" in warning


@pytest.mark.parametrize(
    "data",
    [
        bytes(range(256)) * 8,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(200),
        random.Random(7).randbytes(4000),
        b"\x00" * 64,
    ],
    ids=["all-bytes", "png", "random", "zeros"],
)
def test_binary_junk_reported_not_mangled(tmp_path: Path, data: bytes) -> None:
    f = tmp_path / "junk.jsonl"
    f.write_bytes(data)
    articles, problems = read(f)
    assert articles == []
    [p] = problems
    assert (p.file, p.line, p.skipped) == (str(f), None, True)
    assert p.reason.startswith("not text")


def test_decode_raises_on_binary() -> None:
    with pytest.raises(NotTextError, match="^not text"):
        decode(bytes(range(256)))


def test_a_few_nul_bytes_in_jsonl_are_stripped(tmp_path: Path) -> None:
    f = tmp_path / "nul.jsonl"
    line = json.dumps({"id": "n", "text": "A long enough line of ordinary text here."})
    f.write_bytes(line.replace("ordinary", "ordi\x00nary").encode() + b"\n")
    articles, problems = read(f)
    assert problems == []
    assert articles[0].paragraphs == ("A long enough line of ordinary text here.",)


def test_clean_text() -> None:
    assert clean_text("a\r\nb\rc\x0cd") == "a\nb\nc\nd"
    assert clean_text("x\x00y\x1b\ufeffz\tw") == "xyz\tw"
    assert clean_text("it\x92s \x93ok\x94") == "it’s “ok”"
    assert clean_text("cafe\u0301") == "café"  # NFC


# --------------------------------------------------------------------------- files


def test_folder_recursion_order_hidden_and_unsupported() -> None:
    files = iter_files([DATA])
    assert [f.relative_to(DATA).as_posix() for f in files] == [
        "README.md",
        "articles.csv",
        "articles.json",
        "articles.jsonl",
        "nested/deeper/story.txt",
    ]
    articles, problems = read(DATA)
    ids = {a.id for a in articles}
    assert {"c1", "k1", "j1", "42"} <= ids
    assert "hidden-dir" not in ids and "hidden-file" not in ids
    assert any(a.dateline == "WASHINGTON, D.C." for a in articles)
    unsupported = [p for p in problems if p.reason.startswith("unsupported")]
    listed = ", ".join(sorted(SUPPORTED))  # more formats may be registered in PARSERS
    assert unsupported == [
        Problem(str(DATA / "README.md"), None, f"unsupported file type .md (supported: {listed})")
    ]
    assert {".txt", ".jsonl", ".json", ".csv"} <= SUPPORTED


def test_missing_path_reported_and_file_listed_once(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    files = iter_files([DATA / "articles.csv", DATA, missing])
    assert files.count(DATA / "articles.csv") == 1
    assert files[-1] == missing
    assert read(missing) == ([], [Problem(str(missing), None, "no such file or directory")])


def test_duplicate_across_files_names_first_place(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps({"id": "same", "text": "A."}), "utf-8")
    (tmp_path / "b.csv").write_text("id,text,date\nsame,B.,not-a-date\n", "utf-8")
    articles, problems = read(tmp_path)
    assert [a.paragraphs for a in articles] == [("A.",)]
    # The duplicate replaces the record's own warnings: nothing about a record not indexed.
    assert problems == [
        Problem(
            str(tmp_path / "b.csv"), 2, f"duplicate id same (first seen at {tmp_path}/a.jsonl:1)"
        )
    ]


def test_identical_txt_files_are_duplicates(tmp_path: Path) -> None:
    for name in ("one.txt", "two.txt"):
        (tmp_path / name).write_text("Title\n\nBody text.\n", "utf-8")
    articles, problems = read(tmp_path)
    assert len(articles) == 1
    assert problems[0].reason == f"duplicate id {articles[0].id} (first seen at {tmp_path}/one.txt)"


def test_reading_is_deterministic() -> None:
    first = list(read_corpus([DATA, SEED]))
    second = list(read_corpus([DATA, SEED]))
    assert first == second
    assert len(first) > 10


# --------------------------------------------------------------------------- fields


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2019-01-02", "2019-01-02"),
        ("2019-01-02T10:00:00Z", "2019-01-02"),
        ("2019-01-02T23:30:00-05:00", "2019-01-02"),
        ("2019-01-02 10:00:00.123", "2019-01-02"),
        ("Tue, 01 Jan 2019 10:00:00 GMT", "2019-01-01"),
        ("01 Jan 2019 10:00:00 +0200", "2019-01-01"),
    ],
)
def test_parse_date_accepts(raw: str, expected: str) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize("raw", ["yesterday", "2019-13-01", "2019", "02/01/2019", "31-MAR-1987"])
def test_parse_date_rejects(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_date(raw)


def test_fallback_title_is_cut_at_a_word() -> None:
    long = "word " * 40 + "end."
    title = fallback_title(long)
    assert len(title) <= 100 and title.endswith("…")
    assert title[:-1].split() == ["word"] * len(title[:-1].split())
    assert fallback_title("Short one. Second.") == "Short one."


# --------------------------------------------------------------------------- real corpora


@pytest.mark.skipif(not (SHARED_DATA / "wikinews").is_dir(), reason="shared data not present")
def test_real_wikinews_reads_cleanly() -> None:
    articles, problems = read(SHARED_DATA / "wikinews" / "docs.jsonl")
    assert problems == []
    assert len(articles) == 293
    assert all(a.id.startswith("enwikinews:") for a in articles)  # ids with ':' kept as is
    assert all(a.date and len(a.date) == 10 for a in articles)
    assert all(a.paragraphs and a.title for a in articles)


@pytest.mark.skipif(not (SHARED_DATA / "time").is_dir(), reason="shared data not present")
def test_real_time_untitled_articles_get_titles() -> None:
    articles, problems = read(SHARED_DATA / "time" / "docs.jsonl")
    assert problems == []
    assert len(articles) == 423
    assert all(0 < len(a.title) <= 100 for a in articles)


def test_jsonl_odd_values_reported(tmp_path: Path) -> None:
    f = tmp_path / "odd.jsonl"
    lines = [
        '{"id": "ok", "text": "Fine."}',
        '{"id": "big", "text": "x", "n": ' + "9" * 5000 + "}",
        '{"id": {"nested": 1}, "text": "Id is an object."}',
        '{"id": "t", "text": 12}',
        "null",
    ]
    f.write_text("\n".join(lines), "utf-8")
    articles, problems = read(f)
    assert [a.id for a in articles] == ["ok"]
    assert [(p.line, p.reason.split(":")[0]) for p in problems] == [
        (2, "invalid JSON"),
        (3, "field 'id' must be text, got an object"),
        (4, "field 'text' must be text or a list of strings, got a number"),
        (5, "expected a JSON object, got null"),
    ]
