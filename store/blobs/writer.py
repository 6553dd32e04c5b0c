"""Writing a blob from a stream of chunks, hashed on the way in, published only when complete."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

from ocitypes import Digest

from ..errors import storage_errors
from ..hashcache import Hasher, Progress
from ..link import write_all
from .shelf import BLOB_MODE, Shelf

Chunk = bytes | bytearray | memoryview


@dataclass(frozen=True, slots=True)
class BlobInfo:
    digest: Digest
    size: int


def put_stream(
    shelf: Shelf,
    chunks: Iterable[Chunk],
    *,
    expected: Digest | None = None,
    progress: Progress | None = None,
) -> BlobInfo:
    """Store the concatenated chunks; with ``expected``, publish them only if they match.

    With ``expected`` the blob lock is held for the whole write, so two processes fetching one
    blob fetch it once; when it is already stored the chunks are not read.
    """
    if expected is None:
        return _write(shelf, chunks, None, progress)
    with shelf.lock(expected):
        if shelf.keep(expected):
            with storage_errors(shelf.path(expected)):
                return BlobInfo(expected, os.stat(shelf.path(expected)).st_size)
        return _write(shelf, chunks, expected, progress)


def _write(
    shelf: Shelf, chunks: Iterable[Chunk], expected: Digest | None, progress: Progress | None
) -> BlobInfo:
    hasher = Hasher(progress)
    folder = shelf.layout.blobs
    with shelf.temp() as temp:
        with storage_errors(folder):
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, BLOB_MODE)
        try:
            for chunk in chunks:
                view = memoryview(chunk).cast("B")
                hasher.update(view)
                with storage_errors(folder):
                    write_all(fd, view)
            shelf.publish(fd, temp, hasher.digest(), expected, locked=expected is not None)
        finally:
            os.close(fd)
    return BlobInfo(hasher.digest(), hasher.size)
