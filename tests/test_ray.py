"""``--ray``: embedding on a 2-CPU local Ray cluster gives the local path's vectors, for both
backends, and leaves no Ray processes, temp folders or token files behind."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("ray")

from search import store  # noqa: E402
from search.cli import main  # noqa: E402
from search.rayembed import RaySpec, parse_address  # noqa: E402


def _ray_leftovers() -> set[str]:
    tmp = Path(tempfile.gettempdir())
    found = {str(p) for p in tmp.glob("nsray-*")} | {str(p) for p in tmp.glob("ray")}
    return found | {str(p) for p in [Path.home() / ".ray"] if p.exists()}


@pytest.fixture()
def no_leftovers():
    before = _ray_leftovers()
    yield
    assert _ray_leftovers() == before


def _embedded_vectors(index_dir: Path) -> np.ndarray:
    return np.load(store.current_generation(index_dir) / "vectors.npy")


def test_ray_index_gives_the_local_vectors(
    settings, built_index, corpus_dir, tmp_path, no_leftovers
):
    out = CliRunner().invoke(
        main, ["index", str(corpus_dir), "--ray", "--index-dir", str(tmp_path / "ix")]
    )
    assert out.exit_code == 0, out.output
    assert "0 reused" in out.output  # everything went through Ray
    ray_vecs = _embedded_vectors(tmp_path / "ix")
    local = _embedded_vectors(settings.index_dir)
    assert ray_vecs.shape == local.shape
    assert float((ray_vecs * local).sum(axis=1).min()) > 0.99999


def test_ray_into_milvus(settings, built_index, corpus_dir, tmp_path, no_leftovers):
    pytest.importorskip("milvus_lite")
    from search.backends import milvus_store as ms

    uri = str(tmp_path / "r.db")
    out = CliRunner().invoke(
        main,
        ["index", str(corpus_dir), "--ray", "--quiet", "--milvus-uri", uri,
         "--index-dir", str(tmp_path / "cache")],
    )  # fmt: skip
    assert out.exit_code == 0, out.output
    client = ms.connect(uri)
    lv = ms.live(client, "newsearch")
    got = {e["row"]: e["vector"] for e in ms.scan(client, lv.paragraphs, ["vector"])}
    vecs = np.asarray([got[i] for i in range(len(got))], dtype=np.float32)
    local = _embedded_vectors(settings.index_dir)
    assert float((vecs * local).sum(axis=1).min()) > 0.99999


def test_ray_addresses():
    assert parse_address("") is None and parse_address(None) is None
    assert parse_address("local") == RaySpec()
    assert parse_address("ray://head:10001") == RaySpec("ray://head:10001")
