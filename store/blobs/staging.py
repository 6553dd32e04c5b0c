"""A blob staged now and published later: its bytes land in a temp file in the blobs folder,
hashed on the way in, and it is published through the shelf's one step only when the caller
has checked everything else it depends on (an offline bundle's ``load`` publishes nothing
until every blob and manifest of the bundle has checked out).

Speed without memory: the bytes move through :mod:`.pipeline`'s few reused buffers (peak
memory does not grow with the blob), read (or decompressed by zstd), written and hashed on
three threads at once.

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
import os
from pathlib import Path

from ocitypes import Digest

from ..errors import storage_errors
from ..hashcache import Hasher, Progress
from ..link import write_all
from .pipeline import BUFFER_SIZE, Pipeline, ReadInto
from .shelf import Shelf

__all__ = ["BUFFERS", "BUFFER_SIZE", "ReadInto", "StagedBlob"]

DIRECT_ALIGN = 4096
"""Direct writes go in whole multiples of this (the page size; it covers the block size of
the disks lamina meets)."""
BUFFERS = 4
"""Buffers in flight: the reader gets at most this far ahead of the writer and the hasher."""


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
        hasher = Hasher()
        writer = _Writer(self._fd, self.path)
        pipeline = Pipeline(writer.write, lambda offset, view: hasher.update(view),
                            buffers=BUFFERS)
        done = pipeline.run(readinto, 0, size, progress)
        with storage_errors(self.path, "cannot stage a blob"):
            os.fsync(self._fd)
        self.size = done
        self.digest = hasher.digest()
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


class _Writer:
    """Writes a staged blob's buffers in order, directly to the disk while they are whole
    blocks (see :func:`_set_direct`)."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self._path = path
        self._direct = _set_direct(fd, on=True)

    def write(self, offset: int, view: memoryview) -> None:
        with storage_errors(self._path, "cannot stage a blob"):
            if self._direct and len(view) % DIRECT_ALIGN:  # a ragged end: it goes buffered
                self._direct = _set_direct(self._fd, on=False)
            try:
                write_all(self._fd, view)
            except OSError as exc:
                if not self._direct or exc.errno != errno.EINVAL:
                    raise
                # Direct I/O the file system turned down after all; the offset is unchanged.
                self._direct = _set_direct(self._fd, on=False)
                write_all(self._fd, view)
