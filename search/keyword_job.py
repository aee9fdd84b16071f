"""The keyword index written by a child process while the build embeds.

The Whoosh write is pure Python (one core) and the embedding leaves that core mostly idle
on its own wait: BBC, 11,617 paragraphs, quiet, serially 76 s = export ~35 + embed ~22 +
Whoosh ~14 + split/commit ~5. The documents are fixed once the build has split its
articles, so the child starts then, into a staging directory beside the generations.
Inside the writer lock the build uses the child's index only when the documents it would
index are the ones the child was given (the same ``keyword_fingerprint``: a concurrent
``add``/``delete`` changes it); otherwise it writes them itself, as before.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import time
from pathlib import Path

from .keyword import KeywordDoc, write_index

# Below this a child's start (~1 s: a fresh interpreter importing Whoosh) costs more than
# writing in process (BBC-sized builds write ~800 paragraphs/s).
MIN_PARAGRAPHS = 2000
STAGING = "keyword.tmp-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_abandoned(index_dir: Path) -> None:
    """Staging directories of builds that no longer run (killed before their commit)."""
    for d in index_dir.glob(STAGING + "*"):
        pid = d.name[len(STAGING) :]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _write(conn, directory: str, docs: list[KeywordDoc], title_boost: float) -> None:
    t = time.perf_counter()
    try:
        write_index(Path(directory), docs, title_boost)
    except BaseException as e:  # the build re-raises it
        conn.send(("error", e))
        raise
    conn.send(("ok", time.perf_counter() - t))


class KeywordJob:
    """``write_index(directory, docs, title_boost)`` running in a child process."""

    def __init__(self, index_dir: Path, docs: list[KeywordDoc], title_boost: float, key: str):
        index_dir.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(index_dir)
        self.key = key
        self._dir = index_dir / f"{STAGING}{os.getpid()}"
        shutil.rmtree(self._dir, ignore_errors=True)
        ctx = multiprocessing.get_context("spawn")  # never fork a process holding threads
        self._conn, child_end = ctx.Pipe(duplex=False)
        self._child = ctx.Process(
            target=_write,
            args=(child_end, str(self._dir), docs, title_boost),
            name="newsearch-keyword",
            daemon=True,  # dies with the build
        )
        self._child.start()
        child_end.close()

    def take(self, dest: Path) -> float:
        """Wait for the child and move its index to ``dest`` (same file system: a rename);
        the child's seconds. A failure in the child is raised here."""
        try:
            try:
                status, value = self._conn.recv()
            except EOFError:
                self._child.join()
                raise RuntimeError(
                    f"the keyword index writer died (exit code {self._child.exitcode})"
                ) from None
            if status == "error":
                raise value
            os.rename(self._dir, dest)
            return value
        finally:
            self.discard()

    def discard(self) -> None:
        """Stop the child (if still writing) and throw its index away."""
        if self._child.is_alive():
            self._child.terminate()
        self._child.join()
        self._conn.close()
        shutil.rmtree(self._dir, ignore_errors=True)
