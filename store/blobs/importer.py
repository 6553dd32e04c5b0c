"""Importing a user's file as a blob, sharing its blocks or inode instead of copying if possible.

Files are placed with ``link.link_file`` (reflink, then hardlink, then copy). A hardlinked blob
is the user's own inode: it is made read-only (0444) and its stat is recorded in the hash cache,
so ``check`` can tell an untouched blob from an edited one without reading it (``verify``
always re-hashes).
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from ocitypes import Digest

from .. import modes
from ..errors import DigestMismatch, SourceChanged, StorageError, storage_errors
from ..hashcache import Hasher, Progress
from ..link import DEFAULT_METHODS, LinkMethod, link_file
from .shelf import BLOB_MODE, LINKED_MODE, Shelf, moved


@dataclass(frozen=True, slots=True)
class ImportResult:
    digest: Digest
    size: int
    method: LinkMethod | None
    """How the blob was placed, or None when the store already had it."""
    hashed: bool
    """False when the hash cache answered and the file was not read."""


def import_file(
    shelf: Shelf, src: Path, *, progress: Progress | None = None, allow_link: bool = True,
    expected: Digest | None = None, share_inode: bool = False,
) -> ImportResult:
    """Store a user's file, sharing its blocks or inode instead of copying when possible.

    With ``expected``, a file hashing otherwise is refused before it is published. With
    ``share_inode``, no reflink: the blob is the file's own inode (a hardlink), else a copy.
    """
    src = Path(src)
    with storage_errors(src):
        before = os.stat(src)
    if not stat.S_ISREG(before.st_mode):
        raise StorageError(str(src), "not a regular file; give the path of a GGUF file")
    known = shelf.cached(before)
    if known is not None and known == (expected or known) and shelf.keep(known):
        return ImportResult(known, before.st_size, None, hashed=False)
    allow = DEFAULT_METHODS if allow_link else frozenset({LinkMethod.COPY})
    if share_inode:
        allow = allow - {LinkMethod.REFLINK}
    hasher = Hasher(progress)
    with storage_errors(shelf.layout.blobs), shelf.temp() as temp:
        method = link_file(src, temp, allow=allow, on_copy_chunk=hasher.update)
        seen = _hash_placed(src, temp, before, method, hasher)
        digest = hasher.digest()
        if expected is not None and digest != expected:
            raise DigestMismatch(str(expected), str(digest), what=str(src))
        with shelf.lock(digest):
            published = _publish_import(shelf, src, temp, digest, method, seen)
        if not published:
            shelf.keep(digest)
    with storage_errors(src):
        _remember_import(shelf, src, digest, method, before, seen, published=published)
    return ImportResult(digest, hasher.size, method if published else None, hashed=True)


def _hash_placed(
    src: Path, temp: Path, before: os.stat_result, method: LinkMethod, hasher: Hasher
) -> os.stat_result:
    """Hash what ``link_file`` placed (a copy was hashed on the way) and make sure the source
    held still; return the source's stat as hashed."""
    fd = os.open(temp, os.O_RDONLY)
    try:
        if method is not LinkMethod.COPY:
            hasher.update_from(fd)
        os.fsync(fd)
        # A hardlink is the source itself; reflinks and copies are compared with it.
        after = os.fstat(fd) if method is LinkMethod.HARDLINK else os.stat(src)
    finally:
        os.close(fd)
    if moved(before, after):
        raise SourceChanged(str(src), str(hasher.digest()))
    return after


def _publish_import(
    shelf: Shelf, src: Path, temp: Path, digest: Digest, method: LinkMethod,
    seen: os.stat_result,
) -> bool:
    """Publish an imported temp file, holding the blob lock; False if already stored."""
    if shelf.exists(digest):
        return False
    if method is not LinkMethod.HARDLINK:
        os.chmod(temp, BLOB_MODE)
        return shelf.rename_into_place(temp, digest)
    # Read-only before the name exists, then make sure no write slipped in meanwhile. A file
    # we may write but do not own cannot be protected; detection still guards it.
    with contextlib.suppress(PermissionError):
        os.chmod(temp, LINKED_MODE)
        modes.record(shelf.layout, digest, seen)  # given back when the blob goes
    if moved(seen, os.stat(temp)):
        with contextlib.suppress(PermissionError):
            os.chmod(temp, stat.S_IMODE(seen.st_mode))
        raise SourceChanged(str(src), str(digest))
    return shelf.rename_into_place(temp, digest)


def _remember_import(
    shelf: Shelf,
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
        if not moved(seen, now):
            shelf.remember_user(src, now, digest)
        return
    shelf.remember_user(src, before, digest)
    if published:
        shelf.remember(os.stat(shelf.path(digest)), digest)
