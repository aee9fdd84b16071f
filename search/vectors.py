"""The vector index: exact top-k by inner product over a (N, 384) float32 matrix, or an int8
shortlist rescored exactly in fp32 when the caller asks for the ``int8`` scan.

Embedders live in ``search/embed``; this module never creates one.
"""

from __future__ import annotations

import logging
import mmap
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
SCANS = ("exact", "int8")


class VectorStore:
    """Exact nearest neighbours over normalized rows (inner product = cosine).

    ``scan`` is told, not guessed: ``"exact"`` reads the whole fp32 matrix per query;
    ``"int8"`` (the default setting, ``vector_scan``) first scans an int8 copy with one scale
    per row — a quarter of the bytes, OpenVINO's kernels; the scan is memory-bound (102k x 384
    fp32 = 157 MB read per query) — for a shortlist of ``2k + SHORTLIST_MARGIN`` rows, which
    are then scored exactly in fp32 from the matrix. Quantization moves a cosine by under
    0.004, so a true top-k row drops out of the shortlist only if k + margin rows sit within
    that of it; the scores returned are always the exact fp32 ones. Below ``FAST_MIN_ROWS``
    the int8 scan is not worth building and the exact one is used. The int8 copy (~40 MB at
    102k) is made by ``prepare`` or on the first search.
    """

    FAST_MIN_ROWS = 20_000  # below this the plain scan is already a few ms
    SHORTLIST_MARGIN = 64
    DENSE_FRACTION = 0.25  # ``exact`` of more rows than this multiplies the whole matrix
    BLOCK_ROWS = 16_384  # ... a block at a time
    CHUNK_ROWS = 4_096  # rows read from the file at a time, into a per-thread buffer
    SPAN_DENSITY = 7  # read a whole span when at least one row in this many is wanted
    MAPPED_SPAN_DENSITY = 28  # ... when the span is used through the mapping (no copy)
    PARALLEL_ROWS = 8_192  # spans of more rows than this are shared with a second thread
    FORGET_MARGIN = 2 << 20  # bytes unmapped on each side of a span read through the mapping

    def __init__(
        self, matrix: np.ndarray, scan: str = "exact", min_rows: int | None = None
    ) -> None:
        if scan not in SCANS:
            raise ValueError(f"unknown vector scan {scan!r}; known: {', '.join(SCANS)}")
        self.matrix = matrix
        floor = self.FAST_MIN_ROWS if min_rows is None else min_rows
        self._want_fast = scan == "int8" and len(matrix) >= max(1, floor)
        self._scan: _Int8Scan | None = None
        self._scan_lock = threading.Lock()
        self._file = _open_rows(matrix)  # (fd, data offset) to read rows without mapping them
        self._map = _mapping(matrix)  # (mmap, offset of row 0 in it) of a mapped matrix
        self._local = threading.local()  # each thread's read buffer
        if self._file is not None:
            weakref.finalize(self, os.close, self._file[0])

    @property
    def scan(self) -> str:
        """The scan searches use now: ``"int8"`` once built, ``"exact"`` until then."""
        return "int8" if self._scan is not None else "exact"

    def prepare(self) -> None:
        """Build the int8 scan now (~0.3 s at 102k) rather than on the first search."""
        self._fast_scan()

    def _fast_scan(self) -> _Int8Scan | None:
        if self._scan is None and self._want_fast:
            # While another thread builds it (``prepare`` in the background), searches use the
            # exact scan instead of waiting.
            if not self._scan_lock.acquire(blocking=False):
                return None
            try:
                if self._scan is None and self._want_fast:
                    self._scan = _Int8Scan.create(self.matrix, self.release)
                    self._want_fast = self._scan is not None
            finally:
                self._scan_lock.release()
        return self._scan

    @classmethod
    def load(
        cls, path: Path, dimension: int, mmap: bool = True, scan: str = "exact"
    ) -> VectorStore:
        m = np.load(path, allow_pickle=False, mmap_mode="r" if mmap else None)
        if m.ndim != 2 or m.shape[1] != dimension or m.dtype != np.float32:
            raise ValueError(f"{path}: expected float32 (N, {dimension}), got {m.dtype} {m.shape}")
        return cls(m, scan)

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
            if self._file is not None:  # rows read from the file (see ``_dots``)
                exact = _dot_rows(self._rows(rows), qvec)
            else:
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

    def all_scores(self, qvec: np.ndarray) -> tuple[np.ndarray, float]:
        """Cosine of ``qvec`` to every row, and the largest error those scores may have:
        int8 scan scores (error < 0.004, re-score with ``exact``) or exact fp32 ones (0)."""
        scan = self._fast_scan()
        if scan is not None:
            return scan.scores(qvec), 0.005
        scores = np.asarray(self.matrix @ qvec, dtype=np.float32)
        if self._want_fast:  # the int8 scan is being built: do not keep the matrix mapped
            self.release()
        return scores, 0.0

    def exact(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """fp32 cosines of ``qvec`` to ``rows`` (ascending rows read the mapped matrix in order).

        Past ``DENSE_FRACTION`` of the matrix, the whole matrix is multiplied in place, a block
        at a time, and the rows picked from the result: gathering them first copied up to the
        whole matrix (a query far from everything asks for nearly every row: 130 MB copied at
        100k rows, ~5x slower than the product, and the copy's peak stayed in the RSS)."""
        rows = np.asarray(rows)
        if self._scan is not None and self._file is not None:
            return self._dots(rows, qvec)
        if len(rows) <= self.DENSE_FRACTION * len(self):
            return np.asarray(self.matrix[rows]) @ qvec
        full = np.empty(len(self), dtype=np.float32)
        for lo in range(0, len(self), self.BLOCK_ROWS):
            full[lo : lo + self.BLOCK_ROWS] = (
                np.asarray(self.matrix[lo : lo + self.BLOCK_ROWS]) @ qvec
            )
        return full[rows]

    def _rows(self, rows: np.ndarray) -> np.ndarray:
        """fp32 rows (ascending), read from the file when the int8 scan answers searches."""
        if self._scan is not None and self._file is not None:
            out = np.empty((len(rows), self.matrix.shape[1]), dtype=np.float32)
            for i in range(0, len(rows), self.CHUNK_ROWS):
                part = rows[i : i + self.CHUNK_ROWS]
                out[i : i + len(part)] = self._read_rows(part)[: len(part)]
            return out
        return np.asarray(self.matrix[rows])

    def _dots(self, rows: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """``matrix[rows] @ qvec`` for ascending ``rows``, each row's product computed alone
        (``_dot_rows``), so the answer does not depend on how the rows are read.

        The rows are cut into pieces of at most ``CHUNK_ROWS``: where they are dense, a whole
        span is taken at once (through the mapping, its pages released right after, or read
        into this thread's buffer); sparse rows are read from the file (not mapped: each page
        fault mapped 64 KB around a 1.5 KB row, so one query kept most of the matrix in the
        process) into a per-thread buffer (fresh memory costs a page fault per 4 KB here).
        When the spans hold more than ``PARALLEL_ROWS`` rows (a query far from everything
        re-scores most of the matrix: ~33 ms at 100k rows on one thread), a second thread
        takes the last spans, about half the work; numpy releases the GIL, the row-by-row
        reads (a Python loop of ``pread``: the GIL) stay on the calling thread."""
        out = np.empty(len(rows), dtype=np.float32)
        pieces = self._pieces(rows)
        span_rows = sum(span for _, _, span in pieces)
        if span_rows <= self.PARALLEL_ROWS:
            self._dot_pieces(rows, qvec, pieces, out)
            return out
        # The other thread takes the last spans, about half the work (a row costs ~4x more
        # read alone than in a span): the two threads' spans meet at one place only.
        half = (4 * sum(j - i for i, j, span in pieces if not span) + span_rows) // 2
        cut, theirs_rows = len(pieces), 0
        while cut > 0 and theirs_rows < half:
            cut -= 1
            theirs_rows += pieces[cut][2]
        mine = pieces[:cut] + [p for p in pieces[cut:] if not p[2]]
        theirs = [p for p in pieces[cut:] if p[2]]
        other = _rescore_pool().submit(self._dot_pieces, rows, qvec, theirs, out)
        self._dot_pieces(rows, qvec, mine, out)
        other.result()
        return out

    def _pieces(self, rows: np.ndarray) -> list[tuple[int, int, int]]:
        """``(i, j, span)``: ``rows[i:j]`` read as one span of ``span`` rows, or row by row
        (``span`` 0)."""
        pieces = []
        # Through the mapping a span costs its page faults, not a copy of every row: worth it
        # from one wanted row in 28 (bench windows at 300k: mean 13.2 -> 11.5 ms against 7).
        density = self.SPAN_DENSITY if self._map is None else self.MAPPED_SPAN_DENSITY
        i, n = 0, len(rows)
        while i < n:
            j = int(np.searchsorted(rows, rows[i] + self.CHUNK_ROWS, "left"))
            span = int(rows[j - 1]) - int(rows[i]) + 1
            if (j - i) * density >= span:
                pieces.append((i, j, span))
            else:
                j = min(n, i + self.CHUNK_ROWS)
                pieces.append((i, j, 0))
            i = j
        return pieces

    def _dot_pieces(
        self,
        rows: np.ndarray,
        qvec: np.ndarray,
        pieces: list[tuple[int, int, int]],
        out: np.ndarray,
    ) -> None:
        for i, j, span in pieces:
            if not span:  # row by row (adjacent rows together)
                out[i:j] = _dot_rows(self._read_rows(rows[i:j]), qvec)
                continue
            first = int(rows[i])
            block = self._span(first, span)
            at = rows[i:j] - first
            if 2 * (j - i) < span:  # sparse in the span: only the wanted rows' products
                out[i:j] = _dot_rows(block[at], qvec)
            else:
                out[i:j] = _dot_rows(block, qvec)[at]
            self._forget(first, span)

    def _span(self, first: int, count: int) -> np.ndarray:
        """Rows ``first : first + count``: the mapped rows themselves when the matrix is mapped
        (no copy: ~25% faster than reading them into the buffer), else read into it."""
        if self._map is not None:
            return np.asarray(self.matrix[first : first + count])
        return self._read_span(first, count)

    def _forget(self, first: int, count: int) -> None:
        """Unmap the pages of rows ``first : first + count`` from this process (the page cache
        keeps them), so a query reading most of the matrix holds one span at a time."""
        if self._map is None:
            return
        mm, at = self._map
        width = self.matrix.shape[1] * 4
        # A fault maps the file's pages around it (up to ~1 MB here), beyond the span too.
        lo = max(0, at + first * width - self.FORGET_MARGIN)
        hi = min(len(mm), at + (first + count) * width + self.FORGET_MARGIN)
        lo -= lo % mmap.PAGESIZE
        try:
            mm.madvise(mmap.MADV_DONTNEED, lo, hi - lo)
        except (OSError, ValueError):  # a platform without madvise: the pages stay
            self._map = None

    def _buffer(self) -> np.ndarray:
        buf = getattr(self._local, "buffer", None)
        if buf is None:
            buf = self._local.buffer = np.zeros((self.CHUNK_ROWS, self.matrix.shape[1]), np.float32)
        return buf

    def _read_span(self, first: int, count: int) -> np.ndarray:
        """Rows ``first : first + count`` (≤ CHUNK_ROWS) read into this thread's buffer."""
        block = self._buffer()[:count]
        self._pread(memoryview(block).cast("B"), first)
        return block

    def _read_rows(self, rows: np.ndarray) -> np.ndarray:
        """Up to CHUNK_ROWS ascending rows read into this thread's buffer, one ``pread`` per
        run of adjacent rows."""
        block = self._buffer()[: len(rows)]
        if not len(rows):
            return block
        view = memoryview(block).cast("B")
        width = self.matrix.shape[1] * 4
        fd, offset = self._file
        cuts = np.flatnonzero(np.diff(rows) != 1) + 1
        at = (offset + rows[np.r_[0, cuts]] * width).tolist()  # file offset of each run
        bounds = (np.r_[0, cuts, len(rows)] * width).tolist()  # its bytes in the buffer
        preadv = os.preadv  # the loop is most of a sparse re-scoring: nothing else in it
        for o, a, b in zip(at, bounds[:-1], bounds[1:], strict=True):
            if preadv(fd, [view[a:b]], o) != b - a:
                raise OSError(f"short read of vectors at byte {o}")
        return block

    def _pread(self, into: memoryview, row: int) -> None:
        fd, offset = self._file
        width = self.matrix.shape[1] * 4
        if os.preadv(fd, [into], offset + row * width) != len(into):
            raise OSError(f"short read of vectors at row {row}")

    def release(self) -> None:
        """Unmap the fp32 rows read so far from this process (the page cache keeps them: a
        later read is a minor fault). The int8 copy's build and a whole-matrix product call it
        after each block, so neither leaves the matrix (150 MB at 100k rows, 460 MB at 300k)
        in the RSS. A no-op for a matrix in memory."""
        mm = getattr(self.matrix, "_mmap", None)
        if isinstance(mm, mmap.mmap):
            try:
                mm.madvise(mmap.MADV_DONTNEED)
            except (OSError, ValueError):  # a platform without madvise: the pages stay
                pass


def _dot_rows(block: np.ndarray, qvec: np.ndarray) -> np.ndarray:
    """Each row's dot product with ``qvec``, the same wherever the row sits in ``block``
    (BLAS's matrix-vector product rounds a row by its position: two copies of one paragraph
    got cosines one float apart, and which copy ranked first depended on how rows were read)."""
    return np.einsum("ij,j->i", block, qvec)


@cache
def _rescore_pool() -> ThreadPoolExecutor:
    """One worker for the upper half of a big re-scoring (one core each on 2 cores)."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="rescore")


def _mapping(matrix: np.ndarray) -> tuple[mmap.mmap, int] | None:
    """(mmap, byte offset of row 0 in it) of a C-contiguous matrix mapped from a file."""
    mm = getattr(matrix, "_mmap", None)
    if not isinstance(mm, mmap.mmap) or not matrix.flags.c_contiguous or not len(matrix):
        return None
    start = np.frombuffer(mm, dtype=np.uint8).ctypes.data
    at = matrix.ctypes.data - start
    return (mm, at) if 0 <= at < len(mm) and hasattr(mm, "madvise") else None


def _open_rows(matrix: np.ndarray) -> tuple[int, int] | None:
    """(file descriptor, byte offset of row 0) of a matrix mapped from a file, else None."""
    name = getattr(matrix, "filename", None)
    offset = getattr(matrix, "offset", None)
    if not name or offset is None or not matrix.flags.c_contiguous:
        return None
    try:
        return os.open(name, os.O_RDONLY), int(offset)
    except OSError:
        return None


class _Int8Scan:
    """``matrix @ q`` over an int8 copy of the matrix (a scale per row), compiled with OpenVINO."""

    def __init__(self, compiled: Any, arrays: tuple[np.ndarray, ...] = ()) -> None:
        self._compiled = compiled
        self._arrays = arrays  # the memory the compiled model's constants point into
        self._local = threading.local()

    @classmethod
    def create(cls, matrix: np.ndarray, release: Any = None) -> _Int8Scan | None:
        """The scan of ``matrix``; ``release()`` is called after each block is read."""
        try:
            from .embed.runtime import import_openvino

            ov = import_openvino()
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
                if release is not None:
                    release()
            # The constants share the arrays' memory (kept by the scan) rather than copying
            # them: 40 MB less at the peak at 100k rows.
            constants = (
                ops.constant(codes, shared_memory=True),
                ops.constant(scale, shared_memory=True),
            )
            rows = ops.multiply(ops.convert(constants[0], np.float32), constants[1])
            scores = ops.matmul(q, rows, False, True)
            compiled = ov.Core().compile_model(ov.Model([scores], [q]), "CPU")
        except Exception as e:  # an odd OpenVINO build must not stop search: exact scan
            log.warning("int8 vector scan unavailable (%s); using the exact scan only", e)
            return None
        return cls(compiled, (codes, scale))

    def scores(self, qvec: np.ndarray) -> np.ndarray:
        req = getattr(self._local, "request", None)
        if req is None:  # an infer request is not thread-safe: one per thread
            req = self._local.request = self._compiled.create_infer_request()
        out = req.infer({0: np.asarray(qvec, dtype=np.float32).reshape(1, -1)})
        return np.array(out[0][0])


def save_vectors(path: Path, matrix: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
