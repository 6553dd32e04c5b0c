"""Hashing files, and a cache from a file's stat to its digest so an unchanged file is hashed once.

The key is ``(dev, ino, size, mtime_ns, ctime_ns)``: any write moves ``mtime``, and ``ctime``
moves on every change to the inode (including a ``touch`` that puts ``mtime`` back), which no
user can set. One row per inode; a changed stat simply misses and is overwritten.

A file written twice within one timestamp tick keeps its stat, so ``settled`` decides when a
stat may be trusted at all: a tick is the kernel's clock tick (at most 10 ms) on file systems
with nanosecond times, and up to 2 s on those storing whole milliseconds or seconds (FAT, exFAT,
HFS+, ext3), which whole-millisecond mtimes give away.

The cache lives in SQLite (WAL mode, busy timeout) so several lamina processes can read and
write it at once. Each call opens its own short connection: safe across threads and forks.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocitypes import Digest

from ._sqlite import DatabaseUnusable, connect
from .errors import StorageError

if TYPE_CHECKING:
    import sqlite3

__all__ = ["CHUNK_SIZE", "FileKey", "HashCache", "Hasher", "Progress", "settled"]

CHUNK_SIZE = 4 * 1024 * 1024
"""Read size for hashing and copying: large enough to run at memory speed, small enough to keep."""

Progress = Callable[[int], None]
"""Called with the number of bytes just hashed."""

_FINE_TICK_NS = 20_000_000
_COARSE_TICK_NS = 2_000_000_000
_MAX_WAIT_NS = 50_000_000
_MAX_REHASH = 64 * 1024 * 1024

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (dev, ino)
)
"""


class Hasher:
    """SHA-256 of everything fed to it, with its byte count, reporting progress."""

    def __init__(self, progress: Progress | None = None) -> None:
        import hashlib  # here: reading a store loads no OpenSSL

        self._sha = hashlib.sha256()
        self._progress = progress
        self.size = 0

    def update(self, data: memoryview) -> None:
        self._sha.update(data)
        self.size += len(data)
        if self._progress is not None:
            self._progress(len(data))

    def update_from(self, fd: int) -> None:
        """Hash a file from its current offset to the end, through one reusable buffer."""
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        with open(fd, "rb", buffering=0, closefd=False) as reader:
            while count := reader.readinto(buffer):
                self.update(view[:count])

    def digest(self) -> Digest:
        return Digest(self._sha.hexdigest())


def settled(path: Path, st: os.stat_result, digest: Digest) -> bool:
    """Whether a later write to the file must change ``st``, so it may key the cache. A file
    younger than a tick is hashed again once the tick is over, if that is quick."""
    tick = _COARSE_TICK_NS if st.st_mtime_ns % 1_000_000 == 0 else _FINE_TICK_NS
    wait_ns = tick - (time.time_ns() - st.st_mtime_ns)
    if wait_ns <= 0:
        return True
    if wait_ns > _MAX_WAIT_NS or st.st_size > _MAX_REHASH:
        return False
    time.sleep(wait_ns / 1e9)
    hasher = Hasher()
    with open(path, "rb", buffering=0) as again:
        hasher.update_from(again.fileno())
        unchanged = FileKey.of(os.fstat(again.fileno())) == FileKey.of(st)
    return unchanged and hasher.digest() == digest


@dataclass(frozen=True, slots=True)
class FileKey:
    """What identifies one version of one file without reading it."""

    dev: int
    ino: int
    size: int
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> FileKey:
        """The key of a stat result."""
        return cls(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HashCache:
    def __init__(self, path: Path) -> None:
        self.path = path

    def get(self, key: FileKey) -> Digest | None:
        """The digest recorded for exactly this stat, or None."""
        if not self.path.exists():
            return None
        with self._connect() as db:
            row = db.execute(
                "SELECT size, mtime_ns, ctime_ns, digest FROM files WHERE dev = ? AND ino = ?",
                (_signed(key.dev), _signed(key.ino)),
            ).fetchone()
        if row is None or tuple(row[:3]) != (key.size, key.mtime_ns, key.ctime_ns):
            return None
        return Digest.parse(row[3])

    def put(self, key: FileKey, digest: Digest) -> None:
        """Remember that the file with this stat hashes to ``digest``."""
        with self._connect(create=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO files VALUES (?, ?, ?, ?, ?, ?)",
                (
                    _signed(key.dev),
                    _signed(key.ino),
                    key.size,
                    key.mtime_ns,
                    key.ctime_ns,
                    str(digest),
                ),
            )

    def forget(self, key: FileKey) -> None:
        """Drop whatever is recorded for this inode."""
        if not self.path.exists():
            return
        with self._connect() as db:
            db.execute(
                "DELETE FROM files WHERE dev = ? AND ino = ?",
                (_signed(key.dev), _signed(key.ino)),
            )

    @contextlib.contextmanager
    def _connect(self, *, create: bool = False) -> Iterator[sqlite3.Connection]:
        try:
            with connect(self.path, _SCHEMA, create=create, durable=False) as db:
                yield db
        except DatabaseUnusable as exc:
            raise StorageError(
                str(self.path),
                f"the hash cache cannot be used ({exc}); check the disk, or delete the file "
                "and lamina rebuilds it",
            ) from exc


def _signed(number: int) -> int:
    """Fit an unsigned 64-bit device or inode number into SQLite's signed integers."""
    return number - (1 << 64) if number >= 1 << 63 else number
