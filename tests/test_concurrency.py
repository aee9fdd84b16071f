"""Concurrency: searches during updates, and writers that meet.

Searches from several threads keep succeeding while ``add_paths``/``delete_ids`` commit new
generations; two writers never interleave (the second waits for the lock, or fails clearly
with IndexBusy); a generation that was just replaced stays on disk for the readers that have
not switched yet.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import search.engine
from search import store, update
from search.cli import main as cli
from search.config import Settings
from search.engine import Engine
from search.generation import Generation
from search.models import Query

BASE = {"rates-1", "storm-2", "wheat-8"}


@pytest.fixture()
def ix(tmp_path: Path, settings: Settings, built_index) -> Settings:
    """A private copy of the session index (its live generation only)."""
    s = replace(settings, index_dir=tmp_path / "ix")
    shutil.copytree(settings.index_dir, s.index_dir)
    live = store.current_name(s.index_dir)
    for gen in s.index_dir.glob("gen-*"):
        if gen.name != live:
            shutil.rmtree(gen)
    return s


def _article(folder: Path, article_id: str, title: str, text: str) -> Path:
    path = folder / f"{article_id}.jsonl"
    path.write_text(json.dumps({"id": article_id, "title": title, "text": text}) + "\n")
    return path


def _live(s: Settings) -> Generation:
    return Generation.open(store.current_generation(s.index_dir), s)


def test_searches_keep_succeeding_while_updates_commit(ix: Settings, tmp_path, monkeypatch):
    monkeypatch.setattr(search.engine, "RELOAD_CHECK_SECONDS", 0.01)  # switch at once
    engine = Engine.open(ix)
    stop = threading.Event()
    errors: list[str] = []
    done = [0] * 4
    seen: set[str] = set()

    def searcher(i: int) -> None:
        queries = [
            Query("wheat harvest", mode="keyword"),
            Query("interest rates", mode="hybrid"),
            Query("hurricane", mode="semantic"),
            Query("glacier OR volcano", mode="keyword"),  # OR: either word will do
        ]
        while not stop.is_set():
            q = queries[(i + done[i]) % len(queries)]
            try:
                res = engine.search(q)
                ids = {a.article_id for a in res.results}
                seen.update(ids)
                if q.text == "wheat harvest" and "wheat-8" not in ids:
                    errors.append(f"{q.text}: {ids}")
                engine.article("rates-1") or errors.append("rates-1 vanished")
            except Exception as e:  # any failure at all is the bug this test is about
                errors.append(repr(e))
            done[i] += 1

    threads = [threading.Thread(target=searcher, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    try:
        names = []
        for n, word in enumerate(["glacier", "volcano", "glacier"]):
            text = f"The {word} story number {n}: scientists measured the {word} again today."
            path = _article(tmp_path, f"{word}-{n}", f"A {word} report", text)
            names.append(update.add_paths([path], ix).generation)
        deleted, _, gen = update.delete_ids(["volcano-1"], ix)
        names.append(gen)
        time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[:5]
    assert min(done) >= 5, done
    assert deleted == ["volcano-1"] and len(set(names)) == 4
    assert engine.backend.snapshot == names[-1]
    assert "glacier-0" in seen  # a committed update was found by the searching threads
    gen = _live(ix)
    assert {"glacier-0", "glacier-2"} <= set(gen.article_index)
    assert "volcano-1" not in gen.article_index


def test_two_writers_at_once_do_not_corrupt_the_index(ix: Settings, tmp_path):
    """Both updates land, one after the other (the second waits for the writer lock)."""
    paths = [
        _article(tmp_path, f"writer-{i}", f"Writer {i} headline", f"Body of story {i} here.")
        for i in range(2)
    ]
    start = threading.Barrier(2)
    results: list[object] = [None, None]

    def writer(i: int) -> None:
        start.wait()
        try:
            results[i] = update.add_paths([paths[i]], ix)
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(isinstance(r, update.BuildReport) for r in results), results
    assert len({r.generation for r in results}) == 2
    gen = _live(ix)  # verifies checksums and row alignment
    assert {"writer-0", "writer-1"} | BASE <= set(gen.article_index)


def test_second_writer_fails_clearly_when_the_lock_stays_taken(ix: Settings, tmp_path, monkeypatch):
    path = _article(tmp_path, "late-1", "Late story", "It arrived while a build was running.")
    monkeypatch.setattr(update, "LOCK_WAIT", 0.3)
    before = store.current_name(ix.index_dir)
    with store.writer_lock(ix.index_dir):  # another writer holds the index
        with pytest.raises(store.IndexBusy):
            update.add_paths([path], ix)
        out = CliRunner().invoke(cli, ["add", str(path), "--index-dir", str(ix.index_dir)])
        assert out.exit_code == 1 and "being written by another process" in out.output
        with pytest.raises(store.IndexBusy):
            update.delete_ids(["rates-1"], ix)
    assert store.current_name(ix.index_dir) == before


def test_index_command_waits_for_a_running_writer(ix: Settings, corpus_dir: Path):
    held = threading.Event()

    def hold() -> None:
        with store.writer_lock(ix.index_dir):
            held.set()
            time.sleep(1.0)

    t = threading.Thread(target=hold)
    t.start()
    held.wait(10)
    started = time.monotonic()
    out = CliRunner().invoke(
        cli, ["index", str(corpus_dir), "--index-dir", str(ix.index_dir), "--quiet"]
    )
    t.join()
    assert out.exit_code == 0, out.output
    assert time.monotonic() - started >= 0.5  # it waited for the other writer
    _live(ix)


def test_replaced_generation_stays_for_readers_that_have_not_switched(
    ix: Settings, tmp_path: Path, monkeypatch
):
    """An engine looks at CURRENT at most once a second; two commits in that second must not
    delete the generation it is still answering from (a new thread opens its files then)."""
    engine = Engine.open(ix)
    first = engine.backend.generation.path
    for i in range(2):
        path = _article(tmp_path, f"quick-{i}", f"Quick {i}", f"Quick update number {i} today.")
        update.add_paths([path], ix)
    engine._checked = time.monotonic()  # it looked a moment ago: still on the first generation
    assert engine.backend.generation.path == first and first.exists()
    answers: list[object] = []
    t = threading.Thread(  # a thread that has no Whoosh searcher yet
        target=lambda: answers.append(engine.search(Query("wheat", mode="keyword")))
    )
    t.start()
    t.join(30)
    assert answers and answers[0].results[0].article_id == "wheat-8"
    # Once the grace period is over, old generations go (two are kept).
    monkeypatch.setattr(store, "PRUNE_GRACE_SECONDS", 0.0)
    update.add_paths([_article(tmp_path, "quick-9", "Quick 9", "The last quick update.")], ix)
    assert not first.exists()
    assert len(list(ix.index_dir.glob("gen-*"))) == store.KEEP_GENERATIONS
