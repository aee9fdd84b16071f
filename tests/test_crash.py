"""Crash safety of the index: kill -9 at any moment, damaged files, a full disk.

The indexer is killed (SIGKILL) dozens of times, at named points inside a build or an update
(reading, embedding, Whoosh writing and committing, half-written vectors, checksums, fsyncs,
the rename, the pointer swap) and after random delays, while a real waitress server keeps
answering queries over HTTP. After every kill the live generation must verify (checksums) and
keep keyword rows, paragraphs and vectors aligned, the server must never have failed a request,
and the next build must succeed.

Loading Python + torch + the model per kill would cost seconds, so this already-loaded test
process forks the builders (``multiprocessing`` "fork") and the server. A forked child limits
torch to one thread: OpenMP's thread pool does not survive ``fork`` (the child would hang).
The kill points are test-side wrappers installed in the child only; no production code knows.
"""

from __future__ import annotations

import ast
import errno
import http.client
import io
import json
import multiprocessing
import os
import random
import shutil
import signal
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from search import build, layout, store, update
from search.cli import main as cli
from search.config import Settings
from search.embed import load_embedder
from search.engine import Engine
from search.generation import Generation
from search.layout import ARTICLES, PARAGRAPHS, VECTORS, WHOOSH
from search.store import MANIFEST

CORPUS = Path(__file__).parent / "data" / "corpus"
BASE_IDS = {"rates-1", "storm-2", "football-3", "ceasefire-4", "wheat-8"}
FORK = multiprocessing.get_context("fork")

# Where a builder can be when it dies, in the order a build goes through them.
PHASES = [
    "start",
    "read",
    "split",
    "embed",
    "keyword-write",
    "keyword-commit",
    "vectors-write",
    "commit-checksum",
    "commit-fsync",
    "commit-rename",
    "commit-pointer",
    "commit-replaced",
    "done",
]
PUBLISHED = PHASES.index("commit-replaced")  # from here on the new generation is live
KILL_POINTS = PHASES[1:-1]
KILLS_PER_POINT = 3
RANDOM_KILLS = 30
CLEAN_EVERY = 8  # every so often a build that is not killed must succeed


# --------------------------------------------------------------------------- the child side


def _arm(phase, target: str | None, nth: int, emb) -> None:
    """Instrument this (forked) process: note each phase in ``phase``; SIGKILL at ``target``.

    ``nth`` picks which occurrence of the target point dies (the 3rd fsync, the 10th
    document...). Wrappers replace module attributes of this child only.
    """
    seen: Counter[str] = Counter()

    in_commit = False

    def enter(name: str) -> None:
        if name.startswith("commit-") and not in_commit:
            return  # e.g. checksums verified while reading the live generation
        phase.value = max(phase.value, PHASES.index(name))  # fsyncs go on after the rename
        seen[name] += 1
        if name == target and seen[name] == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, attr: str, name: str, after: Callable[[], None] | None = None) -> None:
        original = getattr(owner, attr)

        def wrapper(*args, **kwargs):
            enter(name)
            result = original(*args, **kwargs)
            if after:
                after()
            return result

        setattr(owner, attr, wrapper)

    import whoosh.writing

    wrap(build, "read_corpus", "read")  # update reads through build.read_articles
    for module in (build, update):
        wrap(module, "split_all", "split")
    wrap(emb, "encode", "embed")
    wrap(whoosh.writing.SegmentWriter, "add_document", "keyword-write")
    wrap(whoosh.writing.SegmentWriter, "_assemble_segment", "keyword-commit")
    wrap(whoosh.writing.SegmentWriter, "_commit_toc", "keyword-commit")
    wrap(store, "sha256_file", "commit-checksum")
    wrap(store, "_fsync_path", "commit-fsync")

    real_save = layout.save_vectors

    def save_vectors(path: Path, matrix: np.ndarray, *appended) -> None:
        if target == "vectors-write":  # die with the file half written
            phase.value = PHASES.index("vectors-write")
            buf = io.BytesIO()
            np.save(buf, matrix, allow_pickle=False)
            with open(path, "wb") as f:
                f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                f.flush()
                os.fsync(f.fileno())
            os.kill(os.getpid(), signal.SIGKILL)
        enter("vectors-write")
        real_save(path, matrix, *appended)

    layout.save_vectors = save_vectors
    real_commit, real_rename, real_replace = store.commit_generation, os.rename, os.replace

    def commit_generation(*args, **kwargs):
        nonlocal in_commit
        in_commit = True
        return real_commit(*args, **kwargs)

    def rename(src, dst, *args, **kwargs):  # the generation directory gets its final name
        real_rename(src, dst, *args, **kwargs)
        enter("commit-rename")

    def replace_(src, dst, *args, **kwargs):  # CURRENT moves to the new generation
        enter("commit-pointer")
        real_replace(src, dst, *args, **kwargs)
        enter("commit-replaced")

    store.commit_generation = commit_generation
    os.rename, os.replace = rename, replace_


