"""Page-aligned buffers for direct I/O: anonymous memory maps, private to the process.

A shared anonymous map (what ``mmap.mmap(-1, n)`` gives) is shmem: each first touch of a page
goes through the shmem fault path, slower than an ordinary private page, and pinning it for a
direct write costs more too.
"""

from __future__ import annotations

import mmap

__all__ = ["new_buffer"]

_PRIVATE = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)  # Linux only


def new_buffer(size: int, *, prefault: bool = False) -> mmap.mmap:
    """``size`` bytes of zeroed, page-aligned memory. ``prefault``: have the kernel back every
    page now, in one call, rather than fault them in one by one as they are first written:
    inside a socket read, that cost a pull's reader thread about 0.17 s of CPU over its first
    64 MiB of buffers (perf samples, on a virtual machine, where a fresh page is dear)."""
    if not _PRIVATE:
        return mmap.mmap(-1, size)
    return mmap.mmap(-1, size, flags=_PRIVATE | (_POPULATE if prefault else 0))
