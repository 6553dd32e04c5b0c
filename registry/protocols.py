"""What the registry client and server need from a store, as small Protocols.

The registry never imports ``store``: it is written against these, which lamina's store
satisfies (``tests/store/test_protocols.py`` checks that with mypy) and which tests may satisfy
with small in-memory fakes. One Protocol per capability, after go-containerregistry's
``pkg/registry`` (``BlobHandler``, ``BlobStatHandler``, ``BlobPutHandler``…).

Failures are reported with the exceptions of ``ocitypes.errors``, which the store's own errors
derive from: ``BlobUnknown`` and ``ManifestUnknown`` (``LookupError``), ``DigestInvalid``,
``ManifestInvalid``, ``ManifestBlobUnknown``, ``RangeInvalid`` (``ValueError``),
``UploadUnknown``. Anything else is a fault of the store (a full disk), reported as a 5xx by the
server and as an error by the client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO, Protocol

from ocitypes import Digest

__all__ = [
    "BlobSink",
    "BlobSource",
    "ManifestStore",
    "PartialBlob",
    "PartialBlobs",
    "Provenance",
    "PushSessions",
    "UploadSession",
]

Range = tuple[int, int]
"""A half-open byte range ``[start, end)``."""


class BlobSource(Protocol):
    """Reads of complete, verified blobs (a GET or HEAD on the server; the source of a push)."""

    def stat(self, digest: Digest) -> int:
        """The blob's size in bytes; ``BlobUnknown`` if it is not there."""
        ...

    def open(self, digest: Digest) -> BinaryIO:
        """The blob for reading, seekable (for Range requests); ``BlobUnknown`` if absent."""
        ...


class UploadSession(Protocol):
    """One blob upload whose digest is known only when it ends (distribution-spec §Push).

    Chunks are appended in order; a session outlives the process that started it, so a later
    PATCH may reach a new server process, which finds it again by :attr:`id`.
    """

    @property
    def id(self) -> str:
        """Opaque and server-made: safe in a URL, never a path."""
        ...

    @property
    def offset(self) -> int:
        """How many bytes the session holds (the end of the ``Range`` header, plus one)."""
        ...

    def write(self, chunk: bytes | Sequence[bytes], *, at: int | None = None) -> int:
        """Append ``chunk``, or several chunks in order (as they came off the socket: the
        store need not join them into one copy); with ``at``, refuse with ``RangeInvalid``
        unless ``at`` is the current offset. Returns the new offset."""
        ...

    def commit(self, digest: Digest) -> None:
        """Verify the bytes hash to ``digest`` and publish the blob atomically; on a mismatch
        raise ``DigestInvalid`` and publish nothing. The session ends either way."""
        ...

    def abort(self) -> None:
        """Drop the session and its bytes."""
        ...


class BlobSink(Protocol):
    """Writes of blobs that arrive in a server's uploads."""

    def exists(self, digest: Digest) -> bool: ...

    def begin(self) -> UploadSession:
        """A new, empty upload session."""
        ...

    def resume(self, upload_id: str) -> UploadSession:
        """The session with this id; ``UploadUnknown`` if there is none or it expired."""
        ...


class PartialBlob(Protocol):
    """A blob of known digest and size being fetched, in parts, in any order (a pull).

    Finished ranges survive the process: after a crash a new process asks :meth:`missing` and
    fetches only that. Parts may be written from several threads at once.
    """

    @property
    def digest(self) -> Digest: ...

    @property
    def size(self) -> int: ...

    def missing(self) -> Sequence[Range]:
        """The byte ranges not yet written, in order."""
        ...

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write ``data`` at ``offset`` and record the range as finished once it is durable.
        The caller may reuse its buffer as soon as this returns."""
        ...

    def receive(self, offset: int, end: int, readinto: Callable[[memoryview], int],
                progress: Callable[[int], None] | None = None) -> int:
        """Write what ``readinto`` produces from ``offset`` on (it fills the view it is given
        from the start and returns how many bytes it put there, 0 when it has no more), until
        ``end`` or until it runs dry; returns the offset reached. The store owns the buffers, so
        a stream's bytes are copied once, from the socket into them. Bytes written count as
        :meth:`write_at`'s do, also when ``readinto`` raises."""
        ...

    def commit(self) -> None:
        """Verify the whole blob and publish it; ``DigestInvalid`` (and nothing published) if
        its bytes do not hash to :attr:`digest`, ``ValueError`` while ranges are missing."""
        ...

    def abort(self) -> None:
        """Drop the partial file and its record."""
        ...

    def close(self) -> None:
        """Let go (a pull that failed), keeping what was written for a later try."""
        ...


class PartialBlobs(Protocol):
    """Where pulls put blobs they are fetching."""

    def exists(self, digest: Digest) -> bool: ...

    def partial(self, digest: Digest, size: int) -> PartialBlob:
        """The partial blob for ``digest``, continuing one an earlier process left."""
        ...


class ManifestStore(Protocol):
    """Manifests by repository and reference (a tag, or a digest ``sha256:…``)."""

    def get(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest's exact bytes and media type; ``ManifestUnknown`` if absent."""
        ...

    def put(self, repository: str, reference: str, data: bytes, media_type: str) -> Digest:
        """Store the bytes exactly, under the tag (or only by digest); returns their digest.

        ``ManifestInvalid`` for bytes that are not a manifest, ``ManifestBlobUnknown`` when a
        blob it names is not in the store."""
        ...

    def delete(self, repository: str, reference: str) -> None:
        """Remove a tag, or every tag of a digest; ``ManifestUnknown`` if absent."""
        ...

    def tags(self, repository: str) -> Sequence[str]:
        """The repository's tags, sorted; ``ManifestUnknown`` for an unknown repository."""
        ...

    def repositories(self) -> Sequence[str]:
        """Every repository, sorted (for ``/v2/_catalog``)."""
        ...


class Provenance(Protocol):
    """Which registry repositories each blob is known to exist in: a push may skip a HEAD or
    mount the blob from a sibling repository instead of sending it."""

    def known(self, digest: Digest, registry: str) -> Iterable[str]:
        """Repositories of ``registry`` (``host[:port]``) known to hold ``digest``."""
        ...

    def record(self, digest: Digest, registry: str, repository: str) -> None:
        """Remember that ``repository`` on ``registry`` holds ``digest`` (best effort)."""
        ...


class PushSessions(Protocol):
    """Upload sessions a push opened on a registry and did not finish (a failed chunk, a kill),
    so that a later push of the same blob asks the registry how far it got and continues.

    The ``location`` is the session's URL as the registry last gave it; it may carry the
    registry's own state token, so it is kept like credentials: never printed or logged.
    """

    def session(self, digest: Digest, registry: str, repository: str) -> str | None:
        """The last ``Location`` of an unfinished upload of ``digest``, if one is known."""
        ...

    def save_session(self, digest: Digest, registry: str, repository: str,
                     location: str) -> None:
        """Remember the session's latest ``Location`` (best effort)."""
        ...

    def drop_session(self, digest: Digest, registry: str, repository: str) -> None:
        """Forget the session: it finished, or the registry no longer knows it."""
        ...
