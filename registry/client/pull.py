"""Pull a manifest and its blobs (distribution-spec §Pull) into partial blobs of a store.

The manifest comes back as the exact bytes received, checked against its digest. Each blob the
store lacks is fetched into a :class:`~registry.protocols.PartialBlob`: in parallel ranged parts
when it is large, resuming after an interrupted or killed pull with only the ranges still
missing, and published only when its bytes hash to its digest. A registry may answer a blob GET
with 200 and the whole body (CNCF Distribution) or with a redirect to a CDN (followed, without
the Authorization header); one that ignores ``Range`` gets the skipped prefix read and dropped.

The first ranged part of a large blob goes through httpx, which answers auth challenges and
follows redirects; the other parts take the route it found, read straight from the socket into
one reused buffer per thread (:mod:`.direct`), so memory stays flat and the store's hasher has
a core of its own. A failed pull lets go of its partial blob, keeping what it wrote for the next.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

import httpx

from ocitypes import (
    MAX_MANIFEST_BYTES,
    Descriptor,
    Digest,
    DigestInvalid,
    Index,
    InvalidDigest,
    Manifest,
    ManifestInvalid,
    mediatypes,
    parse_any,
)

from ..errors import RemoteDigestMismatch, TransportError
from ..protocols import PartialBlob, PartialBlobs
from ..reference import Reference
from .direct import DirectReader, Stale, Target
from .events import Action, BlobOutcome, NoProgress, Progress, PullResult
from .transport import Transport

__all__ = ["ACCEPT", "Fetched", "Puller", "fetch_manifest"]

ACCEPT = ", ".join(
    (mediatypes.DOCKER_MANIFEST, mediatypes.OCI_MANIFEST, mediatypes.OCI_INDEX,
     mediatypes.DOCKER_MANIFEST_LIST)
)
"""Every manifest type lamina reads: Distribution 2.8 rewrites a Docker manifest fetched by
tag without its type in Accept (and fails), and hides OCI manifests from clients not asking."""

_WRITE_SIZE = 1024 * 1024
"""Bytes gathered before each ``write_at``: few enough calls, little memory per part."""
_BUFFER_SIZE = 2 * 1024 * 1024
"""Each thread's reused buffer for parts read straight from the socket."""
_PROBE_SIZE = 1024 * 1024
"""The first part, read through httpx to find the route: small, as httpx reads slowly."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """A manifest as received: bytes, media type, digest."""

    data: bytes
    media_type: str
    digest: Digest


def fetch_manifest(transport: Transport, reference: Reference) -> Fetched:
    """The manifest's exact bytes, checked: at most 4 MiB, hashing to the digest asked for (or
    the one the registry names), and shaped as a manifest or index."""
    url = transport.url(f"/v2/{reference.repository}/manifests/{reference.manifest_reference}")
    with transport.stream("GET", url, what=f"pull {reference}", headers={"Accept": ACCEPT}) as r:
        data = _read_limited(r, MAX_MANIFEST_BYTES, f"the manifest of {reference}")
        media_type = r.headers.get("Content-Type", "").split(";")[0].strip()
        named = r.headers.get("Docker-Content-Digest", "")
    digest = Digest.of(data)
    expected = reference.digest or _digest_or_none(named)
    if expected is not None and expected != digest:
        raise RemoteDigestMismatch(f"the manifest of {reference}", str(expected), str(digest))
    try:
        parsed = parse_any(data)
    except ManifestInvalid as exc:
        raise ManifestInvalid(f"{exc.problem} (from {reference})", exc.what) from exc
    return Fetched(data, parsed.media_type or media_type, digest)


def _digest_or_none(text: str) -> Digest | None:
    try:
        return Digest.parse(text.strip())
    except InvalidDigest:
        return None


def _read_limited(response: httpx.Response, limit: int, what: str) -> bytes:
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise ManifestInvalid(f"is {declared} bytes, over the {limit}-byte limit", what)
    data = bytearray()
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) > limit:
            raise ManifestInvalid(f"is over the {limit}-byte limit", what)
    return bytes(data)


class Puller:
    """Pulls from one registry into ``blobs``; ``parts`` ranged GETs at once per large blob."""

    def __init__(
        self,
        transport: Transport,
        blobs: PartialBlobs,
        *,
        progress: Progress | None = None,
        parts: int = 4,
        part_size: int = 16 * 1024 * 1024,
    ) -> None:
        self.transport = transport
        self.blobs = blobs
        self.progress = progress or NoProgress()
        self.parts = max(1, parts)
        self.part_size = max(1, part_size)

    def pull(self, reference: Reference) -> PullResult:
        """Fetch the manifest and every blob the store lacks; the manifest is not stored here
        (the caller files it under a name once every blob is in)."""
        manifest = fetch_manifest(self.transport, reference)
        parsed = parse_any(manifest.data)
        if isinstance(parsed, Index):
            manifest, parsed = self._choose(reference, parsed)
        result = PullResult(str(reference), manifest.digest, manifest.media_type, manifest.data)
        for descriptor in parsed.descriptors():
            result.blobs.append(self.fetch_blob(reference, descriptor))
        return result

    def _choose(self, reference: Reference, index: Index) -> tuple[Fetched, Manifest]:
        """The one manifest an index lists; lamina models are not multi-platform."""
        if len(index.manifests) != 1:
            raise ManifestInvalid(
                f"lists {len(index.manifests)} manifests; pull one of them by digest",
                f"the index {reference}",
            )
        chosen = Reference(reference.registry, reference.repository, None,
                           index.manifests[0].digest, reference.insecure)
        manifest = fetch_manifest(self.transport, chosen)
        parsed = parse_any(manifest.data)
        if isinstance(parsed, Index):
            raise ManifestInvalid("lists another index, not a model", f"the index {reference}")
        return manifest, parsed

    def fetch_blob(self, reference: Reference, descriptor: Descriptor) -> BlobOutcome:
        """One blob into the store, unless it is there already."""
        digest = descriptor.digest
        if self.blobs.exists(digest):
            self.progress.begin(descriptor, descriptor.size)
            self.progress.end(digest, "skipped")
            return BlobOutcome(digest, descriptor.size, descriptor.media_type, "skipped", 0)
        partial = self.blobs.partial(digest, descriptor.size)
        missing = list(partial.missing())
        todo = sum(end - start for start, end in missing)
        self.progress.begin(descriptor, descriptor.size - todo)
        url = self.transport.url(f"/v2/{reference.repository}/blobs/{digest}")
        try:
            self._fetch_ranges(url, partial, missing)
            self._commit(partial)
        except DigestInvalid:
            partial.abort()  # bytes that are not the blob's are worth nothing
            raise
        except BaseException:
            with contextlib.suppress(Exception):  # the failure that brought us here matters
                partial.close()  # keep what was written for the next pull, and let go
            raise
        action: Action = "resumed" if todo < descriptor.size else "fetched"
        self.progress.end(digest, action)
        return BlobOutcome(digest, descriptor.size, descriptor.media_type, action, todo)

    def _commit(self, partial: PartialBlob) -> None:
        try:
            partial.commit()
        except DigestInvalid as exc:
            digest = partial.digest
            actual = str(getattr(exc, "actual", "") or "other bytes")
            raise RemoteDigestMismatch(f"blob {digest.short}", str(digest), actual) from exc

    def _fetch_ranges(self, url: str, partial: PartialBlob, missing: list[tuple[int, int]]) -> None:
        pieces = list(_split(missing, self.part_size))
        whole = pieces == [(0, partial.size)]
        stop = threading.Event()
        if len(pieces) <= 1 or self.parts == 1:
            for start, end in pieces:
                _Part(self, url, partial, start, end, ranged=not whole, stop=stop).run()
            return
        route = _Route(self.transport)
        try:
            pieces = _probe_first(pieces)
            start, end = pieces.pop(0)
            _Part(self, url, partial, start, end, ranged=True, stop=stop, route=route).run()
            self._run_parts(url, partial, pieces, stop, route)
        finally:
            route.close()

    def _run_parts(self, url: str, partial: PartialBlob, pieces: list[tuple[int, int]],
                   stop: threading.Event, route: _Route) -> None:
        """Fetch ``pieces`` on ``parts`` threads, taken in order so the prefix grows steadily."""
        with ThreadPoolExecutor(self.parts, thread_name_prefix="lamina-pull") as pool:
            futures = [
                pool.submit(_Part(self, url, partial, start, end, ranged=True, stop=stop,
                                  route=route).run)
                for start, end in pieces
            ]
            try:
                done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            except BaseException:
                stop.set()
                raise
            failed = [f for f in done if f.exception() is not None]
            if failed:
                stop.set()
                wait(futures)
                raise failed[0].exception()  # type: ignore[misc]


def _split(ranges: list[tuple[int, int]], size: int) -> Iterator[tuple[int, int]]:
    for start, end in ranges:
        for at in range(start, end, size):
            yield at, min(at + size, end)


def _probe_first(pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pieces with a small first one cut off the first."""
    start, end = pieces[0]
    if end - start <= _PROBE_SIZE:
        return list(pieces)
    return [(start, start + _PROBE_SIZE), (start + _PROBE_SIZE, end), *pieces[1:]]


