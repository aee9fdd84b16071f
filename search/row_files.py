"""A generation's row files (paragraphs.jsonl, vectors.npy, articles.jsonl) written whole, or, for
an add/delete, from the live generation's: hard-linked when unchanged, or copied by the kernel
with the new rows appended (the same bytes as writing them all: one writer, one format)."""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["link_all", "save_vectors", "write_jsonl"]

log = logging.getLogger(__name__)


def write_jsonl(path: Path, rows: Sequence[dict], src: Path | None = None, first: int = 0) -> None:
    """One JSON object a line; when ``rows[:first]`` are the lines of ``src``, that file is
    copied and the rest appended."""
    if src is not None and first > 0:
        shutil.copyfile(src, path)
    else:
        first = 0
    with open(path, "a" if first else "w", encoding="utf-8") as f:
        for r in rows[first:]:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def save_vectors(path: Path, matrix: np.ndarray, src: Path | None = None, first: int = 0) -> None:
    """``matrix`` as .npy; when ``matrix[:first]`` are the rows saved in ``src``, those are
    copied by the kernel after the new shape's header and the rest appended (an add at 100k
    paragraphs does not serialize ~150 MB again)."""
    live = np.load(src, mmap_mode="r", allow_pickle=False) if src is not None else None
    if live is None or live.dtype != np.float32 or live.shape != (first, matrix.shape[1]):
        np.save(path, np.ascontiguousarray(matrix, dtype=np.float32), allow_pickle=False)
        return
    rows = np.ascontiguousarray(matrix[first:], dtype=np.float32)
    header = {"descr": "<f4", "fortran_order": False, "shape": (len(matrix), matrix.shape[1])}
    with open(src, "rb") as fin, open(path, "wb", buffering=0) as fout:
        np.lib.format.write_array_header_1_0(fout, header)  # as np.save writes it
        left, at = live.nbytes, live.offset
        while left > 0:
            done = os.copy_file_range(fin.fileno(), fout.fileno(), left, at)
            if done <= 0:
                break
            left, at = left - done, at + done
        if left:  # a filesystem that cannot: copied through memory
            fin.seek(at)
            fout.write(fin.read(left))
        fout.write(rows.tobytes())


def link_all(pairs: Sequence[tuple[Path, Path]]) -> bool:
    """Hard-link each (source, destination); False (none left) if any fails."""
    try:
        for src, dest in pairs:
            os.link(src, dest)
        return True
    except OSError as e:
        log.info("files not linked, written: %s", e)
        for _, dest in pairs:
            dest.unlink(missing_ok=True)
        return False
