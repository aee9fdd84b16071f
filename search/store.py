"""Generations on disk: build into a new directory, fsync it, then swap a pointer atomically.

Layout (see README "How it works")::

    index/
      CURRENT          name of the live generation, replaced with os.replace
      .lock            writers take an exclusive flock here: one build at a time
      gen-000007/      manifest.json + data files; never modified once CURRENT names it

Whoosh never fsyncs; this module does, for every file of a generation and the directories,
before the pointer moves. Readers open ``CURRENT`` once and keep that generation until a newer
one appears; a killed build leaves only a ``*.tmp-*`` directory that the next build removes.

A ``CURRENT`` that lies (missing, empty, not UTF-8, naming no generation) while generations
exist is not "no index": the live generation is then the newest one on disk (its callers verify
it as they always do, so a writer refuses a damaged one and a reader falls back to an older one
that verifies), never an empty index that a writer would build from scratch (issue #17).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
_GEN_RE = re.compile(r"^gen-(\d{6})$")
KEEP_GENERATIONS = 2
# A replaced generation may still be read for a while (an engine notices a new CURRENT on its
# next search, at most every second, and finishes the searches it started): not removed sooner.
PRUNE_GRACE_SECONDS = 60.0
# ... but never more than this many on disk, however fast writes come: with writes under 60 s
# apart the grace alone kept 12 generations (402 MB, issue #17). The extra ones are 2+ commits
# old, which an engine following CURRENT left long ago.
MAX_GENERATIONS = 4


class IndexError_(Exception):
    """Base for index problems a user can act on (message says what to do)."""


class IndexNotReady(IndexError_):
    """No generation has been committed yet (or CURRENT names a missing one)."""


class IndexCorrupt(IndexError_):
    """A generation's files do not match its manifest (truncated, bit-flipped, wrong model)."""


class IndexBusy(IndexError_):
    """Another writer holds the index lock."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _data_files(gen_dir: Path) -> list[Path]:
    return sorted(p for p in gen_dir.rglob("*") if p.is_file() and p.name != MANIFEST)


def _pointer(index_dir: Path) -> tuple[str | None, str]:
    """(the generation CURRENT names, or None; what is wrong with CURRENT when None)."""
    try:
        raw = (index_dir / CURRENT).read_bytes()
    except FileNotFoundError:
        return None, "missing"
    except OSError as e:
        return None, f"unreadable ({e.strerror or e})"
    try:
        name = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if not name:
        return None, "empty"
    if not _GEN_RE.match(name):
        return None, f"naming {name[:40]!r}, not a generation"
    if not (index_dir / name / MANIFEST).is_file():
        return None, f"naming {name}, which is not on disk"
    return name, ""


_warned: set[tuple[str, str]] = set()  # (index dir, problem): logged once per process


def current_name(index_dir: Path) -> str | None:
    """The live generation's directory name, or None when nothing was committed yet.

    When CURRENT is broken but generations exist, the newest generation with a manifest
    (logged once): callers verify it before use, as they do the one CURRENT names.
    """
    name, problem = _pointer(index_dir)
    if name is not None:
        return name
    candidates = [g for g in generations(index_dir) if (g / MANIFEST).is_file()]
    if not candidates:
        return None
    if (str(index_dir), problem) not in _warned and len(_warned) < 64:
        _warned.add((str(index_dir), problem))
        log.warning(
            "%s is %s; using %s, the newest generation on disk (the next write repairs it)",
            index_dir / CURRENT,
            problem,
            candidates[0].name,
        )
    return candidates[0].name


def generations(index_dir: Path) -> list[Path]:
    """Committed-looking generation directories, newest first."""
    try:
        return sorted((p for p in index_dir.iterdir() if _GEN_RE.match(p.name)), reverse=True)
    except FileNotFoundError:
        return []


def current_generation(index_dir: Path) -> Path:
    """Path of the live generation; raises IndexNotReady when there is none."""
    name = current_name(index_dir)
    if name is None or not (index_dir / name / MANIFEST).is_file():
        raise IndexNotReady(
            f"no index at {index_dir}: build one with "
            f"`newsearch index PATH --index-dir {index_dir}`"
        )
    return index_dir / name


def read_manifest(
    gen_dir: Path, verify: bool = True, only: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """Load a generation's manifest; with ``verify`` check every file's size and sha256
    (or only those of the files named in ``only``)."""
    try:
        manifest = json.loads((gen_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise IndexCorrupt(f"{gen_dir / MANIFEST}: unreadable manifest ({e})") from e
    if verify:
        for rel, meta in manifest.get("files", {}).items():
            if only is not None and rel not in only:
                continue
            path = gen_dir / rel
            if not path.is_file():
                raise IndexCorrupt(f"{path}: missing")
            if path.stat().st_size != meta["bytes"]:
                raise IndexCorrupt(f"{path}: size {path.stat().st_size} != {meta['bytes']}")
            if sha256_file(path) != meta["sha256"]:
                raise IndexCorrupt(f"{path}: checksum mismatch (file damaged)")
    return manifest


@contextlib.contextmanager
def writer_lock(index_dir: Path, wait: float = 0.0) -> Iterator[None]:
    """Exclusive lock for writers; waits up to ``wait`` seconds, then raises IndexBusy."""
    index_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(index_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + wait
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES) or time.monotonic() >= deadline:
                    raise IndexBusy(f"{index_dir} is being written by another process") from e
                time.sleep(0.1)
        _remove_temporaries(index_dir, "gen-*.tmp-*")  # left by a writer that was killed
        try:
            yield
        finally:
            # Ours, when this writer failed (a full disk, an error) before committing: never
            # left to fill the disk until the next writer comes.
            _remove_temporaries(index_dir, f"gen-*.tmp-{os.getpid()}")
    finally:
        os.close(fd)


def _remove_temporaries(index_dir: Path, pattern: str) -> None:
    """Remove temporary generations matching ``pattern`` (call holding the writer lock)."""
    for stale in index_dir.glob(pattern):
        shutil.rmtree(stale, ignore_errors=True)


def _next_number(index_dir: Path) -> int:
    numbers = [int(m.group(1)) for p in index_dir.iterdir() if (m := _GEN_RE.match(p.name))]
    return max(numbers, default=0) + 1


def new_generation_dir(index_dir: Path) -> Path:
    """A fresh, empty temporary directory to build the next generation in (call under lock)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    _remove_temporaries(index_dir, "gen-*.tmp-*")  # left by a killed build
    for stale in index_dir.glob(f"{CURRENT}.tmp-*"):  # a pointer a killed commit never moved
        stale.unlink(missing_ok=True)
    tmp = index_dir / f"gen-{_next_number(index_dir):06d}.tmp-{os.getpid()}"
    tmp.mkdir()
    return tmp


