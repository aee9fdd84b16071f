"""Writing a generation's ``postings/`` (the format is described in ``postings_file.py``, which
reads it): Whoosh's postings decoded from every segment of a Whoosh index.

An ``add``/``delete`` writes them from the live generation's postings instead, decoding only
the segments Whoosh wrote in that commit (``postings_update.py``); both end in
:func:`save_postings`, so the files are the same bytes whichever wrote them.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from whoosh import index as windex
from whoosh.codec.whoosh3 import LENGTHS_COLUMN

__all__ = [
    "FIELDS",
    "VERSION",
    "FieldArrays",
    "dead_documents",
    "doc_rows",
    "length_bytes",
    "read_positions",
    "read_postings",
    "save_postings",
    "segment_ids",
    "write_postings",
]

# 2: {field}.df.npy, Whoosh's document frequency of each term (what an update needs to
# recompute the idf without decoding the segments it keeps). 1 is still read.
VERSION = 2
FIELDS = ("title", "text")


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


def segment_rows(reader) -> np.ndarray:
    """Paragraph row of every document of one segment (-1 for deleted documents)."""
    rows = np.full(reader.doc_count_all(), -1, dtype=np.int64)
    for d, fields in reader.iter_docs():
        rows[d] = fields["row"]
    return rows


def doc_rows(searcher) -> np.ndarray:
    """Paragraph row of every document number (-1 for deleted documents)."""
    rows = np.full(searcher.doc_count_all(), -1, dtype=np.int64)
    for d, fields in searcher.reader().iter_docs():
        rows[d] = fields["row"]
    return rows


def segment_dead(reader) -> np.ndarray:
    """Bool per document of one segment: deleted (Whoosh keeps them until segments merge)."""
    dead = np.zeros(reader.doc_count_all(), dtype=bool)
    if reader.has_deletions():
        dead[np.fromiter(reader.deleted_docs_set, dtype=np.int64)] = True
    return dead


def dead_documents(searcher) -> np.ndarray:
    """Bool per document number: deleted (Whoosh keeps them until segments merge)."""
    dead = np.zeros(searcher.doc_count_all(), dtype=bool)
    for sub, offset in searcher.leaf_searchers():
        r = sub.reader()
        dead[offset : offset + r.doc_count_all()] = segment_dead(r)
    return dead


def segment_ids(ix) -> list[str]:
    return sorted(seg.segment_id() for seg in ix._segments())


@dataclass
class FieldArrays:
    """One field's postings, terms sorted by bytes and each term's documents ascending."""

    terms: list[bytes]
    df: np.ndarray  # int64 per term: Whoosh's document frequency (deleted documents counted)
    counts: np.ndarray  # int64 per term: how many live postings it has
    docs: np.ndarray  # int per posting: its document number
    tf: np.ndarray  # float per posting: the term's weight in it (uint16 when integral)
    npos: np.ndarray  # int per posting: how many positions
    positions: np.ndarray  # int: every posting's positions, in posting order
    lengths: np.ndarray  # uint8 per document: the field length byte
    avg_field_length: float


def save_postings(
    dest: Path,
    n: int,
    segments: list[str],
    rows: np.ndarray,
    fields: Iterable[tuple[str, FieldArrays]],
) -> None:
    """Write ``dest`` (a new directory inside a generation not yet committed); ``fields`` are
    made one at a time (a generator holds one field's arrays in memory, not both)."""
    dest.mkdir()
    meta = {"version": VERSION, "doc_count_all": n, "segments": segments, "fields": {}}
    np.save(dest / "rows.npy", rows, allow_pickle=False)
    for field, a in fields:
        terms = a.terms
        starts = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum(a.counts, out=starts[1:])
        tf = a.tf
        small = tf.size == 0 or (tf.max() < 65536 and np.array_equal(tf, np.round(tf)))
        pos_starts = _per_term_starts(np.asarray(a.npos, dtype=np.int64), starts)
        offsets = np.zeros(len(terms) + 1, dtype=np.int64)
        np.cumsum([len(t) for t in terms], out=offsets[1:])
        # Whoosh's idf: log(documents / (document frequency + 1)) + 1, as a Python float.
        idf = np.array([math.log(n / (int(df) + 1)) + 1 for df in a.df], dtype=np.float64)
        (dest / f"{field}.terms").write_bytes(b"".join(terms))
        _save(dest / f"{field}.offsets.npy", offsets)
        _save(dest / f"{field}.starts.npy", starts)
        _save(dest / f"{field}.idf.npy", idf)
        _save(dest / f"{field}.df.npy", np.asarray(a.df, dtype=np.int64))
        _save(dest / f"{field}.docs.npy", np.asarray(a.docs).astype(np.int32))
        _save(dest / f"{field}.tf.npy", tf.astype(np.uint16 if small else np.float32))
        _save(dest / f"{field}.lengths.npy", a.lengths)
        _save(dest / f"{field}.npos.npy", _narrow(a.npos))
        _save(dest / f"{field}.positions.npy", _narrow(a.positions))
        _save(dest / f"{field}.pos_starts.npy", pos_starts)
        meta["fields"][field] = {
            "terms": len(terms),
            "avg_field_length": a.avg_field_length,
            "positions": True,
        }
    (dest / "meta.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")


def _per_term_starts(npos: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Where each term's positions start: the positions of the postings before it."""
    before = np.zeros(len(npos) + 1, dtype=np.int64)
    np.cumsum(npos, out=before[1:])
    return before[starts]


def write_postings(whoosh_dir: Path, dest: Path) -> None:
    """Decode every title/text posting of the Whoosh index in ``whoosh_dir`` into ``dest``
    (a new directory inside a generation not yet committed; 10.6 s at 100k paragraphs)."""
    ix = windex.open_dir(str(whoosh_dir))
    with ix.searcher() as s:
        rows = doc_rows(s)
        fields = (_decoded_field(s, field, rows < 0) for field in FIELDS)
        save_postings(dest, s.doc_count_all(), segment_ids(ix), rows, fields)


def _decoded_field(s, field: str, dead: np.ndarray) -> tuple[str, FieldArrays]:
    """One field's postings decoded from every segment of the searcher ``s``."""
    parts: dict[bytes, list] = {}
    df: dict[bytes, int] = {}
    lengths = np.zeros(s.doc_count_all(), dtype=np.uint8)
    for sub, offset in s.leaf_searchers():
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
    return field, FieldArrays(
        terms=terms,
        df=np.array([df[t] for t in terms], dtype=np.int64),
        counts=np.array([sum(len(p[0]) for p in parts[t]) for t in terms], np.int64),
        docs=_joined([p[0] for t in terms for p in parts[t]], np.int32),
        tf=_joined([p[1] for t in terms for p in parts[t]], np.float64),
        npos=_joined([p[2] for t in terms for p in parts[t]], np.int64),
        positions=_joined([p[3] for t in terms for p in parts[t]], np.int64),
        lengths=lengths,
        avg_field_length=s.avg_field_length(field) or 1,
    )


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _narrow(ints: np.ndarray) -> np.ndarray:
    """Non-negative integers as uint16 when they fit (positions: paragraphs are short)."""
    return ints.astype(np.uint16 if not len(ints) or ints.max() < 65536 else np.int32)


def _save(path: Path, array: np.ndarray) -> None:
    np.save(path, np.ascontiguousarray(array), allow_pickle=False)
