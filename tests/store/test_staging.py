"""Staged blobs: written once through reused buffers (directly to the disk where it can),
hashed on the way, published through the shelf's one step only as the digest they hash to."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from pathlib import Path

import pytest

import store
from store.blobs import staging
from store.errors import DigestMismatch, StorageError

DATA = os.urandom(3 * staging.BUFFER_SIZE + 12345)  # several buffers and a ragged end
DIGEST = store.Digest(hashlib.sha256(DATA).hexdigest())


@pytest.fixture
def the_store(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "s")


def reader(data: bytes, step: int = 1 << 20) -> staging.ReadInto:
    position = 0

    def readinto(view: memoryview) -> int:
        nonlocal position
        count = min(len(view), step, len(data) - position)
        view[:count] = data[position:position + count]
        position += count
        return count

    return readinto


def temps(the_store: store.Store) -> list[Path]:
    blobs = the_store.layout.blobs
    return [p for p in blobs.iterdir() if not p.name.startswith("sha256-")] if blobs.exists() \
        else []


def test_fill_hashes_writes_and_publishes(the_store: store.Store) -> None:
    seen: list[int] = []
    with the_store.blobs.stage() as blob:
        assert blob.fill(reader(DATA), len(DATA), seen.append) == len(DATA)
        assert (blob.digest, blob.size, sum(seen)) == (DIGEST, len(DATA), len(DATA))
        assert not the_store.blobs.exists(DIGEST)  # nothing visible before publish
        assert blob.publish(DIGEST)
    assert the_store.blobs.read_bytes(DIGEST) == DATA
    assert temps(the_store) == []


def test_fill_stops_where_the_reader_runs_dry(the_store: store.Store) -> None:
    with the_store.blobs.stage() as blob:
        assert blob.fill(reader(DATA[:1000]), len(DATA)) == 1000
        assert blob.digest == store.Digest.of(DATA[:1000])


def direct_io_works(folder: Path) -> bool:
    try:
        fd = os.open(folder / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    except (OSError, AttributeError):
        return False
    os.close(fd)
    return True


def test_fill_writes_directly_where_it_can_and_buffered_at_a_ragged_end(
        the_store: store.Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not direct_io_works(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    import fcntl

    modes: list[tuple[int, bool]] = []
    real = staging.write_all

    def spy(fd: int, data: memoryview) -> None:
        modes.append((len(data), bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)))
        real(fd, data)

    monkeypatch.setattr(staging, "write_all", spy)
    with the_store.blobs.stage() as blob:
        blob.fill(reader(DATA, step=len(DATA)), len(DATA))
        assert blob.path.read_bytes() == DATA
    assert modes == [(staging.BUFFER_SIZE, True)] * 3 + [(12345, False)]


def test_fill_goes_buffered_when_a_direct_write_is_refused(
        the_store: store.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    real = staging.write_all
    refused = []

    def picky(fd: int, data: memoryview) -> None:
        if not refused:
            refused.append(len(data))
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, data)

    monkeypatch.setattr(staging, "write_all", picky)
    monkeypatch.setattr(staging, "_set_direct", lambda fd, *, on: on)
    with the_store.blobs.stage() as blob:
        blob.fill(reader(DATA, step=len(DATA)), len(DATA))
        assert blob.digest == DIGEST and blob.path.read_bytes() == DATA
        assert blob.publish(DIGEST)


def test_publish_refuses_other_bytes_and_closing_removes_the_temp(
        the_store: store.Store) -> None:
    with the_store.blobs.stage() as blob:
        blob.fill(reader(DATA), len(DATA))
        with pytest.raises(DigestMismatch):
            blob.publish(store.Digest.of(b"something else"))
        assert temps(the_store) == [blob.path]
    assert temps(the_store) == [] and not the_store.blobs.exists(DIGEST)


def test_publish_of_a_blob_already_there_is_false(the_store: store.Store) -> None:
    the_store.blobs.put_bytes(DATA)
    with the_store.blobs.stage() as blob:
        blob.fill(reader(DATA), len(DATA))
        assert not blob.publish(DIGEST)
    assert temps(the_store) == []


def test_a_failed_write_surfaces_as_a_storage_error(
        the_store: store.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, data: memoryview) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(staging, "write_all", full)
    with the_store.blobs.stage() as blob, pytest.raises(StorageError, match="full"):
        blob.fill(reader(DATA), len(DATA))
    assert temps(the_store) == []


def test_a_reader_error_propagates_and_stops_the_threads(the_store: store.Store) -> None:
    calls = 0

    def broken(view: memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ValueError("damaged input")
        view[:10] = b"x" * 10
        return 10

    with the_store.blobs.stage() as blob, pytest.raises(ValueError, match="damaged input"):
        blob.fill(broken, 1000)
    assert [t for t in threading.enumerate() if t.name.startswith("lamina-blob")] == []


def test_a_staged_blob_is_written_once(the_store: store.Store) -> None:
    with the_store.blobs.stage() as blob:
        blob.fill(reader(b"abc"), 3)
        with pytest.raises(RuntimeError):
            blob.fill(reader(b"abc"), 3)
