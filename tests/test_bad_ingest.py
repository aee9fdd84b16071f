"""A corpus full of faults is indexed anyway: every good article in, every bad record reported
exactly once with file, line and reason, and a non-zero exit only when nothing was indexable.

The faults: broken and truncated JSON, non-object lines, absurd nesting, missing, empty and
mistyped fields, duplicate ids, lone surrogates and NULs in JSON strings, a bad date, cp1252,
UTF-16 and stray-byte files, random bytes, binary files under text names, a gzip, a short CSV
row, a CSV without a text column, an HTML page with no article, a gigantic paragraph and a
monstrous word, a FIFO, a dangling symlink and a symlink loop, all run through
``newsearch index`` (click's CliRunner, in-process, real model).
"""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from search import store
from search.cli import main as cli
from search.config import Settings
from search.generation import Generation


@dataclass(frozen=True)
class Fault:
    file: str
    line: int | None
    reason: str  # a piece of the reported reason
    skipped: bool = True  # False: a warning, the article is still indexed


def _jsonl(*records: object) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def _good(i: int, **extra: object) -> dict:
    text = f"Story {i} about the harbour.\n\nA second paragraph for story {i}, quite ordinary."
    return {"id": f"good-{i}", "title": f"Good story {i}", "text": text, **extra}


