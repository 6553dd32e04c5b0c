"""Partial blobs fed a stream: the store's own buffers, direct writes, hashed from memory."""

from __future__ import annotations

import errno
import itertools
import os
import random
import threading
from pathlib import Path

import pytest

from ocitypes import Digest
from store.blobs import BlobStore, follower, partial, pipeline
from store.errors import StorageError
from store.layout import Layout
from tests.store.test_staging import direct_io_works, reader

BUFFER = partial.STREAM_BUFFER
DATA = random.Random(7).randbytes(3 * BUFFER + 12345)  # whole buffers and a ragged end
DIGEST = Digest.of(DATA)


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(Layout(tmp_path / "store"))


def source(data: bytes, start: int = 0, step: int = 1 << 20) -> pipeline.ReadInto:
    """A socket-like reader of ``data[start:]``, ``step`` bytes a call at most."""
    return reader(data[start:], step)


def no_read_back(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(self: follower.PrefixHasher, start: int, end: int) -> None:
        raise AssertionError(f"bytes {start}-{end} were read back")

    monkeypatch.setattr(follower.PrefixHasher, "_hash", refuse)


def test_a_stream_is_hashed_from_its_buffers_and_never_read_back(
        store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    no_read_back(monkeypatch)
    seen: list[int] = []
    blob = store.partial(DIGEST, len(DATA))
    assert blob.receive(0, len(DATA), source(DATA), seen.append) == len(DATA)
    assert sum(seen) == len(DATA) and blob.missing() == []
    assert list(store.digests()) == []  # nothing visible until it is verified
    blob.commit()
    assert store.read_bytes(DIGEST) == DATA


def test_a_stream_writes_whole_blocks_directly_and_its_ragged_end_buffered(
        store: BlobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not direct_io_works(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    import fcntl

    writes: list[tuple[int, int, bool]] = []
    real = partial._pwrite_all

    def spy(fd: int, view: memoryview, offset: int) -> None:
        writes.append((offset, len(view), bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_DIRECT)))
        real(fd, view, offset)

    monkeypatch.setattr(partial, "_pwrite_all", spy)
    blob = store.partial(DIGEST, len(DATA))
    blob.receive(0, len(DATA), source(DATA))
    blob.commit()
    assert store.read_bytes(DIGEST) == DATA
    tail = len(DATA) - 3 * BUFFER
    whole = tail // 4096 * 4096
    direct = [(i * BUFFER, BUFFER, True) for i in range(3)] + [(3 * BUFFER, whole, True)]
    assert [w for w in writes if w[1]] == [*direct, (3 * BUFFER + whole, tail - whole, False)]


def test_a_stream_goes_through_the_page_cache_where_direct_writes_are_refused(
        store: BlobStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if not direct_io_works(tmp_path):
        pytest.skip("this file system refuses O_DIRECT")
    real = partial._pwrite_all
    refused: list[int] = []

    def picky(fd: int, view: memoryview, offset: int) -> None:
        if not refused and len(view) % 4096 == 0:
            refused.append(offset)
            raise OSError(errno.EINVAL, "Invalid argument")
        real(fd, view, offset)

    monkeypatch.setattr(partial, "_pwrite_all", picky)
    blob = store.partial(DIGEST, len(DATA))
    assert blob.receive(0, len(DATA), source(DATA)) == len(DATA)
    blob.commit()
    assert refused == [0] and store.read_bytes(DIGEST) == DATA


def test_a_stream_ahead_of_the_prefix_is_read_back_once_the_gap_is_filled(
        store: BlobStore) -> None:
    blob = store.partial(DIGEST, len(DATA))
    middle = 2 * BUFFER
    assert blob.receive(middle, len(DATA), source(DATA, middle)) == len(DATA)
    assert blob.missing() == [(0, middle)]
    assert blob.receive(0, middle, source(DATA)) == middle
    blob.commit()
    assert store.read_bytes(DIGEST) == DATA


def test_a_stream_continues_what_an_earlier_process_wrote(store: BlobStore) -> None:
    blob = store.partial(DIGEST, len(DATA))
    blob.write_at(0, DATA[:150_000])  # unaligned: the stream's first buffer goes buffered
    blob.close()
    again = store.partial(DIGEST, len(DATA))
    assert again.missing() == [(150_000, len(DATA))]
    assert again.receive(150_000, len(DATA), source(DATA, 150_000)) == len(DATA)
    again.commit()
    assert store.read_bytes(DIGEST) == DATA
    assert again.reread == 150_000  # the earlier bytes, hashed once from the file


def test_a_stream_ends_where_its_reader_runs_dry(store: BlobStore) -> None:
    blob = store.partial(DIGEST, len(DATA))
    short = DATA[: BUFFER + 1000]
    assert blob.receive(0, len(DATA), source(short)) == len(short)
    assert blob.missing() == [(len(short), len(DATA))]
    assert blob.receive(len(short), len(DATA), source(DATA, len(short))) == len(DATA)
    blob.commit()
    assert store.read_bytes(DIGEST) == DATA


def test_bytes_before_a_failing_reader_are_kept_for_the_next_process(store: BlobStore) -> None:
    calls = 0
    good = source(DATA, step=BUFFER)

    def breaking(view: memoryview) -> int:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise ConnectionResetError("the registry went away")
        return good(view)

    blob = store.partial(DIGEST, len(DATA))
    with pytest.raises(ConnectionResetError):
        blob.receive(0, len(DATA), breaking)
    assert blob.missing() == [(2 * BUFFER, len(DATA))]
    blob.close()
    assert [t for t in threading.enumerate() if t.name.startswith("lamina-blob")] == []
    again = store.partial(DIGEST, len(DATA))
    assert again.missing() == [(2 * BUFFER, len(DATA))]
    again.receive(2 * BUFFER, len(DATA), source(DATA, 2 * BUFFER))
    again.commit()
    assert store.read_bytes(DIGEST) == DATA


def test_a_full_disk_stops_the_stream_with_a_storage_error(
        store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(fd: int, view: memoryview, offset: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(partial, "_pwrite_all", full)
    blob = store.partial(DIGEST, len(DATA))
    with pytest.raises(StorageError, match="full"):
        blob.receive(0, len(DATA), source(DATA))
    assert blob.missing() == [(0, len(DATA))]
    blob.close()
    assert [t for t in threading.enumerate() if t.name.startswith("lamina-blob")] == []


def test_streams_and_parts_from_several_threads_make_one_blob(store: BlobStore) -> None:
    blob = store.partial(DIGEST, len(DATA))
    cuts = [0, BUFFER + 4096, 2 * BUFFER, len(DATA)]
    threads = [
        threading.Thread(target=blob.receive, args=(start, end, source(DATA[:end], start)))
        for start, end in itertools.pairwise(cuts)
    ]
    for thread in reversed(threads):
        thread.start()
    for thread in threads:
        thread.join()
    assert blob.missing() == []
    blob.commit()
    assert store.read_bytes(DIGEST) == DATA
