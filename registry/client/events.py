"""What a pull or push did, blob by blob, and the progress callbacks it reports to as it runs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal, Protocol

from ocitypes import Descriptor, Digest

__all__ = ["BlobOutcome", "NoProgress", "Progress", "PullResult", "PushResult"]

Action = Literal["fetched", "resumed", "skipped", "sent", "mounted", "present"]
"""fetched/resumed: downloaded (resumed: part was already there); skipped: already in the
store; sent: uploaded (resumed: into the session an unfinished push left); mounted: taken from
another repository; present: already on the registry."""


@dataclass(frozen=True, slots=True)
class BlobOutcome:
    digest: Digest
    size: int
    media_type: str
    action: Action
    transferred: int
    """Blob bytes that crossed the network in this run."""


@dataclass(slots=True)
class PullResult:
    reference: str
    digest: Digest
    media_type: str
    manifest: bytes
    blobs: list[BlobOutcome] = field(default_factory=list)

    @property
    def transferred(self) -> int:
        return len(self.manifest) + sum(blob.transferred for blob in self.blobs)


@dataclass(slots=True)
class PushResult:
    reference: str
    digest: Digest
    media_type: str
    manifest_size: int
    blobs: list[BlobOutcome] = field(default_factory=list)

    @property
    def transferred(self) -> int:
        """Bytes sent: blob bodies and the manifest."""
        return self.manifest_size + sum(blob.transferred for blob in self.blobs)


class Progress(Protocol):
    """Told about each blob as it moves; called from worker threads, so it must be thread-safe."""

    def begin(self, descriptor: Descriptor, done: int) -> None:
        """A blob starts; ``done`` bytes of it are already in place (a resumed pull)."""
        ...

    def advance(self, digest: Digest, count: int) -> None: ...

    def end(self, digest: Digest, action: Action) -> None: ...


class NoProgress:
    """Progress nobody watches; counts bytes, which tests read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.bytes = 0

    def begin(self, descriptor: Descriptor, done: int) -> None:
        pass

    def advance(self, digest: Digest, count: int) -> None:
        with self._lock:
            self.bytes += count

    def end(self, digest: Digest, action: Action) -> None:
        pass
