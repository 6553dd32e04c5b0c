"""A readers-writer lock between lamina processes (and threads), on one lock file.

``create`` and ``cp`` hold it *shared* from their first blob until their manifest is written, so
any number run at once; ``rm``, ``gc`` and pruning hold it *exclusive*, so they never delete a
blob that a running create has just placed but not yet named in a manifest.

Built on ``flock`` by hand: each acquisition opens its own file description, so two threads of
one process exclude each other exactly as two processes do. filelock has no shared mode that
waits across threads, and its SQLite-backed ReadWriteLock raises instead of waiting when two
threads of one process ask for opposite modes (measured need: the coming registry server runs
requests on threads).

Blob locks are different: one per digest, held only while a blob is published (or, for a pull,
while it is written). Their files exist only while held (:func:`transient`): the holder unlinks
the file before letting go, and whoever waited on the old file sees that it is no longer the one
at the path and starts again. So lock files do not pile up under ``.lamina/locks``, and no two
unrelated blobs share a lock (striped locks would make two pulls wait on each other by chance).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import StorageError


@contextmanager
def shared(path: Path) -> Iterator[None]:
    """Hold the lock alongside other shared holders; wait while an exclusive holder has it."""
    with _flock(path, fcntl.LOCK_SH):
        yield


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold the lock alone; wait for every other holder to let go."""
    with _flock(path, fcntl.LOCK_EX):
        yield


@contextmanager
def shared_if_possible(path: Path) -> Iterator[None]:
    """Hold the lock shared if the store lets lamina open it, else go on without it: a look
    that changes nothing (``gc --dry-run``) must work on a read-only store, where no lock file
    can be made and no deleter can run either."""
    try:
        fd = _open(path)
    except StorageError:
        fd = None
    try:
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_SH)
        yield
    finally:
        if fd is not None:
            os.close(fd)


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    fd = _open(path)
    if fd is None:
        yield
        return
    try:
        try:
            fcntl.flock(fd, mode)
        except OSError as exc:  # ENOLCK on some network file systems
            raise StorageError.from_oserror(exc, path, "cannot lock the store") from exc
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock


def _open(path: Path) -> int | None:
    """A descriptor on the lock file; None on a read-only file system that has none, where no
    writer can run, so there is nothing to keep apart (``gc --dry-run`` on a read-only store)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise StorageError.from_oserror(exc, path, "cannot open the store lock") from exc
        try:
            return os.open(path, os.O_RDONLY)  # flock needs no write access
        except FileNotFoundError:
            if exc.errno == errno.EROFS:
                return None
        except OSError:
            pass
        raise StorageError.from_oserror(exc, path, "cannot open the store lock") from exc


@contextmanager
def transient(path: Path) -> Iterator[None]:
    """Hold an exclusive lock whose file exists only while someone holds it."""
    with _storage_errors(path):
        path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        with _storage_errors(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            with _storage_errors(path):
                fcntl.flock(fd, fcntl.LOCK_EX)
            if is_current(path, fd):
                try:
                    yield
                finally:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)  # before closing: nobody may lock this inode after us
                return
        finally:
            os.close(fd)


def remove_if_free(path: Path) -> bool:
    """Delete a lock file nobody holds (one a killed process left); False if it is held."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        if not is_current(path, fd):
            return False
        os.unlink(path)
        return True
    finally:
        os.close(fd)


def is_current(path: Path, fd: int) -> bool:
    """Whether ``fd`` is still the file at ``path`` (a lock holder may have unlinked it)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


@contextmanager
def _storage_errors(path: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise StorageError.from_oserror(exc, path, "cannot lock a blob") from exc
