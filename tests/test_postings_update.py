"""An add/delete's postings, written from the live generation's and the new Whoosh segments
(``postings_update.py``), are the bytes a full decode of the updated Whoosh index writes, through
deletions, additions and Whoosh's own segment merges (which drop segments, renumber documents
and reorder the ones they keep)."""

from __future__ import annotations

import io
import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from whoosh import index as windex

from search import store
from search.keyword import KeywordDoc, update_index, write_index
from search.postings_update import update_postings
from search.postings_write import write_postings
from search.related import article_vectors, duplicate_groups

WORDS = "oil price prices talks syria turkey idlib ceasefire budget bank rate the of and vote deal"
WORDS = WORDS.split() + ["de-escalation", "erdoğan", "u.s.", "3.5", "zebra", "quasar"]


def _docs(rnd: random.Random, first_row: int, n_articles: int, prefix: str) -> list[KeywordDoc]:
    """Articles of 1-5 paragraphs; rare words too, so some terms live only in one segment."""
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    out, row = [], first_row
    for a in range(n_articles):
        title = " ".join(rnd.choices(WORDS, weights, k=rnd.randint(1, 5)))
        for _ in range(rnd.randint(1, 5)):
            words = rnd.choices(WORDS, weights, k=rnd.randint(0, 30))
            words += [f"w{rnd.randint(0, 400)}"] * rnd.randint(0, 2)
            out.append(KeywordDoc(row, f"{prefix}{a}", title, " ".join(words), "a", "2019-01-01"))
            row += 1
    return out


def _same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir())
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def _segment_ids(d: Path) -> list[str]:
    return [s.segment_id() for s in windex.open_dir(str(d))._segments()]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_updated_postings_are_a_full_decode_of_the_updated_index(tmp_path, seed, monkeypatch):
    from search import postings_update

    ran = {"_appended": 0, "_field": 0, "new segments in place": 0}
    for name in ("_appended", "_field"):  # each way is taken: in place (deleted documents
        real = getattr(postings_update, name)  # only, or new segments after), and merged

        def counted(*a, _real=real, _name=name):
            ran[_name] += 1
            ran["new segments in place"] += _name == "_appended" and bool(a[-1])
            return _real(*a)

        monkeypatch.setattr(postings_update, name, counted)
    rnd = random.Random(seed)
    live = tmp_path / "g0"
    write_index(live / "whoosh", _docs(rnd, 0, 60, "a"))
    write_postings(live / "whoosh", live / "postings")
    articles = [f"a{i}" for i in range(60)]
    row, merged, reordered = 10_000, 0, 0
    for step in range(1, 16):
        nxt = tmp_path / f"g{step}"
        shutil.copytree(live / "whoosh", nxt / "whoosh")
        gone = rnd.sample(articles, k=min(len(articles), rnd.choice([0, 1, 1, 3, 12])))
        n_new = rnd.choice([0, 1, 1, 2, 5, 30]) if gone else rnd.choice([1, 2, 5, 30])
        new = _docs(rnd, row, n_new, f"s{step}-")
        row += len(new) + 1
        articles = [a for a in articles if a not in gone] + sorted({d.article for d in new})
        before = _segment_ids(live / "whoosh")
        update_index(nxt / "whoosh", gone, new)
        after = _segment_ids(nxt / "whoosh")
        merged += len(set(before) - set(after)) > 0
        kept = [s for s in after if s in before]
        reordered += kept != [s for s in before if s in kept]
        assert update_postings(live / "whoosh", live / "postings", nxt / "whoosh", nxt / "p")
        write_postings(nxt / "whoosh", nxt / "postings")
        _same_files(nxt / "p", nxt / "postings")
        live = nxt
    assert ran["_appended"] > ran["new segments in place"] > 0 and ran["_field"]
    assert merged  # the merge policy ran at least once: segments dropped, documents moved
    if seed == 1:
        assert reordered  # and once moved a kept segment ahead of another


def test_postings_without_document_frequencies_are_decoded_again(tmp_path):
    rnd = random.Random(5)
    write_index(tmp_path / "whoosh", _docs(rnd, 0, 20, "a"))
    write_postings(tmp_path / "whoosh", tmp_path / "postings")
    meta = json.loads((tmp_path / "postings" / "meta.json").read_text())
    (tmp_path / "postings" / "meta.json").write_text(json.dumps({**meta, "version": 1}))
    shutil.copytree(tmp_path / "whoosh", tmp_path / "new")
    update_index(tmp_path / "new", ["a3"], [])
    old, new, dest = tmp_path / "whoosh", tmp_path / "new", tmp_path / "p"
    assert not update_postings(old, tmp_path / "postings", new, dest)
    assert not dest.exists()
    assert not update_postings(old, tmp_path / "none", new, dest)


