"""The store lock: writers share it, deleters wait for them, across threads and processes."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

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
