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
