"""Pull a manifest and its blobs (distribution-spec §Pull) into partial blobs of a store.

The manifest comes back as the exact bytes received, checked against its digest. Each blob the
store lacks is fetched into a :class:`~registry.protocols.PartialBlob`: in ranged streams when
it is large, resuming after an interrupted or killed pull with only the ranges still missing,
and published only when its bytes hash to its digest. A registry may answer a blob GET with 200
and the whole body (CNCF Distribution) or with a redirect to a CDN (followed, without the
Authorization header); one that ignores ``Range`` gets the skipped prefix read and dropped.

The first 64 KiB of a large blob go through httpx, which answers auth challenges and
follows redirects; the rest takes the route it found, read straight from the socket into the
store's own buffers (:mod:`.direct`, :meth:`~registry.protocols.PartialBlob.receive`), which
it writes and hashes on two more threads while the socket is read: memory stays flat, and each
byte crosses memory once. One stream is enough on a fast network (the hasher is then the
limit, and a second stream's bytes would have to be read back to be hashed in order); more
streams are opened, each taking half of what another has left, while the ones running are
slow. The manifest's other blobs, small as a rule, come meanwhile on a thread of their own.
A failed pull lets go of its partial blob, keeping what it wrote for the next.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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
from .direct import DirectReader, ReadInto, Stale, Target
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
_WHOLE_SIZE = 1024 * 1024
"""Blobs up to this size come through httpx whole: the direct route's buffers would cost more."""
_PROBE_SIZE = 64 * 1024
"""The first part of a larger blob, read through httpx to find the route: small, as httpx
reads slowly (a 1 MiB probe took 20 ms of a 2 GiB pull from a local registry)."""
_ALIGN = 4096
"""Streams after the first start on a multiple of this, so the store can write them with
direct I/O."""


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
    """Pulls from one registry into ``blobs``. A large blob comes in up to ``parts`` ranged
    streams at once: more are opened while each delivers less than ``stream_rate`` bytes a
    second (measured every ``window`` seconds), each taking over half of what another has left,
    never less than ``part_size``."""

    def __init__(
        self,
        transport: Transport,
        blobs: PartialBlobs,
        *,
        progress: Progress | None = None,
        parts: int = 4,
        part_size: int = 16 * 1024 * 1024,
        stream_rate: float = 100e6,
        window: float = 2.0,
    ) -> None:
        self.transport = transport
        self.blobs = blobs
        self.progress = progress or NoProgress()
        self.parts = max(1, parts)
        self.part_size = max(1, part_size)
        self.stream_rate = stream_rate
        self.window = window

    def pull(self, reference: Reference) -> PullResult:
        """Fetch the manifest and every blob the store lacks; the manifest is not stored here
        (the caller files it under a name once every blob is in)."""
        manifest = fetch_manifest(self.transport, reference)
        parsed = parse_any(manifest.data)
        if isinstance(parsed, Index):
            manifest, parsed = self._choose(reference, parsed)
        result = PullResult(str(reference), manifest.digest, manifest.media_type, manifest.data)
        result.blobs.extend(self._fetch_blobs(reference, list(parsed.descriptors())))
        return result

    def _fetch_blobs(self, reference: Reference,
                     descriptors: list[Descriptor]) -> list[BlobOutcome]:
        """Every blob, outcomes in the manifest's order. The largest comes on this thread, the
        others meanwhile, one after another on a thread of their own: they are small as a rule
        (config, template, parameters), and each costs a round trip and a few fsyncs that
        would otherwise come before or after the long transfer (about 30 ms a pull)."""
        if len(descriptors) < 2:
            return [self.fetch_blob(reference, d) for d in descriptors]
        largest = max(range(len(descriptors)), key=lambda i: descriptors[i].size)
        others = [d for i, d in enumerate(descriptors) if i != largest]
        stop = threading.Event()

        def fetch_others() -> list[BlobOutcome]:
            return [self.fetch_blob(reference, d) for d in others if not stop.is_set()]

        pool = ThreadPoolExecutor(1, thread_name_prefix="lamina-pull-small")
        try:
            rest = pool.submit(fetch_others)
            main = self.fetch_blob(reference, descriptors[largest])
            outcomes = rest.result()
        except BaseException:
            # Not waited for: a blob under way may sit out a read timeout, and Ctrl-C must
            # not. What it wrote stays a partial blob for the next pull.
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        outcomes.insert(largest, main)
        return outcomes

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
        # Published by another process while this one waited for the partial blob's lock.
        stored = not missing and self.blobs.exists(digest)
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
        if stored:
            action = "skipped"
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
        stop = threading.Event()
        todo = sum(end - start for start, end in missing)
        if todo <= min(_WHOLE_SIZE, self.part_size):
            whole = missing == [(0, partial.size)]
            for start, end in missing:
                _Part(self, url, partial, start, end, ranged=not whole, stop=stop).run()
            return
        route = _Route(self.transport)
        try:
            start, end = missing[0]
            cut = min(end, start + min(_PROBE_SIZE, self.part_size))
            _Part(self, url, partial, start, cut, ranged=True, stop=stop, route=route).run()
            rest = [(cut, end), *missing[1:]] if cut < end else missing[1:]
            plan = _Plan(rest, max(_ALIGN, self.part_size))
            _Streams(self, url, partial, plan, route, stop).run()
        finally:
            route.close()


