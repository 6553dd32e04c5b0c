"""A readers-writer lock between lamina processes (and threads), on one lock file.

``create`` and ``cp`` hold it *shared* from their first blob until their manifest is written, so
any number run at once; ``rm``, ``gc`` and pruning hold it *exclusive*, so they never delete a
blob that a running create has just placed but not yet named in a manifest.

Built on ``flock`` by hand: each acquisition opens its own file description, so two threads of
one process exclude each other exactly as two processes do. filelock has no shared mode that
waits across threads, and its SQLite-backed ReadWriteLock raises instead of waiting when two
threads of one process ask for opposite modes (measured need: the coming registry server runs
requests on threads).
"""

from __future__ import annotations

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
def _flock(path: Path, mode: int) -> Iterator[None]:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StorageError.from_oserror(exc, path, "cannot open the store lock") from exc
    try:
        try:
            fcntl.flock(fd, mode)
        except OSError as exc:  # ENOLCK on some network file systems
            raise StorageError.from_oserror(exc, path, "cannot lock the store") from exc
        yield
    finally:
        os.close(fd)  # closing the last descriptor releases the lock
