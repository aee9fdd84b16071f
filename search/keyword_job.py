"""The keyword index written by a child process while the build embeds.

The Whoosh write is pure Python (one core) and the embedding leaves that core mostly idle
on its own wait: BBC, 11,617 paragraphs, quiet, serially 76 s = export ~35 + embed ~22 +
Whoosh ~14 + split/commit ~5. The documents are fixed once the build has split its
articles, so the child starts then, into a staging directory beside the generations.
Inside the writer lock the build uses the child's index only when the documents it would
index are the ones the child was given (the same ``keyword_fingerprint``: a concurrent
``add``/``delete`` changes it); otherwise — or when the child failed — it writes them
itself, as before. Correctness never depends on the child.
"""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .keyword import KeywordDoc, write_index
from .layout import POSTINGS, WHOOSH
from .postings_write import write_postings

log = logging.getLogger(__name__)

# Below this a child's start (~1 s: a fresh interpreter importing Whoosh) costs more than
# writing in process (BBC-sized builds write ~800 paragraphs/s).
MIN_PARAGRAPHS = 2000
STAGING = "keyword.tmp-"
_calls = itertools.count()
# The directory holding the package the parent runs: the child imports exactly that one.
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_abandoned(index_dir: Path) -> None:
    """Staging directories of builds that no longer run (killed before their commit; their
    child died with them, see ``_main``). Call holding the writer lock."""
    for d in index_dir.glob(STAGING + "*"):
        pid = d.name[len(STAGING) :].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def child_command(module: str, *args: str) -> tuple[list[str], dict[str, str]]:
    """``python -P -m module args`` importing this very package (not one that happens to be
    in the current directory: ``-m`` alone puts the cwd first on the path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    return [sys.executable, "-P", "-m", module, *args], env


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
        self.key = key
        self._ok: bool | None = None
        self._dir = index_dir / f"{STAGING}{os.getpid()}-{next(_calls)}"
        shutil.rmtree(self._dir, ignore_errors=True)
        self._err = tempfile.TemporaryFile()
        cmd, env = child_command(__name__, str(self._dir), repr(float(title_boost)))
        self._child = subprocess.Popen(
            [*cmd, str(os.getpid())],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._err,
            env=env,
        )
        stdin, self._child.stdin = self._child.stdin, None
        try:
            pickle.dump(docs, stdin, protocol=pickle.HIGHEST_PROTOCOL)
        except OSError:  # it died before reading them: finish() says why
            pass
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def finish(self) -> bool:
        """Wait for the child; True when its index is ready to move in. A failure is logged
        (the build then writes the index itself and meets the real error, if any)."""
        if self._ok is None:
            out, _ = self._child.communicate()
            self._ok = self._child.returncode == 0 and (self._dir / POSTINGS).is_dir()
            if not self._ok:
                self._err.seek(0)
                lines = self._err.read().decode("utf-8", "replace").strip().splitlines()
                why = lines[-1] if lines else f"exit code {self._child.returncode}"
                log.warning("keyword index: the child writer failed (%s); writing it here", why)
            else:
                log.debug(
                    "keyword index written beside the embedding in %s s", out.decode().strip()
                )
        return self._ok

    def move_into(self, tmp: Path) -> None:
        """Move the child's ``whoosh/`` and ``postings/`` into the generation directory
        ``tmp`` (same file system: renames). Call after ``finish()`` returned True."""
        for name in (WHOOSH, POSTINGS):
            os.rename(self._dir / name, tmp / name)
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


def die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this process when its parent dies (a killed build must not
    leave a child writing for minutes); elsewhere a no-op."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before the call above
        os._exit(1)


def _main(directory: str, title_boost: str, parent: str) -> None:
    die_with_parent(int(parent))
    # A filler beside the build's critical path (the export, then the embedding): it yields.
    os.nice(10)
    docs = pickle.load(sys.stdin.buffer)
    t = time.perf_counter()
    write_index(Path(directory) / WHOOSH, docs, float(title_boost))
    write_postings(Path(directory) / WHOOSH, Path(directory) / POSTINGS)
    print(f"{time.perf_counter() - t:.3f}")


if __name__ == "__main__":
    _main(*sys.argv[1:])
