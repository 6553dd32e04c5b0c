"""An upload's batches: written without joining, hashed on a second thread, the aligned middle
with O_DIRECT where the file system takes it, the bytes always exactly what was sent."""

from __future__ import annotations

import errno
import hashlib
import os
import random
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ocitypes import Digest
from store.blobs import BlobStore, appender
from store.blobs.appender import BLOCK, Appender, writev_all
from store.errors import StorageError
from store.hashcache import Hasher
from store.layout import Layout

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(Layout(tmp_path / "store"))


def _pieces(rng: random.Random, total: int) -> list[bytes]:
    """Buffers of awkward sizes (as a socket hands them over) adding up to ``total``."""
    out: list[bytes] = []
    while total:
        size = min(total, rng.choice([1, 4095, BLOCK, 65536, 417792, 3 * MiB + 7]))
        out.append(rng.randbytes(size))
        total -= size
    return out


def _spy_open(monkeypatch: pytest.MonkeyPatch, refuse: bool = False) -> list[int]:
    """Count files opened for direct writes; with ``refuse``, fail them as tmpfs does."""
    opened: list[int] = []
    real = os.open

    def fake(path: Any, flags: int, *args: Any) -> int:
        if flags & appender._O_DIRECT:
            opened.append(flags)
            if refuse:
                raise OSError(errno.EINVAL, "Invalid argument")
        return real(path, flags, *args)

    monkeypatch.setattr(os, "open", fake)
    return opened


def _direct_supported(folder: Path) -> bool:
    if not appender._O_DIRECT:
        return False
    try:
        os.close(os.open(folder / "probe", os.O_WRONLY | os.O_CREAT | appender._O_DIRECT))
    except OSError:
        return False
    return True


def _push(store: BlobStore, batches: list[list[bytes]], *, resume: bool = False) -> bytes:
    """Write the batches to one session at their offsets, commit, and return the blob."""
    session = store.begin()
    sent = bytearray()
    for batch in batches:
        assert session.write(batch, at=len(sent)) == len(sent) + sum(map(len, batch))
        sent += b"".join(batch)
        if resume:
            session = store.resume(session.id)
    digest = Digest(hashlib.sha256(sent).hexdigest())
    session.commit(digest)
    assert store.read_bytes(digest) == sent
    return bytes(sent)


