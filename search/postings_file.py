"""The keyword index's postings decoded once, at build time, into plain arrays read by mmap.

Whoosh keeps postings as pickled, zlib-compressed blocks; decoding a common word's postings in
Python takes milliseconds, the first time each word is searched (5–10 ms of a cold 100k
query). A generation's ``postings/`` holds, written from its own ``whoosh/`` by
:func:`postings_write.write_postings` (or, after an add/delete, from the live generation's by
``postings_update.py``), what the numpy scorer (``postings.py``) reads of it::

    meta.json              version, Whoosh's document count (deleted ones included) and
                           segments, and per field: term count, Whoosh's average field length
    {field}.terms          the field's terms, UTF-8, sorted by bytes, concatenated
    {field}.offsets.npy    int64 (terms + 1): where each term starts in {field}.terms
    {field}.starts.npy     int64 (terms + 1): where each term's postings start
    {field}.idf.npy        float64 per term: Whoosh's idf (from its document frequency)
    {field}.df.npy         int64 per term: that document frequency (version 2; an update
                           needs it, searches do not)
    {field}.docs.npy       int32: live document numbers, sorted within each term
    {field}.tf.npy         uint16 (or float32): the term's frequency in each of them
    {field}.lengths.npy    uint8 per document: the field length byte BM25F reads
    {field}.npos.npy       uint16 (or int32) per posting: how many positions it has
    {field}.positions.npy  uint16 (or int32): each posting's word positions, ascending
    {field}.pos_starts.npy int64 (terms + 1): where each term's positions start
    rows.npy               int64 per document: its paragraph row (-1 when deleted)

Phrases (slop 1, Whoosh's default) are matched over the positions: consecutive positions of
the phrase's words in one document, as Whoosh's span matcher requires. The files are
checksummed with the generation's others (``store.commit_generation``). An index
without them (built before this format) is read the old way, decoding Whoosh's postings, with
one log line saying ``newsearch index`` upgrades it (:func:`open_postings` returns None).
"""

from __future__ import annotations

import array
import bisect
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh.util.numeric import byte_to_length

from .postings_write import FIELDS, VERSION, length_bytes, segment_ids
from .store import IndexCorrupt

__all__ = ["FieldPostings", "PostingsFile", "field_lengths", "open_postings"]

log = logging.getLogger(__name__)

READABLE = (1, VERSION)  # 1: written before {field}.df.npy (only an update needs it)
_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)


def field_lengths(searcher, field: str) -> np.ndarray:
    """Every document's ``field`` length as BM25F reads it (decoded from its length byte)."""
    out = np.zeros(searcher.doc_count_all(), dtype=np.float64)
    for sub, offset in searcher.leaf_searchers():
        r = sub.reader()
        out[offset : offset + r.doc_count_all()] = _LENGTH_OF_BYTE[length_bytes(r, field)]
    return out


