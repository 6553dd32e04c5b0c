"""The blob store: files named by their SHA-256 under ``blobs/``, published only when complete.

Every write goes to a temp file beside its target (``blobs/.tmp-…``), is hashed on the way in,
fsynced, and then renamed to ``blobs/sha256-<hex>`` unless another writer got there first; the
folder is fsynced after. A crash leaves at most a temp file, which ``stale_temps`` finds.

Locking: a **blob lock** per digest (``filelock`` on ``layout.blob_lock``) guards "is it there
yet? then publish it", and when the digest is known up front (a pull) it is held for the whole
write, so two processes fetching one blob fetch it once. The blob store never takes the store
lock: ``Store`` holds it shared from a create's first blob to its manifest, and exclusively for
rm and gc, which also spare blobs and temp files younger than their grace period by ctime (which
publishing, linking, writing and reuse refresh). So a blob published but not yet named by a
manifest, or a temp file still being written, is safe.

Imported user files are placed with ``link.link_file`` (reflink, then hardlink, then copy). A
hardlinked blob is the user's own inode: it is made read-only (0444) and its stat is recorded in
the hash cache, so ``check`` can tell an untouched blob from an edited one without reading
it (``verify`` always re-hashes). A resumable writer (partial
files beside the target, for pulls) will reuse ``_publish`` when it comes.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ocitypes import Digest

from .errors import (
    BlobNotFound,
    DigestMismatch,
    SourceChanged,
    StorageError,
    StoreError,
    storage_errors,
)
from .hashcache import FileKey, HashCache, Hasher, Progress, settled
from .layout import TEMP_PREFIX, Layout
from .link import DEFAULT_METHODS, LinkMethod, fsync_dir, link_file, write_all

__all__ = ["BlobInfo", "BlobStore", "ImportResult", "Progress"]

Chunk = bytes | bytearray | memoryview

BLOB_MODE = 0o644
"""Mode of a blob lamina wrote, as Ollama leaves its blobs."""

LINKED_MODE = 0o444
"""Mode of a blob that is also the user's file: read-only, so an ordinary edit fails loudly."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int


@dataclass(frozen=True, slots=True)
class ImportResult:
    digest: Digest
    size: int
    method: LinkMethod | None
    """How the blob was placed, or None when the store already had it."""
    hashed: bool
    """False when the hash cache answered and the file was not read."""


class BlobStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.cache = HashCache(layout.hash_cache)

    def path(self, digest: Digest) -> Path:
        return self.layout.blob(digest)

    def exists(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        """The size of a stored blob in bytes."""
        return self._stat(digest).st_size

    def open(self, digest: Digest) -> BinaryIO:
        """Open a stored blob for reading."""
        with self._blob_errors(digest):
            return open(self.path(digest), "rb")

    def read_bytes(self, digest: Digest) -> bytes:
        """A small blob's bytes (a config, template or params); BlobNotFound if absent."""
        with self._blob_errors(digest):
            return self.path(digest).read_bytes()

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store a small blob held in memory (a config, template or params)."""
        return self.put_stream((data,))

    def put_stream(
        self,
        chunks: Iterable[Chunk],
        *,
        expected: Digest | None = None,
        progress: Progress | None = None,
    ) -> BlobInfo:
        """Store the concatenated chunks; with ``expected``, publish them only if they match.

        When ``expected`` is already stored the chunks are not read. Errors raised by the
        chunks' iterator propagate unchanged.
        """
        if expected is None:
            return self._write(chunks, None, progress)
        with self._blob_lock(expected):
            if self._keep(expected):
                return BlobInfo(expected, self.size(expected))
            return self._write(chunks, expected, progress)

    def import_file(
        self, src: Path, *, progress: Progress | None = None, allow_link: bool = True
    ) -> ImportResult:
        """Store a user's file, sharing its blocks or inode instead of copying when possible."""
        src = Path(src)
        with storage_errors(src):
            before = os.stat(src)
        if not stat.S_ISREG(before.st_mode):
            raise StorageError(str(src), "not a regular file; give the path of a GGUF file")
        known = self._cached(before)
        if known is not None and self._keep(known):
            return ImportResult(known, before.st_size, None, hashed=False)
        allow = DEFAULT_METHODS if allow_link else frozenset({LinkMethod.COPY})
        hasher = Hasher(progress)
        with storage_errors(self.layout.blobs), self._temp() as temp:
            method = link_file(src, temp, allow=allow, on_copy_chunk=hasher.update)
            seen = self._hash_placed(src, temp, before, method, hasher)
            digest = hasher.digest()
            with self._blob_lock(digest):
                published = self._publish_import(src, temp, digest, method, seen)
            if not published:
                self._keep(digest)
        with storage_errors(src):
            self._remember_import(src, digest, method, before, seen, published=published)
        return ImportResult(digest, hasher.size, method if published else None, hashed=True)

    def check(self, digest: Digest, *, progress: Progress | None = None) -> bool:
        """Verify a blob cheaply: trust an unchanged stat, re-hash otherwise; True if re-hashed."""
        if self._cached(self._stat(digest)) == digest:
            return False
        self.verify(digest, progress=progress)
        return True

    def verify(self, digest: Digest, *, progress: Progress | None = None) -> None:
        """Re-hash a stored blob; DigestMismatch if its bytes no longer match its name."""
        path = self.path(digest)
        hasher = Hasher(progress)
        with self._blob_errors(digest):
            fd = os.open(path, os.O_RDONLY)
            try:
                before = os.fstat(fd)
                hasher.update_from(fd)
                after = os.fstat(fd)
            finally:
                os.close(fd)
        actual = hasher.digest()
        if actual != digest:
            raise DigestMismatch(str(digest), str(actual), what=str(path))
        if not _moved(before, after):
            if after.st_nlink == 1:
                self._remember(after, digest)
            else:  # also a user's file
                self._remember_user(path, after, digest)

    def remove(self, digest: Digest) -> None:
        """Delete a blob; the caller holds the store lock and knows no manifest names it."""
        with self._blob_errors(digest):
            self.path(digest).unlink()
            fsync_dir(self.layout.blobs)

    def digests(self) -> Iterator[Digest]:
        """Every blob in the folder, by the digest its file name spells."""
        for path in self._entries():
            digest = self.layout.digest_of_blob_file(path)
            if digest is not None and path.is_file():
                yield digest

    def stale_temps(self, *, older_than: float) -> list[Path]:
        """Temp files nobody has touched for ``older_than`` seconds (by ctime: a hardlinked
        temp keeps the user's old mtime but gets a fresh ctime when linked)."""
        cutoff = time.time() - older_than
        stale = []
        for path in self._entries():
            if not path.name.startswith(TEMP_PREFIX):
                continue
            with contextlib.suppress(FileNotFoundError):
                if path.lstat().st_ctime <= cutoff:
                    stale.append(path)
        return stale

    # -- writing ---------------------------------------------------------------------------

    def _write(
        self, chunks: Iterable[Chunk], expected: Digest | None, progress: Progress | None
    ) -> BlobInfo:
        hasher = Hasher(progress)
        with self._temp() as temp:
            with storage_errors(self.layout.blobs):
                fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BLOB_MODE)
            try:
                for chunk in chunks:
                    view = memoryview(chunk).cast("B")
                    hasher.update(view)
                    with storage_errors(self.layout.blobs):
                        write_all(fd, view)
                with storage_errors(self.layout.blobs):
                    os.fchmod(fd, BLOB_MODE)
                    os.fsync(fd)
            finally:
                os.close(fd)
            digest = hasher.digest()
            if expected is not None and digest != expected:
                raise DigestMismatch(str(expected), str(digest), what="blob")
            with storage_errors(self.layout.blobs):
                if expected is None:
                    with self._blob_lock(digest):
                        published = self._publish(temp, digest)
                else:
                    published = self._publish(temp, digest)
                if published:
                    self._remember(os.stat(self.path(digest)), digest)
                else:
                    self._keep(digest)
        return BlobInfo(digest, hasher.size)

    def _hash_placed(
        self, src: Path, temp: Path, before: os.stat_result, method: LinkMethod, hasher: Hasher
    ) -> os.stat_result:
        """Hash what ``link_file`` placed (a copy was hashed on the way) and make sure the
        source held still; return the source's stat as hashed."""
        fd = os.open(temp, os.O_RDONLY)
        try:
            if method is not LinkMethod.COPY:
                hasher.update_from(fd)
            os.fsync(fd)
            # A hardlink is the source itself; reflinks and copies are compared with it.
            after = os.fstat(fd) if method is LinkMethod.HARDLINK else os.stat(src)
        finally:
            os.close(fd)
        if _moved(before, after):
            raise SourceChanged(str(src), str(hasher.digest()))
        return after

    def _publish_import(
        self, src: Path, temp: Path, digest: Digest, method: LinkMethod, seen: os.stat_result
    ) -> bool:
        """Publish an imported temp file, holding the blob lock; False if already stored."""
        if self.exists(digest):
            return False
        if method is not LinkMethod.HARDLINK:
            os.chmod(temp, BLOB_MODE)
            return self._publish(temp, digest)
        # Read-only before the name exists, then make sure no write slipped in meanwhile. A
        # file we may write but do not own cannot be protected; detection still guards it.
        with contextlib.suppress(PermissionError):
            os.chmod(temp, LINKED_MODE)
        if _moved(seen, os.stat(temp)):
            with contextlib.suppress(PermissionError):
                os.chmod(temp, stat.S_IMODE(seen.st_mode))
            raise SourceChanged(str(src), str(digest))
        return self._publish(temp, digest)

    def _publish(self, temp: Path, digest: Digest) -> bool:
        """Rename a complete, fsynced temp file to its blob name; hold the blob lock."""
        final = self.path(digest)
        if final.exists():
            return False
        os.replace(temp, final)
        fsync_dir(self.layout.blobs)
        return True

    def _remember_import(
        self,
        src: Path,
        digest: Digest,
        method: LinkMethod,
        before: os.stat_result,
        seen: os.stat_result,
        *,
        published: bool,
    ) -> None:
        if method is LinkMethod.HARDLINK:
            # Linking, unlinking and chmod moved the ctime: record the stat as it is now.
            now = os.stat(src)
            if not _moved(seen, now):
                self._remember_user(src, now, digest)
            return
        self._remember_user(src, before, digest)
        if published:
            self._remember(os.stat(self.path(digest)), digest)

    def _keep(self, digest: Digest) -> bool:
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
        if not _moved(before, after) and self._cached(before) == digest:
            self._remember(after, digest)
        return True

    def _cached(self, st: os.stat_result) -> Digest | None:
        """The hash cache's answer; it is advisory, so a damaged cache only costs a re-hash."""
        try:
            return self.cache.get(FileKey.of(st))
        except (StoreError, ValueError):  # unreadable, or a row that is not a digest
            return None

    def _remember(self, st: os.stat_result, digest: Digest) -> None:
        """Record a stat in the hash cache (best effort: without it the next run re-hashes)."""
        with contextlib.suppress(StorageError):
            self.cache.put(FileKey.of(st), digest)

    def _remember_user(self, path: Path, st: os.stat_result, digest: Digest) -> None:
        """Record a user's file, once a write to it must show in its stat."""
        if settled(path, st, digest):
            self._remember(st, digest)

    @contextlib.contextmanager
    def _temp(self) -> Iterator[Path]:
        """A fresh temp path in the blobs folder (not created), removed on the way out."""
        with storage_errors(self.layout.blobs):
            self.layout.blobs.mkdir(parents=True, exist_ok=True)
        temp = self.layout.blobs / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
        try:
            yield temp
        finally:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)

    @contextlib.contextmanager
    def _blob_lock(self, digest: Digest) -> Iterator[None]:
        path = self.layout.blob_lock(digest)
        with storage_errors(path):
            path.parent.mkdir(parents=True, exist_ok=True)
        import filelock  # imported here: it costs 40 ms, and only writers lock blobs

        with filelock.FileLock(path):
            yield

    # -- reading ---------------------------------------------------------------------------

    def _stat(self, digest: Digest) -> os.stat_result:
        with self._blob_errors(digest):
            return os.stat(self.path(digest))

    @contextlib.contextmanager
    def _blob_errors(self, digest: Digest) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as exc:
            raise BlobNotFound(str(digest)) from exc
        except OSError as exc:
            raise StorageError.from_oserror(exc, self.path(digest)) from exc

    def _entries(self) -> Iterator[Path]:
        try:
            names = os.listdir(self.layout.blobs)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise StorageError.from_oserror(exc, self.layout.blobs) from exc
        for name in sorted(names):
            yield self.layout.blobs / name


def _moved(before: os.stat_result, after: os.stat_result) -> bool:
    """Whether a file's content may differ between two stats of it (ctime aside: lamina's own
    link, unlink and chmod move it)."""
    return _content_key(before) != _content_key(after)


def _content_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns
