"""Several lamina processes on one store: creates of one name and rm at once never fail for a
blob another process pruned, and never lose a blob a manifest names."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import modelfile
import store

ROUNDS = 8


def _create_loop(root: str, folder: str, worker: int, failures: multiprocessing.Queue[str]) -> None:
    lamina = store.Store(Path(root))
    for round_ in range(ROUNDS):
        text = f"FROM ./tiny.gguf\nSYSTEM worker {worker} round {round_}\n"
        try:
            store.create(lamina, "same", modelfile.parse(text), base_dir=Path(folder))
        except Exception as exc:  # reported to the parent, which fails the test
            failures.put(f"create {worker}.{round_}: {type(exc).__name__}: {exc}")


def _rm_loop(root: str, failures: multiprocessing.Queue[str]) -> None:
    lamina = store.Store(Path(root))
    for round_ in range(ROUNDS * 2):
        try:
            lamina.remove("same")
        except store.ModelNotFound:
            continue  # nothing to remove just now: a fair answer
        except Exception as exc:  # reported to the parent, which fails the test
            failures.put(f"rm {round_}: {type(exc).__name__}: {exc}")


def test_concurrent_creates_and_rm_of_one_name(tmp_path: Path, tiny_gguf: Path) -> None:
    context = multiprocessing.get_context("spawn")
    failures: multiprocessing.Queue[str] = context.Queue()
    root = str(tmp_path / "home")
    workers = [
        context.Process(target=_create_loop, args=(root, str(tiny_gguf.parent), n, failures))
        for n in range(4)
    ]
    workers.append(context.Process(target=_rm_loop, args=(root, failures)))
    for process in workers:
        process.start()
    for process in workers:
        process.join(timeout=120)
        assert process.exitcode == 0
    problems = []
    while not failures.empty():
        problems.append(failures.get())
    assert problems == []
    lamina = store.Store(Path(root))
    report = store.verify(lamina)
    assert report.ok, report
    # whatever name survived has every blob, and nothing unreferenced was left behind but
    # what rm's prune and create's prune agree is gone
    store.create(lamina, "same", modelfile.parse("FROM ./tiny.gguf\n"), base_dir=tiny_gguf.parent)
    lamina.remove("same")
    assert store.gc(lamina, grace=0, dry_run=True).blobs == ()
