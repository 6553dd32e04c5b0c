"""Upload sessions: chunks in order, digest at the end, resumable by id, expiring, never a path."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from ocitypes import Digest
from ocitypes.errors import DigestInvalid, RangeInvalid, UploadUnknown
from store.blobs import BlobStore
from store.errors import DigestMismatch, UploadNotFound
from store.layout import Layout

MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(Layout(tmp_path / "store"))


def test_round_trip(store: BlobStore) -> None:
    upload = store.begin()
    assert upload.offset == 0
    assert upload.write(b"hello ") == 6
    assert upload.write(b"world", at=6) == 11
    assert upload.offset == 11
    assert list(store.digests()) == []
    upload.commit(Digest.of(b"hello world"))
    assert store.read_bytes(Digest.of(b"hello world")) == b"hello world"
    assert os.listdir(store.layout.uploads) == []
    with pytest.raises(UploadUnknown):
        upload.write(b"more")


def test_ids_are_opaque_and_distinct(store: BlobStore) -> None:
    ids = {store.begin().id for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) >= 32 and "/" not in i and "." not in i for i in ids)


def test_a_chunk_out_of_order_is_refused(store: BlobStore) -> None:
    upload = store.begin()
    upload.write(b"abc")
    with pytest.raises(RangeInvalid) as caught:
        upload.write(b"xyz", at=5)
    assert (caught.value.expected, caught.value.got) == (3, 5)
    with pytest.raises(RangeInvalid):
        upload.write(b"xyz", at=0)
    assert upload.offset == 3


def test_a_wrong_digest_publishes_nothing_and_ends_the_session(store: BlobStore) -> None:
    upload = store.begin()
    upload.write(b"some bytes")
    with pytest.raises(DigestMismatch) as caught:
        upload.commit(Digest.of(b"other bytes"))
    assert isinstance(caught.value, DigestInvalid)
    assert caught.value.actual == str(Digest.of(b"some bytes"))
    assert list(store.digests()) == []
    with pytest.raises(UploadNotFound):
        store.resume(upload.id)


def test_abort(store: BlobStore) -> None:
    upload = store.begin()
    upload.write(b"x" * 100)
    upload.abort()
    assert os.listdir(store.layout.uploads) == []
    with pytest.raises(UploadUnknown):
        store.resume(upload.id)
    with pytest.raises(UploadUnknown):
        upload.abort()


def test_an_idle_session_expires(tmp_path: Path) -> None:
    store = BlobStore(Layout(tmp_path / "store"), upload_ttl=60)
    upload = store.begin()
    upload.write(b"abc")
    long_ago = time.time() - 61
    os.utime(store.layout.upload(upload.id), (long_ago, long_ago))
    with pytest.raises(UploadUnknown, match="expired"):
        store.resume(upload.id)
    assert os.listdir(store.layout.uploads) == []
    fresh = store.begin()
    fresh.write(b"abc")
    store.resume(fresh.id).write(b"def", at=3)  # writing keeps a session alive


def test_a_new_store_resumes_by_id_and_hashes_earlier_bytes_once(store: BlobStore) -> None:
    first = store.begin()
    first.write(b"a" * MiB)
    later = BlobStore(store.layout).resume(first.id)
    assert later.offset == MiB
    later.write(b"b" * MiB, at=MiB)
    later.write(b"c", at=2 * MiB)
    data = b"a" * MiB + b"b" * MiB + b"c"
    later.commit(Digest.of(data))
    assert later.rehashed == MiB
    assert store.read_bytes(Digest.of(data)) == data


def test_a_session_used_by_two_objects_stays_consistent(store: BlobStore) -> None:
    one = store.begin()
    two = store.resume(one.id)
    one.write(b"abc")
    two.write(b"def", at=3)  # another process's view of the same session
    one.write(b"ghi", at=6)
    one.commit(Digest.of(b"abcdefghi"))
    assert store.read_bytes(Digest.of(b"abcdefghi")) == b"abcdefghi"


@pytest.mark.parametrize("bad", [
    "../../blobs/x", "..", ".", "", "a/b", "/etc/passwd", "x" * 200, "ünïcode-id-0123456789",
    "abc\x00defghijklmnopq", "short",
])  # fmt: skip
def test_ids_that_are_not_ours_are_refused_without_touching_a_path(
    store: BlobStore, bad: str
) -> None:
    with pytest.raises(UploadNotFound, match="not an upload id"):
        store.resume(bad)
    assert not store.layout.uploads.exists()


def test_a_well_formed_unknown_id_is_unknown(store: BlobStore) -> None:
    with pytest.raises(UploadUnknown):
        store.resume("A" * 32)


def test_concurrent_uploads_of_one_blob_all_succeed(store: BlobStore) -> None:
    data = os.urandom(3 * MiB)
    errors: list[BaseException] = []

    def upload() -> None:
        try:
            session = store.begin()
            for start in range(0, len(data), 256 * 1024):
                session.write(data[start:start + 256 * 1024], at=start)
            session.commit(Digest.of(data))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(store.digests()) == [Digest.of(data)]
    store.verify(Digest.of(data))
    assert os.listdir(store.layout.uploads) == []


def test_a_duplicate_upload_is_dropped_without_waiting_for_its_blocks_to_be_freed(
        store: BlobStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last close of a deleted large file frees its blocks, slowly: not on the request."""
    data = os.urandom(MiB)
    first, second = store.begin(), store.begin()
    first.write(data)
    second.write(data)
    first.commit(Digest.of(data))
    go_on, closing = threading.Event(), threading.Event()
    real = os.close

    def close(fd: int) -> None:
        st = os.fstat(fd)
        if st.st_nlink == 0 and st.st_size == len(data):  # the dropped upload's file
            closing.set()
            go_on.wait(30)
        real(fd)

    monkeypatch.setattr(os, "close", close)
    committing = threading.Thread(target=second.commit, args=(Digest.of(data),))
    committing.start()
    committing.join(10)
    returned = not committing.is_alive()
    go_on.set()
    committing.join()
    assert returned, "the commit waited for the dropped file to be closed"
    assert closing.wait(10)
    assert os.listdir(store.layout.uploads) == []
    assert store.read_bytes(Digest.of(data)) == data