def test_batches_at_unaligned_offsets_land_byte_exact(store: BlobStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(7)
    opened = _spy_open(monkeypatch)
    sizes = [3 * MiB + 3, 1, 5 * MiB + 4093, 100, 2 * MiB]  # offsets never block-aligned
    _push(store, [_pieces(rng, size) for size in sizes])
    _push(store, [_pieces(rng, size) for size in sizes], resume=True)
    if _direct_supported(store.layout.blobs):
        assert opened, "large batches are written with O_DIRECT where it works"


def test_file_systems_without_o_direct_get_every_byte(store: BlobStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    opened = _spy_open(monkeypatch, refuse=True)
    rng = random.Random(8)
    _push(store, [_pieces(rng, 6 * MiB + 5), _pieces(rng, 9 * MiB)])
    assert len(opened) <= 1, "a refusal is remembered: the session stops asking"


def test_a_direct_write_refused_midway_goes_on_through_the_page_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "upload"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    calls = []
    real = os.pwrite

    def pwrite(fd: int, data: Any, offset: int) -> int:
        calls.append(offset)
        if len(calls) > 1:  # a device that wants a larger alignment than the first write had
            raise OSError(errno.EINVAL, "Invalid argument")
        return real(fd, data, offset)

    monkeypatch.setattr(appender, "DIRECT_BUFFER", 2 * MiB)
    monkeypatch.setattr(os, "pwrite", pwrite)
    data = random.Random(9).randbytes(9 * MiB + 11)
    hasher = Hasher()
    writer = Appender(path)
    writer._direct = True
    try:
        assert writer.append(fd, [memoryview(data)], hasher, 0) == len(data)
    finally:
        os.close(fd)
    writer.settle()
    assert path.read_bytes() == data
    assert hasher.digest() == Digest.of(data)
    assert len(calls) == 2 and not writer._direct


def test_a_large_batch_is_hashed_on_another_thread(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    threads: set[int] = set()
    real: Callable[[Hasher, memoryview], None] = Hasher.update

    def update(self: Hasher, data: memoryview) -> None:
        threads.add(threading.get_ident())
        real(self, data)

    monkeypatch.setattr(Hasher, "update", update)
    path = tmp_path / "upload"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    data = [os.urandom(MiB), os.urandom(MiB)]
    hasher = Hasher()
    writer = Appender(path)
    try:
        writer.append(fd, [memoryview(d) for d in data], hasher, 0)
    finally:
        os.close(fd)
    writer.settle()
    assert threads and threading.get_ident() not in threads
    assert hasher.digest() == Digest.of(b"".join(data))


def test_a_failed_write_is_hashed_again_from_the_file(store: BlobStore,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    session = store.begin()
    session.write(b"a" * 10)
    real = os.writev
    failures = [OSError(errno.ENOSPC, "No space left on device")]

    def writev(fd: int, buffers: Any) -> int:
        if failures:
            real(fd, [memoryview(buffers[0])[:3]])  # a few bytes made it before the disk filled
            raise failures.pop()
        return real(fd, buffers)

    monkeypatch.setattr(os, "writev", writev)
    with pytest.raises(StorageError, match="disk is full"):
        session.write([b"b" * MiB, b"c" * MiB])
    session.write(b"d", at=session.offset)
    session.commit(Digest.of(b"a" * 10 + b"bbb" + b"d"))


def test_writev_all_finishes_short_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.writev
    monkeypatch.setattr(os, "writev", lambda fd, buffers: real(fd, [memoryview(buffers[0])[:3]]))
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        writev_all(fd, [memoryview(b"hello"), memoryview(b""), memoryview(b" world")])
    finally:
        os.close(fd)
    assert path.read_bytes() == b"hello world"


def test_a_session_takes_several_buffers_in_one_write(store: BlobStore) -> None:
    session = store.begin()
    assert session.write([b"ab", bytearray(b"cd"), memoryview(b"ef")]) == 6
    session.commit(Digest.of(b"abcdef"))
    assert store.read_bytes(Digest.of(b"abcdef")) == b"abcdef"


def test_aligned_buffers_beyond_a_few_are_given_back() -> None:
    """A server that took many pushes at once keeps only a few buffers while it serves pulls."""
    ring = threading.BoundedSemaphore(5)
    held = [appender._Slot(ring) for _ in range(5)]
    assert len({id(slot.buffer) for slot in held}) == 5
    for slot in held:
        slot.release()
        slot.release()  # once only: the ring is not over-released
    assert len(appender._buffers) == appender.IDLE_BUFFERS
    assert all(slot.buffer.closed for slot in held if slot.buffer not in appender._buffers)


def test_hashing_goes_on_after_append_returns(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The next batch can arrive and be written while this one is still being hashed."""
    if not _direct_supported(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    go_on = threading.Event()
    real: Callable[[Hasher, memoryview], None] = Hasher.update

    def update(self: Hasher, data: memoryview) -> None:
        go_on.wait(30)
        real(self, data)

    monkeypatch.setattr(Hasher, "update", update)
    path = tmp_path / "upload"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    data = bytearray(random.Random(10).randbytes(6 * MiB + 5))
    sent = bytes(data)
    hasher, writer = Hasher(), Appender(path)
    appending = threading.Thread(
        target=writer.append, args=(fd, [memoryview(data)], hasher, 0))
    try:
        appending.start()
        appending.join(10)
        returned = not appending.is_alive()
        data[:] = bytes(len(data))  # the caller's buffer is its own again
        go_on.set()
        appending.join()
    finally:
        os.close(fd)
    assert returned, "append waited for the hashing"
    writer.settle()
    assert path.read_bytes() == sent
    assert hasher.digest() == Digest.of(sent)


def test_an_upload_holds_a_few_buffers_whatever_its_size(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    if not _direct_supported(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    monkeypatch.setattr(appender, "DIRECT_BUFFER", MiB)
    held, most = [0], [0]
    real_init, real_release = appender._Slot.__init__, appender._Slot.release

    def init(self: Any, ring: threading.BoundedSemaphore) -> None:
        real_init(self, ring)
        with appender._lock:
            held[0] += 1
            most[0] = max(most[0], held[0])

    def release(self: Any) -> None:
        if self._ring is not None:
            with appender._lock:
                held[0] -= 1
        real_release(self)

    monkeypatch.setattr(appender._Slot, "__init__", init)
    monkeypatch.setattr(appender._Slot, "release", release)
    path = tmp_path / "upload"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
    data = random.Random(11).randbytes(40 * MiB + 3)
    hasher, writer = Hasher(), Appender(path)
    try:
        for start in range(0, len(data), 10 * MiB):
            writer.append(fd, [memoryview(data)[start:start + 10 * MiB]], hasher, start)
    finally:
        os.close(fd)
    writer.settle()
    assert hasher.digest() == Digest.of(data)
    assert 1 < most[0] <= appender.RING and held[0] == 0


def test_a_direct_write_that_fails_midway_leaves_a_session_that_goes_on(
        store: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only bytes in the file are hashed: after a failure the session resumes at its offset."""
    if not _direct_supported(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    monkeypatch.setattr(appender, "DIRECT_BUFFER", MiB)
    real = os.pwrite
    calls = []

    def pwrite(fd: int, data: Any, offset: int) -> int:
        calls.append(offset)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    data = random.Random(12).randbytes(6 * MiB)
    session = store.begin()
    with pytest.raises(StorageError, match="disk is full"):
        session.write([data])
    kept = session.offset
    assert kept == 2 * MiB
    session.write(b"tail", at=kept)
    session.commit(Digest.of(data[:kept] + b"tail"))
    assert store.read_bytes(Digest.of(data[:kept] + b"tail")) == data[:kept] + b"tail"
