"""Bytes from a source into a file through a few reused buffers, on three threads at once.

Reading (a socket, a tar member, zstd), writing and hashing each let go of the GIL on large
buffers, so they overlap:

    the reader fills a free buffer → the hasher hashes it → the writer writes it and hands
    it back

The hasher comes first because it sets the pace and wants the bytes while a cache still holds
them: behind a 4 MiB direct write it spent about 0.1 s more on a 2 GiB pull (1.49 to 1.64 s on a
CPU against 1.34 to 1.46 s, four pulls each from a local registry).

Memory stays at ``buffers * size`` bytes whatever the blob's size; the reader waits for a free
buffer when the disk or the hasher is slower than it. The buffers are page-aligned (anonymous
maps, backed before the first read), as direct I/O wants them, and each is filled up to the
next multiple of its size in the blob, so a stream that starts on a block boundary writes
whole aligned blocks.

SHA-256 is serial, so the hasher is the one stage that cannot spread over cores, and on a
machine short of them it sets the pace. It gets a CPU of its own while that helps
(:mod:`.cores`), and the reader, on a thread of its own, yields the CPU to it
(:data:`READER_NICE`); the caller's thread waits, its priority untouched.

The pipeline knows nothing of files or digests: it is given a ``write`` and a ``hash`` (each
told the blob offset of the bytes), which :mod:`.staging` and :mod:`.partial` supply.
"""

from __future__ import annotations

import mmap
import os
import queue
import sys
import threading
from collections.abc import Callable

from .buffers import new_buffer
from .cores import Placement, place

__all__ = ["BUFFER_SIZE", "READER_NICE", "Pipeline", "ReadInto", "Step"]

BUFFER_SIZE = 8 << 20
"""Big enough that each call hands the kernel, the disk or hashlib a lot of work at once."""

READER_NICE = 5
"""How far the reading thread lowers its priority (Linux, where a thread has a nice value of
its own). Contested, it gets about a third of a normal thread's share, and a socket read or a
decompressor still keeps ahead of one hasher. At equal priority every woken read preempted the
hasher: a 2 GiB pull from a local registry took about 0.2 s longer (timed by hand)."""

ReadInto = Callable[[memoryview], int]
"""Fills the view from its start, returning how many bytes it put there (0 at the end)."""

Step = Callable[[int, memoryview], None]
"""A stage's work on one buffer: the blob offset of its first byte, and its bytes."""

_Item = tuple[memoryview, int, int]  # buffer, blob offset, bytes in it