def commit_generation(
    index_dir: Path, tmp_dir: Path, manifest: dict[str, Any], verified: Path | None = None
) -> Path:
    """Checksum, fsync and publish ``tmp_dir``; CURRENT names it only when all is on disk.

    ``verified``: a generation whose files this writer checked against its manifest (an
    update's live one): a file hard-linked from it (the same inode) keeps its checksum
    instead of being read again (at 100k paragraphs ~260 MB of vectors, paragraphs and
    Whoosh segments an update shares with it)."""
    known = _linked_checksums(verified) if verified is not None else {}
    files = {}
    for path in _data_files(tmp_dir):
        rel = path.relative_to(tmp_dir).as_posix()
        st = path.stat()
        entry = known.get(rel)
        if entry is not None and (st.st_dev, st.st_ino, st.st_size) == entry[0]:
            files[rel] = entry[1]
        else:
            files[rel] = {"bytes": st.st_size, "sha256": sha256_file(path)}
        _fsync_path(path)
    manifest = {**manifest, "files": files}
    with open(tmp_dir / MANIFEST, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    for d in sorted({p.parent for p in tmp_dir.rglob("*")} | {tmp_dir}):
        _fsync_path(d)
    final = index_dir / tmp_dir.name.split(".tmp-")[0]
    os.rename(tmp_dir, final)
    _fsync_path(index_dir)
    pointer = index_dir / f"{CURRENT}.tmp-{os.getpid()}"
    with open(pointer, "w", encoding="utf-8") as f:
        f.write(final.name + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(pointer, index_dir / CURRENT)
    _fsync_path(index_dir)
    _prune(index_dir, keep=final.name)
    return final


def _linked_checksums(gen_dir: Path) -> dict[str, tuple[tuple[int, int, int], dict]]:
    """rel path -> ((device, inode, size), manifest entry) of a committed generation's files."""
    try:
        files = json.loads((gen_dir / MANIFEST).read_text(encoding="utf-8")).get("files", {})
    except (OSError, ValueError):
        return {}
    out = {}
    for rel, entry in files.items():
        try:
            st = (gen_dir / rel).stat()
        except OSError:
            continue
        if st.st_size == entry.get("bytes"):
            out[rel] = ((st.st_dev, st.st_ino, st.st_size), entry)
    return out


def _prune(index_dir: Path, keep: str) -> None:
    """Remove generations older than the last KEEP_GENERATIONS, once replaced for a while,
    and any beyond the newest MAX_GENERATIONS however recently replaced.

    A generation stopped being live when the next one was committed (its manifest's mtime);
    one replaced less than PRUNE_GRACE_SECONDS ago may still be answering a search.
    """
    gens = sorted(p for p in index_dir.iterdir() if _GEN_RE.match(p.name))
    older = [p for p in gens if p.name != keep]
    doomed = set(older[: max(0, len(older) - (KEEP_GENERATIONS - 1))])
    too_many = set(older[: max(0, len(older) - (MAX_GENERATIONS - 1))])
    now = time.time()
    for old, successor in zip(gens, gens[1:], strict=False):
        replaced_long_ago = now - _mtime(successor / MANIFEST) >= PRUNE_GRACE_SECONDS
        if old in too_many or (old in doomed and replaced_long_ago):
            shutil.rmtree(old, ignore_errors=True)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:  # a successor without a manifest: not a reason to keep anything
        return 0.0
