"""The store lock: writers share it, deleters wait for them, across threads and processes."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import modelfile
import store
from store import locks


def test_shared_holders_overlap(tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    entered = threading.Event()

    def second_reader() -> None:
        with locks.shared(path):
            entered.set()

    with locks.shared(path):
        thread = threading.Thread(target=second_reader, daemon=True)
        thread.start()
        assert entered.wait(timeout=10), "a second shared hold waited for the first"
    thread.join()


def test_exclusive_waits_for_a_shared_holder_in_another_thread(tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    release = threading.Event()
    deleted = threading.Event()

    def deleter() -> None:
        with locks.exclusive(path):
            deleted.set()

    with locks.shared(path):
        thread = threading.Thread(target=deleter, daemon=True)
        thread.start()
        assert not deleted.wait(timeout=0.3), "the exclusive hold did not wait"
        release.set()
    assert deleted.wait(timeout=10)
    thread.join()


def test_gc_waits_for_a_create_in_another_process(tmp_path: Path, tiny_gguf: Path) -> None:
    lamina = store.Store(tmp_path / "home")
    store.create(lamina, "m", modelfile.parse("FROM ./tiny.gguf\n"), base_dir=tiny_gguf.parent)
    script = (
        "import sys; from store import locks; from pathlib import Path\n"
        "with locks.shared(Path(sys.argv[1])):\n"
        "    print('held', flush=True); sys.stdin.readline()\n"
    )
    command = [sys.executable, "-c", script, str(lamina.layout.store_lock)]
    finished = threading.Event()

    def collect() -> None:
        store.gc(lamina, grace=0)
        finished.set()

    with subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as holder:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        thread = threading.Thread(target=collect, daemon=True)
        thread.start()
        assert not finished.wait(timeout=0.3), "gc ran while a writer held the lock"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert finished.wait(timeout=10)
    thread.join()


def test_a_blob_lock_file_exists_only_while_held(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "blob-x.lock"
    with locks.transient(path):
        assert path.exists()
    assert not path.exists()


def test_blob_lock_holders_exclude_each_other_and_leave_no_files(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "blob-x.lock"
    inside = 0
    most = 0
    guard = threading.Lock()

    def hold() -> None:
        nonlocal inside, most
        for _ in range(50):
            with locks.transient(path):
                with guard:
                    inside += 1
                    most = max(most, inside)
                with guard:
                    inside -= 1

    threads = [threading.Thread(target=hold) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert most == 1
    assert list(path.parent.iterdir()) == []


def test_a_lock_file_a_killed_holder_left_is_removed_only_when_free(tmp_path: Path) -> None:
    path = tmp_path / "blob-x.lock"
    path.touch()  # as a kill -9 between taking and dropping the lock leaves it
    with locks.transient(path):
        assert not locks.remove_if_free(path)
    path.touch()
    assert locks.remove_if_free(path)
    assert not path.exists()
    assert not locks.remove_if_free(path)


def test_blob_writes_leave_no_lock_files(tmp_path: Path) -> None:
    blobs = store.BlobStore(store.Layout(tmp_path))
    info = blobs.put_bytes(b"one")
    blobs.put_stream([b"two"], expected=store.Digest.of(b"two"))
    blobs.put_stream([b"one"], expected=info.digest)
    lock_dir = tmp_path / ".lamina" / "locks"
    assert not lock_dir.exists() or list(lock_dir.iterdir()) == []


def _read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the lock module see a read-only file system: opening for writing fails with EROFS."""
    real_open = os.open

    def open_read_only(path: str, flags: int, *args: int) -> int:
        if flags & (os.O_RDWR | os.O_WRONLY | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", path)
        return real_open(path, flags, *args)

    monkeypatch.setattr(locks.os, "open", open_read_only)


@pytest.mark.parametrize("lock_exists", [True, False])
def test_gc_dry_run_works_on_a_read_only_store(
    tmp_path: Path, tiny_gguf: Path, monkeypatch: pytest.MonkeyPatch, lock_exists: bool
) -> None:
    lamina = store.Store(tmp_path / "home")
    store.create(lamina, "m", modelfile.parse("FROM ./tiny.gguf\n"), base_dir=tiny_gguf.parent)
    if not lock_exists:  # a store that only Ollama has written
        lamina.layout.store_lock.unlink()
    _read_only(monkeypatch)
    report = store.gc(lamina, dry_run=True, grace=0)
    assert report.dry_run and report.blobs == ()


def test_a_lock_that_cannot_be_opened_for_writing_is_taken_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store.lock"
    path.touch()
    _read_only(monkeypatch)
    held = threading.Event()

    def other() -> None:
        with locks.shared(path):
            held.set()

    with locks.exclusive(path):  # still excludes others, through a read-only descriptor
        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        assert not held.wait(timeout=0.3)
    assert held.wait(timeout=10)
    thread.join()
