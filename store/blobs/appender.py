"""Appending batches of buffers to an upload's file while hashing them, on two cores at once.

A pushed blob crosses memory as few times as it can (``bench/serve_blobs.py`` measures it):

* SHA-256 runs on a second thread while this one writes (hashlib and the write calls both let
  go of the GIL), so a batch costs the slower of the two rather than their sum;
* the buffers are written as they came off the socket, never joined into one bytes object;
* the block-aligned middle of a large batch is written with ``O_DIRECT`` from a reused aligned
  buffer: the disk reads it by DMA, so no page-cache pages are filled (on a virtual machine the
  kernel's copy into fresh page-cache pages costs as much CPU as hashing) and the fsync of the
  commit has nothing left to write. The unaligned head and tail go through the page cache.
  Where ``O_DIRECT`` is refused (tmpfs, some network file systems), everything does, and each
  batch's pages are handed to the disk at once (Linux ``sync_file_range``) for the same effect
  on the commit's fsync.

A batch is hashed and written completely before :meth:`Appender.append` returns, so the
caller's hasher describes the file — except after a failed write (see ``append``).
"""

from __future__ import annotations

import errno
import functools
import mmap
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

from ..hashcache import Hasher

HASH_THREADS = 8
"""Batches hashed at once, across uploads; more wait their turn."""
PARALLEL_BYTES = 1 << 20
"""Below this a batch is hashed and written on the caller's thread: a hop would cost more."""
BLOCK = 4096
"""Alignment of ``O_DIRECT`` offsets, lengths and memory (enough for any common disk)."""
DIRECT_BUFFER = 8 << 20
"""Bytes copied into one aligned buffer per direct write."""
IDLE_BUFFERS = 2
"""Aligned buffers kept for the next batches; the rest are given back (they would count in a
server's memory while it serves pulls)."""

_O_DIRECT: int = getattr(os, "O_DIRECT", 0)
_IOV_MAX = 1024
_executor: ThreadPoolExecutor | None = None
_lock = threading.Lock()
_buffers: list[mmap.mmap] = []


class Appender:
    """Appends to one file, remembering whether its file system takes ``O_DIRECT``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._direct = bool(_O_DIRECT)

    def append(self, fd: int, views: Sequence[memoryview], hasher: Hasher, offset: int) -> int:
        """Write ``views`` at the end of ``fd`` (opened ``O_APPEND``, ``offset`` bytes long)
        and feed them to ``hasher``; returns the bytes written. If the write fails the hasher
        may have seen bytes the file lacks: the caller must hash the file again."""
        size = sum(len(view) for view in views)
        if size < PARALLEL_BYTES:
            for view in views:
                hasher.update(view)
            self._write(fd, views, offset, size)
            return size
        hashing = _hash_executor().submit(_update, hasher, views)
        try:
            self._write(fd, views, offset, size)
        finally:
            hashing.result()
        return size

    def _write(self, fd: int, views: Sequence[memoryview], offset: int, size: int) -> None:
        head = min(-offset % BLOCK, size)
        middle = (size - head) // BLOCK * BLOCK
        if self._direct and middle >= PARALLEL_BYTES:
            pieces = list(_slices(views, [head, middle, size - head - middle]))
            writev_all(fd, pieces[0])
            done = self._write_direct(pieces[1], offset + head)
            writev_all(fd, _slices_from(pieces[1], done) + pieces[2])
            return
        writev_all(fd, views)
        start_writeback(fd, offset, size)

    def _write_direct(self, views: list[memoryview], offset: int) -> int:
        """Write block-aligned ``views`` at ``offset`` with ``O_DIRECT``; the bytes written,
        fewer than all (and direct writes off from now on) if the file system refuses. The
        caller holds the file's lock, so the path still names the file ``fd`` is."""
        done = 0
        try:
            direct = os.open(self._path, os.O_WRONLY | os.O_CLOEXEC | _O_DIRECT)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                raise
            self._direct = False
            return 0
        try:
            with _aligned_buffer() as buffer:
                for batch in _batches(views, len(buffer)):
                    count = _gather(buffer, batch)
                    try:
                        _pwrite_all(direct, memoryview(buffer)[:count], offset + done)
                    except OSError as exc:  # refused before anything was written
                        if exc.errno != errno.EINVAL or done % BLOCK:
                            raise
                        self._direct = False
                        return done
                    done += count
        finally:
            os.close(direct)
        return done


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


def _slices(views: Sequence[memoryview], sizes: list[int]) -> Iterator[list[memoryview]]:
    """``views`` cut into consecutive runs of ``sizes`` bytes each."""
    queue = list(views)
    for size in sizes:
        run: list[memoryview] = []
        while size:
            view = queue.pop(0)
            if len(view) > size:
                queue.insert(0, view[size:])
                view = view[:size]
            run.append(view)
            size -= len(view)
        yield run


def _slices_from(views: list[memoryview], skip: int) -> list[memoryview]:
    """What is left of ``views`` after the first ``skip`` bytes."""
    total = sum(len(view) for view in views)
    return list(_slices(views, [skip, total - skip]))[1]


def _batches(views: list[memoryview], limit: int) -> Iterator[list[memoryview]]:
    total = sum(len(view) for view in views)
    sizes = [limit] * (total // limit) + ([total % limit] if total % limit else [])
    yield from _slices(views, sizes)


def _gather(buffer: mmap.mmap, views: list[memoryview]) -> int:
    target = memoryview(buffer)
    at = 0
    for view in views:
        target[at:at + len(view)] = view
        at += len(view)
    target.release()
    return at


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


@contextmanager
def _aligned_buffer() -> Iterator[mmap.mmap]:
    """A page-aligned buffer from a small pool: fresh pages would be faulted in every time."""
    with _lock:
        buffer = _buffers.pop() if _buffers else None
    if buffer is None:
        buffer = mmap.mmap(-1, DIRECT_BUFFER)
    try:
        yield buffer
    finally:
        with _lock:
            if len(_buffers) < IDLE_BUFFERS:
                _buffers.append(buffer)
            else:
                buffer.close()


def _hash_executor() -> ThreadPoolExecutor:
    global _executor
    with _lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(HASH_THREADS, thread_name_prefix="lamina-hash")
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
