"""A pipeline's hasher on a CPU of its own, its other stages elsewhere, and the pin let go when
the hasher finds that CPU taken."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import TypeVar

import pytest

from store.blobs import cores, pipeline

T = TypeVar("T")

needs_cpus = pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="placing threads needs Linux's affinity calls and two CPUs",
)


def on_a_thread(work: Callable[[], T]) -> T:
    """Run ``work`` on a thread of its own, so that no pin reaches pytest's thread."""
    out: list[T] = []
    thread = threading.Thread(target=lambda: out.append(work()))
    thread.start()
    thread.join()
    return out[0]


def affinity() -> frozenset[int]:
    return frozenset(os.sched_getaffinity(0))


@needs_cpus
def test_the_hasher_gets_a_cpu_the_reader_and_writer_keep_off() -> None:
    data = os.urandom(3 << 20)
    seen: dict[str, set[frozenset[int]]] = {"reader": set(), "writer": set(), "hasher": set()}
    digest = hashlib.sha256()
    position = 0

    def readinto(view: memoryview) -> int:
        nonlocal position
        seen["reader"].add(affinity())
        count = min(len(view), len(data) - position)
        view[:count] = data[position:position + count]
        position += count
        return count

    def write(offset: int, view: memoryview) -> None:
        seen["writer"].add(affinity())

    def hash(offset: int, view: memoryview) -> None:
        seen["hasher"].add(affinity())
        digest.update(view)

    def run() -> tuple[int, frozenset[int]]:
        reached = pipeline.Pipeline(write, hash, buffers=3, size=1 << 20).run(
            readinto, 0, len(data))
        return reached, affinity()

    everywhere = affinity()
    reached, caller_after = on_a_thread(run)
    assert reached == len(data) and digest.digest() == hashlib.sha256(data).digest()
    [hasher] = seen["hasher"]
    assert len(hasher) == 1 and hasher <= everywhere
    assert seen["reader"] == seen["writer"] == {everywhere - hasher}
    assert caller_after == everywhere  # the caller's thread is left as it was
    assert not cores._claimed  # the CPU is given back


@needs_cpus
def test_a_pipeline_without_a_hasher_is_not_placed() -> None:
    seen: set[frozenset[int]] = set()

    def write(offset: int, view: memoryview) -> None:
        seen.add(affinity())

    chunks = iter([b"x" * 1000, b""])

    def readinto(view: memoryview) -> int:
        chunk = next(chunks)
        view[:len(chunk)] = chunk
        return len(chunk)

    on_a_thread(lambda: pipeline.Pipeline(write, None, buffers=2, size=4096).run(
        readinto, 0, 1000))
    assert seen == {affinity()}


@needs_cpus
def test_a_hasher_kept_waiting_for_its_cpu_lets_go(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cores, "LOOK_EVERY", 0.0)
    waited = iter(float(n) for n in range(100))  # a second more at each look: always waiting
    everywhere = affinity()
    placement = cores.Placement(min(everywhere), everywhere, waited=lambda: next(waited))
    helper: list[frozenset[int]] = []
    asked, let_go = threading.Event(), threading.Event()

    def stage() -> None:  # a writer: asks before each buffer
        placement.helper()
        helper.append(affinity())
        asked.set()
        let_go.wait()
        placement.helper()
        helper.append(affinity())

    writer = threading.Thread(target=stage)
    writer.start()

    def hasher() -> list[frozenset[int]]:
        steps = []
        for _ in range(3):  # pinned; a look that finds it waiting; a second one: let go
            placement.hasher()
            steps.append(affinity())
        return steps

    asked.wait()
    steps = on_a_thread(hasher)
    let_go.set()
    writer.join()
    placement.close()
    assert len(steps[0]) == 1 and steps[1] == steps[0]  # one CPU, kept after one look
    assert steps[2] == everywhere and placement.released
    assert helper == [everywhere - steps[0], everywhere]  # off its CPU, then back on all
    assert not cores._claimed


@needs_cpus
def test_a_cpu_already_held_is_not_given_twice() -> None:
    def two() -> tuple[cores.Placement | None, cores.Placement | None]:
        first = cores.place()
        second = cores.place()
        if first is not None:
            first.close()
        if second is not None:
            second.close()
        return first, second

    first, second = on_a_thread(two)
    assert first is not None
    if len(affinity()) == 2:
        assert second is None  # the one CPU left is the helpers'
    else:
        assert second is not None and second.cpu != first.cpu


@needs_cpus
def test_a_thread_on_one_cpu_is_not_placed() -> None:
    one = min(affinity())

    def confined() -> cores.Placement | None:
        os.sched_setaffinity(0, {one})
        return cores.place()

    assert on_a_thread(confined) is None
