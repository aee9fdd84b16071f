"""Embedders, apart from the vector index: one ``Embedder`` protocol, two implementations.

* ``torch`` (``torch_backend.TorchEmbedder``): ``SentenceTransformer.encode`` in fp32, the
  reference.
* ``openvino`` / ``openvino-int8`` (``openvino_backend.OpenVINOEmbedder``, the default): the
  same network (pooling and normalization included) exported once per machine into a model
  cache (``export.py``); ``-int8`` is statically quantized with NNCF on a packaged calibration
  text. Running it needs tokenizers and OpenVINO only — no torch, no sentence-transformers.

All return L2-normalized float32 vectors of the packaged all-MiniLM-L6-v2; nothing is ever
downloaded and nothing is set in the environment. Heavy libraries are imported only when an
embedder is created.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Embedder, ModelUnavailable, model_path

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "BACKENDS",
    "Embedder",
    "ModelUnavailable",
    "embedder_for",
    "embedding_identity",
    "embedding_key",
    "export_cache",
    "index_backend",
    "load_embedder",
    "model_path",
    "query_embedder",
]
log = logging.getLogger(__name__)
BACKENDS = ("torch", "openvino", "openvino-int8")


@functools.lru_cache(maxsize=4)
def _load(model_name: str, batch_size: int, backend: str, ir: str | None) -> Embedder:
    if backend == "torch":
        from .torch_backend import TorchEmbedder

        return TorchEmbedder(model_name, batch_size)
    from .openvino_backend import OpenVINOEmbedder

    assert ir is not None
    return OpenVINOEmbedder(model_name, Path(ir), backend, batch_size)


def load_embedder(
    model_name: str,
    batch_size: int = 64,
    backend: str = "torch",
    cache_dir: Path | None = None,
    calibration: Sequence[str] | None = None,
) -> Embedder:
    """One embedder per model and backend per process: loading costs ~1 s, never per request.

    OpenVINO backends read their converted model from ``cache_dir`` (default
    ``~/.cache/newsearch/models``) and export it there first when missing; ``calibration``
    is the text the int8 export calibrates on (default: the packaged Wikinews sample).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "torch":
        return _load(model_name, batch_size, backend, None)
    from . import export

    try:
        from .runtime import import_openvino

        import_openvino()
    except ImportError as e:
        raise ModelUnavailable(f"{backend} needs openvino and nncf: pip install -e . ({e})") from e
    texts = export.packaged_calibration() if calibration is None else list(calibration)
    ir = export.ensure_export(model_name, backend, cache_dir or export.default_cache(), texts)
    return _load(model_name, batch_size, backend, str(ir))


def _cache_dir(settings: Settings) -> Path | None:
    return Path(settings.model_cache).expanduser() if settings.model_cache else None


def export_cache(settings: Settings) -> Path:
    """The model cache ``settings`` use (``model_cache`` or the default)."""
    from . import export

    return _cache_dir(settings) or export.default_cache()


def embedder_for(settings: Settings, backend: str | None = None) -> Embedder:
    """The embedder ``settings`` asks for (``embed_backend``, or ``backend`` when given)."""
    return load_embedder(
        settings.model_name,
        settings.embed_batch_size,
        backend or settings.embed_backend,
        _cache_dir(settings),
    )


def query_embedder(settings: Settings, backend: str) -> Embedder:
    """The embedder for queries against vectors made by ``backend``: the same one, so query
    and paragraph vectors come from one model (exported first if this machine lacks it)."""
    return embedder_for(settings, backend)


def index_backend(manifest: dict[str, Any]) -> str:
    """The backend an index's vectors were embedded with (manifests from before backends
    existed don't say: those were torch)."""
    return manifest.get("settings", {}).get("embed_backend", "torch")


@functools.lru_cache(maxsize=8)
def embedding_identity(model_name: str, backend: str) -> str:
    """Which network made a vector: the model and backend, and for OpenVINO the export (its
    version and calibration text, as the model cache names it). A manifest records it, so an
    index is never queried through a different export than the one that embedded it."""
    if backend == "torch":
        return f"{model_name}+torch"
    from . import export

    return export.export_dir(Path("."), model_name, backend, export.packaged_calibration()).name


def embedding_key(model_name: str, backend: str) -> str:
    """What a stored vector depends on besides the text (torch keeps the historical key)."""
    return model_name if backend == "torch" else f"{model_name}+{backend}"
