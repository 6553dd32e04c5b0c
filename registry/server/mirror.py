"""Pull-through mirroring: what the store lacks is fetched from an upstream registry once,
checked against its digest, written through the store's own verified writes, then served.

    blobs, manifests by digest   local when present; else fetched once, never checked again
    a tag the store lacks        fetched; served at once, filed under the tag when its blobs are in
    a tag filed from upstream    checked upstream again once the last check is ``ttl`` seconds old
                                 (0: on every request); the local copy is served when the upstream
                                 is unreachable, fails, or no longer has the tag
    a tag pushed here            local: never replaced by the upstream's
    tag lists, the catalog       local only; pushes go to the local store, never upstream

A repository is the upstream's repository of the same name (``HOST/library/gemma3`` is the
upstream's ``library/gemma3``). Which tags came from the upstream is read from the store's
provenance ledger (the mirror records each manifest it files), so it survives restarts; the time
of the last check is kept in memory, so the first request after a start checks again.

A manifest fetched by tag is served from memory while its blobs are fetched in the background
(so the model is mirrored whole even when the first client gives up), and filed once every blob
is in: the store refuses a manifest naming blobs it lacks. A blob being fetched is fetched once;
other requests for it wait for that fetch and then read the stored blob. An upstream that
cannot deliver is a 502 naming it and what went wrong; a 404 upstream is the usual
MANIFEST_UNKNOWN or BLOB_UNKNOWN. Indexes are passed through, not kept (lamina models are not
multi-platform); the manifests they list are mirrored when asked for by digest.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from typing import Protocol, runtime_checkable

import ocitypes
from ocitypes import Digest, Manifest, parse_any

from ..client import Puller, fetch_manifest
from ..client.pull import Fetched
from ..client.transport import Transport
from ..errors import ErrorCode, NotFound, RegistryError
from ..protocols import ManifestStore, PartialBlob, PartialBlobs, Provenance
from ..reference import Reference

__all__ = ["Mirror", "UpstreamFailed"]

log = logging.getLogger("lamina.serve")

_OCTETS = "application/octet-stream"
DEFAULT_TTL = 300.0
"""Seconds a tag filed from the upstream is served without asking the upstream again."""


class UpstreamFailed(RegistryError):
    """The upstream could not deliver (unreachable, refused the mirror, sent bytes that do not
    match their digest): a 502, as the fault lies beyond this server and nothing was stored."""

    def __init__(self, host: str, what: str, error: Exception) -> None:
        super().__init__(502, ErrorCode.UNKNOWN,
                         f"the upstream {host} could not provide {what}: {error}")


class Mirror:
    """Pull-through of one upstream registry (``transport``) into the store's Protocols."""

    def __init__(
        self,
        transport: Transport,
        blobs: PartialBlobs,
        manifests: ManifestStore,
        provenance: Provenance,
        *,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] = time.monotonic,
        parts: int = 4,
    ) -> None:
        self.transport = transport
        self.host = transport.host
        self.blobs = blobs
        self.manifests = manifests
        self.provenance = provenance
        self.ttl = ttl
        self.clock = clock
        self.parts = parts
        self._lock = threading.Lock()
        self._flights: dict[Digest, Future[None]] = {}
        self._pending: dict[tuple[str, str], Fetched] = {}
        self._sizes: dict[Digest, int] = {}
        self._checked: dict[tuple[str, str], float] = {}
        self._fills: set[Future[None]] = set()

    # -- what the handlers call (blocking; run in worker threads) ----------------------------

    def manifest(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest's bytes and media type: local, pending, or fetched from upstream."""
        with self._lock:
            pending = self._pending.get((repository, reference))
        if pending is not None:
            return pending.data, pending.media_type
        local = self._local(repository, reference)
        if reference.startswith("sha256:"):
            if local is not None:
                return local
            return self._serve(repository, reference, self._fetch(repository, reference))
        if local is not None and not self._due(repository, reference, local[0]):
            return local
        try:
            fetched = self._fetch(repository, reference)
        except (ocitypes.ManifestUnknown, UpstreamFailed) as exc:
            if local is None:
                raise
            log.warning("serving the local %s:%s: %s", repository, reference, exc)
            self._mark(repository, reference)  # asked again only after the ttl
            return local
        self._mark(repository, reference)
        if local is not None and Digest.of(local[0]) == fetched.digest:
            return local
        return self._serve(repository, reference, fetched)

    def blob(self, repository: str, digest: Digest) -> None:
        """Make sure the store holds the blob, fetching it from upstream once if it does not;
        ``BlobUnknown`` when the upstream lacks it too."""
        if self.blobs.exists(digest):
            return
        try:
            self._ensure_blob(repository, digest)
        except NotFound:
            raise ocitypes.BlobUnknown(str(digest)) from None
        except (RegistryError, ocitypes.ManifestInvalid) as exc:
            raise UpstreamFailed(self.host, f"blob {digest}", exc) from exc

    def settle(self, timeout: float | None = None) -> None:
        """Wait for the background fills started so far (tests; a graceful stop)."""
        with self._lock:
            fills = list(self._fills)
        wait(fills, timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Give running fills ``timeout`` seconds, then close the upstream connections."""
        self.settle(timeout)
        self.transport.close()

    # -- manifests ---------------------------------------------------------------------------

    def _local(self, repository: str, reference: str) -> tuple[bytes, str] | None:
        try:
            return self.manifests.get(repository, reference)
        except ocitypes.ManifestUnknown:
            return None

    def _due(self, repository: str, tag: str, data: bytes) -> bool:
        """Whether a local tag is to be checked upstream: one the mirror filed, last checked
        more than ``ttl`` seconds ago."""
        if repository not in self.provenance.known(Digest.of(data), self.host):
            return False  # pushed here, or made here: the local store owns it
        with self._lock:
            checked = self._checked.get((repository, tag))
        return checked is None or self.clock() - checked >= self.ttl

    def _mark(self, repository: str, tag: str) -> None:
        with self._lock:
            self._checked[(repository, tag)] = self.clock()

    def _fetch(self, repository: str, reference: str) -> Fetched:
        target = self._reference(repository, reference)
        try:
            return fetch_manifest(self.transport, target)
        except NotFound:
            raise ocitypes.ManifestUnknown(f"{repository}:{reference}",
                                           f"not on the upstream {self.host} either") from None
        except (RegistryError, ocitypes.ManifestInvalid) as exc:
            raise UpstreamFailed(self.host, f"the manifest {repository}:{reference}",
                                 exc) from exc

    def _serve(self, repository: str, reference: str, fetched: Fetched) -> tuple[bytes, str]:
        """Hand out an upstream manifest now; file it in the background once its blobs are in."""
        parsed = parse_any(fetched.data)
        if isinstance(parsed, Manifest):
            self._start_fill(repository, reference, fetched, parsed)
        return fetched.data, fetched.media_type

    def _start_fill(self, repository: str, reference: str, fetched: Fetched,
                    parsed: Manifest) -> None:
        keys = {(repository, reference), (repository, str(fetched.digest))}
        with self._lock:
            if any(key in self._pending for key in keys):
                return
            for key in keys:
                self._pending[key] = fetched
            for descriptor in parsed.descriptors():
                self._sizes[descriptor.digest] = descriptor.size
            future: Future[None] = Future()
            self._fills.add(future)
        future.add_done_callback(self._fill_done)

        def job() -> None:
            try:
                self._fill(repository, reference, fetched, parsed, keys)
            finally:
                future.set_result(None)

        # A daemon thread: stopping the server does not wait for a download, which a later
        # request resumes from the partial blob's finished ranges.
        threading.Thread(target=job, name="lamina-mirror-fill", daemon=True).start()

    def _fill_done(self, future: Future[None]) -> None:
        with self._lock:
            self._fills.discard(future)

    def _fill(self, repository: str, reference: str, fetched: Fetched, parsed: Manifest,
              keys: set[tuple[str, str]]) -> None:
        try:
            for descriptor in parsed.descriptors():
                self._ensure_blob(repository, descriptor.digest)
            self.manifests.put(repository, reference, fetched.data, fetched.media_type)
            self.provenance.record(fetched.digest, self.host, repository)
        except Exception as exc:  # a background job: said in the log, asked again next time
            log.warning("could not mirror %s:%s from %s: %s", repository, reference,
                        self.host, exc)
            with self._lock:
                self._checked.pop((repository, reference), None)
        finally:
            with self._lock:
                for key in keys:
                    self._pending.pop(key, None)
                for descriptor in parsed.descriptors():
                    self._sizes.pop(descriptor.digest, None)

    # -- blobs -------------------------------------------------------------------------------

    def _ensure_blob(self, repository: str, digest: Digest) -> None:
        """Fetch the blob unless stored; one fetch per blob, which later callers wait for."""
        if self.blobs.exists(digest):
            return
        with self._lock:
            flight = self._flights.get(digest)
            mine = flight is None
            if flight is None:
                flight = self._flights[digest] = Future()
        if not mine:
            flight.result()  # the fetcher's own error, if it failed
            return
        try:
            self._fetch_blob(repository, digest)
            flight.set_result(None)
        except BaseException as exc:
            flight.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._flights[digest]

    def _fetch_blob(self, repository: str, digest: Digest) -> None:
        with self._lock:
            size = self._sizes.get(digest)
        target = self._reference(repository, str(digest))
        if size is None:
            size = self._upstream_size(repository, digest)
        descriptor = ocitypes.Descriptor(_OCTETS, digest, size)
        blobs = _Opened(self.blobs)
        try:
            Puller(self.transport, blobs, parts=self.parts).fetch_blob(target, descriptor)
        except BaseException:
            blobs.let_go()
            raise
        self.provenance.record(digest, self.host, repository)

    def _upstream_size(self, repository: str, digest: Digest) -> int:
        url = self.transport.url(f"/v2/{repository}/blobs/{digest}")
        response = self.transport.request("HEAD", url, what=f"blob {digest.short}")
        length = response.headers.get("Content-Length", "")
        if not length.isdigit():
            raise ocitypes.ManifestInvalid("names no Content-Length", f"the blob {digest}")
        return int(length)

    def _reference(self, repository: str, reference: str) -> Reference:
        digest = Digest.parse(reference) if reference.startswith("sha256:") else None
        return Reference(self.host, repository, None if digest else reference, digest,
                         self.transport.reference.insecure)


@runtime_checkable
class _Closable(Protocol):
    def close(self) -> None: ...


class _Opened:
    """The store's partial blobs, remembering those a fetch opened: one a failed fetch left
    open still holds the store's lock on it, which the next request's fetch would wait for
    forever; closing it keeps its finished ranges, so that fetch resumes instead."""

    def __init__(self, blobs: PartialBlobs) -> None:
        self.blobs = blobs
        self.opened: list[PartialBlob] = []

    def exists(self, digest: Digest) -> bool:
        return self.blobs.exists(digest)

    def partial(self, digest: Digest, size: int) -> PartialBlob:
        partial = self.blobs.partial(digest, size)
        self.opened.append(partial)
        return partial

    def let_go(self) -> None:
        for partial in self.opened:
            if isinstance(partial, _Closable):
                partial.close()