@dataclass(frozen=True)
class FieldPostings:
    """One field's postings arrays (mapped, read-only)."""

    blob: bytes  # the terms, concatenated (read whole: ~3 bytes a posting's term)
    offsets: array.array  # int64: Python ints at C speed for the binary search
    starts: np.ndarray
    idf: np.ndarray
    docs: np.ndarray
    tf: np.ndarray
    lengths: np.ndarray  # float64 per document: the length BM25F uses
    avg_field_length: float
    npos: np.ndarray | None = None  # positions per posting (None: written without positions)
    positions: np.ndarray | None = None
    pos_starts: np.ndarray | None = None

    def find(self, btext: bytes) -> int:
        """The term's index, or -1 when the field does not hold it."""
        offsets, blob = self.offsets, self.blob
        n = len(offsets) - 1

        def term(i: int) -> bytes:
            return blob[offsets[i] : offsets[i + 1]]

        i = bisect.bisect_left(range(n), btext, key=term)
        return i if i < n and term(i) == btext else -1

    def postings(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(docnums, frequencies as float64) of term ``i``."""
        a, b = int(self.starts[i]), int(self.starts[i + 1])
        return self.docs[a:b], self.tf[a:b].astype(np.float64)

    def phrase_docs(self, btexts: list[bytes]) -> np.ndarray | None:
        """Sorted docnums holding the words at consecutive positions (Whoosh's phrase with
        slop 1: each word right after the previous one); None without positions."""
        if self.positions is None or self.npos is None or self.pos_starts is None:
            return None
        terms = [self.find(b) for b in btexts]
        if min(terms) < 0:
            return np.zeros(0, dtype=np.int32)
        cand = None
        for i in sorted(terms, key=lambda i: self.starts[i + 1] - self.starts[i]):
            docs = self.docs[int(self.starts[i]) : int(self.starts[i + 1])]
            cand = docs if cand is None else np.intersect1d(cand, docs, assume_unique=True)
        keys = None  # (document << 32) + position of the phrase's first word, ascending
        for j, i in enumerate(terms):
            if cand is None or not len(cand):
                break
            a = int(self.starts[i])
            docs = self.docs[a : int(self.starts[i + 1])]
            n = self.npos[a : int(self.starts[i + 1])].astype(np.int64)
            at = np.searchsorted(docs, cand)  # every candidate holds every word
            lens = n[at]
            first = (np.cumsum(n) - n)[at] + int(self.pos_starts[i])
            run = np.cumsum(lens) - lens
            idx = np.repeat(first - run, lens) + np.arange(int(lens.sum()))
            key = (np.repeat(cand.astype(np.int64), lens) << 32) + (
                self.positions[idx].astype(np.int64) - j
            )
            if keys is None:
                keys = key
            else:
                hit = np.searchsorted(key, keys)
                ok = hit < len(key)
                ok[ok] = key[hit[ok]] == keys[ok]
                keys = keys[ok]
            cand = np.unique(keys >> 32)
        if cand is None:
            return np.zeros(0, dtype=np.int32)
        return cand.astype(np.int32)


@dataclass(frozen=True)
class PostingsFile:
    """A generation's ``postings/``, opened."""

    doc_count_all: int
    fields: dict[str, FieldPostings]
    rows: np.ndarray  # int64 per document: its paragraph row (-1 when deleted)

    @property
    def dead(self) -> np.ndarray:
        return self.rows < 0


def open_postings(path: Path, ix) -> PostingsFile | None:
    """``path`` opened and checked against the Whoosh index ``ix`` beside it; None (and one log
    line) when the generation was built before postings files existed."""
    meta_path = path / "meta.json"
    if not meta_path.is_file():
        log.warning(
            "%s: no decoded keyword postings (an index built before them): keyword searches "
            "decode Whoosh's postings, slower; `newsearch index` rebuilds it with them",
            path.parent,
        )
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("version") not in READABLE:
            raise IndexCorrupt(f"{path}: postings version {meta.get('version')} != {VERSION}")
        if meta["doc_count_all"] != ix.doc_count_all() or meta["segments"] != segment_ids(ix):
            raise IndexCorrupt(f"{path}: postings do not describe the Whoosh index beside them")
        fields = {}
        for field in FIELDS:
            info = meta["fields"][field]

            def load(name: str, field: str = field) -> np.ndarray:
                got = np.load(path / f"{field}.{name}.npy", mmap_mode="r", allow_pickle=False)
                return got.view(np.ndarray)  # slices without np.memmap's per-slice overhead

            offsets = np.load(path / f"{field}.offsets.npy", allow_pickle=False)
            if offsets.dtype != np.int64:
                raise ValueError(f"{field} offsets are {offsets.dtype}")
            fp = FieldPostings(
                (path / f"{field}.terms").read_bytes(),
                array.array("q", offsets.tobytes()),
                np.asarray(load("starts")),
                np.asarray(load("idf")),
                load("docs"),
                load("tf"),
                _LENGTH_OF_BYTE[np.asarray(load("lengths"))],
                float(info["avg_field_length"]),
                *(
                    (load("npos"), load("positions"), np.asarray(load("pos_starts")))
                    if info.get("positions")
                    else ()
                ),
            )
            if len(fp.offsets) != info["terms"] + 1 or len(fp.starts) != info["terms"] + 1:
                raise IndexCorrupt(f"{path}: {field} term tables misaligned")
            if len(fp.docs) != len(fp.tf) or int(fp.starts[-1]) != len(fp.docs):
                raise IndexCorrupt(f"{path}: {field} postings misaligned")
            fields[field] = fp
        rows = np.load(path / "rows.npy", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexCorrupt(f"{path}: cannot open postings ({e})") from e
    if len(rows) != meta["doc_count_all"]:
        raise IndexCorrupt(f"{path}: rows misaligned")
    return PostingsFile(meta["doc_count_all"], fields, rows)
