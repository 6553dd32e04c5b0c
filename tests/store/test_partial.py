"""Partial blobs: parts in any order, from threads and processes, surviving kill -9, hashed once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ocitypes import Digest
from store.blobs import BlobStore, partial
from store.blobs.partial import read_record
from store.errors import DigestMismatch, PartialIncomplete, PartialRangeInvalid
from store.layout import Layout

ROOT = Path(__file__).parents[2]
KiB = 1024
MiB = 1024 * KiB


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(Layout(tmp_path / "store"))


def blob_bytes(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


def parts(size: int, step: int) -> list[tuple[int, int]]:
    return [(start, min(start + step, size)) for start in range(0, size, step)]


def test_parts_in_order_are_hashed_as_they_arrive_and_never_read_back(store: BlobStore) -> None:
    data = blob_bytes(1, 3 * MiB + 5)
    digest = Digest.of(data)
    blob = store.partial(digest, len(data))
    assert blob.missing() == [(0, len(data))]
    for start, end in parts(len(data), 256 * KiB):
        blob.write_at(start, data[start:end])
    assert blob.missing() == []
    assert list(store.digests()) == []  # nothing in blobs/ until it is verified
    blob.commit()
    assert store.read_bytes(digest) == data
    assert (blob.written, blob.reread) == (len(data), 0)
    assert os.listdir(store.layout.partials) == []


def test_threads_write_parts_in_any_order(store: BlobStore) -> None:
    data = blob_bytes(2, 4 * MiB + 3)
    digest = Digest.of(data)
    blob = store.partial(digest, len(data))
    todo = parts(len(data), 64 * KiB)
    random.Random(2).shuffle(todo)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                start, end = todo.pop()
            blob.write_at(start, bytearray(data[start:end]))  # a buffer the caller may reuse

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    blob.commit()
    store.verify(digest)
    assert blob.reread == 0  # every out-of-order part waited in memory for the prefix


def test_a_callers_buffer_may_be_reused_as_soon_as_the_write_returns(store: BlobStore) -> None:
    data = blob_bytes(3, MiB + 17)
    blob = store.partial(Digest.of(data), len(data))
    buffer = bytearray(64 * KiB)
    for start, end in parts(len(data), len(buffer))[::-1]:  # out of order: beyond the prefix
        view = memoryview(buffer)[: end - start]
        view[:] = data[start:end]
        blob.write_at(start, view)
        view[:] = bytes(len(view))  # the next part goes into the same buffer
    blob.commit()
    assert store.read_bytes(Digest.of(data)) == data
    assert blob.reread == 0  # read back from the page cache, but written by this process


def test_parts_that_do_not_fit_are_refused(store: BlobStore) -> None:
    data = blob_bytes(4, 1000)
    blob = store.partial(Digest.of(data), len(data))
    blob.write_at(100, data[100:200])
    with pytest.raises(PartialRangeInvalid, match="written already"):
        blob.write_at(150, data[150:250])
    with pytest.raises(PartialRangeInvalid, match="has 1000 bytes"):
        blob.write_at(990, data[990:] + b"x")
    with pytest.raises(PartialRangeInvalid):
        blob.write_at(-1, b"x")
    assert blob.missing() == [(0, 100), (200, 1000)]
    with pytest.raises(PartialIncomplete, match="misses 900 bytes"):
        blob.commit()


def test_a_closed_partial_continues_in_a_new_store_without_rewriting(store: BlobStore) -> None:
    data = blob_bytes(5, 2 * MiB)
    digest = Digest.of(data)
    with store.partial(digest, len(data)) as first:
        first.write_at(0, data[:MiB])
        first.write_at(MiB + 100, data[MiB + 100: MiB + 200])
    again = BlobStore(store.layout).partial(digest, len(data))
    assert again.missing() == [(MiB, MiB + 100), (MiB + 200, 2 * MiB)]
    assert again.resumed == MiB + 100
    for start, end in again.missing():
        again.write_at(start, data[start:end])
    again.commit()
    assert again.written == len(data) - (MiB + 100)
    assert again.reread == MiB + 100  # only what the earlier run wrote is hashed from disk
    assert store.read_bytes(digest) == data


def test_tampered_earlier_bytes_are_refused_at_commit_and_nothing_is_published(
    store: BlobStore,
) -> None:
    data = blob_bytes(6, MiB)
    digest = Digest.of(data)
    with store.partial(digest, len(data)) as first:
        first.write_at(0, data[: MiB // 2])
    with open(store.layout.partial(digest), "r+b") as part:
        part.seek(1234)
        part.write(b"\x00tampered")
    again = store.partial(digest, len(data))
    again.write_at(MiB // 2, data[MiB // 2:])
    with pytest.raises(DigestMismatch, match="expected " + str(digest)):
        again.commit()
    assert not store.exists(digest)
    assert os.listdir(store.layout.partials) == []  # the bad bytes are dropped, not kept
    fresh = store.partial(digest, len(data))
    assert fresh.missing() == [(0, len(data))]


def test_a_record_for_another_size_or_a_torn_line_is_not_trusted(store: BlobStore) -> None:
    data = blob_bytes(7, 4000)
    digest = Digest.of(data)
    with store.partial(digest, len(data)) as first:
        first.write_at(0, data[:1000])
    record = store.layout.partial_ranges(digest)
    with open(record, "ab") as out:
        out.write(b"1000 40")  # a line cut short by a crash
    assert list(read_record(record, digest, len(data))) == [(0, 1000)]
    assert store.partial(digest, 5000).missing() == [(0, 5000)]


def test_a_stored_blob_needs_no_parts(store: BlobStore) -> None:
    info = store.put_bytes(b"already here")
    blob = store.partial(info.digest, info.size)
    assert blob.missing() == []
    blob.commit()
    with pytest.raises(PartialRangeInvalid, match="stored already"):
        blob.write_at(0, b"a")


def test_an_empty_blob(store: BlobStore) -> None:
    blob = store.partial(Digest.of(b""), 0)
    assert blob.missing() == []
    blob.commit()
    assert store.read_bytes(Digest.of(b"")) == b""


def test_abort_drops_the_files(store: BlobStore) -> None:
    data = blob_bytes(8, 5000)
    blob = store.partial(Digest.of(data), len(data))
    blob.write_at(0, data[:10])
    blob.abort()
    assert os.listdir(store.layout.partials) == []
    assert store.partial(Digest.of(data), len(data)).missing() == [(0, 5000)]


# -- other processes ---------------------------------------------------------------------------

WRITER = """
import random, sys, threading, time
from pathlib import Path
from ocitypes import Digest
from store.blobs import BlobStore, partial
from store.layout import Layout

