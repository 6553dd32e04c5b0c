"""The blob store: only complete, verified blobs under their names, whatever goes wrong."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocitypes.digest import Digest
from store import hashcache, link
from store.blobs import BlobStore
from store.errors import BlobNotFound, DigestMismatch, SourceChanged, StorageError
from store.layout import TEMP_PREFIX, Layout
from store.link import LinkMethod, LinkUnsupported

ROOT = Path(__file__).parents[2]
MiB = 1024 * 1024


@pytest.fixture
def store(tmp_path: Path) -> BlobStore:
    return BlobStore(Layout(tmp_path / "store"))


def user_file(path: Path, data: bytes) -> Path:
    """A file the user wrote an hour ago, as a downloaded GGUF would be."""
    path.write_bytes(data)
    an_hour_ago = time.time() - 3600
    os.utime(path, (an_hour_ago, an_hour_ago))
    return path


@pytest.fixture
def gguf(tmp_path: Path) -> Path:
    return user_file(tmp_path / "model.gguf", os.urandom(9 * MiB + 17))


def leftovers(store: BlobStore) -> list[str]:
    folder = store.layout.blobs
    return sorted(os.listdir(folder)) if folder.exists() else []


class Counter:
    def __init__(self) -> None:
        self.calls = 0
        self.total = 0

    def __call__(self, count: int) -> None:
        self.calls += 1
        self.total += count


def no_reflink(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(src: Path, dst: Path) -> None:
        raise LinkUnsupported(LinkMethod.REFLINK, src, dst, "not in this test")

    monkeypatch.setattr(link, "reflink", refuse)


# -- writing -----------------------------------------------------------------------------------


def test_bytes_round_trip(store: BlobStore) -> None:
    info = store.put_bytes(b"TEMPLATE {{ .Prompt }}")
    assert info.digest == Digest.of(b"TEMPLATE {{ .Prompt }}")
    assert info.size == 22
    path = store.path(info.digest)
    assert path.name == f"sha256-{info.digest.hex}"
    assert path.stat().st_mode & 0o777 == 0o644
    with store.open(info.digest) as blob:
        assert blob.read() == b"TEMPLATE {{ .Prompt }}"
    assert store.exists(info.digest)
    assert store.size(info.digest) == 22
    assert list(store.digests()) == [info.digest]
    assert leftovers(store) == [path.name]


def test_stream_reports_progress_and_uses_any_buffer(store: BlobStore) -> None:
    progress = Counter()
    chunks: list[bytes | bytearray | memoryview] = [
        b"a" * 1000,
        bytearray(b"b" * 10),
        memoryview(b"c" * 5),
    ]
    info = store.put_stream(chunks, progress=progress)
    assert info.digest == Digest.of(b"a" * 1000 + b"b" * 10 + b"c" * 5)
    assert progress.total == info.size == 1015


def test_writing_the_same_bytes_twice_keeps_one_blob(store: BlobStore) -> None:
    first = store.put_bytes(b"same")
    inode = store.path(first.digest).stat().st_ino
    assert store.put_bytes(b"same") == first
    assert store.path(first.digest).stat().st_ino == inode
    assert leftovers(store) == [store.path(first.digest).name]


def test_expected_digest_mismatch_publishes_nothing(store: BlobStore) -> None:
    wanted = Digest.of(b"the real thing")
    with pytest.raises(DigestMismatch) as caught:
        store.put_stream([b"an impostor"], expected=wanted)
    assert caught.value.expected == str(wanted)
    assert caught.value.actual == str(Digest.of(b"an impostor"))
    assert leftovers(store) == []


def test_an_expected_blob_already_stored_is_not_read_again(store: BlobStore) -> None:
    info = store.put_bytes(b"weights")

    def unread() -> Iterator[bytes]:
        raise AssertionError("the chunks were read")
        yield b""

    assert store.put_stream(unread(), expected=info.digest) == info


def test_a_source_failing_halfway_leaves_nothing(store: BlobStore) -> None:
    def broken() -> Iterator[bytes]:
        yield b"x" * MiB
        raise ConnectionResetError("the registry hung up")

    with pytest.raises(ConnectionResetError):  # the caller's error, not a storage error
        store.put_stream(broken())
    assert leftovers(store) == []


@pytest.mark.parametrize("call", ["fsync", "replace"])
def test_a_failed_fsync_or_rename_leaves_nothing(
    store: BlobStore, monkeypatch: pytest.MonkeyPatch, call: str
) -> None:
    def fail(*_args: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, call, fail)
    with pytest.raises(StorageError, match="input/output error"):
        store.put_bytes(b"doomed")
    monkeypatch.undo()
    assert leftovers(store) == []


def test_disk_full_is_a_storage_error_and_leaves_nothing(
    store: BlobStore, gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_fd: int, _data: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    store.layout.blobs.mkdir(parents=True)
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(StorageError, match="disk is full") as caught:
        store.put_stream([b"x" * MiB])
    assert caught.value.path == str(store.layout.blobs)
    with pytest.raises(StorageError, match="disk is full"):
        store.import_file(gguf, allow_link=False)
    monkeypatch.undo()
    assert leftovers(store) == []


KILLED_WRITER = """
import sys, time
from pathlib import Path
from store.blobs import BlobStore
from store.layout import Layout