class _Route:
    """The direct route to a blob's bytes that httpx found (none until a 206 came back)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._reader: DirectReader | None = None
        self._readers: list[DirectReader] = []

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

    def close(self) -> None:
        with self._lock:
            readers, self._readers, self._reader = self._readers, [], None
        for reader in readers:
            reader.close()

    def interrupt(self) -> None:
        """End the direct reads under way (the streams are told to stop)."""
        with self._lock:
            readers = list(self._readers)
        for reader in readers:
            reader.interrupt()


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
            try:
                self._attempt()
            except TransportError as exc:
                _pause_or_raise(transport, sleeps, exc, self.stop)

    def _attempt(self) -> None:
        transport = self.puller.transport
        headers = {"Accept-Encoding": "identity"}
        if self.ranged or self.offset > 0:
            headers["Range"] = f"bytes={self.offset}-{self.end - 1}"
        with transport.stream("GET", self.url, what=f"blob {self.partial.digest.short}",
                              ok=frozenset({200, 206}), headers=headers) as response:
            _checker(self.partial)(response.headers.get("Docker-Content-Digest", ""))
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

    def _flush(self, buffer: list[bytes]) -> None:
        """Write the gathered chunks as one immutable piece (the store may keep it to hash)."""
        if buffer:
            data = b"".join(buffer)
            buffer.clear()
            self.partial.write_at(self.offset, data)
            self.offset += len(data)
            self.puller.progress.advance(self.partial.digest, len(data))



@dataclass(slots=True)
class _Span:
    """Bytes one stream fetches: from ``start`` (which it moves on) to ``end`` (which another
    stream may move back, taking over the tail)."""

    start: int
    end: int
    reading_to: int = 0  # the end of the read under way: a split never cuts before it
    splittable: bool = True


class _Plan:
    """The bytes still to fetch, handed out to streams. When nothing is left unassigned, a new
    stream takes the back half of the biggest remainder (never less than ``smallest``)."""

    def __init__(self, ranges: list[tuple[int, int]], smallest: int) -> None:
        self._lock = threading.Lock()
        self._queue = [_Span(start, end) for start, end in ranges]
        self._active: list[_Span] = []
        self._smallest = smallest
        self.fetched = 0

    def take(self) -> _Span | None:
        with self._lock:
            span = self._queue.pop(0) if self._queue else self._split()
            if span is not None:
                self._active.append(span)
            return span

    def can_split(self) -> bool:
        with self._lock:
            return bool(self._queue) or self._biggest() is not None

    def _biggest(self) -> _Span | None:
        spans = [s for s in self._active if s.splittable]
        span = max(spans, key=lambda s: s.end - max(s.start, s.reading_to), default=None)
        if span is None or span.end - max(span.start, span.reading_to) < 2 * self._smallest:
            return None
        return span

    def _split(self) -> _Span | None:
        span = self._biggest()
        if span is None:
            return None
        begun = max(span.start, span.reading_to)
        middle = begun + (span.end - begun) // 2
        middle += -middle % _ALIGN  # the new stream starts on a block: direct writes from there
        if middle >= span.end:
            return None
        taken = _Span(middle, span.end)
        span.end = middle
        return taken

    def room(self, span: _Span, wanted: int) -> int:
        """How much of ``wanted`` a stream may read now, reserving it against splits."""
        with self._lock:
            count = max(0, min(wanted, span.end - span.start))
            span.reading_to = span.start + count
            return count

    def advance(self, span: _Span, count: int) -> None:
        with self._lock:
            span.start += count
            self.fetched += count

    def reached(self, span: _Span, offset: int) -> None:
        """The stream's bytes are written up to ``offset`` (a stream that broke off)."""
        with self._lock:
            span.start = offset
            span.reading_to = 0

    def done(self, span: _Span) -> None:
        with self._lock:
            self._active.remove(span)


