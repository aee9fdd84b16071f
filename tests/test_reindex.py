"""Re-indexing an unchanged corpus reuses the Whoosh files; the engine embeds queries with the
backend the index was built with."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

from search import store
from search.build import build_index
from search.engine import Engine
from search.models import Query
from search.vectors import Embedder, OpenVINOEmbedder


def _whoosh_inodes(gen: Path) -> dict[str, int]:
    return {p.name: p.stat().st_ino for p in (gen / "whoosh").iterdir()}


def _ids(engine: Engine, text: str) -> list[str]:
    return [a.article_id for a in engine.search(Query(text, mode="keyword")).results]


def test_unchanged_rebuild_links_keyword_files_and_still_searches(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    first = build_index([corpus_dir], s)
    assert not first.keyword_reused
    before = _ids(Engine.open(s), "wheat harvest")
    assert before
    second = build_index([corpus_dir], s)
    assert second.keyword_reused and second.embedded == 0
    g1, g2 = s.index_dir / first.generation, s.index_dir / second.generation
    assert _whoosh_inodes(g1) == _whoosh_inodes(g2)  # the same files, not copies
    store.read_manifest(g2, verify=True)  # the new generation's checksums cover them
    shutil.rmtree(g1)  # the old generation going away leaves the new one whole
    assert _ids(Engine.open(s), "wheat harvest") == before


def test_changed_article_rebuilds_keyword_index(tmp_path, settings, corpus_dir):
    data = tmp_path / "corpus"
    shutil.copytree(corpus_dir, data)
    s = replace(settings, index_dir=tmp_path / "ix")
    first = build_index([data], s)
    seed = data / "seed.txt"
    seed.write_text(seed.read_text() + "\n\nA zanzibarish paragraph nobody indexed before.\n")
    second = build_index([data], s)
    assert not second.keyword_reused
    g1, g2 = s.index_dir / first.generation, s.index_dir / second.generation
    assert set(_whoosh_inodes(g1).values()).isdisjoint(_whoosh_inodes(g2).values())
    assert _ids(Engine.open(s), "zanzibarish")


def test_damaged_keyword_files_are_not_reused(tmp_path, settings, corpus_dir):
    s = replace(settings, index_dir=tmp_path / "ix")
    first = build_index([corpus_dir], s)
    seg = max(
        (s.index_dir / first.generation / "whoosh").glob("*.seg"), key=lambda p: p.stat().st_size
    )
    raw = bytearray(seg.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    seg.write_bytes(bytes(raw))
    second = build_index([corpus_dir], s)
    assert not second.keyword_reused
    store.read_manifest(s.index_dir / second.generation, verify=True)
    assert _ids(Engine.open(s), "wheat harvest")


def test_engine_embeds_queries_like_the_index_was_embedded(tmp_path, settings, corpus_dir, caplog):
    s = replace(settings, index_dir=tmp_path / "ix")
    rep = build_index([corpus_dir], s)
    gen = s.index_dir / rep.generation
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["settings"]["embed_backend"] == "torch"
    # Asking for int8 at query time does not change the space the stored vectors live in.
    eng = Engine.open(replace(s, embed_backend="openvino-int8"))
    assert type(eng._embedder) is Embedder
    # An index that says int8 but has no export at hand answers with torch, and says so.
    manifest["settings"]["embed_backend"] = "openvino-int8"
    (gen / "manifest.json").write_text(json.dumps(manifest))
    with caplog.at_level(logging.WARNING, logger="search.vectors"):
        eng = Engine.open(s)
    assert not isinstance(eng._embedder, OpenVINOEmbedder)
    assert "queries use torch" in caplog.text
    assert eng.search(Query("wheat harvest")).results