root, seed, size, mode = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
partial.FLUSH_BYTES = 3 * 65536
data = random.Random(seed).randbytes(size)
blob = BlobStore(Layout(root)).partial(Digest.of(data), size)
todo = [(s, min(s + 65536, size)) for gap in blob.missing() for s in range(gap[0], gap[1], 65536)]
random.Random(seed + 1).shuffle(todo)
if mode == "half":
    todo = todo[: len(todo) // 2]
lock = threading.Lock()

def work():
    while True:
        with lock:
            if not todo:
                return
            start, end = todo.pop()
        blob.write_at(start, data[start:end])
        if mode == "slow":
            time.sleep(0.003)

threads = [threading.Thread(target=work) for _ in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if mode == "slow":
    sys.stdin.readline()  # never commits: the test kills it first
if mode == "half":
    print("holding", flush=True)
    sys.stdin.readline()
    blob.close()
else:
    blob.commit()
print(blob.written, flush=True)
"""


def _writer(store: BlobStore, seed: int, size: int, mode: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(store.layout.root), str(seed), str(size), mode],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )


@pytest.mark.parametrize("seed", [11, 12, 13, 14, 15])
def test_a_pull_killed_at_a_random_point_is_finished_by_another_process(
    store: BlobStore, seed: int
) -> None:
    size = 6 * MiB + 321
    data = blob_bytes(seed, size)
    digest = Digest.of(data)
    record = store.layout.partial_ranges(digest)
    writer = _writer(store, seed, size, "slow")
    wanted = int(size * random.Random(seed).uniform(0.05, 0.7))  # recorded before the kill
    try:
        deadline = time.monotonic() + 60
        while read_record(record, digest, size).total < wanted:
            assert time.monotonic() < deadline, "the writer never got going"
            assert writer.poll() is None, "the writer ended before it was killed"
            time.sleep(0.001)
        time.sleep(random.Random(seed).random() / 100)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
    finished = read_record(record, digest, size)
    assert finished.total >= wanted
    with open(store.layout.partial(digest), "rb") as part:  # every recorded byte is on disk
        for start, end in finished:
            part.seek(start)
            assert part.read(end - start) == data[start:end]
    blob = store.partial(digest, size)
    assert blob.missing() == finished.gaps(size)
    for start, end in blob.missing():
        blob.write_at(start, data[start:end])
    blob.commit()
    assert blob.written == size - finished.total  # no finished byte written twice
    store.verify(digest)


def test_a_second_process_waits_then_continues_where_the_first_stopped(
    store: BlobStore,
) -> None:
    size = 2 * MiB + 7
    digest = Digest.of(blob_bytes(21, size))
    first = _writer(store, 21, size, "half")
    assert first.stdout is not None and first.stdin is not None
    assert first.stdout.readline() == "holding\n"
    second = _writer(store, 21, size, "all")
    time.sleep(0.5)
    assert second.poll() is None  # waiting for the first to let go
    first.stdin.write("\n")
    first.stdin.flush()
    written_first = int(first.communicate(timeout=60)[0])
    written_second = int(second.communicate(timeout=60)[0])
    assert (first.returncode, second.returncode) == (0, 0)
    assert written_first + written_second == size
    store.verify(digest)
    assert os.listdir(store.layout.partials) == []


def test_writers_never_wait_for_a_lagging_hasher(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = blob_bytes(9, 2 * MiB)
    blob = store.partial(Digest.of(data), len(data))
    hasher_update = blob._hasher.update
    release = threading.Event()

    def stuck_update(view: memoryview) -> None:
        release.wait(30)
        hasher_update(view)

    monkeypatch.setattr(blob._hasher, "update", stuck_update)
    todo = parts(len(data), 64 * KiB)[::-1]
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                start, end = todo.pop()
            blob.write_at(start, data[start:end])

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert not any(t.is_alive() for t in threads)  # every part written while nothing hashed
    assert blob.missing() == []
    release.set()
    blob.commit()
    assert blob._hasher.size == len(data)  # each byte hashed once
    assert store.read_bytes(Digest.of(data)) == data


def test_a_failed_read_back_is_reported_at_commit(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from store.errors import StorageError

    data = blob_bytes(14, 3000)
    blob = store.partial(Digest.of(data), len(data))

    def broken(_view: memoryview) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(blob._hasher, "update", broken)
    blob.write_at(0, data)
    with pytest.raises(StorageError, match="cannot read the partial blob"):
        blob.commit()
    blob.abort()
    assert not store.exists(Digest.of(data))


def test_a_failed_background_flush_is_reported_to_the_writer(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from store.errors import StorageError

    def full(_fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(partial, "FLUSH_BYTES", 1)
    monkeypatch.setattr(partial, "_fdatasync", full)
    data = blob_bytes(10, 4000)
    blob = store.partial(Digest.of(data), len(data))
    blob.write_at(0, data[:1000])
    with pytest.raises(StorageError, match="disk is full"):
        blob._join_flusher()
        blob.write_at(1000, data[1000:2000])
    with pytest.raises(StorageError, match="disk is full"):
        blob.commit()
    monkeypatch.undo()
    blob.abort()
    assert not store.exists(Digest.of(data))


def test_a_partial_dropped_without_close_keeps_its_parts_and_lets_go(store: BlobStore) -> None:
    import gc

    data = blob_bytes(12, 5000)
    blob = store.partial(Digest.of(data), len(data))
    blob.write_at(0, data[:1000])  # below every flush threshold
    del blob
    gc.collect()
    again = store.partial(Digest.of(data), len(data))  # would wait forever on a held lock
    assert again.missing() == [(1000, 5000)]


def test_parts_written_during_a_flush_are_recorded_without_another_write(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = partial._fdatasync
    syncing = threading.Event()

    def slow(fd: int) -> None:
        syncing.set()
        time.sleep(0.2)
        real(fd)

    monkeypatch.setattr(partial, "FLUSH_BYTES", 1)
    monkeypatch.setattr(partial, "_fdatasync", slow)
    data = blob_bytes(13, 4000)
    digest = Digest.of(data)
    blob = store.partial(digest, len(data))
    blob.write_at(0, data[:1000])  # starts a flush, which takes a while
    assert syncing.wait(10)
    blob.write_at(2000, data[2000:3000])  # while it runs: no second flush starts
    blob._join_flusher()
    recorded = read_record(store.layout.partial_ranges(digest), digest, len(data))
    assert list(recorded) == [(0, 1000), (2000, 3000)]
    blob.abort()


def test_close_waits_for_a_write_under_way_and_records_it(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream told to stop may still be writing when its pull lets go of the blob: closing
    under it would send its bytes through a descriptor number a new file may reuse."""
    data = blob_bytes(9, 1 * MiB)
    digest = Digest.of(data)
    blob = store.partial(digest, len(data))
    writing = threading.Event()
    real = partial._pwrite_all

    def slow(fd: int, view: memoryview, offset: int) -> None:
        writing.set()
        time.sleep(0.2)
        real(fd, view, offset)

    monkeypatch.setattr(partial, "_pwrite_all", slow)
    failures: list[BaseException] = []

    def write() -> None:
        try:
            blob.write_at(0, data)
        except BaseException as exc:
            failures.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    assert writing.wait(5)
    blob.close()
    writer.join()
    assert failures == []
    monkeypatch.setattr(partial, "_pwrite_all", real)
    again = store.partial(digest, len(data))
    assert again.missing() == []  # the write was recorded before the blob was let go
    again.commit()
    assert store.read_bytes(digest) == data
