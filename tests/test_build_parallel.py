"""The build's two child processes (search/keyword_job.py, search/embed/pending.py): the
keyword index written beside the embedding must be the one the build would have written
itself, a change that lands meanwhile must still be indexed, and failures and kills must
leave nothing behind."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from search import build, keyword_job, store, update
from search.embed import embedder_for
from search.embed.pending import PendingEmbedder
from search.engine import Engine
from search.models import Query

QUERIES = ["ferry", "interest rates", '"central bank"', "title:ferry", "bank -rates", "elect*"]


def _story(tmp_path: Path, article_id: str) -> Path:
    path = tmp_path / f"{article_id}.jsonl"
    text = f"The harbour ferry {article_id} sails at noon, the operator said on Monday."
    path.write_text(json.dumps({"id": article_id, "title": "Ferry", "text": text}) + "\n", "utf-8")
    return path


def _keyword_answers(settings) -> list:
    engine = Engine.open(settings)
    out = []
    for q in QUERIES:
        r = engine.search(Query(q, mode="keyword", limit=50))
        out.append((r.total, [(h.article_id, round(h.score, 6)) for h in r.results]))
    return out


@pytest.fixture()
def two(tmp_path, settings, built_index):
    """Two empty index directories with the session's settings."""
    return (
        replace(settings, index_dir=tmp_path / "serial"),
        replace(settings, index_dir=tmp_path / "child"),
    )


def test_child_keyword_index_equals_the_in_process_one(two, corpus_dir, monkeypatch) -> None:
    serial, child = two
    monkeypatch.setattr(keyword_job, "MIN_PARAGRAPHS", 10**9)
    build.build_index([corpus_dir], serial)
    started: list[int] = []
    real = keyword_job.KeywordJob.__init__

    def counting(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        started.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(keyword_job, "MIN_PARAGRAPHS", 0)
    monkeypatch.setattr(keyword_job.KeywordJob, "__init__", counting)
    build.build_index([corpus_dir], child)
    assert started == [1]  # the child path did run
    assert _keyword_answers(child) == _keyword_answers(serial)
    assert not list(child.index_dir.glob(keyword_job.STAGING + "*"))  # nothing left behind
    a = store.read_manifest(store.current_generation(serial.index_dir))
    b = store.read_manifest(store.current_generation(child.index_dir))
    assert a["keyword"] == b["keyword"]

    # The child decodes the postings too: the same arrays, byte for byte (meta.json names
    # Whoosh's segments, random per build).
    def arrays(manifest: dict) -> dict:
        return {
            k: v
            for k, v in manifest["files"].items()
            if k.startswith("postings/") and not k.endswith("meta.json")
        }

    assert arrays(a) and arrays(a) == arrays(b)


def test_an_add_during_the_build_is_in_the_keyword_index(two, tmp_path, corpus_dir, monkeypatch):
    _, ix = two
    build.build_index([corpus_dir], ix)
    monkeypatch.setattr(keyword_job, "MIN_PARAGRAPHS", 0)
    real = build.embed_records

    def embed_then_add(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        out = real(*args, **kwargs)  # the child is writing the documents it was given
        update.add_paths([_story(tmp_path, "during-1")], ix)
        return out

    monkeypatch.setattr(build, "embed_records", embed_then_add)
    build.build_index([corpus_dir], ix)
    r = Engine.open(ix).search(Query("during-1 ferry", mode="keyword"))
    assert [h.article_id for h in r.results][:1] == ["during-1"]
    assert not list(ix.index_dir.glob(keyword_job.STAGING + "*"))


def test_a_failing_child_is_replaced_by_the_in_process_write(
    two, tmp_path, corpus_dir, monkeypatch, caplog
) -> None:
    serial, ix = two
    build.build_index([corpus_dir], serial)
    monkeypatch.setattr(keyword_job, "MIN_PARAGRAPHS", 0)

    def failing(module, *args):  # noqa: ANN001, ANN002, ANN202
        return [
            sys.executable,
            "-c",
            "import sys; sys.exit('OSError: no space left on device')",
        ], {}

    monkeypatch.setattr(keyword_job, "child_command", failing)
    with caplog.at_level("WARNING", logger="search.keyword_job"):
        build.build_index([corpus_dir], ix)
    assert "no space left on device" in caplog.text and "writing it here" in caplog.text
    assert _keyword_answers(ix) == _keyword_answers(serial)
    assert not list(ix.index_dir.glob("gen-*.tmp-*"))
    assert not list(ix.index_dir.glob(keyword_job.STAGING + "*"))


def test_the_child_runs_this_package_not_one_in_the_cwd(
    two, tmp_path, corpus_dir, monkeypatch, caplog
) -> None:
    decoy = tmp_path / "elsewhere"
    (decoy / "search").mkdir(parents=True)
    (decoy / "search" / "__init__.py").write_text("raise SystemExit('the decoy package ran')")
    monkeypatch.chdir(decoy)
    monkeypatch.setattr(keyword_job, "MIN_PARAGRAPHS", 0)
    _, ix = two
    with caplog.at_level("WARNING", logger="search.keyword_job"):
        build.build_index([corpus_dir], ix)
    assert "decoy" not in caplog.text and "failed" not in caplog.text


def test_a_killed_build_takes_its_child_with_it(tmp_path) -> None:
    script = tmp_path / "die.py"
    script.write_text(
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from search.keyword import KeywordDoc\n"
        "from search.keyword_job import KeywordJob\n"
        "docs = [KeywordDoc(i, f'a{i}', 'Ferry', 'harbour ferry sails at noon ' * 40)\n"
        "        for i in range(30000)]\n"
        "job = KeywordJob(Path(sys.argv[1]), docs, 2.0, 'k')\n"
        "print(job._child.pid, flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n",
        "utf-8",
    )
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ix")], capture_output=True, text=True
    )
    child = int(out.stdout.split()[0])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{child}/status").read_text().split("State:")[1].split()[0]
        except (OSError, IndexError):
            break  # gone
        if state == "Z":
            break  # dead, waiting to be reaped by init
        time.sleep(0.2)
    else:
        os.kill(child, 9)
        pytest.fail("the keyword child outlived its killed parent")


def test_a_killed_builds_staging_directory_is_removed(two, corpus_dir, monkeypatch) -> None:
    _, ix = two
    ix.index_dir.mkdir(parents=True)
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = ix.index_dir / f"{keyword_job.STAGING}{int(gone.stdout)}-0"
    alive = ix.index_dir / f"{keyword_job.STAGING}{os.getppid()}-0"  # a running process's
    for d in (dead, alive):
        d.mkdir()
        (d / "half-written").write_text("x")
    monkeypatch.setattr(keyword_job, "MIN_PARAGRAPHS", 0)
    build.build_index([corpus_dir], ix)
    assert not dead.exists() and alive.exists()


def test_pending_embedder_counts_like_the_embedder(settings, built_index) -> None:
    texts = ["", "Idlib de-escalation", "Çavuşoğlu met Lavrov in Sochi. " * 40]
    pending = PendingEmbedder(settings)  # the session's build exported the model: no child
    real = embedder_for(settings)
    assert [pending.count_tokens(t) for t in texts] == [real.count_tokens(t) for t in texts]
    assert pending.ready() is real


def test_a_cancelled_export_leaves_the_cache_as_it_was(settings, tmp_path) -> None:
    cache = tmp_path / "models"
    pending = PendingEmbedder(replace(settings, model_cache=str(cache)))
    assert pending.count_tokens("Idlib de-escalation") > 2  # usable while the child exports
    deadline = time.monotonic() + 120
    while not list(cache.glob("*.tmp-*")) and time.monotonic() < deadline:
        time.sleep(0.2)  # until the child is writing its temporary export
    assert list(cache.glob("*.tmp-*")), "the export child never started writing"
    pending.cancel()
    left = [p for p in cache.rglob("*") if not p.name.startswith(".")] if cache.exists() else []
    assert left == []


def test_a_script_without_a_main_guard_can_build(settings, built_index, tmp_path, corpus_dir):
    """multiprocessing's spawn re-imports the caller's script in the child: such a script
    hung for ever in the first version of this (measured). The children are ``python -m``."""
    script = tmp_path / "build_it.py"
    script.write_text(
        "import sys\n"
        "from pathlib import Path\n"
        "from search import build, keyword_job\n"
        "from search.config import Settings\n"
        "keyword_job.MIN_PARAGRAPHS = 0\n"
        "s = Settings.from_env(index_dir=Path(sys.argv[1]))\n"
        "r = build.build_index([Path(sys.argv[2])], s)\n"
        "print(r.paragraphs)\n",
        "utf-8",
    )
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "ix"), str(corpus_dir)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert int(out.stdout.split()[-1]) == built_index.paragraphs


