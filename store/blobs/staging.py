"""A blob staged now and published later: its bytes land in a temp file in the blobs folder,
hashed on the way in, and it is published through the shelf's one step only when the caller
has checked everything else it depends on (an offline bundle's ``load`` publishes nothing
until every blob and manifest of the bundle has checked out).

Speed without memory: the bytes move through a few reused buffers (peak memory does not grow
with the blob), and the jobs overlap in threads, since ``os.write``, hashlib on large buffers,
the kernel's ``copy_file_range`` and zstd all let go of the GIL:

    fill        the caller's thread reads (e.g. decompresses) → a writer thread → a hasher
    copy_range  the caller's thread has the kernel copy a file range → a hasher re-reads the
                temp file's new bytes, so what gets published is exactly what was hashed

The writer (or the copying thread) fsyncs while the hasher finishes, so the flush to disk
overlaps the hashing.
"""

from __future__ import annotations

import contextlib
import errno
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from ocitypes import Digest

from ..errors import DigestMismatch, storage_errors
from ..hashcache import Hasher, Progress
from ..link import write_all
from .shelf import Shelf

__all__ = ["BUFFERS", "BUFFER_SIZE", "ReadInto", "StagedBlob"]

BUFFER_SIZE = 4 << 20
"""Big enough that each call hands the kernel or hashlib a lot of work, small enough to stay
in the CPU's caches between the writer and the hasher."""
BUFFERS = 4
"""Buffers in flight: the reader gets at most this far ahead of the writer and the hasher."""
COPY_STEP = 16 << 20
"""Bytes per ``copy_file_range`` call; the hasher follows a step behind."""

ReadInto = Callable[[memoryview], int]
"""Fills the view from its start, returning how many bytes it put there (0 at the end)."""

_NO_KERNEL_COPY = frozenset({errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP,
                             errno.EBADF, errno.EPERM})
"""What ``copy_file_range`` says when these two files cannot be copied in the kernel."""


class StagedBlob:
    """One temp file in the blobs folder, written once (``fill`` or ``copy_range``) and hashed
    while written; ``publish`` renames it into place if it hashed to what was expected.
    Closing it unpublished removes it."""

    def __init__(self, shelf: Shelf) -> None:
        self._shelf = shelf
        self._exit = contextlib.ExitStack()
        self.path: Path = self._exit.enter_context(shelf.temp())
        try:
            with storage_errors(shelf.layout.blobs, "cannot stage a blob"):
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
        except BaseException:
            self._exit.close()
            raise
        self._exit.callback(os.close, self._fd)
        self.digest: Digest | None = None
        """What the bytes hash to, once they are all written and fsynced."""
        self.size = 0

    def __enter__(self) -> StagedBlob:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the temp file and remove it unless it was published."""
        self._exit.close()

    def fill(self, readinto: ReadInto, size: int, progress: Progress | None = None) -> int:
        """Write up to ``size`` bytes that ``readinto`` produces (called in this thread); how
        many there were: fewer means ``readinto`` ran dry."""
        self._check_unwritten()
        hasher = _Hasher()
        writer = _Writer(self._fd, hasher)
        try:
            done = _feed(readinto, size, writer, progress)
        finally:
            writer.finish()
            hasher.finish()
        with storage_errors(self.path, "cannot stage a blob"):
            writer.raise_error()
            hasher.raise_error()
        return self._seal(hasher, done)

    def copy_range(self, src: int, offset: int, size: int,
                   progress: Progress | None = None) -> int:
        """Copy up to ``size`` bytes of file ``src`` from ``offset`` in the kernel (no bytes
        pass through Python), hashing them as they land; ``fill`` from ``src`` instead where
        the file systems cannot. How many bytes there were: fewer means ``src`` ended early."""
        self._check_unwritten()
        with storage_errors(self.path, "cannot stage a blob"):
            first = _kernel_copy(src, self._fd, min(COPY_STEP, size), offset, 0) if size else 0
        if first is None or (first == 0 and size):  # 0 at once: maybe a kernel that cannot
            return self.fill(_preader(src, offset), size, progress)
        hasher = _Hasher(reread=self._fd)
        done = 0
        try:
            with storage_errors(self.path, "cannot stage a blob"):
                copied = first
                while copied:
                    hasher.put_range(done, copied)
                    done += copied
                    if progress is not None:
                        progress(copied)
                    if done == size:
                        break
                    copied = os.copy_file_range(src, self._fd, min(COPY_STEP, size - done),
                                                offset + done, done)
                os.fsync(self._fd)
        finally:
            hasher.finish()
        with storage_errors(self.path, "cannot stage a blob"):
            hasher.raise_error()
        return self._seal(hasher, done)

    def publish(self, expected: Digest) -> bool:
        """Rename the staged bytes into place as ``expected`` through the shelf's one publish
        step (``DigestMismatch`` if they hash to anything else); False if the store had the
        blob already."""
        if self.digest is None:
            raise RuntimeError("a staged blob is published after it is written")
        return self._shelf.publish(self._fd, self.path, self.digest, expected)

    def _check_unwritten(self) -> None:
        if self.digest is not None:
            raise RuntimeError("a staged blob is written once")

    def _seal(self, hasher: _Hasher, done: int) -> int:
        if hasher.size != done:  # the temp file shrank under us: no digest to trust
            raise DigestMismatch(f"{done} bytes", f"{hasher.size} hashed", what=str(self.path))
        self.size = done
        self.digest = hasher.digest
        return done


def _kernel_copy(src: int, dst: int, count: int, src_at: int, dst_at: int) -> int | None:
    """``copy_file_range``, or None where it does not work between these two files."""
    if not hasattr(os, "copy_file_range"):
        return None
    try:
        return os.copy_file_range(src, dst, count, src_at, dst_at)
    except OSError as exc:
        if exc.errno in _NO_KERNEL_COPY:
            return None
        raise


def _feed(readinto: ReadInto, size: int, writer: _Writer, progress: Progress | None) -> int:
    done = 0
    while done < size and not writer.failed and not writer.hasher.failed:
        buffer = writer.pool.get()
        count = readinto(buffer[: min(len(buffer), size - done)])
        if not count:
            writer.pool.put(buffer)
            break
        writer.put(buffer, count)
        done += count
        if progress is not None:
            progress(count)
    return done


def _preader(fd: int, offset: int) -> ReadInto:
    position = offset

    def readinto(view: memoryview) -> int:
        nonlocal position
        count = os.preadv(fd, [view], position)
        position += count
        return count

    return readinto


class _Worker:
    """A thread working through its inbox until ``finish``; an error it meets is kept for the
    caller's thread, and the rest of the inbox is still drained, so nobody waits forever."""

    name = "lamina-blob-worker"

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[tuple[memoryview | None, int, int] | None] = (
            queue.SimpleQueue())
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self.error is not None

    def _run(self) -> None:
        while (item := self._inbox.get()) is not None:
            buffer, start, count = item
            if self.error is None:
                try:
                    self._work(buffer, start, count)
                except BaseException as exc:  # raised again in the caller's thread
                    self.error = exc
            self._done(buffer, count)
        if self.error is None:
            try:
                self._last()
            except BaseException as exc:
                self.error = exc

    def _work(self, buffer: memoryview | None, start: int, count: int) -> None:
        raise NotImplementedError

    def _done(self, buffer: memoryview | None, count: int) -> None:
        """Pass the buffer on, done with or not."""

    def _last(self) -> None:
        """What to do once the inbox is closed."""

    def finish(self) -> None:
        self._inbox.put(None)
        self._thread.join()

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error