class Pipeline:
    """One pass of ``[start, end)`` through ``hash`` (if any) and then ``write``, in up to
    ``buffers`` buffers of ``size`` bytes: fewer and smaller where the bytes are fewer (each
    is backed in full before the first read, so a small blob must not pay for large ones)."""

    def __init__(self, write: Step, hash: Step | None = None, *, buffers: int = 4,
                 size: int = BUFFER_SIZE) -> None:
        self._buffers = max(1, buffers)
        self._size = size
        self._pool: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        self._writer = _Stage("lamina-blob-writer", write, self._pool)
        self._hasher = None if hash is None else _Stage("lamina-blob-hasher", hash, self._pool,
                                                        self._writer)
        self._first = self._hasher or self._writer  # the stage the reader hands buffers to
        self._cancelled = False

    @property
    def failed(self) -> bool:
        return self._writer.failed or (self._hasher is not None and self._hasher.failed)

    def run(self, readinto: ReadInto, start: int, end: int,
            progress: Callable[[int], None] | None = None) -> int:
        """Pass the bytes ``readinto`` produces for ``[start, end)`` through the stages; the
        offset reached (``end`` unless ``readinto`` ran dry). ``readinto`` and ``progress``
        are called on the reader's thread. Raises what the reader or a stage raised, after
        both stages have finished with every buffer handed to them."""
        self._allocate(end - start)
        outcome: list[int | BaseException] = []
        go, finished = threading.Event(), threading.Event()
        placement = self._place()
        reader = threading.Thread(target=self._read, name="lamina-blob-reader", daemon=True,
                                  args=(readinto, start, end, progress, outcome, go, finished,
                                        placement))
        started = False
        # Waits on events, not Thread.join: on Python 3.11 a join that Ctrl-C interrupts marks
        # the thread stopped while it still runs, and the next join returns at once.
        try:
            reader.start()
            started = True
            go.set()
            finished.wait()
        except BaseException:  # Ctrl-C in the caller's thread: stop after this buffer
            self._cancelled = True
            go.set()
            if started:
                _wait_out(finished)
            raise
        finally:
            if self._hasher is not None:
                self._hasher.finish()  # before the writer: it hands the writer what it has
            self._writer.finish()
            if placement is not None:
                placement.close()
        reached = outcome[0]
        if isinstance(reached, BaseException):
            raise reached
        self._writer.raise_error()
        if self._hasher is not None:
            self._hasher.raise_error()
        return reached

    def _allocate(self, span: int) -> None:
        """Fill the pool with buffers enough for ``span`` bytes (before the reader starts)."""
        pages = max(1, -(-span // mmap.PAGESIZE))
        self._size = min(self._size, pages * mmap.PAGESIZE)
        for _ in range(min(self._buffers, max(1, -(-span // self._size)))):
            self._pool.put(memoryview(new_buffer(self._size, prefault=True)))

    def _place(self) -> Placement | None:
        """Place the stages (before any buffer reaches them): a hasher sets the pace."""
        placement = None if self._hasher is None else place()
        if placement is not None:
            assert self._hasher is not None
            self._hasher.before = placement.hasher
            self._writer.before = placement.helper
        return placement

    def _read(self, readinto: ReadInto, start: int, end: int,
              progress: Callable[[int], None] | None, outcome: list[int | BaseException],
              go: threading.Event, finished: threading.Event,
              placement: Placement | None) -> None:
        """The reader's thread: once ``go`` is set, fill buffers and hand them on (to the hasher,
        else the writer), until ``end``, a short read, a failed stage or a cancel; the offset
        reached (or the error) goes into ``outcome`` before ``finished`` is set."""
        go.wait()
        _yield_to_hasher()
        offset = start
        try:
            while offset < end and not (self.failed or self._cancelled):
                if placement is not None:
                    placement.helper()
                buffer = self._pool.get()
                want = min(end, (offset // self._size + 1) * self._size) - offset
                count = _fill(readinto, buffer[:want])
                if count:
                    self._first.put((buffer, offset, count))
                    offset += count
                    if progress is not None:
                        progress(count)
                else:
                    self._pool.put(buffer)
                if count < want:
                    break
            outcome.append(offset)
        except BaseException as exc:  # raised again in the caller's thread
            outcome.append(exc)
        finally:
            finished.set()


def _yield_to_hasher() -> None:
    """Lower the calling thread's priority by :data:`READER_NICE` (Linux only: elsewhere a
    thread id is no process id, and the call could reach another process)."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        nice = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, nice + READER_NICE))
    except OSError:  # a sandbox that forbids it: the pipeline works as well, if slower
        pass


def _fill(readinto: ReadInto, view: memoryview) -> int:
    """Fill ``view`` with as many calls as it takes; fewer bytes only where the source ended."""
    filled = 0
    while filled < len(view):
        count = readinto(view[filled:])
        if not count:
            break
        filled += count
    return filled


class _Stage:
    """A thread working through its inbox, handing each buffer to the next stage, or back to
    the pool after the last one (or once this stage has failed). An error is kept for the
    caller's thread, and the rest of the inbox is still drained, so nobody waits forever."""

    def __init__(self, name: str, work: Step, pool: queue.SimpleQueue[memoryview],
                 next: _Stage | None = None) -> None:
        self._work = work
        self._pool = pool
        self._next = next
        self.before: Callable[[], None] | None = None
        """Called on the stage's thread before each buffer's work (its placement)."""
        self._inbox: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self.error is not None

    def put(self, item: _Item) -> None:
        self._inbox.put(item)

    def finish(self) -> None:
        self._inbox.put(None)
        _wait_out(self._done)

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while (item := self._inbox.get()) is not None:
                buffer, offset, count = item
                if self.error is None:
                    try:
                        if self.before is not None:
                            self.before()
                        self._work(offset, buffer[:count])
                    except BaseException as exc:  # raised again in the caller's thread
                        self.error = exc
                if self._next is not None and self.error is None:
                    self._next.put(item)
                else:
                    self._pool.put(buffer)
        finally:
            self._done.set()


def _wait_out(done: threading.Event) -> None:
    """Wait until ``done`` is set, through Ctrl-C too (raised once it is): a reader or stage
    still running would write through descriptors that its caller is about to close. Each
    has at most a few buffers left, so the wait is short."""
    interrupted: BaseException | None = None
    while True:
        try:
            done.wait()
            break
        except BaseException as exc:
            interrupted = exc
    if interrupted is not None:
        raise interrupted