class _Streams:
    """Fetches a plan with one stream to begin with, and more, up to ``parts``, while the
    streams together deliver less than :attr:`Puller.stream_rate` each (a far registry, or a CDN
    that caps each connection). One stream suffices where the network is fast: its bytes are
    hashed from memory as they are written, while a later stream's must be read back."""

    def __init__(self, puller: Puller, url: str, partial: PartialBlob, plan: _Plan,
                 route: _Route, stop: threading.Event) -> None:
        self.puller = puller
        self.url = url
        self.partial = partial
        self.plan = plan
        self.route = route
        self.stop = stop

    def run(self) -> None:
        puller = self.puller
        with ThreadPoolExecutor(puller.parts, thread_name_prefix="lamina-pull") as pool:
            futures = [pool.submit(self._work)]
            try:
                self._watch(pool, futures)
            except BaseException:
                self._stop_streams()
                raise

    def _watch(self, pool: ThreadPoolExecutor, futures: list[Future[None]]) -> None:
        puller = self.puller
        seen, since = self.plan.fetched, time.monotonic()
        while True:
            done, pending = wait(futures, timeout=puller.window, return_when=FIRST_EXCEPTION)
            failed = [f for f in done if f.exception() is not None]
            if failed:
                self._stop_streams()
                wait(futures)
                raise failed[0].exception()  # type: ignore[misc]
            if not pending:
                return
            now = time.monotonic()
            if not self.plan.fetched:  # waiting for the first byte is latency, not a rate
                since = now
                continue
            rate = (self.plan.fetched - seen) / max(now - since, 1e-9)
            seen, since = self.plan.fetched, now
            slow = rate < puller.stream_rate * len(pending)
            if slow and len(pending) < puller.parts and self.plan.can_split():
                futures.append(pool.submit(self._work))

    def _stop_streams(self) -> None:
        """The streams end at their next read, and a read under way ends now (it might wait
        for a registry that stopped sending until the read timeout)."""
        self.stop.set()
        self.route.interrupt()

    def _work(self) -> None:
        while not self.stop.is_set():
            span = self.plan.take()
            if span is None:
                return
            try:
                self._fetch(span)
            finally:
                self.plan.done(span)

    def _fetch(self, span: _Span) -> None:
        """One span, with retries that go on where the last try ended."""
        transport = self.puller.transport
        sleeps = transport.retry.sleeps()
        while span.start < span.end and not self.stop.is_set():
            reader = self.route.reader
            try:
                if reader is None:
                    self._through_httpx(span)
                else:
                    self._direct(reader, span)
            except Stale:  # the route went stale: httpx asks again (and finds a new one)
                assert reader is not None
                self.route.forget(reader)
            except TransportError as exc:
                _pause_or_raise(transport, sleeps, exc, self.stop)

    def _through_httpx(self, span: _Span) -> None:
        span.splittable = False  # its end is in the request: no other stream may take it
        part = _Part(self.puller, self.url, self.partial, span.start, span.end, ranged=True,
                     stop=self.stop, route=self.route)
        try:
            part.run()
        finally:
            self.plan.reached(span, part.offset)

    def _direct(self, reader: DirectReader, span: _Span) -> None:
        """Stream the span's bytes from the socket into the store's buffers."""
        broke: list[TransportError] = []
        digest = self.partial.digest
        progress = self.puller.progress

        def take(source: ReadInto) -> int:
            def readinto(view: memoryview) -> int:
                room = 0 if self.stop.is_set() or broke else self.plan.room(span, len(view))
                if not room:
                    return 0
                try:
                    count = source(view[:room])
                except TransportError as exc:  # kept: what arrived before it is written first
                    broke.append(exc)
                    return 0
                self.plan.advance(span, count)
                progress.advance(digest, count)
                return count

            return self.partial.receive(span.start, span.end, readinto)

        reached = reader.read(span.start, span.end, take, _checker(self.partial))
        self.plan.reached(span, reached)
        if broke:
            raise broke[0]
        if reached < span.end and not self.stop.is_set():
            raise TransportError(f"{self.puller.transport.host} ended blob {digest.short} at "
                                 f"byte {reached} of {span.end}")


def _pause_or_raise(transport: Transport, sleeps: Iterator[float], error: TransportError,
                    stop: threading.Event) -> None:
    """Wait before the next try, or raise ``error`` when no try can help (wrong bytes) or the
    tries are used up. Once ``stop`` is set (the read was broken off on purpose) it returns at
    once, and the caller's loop, which checks ``stop``, ends."""
    if stop.is_set():
        return
    if isinstance(error, RemoteDigestMismatch):
        raise error
    pause = next(sleeps, None)
    if pause is None:
        raise error
    transport._sleep(pause)


def _checker(partial: PartialBlob) -> Callable[[str], None]:
    def check(header: str) -> None:
        named = _digest_or_none(header)
        if named is not None and named != partial.digest:
            raise RemoteDigestMismatch(f"blob {partial.digest.short}", str(partial.digest),
                                       str(named))

    return check