class _Hasher(_Worker):
    """SHA-256 of the buffers handed over (each then goes back to its pool), or of ranges of
    a file it reads back through one reused buffer."""

    name = "lamina-blob-hasher"

    def __init__(self, *, reread: int | None = None) -> None:
        self._reread = reread
        self._scratch = memoryview(bytearray(BUFFER_SIZE)) if reread is not None else None
        self._sha = Hasher()
        self.pool: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        super().__init__()

    def put(self, buffer: memoryview, count: int) -> None:
        self._inbox.put((buffer, 0, count))

    def put_range(self, offset: int, count: int) -> None:
        self._inbox.put((None, offset, count))

    def _work(self, buffer: memoryview | None, start: int, count: int) -> None:
        if buffer is not None:
            self._sha.update(buffer[:count])
            return
        assert self._reread is not None and self._scratch is not None
        while count:
            got = os.preadv(self._reread, [self._scratch[: min(len(self._scratch), count)]],
                            start)
            if not got:
                return  # the file is shorter than it was: the sizes will disagree
            self._sha.update(self._scratch[:got])
            start += got
            count -= got

    def _done(self, buffer: memoryview | None, count: int) -> None:
        if buffer is not None:
            self.pool.put(buffer)

    @property
    def size(self) -> int:
        return self._sha.size

    @property
    def digest(self) -> Digest:
        return self._sha.digest()


class _Writer(_Worker):
    """Writes each buffer it is handed, then hands it to the hasher; fsyncs at the end."""

    name = "lamina-blob-writer"

    def __init__(self, fd: int, hasher: _Hasher) -> None:
        self._fd = fd
        self.hasher = hasher
        self.pool = hasher.pool
        for _ in range(BUFFERS):
            self.pool.put(memoryview(bytearray(BUFFER_SIZE)))
        super().__init__()

    def put(self, buffer: memoryview, count: int) -> None:
        self._inbox.put((buffer, 0, count))

    def _work(self, buffer: memoryview | None, start: int, count: int) -> None:
        assert buffer is not None
        write_all(self._fd, buffer[:count])

    def _done(self, buffer: memoryview | None, count: int) -> None:
        assert buffer is not None
        if self.error is None:
            self.hasher.put(buffer, count)
        else:
            self.pool.put(buffer)

    def _last(self) -> None:
        os.fsync(self._fd)