def _after_fork(settings: Settings) -> object:
    """Make this forked child independent of its parent; returns the (shared) embedder.

    * torch: one thread (OpenMP's pool does not survive ``fork``: the child would hang).
    * the embedder's lock: a parent thread may have held it at fork time.
    * tqdm's write lock is a *multiprocessing* lock shared with the parent: a child killed
      while holding it (tqdm bars are created even when disabled) would block the parent's
      next progress bar forever. The child gets a lock of its own.
    """
    import torch
    from tqdm import tqdm
    from tqdm.std import TqdmDefaultWriteLock

    torch.set_num_threads(1)
    TqdmDefaultWriteLock.mp_lock = None
    TqdmDefaultWriteLock.th_lock = threading.RLock()
    tqdm.set_lock(TqdmDefaultWriteLock())
    emb = load_embedder(settings.model_name, settings.embed_batch_size)
    emb._lock = threading.Lock()
    return emb


def _builder(
    settings: Settings, paths: list[Path], op: str, target: str | None, nth: int, phase, log: Path
) -> None:
    """Child process: build (``op="build"``) or update (``"add"``), maybe dying on the way."""
    try:
        emb = _after_fork(settings)
        _arm(phase, target, nth, emb)
        if op == "build":
            build.build_index(paths, settings, embedder=emb)
        else:
            update.add_paths(paths, settings, embedder=emb)
        phase.value = PHASES.index("done")
        code = 0
    except BaseException:
        log.write_text(traceback.format_exc())
        code = 1
    os._exit(code)


def _run_builder(
    settings: Settings,
    paths: list[Path],
    op: str,
    target: str | None = None,
    nth: int = 1,
    delay: float | None = None,
    log: Path | None = None,
) -> tuple[int, str]:
    """Fork a builder; SIGKILL it after ``delay`` seconds if given. (exit code, last phase)."""
    phase = FORK.RawValue("i", 0)
    log = log or Path(settings.index_dir).parent / "builder.log"
    proc = FORK.Process(target=_builder, args=(settings, paths, op, target, nth, phase, log))
    proc.start()
    if delay is not None:
        proc.join(delay)
        if proc.exitcode is None:
            proc.kill()
    proc.join(120)
    if proc.exitcode is None:  # hung: never let a test wait forever
        proc.kill()
        proc.join()
        pytest.fail(f"builder hung in phase {PHASES[phase.value]}")
    if proc.exitcode == 1:
        pytest.fail(f"builder failed:\n{log.read_text()}")
    return proc.exitcode, PHASES[phase.value]


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """This module forks its builders and servers: they embed with torch (limited to one
    thread after ``fork``) and use the exact vector scan. OpenVINO, the default embedder and
    int8 scan, runs on a thread pool that, like OpenMP's, does not survive ``fork``."""
    return Settings.from_env(
        index_dir=tmp_path_factory.mktemp("crash-index"), embed_backend="torch", vector_scan="exact"
    )


@pytest.fixture(scope="module")
def built_index(settings: Settings) -> build.BuildReport:
    return build.build_index([CORPUS], settings)


# --------------------------------------------------------------------------- the server


def _server(settings: Settings, conn) -> None:
    """Child process: the production WSGI server (waitress) over ``settings.index_dir``."""
    import logging

    from waitress import create_server

    import search.engine
    from web import create_app

    _after_fork(settings)
    search.engine.RELOAD_CHECK_SECONDS = 0.05  # switch generations as often as possible
    logging.basicConfig(level=logging.WARNING)
    app = create_app({"SETTINGS": settings, "ENGINE_RETRY_SECONDS": 0.2})
    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    conn.send(server.effective_port)
    server.run()


