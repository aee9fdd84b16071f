"""An index records which export embedded it (manifest ``embedding``): queried through
another export its cosines would be quietly wrong, so it is refused, counted stale, and a
rebuild re-embeds instead of reusing the old vectors."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace

import pytest

from search import build, store
from search.embed import embedding_identity
from search.embed.export import EXPORT_VERSION
from search.engine import Engine
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


def test_an_index_from_before_the_record_still_opens(ix) -> None:
    path = store.current_generation(ix.index_dir) / "manifest.json"
    manifest = json.loads(path.read_text("utf-8"))
    del manifest["embedding"]
    path.write_text(json.dumps(manifest), "utf-8")
    Engine.open(ix)
