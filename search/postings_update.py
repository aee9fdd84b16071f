"""An add/delete's ``postings/``, written from the live generation's and the segments Whoosh wrote
in that commit, instead of decoding every posting again (11.8 s of a 25 s one-article delete at
100k paragraphs).

Whoosh never rewrites a segment: a commit keeps some of the live index's segments (deletions
are a set beside each one, in the TOC), drops the ones its merge policy merged, and writes a
new one holding the added documents and the merged ones' live documents, renumbering documents
as segments move. What postings/ records of a kept segment is therefore still true, but for
the documents deleted since (out of the postings, row -1) and their numbers (shifted by the
segment's new offset). Whoosh's document frequencies count deleted documents, so a term's is
its count in the live postings, minus the dropped segments', plus the new ones'; the idf and
average field lengths then follow from the new document count and field totals, as a full
decode computes them. The result is the same bytes as :func:`postings_write.write_postings` of
the new Whoosh index (tests/test_postings_update.py).
"""

from __future__ import annotations

import bisect
import json
import logging
import shutil
from pathlib import Path

import numpy as np
from whoosh import index as windex

from .postings_write import (
    FIELDS,
    VERSION,
    FieldArrays,
    length_bytes,
    read_positions,
    read_postings,
    save_postings,
    segment_dead,
    segment_ids,
    segment_rows,
)

__all__ = ["update_postings"]

log = logging.getLogger(__name__)


def _leaves(searcher) -> list[tuple[str, object, int]]:
    """(segment id, reader, first document number) of each segment, in document order."""
    return [
        (sub.reader().segment().segment_id(), sub.reader(), offset)
        for sub, offset in searcher.leaf_searchers()
    ]


def update_postings(live_whoosh: Path, live_postings: Path, whoosh: Path, dest: Path) -> bool:
    """Write ``dest``, the postings of the Whoosh index ``whoosh`` (a copy of ``live_whoosh``
    after one commit), from ``live_postings`` and the segments that commit wrote. False, with
    nothing written, when the live postings cannot be used (none, or written before version 2
    recorded document frequencies): then decode all of them (``write_postings``)."""
    meta_path = live_postings / "meta.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    old_ix, ix = windex.open_dir(str(live_whoosh)), windex.open_dir(str(whoosh))
    if (
        meta.get("version") != VERSION
        or meta.get("doc_count_all") != old_ix.doc_count_all()
        or meta.get("segments") != segment_ids(old_ix)
    ):
        log.info("%s: postings written by an older version: decoding all of them", live_postings)
        return False
    try:
        _update(old_ix, ix, live_postings, dest)
    except (KeyError, IndexError, ValueError) as e:  # live postings not what they claim
        log.warning("%s: postings not updatable (%s): decoding all of them", live_postings, e)
        shutil.rmtree(dest, ignore_errors=True)
        return False
    return True


def _update(old_ix, ix, live_postings: Path, dest: Path) -> None:
    """update_postings' work, once the live postings were found to be version 2."""
    with old_ix.searcher() as old_s, ix.searcher() as s:
        old = {sid: (r, off) for sid, r, off in _leaves(old_s)}
        leaves = _leaves(s)
        n = s.doc_count_all()
        # Per old document: its new number (-1: its segment was merged away, or it is deleted).
        moved = np.full(old_s.doc_count_all(), -1, dtype=np.int64)
        rows = np.full(n, -1, dtype=np.int64)
        dead = np.zeros(n, dtype=bool)
        old_rows = np.load(live_postings / "rows.npy", mmap_mode="r", allow_pickle=False)
        new_segments = []
        for sid, r, off in leaves:
            count = r.doc_count_all()
            dead[off : off + count] = segment_dead(r)
            if sid in old:
                old_off = old[sid][1]
                moved[old_off : old_off + count] = np.arange(off, off + count)
                rows[off : off + count] = old_rows[old_off : old_off + count]
            else:
                new_segments.append((r, off))
                rows[off : off + count] = segment_rows(r)
        rows[dead] = -1
        there = moved >= 0
        moved[there] = np.where(dead[moved[there]], -1, moved[there])
        now = {sid for sid, _, _ in leaves}
        dropped = [r for sid, (r, _) in old.items() if sid not in now]
        kept = [(old[sid][1], off, r.doc_count_all()) for sid, r, off in leaves if sid in old]
        in_place = not dropped and all(a == b for a, b, _ in kept)
        fields = (
            (
                f,
                _appended(live_postings, f, s, moved, dead, new_segments)
                if in_place
                else _field(live_postings, f, s, moved, dead, kept, dropped, new_segments),
            )
            for f in FIELDS
        )
        save_postings(dest, n, segment_ids(ix), rows, fields)


