"""The blobs folder as writers see it: temp files, the blob lock, and the one publish step.

Every blob appears the same way, whoever wrote it (a stream, an import, a pull's partial file,
a server's upload): its bytes are verified against the digest, fsynced, and renamed to
``blobs/sha256-<hex>`` under the blob lock unless another writer got there first; the folders
are fsynced after. The hash cache is kept here too, since publishing and reuse refresh it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

from ocitypes import Digest

from .. import locks
from ..errors import DigestMismatch, StorageError, StoreError, storage_errors
from ..hashcache import FileKey, HashCache, settled
from ..layout import TEMP_PREFIX, Layout
from ..link import fsync_dir

BLOB_MODE = 0o644
"""Mode of a blob lamina wrote, as Ollama leaves its blobs."""

LINKED_MODE = 0o444
"""Mode of a blob that is also the user's file: read-only, so an ordinary edit fails loudly."""


class Shelf:
    """Publishing into one store's blobs folder, and the hash-cache bookkeeping with it."""

    def __init__(self, layout: Layout, cache: HashCache) -> None:
        self.layout = layout
        self.cache = cache

    def path(self, digest: Digest) -> Path:
        return self.layout.blob(digest)

    def exists(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def publish(
        self, fd: int, temp: Path, actual: Digest, expected: Digest | None = None, *,
        locked: bool = False,
    ) -> bool:
        """Verify, fsync and rename ``temp`` (open as ``fd``) into place; False if the blob was
        already stored (``temp`` is then left for the caller to drop). ``locked``: the caller
        holds the blob lock already."""
        if expected is not None and actual != expected:
            raise DigestMismatch(str(expected), str(actual), what="blob")
        with storage_errors(temp.parent):
            os.fchmod(fd, BLOB_MODE)
            os.fsync(fd)
            if locked:
                published = self.rename_into_place(temp, actual)
            else:
                with self.lock(actual):
                    published = self.rename_into_place(temp, actual)
            if published:
                self.remember(os.stat(self.path(actual)), actual)
            else:
                self.keep(actual)
        return published

    def rename_into_place(self, temp: Path, digest: Digest) -> bool:
        """Rename a complete, fsynced file to its blob name; hold the blob lock."""
        final = self.path(digest)
        if final.exists():
            return False
        final.parent.mkdir(parents=True, exist_ok=True)  # a pull may be the store's first blob
        os.replace(temp, final)
        fsync_dir(self.layout.blobs)
        if temp.parent != self.layout.blobs:  # a partial or an upload: its name is gone too
            fsync_dir(temp.parent)
        return True

    @contextlib.contextmanager
    def lock(self, digest: Digest) -> Iterator[None]:
        """The blob lock: "is it there yet? then publish it" happens once at a time."""
        with locks.transient(self.layout.blob_lock(digest)):
            yield

    @contextlib.contextmanager
    def temp(self) -> Iterator[Path]:
        """A fresh temp path in the blobs folder (not created), removed on the way out."""
        with storage_errors(self.layout.blobs):
            self.layout.blobs.mkdir(parents=True, exist_ok=True)
        temp = self.layout.blobs / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            yield temp
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)

    def keep(self, digest: Digest) -> bool:
        """Refresh a reused blob's ctime so gc's grace period covers it until a manifest names
        it, carrying its hash-cache entry over; False if the blob is not there."""
        path = self.path(digest)
        try:
            before = os.stat(path)
            os.chmod(path, stat.S_IMODE(before.st_mode))
            after = os.stat(path)
        except FileNotFoundError:
            return False
        except OSError:
            return True  # a read-only store, or another account's blob: nothing to refresh
        if not moved(before, after) and self.cached(before) == digest:
            self.remember(after, digest)
        return True

    def cached(self, st: os.stat_result) -> Digest | None:
        """The hash cache's answer; it is advisory, so a damaged cache only costs a re-hash."""
        try:
            return self.cache.get(FileKey.of(st))
        except (StoreError, ValueError):  # unreadable, or a row that is not a digest
            return None

    def remember(self, st: os.stat_result, digest: Digest) -> None:
        """Record a stat in the hash cache (best effort: without it the next run re-hashes)."""
        with contextlib.suppress(StorageError):
            self.cache.put(FileKey.of(st), digest)

    def remember_user(self, path: Path, st: os.stat_result, digest: Digest) -> None:
        """Record a user's file, once a write to it must show in its stat."""
        if settled(path, st, digest):
            self.remember(st, digest)


def moved(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether a file's content may differ between two stats of it (ctime aside: lamina's own
    link, unlink and chmod move it)."""
    return _content_key(before) != _content_key(after)


def _content_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
