"""The fast paths of issue #14 (second round) give the answers of the slow ones they replace.

* paragraphs read in place (``JsonlRecords``) are the records ``read_jsonl`` parses, and the
  one-pass integer field is what parsing every line gives, also for hostile ids and texts;
* per-article best and second-best cosines by assignment equal the ``np.maximum.at`` fold;
* exact cosines of most of the rows, from one product over the whole matrix, equal the
  gathered rows' (to float rounding), and rows read from the file equal the mapped rows;
* paragraph ranks from the scores above a threshold equal ranks from sorting every row;
* an article's paragraphs from the per-article index are the rows a scan finds;
* the spelling lexicon's "is this stem indexed" is ``docs(stem)`` being non-empty;
* whole searches on a built index are unchanged when the fast paths are forced off.
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
import pytest

from search.answer import Matched
from search.backends.base import ArticleKeyword
from search.backends.runs import RunLayout, best_two
from search.engine import Engine
from search.layout import read_jsonl
from search.models import Query
from search.rowfile import JsonlRecords
from search.vectors import VectorStore, save_vectors

HOSTILE = [
    {"id": 'a", "article": 99, "x', "article": 0, "text": 'he said "article": 7, ok', "hash": "h"},
    {"id": "b:1", "article": 1, "text": "Ünïcode — “quotes” \u2028 line sep", "hash": "h"},
    {"id": "c\\", "article": 12, "text": "ends in a backslash \\", "hash": "h"},
    {"id": "d", "article": -3, "text": "", "hash": "h"},
]


def write_lines(path, lines: list[str]) -> None:
    path.write_text("".join(lines), encoding="utf-8")


def test_records_read_in_place_are_what_read_jsonl_parses(tmp_path):
    path = tmp_path / "p.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) + "\n" for r in HOSTILE]
    # blank and white-space lines are skipped; the last line has no newline
    write_lines(path, [lines[0], "\n", lines[1], "   \t\n", lines[2], lines[3].rstrip("\n")])
    recs = JsonlRecords(path)
    assert len(recs) == 4
    assert list(recs) == read_jsonl(path) == HOSTILE
    assert recs[-1] == HOSTILE[-1] and recs[1:3] == HOSTILE[1:3]
    assert recs.int_field("article").tolist() == [0, 1, 12, -3]
    with pytest.raises(IndexError):
        recs[4]


def test_int_field_falls_back_to_parsing_when_the_fast_pass_is_unsure(tmp_path):
    path = tmp_path / "p.jsonl"
    # keys in another order and spacing: the one-pass pattern misses them, parsing does not
    rows = [{"article": 5, "id": "x"}, {"id": "y", "article": 6}]
    write_lines(path, [json.dumps(rows[0], separators=(",", ":")) + "\n", json.dumps(rows[1])])
    assert JsonlRecords(path).int_field("article").tolist() == [5, 6]
    write_lines(path, [json.dumps({"id": "x"}) + "\n"])
    with pytest.raises(KeyError):
        JsonlRecords(path).int_field("article")
    write_lines(path, ['{"id": "x", "article": 1, broken\n', '{"id": "y", "article": 2}\n'])
    recs = JsonlRecords(path)
    assert recs.int_field("article").tolist() == [1, 2]  # the field itself reads fine ...
    with pytest.raises(ValueError):
        recs[0]  # ... the damaged record does not parse
    empty = tmp_path / "e.jsonl"
    empty.write_bytes(b"")
    assert len(JsonlRecords(empty)) == 0 and JsonlRecords(empty).int_field("article").size == 0


@pytest.mark.parametrize("seed", range(5))
def test_best_two_by_assignment_equals_the_maximum_at_fold(seed):
    rng = np.random.default_rng(seed)
    n_articles = 300
    runs = rng.integers(1, 6, size=n_articles)
    owners = rng.permutation(n_articles)[: n_articles - 20]  # some articles have no rows
    runs = runs[: len(owners)]
    starts = np.r_[0, np.cumsum(runs)[:-1]]
    cos = rng.normal(size=int(runs.sum())).astype(np.float32)
    cos[rng.random(len(cos)) < 0.1] = -np.inf  # dead rows
    two = starts[runs >= 2]
    cos[two + 1] = cos[two]  # an article's two best tie: the second is below neither
    fast = best_two(cos, starts, owners, n_articles, True)
    slow = best_two(cos, starts, owners, n_articles, False)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])


@pytest.mark.parametrize("seed", range(5))
def test_best_two_by_run_layout_equals_the_maximum_at_fold(seed):
    """Runs of every length class (1 to 70 rows: padded columns, the classes' edges), dead
    rows, ties at the top, and articles with no rows."""
    rng = np.random.default_rng(seed)
    n_articles = 400
    owners = rng.permutation(n_articles)[: n_articles - 30]
    runs = rng.choice([1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33, 70], size=len(owners))
    starts = np.r_[0, np.cumsum(runs)[:-1]]
    cos = rng.normal(size=int(runs.sum())).astype(np.float32)
    cos[rng.random(len(cos)) < 0.1] = -np.inf
    cos[starts[runs == 3]] = -np.inf  # a run whose first row (the padding) is dead
    two = starts[runs >= 2]
    cos[two + 1] = cos[two]
    layout = RunLayout.of(starts, owners, len(cos))
    fast = layout.best_two(cos, n_articles)
    slow = best_two(cos, starts, owners, n_articles, False)
    assert np.array_equal(fast[0], slow[0]) and np.array_equal(fast[1], slow[1])
    assert fast[0].dtype == slow[0].dtype and np.isfinite(fast[1]).any()
    assert RunLayout.of(starts[:0], owners[:0], 0).best_two(cos[:0], 3)[0].tolist() == [-np.inf] * 3


def test_exact_scores_of_most_rows_equal_gathered_rows():
    rng = np.random.default_rng(3)
    m = rng.normal(size=(4000, 32)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    q = m[17]
    store = VectorStore(m, "exact")
    for frac in (0.01, 0.2, 0.3, 0.9, 1.0):
        rows = np.flatnonzero(rng.random(len(m)) < frac)
        got = store.exact(rows, q)
        assert got.dtype == np.float32 and got.shape == rows.shape
        np.testing.assert_allclose(got, m[rows] @ q, rtol=0, atol=1e-6)


def test_rows_read_from_the_file_equal_the_mapped_rows(tmp_path):
    """With the int8 scan, fp32 rows are read with ``pread`` into a per-thread buffer, a
    chunk at a time (not mapped into the process)."""
    rng = np.random.default_rng(5)
    m = rng.normal(size=(3000, 16)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    save_vectors(tmp_path / "v.npy", m)
    mapped = np.load(tmp_path / "v.npy", mmap_mode="r")
    store = VectorStore(mapped, "int8", min_rows=0)
    store.CHUNK_ROWS = 300  # several chunks, each read into the thread's buffer
    store.prepare()
    assert store.scan == "int8" and store._file is not None
    q = m[9]
    sparse = np.flatnonzero(rng.random(3000) < 0.03)  # read row by row
    dense = np.flatnonzero(rng.random(3000) < 0.9)  # read span by span
    middling = np.flatnonzero(rng.random(3000) < 0.25)  # a span read, then only these rows
    mixed = np.r_[sparse[sparse < 1500], dense[dense >= 1500]]
    for rows in ([], [0], [0, 1, 2, 5, 6, 2999], sparse, dense, middling, mixed, np.arange(3000)):
        rows = np.asarray(rows, dtype=np.int64)
        assert np.array_equal(store._rows(rows), m[rows])
        got = store.exact(rows, q)
        np.testing.assert_allclose(got, m[rows] @ q, rtol=0, atol=1e-6)
        # a row's cosine does not depend on how it was read (sparse or in a span)
        assert np.array_equal(got, np.einsum("ij,j->i", m[rows], q))
    fast, exact = store.search(q, 10), VectorStore(m, "exact").search(q, 10)
    assert [r for r, _ in fast] == [r for r, _ in exact]


def mapped_kib(path) -> int:
    """KiB of ``path`` mapped into this process now (Rss of its mappings in /proc/self/smaps)."""
    total, inside = 0, False
    with open("/proc/self/smaps") as f:
        for line in f:
            head = line.split()
            if head and "-" in head[0] and len(head) >= 5:  # a mapping's first line
                inside = line.rstrip().endswith(str(path))
            elif inside and head[:1] == ["Rss:"]:
                total += int(head[1])
    return total


@pytest.mark.parametrize("how", ["mapped spans, two threads", "mapped spans", "read spans"])
def test_rescoring_is_the_gathered_rows_product_however_the_rows_are_read(tmp_path, how):
    """Spans through the mapping (pages released after each) or read into the buffer, on one
    thread or shared with a second: every cosine is the gathered rows' own, byte for byte, and
    a query re-scoring every row leaves at most one span of the matrix mapped."""
    rng = np.random.default_rng(8)
    m = rng.normal(size=(24_000, 64)).astype(np.float32)  # 6 MB
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    save_vectors(tmp_path / "v.npy", m)
    store = VectorStore(np.load(tmp_path / "v.npy", mmap_mode="r"), "int8", min_rows=0)
    store.prepare()
    store.CHUNK_ROWS = 1000
    store.PARALLEL_ROWS = 2000 if "two" in how else 10**9
    if how == "read spans":
        store._map = None
    else:
        assert store._map is not None
    q = m[11]
    pieces = [
        np.flatnonzero(rng.random(6000) < d) + 6000 * k for k, d in enumerate((0.9, 0.02, 0.3, 1))
    ]
    for rows in (np.arange(24_000), np.r_[tuple(pieces)], np.flatnonzero(rng.random(24_000) < 0.1)):
        store.release()
        got = store.exact(rows, q)
        assert got.tobytes() == np.einsum("ij,j->i", m[rows], q).tobytes()
        if how != "read spans":  # one span: 1000 rows of 256 bytes, plus a page each side
            assert mapped_kib(tmp_path / "v.npy") <= 1000 * 256 // 1024 + 8
    assert {bool(span) for _, _, span in store._pieces(np.r_[tuple(pieces)])} == {True, False}


def ranks_by_sorting_everything(values: np.ndarray, score: float, positive: bool) -> int:
    """The replaced implementation: sort every eligible row, count those above."""
    ok = values > 0 if positive else np.isfinite(values)
    s = np.sort(values[ok])
    return int(len(s) - np.searchsorted(s, score, "right")) + 1


def test_paragraph_ranks_from_the_top_equal_ranks_from_sorting_every_row():
    rng = np.random.default_rng(11)
    cos = rng.uniform(-0.2, 0.9, size=5000)
    cos[rng.random(5000) < 0.2] = -np.inf
    kw = np.where(rng.random(5000) < 0.3, rng.exponential(4.0, size=5000), 0.0)
    kw[:50] = kw[50]  # ties
    leg = ArticleKeyword(frozenset(), None, paragraph_scores=kw)
    found = Matched([], {}, {}, leg, cos, None, np.ones(1, bool), None)
    # shown paragraphs come in any order: high, low, equal to others, the very best
    picks = list(rng.choice(np.flatnonzero(np.isfinite(cos)), 40)) + [int(np.argmax(cos))]
    for r in picks:
        assert found.semantic_ranks([float(cos[r])])[0] == ranks_by_sorting_everything(
            cos, float(cos[r]), False
        )
    for r in list(rng.choice(np.flatnonzero(kw > 0), 40)) + [50, int(np.argmax(kw))]:
        assert found.keyword_ranks([float(kw[r])])[0] == ranks_by_sorting_everything(
            kw, float(kw[r]), True
        )
    assert found.keyword_ranks([0.0])[0] == int((kw > 0).sum()) + 1


@pytest.mark.parametrize("sort_at_most", [0, 1 << 15])
def test_a_pages_ranks_in_one_pass_equal_ranks_one_paragraph_at_a_time(sort_at_most, monkeypatch):
    """``Matched.ranked`` (the page's scores sorted once, or counted per score when there are
    many) gives each paragraph the rank that sorting every row gives it."""
    import search.answer

    monkeypatch.setattr(search.answer, "SORT_AT_MOST", sort_at_most)
    rng = np.random.default_rng(5)
    cos = rng.uniform(-0.2, 0.9, size=3000).astype(np.float32)
    cos[rng.random(3000) < 0.2] = -np.inf
    kw = np.where(rng.random(3000) < 0.3, rng.exponential(4.0, size=3000), 0.0)
    kw[:30] = kw[30]
    leg = ArticleKeyword(frozenset(), None, paragraph_scores=kw)
    found = Matched([], {}, {}, leg, cos, None, np.ones(1, bool), None)
    shown = []
    for _ in range(10):  # articles: paragraphs with both scores, one of them, or neither
        rows = rng.choice(3000, 3, replace=False).tolist() + [0]
        shown.append(
            [
                (r, float(kw[r]) if kw[r] > 0 else None, float(cos[r]) if np.isfinite(cos[r])
                 else None, 0.5)
                for r in rows
            ]
        )  # fmt: skip
    got = found.ranked(shown)
    for picks, ranked in zip(shown, got, strict=True):
        for (r, k, c, sc), (r2, krank, k2, srank, c2, sc2) in zip(picks, ranked, strict=True):
            assert (r, k, c, sc) == (r2, k2, c2, sc2)
            want_k = ranks_by_sorting_everything(kw, k, True) if k is not None else None
            want_c = ranks_by_sorting_everything(cos, c, False) if c is not None else None
            assert (krank, srank) == (want_k, want_c)
    assert any(k is None for p in shown for _, k, _, _ in p)
    assert found.ranked([]) == [] and found.ranked([[]]) == [[]]


@pytest.mark.parametrize("seed", range(6))
def test_member_ranks_are_leg_ranks_of_the_members(seed):
    """Ties (copies of an article score alike; zeros of both signs), −inf, members that are
    not eligible, no members, no eligible rows."""
    from search.ranking import leg_ranks, member_ranks

    rng = np.random.default_rng(seed)
    n = 3000
    base = rng.normal(size=n // 3)
    scores = np.concatenate([base, base, rng.normal(size=n - 2 * (n // 3))])
    scores[rng.random(n) < 0.05] = -np.inf
    scores[rng.random(n) < 0.02] = 0.0
    scores[rng.random(n) < 0.02] = -0.0
    scores = np.round(scores, seed % 3 + 1)  # coarse scores: many ties
    eligible = np.isfinite(scores) & (rng.random(n) < 0.9)
    for members in (rng.random(n) < 0.1, rng.random(n) < 0.9, np.zeros(n, bool), np.ones(n, bool)):
        want = np.where(members, leg_ranks(scores, eligible), 0)
        assert np.array_equal(member_ranks(scores, eligible, members), want)
    none = np.zeros(n, bool)
    assert not member_ranks(scores, none, np.ones(n, bool)).any()


def passage_by_every_row(keyword, cosines, article_of, ok, k, depth, floor, top=2):
    """The replaced implementation: the votes summed in a vector of every paragraph row."""
    from search.ranking import top_ranks

    fused = np.zeros(len(cosines))
    para_ok = ok[article_of] & (article_of >= 0)
    for scores, eligible in ((keyword, keyword > 0), (cosines, cosines >= floor)):
        rows, ranks = top_ranks(scores, eligible & para_ok, depth)
        fused[rows] += 1.0 / (k + ranks)
    rows = np.flatnonzero(fused)
    out = np.zeros(len(ok))
    if not len(rows):
        return out
    arts = article_of[rows].astype(np.int64)
    order = np.lexsort((-fused[rows], arts))
    arts, vals = arts[order], fused[rows][order]
    starts = np.flatnonzero(np.r_[True, arts[1:] != arts[:-1]])
    place = np.arange(len(arts)) - np.repeat(starts, np.diff(np.r_[starts, len(arts)]))
    keep = place < top
    np.add.at(out, arts[keep], vals[keep])
    return out


@pytest.mark.parametrize("seed", range(4))
def test_passage_votes_summed_over_the_ranked_rows_equal_the_every_row_sum(seed):
    from search.ranking import passage_scores

    rng = np.random.default_rng(seed)
    n_rows, n_art = 4000, 700
    article_of = np.sort(rng.integers(-1, n_art, n_rows))
    keyword = np.where(rng.random(n_rows) < 0.3, np.round(rng.exponential(3, n_rows), 1), 0.0)
    cosines = np.round(rng.uniform(-0.1, 0.8, n_rows), 2).astype(np.float32)
    cosines[rng.random(n_rows) < 0.05] = -np.inf
    ok = rng.random(n_art) < 0.8
    for depth, floor, top in ((400, 0.3, 2), (50, 0.5, 1), (5000, -1.0, 3), (10, 0.99, 2)):
        got = passage_scores(keyword, cosines, article_of, ok, 10, depth, floor, top)
        want = passage_by_every_row(keyword, cosines, article_of, ok, 10, depth, floor, top)
        assert np.array_equal(got, want)
    nothing = np.zeros(n_art, bool)
    assert not passage_scores(keyword, cosines, article_of, nothing, 10, 400, 0.3).any()


@pytest.fixture(scope="module")
def engine(settings, built_index):
    eng = Engine.open(settings)
    yield eng
    eng.close()


def test_article_paragraphs_are_the_rows_a_scan_finds(engine):
    b = engine.backend
    gen = b.generation
    for row in range(len(gen.articles)):
        want = np.flatnonzero(gen.article_of == row).tolist()
        got = b.article_paragraphs(row)
        assert [p.row for p in got] == want
        assert [p.text for p in got] == [gen.paragraphs[r]["text"] for r in want]
    assert b.article_paragraphs(len(gen.articles)) == [] and b.article_paragraphs(-1) == []


def test_lexicon_indexed_check_is_docs_non_empty(engine):
    kw = engine.backend.generation.keyword
    lex = kw.lexicon()
    for word in ["idlib", "ceasefir", "turkey", "zzzunknown", "the", "parliament", "x"]:
        assert kw._stem_indexed(word) == bool(kw._stem_docs(word).size)
        assert lex.known(word) == all(kw._stem_docs(s).size for s in lex._stems(word))


QUERIES = ["Idlib ceasefire", "Turkish parliament budget", '"de-escalation zone"', "zzzqx"]


def int8_ready(engine: Engine) -> None:
    """Wait for the int8 scan that ``Engine.open`` builds in the background."""
    vectors = engine.backend.generation.vectors
    deadline = time.monotonic() + 120
    while vectors.scan != "int8" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert vectors.scan == "int8"


@pytest.mark.parametrize("mode", ["hybrid", "keyword", "semantic"])
def test_searches_are_unchanged_with_the_fast_paths_off(settings, built_index, mode, monkeypatch):
    """The same answers — totals, order, ranks, facets, scores (to float32 rounding) — with
    the slow paths forced: the ``np.maximum.at`` fold and the exact scores gathered from the
    mapped matrix. The int8 scan is forced on (the test index is below its size floor) so
    the exact re-scoring runs."""
    monkeypatch.setattr(VectorStore, "FAST_MIN_ROWS", 0)
    read = []
    dots = VectorStore._dots

    def spy(self, rows, qvec):
        read.append(len(rows))
        return dots(self, rows, qvec)

    monkeypatch.setattr(VectorStore, "_dots", spy)
    fast_engine = Engine.open(settings)
    int8_ready(fast_engine)
    fast = [dataclasses.asdict(fast_engine.search(Query(q, mode=mode))) for q in QUERIES]
    fast_engine.close()
    if mode != "keyword":
        assert read and max(read) > 0  # the rows were read from the file
    slow_engine = Engine.open(settings)
    int8_ready(slow_engine)
    b = slow_engine.backend
    starts, owners, single = b._starts
    assert single  # a build writes each article's paragraphs as one run
    b.__dict__["_starts"] = (starts, owners, False)
    b.__dict__["_layout"] = None  # the np.maximum.at fold, not the run layout
    monkeypatch.setattr(
        VectorStore, "_dots", lambda self, rows, q: np.asarray(self.matrix[rows]) @ q
    )
    slow = [dataclasses.asdict(slow_engine.search(Query(q, mode=mode))) for q in QUERIES]
    slow_engine.close()
    for f, s in zip(fast, slow, strict=True):
        f.pop("took_ms"), s.pop("took_ms")
        assert not diff(f, s), diff(f, s)
    assert any(r["total"] for r in fast)


def diff(a, b, path="") -> list:
    """Where two answers differ; cosines may differ in float32 rounding (the product over
    the whole matrix and the one over gathered rows round differently, by ~1e-8)."""
    if isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= 1e-6 else [(path, a, b)]
    if isinstance(a, dict):
        return [x for k in a for x in diff(a[k], b.get(k), f"{path}.{k}")]
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return [(path, a, b)]
        pairs = enumerate(zip(a, b, strict=True))
        return [x for i, (p, q) in pairs for x in diff(p, q, f"{path}[{i}]")]
    return [] if a == b else [(path, a, b)]


def test_plain_dicts_are_what_dataclasses_asdict_gives(engine):
    """``Results.to_dict`` (models.plain) equals ``dataclasses.asdict`` on real answers (hits,
    facets, hints, an empty answer, filters) and on odd values: tuples, named tuples, dicts,
    numpy scalars, nested records."""
    import collections

    from search.models import plain

    queries = [Query(q, mode=m) for q in QUERIES for m in ("hybrid", "keyword", "semantic")]
    queries += [Query("Idlib", sources=("nobody",)), Query("Idlib ceasefire", limit=1, offset=1)]
    for q in queries:
        r = engine.search(q)
        assert r.to_dict() == dataclasses.asdict(r)
        assert json.dumps(r.to_dict()) == json.dumps(dataclasses.asdict(r))
    point = collections.namedtuple("point", "x y")

    @dataclasses.dataclass
    class Odd:
        a: tuple
        b: dict
        c: list
        d: object

    odd = Odd((1, point(2, [3])), {"k": (4, 5), 6: None}, [np.float64(0.5), True, "s"], {1, 2})
    assert plain(odd) == dataclasses.asdict(odd)
    assert type(plain(odd)["a"][1]) is point and type(plain(odd)["a"]) is tuple
    assert plain(odd)["d"] is not odd.d  # copied, as asdict copies it
