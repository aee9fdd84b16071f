"""Issue #17, classes 5 and 8 (tombstones): a full ``index`` keeps incremental work, reports
by id what it keeps, drops or restores; tombstones are compacted past a threshold, after which
keyword statistics no longer count deleted rows."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from search import build, store, update
from search.cli import main
from search.engine import Engine
from search.ingest import read_corpus
from search.models import Article, Query


@pytest.fixture()
def ix(tmp_path: Path, settings, built_index):
    dest = tmp_path / "index"
    shutil.copytree(settings.index_dir, dest, ignore=shutil.ignore_patterns(".lock"))
    return replace(settings, index_dir=dest)


def _rows(index_dir: Path) -> tuple[list[dict], list[dict]]:
    gen = store.current_generation(index_dir)
    read = lambda name: [json.loads(x) for x in (gen / name).read_text("utf-8").splitlines()]  # noqa: E731
    return read("articles.jsonl"), read("paragraphs.jsonl")


def _live(index_dir: Path) -> set[str]:
    return {r["id"] for r in _rows(index_dir)[0] if not r.get("deleted")}


def _story(tmp_path: Path, article_id: str) -> Path:
    path = tmp_path / f"{article_id}.jsonl"
    text = f"The harbour ferry {article_id} sails at noon, the operator said on Monday."
    path.write_text(json.dumps({"id": article_id, "title": "Ferry", "text": text}) + "\n", "utf-8")
    return path


def test_full_index_keeps_adds_and_deletes_and_says_so(ix, tmp_path, corpus_dir) -> None:
    inputs = _live(ix.index_dir)
    update.add_paths([_story(tmp_path, "added-1")], ix)
    update.delete_ids(["rates-1"], ix)
    args = ["index", str(corpus_dir), "--index-dir", str(ix.index_dir), "--quiet"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    assert _live(ix.index_dir) == (inputs - {"rates-1"}) | {"added-1"}  # was: inputs
    assert "warning: added-1: kept: added with add/fetch" in out.stderr
    assert "skipped: rates-1: left out: deleted with `newsearch delete`" in out.stderr
    again = CliRunner().invoke(main, args)  # and it stays so
    assert again.exit_code == 0 and _live(ix.index_dir) == (inputs - {"rates-1"}) | {"added-1"}

    exact = CliRunner().invoke(main, [*args, "--exact"])
    assert exact.exit_code == 0, exact.output
    assert _live(ix.index_dir) == inputs
    assert "skipped: added-1: dropped: added with add/fetch" in exact.stderr
    assert "warning: rates-1: restored: deleted earlier" in exact.stderr


def test_an_add_that_commits_while_the_build_runs_is_kept(ix, tmp_path, corpus_dir, monkeypatch):
    real = build.embed_records

    def embed_then_add(*args, **kwargs):
        out = real(*args, **kwargs)
        update.add_paths([_story(tmp_path, "during-1")], ix)  # commits before the build locks
        return out

    monkeypatch.setattr(build, "embed_records", embed_then_add)
    build.build_index([corpus_dir], ix)
    monkeypatch.setattr(build, "embed_records", real)
    assert "during-1" in _live(ix.index_dir)


def test_tombstones_are_compacted_and_statistics_follow(ix, tmp_path, corpus_dir) -> None:
    before_articles, before_paras = _rows(ix.index_dir)
    victims = ["rates-1", "storm-2", "football-3"]
    update.delete_ids(victims, ix)  # > COMPACT_RATIO of the rows
    articles, paras = _rows(ix.index_dir)
    dead = {i for i, r in enumerate(articles) if r.get("deleted")}
    assert {articles[i]["id"] for i in dead} == set(victims)  # deletions stay known ...
    assert not [p for p in paras if p["article"] in dead]  # ... but their rows are gone
    assert len(paras) < len(before_paras)
    # Keyword scores now equal those of an index built from the live articles alone.
    live_file = tmp_path / "live.jsonl"
    with open(live_file, "w", encoding="utf-8") as f:
        for a in read_corpus([corpus_dir]):
            if isinstance(a, Article) and a.id not in victims:
                record = {
                    "id": a.id,
                    "title": a.title,
                    "text": list(a.paragraphs),
                    "date": a.date,
                    "source": a.source,
                    "url": a.url,
                }
                f.write(json.dumps(record) + "\n")
    fresh = replace(ix, index_dir=tmp_path / "fresh")
    build.build_index([live_file], fresh)
    for q in ["wheat", "ceasefire talks", "theatre"]:
        got = Engine.open(ix).search(Query(q, mode="keyword"))
        want = Engine.open(fresh).search(Query(q, mode="keyword"))
        assert [(r.article_id, round(r.score, 6)) for r in got.results] == [
            (r.article_id, round(r.score, 6)) for r in want.results
        ]
    # And a full build still leaves them out.
    build.build_index([corpus_dir], ix)
    assert not set(victims) & _live(ix.index_dir)


def test_add_delete_cycles_do_not_grow_the_generation(ix, tmp_path) -> None:
    batch = tmp_path / "batch.jsonl"
    with open(batch, "w", encoding="utf-8") as f:
        for i in range(6):
            text = f"Cycle story {i} about the harbour cranes and the ferry timetable."
            f.write(json.dumps({"id": f"cyc-{i}", "title": f"Cycle {i}", "text": text}) + "\n")
    live_rows = len(_rows(ix.index_dir)[1])
    for _ in range(8):
        update.add_paths([batch], ix)
        update.delete_ids([f"cyc-{i}" for i in range(6)], ix)
    articles, paras = _rows(ix.index_dir)
    assert len(paras) <= live_rows / (1 - update.COMPACT_RATIO) + 6
    assert len(articles) <= len(_live(ix.index_dir)) + 6 + 6  # one tombstone per deleted id
