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

import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .keyword import KeywordDoc, write_index
from .layout import POSTINGS, WHOOSH
from .postings_file import write_postings

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


class KeywordJob:
    """``write_index`` and ``write_postings`` (a generation's ``whoosh/`` and ``postings/``)
    running in a child process.

    The child is ``python -m search.keyword_job`` reading the documents from its stdin: not
    multiprocessing, whose spawn re-imports the caller's main script (a script without a
    ``__main__`` guard would build again in the child) and blocks for ever writing to a child
    that died before reading its arguments (measured: a hung build).
    """

    def __init__(self, index_dir: Path, docs: list[KeywordDoc], title_boost: float, key: str):
        index_dir.mkdir(parents=True, exist_ok=True)
        _remove_abandoned(index_dir)
        self.key = key
        self._dir = index_dir / f"{STAGING}{os.getpid()}"
        shutil.rmtree(self._dir, ignore_errors=True)
        self._err = tempfile.TemporaryFile()
        self._child = subprocess.Popen(
            [sys.executable, "-m", __name__, str(self._dir), repr(float(title_boost))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
        )
        stdin, self._child.stdin = self._child.stdin, None
        try:
            pickle.dump(docs, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:  # it died before reading them: take() says why
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def take(self, tmp: Path) -> float:
        """Wait for the child and move its ``whoosh/`` and ``postings/`` into the generation
        directory ``tmp`` (same file system: renames); the child's seconds. A failure in the
        child is raised here."""
        try:
            out, _ = self._child.communicate()
            if self._child.returncode != 0:
                self._err.seek(0)
                lines = self._err.read().decode("utf-8", "replace").strip().splitlines()
                why = lines[-1] if lines else f"exit code {self._child.returncode}"
                raise RuntimeError(f"the keyword index writer failed: {why}")
            for name in (WHOOSH, POSTINGS):
                os.rename(self._dir / name, tmp / name)
            return float(out.decode().strip() or 0.0)
        finally:
            self.discard()

    def discard(self) -> None:
        """Stop the child (if still writing) and throw its index away."""
        if self._child.poll() is None:
            self._child.kill()
        self._child.wait()
        if self._child.stdout is not None:
            self._child.stdout.close()
        self._err.close()
        shutil.rmtree(self._dir, ignore_errors=True)


def _main(directory: str, title_boost: str) -> None:
    # A filler beside the build's critical path (the export, then the embedding): it yields.
    os.nice(10)
    docs = pickle.load(sys.stdin.buffer)
    t = time.perf_counter()
    write_index(Path(directory) / WHOOSH, docs, float(title_boost))
    write_postings(Path(directory) / WHOOSH, Path(directory) / POSTINGS)
    print(f"{time.perf_counter() - t:.3f}")


if __name__ == "__main__":
    _main(*sys.argv[1:])
