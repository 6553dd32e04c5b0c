"""A blob staged now and published later: its bytes land in a temp file in the blobs folder,
hashed on the way in, and it is published through the shelf's one step only when the caller
has checked everything else it depends on (an offline bundle's ``load`` publishes nothing
until every blob and manifest of the bundle has checked out).

Speed without memory: the bytes move through a few reused buffers (peak memory does not grow
with the blob) and three threads overlap, since reading (or zstd's decompressing),
``os.write`` and hashlib on large buffers all let go of the GIL:

    the caller's thread fills a free buffer → the writer writes it → the hasher hashes it
    and hands it back

Where the file system allows, the writer uses direct I/O: the bytes go from the buffer to
the disk without being copied into the page cache, which spares the CPU a copy of every byte
and the final fsync a wait for all of them (measured on ext4 for a 2 GiB blob: a third of
the CPU time, no flush at the end). ``copy_file_range`` was measured too: on file systems
without reflinks it copies through the page cache, so every byte is copied, read back to be
hashed and flushed at the end, and a tar member's 512-byte-aligned offset rules reflinks out.
"""

from __future__ import annotations

import contextlib
import errno
import mmap
import os
import queue
import threading
from collections.abc import Callable
from pathlib import Path

from ocitypes import Digest

from ..errors import storage_errors
from ..hashcache import Hasher, Progress
from ..link import write_all
from .shelf import Shelf

__all__ = ["BUFFERS", "BUFFER_SIZE", "ReadInto", "StagedBlob"]

BUFFER_SIZE = 8 << 20
"""Big enough that each call hands the kernel, the disk or hashlib a lot of work at once."""
DIRECT_ALIGN = 4096
"""Direct writes go in whole multiples of this (the page size; it covers the block size of
the disks lamina meets)."""
BUFFERS = 4
"""Buffers in flight: the reader gets at most this far ahead of the writer and the hasher."""

ReadInto = Callable[[memoryview], int]
"""Fills the view from its start, returning how many bytes it put there (0 at the end)."""


class StagedBlob:
    """One temp file in the blobs folder, written once (``fill``) and hashed while written;
    ``publish`` renames it into place if it hashed to what was expected. Closing it
    unpublished removes it."""

    def __init__(self, shelf: Shelf) -> None:
        self._shelf = shelf
        self._exit = contextlib.ExitStack()
        self.path: Path = self._exit.enter_context(shelf.temp())
        try:
            with storage_errors(shelf.layout.blobs, "cannot stage a blob"):
                self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
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
        self.size = done
        self.digest = hasher.digest
        return done

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


def _set_direct(fd: int, *, on: bool) -> bool:
    """Turn direct I/O on or off for ``fd``; whether it is on now. Writing a blob that is not
    going to be read back at once, direct I/O spares the CPU copying every byte into the page
    cache and fsync the wait to flush them all at the end; where it is missing or refused
    (tmpfs, macOS), writes go through the page cache as usual."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag:
        return False
    import fcntl  # POSIX only, like O_DIRECT

    try:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | flag if on else flags & ~flag)
    except OSError:
        return False
    return on


class _Worker:
    """A thread working through its inbox until ``finish``; an error it meets is kept for the
    caller's thread, and the rest of the inbox is still drained, so nobody waits forever."""

    name = "lamina-blob-worker"

    def __init__(self) -> None:
        self._inbox: queue.SimpleQueue[tuple[memoryview, int] | None] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    @property
    def failed(self) -> bool:
        return self.error is not None

    def _run(self) -> None:
        while (item := self._inbox.get()) is not None:
            buffer, count = item
            if self.error is None:
                try:
                    self._work(buffer, count)
                except BaseException as exc:  # raised again in the caller's thread
                    self.error = exc
            self._done(buffer, count)
        if self.error is None:
            try:
                self._last()
            except BaseException as exc:
                self.error = exc

    def put(self, buffer: memoryview, count: int) -> None:
        self._inbox.put((buffer, count))

    def _work(self, buffer: memoryview, count: int) -> None:
        raise NotImplementedError

    def _done(self, buffer: memoryview, count: int) -> None:
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
    """SHA-256 of the buffers handed over, each then given back to the pool."""

    name = "lamina-blob-hasher"

    def __init__(self) -> None:
        self._sha = Hasher()
        self.pool: queue.SimpleQueue[memoryview] = queue.SimpleQueue()
        super().__init__()

    def _work(self, buffer: memoryview, count: int) -> None:
        self._sha.update(buffer[:count])

    def _done(self, buffer: memoryview, count: int) -> None:
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
        for _ in range(BUFFERS):  # page-aligned memory, as direct I/O wants it
            self.pool.put(memoryview(mmap.mmap(-1, BUFFER_SIZE)))
        self._direct = _set_direct(fd, on=True)
        super().__init__()

    def _work(self, buffer: memoryview, count: int) -> None:
        if self._direct and count % DIRECT_ALIGN:  # a ragged end: the rest goes buffered
            self._direct = _set_direct(self._fd, on=False)
        try:
            write_all(self._fd, buffer[:count])
        except OSError as exc:
            if not self._direct or exc.errno != errno.EINVAL:
                raise
            # Direct I/O the file system turned down after all; the offset is unchanged.
            self._direct = _set_direct(self._fd, on=False)
            write_all(self._fd, buffer[:count])

    def _done(self, buffer: memoryview, count: int) -> None:
        if self.error is None:
            self.hasher.put(buffer, count)
        else:
            self.pool.put(buffer)

    def _last(self) -> None:
        os.fsync(self._fd)
