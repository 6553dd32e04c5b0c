"""Place one file at a new path as cheaply as the file system allows.

Four primitives, tried in one fixed order, each taking ``(src, dst)`` and creating ``dst``
(which must not exist yet):

    REFLINK   a copy-on-write clone sharing the blocks (Linux ``FICLONE``: btrfs, XFS, bcachefs)
    HARDLINK  a second name for the same inode (same file system only)
    SYMLINK   a path pointing at the source (only when asked for)
    COPY      the bytes, read once in large chunks

A primitive that the platform or file system cannot do raises ``LinkUnsupported`` and leaves no
``dst`` behind; ``link_file`` then moves on to the next allowed one. Any other ``OSError`` (disk
full, permission denied, missing source) propagates for the caller to explain with its own
context. The store imports user files with this module; exporting into Ollama's and LM Studio's
folders reuses it.
"""

from __future__ import annotations

import enum
import errno
import os
import sys
from collections.abc import Callable, Collection
from pathlib import Path

from .errors import StoreError
from .hashcache import CHUNK_SIZE

__all__ = [
    "DEFAULT_METHODS",
    "ORDER",
    "LinkMethod",
    "LinkUnsupported",
    "copy",
    "hardlink",
    "link_file",
    "reflink",
    "symlink",
    "write_all",
]

FICLONE = 0x40049409
"""Linux ioctl: make the destination file share every block of the source file."""

# Errors meaning "this file system or platform cannot do that", as opposed to a real failure.
_UNSUPPORTED = frozenset({
    errno.EXDEV,  # across file systems
    errno.EOPNOTSUPP,
    errno.ENOTSUP,
    errno.ENOSYS,
    errno.ENOTTY,  # the ioctl is unknown to this file system
    errno.EINVAL,  # FICLONE on a file system without reflink, or unaligned
    errno.EPERM,  # hard links refused (fs.protected_hardlinks, FAT) or symlinks not allowed
    errno.EMLINK,  # too many hard links to the source already
})  # fmt: skip

CopyChunk = Callable[[memoryview], None]


class LinkMethod(enum.Enum):
    REFLINK = "reflink"
    HARDLINK = "hardlink"
    SYMLINK = "symlink"
    COPY = "copy"


ORDER = (LinkMethod.REFLINK, LinkMethod.HARDLINK, LinkMethod.SYMLINK, LinkMethod.COPY)
"""The fixed order ``link_file`` tries the allowed methods in: cheapest and safest first."""

DEFAULT_METHODS = frozenset({LinkMethod.REFLINK, LinkMethod.HARDLINK, LinkMethod.COPY})
"""Symlinks only on request: they break when the source moves."""


class LinkUnsupported(StoreError):
    """The platform or file system cannot place ``dst`` with ``method``."""

    def __init__(self, method: LinkMethod, src: Path, dst: Path, reason: str) -> None:
        self.method = method
        self.src = src
        self.dst = dst
        self.reason = reason
        super().__init__(f"cannot {method.value} {src} to {dst}: {reason}")


def link_file(
    src: Path,
    dst: Path,
    *,
    allow: Collection[LinkMethod] = DEFAULT_METHODS,
    on_copy_chunk: CopyChunk | None = None,
) -> LinkMethod:
    """Create ``dst`` from ``src`` with the first allowed method that works; say which one."""
    failure: LinkUnsupported | None = None
    for method in ORDER:
        if method not in allow:
            continue
        try:
            _place(method, src, dst, on_copy_chunk)
        except LinkUnsupported as exc:
            failure = exc
            continue
        return method
    if failure is None:
        raise ValueError("link_file needs at least one allowed method")
    raise failure


def reflink(src: Path, dst: Path) -> None:
    """Clone ``src`` into a new file ``dst`` that shares its blocks until either is written."""
    if not sys.platform.startswith("linux"):
        raise LinkUnsupported(LinkMethod.REFLINK, src, dst, f"not available on {sys.platform}")
    import fcntl

    with open(src, "rb") as source:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.ioctl(fd, FICLONE, source.fileno())
        except BaseException as exc:
            os.close(fd)
            os.unlink(dst)
            if isinstance(exc, OSError) and exc.errno in _UNSUPPORTED:
                raise LinkUnsupported(LinkMethod.REFLINK, src, dst, _reason(exc)) from exc
            raise
        os.close(fd)


def hardlink(src: Path, dst: Path) -> None:
    """Give the inode of ``src`` the second name ``dst``."""
    try:
        os.link(src, dst)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            raise LinkUnsupported(LinkMethod.HARDLINK, src, dst, _reason(exc)) from exc
        raise


def symlink(src: Path, dst: Path) -> None:
    """Make ``dst`` a symbolic link to the absolute path of ``src``."""
    try:
        os.symlink(os.path.abspath(src), dst)
    except OSError as exc:
        if exc.errno in _UNSUPPORTED:
            raise LinkUnsupported(LinkMethod.SYMLINK, src, dst, _reason(exc)) from exc
        raise


def copy(src: Path, dst: Path, *, on_chunk: CopyChunk | None = None) -> None:
    """Copy ``src`` into a new file ``dst`` in one pass, showing each chunk to ``on_chunk``."""
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    with open(src, "rb", buffering=0) as source:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            while count := source.readinto(buffer):
                chunk = view[:count]
                if on_chunk is not None:
                    on_chunk(chunk)
                write_all(fd, chunk)
        except BaseException:
            os.close(fd)
            os.unlink(dst)
            raise
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable (a no-op where folders cannot be opened)."""
    if sys.platform == "win32":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: memoryview) -> None:
    """Write every byte of ``data`` to ``fd``, however many calls the kernel needs."""
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _place(method: LinkMethod, src: Path, dst: Path, on_copy_chunk: CopyChunk | None) -> None:
    match method:
        case LinkMethod.REFLINK:
            reflink(src, dst)
        case LinkMethod.HARDLINK:
            hardlink(src, dst)
        case LinkMethod.SYMLINK:
            symlink(src, dst)
        case LinkMethod.COPY:
            copy(src, dst, on_chunk=on_copy_chunk)


def _reason(exc: OSError) -> str:
    return exc.strerror or errno.errorcode.get(exc.errno or 0, "unsupported")
