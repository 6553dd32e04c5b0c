"""In-memory stores that satisfy the registry's Protocols, for testing the server alone."""

from __future__ import annotations

import io
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO

import ocitypes
from ocitypes import Digest
from registry.protocols import BlobSink, BlobSource, ManifestStore, PartialBlobs, UploadSession
from tests.registry.fakes import MemoryPartial


class MemoryBlobs:
    """Blobs in a dict; upload sessions that expire ``ttl`` seconds after their last write."""

    def __init__(self, *, ttl: float = 3600.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.blobs: dict[Digest, bytes] = {}
        self.sessions: dict[str, MemorySession] = {}
        self.ttl = ttl
        self.clock = clock
        self.resumed = 0
        self.partials: dict[Digest, MemoryPartial] = {}
        self.lock = threading.Lock()
        self.opened_partials = 0

    def stat(self, digest: Digest) -> int:
        return len(self._get(digest))

    def open(self, digest: Digest) -> BinaryIO:
        return io.BytesIO(self._get(digest))

    def _get(self, digest: Digest) -> bytes:
        try:
            return self.blobs[digest]
        except KeyError:
            raise ocitypes.BlobUnknown(str(digest)) from None

    def exists(self, digest: Digest) -> bool:
        return digest in self.blobs

    def begin(self) -> UploadSession:
        session = MemorySession(self, secrets.token_urlsafe(24))
        self.sessions[session.id] = session
        return session

    def resume(self, upload_id: str) -> UploadSession:
        self.resumed += 1
        session = self.sessions.get(upload_id)
        if session is None or self.clock() - session.touched > self.ttl:
            self.sessions.pop(upload_id, None)
            raise ocitypes.UploadUnknown(upload_id)
        return session

    def put(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        self.blobs[digest] = data
        return digest

    def partial(self, digest: Digest, size: int) -> MemoryPartial:
        """Where a mirror's pull writes (``PartialBlobs``)."""
        with self.lock:
            self.opened_partials += 1
            if digest not in self.partials:
                self.partials[digest] = MemoryPartial(self, digest, size)  # type: ignore[arg-type]
            return self.partials[digest]


class MemorySession:
    def __init__(self, owner: MemoryBlobs, upload_id: str) -> None:
        self._owner = owner
        self._id = upload_id
        self.data = bytearray()
        self.touched = owner.clock()

    @property
    def id(self) -> str:
        return self._id

    @property
    def offset(self) -> int:
        self._alive()
        return len(self.data)

    def _alive(self) -> None:
        """Like the store's sessions, one that has ended or expired is unknown."""
        if self._owner.sessions.get(self._id) is not self or \
                self._owner.clock() - self.touched > self._owner.ttl:
            raise ocitypes.UploadUnknown(self._id)

    def write(self, chunk: bytes | Sequence[bytes], *, at: int | None = None) -> int:
        self._alive()
        if at is not None and at != len(self.data):
            raise ocitypes.RangeInvalid(len(self.data), at)
        self.data += chunk if isinstance(chunk, bytes) else b"".join(chunk)
        self.touched = self._owner.clock()
        return len(self.data)

    def commit(self, digest: Digest) -> None:
        self._owner.sessions.pop(self._id, None)
        if Digest.of(bytes(self.data)) != digest:
            raise ocitypes.DigestInvalid(f"upload does not hash to {digest}")
        self._owner.put(bytes(self.data))

    def abort(self) -> None:
        self._owner.sessions.pop(self._id, None)


class FileBlobs(MemoryBlobs):
    """Blobs kept as files, so the server may hand their paths to the ASGI server."""

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def path(self, digest: Digest) -> Path:
        return self.root / digest.hex

    def open(self, digest: Digest) -> BinaryIO:
        self._get(digest)
        return self.path(digest).open("rb")

    def put(self, data: bytes) -> Digest:
        digest = super().put(data)
        self.path(digest).write_bytes(data)
        return digest


class MemoryManifests:
    """Manifests by digest and tags by repository."""

    def __init__(self, blobs: MemoryBlobs) -> None:
        self.blobs = blobs
        self.by_digest: dict[str, dict[Digest, tuple[bytes, str]]] = {}
        self.by_tag: dict[str, dict[str, Digest]] = {}

    def get(self, repository: str, reference: str) -> tuple[bytes, str]:
        held = self.by_digest.get(repository, {})
        digest = self._resolve(repository, reference)
        if digest not in held:
            raise ocitypes.ManifestUnknown(reference)
        return held[digest]

    def _resolve(self, repository: str, reference: str) -> Digest | None:
        if reference.startswith("sha256:"):
            return Digest.parse(reference)
        return self.by_tag.get(repository, {}).get(reference)

    def put(self, repository: str, reference: str, data: bytes, media_type: str) -> Digest:
        parsed = ocitypes.parse_any(data)
        if isinstance(parsed, ocitypes.Manifest):
            for d in parsed.digests():
                if not self.blobs.exists(d):
                    raise ocitypes.ManifestBlobUnknown(str(d))
        digest = Digest.of(data)
        self.by_digest.setdefault(repository, {})[digest] = (data, media_type)
        if not reference.startswith("sha256:"):
            self.by_tag.setdefault(repository, {})[reference] = digest
        return digest

    def delete(self, repository: str, reference: str) -> None:
        digest = self._resolve(repository, reference)
        if digest is None or digest not in self.by_digest.get(repository, {}):
            raise ocitypes.ManifestUnknown(reference)
        tags = self.by_tag.get(repository, {})
        if reference.startswith("sha256:"):
            del self.by_digest[repository][digest]
            for tag in [t for t, d in tags.items() if d == digest]:
                del tags[tag]
        else:
            del tags[reference]

    def tags(self, repository: str) -> Sequence[str]:
        if repository not in self.by_digest:
            raise ocitypes.ManifestUnknown(repository)
        return sorted(self.by_tag.get(repository, {}))

    def repositories(self) -> Sequence[str]:
        return sorted(self.by_digest)

    def digests(self, repository: str) -> Sequence[Digest]:
        return sorted(self.by_digest.get(repository, {}))


def _typed(blobs: MemoryBlobs, manifests: MemoryManifests) -> None:
    """mypy checks that the fakes satisfy the Protocols."""
    _source: BlobSource = blobs
    _sink: BlobSink = blobs
    _partials: PartialBlobs = blobs
    _manifests: ManifestStore = manifests
