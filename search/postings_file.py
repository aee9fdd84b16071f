"""The keyword index's postings decoded once, at build time, into plain arrays read by mmap.

Whoosh keeps postings as pickled, zlib-compressed blocks; decoding a common word's postings in
Python takes milliseconds, the first time each word is searched (5–10 ms of a cold 100k
query). A generation's ``postings/`` holds, written from its own ``whoosh/`` by
:func:`write_postings`, what the numpy scorer (``postings.py``) reads of it::

    meta.json              version, Whoosh's document count (deleted ones included) and
                           segments, and per field: term count, Whoosh's average field length
    {field}.terms          the field's terms, UTF-8, sorted by bytes, concatenated
    {field}.offsets.npy    int64 (terms + 1): where each term starts in {field}.terms
    {field}.starts.npy     int64 (terms + 1): where each term's postings start
    {field}.idf.npy        float64 per term: Whoosh's idf (from its document frequency)
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
import itertools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index as windex
from whoosh.codec.whoosh3 import LENGTHS_COLUMN
from whoosh.util.numeric import byte_to_length

from .store import IndexCorrupt

__all__ = [
    "FIELDS",
    "PostingsFile",
    "dead_documents",
    "field_lengths",
    "open_postings",
    "read_postings",
    "write_postings",
]

log = logging.getLogger(__name__)

VERSION = 1
FIELDS = ("title", "text")
_LENGTH_OF_BYTE = np.array([byte_to_length(b) for b in range(256)], dtype=np.float64)


def read_postings(reader, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    """All (docnum, weight) postings of a term in one segment, deleted ones included, decoded
    a block at a time (Whoosh's matcher steps through them one by one)."""
    m = reader._terms.matcher(field, btext, reader.schema[field].format, scorer=None)
    ids, ws = [], []
    read_block = getattr(m, "_read_data", None)
    if read_block is None or not hasattr(m, "_next_block"):  # not the W3 codec: step through
        while m.is_active():
            ids.append(m.id())
            ws.append(m.weight())
            m.next()
        return np.asarray(ids, dtype=np.int64), np.asarray(ws, dtype=np.float64)
    while m.is_active():
        read_block()
        data, n = m._data, m._blocklength
        if m._byteids:
            ids.append(np.asarray(data[0], dtype=np.int64))
        else:
            ids.append(np.cumsum(np.asarray(data[0], dtype=np.int64)))  # delta-coded
        w = data[1]
        if w is None:
            ws.append(np.ones(n))
        elif isinstance(w, float):
            ws.append(np.full(n, w))
        else:
            ws.append(np.asarray(w, dtype=np.float64))
        m._next_block()
    if not ids:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    return np.concatenate(ids), np.concatenate(ws)


def read_positions(reader, field: str, btext: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(number of positions per posting, all positions) of a term in one segment, deleted
    documents included, in posting order (a block of values at a time where the codec
    allows: its values are each posting's delta-coded, pickled positions)."""
    fmt = reader.schema[field].format
    m = reader._terms.matcher(field, btext, fmt, scorer=None)
    values: list[bytes] = []
    if getattr(m, "_read_values", None) is None or not hasattr(m, "_next_block"):
        counts, poses = [], []
        while m.is_active():  # not the W3 codec: step through
            got = m.value_as("positions")
            counts.append(len(got))
            poses.extend(got)
            m.next()
        return np.asarray(counts, dtype=np.int64), np.asarray(poses, dtype=np.int64)
    while m.is_active():
        m._read_data()
        m._read_values()
        values.extend(m._values)
        m._next_block()
    decoded = [fmt.decode_positions(v) for v in values]
    counts = np.fromiter(map(len, decoded), dtype=np.int64, count=len(decoded))
    poses = np.fromiter(itertools.chain.from_iterable(decoded), dtype=np.int64, count=counts.sum())
    return counts, poses


def length_bytes(reader, field: str) -> np.ndarray:
    """The encoded field length byte of every document of one segment (0 when absent)."""
    n = reader.doc_count_all()
    col = reader._perdoc._cached_reader(f"_{field}_len", LENGTHS_COLUMN)
    if col is None:
        return np.zeros(n, dtype=np.uint8)
    return np.fromiter((col[i] for i in range(n)), dtype=np.uint8, count=n)


def field_lengths(searcher, field: str) -> np.ndarray:
    """Every document's ``field`` length as BM25F reads it (decoded from its length byte)."""
    out = np.zeros(searcher.doc_count_all(), dtype=np.float64)
    for sub, offset in searcher.leaf_searchers():
        r = sub.reader()
        out[offset : offset + r.doc_count_all()] = _LENGTH_OF_BYTE[length_bytes(r, field)]
    return out


def doc_rows(searcher) -> np.ndarray:
    """Paragraph row of every document number (-1 for deleted documents)."""
    rows = np.full(searcher.doc_count_all(), -1, dtype=np.int64)
    for d, fields in searcher.reader().iter_docs():
        rows[d] = fields["row"]
    return rows


def dead_documents(searcher) -> np.ndarray:
    """Bool per document number: deleted (Whoosh keeps them until segments merge)."""
    dead = np.zeros(searcher.doc_count_all(), dtype=bool)
    for sub, offset in searcher.leaf_searchers():
        r = sub.reader()
        if r.has_deletions():
            gone = [d for d in range(r.doc_count_all()) if r.is_deleted(d)]
            dead[np.asarray(gone, dtype=np.int64) + offset] = True
    return dead


def _segments(ix) -> list[str]:
    return sorted(seg.segment_id() for seg in ix._segments())


def write_postings(whoosh_dir: Path, dest: Path) -> None:
    """Decode every title/text posting of the Whoosh index in ``whoosh_dir`` into ``dest``
    (a new directory inside a generation not yet committed; 10.6 s at 100k paragraphs)."""
    ix = windex.open_dir(str(whoosh_dir))
    dest.mkdir()
    with ix.searcher() as s:
        n = s.doc_count_all()
        dead = dead_documents(s)
        leaves = s.leaf_searchers()
        meta = {"version": VERSION, "doc_count_all": n, "segments": _segments(ix), "fields": {}}
        np.save(dest / "rows.npy", doc_rows(s), allow_pickle=False)
        for field in FIELDS:
            parts: dict[bytes, list] = {}
            df: dict[bytes, int] = {}
            lengths = np.zeros(n, dtype=np.uint8)
            for sub, offset in leaves:
                r = sub.reader()
                lengths[offset : offset + r.doc_count_all()] = length_bytes(r, field)
                for btext, info in r.iter_field(field):
                    ids, w = read_postings(r, field, btext)
                    counts, poses = read_positions(r, field, btext)
                    ids = ids + offset
                    keep = ~dead[ids]
                    kept = (  # narrowed now: at 300k paragraphs the int64 copies were ~0.5 GB
                        ids[keep].astype(np.int32),
                        w[keep],
                        counts[keep].astype(np.int32),
                        poses[np.repeat(keep, counts)].astype(np.int32),
                    )
                    parts.setdefault(btext, []).append(kept)
                    df[btext] = df.get(btext, 0) + info.doc_frequency()
            terms = sorted(parts)
            docs = [p[0] for t in terms for p in parts[t]]
            tfs = [p[1] for t in terms for p in parts[t]]
            counts = [sum(len(p[0]) for p in parts[t]) for t in terms]
            starts = np.zeros(len(terms) + 1, dtype=np.int64)
            np.cumsum(counts, out=starts[1:])
            tf = np.concatenate(tfs) if tfs else np.zeros(0)
            small = tf.size == 0 or (tf.max() < 65536 and np.array_equal(tf, np.round(tf)))
            npos = [p[2] for t in terms for p in parts[t]]
            npos = np.concatenate(npos) if npos else np.zeros(0, np.int64)
            positions = [p[3] for t in terms for p in parts[t]]
            positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
            pos_starts = np.zeros(len(terms) + 1, dtype=np.int64)
            np.cumsum([sum(int(p[2].sum()) for p in parts[t]) for t in terms], out=pos_starts[1:])
            blob = b"".join(terms)
            offsets = np.zeros(len(terms) + 1, dtype=np.int64)
            np.cumsum([len(t) for t in terms], out=offsets[1:])
            # Whoosh's idf: log(documents / (document frequency + 1)) + 1, as a Python float.
            idf = np.array([math.log(n / (df[t] + 1)) + 1 for t in terms], dtype=np.float64)
            (dest / f"{field}.terms").write_bytes(blob)
            _save(dest / f"{field}.offsets.npy", offsets)
            _save(dest / f"{field}.starts.npy", starts)
            _save(dest / f"{field}.idf.npy", idf)
            _save(
                dest / f"{field}.docs.npy",
                np.concatenate(docs).astype(np.int32) if docs else np.zeros(0, np.int32),
            )
            _save(dest / f"{field}.tf.npy", tf.astype(np.uint16 if small else np.float32))
            _save(dest / f"{field}.lengths.npy", lengths)
            _save(dest / f"{field}.npos.npy", _narrow(npos))
            _save(dest / f"{field}.positions.npy", _narrow(positions))
            _save(dest / f"{field}.pos_starts.npy", pos_starts)
            meta["fields"][field] = {
                "terms": len(terms),
                "avg_field_length": s.avg_field_length(field) or 1,
                "positions": True,
            }
    (dest / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _narrow(ints: np.ndarray) -> np.ndarray:
    """Non-negative integers as uint16 when they fit (positions: paragraphs are short)."""
    return ints.astype(np.uint16 if not len(ints) or ints.max() < 65536 else np.int32)


def _save(path: Path, array: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)


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
        if meta.get("version") != VERSION:
            raise IndexCorrupt(f"{path}: postings version {meta.get('version')} != {VERSION}")
        if meta["doc_count_all"] != ix.doc_count_all() or meta["segments"] != _segments(ix):
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
