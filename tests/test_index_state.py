"""Issue #17, classes 4 and 8: state that lies, and the disk.

A CURRENT that is missing, empty, not UTF-8 or naming nothing while generations exist makes
readers serve, and writers extend, the newest generation (never an index of only the added
articles); a damaged newest generation makes writers refuse. A failed writer leaves no
temporary generation behind, and fast writes keep a bounded number of generations.
"""

from __future__ import annotations

import errno
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from search import store
from search.cli import main
from search.engine import Engine

BROKEN = {
    "missing": None,
    "empty": b"",
    "not-utf8": b"\xff\xfe\xfa gen",
    "names-nothing": b"gen-999999\n",
    "garbage": b"../../etc/passwd\n",
}


@pytest.fixture()
def ix(tmp_path: Path, settings, built_index):
    """A private copy of the session index."""
    dest = tmp_path / "index"
    shutil.copytree(settings.index_dir, dest, ignore=shutil.ignore_patterns(".lock"))
    return replace(settings, index_dir=dest)


def _break(index_dir: Path, how: str) -> None:
    pointer = index_dir / store.CURRENT
    pointer.unlink()
    if BROKEN[how] is not None:
        pointer.write_bytes(BROKEN[how])


def _ids(index_dir: Path) -> set[str]:
    gen = index_dir / store.current_name(index_dir)
    rows = [json.loads(x) for x in (gen / "articles.jsonl").read_text("utf-8").splitlines()]
    return {r["id"] for r in rows if not r.get("deleted")}


def _story(tmp_path: Path, article_id: str) -> Path:
    path = tmp_path / f"{article_id}.jsonl"
    record = {"id": article_id, "title": "Harbour ferry", "text": "The ferry sails at noon today."}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_add_with_a_broken_current_loses_nothing(ix, tmp_path: Path, how: str) -> None:
    before = _ids(ix.index_dir)
    _break(ix.index_dir, how)
    out = CliRunner().invoke(
        main, ["add", str(_story(tmp_path, "new-1")), "--quiet", "--index-dir", str(ix.index_dir)]
    )
    assert out.exit_code == 0, out.output
    assert _ids(ix.index_dir) == before | {"new-1"}  # was {"new-1"} alone: 293 → 1
    assert store.current_name(ix.index_dir) == store._pointer(ix.index_dir)[0]  # repaired


@pytest.mark.parametrize("how", ["empty", "not-utf8"])
def test_readers_serve_the_newest_generation_when_current_lies(ix, how: str) -> None:
    from web import create_app

    expected = len(_ids(ix.index_dir))
    _break(ix.index_dir, how)
    assert Engine.open(ix).health().articles == expected
    client = create_app({"TESTING": True, "SETTINGS": ix}).test_client()
    resp = client.get("/api/health")  # was 503 (empty) or 500 (not UTF-8)
    assert resp.status_code == 200 and resp.get_json()["articles"] == expected
    out = CliRunner().invoke(main, ["search", "harbour", "--index-dir", str(ix.index_dir)])
    assert out.exit_code == 0 and "Traceback" not in out.output


def test_writers_refuse_when_the_newest_generation_is_damaged(ix, tmp_path: Path) -> None:
    gen = store.current_generation(ix.index_dir)
    _break(ix.index_dir, "empty")
    data = bytearray((gen / "articles.jsonl").read_bytes())
    data[5] ^= 1  # same size, no longer its checksum
    (gen / "articles.jsonl").write_bytes(bytes(data))
    before = sorted(p.name for p in ix.index_dir.iterdir() if p.name != ".lock")
    args = ["add", str(_story(tmp_path, "new-2")), "--quiet", "--index-dir", str(ix.index_dir)]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1 and "checksum mismatch" in out.output
    after = sorted(p.name for p in ix.index_dir.iterdir() if p.name != ".lock")
    assert after == before  # nothing written


def test_a_writer_that_fails_leaves_no_temporary_generation(ix, tmp_path, monkeypatch) -> None:
    before = store.current_name(ix.index_dir)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store, "commit_generation", full_disk)
    args = ["add", str(_story(tmp_path, "new-3")), "--quiet", "--index-dir", str(ix.index_dir)]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 1 and "No space left on device" in out.output
    assert not [p.name for p in ix.index_dir.iterdir() if ".tmp-" in p.name]
    assert store.current_name(ix.index_dir) == before


def test_fast_writes_keep_a_bounded_number_of_generations(ix, tmp_path: Path) -> None:
    from search import update

    for i in range(2 * store.MAX_GENERATIONS):  # all within the 60 s grace period
        update.add_paths([_story(tmp_path, f"fast-{i}")], ix)
    gens = store.generations(ix.index_dir)
    assert len(gens) <= store.MAX_GENERATIONS
    assert {f"fast-{i}" for i in range(2 * store.MAX_GENERATIONS)} <= _ids(ix.index_dir)
