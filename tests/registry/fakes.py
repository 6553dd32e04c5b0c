"""In-memory stand-ins for the store's Protocols, for client tests."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import BinaryIO

from ocitypes import BlobUnknown, Digest, DigestInvalid

Range = tuple[int, int]


class MemoryBlobs:
    """Complete blobs by digest: a BlobSource, and the PartialBlobs pulls write into."""

    def __init__(self) -> None:
        self.blobs: dict[Digest, bytes] = {}
        self.partials: dict[Digest, MemoryPartial] = {}
        self.lock = threading.Lock()

    def add(self, data: bytes) -> Digest:
        digest = Digest.of(data)
        self.blobs[digest] = data
        return digest

    def stat(self, digest: Digest) -> int:
        if digest not in self.blobs:
            raise BlobUnknown(str(digest))
        return len(self.blobs[digest])

    def open(self, digest: Digest) -> BinaryIO:
        if digest not in self.blobs:
            raise BlobUnknown(str(digest))
        return io.BytesIO(self.blobs[digest])

    def exists(self, digest: Digest) -> bool:
        return digest in self.blobs

    def partial(self, digest: Digest, size: int) -> MemoryPartial:
        with self.lock:
            if digest not in self.partials:
                self.partials[digest] = MemoryPartial(self, digest, size)
            return self.partials[digest]


class MemoryPartial:
    def __init__(self, owner: MemoryBlobs, digest: Digest, size: int) -> None:
        self.owner = owner
        self._digest = digest
        self._size = size
        self.data = bytearray(size)
        self.done: list[Range] = []
        self.lock = threading.Lock()
        self.writes = 0
        self.closed = False

    @property
    def digest(self) -> Digest:
        return self._digest

    @property
    def size(self) -> int:
        return self._size

    def missing(self) -> Sequence[Range]:
        with self.lock:
            gaps, at = [], 0
            for start, end in sorted(self.done):
                if start > at:
                    gaps.append((at, start))
                at = max(at, end)
            if at < self._size:
                gaps.append((at, self._size))
            return gaps

    def write_at(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        assert offset + len(data) <= self._size, "write past the end"
        end = offset + len(data)
        with self.lock:
            assert all(e <= offset or end <= s for s, e in self.done), "bytes written twice"
            self.data[offset:end] = data
            self.done.append((offset, end))
            self.writes += 1

    def receive(self, offset: int, end: int, readinto: Callable[[memoryview], int],
                progress: Callable[[int], None] | None = None) -> int:
        buffer = memoryview(bytearray(64 * 1024))
        while offset < end:
            count = readinto(buffer[: min(len(buffer), end - offset)])
            if not count:
                break
            self.write_at(offset, buffer[:count])
            offset += count
            if progress is not None:
                progress(count)
        return offset

    def commit(self) -> None:
        if self.missing():
            raise ValueError("ranges missing")
        actual = hashlib.sha256(self.data).hexdigest()
        if actual != self._digest.hex:
            raise DigestInvalid(f"got sha256:{actual}")
        self.owner.blobs[self._digest] = bytes(self.data)
        self.owner.partials.pop(self._digest, None)

    def abort(self) -> None:
        self.owner.partials.pop(self._digest, None)

    def close(self) -> None:
        self.closed = True


class MemoryProvenance:
    def __init__(self) -> None:
        self.seen: dict[tuple[Digest, str], list[str]] = {}

    def known(self, digest: Digest, registry: str) -> Iterable[str]:
        return list(self.seen.get((digest, registry), []))

    def record(self, digest: Digest, registry: str, repository: str) -> None:
        repos = self.seen.setdefault((digest, registry), [])
        if repository not in repos:
            repos.append(repository)


class MemoryPushSessions:
    """Unfinished upload sessions by (digest, registry, repository): a PushSessions."""

    def __init__(self) -> None:
        self.locations: dict[tuple[Digest, str, str], str] = {}

    def session(self, digest: Digest, registry: str, repository: str) -> str | None:
        return self.locations.get((digest, registry, repository))

    def save_session(self, digest: Digest, registry: str, repository: str,
                     location: str) -> None:
        self.locations[digest, registry, repository] = location

    def drop_session(self, digest: Digest, registry: str, repository: str) -> None:
        self.locations.pop((digest, registry, repository), None)
