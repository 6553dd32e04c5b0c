"""Checking that stored blobs still hash to their names."""

from __future__ import annotations

import os

from ocitypes import Digest

from ..errors import DigestMismatch
from ..hashcache import Hasher, Progress
from .reader import BlobReader
from .shelf import Shelf, moved


def check(
    shelf: Shelf, reader: BlobReader, digest: Digest, *, progress: Progress | None = None
) -> bool:
    """Verify a blob cheaply: trust an unchanged stat, re-hash otherwise; True if re-hashed."""
    if shelf.cached(reader.stat(digest)) == digest:
        return False
    verify(shelf, reader, digest, progress=progress)
    return True


def verify(
    shelf: Shelf, reader: BlobReader, digest: Digest, *, progress: Progress | None = None
) -> None:
    """Re-hash a stored blob; DigestMismatch if its bytes no longer match its name."""
    path = shelf.path(digest)
    hasher = Hasher(progress)
    with reader.errors(digest):
        fd = os.open(path, os.O_RDONLY)
        try:
            before = os.fstat(fd)
            hasher.update_from(fd)
            after = os.fstat(fd)
        finally:
            os.close(fd)
    actual = hasher.digest()
    if actual != digest:
        raise DigestMismatch(str(digest), str(actual), what=str(path))
    if not moved(before, after):
        if after.st_nlink == 1:
            shelf.remember(after, digest)
        else:  # also a user's file
            shelf.remember_user(path, after, digest)