def _appended(live: Path, field: str, s, moved, dead, new_segments) -> FieldArrays:
    """One field's arrays when the commit kept every segment where it was (no merge): the
    live postings without the deleted documents', and each term's postings from the new
    segments (higher document numbers) after its live ones. Document frequencies grow by the
    new segments' only (Whoosh counts deleted documents)."""

    def load(name: str) -> np.ndarray:
        return np.load(live / f"{field}.{name}.npy", mmap_mode="r", allow_pickle=False)

    blob = (live / f"{field}.terms").read_bytes()
    offsets = load("offsets").tolist()
    old_terms = [blob[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    docs, npos = np.asarray(load("docs")), np.asarray(load("npos"))
    keep = moved[docs] >= 0
    before = np.zeros(len(keep) + 1, dtype=np.int64)  # kept postings before each posting
    np.cumsum(keep, out=before[1:])
    cuts = before[np.asarray(load("starts"))]  # where each live term's kept postings start
    kept_npos = npos[keep]
    pos_cuts = np.zeros(len(kept_npos) + 1, dtype=np.int64)
    np.cumsum(kept_npos, out=pos_cuts[1:])
    kept = [docs[keep], np.asarray(load("tf"))[keep], kept_npos]
    kept_positions = np.asarray(load("positions"))[np.repeat(keep, npos)]
    df, counts = np.array(load("df"), dtype=np.int64), np.diff(cuts)
    lengths = [np.asarray(load("lengths"))]
    added = _decode(field, new_segments, dead)
    index = {t: i for i, t in enumerate(old_terms)}
    fresh = sorted(t for t in added if t not in index)  # terms the live postings lack
    at = np.array([bisect.bisect_left(old_terms, t) for t in fresh], dtype=np.int64)
    fresh_index = {t: k for k, t in enumerate(fresh)}
    terms = sorted(old_terms + fresh)
    df, counts = np.insert(df, at, 0), np.insert(counts, at, 0)
    # Each added term's new index, and where its live postings end in the kept arrays.
    placed = []
    for t in added:
        i = index.get(t)
        if i is not None:
            placed.append((i + int(np.searchsorted(at, i, side="right")), int(cuts[i + 1]), t))
        else:  # after the fresh terms before it, before live term at[k]
            k = fresh_index[t]
            placed.append((int(at[k]) + k, int(cuts[at[k]]), t))
    pieces: list[list[np.ndarray]] = [[], [], [], []]
    prev = 0
    for j, cut, t in sorted(placed):
        term_df, parts = added[t]
        df[j] += term_df
        counts[j] += sum(len(p[0]) for p in parts)
        for out, arr in zip(pieces[:3], kept, strict=True):
            out.append(arr[prev:cut])
        pieces[3].append(kept_positions[pos_cuts[prev] : pos_cuts[cut]])
        for ids, w, n_pos, poses in parts:
            for out, arr in zip(pieces, (ids, w, n_pos, poses), strict=True):
                out.append(arr)
        prev = cut
    for out, arr in zip(pieces[:3], kept, strict=True):
        out.append(arr[prev:])
    pieces[3].append(kept_positions[pos_cuts[prev] :])
    for r, _ in new_segments:
        lengths.append(length_bytes(r, field))
    return FieldArrays(
        terms=terms,
        df=df,
        counts=counts,
        docs=np.concatenate(pieces[0]),
        tf=np.concatenate(pieces[1]),
        npos=np.concatenate(pieces[2]),
        positions=np.concatenate(pieces[3]),
        lengths=np.concatenate(lengths),
        avg_field_length=s.avg_field_length(field) or 1,
    )


def _field(live, field, s, moved, dead, kept, dropped, new_segments) -> FieldArrays:
    """One field's arrays: the live postings of kept documents moved to their new numbers,
    merged with the postings decoded from the new segments."""

    def load(name: str) -> np.ndarray:
        return np.load(live / f"{field}.{name}.npy", mmap_mode="r", allow_pickle=False)

    blob = (live / f"{field}.terms").read_bytes()
    offsets = load("offsets").tolist()
    old_terms = [blob[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]
    df = np.array(load("df"), dtype=np.int64)
    if dropped:  # their documents were counted in the live document frequencies
        index = {t: i for i, t in enumerate(old_terms)}
        for r in dropped:
            for btext, info in r.iter_field(field):
                df[index[btext]] -= info.doc_frequency()
    added = _decode(field, new_segments, dead)
    present = [t for t, d in zip(old_terms, df, strict=True) if d > 0]
    terms = sorted(set(present).union(added))
    new_index = {t: i for i, t in enumerate(terms)}
    old_to_new = np.array([new_index.get(t, -1) for t in old_terms], dtype=np.int64)
    new_df = np.zeros(len(terms), dtype=np.int64)
    new_df[old_to_new[old_to_new >= 0]] = df[old_to_new >= 0]

    # The live postings still true: their documents kept and not deleted since.
    starts = np.asarray(load("starts"))
    docs = moved[np.asarray(load("docs"))]
    keep = docs >= 0
    term_of = np.repeat(old_to_new, np.diff(starts))[keep]
    npos_all = np.asarray(load("npos"), dtype=np.int64)
    pos_first = np.concatenate([[0], np.cumsum(npos_all)])[:-1]
    old_part = (term_of, docs[keep], np.asarray(load("tf"), np.float64)[keep], npos_all[keep])
    old_pos_first = pos_first[keep]
    positions = [np.asarray(load("positions"))]

    # The new segments' postings, term by term (documents ascending: segments in order).
    add_terms, add_docs, add_tf, add_npos, add_first = [], [], [], [], []
    base = len(positions[0])
    for t in sorted(added):
        info_df, parts = added[t]
        new_df[new_index[t]] += info_df
        for ids, w, npos, poses in parts:
            add_terms.append(np.full(len(ids), new_index[t], dtype=np.int64))
            add_docs.append(ids)
            add_tf.append(w)
            add_npos.append(npos)
            add_first.append(base + np.concatenate([[0], np.cumsum(npos)])[:-1])
            positions.append(poses)
            base += len(poses)
    dtypes = (np.int64, np.int64, np.float64, np.int64)
    added_lists = (add_terms, add_docs, add_tf, add_npos)
    new_part = tuple(
        np.concatenate(a) if a else np.zeros(0, dt)
        for a, dt in zip(added_lists, dtypes, strict=True)
    )
    new_first = np.concatenate(add_first) if add_first else np.zeros(0, np.int64)
    order = _merge_order(old_part[0], old_part[1], new_part[0], new_part[1])
    both = zip(old_part, new_part, strict=True)
    term, doc, tf, npos = (np.concatenate([a, b])[order] for a, b in both)
    first = np.concatenate([old_pos_first, new_first])[order]
    all_pos = np.concatenate(positions)
    out_first = np.concatenate([[0], np.cumsum(npos)])[:-1]
    take = np.repeat(first - out_first, npos) + np.arange(int(npos.sum()))

    lengths = np.zeros(s.doc_count_all(), dtype=np.uint8)
    old_lengths = load("lengths")
    for old_off, off, count in kept:
        lengths[off : off + count] = old_lengths[old_off : old_off + count]
    for r, off in new_segments:
        lengths[off : off + r.doc_count_all()] = length_bytes(r, field)
    return FieldArrays(
        terms=terms,
        df=new_df,
        counts=np.bincount(term, minlength=len(terms)).astype(np.int64),
        docs=doc,
        tf=tf,
        npos=npos,
        positions=all_pos[take],
        lengths=lengths,
        avg_field_length=s.avg_field_length(field) or 1,
    )


def _decode(field: str, segments, dead: np.ndarray) -> dict[bytes, tuple[int, list]]:
    """term -> (document frequency, [(docs, weights, position counts, positions)] per
    segment in order) of the new segments' live postings, decoded from Whoosh."""
    out: dict[bytes, tuple[int, list]] = {}
    for r, off in segments:
        for btext, info in r.iter_field(field):
            ids, w = read_postings(r, field, btext)
            counts, poses = read_positions(r, field, btext)
            ids = ids + off
            keep = ~dead[ids]
            df, parts = out.get(btext, (0, []))
            parts.append((ids[keep], w[keep], counts[keep], poses[np.repeat(keep, counts)]))
            out[btext] = (df + info.doc_frequency(), parts)
    return out


def _merge_order(term_a, doc_a, term_b, doc_b) -> np.ndarray:
    """The order putting the postings of ``a`` then ``b`` by (term, document): ``b`` is sorted;
    ``a`` is too unless the merge policy reordered the kept segments (then sorted here)."""
    key_a = (term_a << 32) | doc_a
    key_b = (term_b << 32) | doc_b
    ia = np.arange(len(key_a))
    if len(key_a) > 1 and not bool(np.all(key_a[1:] > key_a[:-1])):
        ia = np.argsort(key_a, kind="stable")
        key_a = key_a[ia]
    # Final place of each: its rank among its own plus how many of the other sort before it.
    pos_a = np.arange(len(key_a)) + np.searchsorted(key_b, key_a)
    pos_b = np.arange(len(key_b)) + np.searchsorted(key_a, key_b)
    order = np.empty(len(key_a) + len(key_b), dtype=np.int64)
    order[pos_a] = ia
    order[pos_b] = len(key_a) + np.arange(len(key_b))
    return order
