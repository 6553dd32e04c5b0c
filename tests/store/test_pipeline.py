"""The pipeline under staging and partial blobs: what it reads lands written and hashed, the
reading yields the CPU to the hasher, and the caller's thread is left as it was."""

from __future__ import annotations

import hashlib
import mmap
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

import pytest

from store.blobs import pipeline

SIZE = 1 << 16
DATA = os.urandom(5 * SIZE + 999)


def source(data: bytes, seen: list[tuple[int, int]] | None = None) -> pipeline.ReadInto:
    """Reads ``data`` in pieces; ``seen`` gets (thread id, nice value) of each call."""
    position = 0

    def readinto(view: memoryview) -> int:
        nonlocal position
        if seen is not None:
            thread = threading.get_native_id()
            seen.append((thread, os.getpriority(os.PRIO_PROCESS, thread)))
        count = min(len(view), 10_000, len(data) - position)
        view[:count] = data[position:position + count]
        position += count
        return count

    return readinto


def hooked(before: Callable[[int], None]) -> pipeline.ReadInto:
    """``source(DATA)``, calling ``before`` with each call's number (from 1) first."""
    read = source(DATA)
    calls = 0

    def readinto(view: memoryview) -> int:
        nonlocal calls
        calls += 1
        before(calls)
        return read(view)

    return readinto


def collect() -> tuple[pipeline.Pipeline, bytearray, hashlib._Hash]:
    written = bytearray(len(DATA))
    digest = hashlib.sha256()

    def write(offset: int, view: memoryview) -> None:
        written[offset:offset + len(view)] = view

    return (pipeline.Pipeline(write, lambda offset, view: digest.update(view), size=SIZE),
            written, digest)


def test_every_byte_is_written_and_hashed_in_order() -> None:
    flow, written, digest = collect()
    assert flow.run(source(DATA), 0, len(DATA)) == len(DATA)
    assert bytes(written) == DATA
    assert digest.hexdigest() == hashlib.sha256(DATA).hexdigest()


def test_a_reader_that_fails_raises_in_the_caller_after_the_stages_finish() -> None:
    flow, written, _ = collect()

    def fail_after_eight(call: int) -> None:
        if call > 8:
            raise ConnectionResetError("gone")

    with pytest.raises(ConnectionResetError):
        flow.run(hooked(fail_after_eight), 0, len(DATA))
    assert bytes(written[:SIZE]) == DATA[:SIZE]  # the buffers filled before it are written


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_the_reading_yields_to_the_hasher_and_the_caller_keeps_its_priority() -> None:
    caller = threading.get_native_id()
    before = os.getpriority(os.PRIO_PROCESS, caller)
    seen: list[tuple[int, int]] = []
    flow, _, _ = collect()
    flow.run(source(DATA, seen), 0, len(DATA))
    assert {thread for thread, _ in seen} != {caller}
    assert {nice for _, nice in seen} == {min(19, before + pipeline.READER_NICE)}
    assert os.getpriority(os.PRIO_PROCESS, caller) == before


def test_ctrl_c_in_the_caller_stops_the_reader_after_its_buffer() -> None:
    flow, written, _ = collect()
    calls: list[int] = []

    def interrupt_at_three(call: int) -> None:
        calls.append(call)
        if call == 3:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, while the caller waits
        time.sleep(0.005)  # a source slower than the caller's reaction

    with pytest.raises(KeyboardInterrupt):
        flow.run(hooked(interrupt_at_three), 0, len(DATA))
    assert len(calls) < len(DATA) // 10_000  # it did not read the whole source first
    assert not [t for t in threading.enumerate()
                if t.name.startswith("lamina-blob-") and t.is_alive()]
    assert bytes(written[:SIZE]) == DATA[:SIZE]  # what it had read is written


def test_a_second_ctrl_c_still_waits_for_the_buffers_under_way() -> None:
    """Nothing of the pipeline runs on once ``run`` has raised: its caller closes the file."""
    written: list[int] = []

    def slow_write(offset: int, view: memoryview) -> None:
        if len(written) in (0, 2):  # the second while the first is being waited out
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.02)
        written.append(offset)

    flow = pipeline.Pipeline(slow_write, size=SIZE)
    with pytest.raises(KeyboardInterrupt):
        flow.run(source(DATA), 0, len(DATA))
    done = list(written)
    time.sleep(0.2)
    assert written == done  # no write after run raised
    assert done == sorted(done) and done[0] == 0


def test_a_small_span_gets_small_buffers() -> None:
    """Buffers are backed in full before the first read: a 1000-byte blob gets one page, not
    four of the size asked for."""
    buffers: set[int] = set()
    sizes: set[int] = set()

    def write(offset: int, view: memoryview) -> None:
        buffers.add(id(view.obj))
        sizes.add(len(view.obj))  # type: ignore[arg-type]

    data = os.urandom(1000)
    reached = pipeline.Pipeline(write, None, buffers=4, size=8 << 20).run(
        source(data), 0, len(data))
    assert reached == len(data)
    assert len(buffers) == 1 and sizes == {mmap.PAGESIZE}


def test_each_buffer_is_hashed_before_it_is_written() -> None:
    """The hasher sets the pace: it gets each buffer straight from the reader, while the bytes
    are still in a cache, and the writer gets it after."""
    events: list[tuple[str, int]] = []
    lock = threading.Lock()

    def step(name: str) -> pipeline.Step:
        def record(offset: int, view: memoryview) -> None:
            with lock:
                events.append((name, offset))
        return record

    reached = pipeline.Pipeline(step("write"), step("hash"), buffers=3, size=SIZE).run(
        source(DATA), 0, len(DATA))
    assert reached == len(DATA)
    offsets = sorted({offset for _, offset in events})
    assert len(offsets) == 6
    for offset in offsets:
        assert events.index(("hash", offset)) < events.index(("write", offset))
