"""Partial blobs: a pull's blob of known digest and size, written in parts, in any order.

    .lamina/partial/sha256-<hex>.part     pre-sized to the blob's size, parts written in place
    .lamina/partial/sha256-<hex>.ranges   a header line, then "start end" per finished range

Durable progress: parts are batched (:data:`FLUSH_BYTES`, :data:`FLUSH_SECONDS`); a flush
fsyncs the bytes first and only then appends their ranges to the record and fsyncs it. After a
``kill -9`` or a power cut every range the record names is on disk, so a new process asks
:meth:`PartialBlob.missing` and fetches only that. A torn last line is ignored (its bytes are
fetched again).

One process at a time: :func:`open_partial` takes an exclusive ``flock`` on the ``.part`` file
and keeps it until commit, abort or close. A second process waits, then continues where the
first stopped, or finds the blob published. Within a process, :meth:`PartialBlob.write_at` may
be called from any number of threads.

Two ways to write. :meth:`PartialBlob.write_at` writes a caller's buffer through the page
cache. :meth:`PartialBlob.receive` takes a stream (a socket's ``readinto``) through a few
aligned buffers of its own (:mod:`.pipeline`) and writes them with direct I/O where the file
system allows: on the machines measured the page cache's writeback ran at a third of the
disk's direct speed, so a durable pull through it could not keep up with the network.

Hashed once, in order (:class:`~store.blobs.follower.PrefixHasher`): a stream that continues
the written prefix has its buffers hashed from memory as they are written; bytes written out
of order, or by an earlier process, are read back from the file once the prefix reaches them.
No part is kept in memory for later, and a caller may reuse its buffer as soon as
:meth:`PartialBlob.write_at` returns.

Commit is the store's one publish step: verify, fsync, rename into ``blobs/`` under the blob
lock. Bytes that do not hash to the digest are dropped, and nothing is published.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ocitypes import Digest

from .. import locks
from ..errors import (
    DigestMismatch,
    PartialIncomplete,
    PartialRangeInvalid,
    storage_errors,
)
from ..hashcache import Hasher
from ..link import fsync_dir, write_all
from .follower import PrefixHasher
from .pipeline import Pipeline, ReadInto
from .ranges import Range, RangeSet
from .shelf import BLOB_MODE, Shelf

MiB = 1024 * 1024
FLUSH_BYTES = 64 * MiB
"""Record finished ranges at least this often (in bytes written): what a crash may cost."""
FLUSH_SECONDS = 1.0
"""…and at least this often in time, so a slow pull keeps its progress too."""

DIRECT_ALIGN = 4096
"""Direct writes go in whole multiples of this, at offsets that are (the page size: it covers
the block size of the disks lamina meets)."""
STREAM_BUFFER = 4 * MiB
"""Bytes of each of a stream's buffers: one socket read fills it, one direct write empties it."""
LEAD_BUFFERS = 3
"""Buffers of a stream whose bytes are hashed as they come (12 MiB): one filling, one being
written, one being hashed. More only cost: each is fresh memory to back, and the further the
reader runs ahead, the colder the bytes the hasher reads (hashing memory another core wrote
a while ago ran at two thirds of its speed on cached bytes here). A 2 GiB pull from a local
registry, medians of 8: 1.89 s with 3 * 4 MiB, 2.02 s with 4 * 6 MiB, 2.18 s with 8 * 8 MiB;
2 buffers starve the hasher. A pull's most, with three more streams: 3 + 3 * 2 buffers."""
SIDE_BUFFERS = 2
"""Buffers of a stream ahead of the prefix: written only, so two keep the disk busy."""

_FORMAT = "lamina-partial 1"
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)
_fdatasync = getattr(os, "fdatasync", os.fsync)  # macOS has fsync only


def open_partial(shelf: Shelf, digest: Digest, size: int) -> PartialBlob:
    """The partial blob for ``digest``, continuing what an earlier process left; waits while
    another process holds it."""
    if size < 0:
        raise ValueError(f"a blob cannot have {size} bytes")
    layout = shelf.layout
    path = layout.partial(digest)
    with storage_errors(layout.partials):
        layout.partials.mkdir(parents=True, exist_ok=True)
    while True:
        if shelf.exists(digest):
            return PartialBlob(shelf, digest, size, None, None, RangeSet([(0, size)]))
        with storage_errors(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, BLOB_MODE)
        try:
            with storage_errors(path, "cannot lock the partial blob"):
                fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd closes, whatever happens
            if locks.is_current(path, fd):  # not committed or aborted while we waited
                return _continue(shelf, digest, size, fd)
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)


