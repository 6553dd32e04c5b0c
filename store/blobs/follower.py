"""The hasher of a partial blob: one thread that follows the contiguous written prefix.

Writers only ``pwrite`` their parts and say how far the prefix reaches; this thread reads the
prefix back from the file and feeds the hasher, so no caller's buffer is kept and memory stays
flat whatever order the parts arrive in. Bytes written moments ago are still in the page cache,
so reading them back costs a memory copy, not a disk read; they are mapped a window at a time
(:data:`WINDOW` bytes) and hashed in place, which saves even that copy. Hashing releases the
GIL, so the thread runs on a core of its own while writers receive and write.
"""

from __future__ import annotations

import mmap
import threading

from ..hashcache import Hasher
from .ranges import RangeSet

__all__ = ["WINDOW", "PrefixHasher"]

WINDOW = 8 * 1024 * 1024
"""Bytes mapped at once: large enough to hash at full speed, small enough to stay out of RSS."""


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

    def finish(self) -> None:
        """Wait until everything it was told of is hashed; raise what went wrong meanwhile."""
        with self._changed:
            while self._hashed < self._target and self._error is None:
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

    def _run(self) -> None:
        try:
            while True:
                with self._changed:
                    while self._hashed >= self._target and not self._stopping:
                        self._changed.wait()
                    if self._stopping:
                        return
                    start, end = self._hashed, min(self._target, self._hashed + WINDOW)
                self._hash(start, end)
                self.reread += sum(max(0, min(e, end) - max(s, start)) for s, e in self._earlier)
                with self._changed:
                    self._hashed = end
                    self._changed.notify_all()
        except BaseException as exc:  # handed to finish(): a thread cannot raise
            with self._changed:
                self._error = exc
                self._changed.notify_all()

    def _hash(self, start: int, end: int) -> None:
        """Hash ``[start, end)`` through a read-only mapping (page-aligned, as mmap wants)."""
        base = start - start % mmap.ALLOCATIONGRANULARITY
        with (mmap.mmap(self._fd, end - base, prot=mmap.PROT_READ, offset=base) as window,
              memoryview(window) as view, view[start - base:] as piece):
            self._hasher.update(piece)
