"""Staged blobs: written once (from a reader or by the kernel from a file range), hashed on the
way, published through the shelf's one step only as the digest they hash to."""

from __future__ import annotations

import errno
import hashlib
import os
import threading
from collections.abc import Iterator
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


@pytest.fixture
def source(tmp_path: Path) -> Iterator[int]:
    path = tmp_path / "bundle"
    path.write_bytes(b"head" + DATA + b"tail")
    fd = os.open(path, os.O_RDONLY)
    yield fd
    os.close(fd)


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


def test_copy_range_copies_exactly_the_range(the_store: store.Store, source: int) -> None:
    with the_store.blobs.stage() as blob:
        assert blob.copy_range(source, 4, len(DATA)) == len(DATA)
        assert blob.digest == DIGEST
        assert blob.path.read_bytes() == DATA
        assert blob.publish(DIGEST)
    assert the_store.blobs.read_bytes(DIGEST) == DATA


def test_copy_range_past_the_end_is_short(the_store: store.Store, source: int) -> None:
    with the_store.blobs.stage() as blob:
        assert blob.copy_range(source, 4 + len(DATA) - 10, 100) == 14  # 10 + "tail"


@pytest.mark.parametrize("code", [errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP])
def test_copy_range_without_kernel_copy_reads_instead(
        the_store: store.Store, source: int, monkeypatch: pytest.MonkeyPatch, code: int) -> None:
    def refuse(*args: int) -> int:
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(os, "copy_file_range", refuse)
    with the_store.blobs.stage() as blob:
        assert blob.copy_range(source, 4, len(DATA)) == len(DATA)
        assert blob.digest == DIGEST


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
