"""The same model run by OpenVINO from an IR file (fp32 or NNCF int8): tokenizers + OpenVINO,
no torch, no sentence-transformers — what keeps a query and a server start cheap."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .base import max_seq_length, model_path, token_counter
from .runtime import import_openvino

# Small inputs (a query) are padded to one of these widths, attention mask 0 on the padding
# (the pooled graph ignores it: the same vector within float rounding), so OpenVINO meets a
# handful of input shapes instead of one per query length: the first input of a new length
# costs 17-55 ms of kernel compilation and ~6 MiB, which was most of the search p99.
# ``warm_up`` runs each once. No 32: OpenVINO 2026.4 (bf16 on this AMX CPU) computes inputs of
# exactly 32 tokens wrongly (cosine 0.88-0.91 to the same text at any other width, checked 3-256).
QUERY_WIDTHS = (8, 16, 24, 40, 64, 128, 256)


class OpenVINOEmbedder:
    """Batches are sorted by exact token count and padded only to the longest in the batch; two
    infer requests run at once (one per core) while Python tokenizes and pads the next batch.
    """

    def __init__(
        self,
        model_name: str,
        ir_path: Path,
        backend: str,
        batch_size: int = 64,
        threads: int | None = None,
    ) -> None:
        """``threads``: of the bulk (throughput) model, default one per core; a Ray actor
        asks for 1, so its vectors are the local bulk path's (same compiled model kind)."""
        ov = import_openvino()

        self.model_name = model_name
        self.backend = backend
        self.batch_size = batch_size
        self.ir_path = Path(ir_path)
        mdir = model_path(model_name)
        self.max_tokens = max_seq_length(mdir)
        self._tok = truncating_tokenizer(mdir, self.max_tokens)
        self._counter = token_counter(mdir)
        self._core = ov.Core()
        # Compiled blobs are cached beside the IR: a later process loads in ~0.1 s, not ~1 s.
        self._core.set_property({"CACHE_DIR": str(Path(ir_path).parent / "compiled")})
        self._model = self._core.read_model(str(ir_path))
        self._threads = threads or max(1, os.cpu_count() or 1)
        # Small inputs (a query, a short list): one request on one thread — a second thread
        # only adds synchronisation for a tiny matrix on a busy 2-core machine. Bulk work
        # compiles its own copy on first use (a server never pays for it).
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
        # The widths small inputs are padded to: QUERY_WIDTHS below the model's limit, and it.
        self.query_widths = tuple(w for w in QUERY_WIDTHS if w < self.max_tokens) + (
            self.max_tokens,
        )
        self.warm_widths: set[int] = set()  # query widths the small model has run
        self.encode_query = functools.lru_cache(maxsize=1024)(self._encode_query)

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text).ids)

    def feeds(self, texts: Sequence[str]) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
        return batches(self._tok, texts, self.batch_size)

    def encode(
        self, texts: list[str], progress: bool = False, threads: int | None = None
    ) -> np.ndarray:
        """Vectors for ``texts``; ``threads`` is accepted for ``TorchEmbedder`` compatibility
        (small inputs always run on one thread, bulk on one stream per core)."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        with self._lock:
            if len(texts) <= self.batch_size:
                for rows, feed in batches(self._tok, texts, self.batch_size, self.query_widths):
                    out[rows] = self._request.infer(feed)[0]
                    self.warm_widths.add(feed["input_ids"].shape[1])
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
            for rows, feed in self.feeds(texts):
                queue.start_async(feed, rows)
            queue.wait_all()
        return out

    def _encode_query(self, text: str) -> np.ndarray:
        return self.encode([text])[0]

    def clear_cache(self) -> None:
        self.encode_query.cache_clear()

    def warm_up(self) -> None:
        """Run one query of each width not run yet (~0.3 s in all), so no query pays OpenVINO's
        first-shape compilation. One width per lock hold: a query waits for one at most."""
        for width in self.query_widths:
            with self._lock:
                if width not in self.warm_widths:
                    ids = np.full((1, width), 100, dtype=np.int64)  # [UNK]s: any ids will do
                    self._request.infer(
                        {
                            "input_ids": ids,
                            "attention_mask": np.ones_like(ids),
                            "token_type_ids": np.zeros_like(ids),
                        }
                    )
                    self.warm_widths.add(width)


def truncating_tokenizer(model_dir: Path, max_tokens: int) -> Any:
    """The model's fast tokenizer, cutting at ``max_tokens`` as the model does, no padding."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    tok.no_padding()
    return tok


# Bulk batches are padded to their longest text, so they meet width 32 too (QUERY_WIDTHS' note):
# on main, 205 of BBC's 11,617 int8 paragraph vectors (batches of 26-32-token texts) were at
# cosine 0.63-0.96 to torch fp32. One more padding column (masked out: the same vector as at
# 31 or 33, 0.995+) avoids it.
SKIP_WIDTH = {32: 33}


def batches(
    tok: Any, texts: Sequence[str], batch_size: int, widths: Sequence[int] = ()
) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
    """(rows, inputs) per batch, rows sorted by token count so padding stays small; each batch
    is padded to its longest text, or to the first of the sorted ``widths`` that holds it."""
    encs = tok.encode_batch(list(texts))
    order = sorted(range(len(encs)), key=lambda i: len(encs[i].ids))
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(encs[i].ids) for i in rows)
        width = next((w for w in widths if w >= width), width)
        width = SKIP_WIDTH.get(width, width)
        ids = np.zeros((len(rows), width), dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for r, i in enumerate(rows):
            e = encs[i].ids
            ids[r, : len(e)] = e
            mask[r, : len(e)] = 1
        yield rows, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
