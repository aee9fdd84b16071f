"""The generation format has one owner: the index shape is written to the manifest and read
back by ``add``, ``delete`` and ``eval``, so an index is always extended the way it was built."""

from __future__ import annotations

import json
from dataclasses import replace

from search import evaluate as ev
from search import store
from search.build import build_index, inputs_fingerprint, is_stale
from search.layout import PARAGRAPHS, LiveIndex, Manifest
from search.update import add_paths, delete_ids

LONG = " ".join(
    f"Sentence {i} about the harbour authority and its plans for the new quay wall."
    for i in range(60)
)


def _paragraphs_of(s, generation: str, article_id: str) -> list[str]:
    path = s.index_dir / generation / PARAGRAPHS
    rows = [json.loads(line) for line in path.open(encoding="utf-8")]
    return [p["text"] for p in rows if p["id"].startswith(f"{article_id}:")]


def test_manifest_records_the_whole_index_shape(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix", max_tokens=64, duplicate_threshold=0.9)
    rep = build_index([corpus_dir], s)
    raw = store.read_manifest(s.index_dir / rep.generation)
    m = Manifest.from_json(raw)
    assert m.index == s.index_shape
    assert raw["settings"]["duplicate_threshold"] == 0.9 and raw["settings"]["max_tokens"] == 64
    assert LiveIndex.read(s).shape == s.index_shape


def test_add_splits_like_the_index_was_built_not_like_today(tmp_path, settings, corpus_dir):
    built = replace(settings, index_dir=tmp_path / "ix", max_tokens=64, duplicate_threshold=0.9)
    build_index([corpus_dir], built)
    new = tmp_path / "long.jsonl"
    new.write_text(json.dumps({"id": "long-1", "title": "Quay", "text": LONG}) + "\n")
    today = replace(settings, index_dir=built.index_dir)  # default max_tokens 200, threshold 0.95
    rep = add_paths([new], today)
    added = _paragraphs_of(built, rep.generation, "long-1")
    # Split at 64 word pieces (the index's), not 200: about three times as many paragraphs.
    reference = tmp_path / "ref"
    ref = build_index([new], replace(built, index_dir=reference))
    assert added == _paragraphs_of(replace(built, index_dir=reference), ref.generation, "long-1")
    assert len(added) >= 6
    after_add = store.read_manifest(built.index_dir / rep.generation)
    assert after_add["settings"]["max_tokens"] == 64
    _, _, name = delete_ids(["long-1"], today)
    after_delete = json.loads((built.index_dir / name / "duplicates.json").read_text())
    assert after_delete["threshold"] == 0.9  # the index's threshold, not today's default


def test_duplicate_threshold_is_part_of_the_fingerprint(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    build_index([corpus_dir], s)
    assert not is_stale([corpus_dir], s)
    other = replace(s, duplicate_threshold=0.8)
    assert inputs_fingerprint([corpus_dir], other) != inputs_fingerprint([corpus_dir], s)
    assert is_stale([corpus_dir], other)
    assert ev.cache_dir([corpus_dir], other) != ev.cache_dir([corpus_dir], s)


def test_eval_reads_the_shape_back_from_an_existing_index(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix", max_tokens=64, title_boost=3.0)
    build_index([corpus_dir], s)
    got = ev.eval_settings([corpus_dir], s.index_dir)
    assert got.max_tokens == 64 and got.title_boost == 3.0
    assert not is_stale([corpus_dir], got)  # so eval evaluates it instead of rebuilding it
    fresh = ev.eval_settings([corpus_dir], tmp_path / "empty")
    assert fresh.max_tokens == 200
