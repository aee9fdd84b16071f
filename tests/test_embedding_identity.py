"""An index records which export embedded it (manifest ``embedding``): queried through
another export its cosines would be quietly wrong, so it is refused, counted stale, and a
rebuild re-embeds instead of reusing the old vectors."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from search import build, store, update
from search.embed import embedder_for, embedding_identity
from search.embed.export import EXPORT_VERSION
from search.engine import Engine
from search.layout import embedding_matches
from search.store import IndexCorrupt


@pytest.fixture()
def ix(tmp_path, settings, built_index):
    dest = tmp_path / "index"
    shutil.copytree(settings.index_dir, dest, ignore=shutil.ignore_patterns(".lock"))
    return replace(settings, index_dir=dest)


def _retag(ix, value: str) -> None:
    path = store.current_generation(ix.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    manifest["embedding"] = value
    path.write_text(json.dumps(manifest), "utf-8")


def test_a_build_records_the_export_it_embedded_with(ix) -> None:
    manifest = store.read_manifest(store.current_generation(ix.index_dir))
    assert manifest["embedding"] == embedding_identity(ix.model_name, ix.embed_backend)
    if ix.embed_backend != "torch":
        assert f"-{ix.embed_backend}-v{EXPORT_VERSION}-" in manifest["embedding"]
    assert embedding_identity(ix.model_name, "torch") != manifest["embedding"]


def test_another_exports_index_is_refused_then_rebuilt(ix, corpus_dir) -> None:
    Engine.open(ix)  # opens as built
    _retag(ix, "all-MiniLM-L6-v2-openvino-int8-v1-000000000000")
    with pytest.raises(
        IndexCorrupt, match="embedded with .*-v1-.*rebuild it with `newsearch index`"
    ):
        Engine.open(ix)
    assert build.is_stale([corpus_dir], ix)  # `make run` rebuilds it
    report = build.build_index([corpus_dir], ix)
    assert report.reused == 0 and report.embedded == report.paragraphs  # nothing carried over
    Engine.open(ix)


def test_a_rebuild_of_a_refused_index_keeps_adds_and_deletes(
    ix, tmp_path, corpus_dir, monkeypatch
) -> None:
    story = tmp_path / "added-1.jsonl"
    text = "The harbour ferry added-1 sails at noon, the operator said on Monday."
    story.write_text(json.dumps({"id": "added-1", "title": "Ferry", "text": text}) + "\n")
    update.add_paths([story], ix)
    update.delete_ids(["rates-1"], ix)
    _retag(ix, "all-MiniLM-L6-v2-openvino-int8-v1-000000000000")
    with pytest.raises(IndexCorrupt):
        update.add_paths([story], ix)  # add/delete refuse it too
    embedder = embedder_for(ix)
    encoded: list[str] = []
    real = embedder.encode

    def spy(texts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        encoded.extend(texts)
        return real(texts, *args, **kwargs)

    monkeypatch.setattr(embedder, "encode", spy)
    report = build.build_index([corpus_dir], ix)
    assert report.reused == 0
    assert text in encoded  # the carried article embedded again, its old vector not copied
    live = store.current_generation(ix.index_dir)
    rows = [json.loads(x) for x in (live / "articles.jsonl").read_text("utf-8").splitlines()]
    alive = {r["id"] for r in rows if not r.get("deleted")}
    assert "added-1" in alive and "rates-1" not in alive
    paras = [json.loads(x) for x in (live / "paragraphs.jsonl").read_text("utf-8").splitlines()]
    row = next(i for i, p in enumerate(paras) if rows[p["article"]]["id"] == "added-1")
    vec = np.load(live / "vectors.npy")[row]
    fresh = real([paras[row]["text"]])[0]
    assert float(vec @ fresh) > 0.9999


def _drop_record(ix, backend: str | None = None) -> None:
    path = store.current_generation(ix.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    del manifest["embedding"]
    if backend is not None:
        manifest["settings"]["embed_backend"] = backend
    path.write_text(json.dumps(manifest), "utf-8")


def test_an_openvino_index_from_before_the_record_is_re_embedded(ix, corpus_dir) -> None:
    # Such an index came from export v1/v2, whose 32-token batches were computed wrongly.
    assert ix.embed_backend != "torch"
    _drop_record(ix)
    with pytest.raises(IndexCorrupt, match="embedded with an unrecorded export.*rebuild it"):
        Engine.open(ix)
    assert build.is_stale([corpus_dir], ix)  # `make run` rebuilds it
    report = build.build_index([corpus_dir], ix)
    assert report.reused == 0 and report.embedded == report.paragraphs
    Engine.open(ix)


def test_a_torch_index_from_before_the_record_still_opens(ix) -> None:
    torch_ix = replace(ix, embed_backend="torch")
    _drop_record(torch_ix, backend="torch")  # torch vectors depend on no export
    manifest = store.read_manifest(store.current_generation(ix.index_dir))
    assert embedding_matches(manifest)
    Engine.open(torch_ix)
