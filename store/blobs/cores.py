"""Where a pipeline's threads run: its hasher on a CPU of its own, the other stages elsewhere.

SHA-256 is serial, so on a machine short of cores the hasher sets a pipeline's pace, and each
moment another thread holds its CPU the whole pipeline waits. Left to the scheduler, a woken
reader was often queued behind the hasher while the other core sat idle. So a pipeline with a
hasher takes one CPU for it (the one its caller, about to wait, is on) and keeps its reader
and writer off that CPU. A 2 GiB pull from a local registry on 2 cores, medians of 8 runs in
one sitting: 1.76 s left to the scheduler, 1.70 s placed.

A pin must never make things worse, so it is let go as soon as the hasher finds its CPU taken
(another busy program there, a second pull at once): when it waited to run for more than
:data:`CONTENDED` of the time, two looks in a row, the hasher and the other stages go back to
every CPU the process may use. Two 1 GiB pulls at once took 1.92 s either way (medians of 4;
where both hashers had taken the same CPU, both let go). Where the system has no affinity
calls, or the process one CPU, nothing is placed.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["CONTENDED", "LOOK_EVERY", "Placement", "place"]

CONTENDED = 0.4
"""Share of its time the hasher may wait for its CPU, two looks in a row, before the pin is
let go: sharing the CPU with one other busy thread it waits about half the time; a pull from
a registry on the same machine saw up to a quarter in the first look, while its reader and
writer were still being moved off."""
LOOK_EVERY = 0.25
"""Seconds between the hasher's looks at how long it waited."""

_claimed: set[int] = set()  # CPUs held by the hashers of this process
_lock = threading.Lock()


class Placement:
    """One pipeline's CPUs: ``cpu`` for the hasher, the rest of ``allowed`` for the others.
    Each stage calls :meth:`hasher` or :meth:`helper` from its own thread before each
    buffer; :meth:`close` gives the CPU back."""

    def __init__(self, cpu: int, allowed: frozenset[int],
                 waited: Callable[[], float] | None = None) -> None:
        self.cpu = cpu
        self.allowed = allowed
        self._waited = waited or _waited_seconds
        self._released = threading.Event()
        self._placed: set[int] = set()  # native ids of the threads pinned so far
        self._lock = threading.Lock()
        self._look_at = 0.0
        self._last = (0.0, 0.0)  # (monotonic time, seconds waited) at the last look
        self._holding = True  # ``cpu`` is in the claimed set for this placement
        self._strikes = 0  # looks in a row that found the hasher waiting too much

    @property
    def released(self) -> bool:
        return self._released.is_set()

    def hasher(self) -> None:
        """Called by the hasher: pinned at first; later, it looks whether it waits too much."""
        if self.released:
            return  # put back on every CPU when it let go
        now = time.monotonic()
        if self._enter({self.cpu}):
            self._last, self._look_at = (now, self._waited()), now + LOOK_EVERY
            return
        if now < self._look_at:
            return
        waited = self._waited()
        since, before = self._last
        self._last, self._look_at = (now, waited), now + LOOK_EVERY
        self._strikes = self._strikes + 1 if waited - before > CONTENDED * (now - since) else 0
        if self._strikes >= 2:
            self._released.set()
            self._leave()
            self.close()

    def helper(self) -> None:
        """Called by a reader or writer: kept off the hasher's CPU, or back on every CPU once
        the hasher let go of it."""
        if self.released:
            self._leave()
        else:
            self._enter(self.allowed - {self.cpu})

    def close(self) -> None:
        """Give the hasher's CPU back to the process (threads still pinned stay so until
        they end, as a pipeline's do with it)."""
        with _lock:
            if self._holding:
                self._holding = False
                _claimed.discard(self.cpu)

    def _enter(self, cpus: frozenset[int] | set[int]) -> bool:
        """Pin the calling thread to ``cpus`` unless it was already; True if it was not."""
        me = threading.get_native_id()
        with self._lock:
            if me in self._placed:
                return False
            self._placed.add(me)
        _set_affinity(cpus)
        return True

    def _leave(self) -> None:
        me = threading.get_native_id()
        with self._lock:
            if me not in self._placed:
                return
            self._placed.discard(me)
        _set_affinity(self.allowed)


def place() -> Placement | None:
    """A placement for a pipeline about to start on the calling thread, or None where there
    is nothing to gain: no affinity calls, a single CPU, or every CPU but one held already."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    try:
        allowed = frozenset(os.sched_getaffinity(0))
    except OSError:
        return None
    with _lock:
        free = allowed - _claimed
        if len(free) < 2:  # one CPU, or all but one held: the helpers need one
            return None
        here = _current_cpu()
        cpu = here if here in free else max(free)
        _claimed.add(cpu)
    return Placement(cpu, allowed)


def _set_affinity(cpus: set[int] | frozenset[int]) -> None:
    # 0 is the calling thread, on Linux. Refused (a CPU taken away meanwhile, a sandbox that
    # forbids it): the pipeline runs as well, if slower.
    with contextlib.suppress(OSError):
        os.sched_setaffinity(0, cpus)


def _current_cpu() -> int | None:
    """The CPU the calling thread last ran on (Linux), from field 39 of its stat."""
    try:
        fields = Path("/proc/thread-self/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[36])
    except (OSError, IndexError, ValueError):
        return None


def _waited_seconds() -> float:
    """Seconds the calling thread has spent ready to run but waiting for a CPU (Linux)."""
    try:
        return int(Path("/proc/thread-self/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0