def _continue(shelf: Shelf, digest: Digest, size: int, fd: int) -> PartialBlob:
    layout = shelf.layout
    path, record = layout.partial(digest), layout.partial_ranges(digest)
    if shelf.exists(digest):  # published by another writer (a stream, an upload)
        _unlink(path, record)
        os.close(fd)
        return PartialBlob(shelf, digest, size, None, None, RangeSet([(0, size)]))
    with storage_errors(path):
        finished = read_record(record, digest, size)
        if os.fstat(fd).st_size != size:  # a fresh file, or one begun for another size
            finished = RangeSet()
            os.ftruncate(fd, size)
        record_fd = _rewrite_record(record, digest, size, finished)
    return PartialBlob(shelf, digest, size, fd, record_fd, finished)


class PartialBlob:
    """One blob being fetched in parts; satisfies ``registry.protocols.PartialBlob``."""

    def __init__(
        self, shelf: Shelf, digest: Digest, size: int, fd: int | None, record_fd: int | None,
        finished: RangeSet,
    ) -> None:
        self._shelf = shelf
        self._digest = digest
        self._size = size
        self._fd = fd
        self._record_fd = record_fd
        self._path = shelf.layout.partial(digest)
        self._record = shelf.layout.partial_ranges(digest)
        self._stored = fd is None  # the blob was in the store already
        self._lock = threading.Lock()  # guards the state below
        self._flush_lock = threading.Lock()
        self._done = finished  # every byte written, durable or not
        self._pending = RangeSet()  # written, not yet recorded
        self._inflight = RangeSet()
        self._writes_done = threading.Condition(self._lock)  # notified as _inflight shrinks
        self._hasher = Hasher()
        # A copy of what earlier processes wrote: ``_done`` grows.
        self._follower = None if fd is None else PrefixHasher(fd, self._hasher, RangeSet(finished))
        self._direct_fd: int | None = None
        self._direct = bool(_O_DIRECT)  # until the file system refuses it
        self._follow(finished.end_of_run(0))  # an earlier process's prefix: hash it meanwhile
        self._last_flush = time.monotonic()
        self._flusher: threading.Thread | None = None
        self._flush_error: BaseException | None = None
        self.resumed = finished.total if fd is not None else 0
        """Bytes an earlier process had finished."""
        self.written = 0
        """Bytes :meth:`write_at` wrote in this process."""

    @property
    def digest(self) -> Digest:
        return self._digest

    @property
    def size(self) -> int:
        return self._size

    @property
    def reread(self) -> int:
        """Bytes hashed that an earlier process wrote (each once)."""
        return 0 if self._follower is None else self._follower.reread

    def missing(self) -> list[Range]:
        """The byte ranges not yet written, in order."""
        with self._lock:
            return self._done.gaps(self._size)

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``offset``; its range is recorded as finished at the next flush."""
        self._raise_flush_error()
        self._write(offset, memoryview(data).cast("B"), direct=False)

    def receive(self, offset: int, end: int, readinto: ReadInto,
                progress: Callable[[int], None] | None = None) -> int:
        """Write what ``readinto`` produces from ``offset`` on, until ``end`` or until it runs
        dry; returns the offset reached. Every buffer written counts as :meth:`write_at`'s do
        (recorded at the next flush), also when ``readinto`` or a write fails halfway."""
        self._raise_flush_error()
        self._require_fd()
        assert self._follower is not None  # a partial with a file has a hasher
        leading = self._follower.begin_feed(offset)
        pipeline = Pipeline(
            lambda at, view: self._write(at, view, direct=True),
            self._follower.feed if leading else None,
            buffers=LEAD_BUFFERS if leading else SIDE_BUFFERS,
            size=STREAM_BUFFER,
        )
        try:
            return pipeline.run(readinto, offset, end, progress)
        finally:
            if leading:
                self._follower.end_feed()

    def _write(self, start: int, view: memoryview, *, direct: bool) -> None:
        """Write one buffer and count it as written; ``direct``: its memory is page-aligned."""
        end = start + len(view)
        self._claim(start, end)
        try:
            with storage_errors(self._path, "cannot write the partial blob"):
                at, rest = self._write_direct(start, view) if direct else (start, view)
                _pwrite_all(self._require_fd(), rest, at)
        except BaseException:
            with self._lock:
                self._inflight.subtract(start, end)
                self._writes_done.notify_all()
            raise
        with self._lock:
            self._inflight.subtract(start, end)
            self._writes_done.notify_all()
            self._done.add(start, end)
            self._pending.add(start, end)
            self.written += len(view)
            prefix = self._done.end_of_run(0)
            due = (self._pending.total >= FLUSH_BYTES
                   or time.monotonic() - self._last_flush >= FLUSH_SECONDS)
        self._follow(prefix)
        if due:
            self._flush_in_background()

    def _write_direct(self, offset: int, view: memoryview) -> tuple[int, memoryview]:
        """Write the block-aligned front of ``view`` with direct I/O where the file system
        takes it; what is left to write through the page cache, and where."""
        whole = len(view) // DIRECT_ALIGN * DIRECT_ALIGN
        fd = self._direct_descriptor() if whole and offset % DIRECT_ALIGN == 0 else None
        if fd is None:
            return offset, view
        try:
            _pwrite_all(fd, view[:whole], offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self._direct = False  # refused after all: the whole buffer goes buffered
            return offset, view
        return offset + whole, view[whole:]

    def _direct_descriptor(self) -> int | None:
        """A second descriptor of the file, opened for direct I/O (None where refused)."""
        with self._lock:
            if not self._direct:
                return None
            if self._direct_fd is not None:
                return self._direct_fd
            try:
                self._direct_fd = os.open(self._path, os.O_WRONLY | os.O_CLOEXEC | _O_DIRECT)
            except OSError as exc:
                if exc.errno not in (errno.EINVAL, errno.EOPNOTSUPP):
                    raise
                self._direct = False
            return self._direct_fd

    def flush(self, *, wait: bool = True) -> None:
        """Make written parts durable, then record their ranges as finished."""
        if not self._flush_lock.acquire(blocking=wait):
            return  # another thread is flushing
        try:
            with self._lock:
                batch = list(self._pending)
                self._last_flush = time.monotonic()
            if not batch or self._fd is None or self._record_fd is None:
                return
            with storage_errors(self._path, "cannot save the partial blob"):
                _fdatasync(self._fd)  # the bytes first: the record must never run ahead
                lines = "".join(f"{s} {e}\n" for s, e in batch).encode()
                write_all(self._record_fd, memoryview(lines))
                os.fsync(self._record_fd)
            with self._lock:
                for start, end in batch:
                    self._pending.subtract(start, end)
        finally:
            self._flush_lock.release()

    def commit(self) -> None:
        """Verify the whole blob and publish it; ``DigestMismatch`` drops the bytes."""
        if self._stored:
            self._shelf.keep(self._digest)
            return
        fd = self._require_fd()
        self._settle()
        with self._lock:
            missing = self._done.gaps(self._size)
        if missing:
            raise PartialIncomplete(str(self._digest), sum(e - s for s, e in missing))
        self._follow(self._size)
        assert self._follower is not None  # a partial with a file has a hasher
        with storage_errors(self._path, "cannot read the partial blob back to hash it"):
            self._follower.finish()
        actual = self._hasher.digest()
        if actual != self._digest:
            self.abort()
            raise DigestMismatch(str(self._digest), str(actual), what="pulled blob")
        if not self._shelf.publish(fd, self._path, actual, self._digest):
            _unlink(self._path)  # another writer published it first
        _unlink(self._record)
        self._close()

    def abort(self) -> None:
        """Drop the partial file and its record."""
        self._join_flusher()
        if self._fd is not None:
            _unlink(self._path, self._record)  # before closing: we still hold the lock
        self._close()

    def close(self) -> None:
        """Flush and let go, keeping what was written for a later process. A write under way
        on another thread (a stream told to stop) is waited for, and recorded too."""
        try:
            if self._fd is not None:
                with self._lock:
                    self._wait_for_writes()
                self._settle()
        finally:
            self._close()

    def __enter__(self) -> PartialBlob:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A partial dropped without close (a pull that failed) keeps what it wrote for the
        # next try, and lets go of its lock and descriptors.
        if getattr(self, "_fd", None) is None:
            return
        with contextlib.suppress(Exception):
            self.flush()
        with contextlib.suppress(Exception):
            self._close()

    # -- internals ---------------------------------------------------------------------------

    def _flush_in_background(self) -> None:
        """Flush on a thread of its own: an fsync may take a while, and writers go on."""
        with self._lock:
            if self._flusher is not None and self._flusher.is_alive():
                return
            self._flusher = threading.Thread(
                target=self._background_flush, name="lamina-partial-flush", daemon=True
            )
            self._flusher.start()

    def _background_flush(self) -> None:
        try:
            while True:  # parts written meanwhile are recorded too, even if no write follows
                self.flush()
                with self._lock:
                    if not self._pending or self._fd is None:
                        return
        except BaseException as exc:  # handed to the next caller: a thread cannot raise
            self._flush_error = exc

    def _join_flusher(self) -> None:
        flusher = self._flusher
        if flusher is not None and flusher is not threading.current_thread():
            flusher.join()

    def _raise_flush_error(self) -> None:
        error, self._flush_error = self._flush_error, None
        if error is not None:
            raise error

    def _settle(self) -> None:
        """Wait for a background flush, report its failure, and flush what is left."""
        self._join_flusher()
        self._raise_flush_error()
        self.flush()

    def _claim(self, start: int, end: int) -> None:
        with self._lock:
            self._require_fd()
            if start < 0 or end > self._size:
                raise PartialRangeInvalid(
                    str(self._digest), start, end, f"the blob has {self._size} bytes"
                )
            if self._done.overlaps(start, end) or self._inflight.overlaps(start, end):
                raise PartialRangeInvalid(
                    str(self._digest), start, end, "some of them are written already"
                )
            self._inflight.add(start, end)

    def _require_fd(self) -> int:
        if self._fd is None:
            why = "the blob is stored already" if self._stored else "the partial blob is closed"
            raise PartialRangeInvalid(str(self._digest), 0, self._size, why)
        return self._fd

    def _follow(self, prefix: int) -> None:
        """Tell the hasher how far the written prefix reaches."""
        if self._follower is not None:
            self._follower.reach(prefix)

    def _wait_for_writes(self) -> None:
        """Until no write is under way; the caller holds ``_lock``. Interrupted (Ctrl-C), it
        raises, and the descriptors stay open: a write must never go through a number that a
        new file then reuses."""
        while self._inflight:
            self._writes_done.wait()

    def _close(self) -> None:
        self._join_flusher()  # it writes through the descriptors closed below
        if self._follower is not None:
            self._follower.stop()  # it maps the file through the descriptor closed below
        with self._lock:
            self._wait_for_writes()  # and so do writes under way
            fds = self._fd, self._record_fd, self._direct_fd
            self._fd = self._record_fd = self._direct_fd = None
        for fd in fds:
            if fd is not None:
                os.close(fd)


def read_record(record: Path, digest: Digest, size: int) -> RangeSet:
    """The finished ranges a record names; none if it is missing or for another blob."""
    try:
        text = record.read_bytes()
    except FileNotFoundError:
        return RangeSet()
    lines = text.split(b"\n")[:-1]  # the last piece has no newline: empty, or a torn line
    if not lines or lines[0] != f"{_FORMAT} {digest} {size}".encode():
        return RangeSet()
    finished = RangeSet()
    for line in lines[1:]:
        fields = line.split()
        if len(fields) != 2 or not all(f.isdigit() for f in fields):
            break
        start, end = int(fields[0]), int(fields[1])
        if not 0 <= start < end <= size:
            break
        finished.add(start, end)
    return finished


def _rewrite_record(record: Path, digest: Digest, size: int, finished: RangeSet) -> int:
    """Write the record afresh, compacted (atomically), and open it for appending."""
    text = f"{_FORMAT} {digest} {size}\n" + "".join(f"{s} {e}\n" for s, e in finished)
    temp = record.with_name(record.name + ".new")  # only the lock holder writes it
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        write_all(fd, memoryview(text.encode()))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, record)
    fsync_dir(record.parent)
    return os.open(record, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)


def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
    while view:
        count = os.pwrite(fd, view, offset)
        view, offset = view[count:], offset + count


def _unlink(*paths: Path) -> None:
    for path in paths:
        with storage_errors(path, "cannot delete"), contextlib.suppress(FileNotFoundError):
            path.unlink()

