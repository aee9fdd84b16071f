"""A generation's JSONL file read in place: records parsed when asked for, not held as dicts.

``Generation`` keeps its paragraphs this way (issue #14): 100k paragraphs as Python dicts
took ~100 MiB; here they are the mapped file plus two offset arrays (16 bytes a row), and a
record is parsed (``json.loads``, a few µs) when a page shows it. The integer field the engine
needs for every row (a paragraph's article) is read once into a numpy array by
:meth:`JsonlRecords.int_field`, without parsing the lines one by one.

Lines are what :func:`search.layout.read_jsonl` reads: blank lines are skipped, every other
line is one JSON object.
"""

from __future__ import annotations

import json
import mmap
import os
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

__all__ = ["JsonlRecords"]

_BLANK = frozenset(b" \t\r\f\v")


class JsonlRecords(Sequence[dict[str, Any]]):
    """Read-only rows of a JSONL file: ``records[i]`` is line ``i``'s object (a fresh dict)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self._buf: bytes | mmap.mmap = (
                mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
            )
        raw = np.frombuffer(self._buf, dtype=np.uint8) if size else np.zeros(0, np.uint8)
        nl = np.flatnonzero(raw == 10)
        starts = np.concatenate(([0], nl + 1))
        ends = np.concatenate((nl, [size]))
        keep = ends > starts
        # A line starting with white space may be all white space (skipped, as read_jsonl does).
        lines = np.flatnonzero(keep)
        for i in lines[np.isin(raw[starts[lines]], list(_BLANK))]:
            if not bytes(self._buf[starts[i] : ends[i]]).strip():
                keep[i] = False
        self._starts = starts[keep].astype(np.int64)
        self._ends = ends[keep].astype(np.int64)

    def __len__(self) -> int:
        return len(self._starts)

    def line(self, i: int) -> bytes:
        """Row ``i``'s raw JSON line."""
        return bytes(self._buf[self._starts[i] : self._ends[i]])

    @overload
    def __getitem__(self, i: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, i: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        n = len(self)
        j = int(i)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError(f"row {i} out of range ({n} rows)")
        return json.loads(self.line(j))

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for j in range(len(self)):
            yield json.loads(self.line(j))

    def int_field(self, name: str) -> np.ndarray:
        """``int(record[name])`` of every row, as int64 (KeyError when a row lacks it,
        ValueError when a row is not JSON).

        Read with one regular-expression pass over the file: JSON escapes every quote inside
        a string, so ``"name": <digits>`` can only be the key itself. The pass is trusted only
        when it finds exactly one match in every row; otherwise each row is parsed.
        """
        key = json.dumps(name).encode()
        pattern = re.compile(re.escape(key) + rb": (-?\d+)\s*[,}]")
        pos, vals = [], []
        for m in pattern.finditer(self._buf):
            pos.append(m.start())
            vals.append(int(m.group(1)))
        n = len(self)
        if len(pos) == n:
            row = np.searchsorted(self._starts, np.asarray(pos, dtype=np.int64), "right") - 1
            inside = np.asarray(pos, dtype=np.int64) < self._ends[np.maximum(row, 0)]
            if n == 0 or (np.array_equal(row, np.arange(n)) and inside.all()):
                return np.asarray(vals, dtype=np.int64)
        out = np.empty(n, dtype=np.int64)
        for j in range(n):
            out[j] = int(json.loads(self.line(j))[name])
        return out
