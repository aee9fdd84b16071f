"""Re-indexing an unchanged corpus reuses the Whoosh files; the engine embeds queries with the
backend the index was built with."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

from search import store
from search.build import build_index
from search.embed.openvino_backend import OpenVINOEmbedder
from search.embed.torch_backend import TorchEmbedder
from search.engine import Engine
from search.models import Query


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


def test_engine_embeds_queries_like_the_index_was_embedded(tmp_path, settings, corpus_dir):
    # The torch fp32 path stays selectable: built with it, queries use it too ...
    s = replace(settings, index_dir=tmp_path / "ix", embed_backend="torch")
    rep = build_index([corpus_dir], s)
    gen = s.index_dir / rep.generation
    manifest = json.loads((gen / "manifest.json").read_text())
    assert manifest["settings"]["embed_backend"] == "torch"
    # ... even when int8 is asked for at query time: that does not change the stored vectors.
    eng = Engine.open(replace(s, embed_backend="openvino-int8"))
    assert type(eng.embedder) is TorchEmbedder
    assert "wheat" in eng.search(Query("wheat harvest", mode="semantic")).results[0].title.lower()
    # The default builds with int8, and its queries are embedded by the same int8 model.
    s8 = replace(settings, index_dir=tmp_path / "ix8")
    assert s8.embed_backend == "openvino-int8"
    rep8 = build_index([corpus_dir], s8)
    manifest8 = json.loads((s8.index_dir / rep8.generation / "manifest.json").read_text())
    assert manifest8["settings"]["embed_backend"] == "openvino-int8"
    eng8 = Engine.open(replace(s8, embed_backend="torch"))
    assert isinstance(eng8.embedder, OpenVINOEmbedder)
    assert eng8.embedder.backend == "openvino-int8"
    top = eng8.search(Query("wheat harvest", mode="semantic")).results[0].title.lower()
    assert "wheat" in top


def test_rebuild_splits_only_changed_articles(tmp_path, settings, corpus_dir, monkeypatch):
    from search import stages

    data = tmp_path / "corpus"
    shutil.copytree(corpus_dir, data)
    s = replace(settings, index_dir=tmp_path / "ix")
    first = build_index([data], s)
    calls: list[str] = []
    real = stages.split_article

    def counting(article, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(article.id)
        return real(article, *args, **kwargs)

    monkeypatch.setattr(stages, "split_article", counting)
    again = build_index([data], s)
    assert calls == [] and again.paragraphs == first.paragraphs
    g1, g2 = s.index_dir / first.generation, s.index_dir / again.generation
    assert (g1 / "paragraphs.jsonl").read_bytes() == (g2 / "paragraphs.jsonl").read_bytes()
    seed = data / "seed.txt"
    seed.write_text(seed.read_text() + "\n\nA zanzibarish paragraph nobody indexed before.\n")
    third = build_index([data], s)
    assert len(calls) == 1  # only the changed article was split again
    texts = [
        json.loads(line)["text"]
        for line in (s.index_dir / third.generation / "paragraphs.jsonl").open()
    ]
    assert any("zanzibarish" in t for t in texts)
    # A smaller paragraph size is a different split: nothing is reused.
    calls.clear()
    build_index([data], replace(s, max_tokens=64))
    assert len(calls) == third.articles


def test_bookkeeping_fields_stay_out_of_the_api(client):
    hit = client.get("/api/search?q=Idlib+de-escalation").get_json()["results"][0]
    body = client.get(f"/api/articles/{hit['article_id']}").get_json()
    assert body["title"] == hit["title"] and "split" not in body and "deleted" not in body


def test_search_does_not_wait_while_the_int8_scan_is_built(monkeypatch):
    """Generation.prepare builds the int8 scan in the background; meanwhile the exact scan
    answers (here the build is 'in progress': its lock is held)."""
    import numpy as np

    from search.vectors import VectorStore

    rng = np.random.default_rng(3)
    m = rng.standard_normal((500, 16)).astype(np.float32)
    m /= np.linalg.norm(m, axis=1, keepdims=True)
    q = m[7] + 0.1 * m[9]
    q /= np.linalg.norm(q)
    store_ = VectorStore(m, "int8", min_rows=0)
    with store_._scan_lock:
        got = store_.search(q, 5)
    want = np.argsort(-(m @ q))[:5]
    assert [r for r, _ in got] == want.tolist()
    assert store_._scan is None  # nothing was built by the search that found the lock taken
