"""Upload sessions: a server's blob whose digest is known only when the upload ends.

    .lamina/uploads/<id>     the bytes so far; the session's offset is the file's size

The id is made here (``secrets.token_urlsafe``) and checked whenever it comes back from a
client, so it can never name another path. Chunks are appended in order under an exclusive
``flock`` on the file, so requests of one session in several threads or processes take turns;
each is hashed as it is written (on other threads, going on while the next chunk arrives:
see ``appender``), and a session found again by a new process re-hashes the bytes it did not
see, once. Commit is the store's one publish step (wait for the hashing, verify, fsync, rename
into ``blobs/`` under the blob lock); a digest that does not match ends the session with
nothing published. A session idle for longer than its ``ttl`` has expired: it is unknown from
then on, and ``gc`` deletes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import threading
import time
from collections.abc import Iterator, Sequence

from ocitypes import Digest
from ocitypes.errors import RangeInvalid

from .. import locks
from ..errors import DigestMismatch, StorageError, UploadNotFound, storage_errors
from ..hashcache import CHUNK_SIZE, Hasher
from .appender import Appender
from .shelf import BLOB_MODE, Shelf

UPLOAD_TTL = 3600.0
"""A session idle this long has expired (the same hour as gc's default grace period)."""

_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")
Buffer = bytes | bytearray | memoryview


def begin(shelf: Shelf, *, ttl: float = UPLOAD_TTL) -> Upload:
    """A new, empty upload session."""
    import secrets  # here: it loads hashlib and hmac, which reading a store does not need

    folder = shelf.layout.uploads
    with storage_errors(folder, "cannot start an upload"):
        folder.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_urlsafe(24)
        os.close(os.open(folder / upload_id, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BLOB_MODE))
    return Upload(shelf, upload_id, ttl)


def resume(shelf: Shelf, upload_id: str, *, ttl: float = UPLOAD_TTL) -> Upload:
    """The session with this id; ``UploadNotFound`` if there is none or it expired."""
    if not isinstance(upload_id, str) or not _ID.fullmatch(upload_id):
        raise UploadNotFound(str(upload_id)[:200], "not an upload id lamina made")
    upload = Upload(shelf, upload_id, ttl)
    upload.offset  # noqa: B018  (raises if the session is gone or expired)
    return upload


class Upload:
    """One upload session; satisfies ``registry.protocols.UploadSession``."""

    def __init__(self, shelf: Shelf, upload_id: str, ttl: float) -> None:
        self._shelf = shelf
        self._id = upload_id
        self._ttl = ttl
        self._path = shelf.layout.upload(upload_id)
        self._mutex = threading.Lock()  # threads of this process; flock orders processes
        self._hasher = Hasher()
        self._appender = Appender(self._path)
        self._covered: int | None = 0
        """The bytes the hasher has seen once the appender settles; None after a failure."""
        self.rehashed = 0
        """Bytes read back to hash them: those a session found again had before."""

    @property
    def id(self) -> str:
        return self._id

    @property
    def offset(self) -> int:
        with self._mutex, self._locked() as fd:
            return os.fstat(fd).st_size

    def write(self, chunk: Buffer | Sequence[Buffer], *, at: int | None = None) -> int:
        """Append ``chunk`` (or several buffers, in order); with ``at``, ``RangeInvalid``
        unless it is the current offset."""
        views = _views(chunk)
        with self._mutex, self._locked() as fd:
            size = os.fstat(fd).st_size
            if at is not None and at != size:
                raise RangeInvalid(size, at)
            self._catch_up(fd, size)
            self._covered = None
            with storage_errors(self._path, "cannot write the upload"):
                written = self._appender.append(fd, views, self._hasher, size)
            self._covered = size + written
            return size + written

    def commit(self, digest: Digest) -> None:
        """Publish the bytes as ``digest``; ``DigestMismatch`` (nothing published) if they
        hash to something else. The session ends either way."""
        with self._mutex, self._locked() as fd:
            self._appender.settle()
            self._catch_up(fd, os.fstat(fd).st_size)
            actual = self._hasher.digest()
            if actual != digest:
                self._delete()
                raise DigestMismatch(str(digest), str(actual), what=f"upload {self._id}")
            if not self._shelf.publish(fd, self._path, actual, digest):
                self._delete()  # another upload published the same blob first

    def abort(self) -> None:
        """Drop the session and its bytes."""
        with self._mutex, self._locked():
            self._delete()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The session's file, opened and locked; ``UploadNotFound`` if it is gone or expired."""
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_APPEND | os.O_CLOEXEC)
        except FileNotFoundError as exc:
            raise UploadNotFound(self._id) from exc
        except OSError as exc:
            raise StorageError.from_oserror(exc, self._path, "cannot open the upload") from exc
        try:
            with storage_errors(self._path, "cannot lock the upload"):
                fcntl.flock(fd, fcntl.LOCK_EX)
            if not locks.is_current(self._path, fd):  # committed or aborted meanwhile
                raise UploadNotFound(self._id)
            if os.fstat(fd).st_mtime < time.time() - self._ttl:
                self._delete()
                raise UploadNotFound(self._id, "it expired")
            yield fd
        finally:
            _close(fd)

    def _catch_up(self, fd: int, size: int) -> None:
        """Hash the bytes this object has not seen (written by an earlier process, or by a
        write that failed midway); the hashing of this object's own writes may go on."""
        if self._covered == size:
            return
        self._appender.settle()
        if self._hasher.size > size:  # a write that failed midway was hashed whole: start over
            self._hasher = Hasher()
        if self._hasher.size == size:
            self._covered = size
            return
        buffer = bytearray(CHUNK_SIZE)
        view = memoryview(buffer)
        with storage_errors(self._path, "cannot read the upload"):
            while self._hasher.size < size:
                count = os.preadv(fd, [view[:size - self._hasher.size]], self._hasher.size)
                if count == 0:
                    break
                self._hasher.update(view[:count])
                self.rehashed += count
        self._covered = self._hasher.size

    def _delete(self) -> None:
        with storage_errors(self._path, "cannot delete the upload"):
            self._path.unlink(missing_ok=True)


def _close(fd: int) -> None:
    """Close an upload's file; once it is deleted, on another thread: the last close frees
    its blocks, a good part of a second for a large file (more where the file system discards
    freed blocks), which a client whose blob was already stored should not wait for."""
    try:
        deleted = os.fstat(fd).st_nlink == 0
    except OSError:
        deleted = False
    if not deleted:
        os.close(fd)
        return
    fcntl.flock(fd, fcntl.LOCK_UN)  # a process waiting for the lock learns at once it is gone
    threading.Thread(target=os.close, args=(fd,), name="lamina-drop-upload", daemon=True).start()


def _views(chunk: Buffer | Sequence[Buffer]) -> list[memoryview]:
    buffers = [chunk] if isinstance(chunk, (bytes, bytearray, memoryview)) else chunk
    return [memoryview(buffer).cast("B") for buffer in buffers]
