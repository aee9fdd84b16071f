"""Generation store: atomic publish, checksums, lock, leftovers of killed builds."""

from __future__ import annotations

import pytest

from search import store


def _build(index_dir, payload: bytes, name="data.bin"):
    with store.writer_lock(index_dir):
        tmp = store.new_generation_dir(index_dir)
        (tmp / name).write_bytes(payload)
        (tmp / "sub").mkdir()
        (tmp / "sub" / "x.txt").write_text("x")
        return store.commit_generation(index_dir, tmp, {"format_version": 1})


def test_not_ready_until_first_commit(tmp_path):
    with pytest.raises(store.IndexNotReady):
        store.current_generation(tmp_path)
    gen = _build(tmp_path, b"abc")
    assert store.current_generation(tmp_path) == gen
    assert gen.name == "gen-000001"
    manifest = store.read_manifest(gen)
    assert manifest["files"]["data.bin"]["bytes"] == 3
    assert "sub/x.txt" in manifest["files"]


def test_unfinished_build_leaves_current_alone_and_is_cleaned(tmp_path):
    first = _build(tmp_path, b"one")
    tmp = store.new_generation_dir(tmp_path)  # a build that is killed before commit
    (tmp / "data.bin").write_bytes(b"half")
    assert store.current_generation(tmp_path) == first
    second = _build(tmp_path, b"two")
    assert not tmp.exists()
    assert store.current_generation(tmp_path) == second
    assert (second / "data.bin").read_bytes() == b"two"


def test_old_generations_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "PRUNE_GRACE_SECONDS", 0.0)  # (see test_concurrency for it)
    for i in range(4):
        _build(tmp_path, bytes([i]))
    gens = sorted(p.name for p in tmp_path.glob("gen-*"))
    assert gens == ["gen-000003", "gen-000004"]


@pytest.mark.parametrize("damage", ["flip", "truncate", "delete"])
def test_checksums_catch_damage(tmp_path, damage):
    gen = _build(tmp_path, b"0123456789")
    f = gen / "data.bin"
    if damage == "flip":
        data = bytearray(f.read_bytes())
        data[4] ^= 0x01
        f.write_bytes(bytes(data))
    elif damage == "truncate":
        f.write_bytes(b"01234")
    else:
        f.unlink()
    with pytest.raises(store.IndexCorrupt):
        store.read_manifest(gen)


def test_second_writer_is_refused(tmp_path):
    with store.writer_lock(tmp_path):
        with pytest.raises(store.IndexBusy):
            with store.writer_lock(tmp_path, wait=0.2):
                pass
    with store.writer_lock(tmp_path):  # released: free again
        pass