def make_corpus(root: Path) -> tuple[list[Fault], set[str]]:
    """Write the faulty corpus; returns (expected problems, titles that must be indexed)."""
    root.mkdir()
    good = _jsonl(
        _good(1),
        _good(1, title="Same id again"),  # 2
        '{"id": "bad-json", "title": ',  # 3
        "[1, 2]",  # 4
        "null",  # 5
        {"id": "no-text", "title": "Only a title"},  # 6
        {"id": "empty-text", "title": "Empty", "text": "   \n\n  "},  # 7
        {"id": "num-text", "title": "Number", "text": 42},  # 8
        {"id": {"nested": 1}, "text": "An id that is an object."},  # 9
        "[" * 50_000 + "]" * 50_000,  # 10: nesting beyond the recursion limit
        _good(2, text="NUL \u0000 and a lone surrogate \ud800 in an otherwise fine harbour story."),
        _good(3, date="32/13/2019"),  # 12: bad date dropped, article kept
        {"id": "list-text", "title": "List", "text": ["a fine paragraph", 5]},  # 13
        {"id": "controls", "title": "Controls", "text": "\u0001\u0002\u0003"},  # 14
        "",  # 15: blank lines are fine
        _good(4),  # 16
    )
    (root / "good.jsonl").write_text(good, encoding="utf-8")
    faults = [
        Fault("good.jsonl", 2, "duplicate id good-1"),
        Fault("good.jsonl", 3, "invalid JSON"),
        Fault("good.jsonl", 4, "expected a JSON object, got a list"),
        Fault("good.jsonl", 5, "expected a JSON object, got null"),
        Fault("good.jsonl", 6, "no text (title only)"),
        Fault("good.jsonl", 7, "no text"),
        Fault("good.jsonl", 8, "field 'text' must be text"),
        Fault("good.jsonl", 9, "field 'id' must be text"),
        Fault("good.jsonl", 10, "invalid JSON"),
        Fault("good.jsonl", 12, "bad date", skipped=False),
        Fault("good.jsonl", 13, "field 'text' must be text or a list of strings"),
        Fault("good.jsonl", 14, "no text"),
    ]
    titles = {f"Good story {i}" for i in (1, 2, 3, 4)}

    body = "Café owners in the old town say the new rules hurt trade.\n\nThey will protest."
    (root / "latin1.txt").write_bytes(f"Café owners protest\n\n{body}\n".encode("cp1252"))
    faults.append(Fault("latin1.txt", None, "decoded as cp1252", skipped=False))
    titles.add("Café owners protest")

    items = [_good(5, title="Sixteen-bit story"), {"id": "u16-empty", "title": "No body"}]
    (root / "utf16.json").write_bytes(json.dumps(items).encode("utf-16"))
    faults += [
        Fault("utf16.json", None, "decoded as UTF-16", skipped=False),
        Fault("utf16.json", 2, "no text (title only)"),
    ]
    titles.add("Sixteen-bit story")

    mixed = json.dumps(_good(6, title="Mostly UTF-8 \u00e9t\u00e9"), ensure_ascii=False).encode()
    (root / "mixed.jsonl").write_bytes(mixed.replace(b"ordinary", b"ordinary\x92s") + b"\n")
    faults.append(Fault("mixed.jsonl", None, "not valid UTF-8", skipped=False))
    titles.add("Mostly UTF-8 \u00e9t\u00e9")

    rng = random.Random(7)
    junk = bytes(rng.randrange(0x80, 0x100) if rng.random() < 0.9 else 10 for _ in range(3000))
    (root / "random.jsonl").write_bytes(junk)
    (root / "image.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(2000))
    (root / "archive.json").write_bytes(gzip.compress(json.dumps([_good(99)]).encode() * 40))
    (root / "picture.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (root / "truncated.json").write_text('[{"id": "t1", "text": "abc"}, {"id": ')
    (root / "rows.csv").write_text(
        "id,title,text\n"
        'csv-1,CSV story,"A story from a spreadsheet, with a comma."\n'
        "csv-2,Short row\n"
    )
    (root / "nohead.csv").write_text("id,title\nx,y\n")
    (root / "page.html").write_text("<html><head><title>Empty</title></head><body></body></html>")
    faults += [
        Fault("random.jsonl", None, "not text"),
        Fault("image.jsonl", None, "not text: binary data"),
        Fault("archive.json", None, "not text"),
        Fault("picture.png", None, "unsupported file type .png"),
        Fault("truncated.json", None, "invalid JSON"),
        Fault("rows.csv", 3, "expected 3 columns, got 2"),
        Fault("nohead.csv", 1, "no 'text' or 'body' column"),
        Fault("page.html", None, "no article text found"),
    ]
    titles.add("CSV story")

    sentence = "The harbour authority published another long report on shipping volumes. "
    giant = {"id": "giant", "title": "Gigantic paragraph", "text": sentence * 1_400}  # ~100 KB
    word = {"id": "word", "title": "Monstrous word", "text": "harbour" + "x" * 20_000}
    (root / "giant.jsonl").write_text(_jsonl(giant, word))
    titles |= {"Gigantic paragraph", "Monstrous word"}

    os.mkfifo(root / "pipe.jsonl")  # reading it would block forever
    (root / "dangling.jsonl").symlink_to(root / "gone.jsonl")
    (root / "loop").symlink_to(root, target_is_directory=True)  # walked once, not forever
    (root / ".hidden.jsonl").write_text("{hidden and broken\n")  # hidden: ignored
    (root / "empty.jsonl").write_bytes(b"")
    faults += [
        Fault("pipe.jsonl", None, "not a regular file"),
        Fault("dangling.jsonl", None, "no such file or directory"),
    ]
    return faults, titles


_REPORTED = re.compile(r"^(skipped|warning): (.+?)(?::(\d+))?: (.+)$")


def reported(output: str, root: Path) -> list[Fault]:
    out = []
    for line in output.splitlines():
        m = _REPORTED.match(line)
        if m:
            kind, file, num, reason = m.groups()
            name = str(Path(file).relative_to(root))
            out.append(Fault(name, int(num) if num else None, reason, kind == "skipped"))
    return out


def test_faulty_corpus_indexes_every_good_article_and_reports_each_fault_once(
    tmp_path: Path, settings: Settings
) -> None:
    corpus = tmp_path / "corpus"
    faults, titles = make_corpus(corpus)
    ix = tmp_path / "ix"
    result = CliRunner().invoke(cli, ["index", str(corpus), "--index-dir", str(ix)])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    got = reported(result.output, corpus)
    where = [(f.file, f.line) for f in got]
    assert len(where) == len(set(where)), "a problem was reported twice"
    assert {(f.file, f.line, f.skipped) for f in got} == {
        (f.file, f.line, f.skipped) for f in faults
    }
    by_place = {(f.file, f.line): f for f in got}
    for fault in faults:
        assert fault.reason in by_place[(fault.file, fault.line)].reason, fault
    skipped = sum(f.skipped for f in faults)
    assert f"skipped {skipped} records, {len(faults) - skipped} warnings" in result.output
    gen = Generation.open(store.current_generation(ix), replace_dir(settings, ix))
    assert {a["title"] for a in gen.articles} == titles
    giant = [p for p in gen.paragraphs if p["id"].startswith("giant:")]
    assert len(giant) > 20  # cut into model-sized pieces, none lost
    assert sum(len(p["text"]) for p in giant) >= 100_000
    assert "\ufffd" in gen.articles[gen.article_index["good-2"]]["title"] or any(
        "\ufffd" in p["text"] for p in gen.paragraphs if p["id"].startswith("good-2:")
    )
    print(f"\n{len(faults)} ingest faults tried, {len(titles)} good articles indexed")


def replace_dir(settings: Settings, index_dir: Path) -> Settings:
    from dataclasses import replace

    return replace(settings, index_dir=index_dir)


@pytest.mark.parametrize("existing", [False, True])
def test_nothing_indexable_exits_non_zero_and_keeps_the_old_index(
    tmp_path: Path, settings: Settings, existing: bool, corpus_dir: Path
) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.jsonl").write_text('{"broken\n[1]\n{"id": "t", "title": "title only"}\n')
    (junk / "b.json").write_bytes(bytes(range(256)) * 4)
    (junk / "c.txt").write_text("   \n\n")
    ix = tmp_path / "ix"
    run = CliRunner()
    if existing:
        ok = run.invoke(cli, ["index", str(corpus_dir), "--index-dir", str(ix), "--quiet"])
        assert ok.exit_code == 0, ok.output
    before = store.current_name(ix) if existing else None
    result = run.invoke(cli, ["index", str(junk), "--index-dir", str(ix), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "nothing could be indexed" in result.output and "Traceback" not in result.output
    assert len(reported(result.output, junk)) == 5
    assert store.current_name(ix) == before  # a good index is never replaced by an empty one
    missing = run.invoke(cli, ["index", str(tmp_path / "nope"), "--index-dir", str(ix)])
    assert missing.exit_code == 2 and "no such file" in missing.output