def slowly():
    while True:
        yield b"x" * 65536
        time.sleep(0.005)

BlobStore(Layout(Path(sys.argv[1]))).put_stream(slowly())
"""


def test_a_killed_writer_leaves_only_a_stale_temp(store: BlobStore) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(store.layout.root)],
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 60
        while not any(p.stat().st_size > MiB for p in _temps(store)):
            assert time.monotonic() < deadline, "the writer never got going"
            assert writer.poll() is None, "the writer died on its own"
            time.sleep(0.02)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert not list(store.digests())
    assert store.stale_temps(older_than=0) == _temps(store)
    assert len(_temps(store)) == 1
    assert store.stale_temps(older_than=3600) == []


def _temps(store: BlobStore) -> list[Path]:
    return sorted(store.layout.blobs.glob(f"{TEMP_PREFIX}*"))


RACER = """
import sys, time
from pathlib import Path
from store.blobs import BlobStore
from store.layout import Layout

root, go, what = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
store = BlobStore(Layout(root))
while not go.exists():
    time.sleep(0.001)
if what == "stream":
    result = store.put_stream(bytes([n % 251]) * (1 << 20) for n in range(24))
    print(result.digest.hex)
else:
    result = store.import_file(Path(what))
    print(result.digest.hex, result.method.value if result.method else "-")
