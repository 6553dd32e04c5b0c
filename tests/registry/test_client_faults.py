"""Faults between the client and a real Distribution, injected by a proxy on loopback."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable

import httpx
import pytest

from ocitypes import Digest, ManifestInvalid, mediatypes
from registry.client import Credentials, Puller, Pusher, PushResult, Retry, connect
from registry.errors import Denied, RemoteDigestMismatch, TransportError
from registry.reference import Reference

from .distribution import PASSWORD, USER, Proxy, ProxyHandler, Registry
from .fakes import MemoryBlobs, MemoryPushSessions
from .test_client_distribution import make_model

FAST = Retry(attempts=3, backoff=0.01)
MakeProxy = Callable[[str], Proxy]


def pushed(registry: Registry, repository: str, weights: bytes) -> tuple[MemoryBlobs, bytes]:
    source = MemoryBlobs()
    manifest = make_model(source, weights)
    target = Reference(registry.host, repository, "latest")
    with connect(target, retry=FAST) as transport:
        Pusher(transport, source).push(target, manifest, mediatypes.MANIFEST)
    return source, manifest


def test_wrong_blob_bytes_are_not_stored(distribution: Registry, proxy_factory: MakeProxy) -> None:
    weights = os.urandom(40_000)
    pushed(distribution, "faults/wrong", weights)
    proxy = proxy_factory(distribution.host)
    digest = Digest.of(weights)
    # The first byte flipped (a fixed b"X" would match a random first byte once in 256 runs).
    proxy.rewrite = (lambda path, data: bytes([data[0] ^ 0xFF]) + data[1:]
                     if str(digest) in path else data)
    sink = MemoryBlobs()
    target = Reference(proxy.host, "faults/wrong", "latest")
    with connect(target, retry=FAST) as transport, pytest.raises(RemoteDigestMismatch) as caught:
        Puller(transport, sink).pull(target)
    assert digest not in sink.blobs and digest not in sink.partials
    assert f"expected {digest}" in str(caught.value)


def test_truncated_body_is_retried_then_fails(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(40_000)
    pushed(distribution, "faults/truncated", weights)
    proxy = proxy_factory(distribution.host)
    digest = Digest.of(weights)

    def truncate(handler: ProxyHandler) -> bool:
        if handler.command == "GET" and str(digest) in handler.path:
            asked = handler.headers.get("Range", "bytes=0-").removeprefix("bytes=")
            start = int(asked.split("-")[0])
            status = 206 if start else 200
            headers = {"Content-Range": f"bytes {start}-{len(weights) - 1}/{len(weights)}"}
            handler.answer(status, weights[start : start + 1000], headers,
                           length=len(weights) - start)
            return True
        return False

    proxy.fault = truncate
    sink = MemoryBlobs()
    target = Reference(proxy.host, "faults/truncated", "latest")
    with connect(target, retry=FAST) as transport, pytest.raises(TransportError) as caught:
        Puller(transport, sink).pull(target)
    assert digest not in sink.blobs
    assert "broke off" in str(caught.value) or "ended blob" in str(caught.value)
    # Each retry continued where the last one stopped, with a Range request.
    ranges = [h.get("Range") for m, p, h in proxy.seen if str(digest) in p]
    assert ranges[1:] == ["bytes=1000-39999", "bytes=2000-39999"]
    # The failed pull let go of its partial blob, keeping what arrived for the next pull.
    left = sink.partials[digest]
    assert left.closed
    assert left.missing() == [(3000, len(weights))]


def _starts(proxy: Proxy, digest: Digest) -> list[int]:
    """Where each ranged blob GET the proxy saw began."""
    return [int(h["Range"].removeprefix("bytes=").split("-")[0])
            for m, p, h in proxy.seen if str(digest) in p and "Range" in h]


def test_slow_streams_are_joined_by_more_each_byte_fetched_once(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(3_000_000)
    pushed(distribution, "faults/streams", weights)
    proxy = proxy_factory(distribution.host)
    proxy.throttle = 0.002  # about 30 MB/s a connection: slower than the stream rate asked
    digest = Digest.of(weights)
    sink = MemoryBlobs()  # it refuses a byte written twice
    target = Reference(proxy.host, "faults/streams", "latest")
    with connect(target, retry=FAST) as transport:
        result = Puller(transport, sink, part_size=100_000, parts=3, window=0.02).pull(target)
    assert sink.blobs[digest] == weights
    model = next(b for b in result.blobs if b.digest == digest)
    assert model.transferred == len(weights)
    starts = _starts(proxy, digest)
    assert len(starts) >= 3  # the probe, the first stream, and at least one that joined it
    assert all(start % 4096 == 0 for start in starts[2:])  # joiners start on a block


def test_a_fast_stream_is_left_alone(distribution: Registry, proxy_factory: MakeProxy) -> None:
    weights = os.urandom(3_000_000)
    pushed(distribution, "faults/one-stream", weights)
    proxy = proxy_factory(distribution.host)
    digest = Digest.of(weights)
    sink = MemoryBlobs()
    target = Reference(proxy.host, "faults/one-stream", "latest")
    with connect(target, retry=FAST) as transport:
        Puller(transport, sink, part_size=100_000, parts=3, window=0.02,
               stream_rate=1.0).pull(target)
    assert sink.blobs[digest] == weights
    assert _starts(proxy, digest) == [0, 64 * 1024]  # a 64 KiB probe, then one stream


def test_a_pull_that_fails_in_a_ranged_part_lets_go_of_its_partial(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(3_000_000)
    pushed(distribution, "faults/ranged", weights)
    proxy = proxy_factory(distribution.host)
    proxy.throttle = 0.002
    digest = Digest.of(weights)

    def refuse_late_parts(handler: ProxyHandler) -> bool:
        asked = handler.headers.get("Range", "bytes=0-").removeprefix("bytes=")
        if str(digest) in handler.path and int(asked.split("-")[0]) >= 1_000_000:
            handler.close_connection = True  # the connection drops before any answer
            return True
        return False

    proxy.fault = refuse_late_parts
    sink = MemoryBlobs()
    target = Reference(proxy.host, "faults/ranged", "latest")
    with connect(target, retry=FAST) as transport, pytest.raises(TransportError):
        Puller(transport, sink, part_size=100_000, parts=3, window=0.02).pull(target)
    left = sink.partials[digest]
    assert left.closed and digest not in sink.blobs
    assert max(_starts(proxy, digest)) >= 1_000_000  # a joining stream was refused
    missing = left.missing()
    assert missing and missing[-1][1] == len(weights) and missing[0][0] >= 100_000
    # What was written stays: the first stream's bytes up to where it stopped.
    assert sum(end - start for start, end in missing) < len(weights) - 100_000


def test_small_blobs_come_while_the_largest_streams(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(200_000)
    pushed(distribution, "faults/overlap", weights)
    proxy = proxy_factory(distribution.host)
    system = Digest.of(b"be brief")  # the layer listed after the weights
    asked_for_system = threading.Event()
    served_after_system: list[bool] = []

    def hold_weights(handler: ProxyHandler) -> bool:
        if handler.command == "GET" and str(system) in handler.path:
            asked_for_system.set()
        elif handler.command == "GET" and str(Digest.of(weights)) in handler.path:
            # One blob after another, the system prompt would be asked for only once the
            # weights are in: this waits out its timeout, and the test fails.
            served_after_system.append(asked_for_system.wait(timeout=5))
        return False

    proxy.fault = hold_weights
    sink = MemoryBlobs()
    target = Reference(proxy.host, "faults/overlap", "latest")
    with connect(target, retry=FAST) as transport:
        pulled = Puller(transport, sink).pull(target)
    assert served_after_system and all(served_after_system)
    # Outcomes still come in the manifest's order: config, weights, system prompt.
    assert [b.digest for b in pulled.blobs][1:] == [Digest.of(weights), system]
    assert sink.blobs[Digest.of(weights)] == weights


def test_malformed_manifest(distribution: Registry, proxy_factory: MakeProxy) -> None:
    pushed(distribution, "faults/malformed", os.urandom(100))
    proxy = proxy_factory(distribution.host)
    bad = b'{"schemaVersion": 2, "layers": 7}'
    proxy.rewrite = lambda path, data: bad if "/manifests/" in path else data
    target = Reference(proxy.host, "faults/malformed", "latest")
    with connect(target, retry=FAST) as transport, pytest.raises(ManifestInvalid) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert "faults/malformed" in str(caught.value)


def test_manifest_over_4_mib_is_refused(distribution: Registry, proxy_factory: MakeProxy) -> None:
    pushed(distribution, "faults/huge", os.urandom(100))
    proxy = proxy_factory(distribution.host)
    proxy.rewrite = lambda path, data: data + b" " * (4 << 20) if "/manifests/" in path else data
    target = Reference(proxy.host, "faults/huge", "latest")
    with connect(target, retry=FAST) as transport, pytest.raises(ManifestInvalid) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert "over the 4194304-byte limit" in str(caught.value)


def test_manifest_by_digest_is_verified(distribution: Registry, proxy_factory: MakeProxy) -> None:
    _, manifest = pushed(distribution, "faults/bydigest", os.urandom(100))
    proxy = proxy_factory(distribution.host)
    proxy.rewrite = lambda path, data: data + b"\n" if "/manifests/" in path else data
    target = Reference(proxy.host, "faults/bydigest", None, Digest.of(manifest))
    with connect(target, retry=FAST) as transport, pytest.raises(RemoteDigestMismatch):
        Puller(transport, MemoryBlobs()).pull(target)


def test_forbidden(distribution: Registry, proxy_factory: MakeProxy) -> None:
    proxy = proxy_factory(distribution.host)

    def deny(handler: ProxyHandler) -> bool:
        body = b'{"errors":[{"code":"DENIED","message":"requested access is denied"}]}'
        handler.answer(403, body, {"Content-Type": "application/json"})
        return True

    proxy.fault = deny
    target = Reference(proxy.host, "faults/denied", "latest")
    with connect(target, retry=FAST) as transport, pytest.raises(Denied) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert "denied" in str(caught.value) and "HTTP 403" in str(caught.value)


def test_server_errors_are_retried(distribution: Registry, proxy_factory: MakeProxy) -> None:
    _, manifest = pushed(distribution, "faults/flaky", os.urandom(1000))
    proxy = proxy_factory(distribution.host)
    failures = iter(range(2))

    def flaky(handler: ProxyHandler) -> bool:
        if next(failures, None) is not None:
            handler.answer(503, b"busy")
            return True
        return False

    proxy.fault = flaky
    target = Reference(proxy.host, "faults/flaky", "latest")
    with connect(target, retry=FAST) as transport:
        assert Puller(transport, MemoryBlobs()).pull(target).manifest == manifest


def test_redirect_to_another_host_drops_authorization(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(5000)
    pushed(distribution, "faults/cdn", weights)
    cdn = proxy_factory(distribution.host)
    front = proxy_factory(distribution.host)
    digest = Digest.of(weights)

    def redirect(handler: ProxyHandler) -> bool:
        if handler.command == "GET" and str(digest) in handler.path:
            handler.answer(307, b"", {"Location": f"http://{cdn.host}{handler.path}"})
            return True
        return False

    front.fault = redirect
    target = Reference(front.host, "faults/cdn", "latest")
    secret = Credentials(USER, PASSWORD)
    with connect(target, lambda host: secret, retry=FAST) as transport:
        transport.client.headers["Authorization"] = secret.basic()
        sink = MemoryBlobs()
        Puller(transport, sink).pull(target)
    assert sink.blobs[digest] == weights
    cdn_requests = [h for m, p, h in cdn.seen]
    assert cdn_requests and all("Authorization" not in h for h in cdn_requests)
    assert any("Authorization" in h for m, p, h in front.seen)


def test_resume_fetches_only_missing_ranges(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(300_000)
    pushed(distribution, "faults/resume", weights)
    proxy = proxy_factory(distribution.host)
    digest = Digest.of(weights)
    sink = MemoryBlobs()
    partial = sink.partial(digest, len(weights))
    partial.write_at(0, weights[:150_000])  # what an earlier, killed pull left
    target = Reference(proxy.host, "faults/resume", "latest")
    with connect(target, retry=FAST) as transport:
        result = Puller(transport, sink, part_size=50_000, parts=3).pull(target)
    assert sink.blobs[digest] == weights
    model = next(b for b in result.blobs if b.digest == digest)
    assert (model.action, model.transferred) == ("resumed", 150_000)
    assert min(_starts(proxy, digest)) == 150_000  # nothing before the missing bytes asked for


def _drop_patch(number: int, *, once: bool = False) -> Callable[[ProxyHandler], bool]:
    """A fault that breaks the connection on the ``number``-th PATCH (and, unless ``once``,
    every later one), before the registry sees it: the registry's session holds exactly the
    chunks before it."""
    count = iter(range(1, 1000))

    def fault(handler: ProxyHandler) -> bool:
        seen = next(count) if handler.command == "PATCH" else 0
        if seen == number or (seen > number and not once):
            handler.close_connection = True
            return True
        return False

    return fault


def _chunked_push(proxy: Proxy, source: MemoryBlobs, manifest: bytes,
                  sessions: MemoryPushSessions) -> PushResult:
    target = Reference(proxy.host, "faults/chunked", "latest")
    with connect(target, retry=FAST) as transport:
        pusher = Pusher(transport, source, sessions=sessions, chunk_size=100_000)
        return pusher.push(target, manifest, mediatypes.MANIFEST)


def _patch_ranges(proxy: Proxy) -> list[str]:
    return [headers["Content-Range"] for method, _, headers in proxy.seen if method == "PATCH"]


def test_a_failed_chunked_push_resumes_from_the_registrys_offset(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(300_000)
    source = MemoryBlobs()
    manifest = make_model(source, weights)
    digest = Digest.of(weights)
    sessions = MemoryPushSessions()
    proxy = proxy_factory(distribution.host)
    proxy.fault = _drop_patch(2)
    with pytest.raises(TransportError):
        _chunked_push(proxy, source, manifest, sessions)
    # FAST allows three attempts: the chunk is sent again from where the session stands
    assert _patch_ranges(proxy) == ["0-99999"] + ["100000-199999"] * 3
    assert list(sessions.locations) == [(digest, proxy.host, "faults/chunked")]

    proxy.fault, proxy.seen = None, []
    result = _chunked_push(proxy, source, manifest, sessions)
    model = next(blob for blob in result.blobs if blob.digest == digest)
    assert (model.action, model.transferred) == ("resumed", 200_000)
    assert _patch_ranges(proxy) == ["100000-199999", "200000-299999"]
    assert sessions.locations == {}
    sink = MemoryBlobs()
    target = Reference(distribution.host, "faults/chunked", "latest")
    with connect(target, retry=FAST) as transport:
        Puller(transport, sink).pull(target)
    assert sink.blobs[digest] == weights


def test_a_push_whose_session_the_registry_forgot_starts_a_new_one(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(300_000)
    source = MemoryBlobs()
    manifest = make_model(source, weights)
    digest = Digest.of(weights)
    sessions = MemoryPushSessions()
    proxy = proxy_factory(distribution.host)
    proxy.fault = _drop_patch(3)
    with pytest.raises(TransportError):
        _chunked_push(proxy, source, manifest, sessions)
    (location,) = sessions.locations.values()
    cancelled = httpx.delete(location)  # the registry drops the session (it expired)
    assert cancelled.status_code == 204

    proxy.fault, proxy.seen = None, []
    result = _chunked_push(proxy, source, manifest, sessions)
    model = next(blob for blob in result.blobs if blob.digest == digest)
    assert (model.action, model.transferred) == ("sent", 300_000)
    assert _patch_ranges(proxy) == ["0-99999", "100000-199999", "200000-299999"]
    assert sessions.locations == {}


def test_a_chunk_whose_connection_broke_is_sent_again_in_the_same_push(
    distribution: Registry, proxy_factory: MakeProxy
) -> None:
    weights = os.urandom(300_000)
    source = MemoryBlobs()
    manifest = make_model(source, weights)
    proxy = proxy_factory(distribution.host)
    proxy.fault = _drop_patch(2, once=True)
    result = _chunked_push(proxy, source, manifest, MemoryPushSessions())
    model = next(blob for blob in result.blobs if blob.digest == Digest.of(weights))
    assert model.action == "sent"
    assert _patch_ranges(proxy) == ["0-99999", "100000-199999", "100000-199999",
                                    "200000-299999"]
    asked = [method for method, path, _ in proxy.seen if "/uploads/" in path]
    assert asked.count("GET") == 1  # where the session stood, before sending again
