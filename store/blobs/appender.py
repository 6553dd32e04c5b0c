"""Appending batches of buffers to an upload's file while hashing them, on two cores at once.

A pushed blob crosses memory as few times as it can (``bench/serve_blobs.py`` measures it):

* the block-aligned middle of a large batch is copied once, into a small ring of reused
  page-aligned buffers, and written from there with ``O_DIRECT``: the disk reads it by DMA, so
  no page-cache pages are filled (on a virtual machine the kernel's copy into fresh page-cache
  pages costs as much CPU as hashing) and the fsync of the commit has nothing left to write.
  The unaligned head and tail (less than a block each) go through the page cache;
* three stages work on the ring at once, each on its own thread: the caller copies the next
  buffer while the one before goes to the disk and the one before that is hashed (hashlib and
  the writes let go of the GIL, once per buffer). Hashing goes on after :meth:`Appender.append`
  returns, through the next batch's arrival, copy and write, so SHA-256 — the slowest stage —
  has a core to itself for the whole upload instead of waiting on every batch;
* a buffer is hashed only once it is in the file, from the ring (never from the caller's
  memory, which is the caller's again when ``append`` returns), so the hasher always describes
  a prefix of the file. Memory stays at the ring's few buffers whatever the blob's size.

Where ``O_DIRECT`` is refused (tmpfs, some network file systems), or a batch is small, the
batch is hashed on a second thread while it is written through the page cache, and each
batch's pages are handed to the disk at once (Linux ``sync_file_range``) for the same effect on
the commit's fsync; that batch is hashed completely before ``append`` returns.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import mmap
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..hashcache import Hasher
from .buffers import new_buffer

LANE_THREADS = 16
"""Threads hashing and writing buffers, across uploads (two for each busy one); more uploads
wait their turn."""
PARALLEL_BYTES = 1 << 20
"""Below this a batch is hashed and written on the caller's thread: a hop would cost more."""
BLOCK = 4096
"""Alignment of ``O_DIRECT`` offsets, lengths and memory (enough for any common disk)."""
DIRECT_BUFFER = 2 << 20
"""Bytes of one aligned buffer, written by one direct write and hashed by one update (larger
ones are no faster, and would count in a server's memory)."""
RING = 4
"""Aligned buffers one upload has in flight: one filling, one on its way to the disk, two
being hashed (the slowest stage gets the slack)."""
IDLE_BUFFERS = RING
"""Aligned buffers kept for the next batches (fresh pages would be faulted in for every one):
one upload's ring; the rest are given back (they would count in a server's memory while it
serves pulls)."""

_O_DIRECT: int = getattr(os, "O_DIRECT", 0)
_IOV_MAX = 1024
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_buffers: list[mmap.mmap] = []