def test_a_change_to_the_postings_writer_is_not_linked_over(two, tmp_path, monkeypatch) -> None:
    """A rebuild hard-links whoosh/ and postings/ when the keyword fingerprint is unchanged:
    the code that writes postings/ must be part of it (an older postings format was linked
    into every later generation, and a version bump made the index unopenable)."""
    from search import postings_file

    records = [{"id": "a", "title": "Ferry", "source": None, "date": None}]
    paras = [{"article": 0, "text": "The harbour ferry sails at noon."}]
    serial, _ = two
    before = build.keyword_fingerprint(records, paras, serial)
    changed = tmp_path / "postings_file.py"
    changed.write_text(Path(postings_file.__file__).read_text() + "\n# VERSION = 2\n")
    monkeypatch.setattr(postings_file, "__file__", str(changed))
    assert build.keyword_fingerprint(records, paras, serial) != before


def test_an_index_without_postings_is_stale_and_gets_them(two, corpus_dir) -> None:
    """`make run` (index --if-stale) upgrades an index built before postings/ existed."""
    _, ix = two
    build.build_index([corpus_dir], ix)
    assert not build.is_stale([corpus_dir], ix)
    gen = store.current_generation(ix.index_dir)
    manifest = json.loads((gen / "manifest.json").read_text("utf-8"))
    manifest["files"] = {
        k: v for k, v in manifest["files"].items() if not k.startswith("postings/")
    }
    (gen / "manifest.json").write_text(json.dumps(manifest), "utf-8")
    shutil.rmtree(gen / "postings")
    assert build.is_stale([corpus_dir], ix)
    report = build.build_index([corpus_dir], ix)
    assert report.reused == report.paragraphs  # vectors kept; only the keyword files are new
    assert (store.current_generation(ix.index_dir) / "postings" / "meta.json").is_file()
    assert not build.is_stale([corpus_dir], ix)