class Prober(threading.Thread):
    """Keeps querying the server over HTTP; records every failure and each generation seen."""

    REQUESTS = [
        ("/api/search?q=wheat+harvest&mode=keyword", "wheat-8"),
        ("/api/search?q=interest+rates+inflation&mode=hybrid", "rates-1"),
        ("/api/search?q=hurricane+coast&mode=semantic", "storm-2"),
        ("/api/articles/ceasefire-4", "ceasefire-4"),
        ("/api/articles/rates-1/related", "rates-1"),
        ("/?q=goalkeeper+penalty", "football-3"),
        ("/api/health", None),
    ]

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stop = threading.Event()
        self.count = 0
        self.errors: list[str] = []
        self.generations: set[str] = set()

    def run(self) -> None:
        i = 0
        while not self.stop.is_set():
            path, expect = self.REQUESTS[i % len(self.REQUESTS)]
            i += 1
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                conn.request("GET", path)
                res = conn.getresponse()
                body = res.read().decode("utf-8", "replace")
                conn.close()
            except OSError as e:
                self.errors.append(f"{path}: {e!r}")
                continue
            self.count += 1
            if res.status != 200 or (expect and expect not in body):
                self.errors.append(f"{path}: {res.status} {body[:300]}")
            elif path == "/api/health":
                self.generations.add(json.loads(body)["generation"])


@pytest.fixture()
def server(tmp_path: Path, settings: Settings, built_index):
    """A waitress server (forked, model already loaded) over a copy of the session index."""
    s = replace(settings, index_dir=tmp_path / "ix")
    shutil.copytree(settings.index_dir, s.index_dir)
    parent, child = FORK.Pipe()
    proc = FORK.Process(target=_server, args=(s, child), daemon=True)
    proc.start()
    assert parent.poll(60), "server did not start"
    port = parent.recv()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                break
        except OSError:
            time.sleep(0.1)
    yield s, port
    proc.kill()
    proc.join()


def _check_live(s: Settings, must_have: set[str]) -> str:
    """The live generation verifies, its rows line up, and it holds ``must_have``."""
    name = store.current_name(s.index_dir)
    assert name is not None
    gen = Generation.open(s.index_dir / name, s)  # checksums + row alignment, or IndexCorrupt
    try:
        assert must_have <= set(gen.article_index), must_have - set(gen.article_index)
        assert len(gen.vectors) == len(gen.paragraphs) == gen.manifest["counts"]["rows"]
    finally:
        gen.close()
    return name


def _story(folder: Path, i: int) -> Path:
    path = folder / f"story-{i}.jsonl"
    text = (
        f"Rescue teams reached village number {i} after the landslide on Tuesday night.\n\n"
        f"Officials said {i} families were moved to the school while engineers checked the road."
    )
    record = {"id": f"crash-{i}", "title": f"Landslide report {i}", "text": text}
    path.write_text(json.dumps(record) + "\n")
    return path


# --------------------------------------------------------------------------- the kill loop