class Appender:
    """Appends to one file, remembering whether its file system takes ``O_DIRECT``; one
    caller at a time (an upload holds its lock)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._direct = bool(_O_DIRECT)
        self._hashing = _Lane()
        self._writing = _Lane()
        self._ring = threading.BoundedSemaphore(RING)

    def append(self, fd: int, views: Sequence[memoryview], hasher: Hasher, offset: int) -> int:
        """Write ``views`` at the end of ``fd`` (opened ``O_APPEND``, ``offset`` bytes long)
        and have ``hasher`` fed them, in order after earlier batches; returns the bytes
        written. The hashing may go on after this returns: :meth:`settle` waits for it. The
        caller may reuse ``views`` at once. If the write fails the hasher may have seen bytes
        the file lacks: the caller must settle and hash the file again."""
        size = sum(len(view) for view in views)
        head = min(-offset % BLOCK, size)
        middle = (size - head) // BLOCK * BLOCK
        if not (self._direct and middle >= PARALLEL_BYTES):
            self._append_buffered(fd, views, hasher, offset, size)
            return size
        before, aligned, after = _slices(views, [head, middle, size - head - middle])
        self._append_small(fd, before, hasher)
        done = self._write_direct(aligned, offset + head, hasher)
        rest = _slices_from(aligned, done) + after
        if done == middle:
            self._append_small(fd, rest, hasher)
        else:  # the file system refused direct writes midway
            self._append_buffered(fd, rest, hasher, offset + head + done, size - head - done)
        return size

    def settle(self) -> None:
        """Wait until every byte appended so far has been hashed."""
        self._hashing.wait()

    def _append_small(self, fd: int, views: list[memoryview], hasher: Hasher) -> None:
        """Write a few bytes through the page cache, then queue a copy of them for hashing."""
        if not views:
            return
        writev_all(fd, views)
        copy = memoryview(b"".join(views))
        self._hashing.put(functools.partial(_update, hasher, [copy]))

    def _append_buffered(self, fd: int, views: Sequence[memoryview], hasher: Hasher,
                         offset: int, size: int) -> None:
        """Write and hash ``views`` at once through the page cache, both done on return."""
        self.settle()  # the hasher takes bytes in order: earlier batches first
        if size < PARALLEL_BYTES:
            _update(hasher, views)
            writev_all(fd, views)
            start_writeback(fd, offset, size)
            return
        hashing = _lane_executor().submit(_update, hasher, views)
        try:
            writev_all(fd, views)
            start_writeback(fd, offset, size)
        finally:
            hashing.result()

    def _write_direct(self, views: list[memoryview], offset: int, hasher: Hasher) -> int:
        """Write block-aligned ``views`` at ``offset`` with ``O_DIRECT``, through the ring,
        each buffer queued for hashing once it is in the file; the bytes written, fewer than
        all (and direct writes off from now on) if the file system refuses. The caller holds
        the file's lock, so the path still names the file ``fd`` is."""
        try:
            direct = os.open(self._path, os.O_WRONLY | os.O_CLOEXEC | _O_DIRECT)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            self._direct = False
            return 0
        written = [0]
        try:
            at = offset
            for batch in _batches(views, DIRECT_BUFFER):
                if self._writing.failed:
                    break
                slot = _Slot(self._ring)
                try:
                    count = _gather(slot.buffer, batch)
                except BaseException:
                    slot.release()
                    raise
                self._writing.put(functools.partial(
                    self._store, direct, slot, count, at, hasher, written), slot.release)
                at += count
        finally:
            try:
                self._writing.wait()
            except _Refused:
                self._direct = False
            finally:
                os.close(direct)
        return written[0]

    def _store(self, fd: int, slot: _Slot, count: int, at: int, hasher: Hasher,
               written: list[int]) -> None:
        """On the write lane: one buffer to the disk, then on to the hash lane."""
        try:
            with memoryview(slot.buffer) as view:
                _pwrite_all(fd, view[:count], at)
        except OSError as exc:
            slot.release()
            if exc.errno == errno.EINVAL:  # the device wants a larger alignment than BLOCK
                raise _Refused from exc
            raise
        except BaseException:
            slot.release()
            raise
        written[0] += count
        self._hashing.put(functools.partial(_hash_slot, hasher, slot, count), slot.release)


class _Refused(Exception):
    """The file system took no direct write here: the rest goes through the page cache."""


class _Slot:
    """An aligned buffer from the pool, held against an upload's ring until released."""

    def __init__(self, ring: threading.BoundedSemaphore) -> None:
        ring.acquire()  # blocks while the upload has its whole ring in flight
        self._ring: threading.BoundedSemaphore | None = ring
        with _lock:
            buffer = _buffers.pop() if _buffers else None
        if buffer is None or len(buffer) != DIRECT_BUFFER:  # the size was changed since
            if buffer is not None:
                _discard(buffer)
            buffer = new_buffer(DIRECT_BUFFER)
        self.buffer = buffer

    def release(self) -> None:
        """Give the buffer back to the pool (or the system) and the ring; once only."""
        if self._ring is None:
            return
        ring, self._ring = self._ring, None
        _give_back(self.buffer)
        ring.release()