def test_add_and_delete_write_the_postings_a_full_decode_would(
    settings, built_index, tmp_path, monkeypatch
):
    """Through the commands: the new generation's postings/ equals write_postings of its own
    whoosh/, and its whoosh/ shares the unchanged segment files with the live generation."""
    from dataclasses import replace

    from search import update
    from search.update import add_paths, delete_ids

    monkeypatch.setattr(update, "COMPACT_RATIO", 1.0)  # the test corpus is small: never compact
    ix = tmp_path / "index"
    shutil.copytree(settings.index_dir, ix)
    s = replace(settings, index_dir=ix)
    live = store.current_generation(ix)
    first = json.loads((live / "articles.jsonl").read_text().splitlines()[0])["id"]
    deleted, _, name = delete_ids([first], s)
    assert deleted == [first]
    gen = ix / name
    write_postings(gen / "whoosh", tmp_path / "full")
    _same_files(gen / "postings", tmp_path / "full")
    segs = [p for p in (live / "whoosh").iterdir() if p.suffix == ".seg"]
    assert segs and all((gen / "whoosh" / p.name).stat().st_ino == p.stat().st_ino for p in segs)
    store.read_manifest(gen, verify=True)  # every file checksummed, links included

    doc = {"id": "new-one", "title": "Wheat harvest talks", "text": "Wheat prices rose. " * 20}
    (tmp_path / "new.jsonl").write_text(json.dumps(doc) + "\n")
    report = add_paths([tmp_path / "new.jsonl"], s)
    gen = ix / report.generation
    shutil.rmtree(tmp_path / "full")
    write_postings(gen / "whoosh", tmp_path / "full")
    _same_files(gen / "postings", tmp_path / "full")
    rows = np.load(gen / "postings" / "rows.npy")
    assert rows.max() == store.read_manifest(gen)["counts"]["rows"] - 1
    # duplicates.json was updated from the live groups: the groups of every pair
    arts = [json.loads(x) for x in (gen / "articles.jsonl").read_text().splitlines()]
    paras = [json.loads(x) for x in (gen / "paragraphs.jsonl").read_text().splitlines()]
    of = np.array([p["article"] for p in paras])
    vecs = article_vectors(np.load(gen / "vectors.npy"), of, len(arts))
    alive = np.array([not a.get("deleted") for a in arts])
    written = "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in paras)
    assert (gen / "paragraphs.jsonl").read_text() == written  # appended: as a full write
    vectors = np.load(gen / "vectors.npy")
    assert paras[-1]["id"].startswith("new-one:") and len(paras) == len(vectors)
    saved = io.BytesIO()
    np.save(saved, vectors, allow_pickle=False)
    assert (gen / "vectors.npy").read_bytes() == saved.getvalue()  # appended: as np.save
    stored = json.loads((gen / "duplicates.json").read_text())
    assert stored["groups"] == duplicate_groups(vecs, stored["threshold"], alive)


def test_paragraph_scores_after_a_delete_skip_the_row_mapping_exactly(tmp_path):
    """After deletions and appended segments (no merge), live documents keep docnum == row:
    the per-row keyword scores are read without mapping docnums to rows (the mapping cost
    every keyword search ~0.4 ms at 100k on an index with a deletion), and equal the mapped."""
    from search.backends.keyword_articles import article_evidence, article_stats
    from search.keyword import KeywordIndex

    rnd = random.Random(11)
    first = _docs(rnd, 0, 60, "a")
    write_index(tmp_path / "whoosh", first)
    more = _docs(rnd, len(first), 8, "b")
    update_index(tmp_path / "whoosh", ["a3", "a17", "a40"], more)
    write_postings(tmp_path / "whoosh", tmp_path / "postings")
    n_rows = len(first) + len(more)
    article_of = np.arange(n_rows) // 3
    fast = KeywordIndex(tmp_path / "whoosh", postings=tmp_path / "postings")
    mapped = KeywordIndex(tmp_path / "whoosh", postings=tmp_path / "postings")
    mapped.scorer()[1]._rows_are_docnums = False  # the general mapping, forced
    stats = article_stats(fast, article_of, int(article_of.max()) + 1)
    compared = 0
    for text in ["oil price", "talks bank rate", "w12 w300", '"bank rate" vote', "idlib -oil"]:
        got = article_evidence(fast, text, stats, article_of, 2.0, 10.0)
        want = article_evidence(mapped, text, stats, article_of, 2.0, 10.0)
        if want.evidence is not None:
            assert np.array_equal(got.paragraph_scores, want.paragraph_scores), text
            compared += bool(want.paragraph_scores.any())
    assert compared >= 3 and fast.scorer()[1]._rows_are_docnums
    assert fast.scorer()[1]._any_dead  # the deleted documents were there to be zeroed


def test_live_postings_that_do_not_add_up_are_decoded_again(tmp_path, caplog):
    """Derived data, so never a failed update: inconsistent live postings (here a document
    frequency table of the wrong length) mean a full decode, with one line saying so."""
    rnd = random.Random(6)
    write_index(tmp_path / "whoosh", _docs(rnd, 0, 20, "a"))
    write_postings(tmp_path / "whoosh", tmp_path / "postings")
    np.save(tmp_path / "postings" / "text.df.npy", np.ones(2, dtype=np.int64))
    shutil.copytree(tmp_path / "whoosh", tmp_path / "new")
    update_index(tmp_path / "new", ["a3"], _docs(rnd, 500, 3, "b"))
    dest = tmp_path / "p"
    assert not update_postings(tmp_path / "whoosh", tmp_path / "postings", tmp_path / "new", dest)
    assert not dest.exists() and "decoding all of them" in caplog.text
