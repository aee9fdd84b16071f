"""An embedder being got ready while the build reads and splits: the tokenizer at once, the
model when the build first needs vectors.

On a machine's first build the int8 export takes ~35 s of one core (BBC first build, quiet:
76 s of which ~35 s export, build.py's why-comment has the figures). Parsing, splitting and
the keyword index need only the tokenizer, so the export runs in a child process meanwhile.
The child only warms the model cache: ``ready()`` then loads through ``ensure_export`` as
before, which finds the export done, waits on its lock while the child finishes, or — if the
child failed — exports itself and raises the real error. Correctness never depends on the
child.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Embedder, model_path, token_counter

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)


def _main(model_name: str, backend: str, cache_dir: str) -> None:
    # terminate() (the build failed or was interrupted) must still run export's cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    from . import export

    export.ensure_export(model_name, backend, Path(cache_dir), export.packaged_calibration())


class PendingEmbedder:
    """``count_tokens`` now (identical to the embedder's own), ``ready()`` for the model."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        from . import embedder_for

        self._settings = settings
        self._embedder = embedder
        self._child: Any = None
        self._counter: Any = None
        if embedder is None and settings.embed_backend == "torch":
            self._embedder = embedder_for(settings)
        if self._embedder is not None:
            return
        from . import export, export_cache

        texts = export.packaged_calibration()
        cache = export_cache(settings)
        dest = export.export_dir(cache, settings.model_name, settings.embed_backend, texts)
        if not (dest / "model.xml").exists():
            log.info(
                "preparing the %s model once for this machine (~1 min) into %s",
                settings.embed_backend,
                dest,
            )
            # ``python -m``, not multiprocessing: spawn would re-import the caller's script.
            # Its output is not shown: ready() repeats a failed export here, with its error.
            self._child = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    __name__,
                    settings.model_name,
                    settings.embed_backend,
                    str(cache),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        # The OpenVINO embedder counts with this same tokenizer (openvino_backend.py).
        self._counter = token_counter(model_path(settings.model_name))

    def count_tokens(self, text: str) -> int:
        if self._embedder is not None:
            return self._embedder.count_tokens(text)
        return len(self._counter.encode(text).ids)

    def ready(self) -> Embedder:
        """The embedder, once its model is in the cache."""
        if self._embedder is None:
            from . import embedder_for

            if self._child is not None:
                self._child.wait()
                self._child = None
            self._embedder = embedder_for(self._settings)
        return self._embedder

    def cancel(self) -> None:
        """Stop a running export (its temporary files are removed; the cache stays as it was)."""
        if self._child is not None and self._child.poll() is None:
            self._child.terminate()
            try:
                self._child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._child.kill()
                self._child.wait()
        self._child = None


if __name__ == "__main__":
    _main(*sys.argv[1:])