"""


def _race(store: BlobStore, tmp_path: Path, what: str, racers: int = 3) -> list[list[str]]:
    go = tmp_path / "go"
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(store.layout.root), str(go), what],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(racers)
    ]
    time.sleep(0.5)
    go.touch()
    outputs = [proc.communicate(timeout=120)[0].split() for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * racers
    return outputs


def test_processes_writing_one_blob_at_once_all_succeed(store: BlobStore, tmp_path: Path) -> None:
    expected = Digest.of(b"".join(bytes([n % 251]) * (1 << 20) for n in range(24)))
    outputs = _race(store, tmp_path, "stream")
    assert {out[0] for out in outputs} == {expected.hex}
    store.verify(expected)
    assert leftovers(store) == [store.path(expected).name]


def test_processes_importing_one_file_at_once_all_succeed(
    store: BlobStore, tmp_path: Path, gguf: Path
) -> None:
    expected = Digest.of(gguf.read_bytes())
    outputs = _race(store, tmp_path, str(gguf))
    assert {out[0] for out in outputs} == {expected.hex}
    methods = [out[1] for out in outputs]
    assert methods.count("hardlink") + methods.count("reflink") == 1  # one writer placed it
    store.verify(expected)
    assert leftovers(store) == [store.path(expected).name]
    if "hardlink" in methods:
        assert gguf.stat().st_nlink == 2
        assert gguf.stat().st_mode & 0o777 == 0o444


# -- importing ---------------------------------------------------------------------------------


def test_import_hardlinks_on_one_file_system(
    store: BlobStore, gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    progress = Counter()
    result = store.import_file(gguf, progress=progress)

    assert result.method is LinkMethod.HARDLINK
    assert result.hashed
    assert result.digest == Digest.of(gguf.read_bytes())
    assert result.size == progress.total == gguf.stat().st_size
    blob = store.path(result.digest).stat()
    assert blob.st_ino == gguf.stat().st_ino
    assert blob.st_nlink == 2
    assert blob.st_mode & 0o777 == 0o444  # the user's file is read-only now
    assert leftovers(store) == [store.path(result.digest).name]  # no extra bytes anywhere


def test_import_tries_reflink_first(
    store: BlobStore, gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []

    def clone(src: Path, dst: Path) -> None:  # stands in for a copy-on-write clone
        calls.append("reflink")
        dst.write_bytes(src.read_bytes())

    def hardlink(src: Path, dst: Path) -> None:
        calls.append("hardlink")
        os.link(src, dst)

    monkeypatch.setattr(link, "reflink", clone)
    monkeypatch.setattr(link, "hardlink", hardlink)
    result = store.import_file(gguf)

    assert calls == ["reflink"]
    assert result.method is LinkMethod.REFLINK
    assert store.path(result.digest).stat().st_ino != gguf.stat().st_ino
    assert store.path(result.digest).stat().st_mode & 0o777 == 0o644
    assert gguf.stat().st_mode & 0o777 == 0o644  # a clone leaves the user's file alone
    store.verify(result.digest)


def test_import_copies_when_linking_is_unsupported(
    store: BlobStore, gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)

    def refuse(src: Path, dst: Path) -> None:
        raise LinkUnsupported(LinkMethod.HARDLINK, src, dst, "other file system")

    monkeypatch.setattr(link, "hardlink", refuse)
    progress = Counter()
    result = store.import_file(gguf, progress=progress)

    assert result.method is LinkMethod.COPY
    assert progress.total == gguf.stat().st_size  # one pass: hashed while copied
    blob = store.path(result.digest)
    assert blob.read_bytes() == gguf.read_bytes()
    assert blob.stat().st_ino != gguf.stat().st_ino
    assert blob.stat().st_mode & 0o777 == 0o644
    assert gguf.stat().st_mode & 0o777 == 0o644


def test_import_of_a_blob_already_stored_leaves_the_user_file_alone(
    store: BlobStore, gguf: Path
) -> None:
    existing = store.put_bytes(gguf.read_bytes())
    result = store.import_file(gguf)
    assert (result.digest, result.method, result.hashed) == (existing.digest, None, True)
    assert gguf.stat().st_nlink == 1
    assert gguf.stat().st_mode & 0o777 == 0o644
    assert leftovers(store) == [store.path(existing.digest).name]


def test_editing_the_source_after_a_hardlinked_import_is_detected(
    store: BlobStore, gguf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    no_reflink(monkeypatch)
    result = store.import_file(gguf)
    assert result.method is LinkMethod.HARDLINK
    assert store.check(result.digest) is False  # unchanged stat: trusted without reading

    with open(gguf, "r+b") as edit:  # root writes through 0444; anyone with an open fd can
        edit.seek(100)
        edit.write(b"edited in place")

    with pytest.raises(DigestMismatch):
        store.check(result.digest)
    with pytest.raises(DigestMismatch):
        store.verify(result.digest)


def test_a_corrupted_blob_fails_check_and_verify(store: BlobStore) -> None:
    info = store.put_bytes(b"x" * 1000)
    assert store.check(info.digest) is False
    store.path(info.digest).write_bytes(b"y" * 1000)
    with pytest.raises(DigestMismatch):
        store.check(info.digest)


def test_check_re_hashes_an_unknown_stat_and_then_trusts_it(store: BlobStore) -> None:
    info = store.put_bytes(b"z" * 1000)
    store.cache.path.unlink()
    assert store.check(info.digest) is True
    assert store.check(info.digest) is False


@pytest.mark.parametrize("allow_link", [True, False])
def test_a_source_changing_during_import_is_refused(
    store: BlobStore, gguf: Path, monkeypatch: pytest.MonkeyPatch, *, allow_link: bool
) -> None:
    no_reflink(monkeypatch)

    def meddle(_count: int) -> None:
        with open(gguf, "r+b") as edit:
            edit.write(b"meddling")

    with pytest.raises(SourceChanged) as caught:
        store.import_file(gguf, progress=meddle, allow_link=allow_link)
    assert caught.value.path == str(gguf)
    assert leftovers(store) == []
    assert gguf.stat().st_nlink == 1
    assert gguf.stat().st_mode & 0o777 == 0o644


def test_reimporting_an_unchanged_file_skips_hashing(store: BlobStore, gguf: Path) -> None:
    first = store.import_file(gguf)
    progress = Counter()
    again = store.import_file(gguf, progress=progress)
    assert (again.digest, again.method, again.hashed) == (first.digest, None, False)
    assert progress.calls == 0


@pytest.mark.parametrize("allow_link", [True, False])
def test_touching_the_source_makes_it_hash_again(
    store: BlobStore, gguf: Path, *, allow_link: bool
) -> None:
    first = store.import_file(gguf, allow_link=allow_link)
    os.utime(gguf, (time.time() - 60, time.time() - 60))
    progress = Counter()
    again = store.import_file(gguf, progress=progress, allow_link=allow_link)
    assert (again.digest, again.method, again.hashed) == (first.digest, None, True)
    assert progress.total == gguf.stat().st_size


def test_a_file_written_just_now_is_cached_once_its_timestamp_tick_is_over(
    store: BlobStore, tmp_path: Path
) -> None:
    fresh = tmp_path / "fresh.gguf"
    fresh.write_bytes(b"written a moment ago")
    store.import_file(fresh)
    assert not store.import_file(fresh).hashed


def test_a_file_rewritten_within_its_timestamp_tick_is_not_trusted(
    store: BlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = tmp_path / "fresh.gguf"
    fresh.write_bytes(b"first version")
    mtime = fresh.stat().st_mtime_ns

    def rewrite_in_the_same_tick(_seconds: float) -> None:
        fresh.write_bytes(b"other version")
        os.utime(fresh, ns=(mtime, mtime))  # what a coarse clock would have left

    monkeypatch.setattr(hashcache, "_FINE_TICK_NS", 10 * 10**9)  # however slow this machine is
    monkeypatch.setattr(hashcache, "_MAX_WAIT_NS", 20 * 10**9)
    monkeypatch.setattr(time, "sleep", rewrite_in_the_same_tick)
    first = store.import_file(fresh, allow_link=False)
    monkeypatch.undo()
    again = store.import_file(fresh, allow_link=False)
    assert again.hashed
    assert again.digest != first.digest


def test_a_file_with_whole_second_times_is_not_cached_while_young(
    store: BlobStore, tmp_path: Path
) -> None:
    fresh = tmp_path / "on-a-fat-stick.gguf"
    fresh.write_bytes(b"FAT keeps two-second times")
    whole_second = time.time_ns() // 10**9 * 10**9
    os.utime(fresh, ns=(whole_second, whole_second))
    store.import_file(fresh)
    assert store.import_file(fresh).hashed


def test_importing_what_is_not_a_file_is_a_storage_error(store: BlobStore, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="no such file"):
        store.import_file(tmp_path / "missing.gguf")
    with pytest.raises(StorageError, match="not a regular file"):
        store.import_file(tmp_path)


# -- reading and removing ----------------------------------------------------------------------


def test_missing_blobs_are_blob_not_found(store: BlobStore) -> None:
    absent = Digest.of(b"never stored")
    assert not store.exists(absent)
    for call in (store.size, store.open, store.verify, store.check, store.remove):
        with pytest.raises(BlobNotFound):
            call(absent)


def test_remove(store: BlobStore) -> None:
    info = store.put_bytes(b"bye")
    store.remove(info.digest)
    assert not store.exists(info.digest)
    assert list(store.digests()) == []


def test_digests_and_stale_temps_tell_blobs_from_other_files(store: BlobStore) -> None:
    info = store.put_bytes(b"kept")
    blobs = store.layout.blobs
    (blobs / f"{TEMP_PREFIX}123-abc").write_bytes(b"half")
    (blobs / f"sha256-{info.digest.hex}-partial").write_bytes(b"not ours")
    (blobs / "notes.txt").write_text("hello")
    assert list(store.digests()) == [info.digest]
    assert store.stale_temps(older_than=0) == [blobs / f"{TEMP_PREFIX}123-abc"]
    assert store.stale_temps(older_than=60) == []
