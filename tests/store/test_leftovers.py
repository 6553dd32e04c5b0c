"""gc removes abandoned pulls, uploads and interrupted manifest writes; du counts them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import store
from ocitypes import Digest
from ocitypes.errors import UploadUnknown

MiB = 1024 * 1024


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def abandoned_pull(lamina: store.Store, data: bytes) -> Path:
    with lamina.blobs.partial(Digest.of(data), len(data)) as pull:
        pull.write_at(0, data[: len(data) // 2])
    return lamina.layout.partial(Digest.of(data))


def test_gc_leaves_young_leftovers_alone(lamina: store.Store) -> None:
    abandoned_pull(lamina, os.urandom(MiB))
    lamina.blobs.begin().write(b"abc")
    report = store.gc(lamina)
    assert report.temps == ()
    assert len(os.listdir(lamina.layout.partials)) == 2
    assert len(os.listdir(lamina.layout.uploads)) == 1


def test_gc_removes_abandoned_pulls_uploads_and_manifest_temps(lamina: store.Store) -> None:
    part = abandoned_pull(lamina, os.urandom(MiB))
    upload = lamina.blobs.begin()
    upload.write(b"x" * 5000)
    manifest_temp = lamina.layout.manifests / "registry.ollama.ai" / "library" / "m" / ".tmp-x"
    manifest_temp.parent.mkdir(parents=True)
    manifest_temp.write_bytes(b"{")
    time.sleep(0.05)
    dry = store.gc(lamina, dry_run=True, grace=0.01)
    paths = {path for path, _ in dry.temps}
    assert paths == {part, lamina.layout.upload(upload.id), manifest_temp}
    assert dict(dry.temps)[part] >= MiB // 2  # the bytes written, not the pre-sized length
    assert part.exists() and manifest_temp.exists()
    store.gc(lamina, grace=0.01)
    assert os.listdir(lamina.layout.partials) == []
    assert os.listdir(lamina.layout.uploads) == []
    assert not manifest_temp.exists()
    with pytest.raises(UploadUnknown):
        lamina.blobs.resume(upload.id)
    assert store.verify(lamina).ok


def test_gc_never_removes_a_pull_a_process_holds(lamina: store.Store) -> None:
    data = os.urandom(MiB)
    pull = lamina.blobs.partial(Digest.of(data), len(data))
    pull.write_at(0, data[:1000])
    pull.flush()
    time.sleep(0.05)
    assert store.gc(lamina, grace=0.01).temps == ()
    pull.write_at(1000, data[1000:])
    pull.commit()
    assert lamina.blobs.read_bytes(Digest.of(data)) == data


def test_gc_removes_blob_lock_files_killed_holders_left(lamina: store.Store) -> None:
    stale = lamina.layout.blob_lock(Digest.of(b"x"))
    stale.parent.mkdir(parents=True)
    stale.touch()
    other = lamina.layout.store_lock
    other.touch()
    time.sleep(0.05)
    store.gc(lamina, grace=0.01)
    assert not stale.exists()
    assert other.exists()


def test_du_counts_pulls_uploads_and_temp_files(lamina: store.Store) -> None:
    assert (store.du(lamina).partial, store.du(lamina).uploads) == (0, 0)
    abandoned_pull(lamina, os.urandom(2 * MiB))
    lamina.blobs.begin().write(b"y" * 100_000)
    (lamina.layout.blobs).mkdir(parents=True, exist_ok=True)
    (lamina.layout.blobs / ".tmp-1-killed").write_bytes(b"z" * 50_000)
    usage = store.du(lamina)
    assert MiB <= usage.partial < 2 * MiB  # sparse: only the half that arrived
    assert usage.uploads >= 100_000
    assert usage.temps >= 50_000
    assert usage.to_json()["partial_bytes"] == usage.partial