class _Route:
    """The direct route to a blob's bytes that httpx found (none until a 206 came back), and
    one reused buffer per thread for reading along it."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._reader: DirectReader | None = None
        self._readers: list[DirectReader] = []
        self._local = threading.local()

    @property
    def reader(self) -> DirectReader | None:
        with self._lock:
            return self._reader

    def learn(self, response: httpx.Response) -> None:
        """Take the route of a ranged answer that httpx fetched."""
        timeout = self._transport.client.timeout.read or 30.0
        reader = DirectReader(Target.of(response), timeout=timeout, host=self._transport.host)
        with self._lock:
            self._reader = reader
            self._readers.append(reader)

    def forget(self, reader: DirectReader) -> None:
        with self._lock:
            if self._reader is reader:
                self._reader = None

    def buffer(self) -> memoryview:
        found: memoryview | None = getattr(self._local, "buffer", None)
        if found is None:
            found = self._local.buffer = memoryview(bytearray(_BUFFER_SIZE))
        return found

    def close(self) -> None:
        with self._lock:
            readers, self._readers, self._reader = self._readers, [], None
        for reader in readers:
            reader.close()


class _Part:
    """One byte range of a blob, fetched with retries that continue where the last try ended."""

    def __init__(self, puller: Puller, url: str, partial: PartialBlob, start: int, end: int,
                 *, ranged: bool, stop: threading.Event, route: _Route | None = None) -> None:
        self.puller = puller
        self.url = url
        self.partial = partial
        self.offset = start
        self.end = end
        self.ranged = ranged
        self.stop = stop
        self.route = route

    def run(self) -> None:
        transport = self.puller.transport
        sleeps = transport.retry.sleeps()
        while self.offset < self.end and not self.stop.is_set():
            reader = self.route.reader if self.route is not None else None
            try:
                if reader is not None and self.route is not None:
                    self._attempt_direct(reader, self.route.buffer())
                else:
                    self._attempt()
            except Stale:  # the route went stale: httpx asks again (and finds a new one)
                assert self.route is not None and reader is not None
                self.route.forget(reader)
            except TransportError as exc:
                if isinstance(exc, RemoteDigestMismatch):
                    raise
                pause = next(sleeps, None)
                if pause is None:
                    raise
                transport._sleep(pause)

    def _attempt(self) -> None:
        transport = self.puller.transport
        headers = {"Accept-Encoding": "identity"}
        if self.ranged or self.offset > 0:
            headers["Range"] = f"bytes={self.offset}-{self.end - 1}"
        with transport.stream("GET", self.url, what=f"blob {self.partial.digest.short}",
                              ok=frozenset({200, 206}), headers=headers) as response:
            self._check_digest(response.headers.get("Docker-Content-Digest", ""))
            if self.route is not None and response.status_code == 206:
                self.route.learn(response)
            skip = self.offset if response.status_code == 200 else 0
            buffer: list[bytes] = []
            held = 0
            try:
                for chunk in response.iter_raw():
                    if self.stop.is_set():
                        break
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    room = self.end - self.offset - held
                    if len(chunk) > room:
                        chunk = chunk[:room]
                    buffer.append(chunk)
                    held += len(chunk)
                    if held >= _WRITE_SIZE or self.offset + held >= self.end:
                        self._flush(buffer)
                        held = 0
                    if self.offset >= self.end:
                        break
            finally:
                # Bytes that arrived before a broken connection are kept: the next try and a
                # later run start after them (the digest is checked over the whole blob).
                self._flush(buffer)
        if self.offset < self.end and not self.stop.is_set():
            raise TransportError(
                f"{transport.host} ended blob {self.partial.digest.short} at byte "
                f"{self.offset} of {self.end}"
            )

    def _attempt_direct(self, reader: DirectReader, buffer: memoryview) -> None:
        reached = reader.read(self.offset, self.end, buffer, self._write, self.stop,
                              self._check_digest)
        if reached < self.end and not self.stop.is_set():
            raise TransportError(
                f"{self.puller.transport.host} ended blob {self.partial.digest.short} at byte "
                f"{reached} of {self.end}"
            )

    def _write(self, offset: int, data: memoryview) -> None:
        """Write a stretch read into the thread's buffer (the store keeps no reference)."""
        self.partial.write_at(offset, data)
        self.offset = offset + len(data)
        self.puller.progress.advance(self.partial.digest, len(data))

    def _flush(self, buffer: list[bytes]) -> None:
        """Write the gathered chunks as one immutable piece (the store may keep it to hash)."""
        if buffer:
            data = b"".join(buffer)
            buffer.clear()
            self.partial.write_at(self.offset, data)
            self.offset += len(data)
            self.puller.progress.advance(self.partial.digest, len(data))

    def _check_digest(self, header: str) -> None:
        named = _digest_or_none(header)
        if named is not None and named != self.partial.digest:
            raise RemoteDigestMismatch(
                f"blob {self.partial.digest.short}", str(self.partial.digest), str(named)
            )
