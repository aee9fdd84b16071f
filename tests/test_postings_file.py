"""Decoded postings (``postings_file.py``) vs the path they replace: Whoosh's own postings,
decoded per term at query time. Same arrays, same statistics, same rankings and scores (exactly),
on an index with several segments and deleted documents, and on random queries."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from search import store
from search.backends.keyword_articles import article_evidence, article_stats
from search.keyword import KeywordDoc, KeywordIndex, update_index, write_index
from search.postings_file import open_postings
from search.postings_write import FIELDS, write_postings
from search.store import IndexCorrupt

VOCAB = [
    "oil", "price", "prices", "talks", "syria", "turkey", "idlib", "ceasefire", "budget",
    "parliament", "bank", "england", "rate", "rates", "the", "of", "and", "vote", "deal",
    "brexit", "minister", "ministers", "wheat", "harvest", "gold", "market", "markets", "u.s.",
    "de-escalation", "zone", "co-operation", "erdoğan", "çavuşoğlu", "election", "strike",
    "parl", "parlay", "cease", "ceased", "talked", "talking", "zebra", "quasar", "3.5",
]  # fmt: skip


def _docs(rnd: random.Random, first_row: int, n_articles: int, prefix: str) -> list[KeywordDoc]:
    weights = [1 / (i + 1) for i in range(len(VOCAB))]
    out, row = [], first_row
    for a in range(n_articles):
        title = " ".join(rnd.choices(VOCAB, weights, k=rnd.randint(1, 5)))
        for _ in range(rnd.randint(1, 5)):
            text = " ".join(rnd.choices(VOCAB, weights, k=rnd.randint(0, 40)))
            date = f"2019-{rnd.randint(1, 12):02d}-01"
            out.append(KeywordDoc(row, f"{prefix}{a}", title, text, rnd.choice("ab"), date))
            row += 1
    return out


def _queries(rnd: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rnd.randint(1, 5)):
            w = rnd.choice(VOCAB)
            r = rnd.random()
            if r < 0.1:
                w = f'"{w} {rnd.choice(VOCAB)}"'
            elif r < 0.18 and len(w) > 3:
                w = w[:3] + "*"
            elif r < 0.25:
                w = "title:" + w
            elif r < 0.32:
                w = "-" + w
            elif r < 0.36:
                w = "+" + w
            elif r < 0.40:
                w = "NOT " + w
            parts.append(w)
            if rnd.random() < 0.12:
                parts.append(rnd.choice(["AND", "OR"]))
        out.append(" ".join(parts))
    return out + ['"bank of england" rate', "parl* budget", "(oil OR gold) AND talks"]


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    """A Whoosh index of three segments with deletions, and its decoded postings."""
    rnd = random.Random(3)
    d = tmp_path_factory.mktemp("pf")
    write_index(d / "whoosh", _docs(rnd, 0, 150, "a"))
    update_index(d / "whoosh", [f"a{i}" for i in range(0, 150, 7)], _docs(rnd, 2000, 40, "b"))
    update_index(d / "whoosh", ["b3", "a11"], _docs(rnd, 3000, 20, "c"))
    write_postings(d / "whoosh", d / "postings")
    fast = KeywordIndex(d / "whoosh", postings=d / "postings")
    slow = KeywordIndex(d / "whoosh")
    yield d, fast, slow
    fast.close()
    slow.close()


def test_the_index_has_what_the_comparison_needs(index):
    _, fast, slow = index
    s = slow._searcher()
    assert len(s.leaf_searchers()) >= 2 and s.doc_count_all() > s.doc_count()
    assert fast._scored._file is not None and slow._scored._file is None


def test_every_term_decodes_to_whooshs_postings_and_statistics(index):
    _, fast, slow = index
    s, sf = slow.scorer()
    fs, ff = fast.scorer()
    for field in FIELDS:
        assert np.array_equal(ff.field_lengths(fs, field), sf.field_lengths(s, field))
        assert ff._file.fields[field].avg_field_length == s.avg_field_length(field)
        terms = [s.schema[field].from_bytes(b) for b in s.reader().lexicon(field)]
        assert len(terms) == len(ff._file.fields[field].offsets) - 1
        for t in terms + ["notaword", "", "zzz"]:
            want, got = sf.term_tf(s, field, t), ff.term_tf(fs, field, t)
            if want is None:
                assert got is None, t
                continue
            assert got[0].dtype == want[0].dtype and np.array_equal(got[0], want[0]), t
            assert got[1].dtype == want[1].dtype and np.array_equal(got[1], want[1]), t
            i = ff._file.fields[field].find(s.schema[field].to_bytes(t))
            assert ff._file.fields[field].idf[i] == s.idf(field, t), t
    assert np.array_equal(ff.doc_rows(fs), sf.doc_rows(s))


def test_random_queries_rank_and_score_exactly_as_before(index):
    d, fast, slow = index
    rows = slow.scorer()[1].doc_rows(slow._searcher())
    n_rows = int(rows.max()) + 1
    article_of = np.zeros(n_rows, dtype=np.int64)
    live = rows >= 0
    article_of[rows[live]] = rows[live] // 7  # any grouping of rows into articles will do
    stats_f = article_stats(fast, article_of, int(article_of.max()) + 1)
    stats_s = article_stats(slow, article_of, int(article_of.max()) + 1)
    assert np.array_equal(stats_f.body_len, stats_s.body_len)
    compared = 0
    for text in _queries(random.Random(9), 400):
        for filters in [(None, None, ()), ("2019-03-01", "2019-08-01", ("a",))]:
            got, want = fast.search(text, 10_000, *filters), slow.search(text, 10_000, *filters)
            assert got.hits == want.hits, text  # rows and float scores, exactly
            compared += bool(want.hits)
        got = article_evidence(fast, text, stats_f, article_of, 2.0, 10.0)
        want = article_evidence(slow, text, stats_s, article_of, 2.0, 10.0)
        assert (got.evidence is None) == (want.evidence is None), text
        if want.evidence is not None:
            assert np.array_equal(got.evidence.scores, want.evidence.scores), text
            assert np.array_equal(got.evidence.matched, want.evidence.matched), text
            assert np.array_equal(got.paragraph_scores, want.paragraph_scores), text
            assert (got.excluded is None) == (want.excluded is None), text
            if want.excluded is not None:
                assert np.array_equal(got.excluded, want.excluded), text
    assert compared > 300


def test_postings_that_do_not_describe_the_whoosh_index_are_refused(index, tmp_path):
    d, _, _ = index
    meta = json.loads((d / "postings" / "meta.json").read_text())
    bad = tmp_path / "postings"
    bad.mkdir()
    for f in (d / "postings").iterdir():
        (bad / f.name).write_bytes(f.read_bytes())
    (bad / "meta.json").write_text(json.dumps({**meta, "doc_count_all": 1}))
    with pytest.raises(IndexCorrupt, match="do not describe"):
        KeywordIndex(d / "whoosh", postings=bad)
    (bad / "meta.json").write_text(json.dumps(meta))
    (bad / "text.docs.npy").write_bytes(b"not an array")
    with pytest.raises(IndexCorrupt, match="cannot open postings"):
        KeywordIndex(d / "whoosh", postings=bad)


def test_an_index_without_postings_is_read_the_old_way_with_one_line(index, tmp_path, caplog):
    d, _, _ = index
    from whoosh import index as windex

    assert open_postings(tmp_path / "postings", windex.open_dir(str(d / "whoosh"))) is None
    assert len(caplog.records) == 1 and "newsearch index" in caplog.records[0].getMessage()


def test_a_build_writes_postings_and_the_engine_reads_them(settings, built_index):
    from search.engine import Engine
    from search.models import Query

    gen = store.current_generation(settings.index_dir)
    manifest = store.read_manifest(gen)
    assert any(f.startswith("postings/") for f in manifest["files"])  # checksummed
    engine = Engine.open(settings)
    assert engine.backend.generation.keyword._scored._file is not None
    assert engine.search(Query("Idlib", mode="keyword")).total > 0


def test_an_old_index_answers_the_same_and_newsearch_index_upgrades_it(
    settings, built_index, tmp_path, caplog
):
    """A generation from before postings/ (its files and manifest entries removed) opens with
    one warning, answers as the index with postings does, and a build gives it postings."""
    import shutil
    from dataclasses import replace

    from search.build import build_index
    from search.engine import Engine
    from search.models import Query
    from search.update import delete_ids

    old_dir = tmp_path / "index"
    shutil.copytree(settings.index_dir, old_dir)
    gen = store.current_generation(old_dir)
    shutil.rmtree(gen / "postings")
    manifest = json.loads((gen / "manifest.json").read_text())
    manifest["files"] = {k: v for k, v in manifest["files"].items() if "postings/" not in k}
    (gen / "manifest.json").write_text(json.dumps(manifest))
    old = replace(settings, index_dir=old_dir)
    new_engine, old_engine = Engine.open(settings), Engine.open(old)
    assert "newsearch index" in caplog.text
    assert old_engine.backend.generation.keyword._scored._file is None
    for text in ["Idlib", "Turkish parliament budget", '"de-escalation zone"', "cease* -Idlib"]:
        for mode in ("keyword", "hybrid"):
            a = new_engine.search(Query(text, mode=mode))
            b = old_engine.search(Query(text, mode=mode))
            assert (a.total, a.results) == (b.total, b.results), text
    build_index([Path(__file__).parent / "data" / "corpus"], old)
    assert (store.current_generation(old_dir) / "postings" / "meta.json").is_file()
    # add/delete write a new generation from an updated copy of whoosh/: postings follow it
    some = new_engine.search(Query("Idlib", mode="keyword")).results[0].article_id
    delete_ids([some], old)
    after = Engine.open(old)
    assert after.backend.generation.keyword._scored._file is not None
    assert some not in [r.article_id for r in after.search(Query("Idlib", mode="keyword")).results]


def test_phrases_over_decoded_positions_are_whooshs_phrase_matches(index):
    """Consecutive words of real paragraphs (so most phrases match somewhere), random pairs,
    repeated words, stop words inside: the documents Whoosh's span matcher finds."""
    from whoosh import query

    from search.keyword import analyze

    _, fast, slow = index
    s = slow._searcher()
    fp = fast._scored._file.fields
    rnd = random.Random(4)
    words = [w for w in VOCAB if analyze(w)]
    phrases = [
        tuple(analyze(" ".join(rnd.choices(words, k=rnd.randint(2, 4))))) for _ in range(600)
    ]
    phrases += [("oil", "oil"), ("bank", "england"), ("de", "escal"), ("price", "price", "price")]
    found = 0
    for field in FIELDS:
        for words_ in phrases:
            if len(words_) < 2:
                continue
            want = sorted(s.docs_for_query(query.Phrase(field, list(words_))))
            got = fp[field].phrase_docs([w.encode() for w in words_])
            assert got is not None and got.tolist() == want, (field, words_)
            found += bool(want)
    assert found > 100


def test_postings_written_without_positions_leave_phrases_to_whoosh(index, tmp_path):
    d, _, slow = index
    meta = json.loads((d / "postings" / "meta.json").read_text())
    older = tmp_path / "postings"
    older.mkdir()
    for f in (d / "postings").iterdir():
        if not f.name.endswith(("npos.npy", "positions.npy", "pos_starts.npy")):
            (older / f.name).write_bytes(f.read_bytes())
    for info in meta["fields"].values():
        del info["positions"]
    (older / "meta.json").write_text(json.dumps(meta))
    kw = KeywordIndex(d / "whoosh", postings=older)
    try:
        assert kw._scored._file.fields["text"].phrase_docs([b"oil", b"price"]) is None
        for text in ['"oil price"', '"bank of england" rate', "de-escalation zone"]:
            assert kw.search(text, 1000).hits == slow.search(text, 1000).hits
    finally:
        kw.close()