class _Lane:
    """Work run in order, one item at a time, on a pool thread. Once an item fails the rest
    are dropped (their ``drop`` run instead) until :meth:`wait` reports the failure."""

    def __init__(self) -> None:
        self._items: deque[tuple[Callable[[], None], Callable[[], None] | None]] = deque()
        self._idle = threading.Condition(threading.Lock())
        self._running = False
        self._error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self._error is not None

    def put(self, work: Callable[[], None], drop: Callable[[], None] | None = None) -> None:
        with self._idle:
            self._items.append((work, drop))
            if self._running:
                return
            self._running = True
        _lane_executor().submit(self._drain)

    def wait(self) -> None:
        """Wait until every item put so far is done; raise the first failure, once."""
        with self._idle:
            while self._running:
                self._idle.wait()
            error, self._error = self._error, None
        if error is not None:
            raise error

    def _drain(self) -> None:
        while True:
            with self._idle:
                if not self._items:
                    self._running = False
                    self._idle.notify_all()
                    return
                work, drop = self._items.popleft()
                failed = self._error is not None
            if failed:
                if drop is not None:
                    drop()
                continue
            try:
                work()
            except BaseException as exc:  # reported by wait(), on the caller's thread
                with self._idle:
                    self._error = exc


def writev_all(fd: int, views: Sequence[memoryview]) -> None:
    """Write every byte of ``views``, in order, however many calls the kernel needs."""
    pending = [view for view in views if len(view)]
    while pending:
        written = os.writev(fd, pending[:_IOV_MAX])
        while pending and written >= len(pending[0]):
            written -= len(pending.pop(0))
        if written:
            pending[0] = pending[0][written:]


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing ``length`` bytes at ``offset`` to the disk now, without
    waiting for them (advisory: a no-op where ``sync_file_range`` does not exist)."""
    function = _sync_file_range()
    if function is not None and length:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)


def _update(hasher: Hasher, views: Sequence[memoryview]) -> None:
    for view in views:
        hasher.update(view)


def _hash_slot(hasher: Hasher, slot: _Slot, count: int) -> None:
    try:
        with memoryview(slot.buffer) as view:
            hasher.update(view[:count])
    finally:
        slot.release()


def _slices(views: Sequence[memoryview], sizes: list[int]) -> list[list[memoryview]]:
    """``views`` cut into consecutive runs of ``sizes`` bytes each."""
    queue = deque(views)
    runs: list[list[memoryview]] = []
    for size in sizes:
        run: list[memoryview] = []
        while size:
            view = queue.popleft()
            if len(view) > size:
                queue.appendleft(view[size:])
                view = view[:size]
            run.append(view)
            size -= len(view)
        runs.append(run)
    return runs


def _slices_from(views: list[memoryview], skip: int) -> list[memoryview]:
    """What is left of ``views`` after the first ``skip`` bytes."""
    total = sum(len(view) for view in views)
    return _slices(views, [skip, total - skip])[1]


def _batches(views: list[memoryview], limit: int) -> Iterator[list[memoryview]]:
    total = sum(len(view) for view in views)
    sizes = [limit] * (total // limit) + ([total % limit] if total % limit else [])
    yield from _slices(views, sizes)


def _gather(buffer: mmap.mmap, views: list[memoryview]) -> int:
    at = 0
    with memoryview(buffer) as target:
        for view in views:
            target[at:at + len(view)] = view
            at += len(view)
    return at


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def _give_back(buffer: mmap.mmap) -> None:
    """Keep a few buffers for the next batches, close the rest."""
    with _lock:
        if len(_buffers) < IDLE_BUFFERS:
            _buffers.append(buffer)
            return
    _discard(buffer)


def _discard(buffer: mmap.mmap) -> None:
    """Unmap a buffer now, or once the last view of it is gone (a traceback may hold one)."""
    with contextlib.suppress(BufferError):
        buffer.close()


def _lane_executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(LANE_THREADS, thread_name_prefix="lamina-append")
        return _executor


_SYNC_FILE_RANGE_WRITE = 2


@functools.cache
def _sync_file_range() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    loaded: Callable[[int, int, int, int], int] = function
    return loaded
