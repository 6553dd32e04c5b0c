"""The blob store: files named by their SHA-256 under ``blobs/``, published only when complete.

One module per job, behind :class:`BlobStore`:

    reader    sizes, bytes, every digest stored, stale temp files, removal
    shelf     temp files, the blob lock, and the one publish step (verify → fsync → rename)
    writer    a blob from a stream of chunks
    staging   a blob written now and published later, once the caller has checked the rest
    importer  a user's file (reflink, hardlink or copy)
    verify    re-hashing stored blobs
    partial   a pull's blob written in parts, in any order, resumable (``.lamina/partial``)
    uploads   a server's upload sessions, digest known at the end (``.lamina/uploads``)
    appender  an upload's batches copied, written and hashed at once, on three threads
    leftovers what killed writers leave, for ``gc`` and ``du``

Locking: a **blob lock** per digest guards "is it there yet? then publish it", and when the
digest is known up front (a pull) it is held for the whole write, so two processes fetching one
blob fetch it once. The blob store never takes the store lock: ``Store`` holds it shared from a
create's first blob to its manifest, and exclusively for rm and gc, which also spare blobs and
temp files younger than their grace period by ctime (which publishing, linking, writing and
reuse refresh). So a blob published but not yet named by a manifest, or a temp file still being
written, is safe.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocitypes import Digest

from ..hashcache import HashCache, Progress
from ..layout import Layout
from . import importer, reader, verify, writer
from .importer import ImportResult
from .shelf import BLOB_MODE, LINKED_MODE, Shelf
from .writer import BlobInfo, Chunk

if TYPE_CHECKING:  # loaded on first use: reading a store (list, show) needs no threads
    from .leftovers import Kind, Leftover
    from .partial import PartialBlob
    from .staging import StagedBlob
    from .uploads import Upload

__all__ = [
    "BLOB_MODE",
    "LINKED_MODE",
    "BlobInfo",
    "BlobStore",
    "ImportResult",
    "Progress",
]


class BlobStore:
    """Every blob job of one store; satisfies ``registry.protocols``' ``BlobSource``,
    ``BlobSink`` and ``PartialBlobs``."""

    def __init__(self, layout: Layout, *, upload_ttl: float | None = None) -> None:
        """``upload_ttl``: seconds an upload session may sit idle (``uploads.UPLOAD_TTL``)."""
        self.layout = layout
        self.cache = HashCache(layout.hash_cache)
        self.upload_ttl = upload_ttl
        self._shelf = Shelf(layout, self.cache)
        self._reader = reader.BlobReader(layout)

    # -- reading -----------------------------------------------------------------------------

    def path(self, digest: Digest) -> Path:
        return self.layout.blob(digest)

    def exists(self, digest: Digest) -> bool:
        return self._shelf.exists(digest)

    def size(self, digest: Digest) -> int:
        """The size of a stored blob in bytes."""
        return self._reader.stat(digest).st_size

    def stat(self, digest: Digest) -> int:
        """The size of a stored blob in bytes; ``BlobNotFound`` if absent."""
        return self.size(digest)

    def open(self, digest: Digest) -> BinaryIO:
        """Open a stored blob for reading."""
        return self._reader.open(digest)

    def read_bytes(self, digest: Digest) -> bytes:
        """A small blob's bytes (a config, template or params); BlobNotFound if absent."""
        return self._reader.read_bytes(digest)

    def digests(self) -> Iterator[Digest]:
        """Every blob in the folder, by the digest its file name spells."""
        return self._reader.digests()

    def stale_temps(self, *, older_than: float) -> list[Path]:
        """Temp files nobody has touched for ``older_than`` seconds (by ctime: a hardlinked
        temp keeps the user's old mtime but gets a fresh ctime when linked)."""
        return self._reader.stale_temps(older_than=older_than)

    def remove(self, digest: Digest) -> None:
        """Delete a blob; the caller holds the store lock and knows no manifest names it."""
        from .. import modes

        modes.restore(self.layout, digest)  # a user's file shared with the blob is theirs again
        self._reader.remove(digest)

    # -- leftovers ---------------------------------------------------------------------------

    def leftovers(self, *, older_than: float) -> list[Leftover]:
        """Temp files, partial blobs and uploads untouched for ``older_than`` seconds."""
        from . import leftovers

        return leftovers.find(self.layout, older_than=older_than)

    def remove_leftover(self, item: Leftover) -> bool:
        """Delete a leftover; False if a process took hold of it meanwhile."""
        from . import leftovers

        return leftovers.remove(item)

    def remove_free_locks(self, *, older_than: float) -> int:
        """Delete blob lock files that killed holders left; how many."""
        from . import leftovers

        return leftovers.remove_free_locks(self.layout, older_than=older_than)

    def leftover_bytes(self) -> dict[Kind, int]:
        """Bytes on disk of temp files, partial blobs and uploads, by kind."""
        from . import leftovers

        return leftovers.usage(self.layout)

    # -- writing -----------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store a small blob held in memory (a config, template or params)."""
        return self.put_stream((data,))

    def put_stream(
        self, chunks: Iterable[Chunk], *, expected: Digest | None = None,
        progress: Progress | None = None,
    ) -> BlobInfo:
        """Store the concatenated chunks; with ``expected``, publish them only if they match.

        When ``expected`` is already stored the chunks are not read. Errors raised by the
        chunks' iterator propagate unchanged.
        """
        return writer.put_stream(self._shelf, chunks, expected=expected, progress=progress)

    def import_file(
        self, src: Path, *, progress: Progress | None = None, allow_link: bool = True,
        expected: Digest | None = None, share_inode: bool = False,
    ) -> ImportResult:
        """Store a user's file, sharing its blocks or inode instead of copying when possible;
        with ``expected``, only if it hashes so; with ``share_inode``, hardlink or copy."""
        return importer.import_file(self._shelf, src, progress=progress, allow_link=allow_link,
                                    expected=expected, share_inode=share_inode)

    def link_out(self, digest: Digest, dst: Path) -> None:
        """Give a stored blob the second name ``dst`` (same inode), which the hash cache then
        knows without reading it; ``LinkUnsupported`` across file systems."""
        from ..link import hardlink

        hardlink(self.path(digest), dst)
        self._shelf.remember(os.stat(dst), digest)

    def stage(self) -> StagedBlob:
        """A temp file in the blobs folder for a blob written now (hashed on the way in) and
        published later by ``StagedBlob.publish``, once the caller has checked whatever else it
        depends on; closing it unpublished removes it."""
        from .staging import StagedBlob

        return StagedBlob(self._shelf)

    def partial(self, digest: Digest, size: int) -> PartialBlob:
        """The partial blob a pull writes ``digest`` into, continuing an earlier one."""
        from .partial import open_partial

        return open_partial(self._shelf, digest, size)

    def begin(self) -> Upload:
        """A new, empty upload session."""
        from . import uploads

        return uploads.begin(self._shelf, ttl=self._ttl(uploads.UPLOAD_TTL))

    def resume(self, upload_id: str) -> Upload:
        """The upload session with this id; ``UploadNotFound`` if none or it expired."""
        from . import uploads

        return uploads.resume(self._shelf, upload_id, ttl=self._ttl(uploads.UPLOAD_TTL))

    def _ttl(self, default: float) -> float:
        return default if self.upload_ttl is None else self.upload_ttl

    # -- verifying ---------------------------------------------------------------------------

    def check(self, digest: Digest, *, progress: Progress | None = None) -> bool:
        """Verify a blob cheaply: trust an unchanged stat, re-hash otherwise; True if re-hashed."""
        return verify.check(self._shelf, self._reader, digest, progress=progress)

    def verify(self, digest: Digest, *, progress: Progress | None = None) -> None:
        """Re-hash a stored blob; DigestMismatch if its bytes no longer match its name."""
        verify.verify(self._shelf, self._reader, digest, progress=progress)