def test_kill_9_at_any_moment_while_serving(server, tmp_path: Path) -> None:
    s, port = server
    rng = random.Random(20240607)
    stories = tmp_path / "stories"
    stories.mkdir()
    # How long an uninterrupted update takes, to spread the random kills over it.
    t = time.perf_counter()
    code, _ = _run_builder(s, [_story(stories, 0)], "add")
    duration = time.perf_counter() - t
    assert code == 0
    prober = Prober(port)
    prober.start()
    plan: list[str | None] = [p for p in KILL_POINTS for _ in range(KILLS_PER_POINT)]
    plan += [None] * RANDOM_KILLS  # None: SIGKILL from outside after a random delay
    rng.shuffle(plan)
    plan = [
        x
        for i, target in enumerate(plan)
        for x in ([target, "none"] if i % CLEAN_EVERY == 7 else [target])
    ]
    kills: Counter[str] = Counter()
    completed = 0
    live = _check_live(s, BASE_IDS)
    try:
        for step, target in enumerate(plan, start=1):
            op = "build" if step % 2 else "add"
            story = _story(stories, step)
            paths = [CORPUS, story] if op == "build" else [story]
            if target == "none":  # the next build after kills simply works
                code, phase = _run_builder(s, paths, op)
                assert code == 0 and phase == "done"
                completed += 1
                live = _check_live(s, BASE_IDS | {f"crash-{step}"})
                continue
            if target is None:
                # Within the first 70% of an undisturbed update's time: a kill that comes after
                # the builder finished proves nothing, and how long a build takes varies with load.
                code, phase = _run_builder(s, paths, op, delay=rng.uniform(0, 0.7 * duration))
            else:
                nth = 1
                if target in ("keyword-write", "commit-fsync", "commit-checksum"):
                    nth = rng.randint(1, 3 if op == "add" else 8)
                elif target == "keyword-commit":
                    nth = rng.randint(1, 2)
                code, phase = _run_builder(s, paths, op, target, nth)
            if code == 0:  # finished before the random delay ran out
                completed += 1
                live = _check_live(s, BASE_IDS | {f"crash-{step}"})
                continue
            assert code == -signal.SIGKILL, (target, code)
            kills[phase] += 1
            before = live
            live = _check_live(s, BASE_IDS)
            if phase == "commit-pointer":  # killed just before or just after os.replace
                pass
            elif PHASES.index(phase) < PUBLISHED:
                assert live == before, (phase, live, before)  # the old generation still serves
            else:
                assert live != before, phase
            assert not prober.errors, prober.errors[:5]
        # After all that: a clean build, and nothing left behind but two generations.
        code, _ = _run_builder(s, [CORPUS], "build")
        assert code == 0
        _check_live(s, BASE_IDS)
        time.sleep(0.3)  # let the server switch once more while being probed
    finally:
        prober.stop.set()
        prober.join(60)
    leftovers = [p.name for p in s.index_dir.iterdir() if ".tmp-" in p.name]
    assert not leftovers
    from tqdm.std import TqdmDefaultWriteLock

    shared = getattr(TqdmDefaultWriteLock, "mp_lock", None)  # no child died holding ours
    assert shared is None or (shared.acquire(timeout=5) and shared.release() is None)
    total = sum(kills.values())
    print(
        f"\n{total} kills survived, {completed} builds completed; by phase: "
        + ", ".join(f"{p} {kills[p]}" for p in PHASES if kills[p])
        + f"; server answered {prober.count} requests, 0 failed, "
        f"over {len(prober.generations)} generations"
    )
    # Every targeted kill lands; random ones land only while the builder still runs (load decides
    # how many): at least a third of them must, on top of the targeted ones.
    targeted = len(KILL_POINTS) * KILLS_PER_POINT
    assert total >= targeted + RANDOM_KILLS // 3, (total, targeted)
    assert sum(kills[p] for p in ("commit-checksum", "commit-fsync", "commit-rename")) >= 6
    assert kills["vectors-write"] >= KILLS_PER_POINT and kills["keyword-commit"] >= 2
    assert not prober.errors, prober.errors[:5]
    assert prober.count >= 100 and len(prober.generations) >= 5


def test_killed_first_build_answers_503_not_500(tmp_path: Path, settings: Settings) -> None:
    """No index yet and the first build dies: 'not ready' (503) everywhere, never a 500, until
    a whole generation is on disk."""
    from web import create_app

    s = replace(settings, index_dir=tmp_path / "ix")
    client = create_app({"TESTING": True, "SETTINGS": s, "ENGINE_RETRY_SECONDS": 0}).test_client()
    small = tmp_path / "small.jsonl"  # two articles: every first build embeds all of it
    lines = (CORPUS / "wire.jsonl").read_text().splitlines()
    small.write_text("\n".join(x for x in lines if '"wheat-8"' in x or '"rates-1"' in x))
    points = ["read", "embed", "keyword-commit", "vectors-write", "commit-fsync"]
    for target in points:
        code, phase = _run_builder(s, [small], "build", target)
        assert (code, phase) == (-signal.SIGKILL, target)
        assert store.current_name(s.index_dir) is None
        for path in ("/api/search?q=wheat", "/api/health", "/api/articles/rates-1"):
            res = client.get(path)
            assert res.status_code == 503, (target, path, res.status_code)
            assert res.get_json()["error"]["code"] == "index_not_ready"
        page = client.get("/?q=wheat")
        assert page.status_code == 503 and "not ready" in page.get_data(as_text=True)
    # Killed once the generation is complete on disk but before CURRENT names it: that
    # generation is the newest on disk, and served (issue #17: no 503 while one sits there).
    for target in ["commit-rename", "commit-pointer"]:
        code, phase = _run_builder(s, [small], "build", target)
        assert (code, phase) == (-signal.SIGKILL, target)
        assert store.current_name(s.index_dir) == store.generations(s.index_dir)[0].name
    code, phase = _run_builder(s, [small], "build", "commit-replaced")
    assert (code, phase) == (-signal.SIGKILL, "commit-replaced")  # died just after the swap
    res = client.get("/api/search?q=wheat&mode=keyword")
    assert res.status_code == 200 and res.get_json()["results"][0]["article_id"] == "wheat-8"


