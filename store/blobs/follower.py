"""The hasher of a partial blob: the contiguous written prefix, hashed once, in order.

Two ways in. A stream that continues the prefix (a pull's leading part, the usual case) hands
its buffers over as they come, before it writes them (:meth:`PrefixHasher.feed`), so its
bytes are hashed from memory: written with direct I/O, they are in no page cache to read back.
Bytes written out of order (a later part, or an earlier process's) are read back from the
file by a thread of the hasher's own once the prefix reaches them, a window at a time
(:data:`WINDOW` bytes, mapped and hashed in place), so no caller's buffer is kept and memory
stays flat whatever order the parts arrive in. Hashing releases the GIL, so it runs on a core
of its own while writers receive and write.
"""

from __future__ import annotations

import mmap
import os
import threading

from ..hashcache import Hasher
from .ranges import RangeSet

__all__ = ["WINDOW", "PrefixHasher"]

WINDOW = 8 * 1024 * 1024
"""Bytes mapped at once: large enough to hash at full speed, small enough to stay out of RSS."""

_WILLNEED: int | None = getattr(os, "POSIX_FADV_WILLNEED", None)


class PrefixHasher:
    """Hashes ``fd`` from byte 0 up to the prefix it is told of, on a thread of its own.

    ``earlier`` names the bytes an earlier process wrote, to count how many of them were read
    back (:attr:`reread`). It holds no reference to its owner, so an owner dropped without
    closing is still collected (and stops it).
    """

    def __init__(self, fd: int, hasher: Hasher, earlier: RangeSet) -> None:
        self._fd = fd
        self._hasher = hasher
        self._earlier = earlier
        self.reread = 0
        """Bytes hashed that an earlier process wrote."""
        self._changed = threading.Condition()
        self._target = 0
        self._hashed = 0
        self._fed_from: int | None = None  # a feeder's bytes start here: never read back
        self._busy = False  # someone is hashing the bytes after ``_hashed``
        self._stopping = False
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def hashed(self) -> int:
        """Bytes hashed so far (from byte 0)."""
        with self._changed:
            return self._hashed

    def reach(self, end: int) -> None:
        """The prefix now reaches ``end``: hash up to there (in the background)."""
        with self._changed:
            if end <= self._target:
                return
            self._target = end
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="lamina-partial-hash", daemon=True
                )
                self._thread.start()
            self._changed.notify_all()

    def begin_feed(self, offset: int) -> bool:
        """Offer to hand over, in order, the bytes written from ``offset`` on; True if they
        continue the prefix (everything before is written), so they will be fed and never read
        back. One feeder at a time; end with :meth:`end_feed`."""
        with self._changed:
            if self._fed_from is not None or offset != self._target or self._stopping:
                return False
            self._fed_from = offset
            return True

    def feed(self, offset: int, data: memoryview) -> None:
        """Hash the feeder's next bytes (written now or about to be) once everything before is
        hashed."""
        with self._changed:
            while (self._hashed < offset or self._busy) and not self._halted():
                self._changed.wait()
            if self._halted():
                return
            if self._hashed != offset:
                raise ValueError(f"bytes at {offset} fed after the prefix reached {self._hashed}")
            self._busy = True
        try:
            self._hasher.update(data)
        finally:
            with self._changed:
                self._busy = False
                self._hashed = self._fed_from = offset + len(data)
                self._changed.notify_all()

    def end_feed(self) -> None:
        """The feeder is done: whatever it wrote and did not feed is read back."""
        with self._changed:
            self._fed_from = None
            self._changed.notify_all()

    def finish(self) -> None:
        """Wait until everything it was told of is hashed; raise what went wrong meanwhile."""
        with self._changed:
            while self._hashed < self._target and self._error is None and not self._stopping:
                self._changed.wait()
        self.stop()
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Let the thread end, hashing nothing more; safe to call again."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _halted(self) -> bool:
        return self._stopping or self._error is not None

    def _limit(self) -> int:
        """How far the thread may read back: the prefix, short of a feeder's bytes."""
        return self._target if self._fed_from is None else min(self._target, self._fed_from)

    def _run(self) -> None:
        try:
            while True:
                with self._changed:
                    while (self._busy or self._hashed >= self._limit()) and not self._stopping:
                        self._changed.wait()
                    if self._stopping:
                        return
                    start, end = self._hashed, min(self._limit(), self._hashed + WINDOW)
                    self._busy = True
                try:
                    self._hash(start, end)
                finally:
                    self.reread += sum(max(0, min(e, end) - max(s, start))
                                       for s, e in self._earlier)
                    with self._changed:
                        self._busy = False
                        self._hashed = end
                        self._changed.notify_all()
        except BaseException as exc:  # handed to finish(): a thread cannot raise
            with self._changed:
                self._error = exc
                self._changed.notify_all()

    def _hash(self, start: int, end: int) -> None:
        """Hash ``[start, end)`` through a read-only mapping (page-aligned, as mmap wants).
        Bytes written with direct I/O are in no page cache: the disk is asked for this window
        and the next at once, rather than a few pages per fault."""
        if _WILLNEED is not None:
            os.posix_fadvise(self._fd, start, 2 * WINDOW, _WILLNEED)
        base = start - start % mmap.ALLOCATIONGRANULARITY
        with (mmap.mmap(self._fd, end - base, prot=mmap.PROT_READ, offset=base) as window,
              memoryview(window) as view, view[start - base:] as piece):
            self._hasher.update(piece)
