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
import multiprocessing
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Embedder, model_path, token_counter

if TYPE_CHECKING:
    from ..config import Settings

log = logging.getLogger(__name__)


def _export_child(model_name: str, backend: str, cache_dir: str, texts: Sequence[str]) -> None:
    # terminate() (the build failed or was interrupted) must still run export's cleanup.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    from . import export

    export.ensure_export(model_name, backend, Path(cache_dir), texts)


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
            ctx = multiprocessing.get_context("spawn")  # never fork a process holding threads
            self._child = ctx.Process(
                target=_export_child,
                args=(settings.model_name, settings.embed_backend, str(cache), texts),
                name="newsearch-export",
                daemon=True,  # dies with the build
            )
            self._child.start()
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
                self._child.join()
                self._child = None
            self._embedder = embedder_for(self._settings)
        return self._embedder

    def cancel(self) -> None:
        """Stop a running export (its temporary files are removed; the cache stays as it was)."""
        if self._child is not None and self._child.is_alive():
            self._child.terminate()
            self._child.join(timeout=30)
        self._child = None
