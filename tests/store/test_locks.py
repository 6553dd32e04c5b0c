"""The store lock: writers share it, deleters wait for them, across threads and processes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import modelfile
import store
from store import locks


def test_shared_holders_overlap(tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    with locks.shared(path), locks.shared(path):
        pass  # a second shared hold does not wait for the first


def test_exclusive_waits_for_a_shared_holder_in_another_thread(tmp_path: Path) -> None:
    path = tmp_path / "store.lock"
    order: list[str] = []
    inside = threading.Event()

    def writer() -> None:
        with locks.shared(path):
            inside.set()
            time.sleep(0.3)
            order.append("writer done")

    thread = threading.Thread(target=writer)
    thread.start()
    inside.wait()
    with locks.exclusive(path):
        order.append("deleter in")
    thread.join()
    assert order == ["writer done", "deleter in"]


def test_gc_waits_for_a_create_in_another_process(tmp_path: Path, tiny_gguf: Path) -> None:
    lamina = store.Store(tmp_path / "home")
    store.create(lamina, "m", modelfile.parse("FROM ./tiny.gguf\n"), base_dir=tiny_gguf.parent)
    script = (
        "import sys, time; from store import locks; from pathlib import Path\n"
        "with locks.shared(Path(sys.argv[1])):\n"
        "    print('held', flush=True); time.sleep(0.5)\n"
    )
    command = [sys.executable, "-c", script, str(lamina.layout.store_lock)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as holder:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        started = time.monotonic()
        store.gc(lamina, grace=0)
        waited = time.monotonic() - started
    assert waited >= 0.2