# --------------------------------------------------------------------------- damaged files


def _copy_index(settings: Settings, dest: Path) -> Settings:
    shutil.copytree(settings.index_dir, dest)
    for extra in dest.glob("gen-*"):  # keep only the live generation of the session index
        if extra.name != store.current_name(dest):
            shutil.rmtree(extra)
    return replace(settings, index_dir=dest)


def _publish_copy(s: Settings, damage: Callable[[Path], None] | None = None) -> Path:
    """A second generation, a copy of the live one with ``damage`` done after its commit."""
    live = store.current_generation(s.index_dir)
    with store.writer_lock(s.index_dir):
        tmp = store.new_generation_dir(s.index_dir)
        shutil.copytree(live, tmp, dirs_exist_ok=True)
        (tmp / MANIFEST).unlink()
        manifest = store.read_manifest(live, verify=False)
        final = store.commit_generation(s.index_dir, tmp, manifest)
    if damage:
        damage(final)
    return final


def _flip(path: Path, at: int = -7, mask: int = 0x40) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= mask
    path.write_bytes(bytes(data))


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _largest_whoosh_file(gen: Path) -> Path:
    return max((gen / WHOOSH).iterdir(), key=lambda p: p.stat().st_size)


DAMAGE = {
    "whoosh segment truncated": lambda g: _truncate(_largest_whoosh_file(g)),
    "whoosh segment bit flip": lambda g: _flip(_largest_whoosh_file(g), at=200, mask=0x01),
    "vectors bit flip": lambda g: _flip(g / VECTORS),
    "vectors truncated": lambda g: _truncate(g / VECTORS),
    "paragraphs bit flip": lambda g: _flip(g / PARAGRAPHS, at=40, mask=0x20),
    "articles deleted": lambda g: (g / ARTICLES).unlink(),
    "manifest garbage": lambda g: (g / MANIFEST).write_text("{not json"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_generation_is_refused_and_the_last_good_one_serves(
    damage: str, tmp_path: Path, settings: Settings, built_index, caplog
) -> None:
    from web import create_app

    s = _copy_index(settings, tmp_path / "ix")
    good = store.current_name(s.index_dir)
    engine = Engine.open(s)  # a running server, on the good generation
    bad = _publish_copy(s, DAMAGE[damage])
    assert store.current_name(s.index_dir) == bad.name  # CURRENT names the damaged one
    engine._checked = -1e9  # as if a second had passed: the engine looks at CURRENT
    assert engine.backend.snapshot == good
    assert any("unusable" in r.message for r in caplog.records)  # reported
    fresh = create_app({"TESTING": True, "SETTINGS": s}).test_client()  # a restarted server
    assert fresh.get("/api/health").get_json()["generation"] == good
    res = fresh.get("/api/search?q=wheat&mode=hybrid")
    assert res.status_code == 200 and res.get_json()["results"][0]["article_id"] == "wheat-8"
    assert build.is_stale([CORPUS], s)  # `make run` rebuilds a damaged index


def test_every_generation_damaged_is_503_and_a_clear_cli_error(
    tmp_path: Path, settings: Settings, built_index
) -> None:
    from web import create_app

    s = _copy_index(settings, tmp_path / "ix")
    _flip(store.current_generation(s.index_dir) / VECTORS)
    app = create_app({"TESTING": True, "SETTINGS": s, "ENGINE_RETRY_SECONDS": 0})
    res = app.test_client().get("/api/search?q=wheat")
    assert res.status_code == 503 and res.get_json()["error"]["code"] == "index_not_ready"
    out = CliRunner().invoke(cli, ["search", "wheat", "--index-dir", str(s.index_dir)])
    assert out.exit_code == 1 and "checksum mismatch" in out.output
    assert "Traceback" not in out.output


def test_vectors_of_a_damaged_live_generation_are_not_reused(
    tmp_path: Path, settings: Settings, built_index
) -> None:
    s = _copy_index(settings, tmp_path / "ix")
    good = np.load(store.current_generation(s.index_dir) / VECTORS)
    # Damage one float of the live vectors badly (its exponent), after the commit.
    bad = _publish_copy(s, lambda g: _flip(g / VECTORS, at=-1, mask=0x40))
    assert not np.allclose(np.load(bad / VECTORS), good, atol=1e-3)
    rep = build.build_index([CORPUS], s)
    assert rep.reused == 0  # nothing taken from the damaged generation...
    fresh = np.load(s.index_dir / rep.generation / VECTORS)
    assert np.allclose(fresh, good, atol=1e-4)  # ...so the new one holds the right vectors


# --------------------------------------------------------------------------- full disk


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _erofs(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("search.layout.save_vectors", _enospc),  # writing the embeddings
        ("whoosh.writing.SegmentWriter.commit", _enospc),  # the Whoosh commit
        ("search.store._fsync_path", _enospc),  # inside our commit (fsync can say ENOSPC)
        ("search.store.new_generation_dir", _erofs),  # a read-only index directory
    ],
)
@pytest.mark.parametrize("command", ["index", "add"])
def test_disk_full_or_read_only_keeps_the_old_index(
    command: str, where: str, error, tmp_path: Path, settings: Settings, built_index, monkeypatch
) -> None:
    from web import create_app

    s = _copy_index(settings, tmp_path / "ix")
    before = store.current_name(s.index_dir)
    client = create_app({"TESTING": True, "SETTINGS": s}).test_client()
    new = tmp_path / "new.jsonl"
    new.write_text(json.dumps({"id": "new-1", "title": "Glacier", "text": "Ice melts."}) + "\n")
    paths = [str(CORPUS), str(new)] if command == "index" else [str(new)]
    with monkeypatch.context() as m:
        m.setattr(where, error)
        out = CliRunner().invoke(cli, [command, *paths, "--index-dir", str(s.index_dir), "--quiet"])
    assert out.exit_code == 1, out.output
    assert "previous index kept" in out.output
    assert ("No space left" in out.output) or ("Read-only" in out.output)
    assert "Traceback" not in out.output
    assert store.current_name(s.index_dir) == before
    res = client.get("/api/search?q=wheat&mode=keyword")
    assert res.status_code == 200 and res.get_json()["results"][0]["article_id"] == "wheat-8"
    # The disk has room again: the next run works and cleans up after the failed one.
    again = CliRunner().invoke(cli, [command, *paths, "--index-dir", str(s.index_dir), "--quiet"])
    assert again.exit_code == 0, again.output
    assert not [p for p in s.index_dir.iterdir() if ".tmp-" in p.name]
    assert _check_live(s, BASE_IDS | {"new-1"})


# --------------------------------------------------------------------------- no pickles


class _Payload:
    """Unpickling this creates a file: proof that a pickle was executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_embeddings_never_load_pickles(tmp_path: Path, settings: Settings, built_index) -> None:
    s = _copy_index(settings, tmp_path / "ix")
    marker = tmp_path / "pwned"

    def plant(gen: Path) -> None:  # object array with valid checksums: only the loader can stop it
        np.save(gen / VECTORS, np.array([_Payload(marker)], dtype=object), allow_pickle=True)
        manifest = json.loads((gen / MANIFEST).read_text())
        manifest["files"][VECTORS] = {
            "bytes": (gen / VECTORS).stat().st_size,
            "sha256": store.sha256_file(gen / VECTORS),
        }
        (gen / MANIFEST).write_text(json.dumps(manifest))

    bad = _publish_copy(s, plant)
    with pytest.raises(store.IndexCorrupt):
        Generation.open(bad, s)
    out = CliRunner().invoke(cli, ["add", str(CORPUS), "--index-dir", str(s.index_dir)])
    assert out.exit_code == 1 and "Traceback" not in out.output
    build.build_index([CORPUS], s)  # a rebuild reads the live vectors for reuse
    assert not marker.exists()
    # And every np.load in the package says so explicitly.
    for source in (Path(build.__file__).parent).glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "load":
                if getattr(node.func.value, "id", None) == "np":
                    kw = {k.arg: k.value for k in node.keywords}
                    assert "allow_pickle" in kw, f"{source.name}:{node.lineno}"
                    assert getattr(kw["allow_pickle"], "value", None) is False
