"""Push and pull against the real CNCF Distribution: no auth, Basic, tokens; faults via a proxy."""

from __future__ import annotations

import json
import os

import pytest

from ocitypes import Descriptor, Digest, Manifest, mediatypes
from registry.client import Credentials, Puller, Pusher, Retry, connect
from registry.errors import NotFound, TransportError, Unauthorized
from registry.reference import Reference

from .distribution import PASSWORD, USER, Registry
from .fakes import MemoryBlobs, MemoryProvenance

FAST = Retry(attempts=2, backoff=0.01)


def make_model(blobs: MemoryBlobs, weights: bytes, system: bytes = b"be brief") -> bytes:
    """An Ollama-style manifest for a model with these weights and system prompt."""
    layers = []
    for data, kind in ((weights, mediatypes.MODEL), (system, mediatypes.SYSTEM)):
        layers.append(Descriptor(kind, blobs.add(data), len(data)))
    config = json.dumps({"model_format": "gguf", "rootfs": {"type": "layers"}}).encode()
    config_descriptor = Descriptor(mediatypes.CONFIG, blobs.add(config), len(config))
    return Manifest(config_descriptor, tuple(layers)).encode()


def ref(registry: Registry | str, repository: str, tag: str = "latest") -> Reference:
    host = registry if isinstance(registry, str) else registry.host
    return Reference(host, repository, tag)


def test_push_then_pull_round_trip(distribution: Registry) -> None:
    source = MemoryBlobs()
    manifest = make_model(source, os.urandom(300_000))
    target = ref(distribution, "library/roundtrip", "v1")
    with connect(target, retry=FAST) as transport:
        pushed = Pusher(transport, source).push(target, manifest, mediatypes.MANIFEST)
        assert {b.action for b in pushed.blobs} == {"sent"}
        assert pushed.digest == Digest.of(manifest)

        sink = MemoryBlobs()
        pulled = Puller(transport, sink, part_size=64 * 1024, parts=4).pull(target)
    assert pulled.manifest == manifest
    assert pulled.digest == Digest.of(manifest)
    assert sink.blobs == source.blobs
    assert {b.action for b in pulled.blobs} == {"fetched"}


def login(host: str) -> Credentials | None:
    return Credentials(USER, PASSWORD)


def test_chunked_push_and_ranged_pull_of_a_large_blob(distribution: Registry) -> None:
    source = MemoryBlobs()
    weights = os.urandom(1_000_003)
    manifest = make_model(source, weights)
    target = ref(distribution, "library/chunked")
    with connect(target, retry=FAST) as transport:
        pusher = Pusher(transport, source, chunk_size=256 * 1024, small=16)
        pushed = pusher.push(target, manifest, mediatypes.MANIFEST)
        # Small blobs tried the single POST with ?digest=; Distribution answers 202 and the
        # bytes follow in a PUT, so they are sent twice.
        sizes = {b.digest: b for b in pushed.blobs}
        assert sizes[Digest.of(weights)].transferred == len(weights)
        sink = MemoryBlobs()
        puller = Puller(transport, sink, part_size=100_000, parts=4)
        pulled = puller.pull(target)
    assert sink.blobs[Digest.of(weights)] == weights
    assert pulled.transferred == len(manifest) + sum(len(b) for b in source.blobs.values())


def test_second_push_skips_blobs_the_registry_has(distribution: Registry) -> None:
    source = MemoryBlobs()
    weights = os.urandom(200_000)
    first = make_model(source, weights, b"first")
    variant = make_model(source, weights, b"a variant")
    target = ref(distribution, "library/variants")
    with connect(target, retry=FAST) as transport:
        Pusher(transport, source).push(target, first, mediatypes.MANIFEST)
        result = Pusher(transport, source).push(target.__class__(
            target.registry, target.repository, "variant"), variant, mediatypes.MANIFEST)
    actions = {b.media_type: b.action for b in result.blobs}
    assert actions[mediatypes.MODEL] == "present"
    assert actions[mediatypes.SYSTEM] == "sent"
    assert result.transferred <= len(b"a variant") * 2 + len(variant) + 2048


def test_cross_repository_mount(distribution: Registry) -> None:
    source = MemoryBlobs()
    manifest = make_model(source, os.urandom(100_000))
    provenance = MemoryProvenance()
    first, second = ref(distribution, "team/one"), ref(distribution, "team/two")
    with connect(first, retry=FAST) as transport:
        Pusher(transport, source, provenance=provenance).push(first, manifest, mediatypes.MANIFEST)
        result = Pusher(transport, source, provenance=provenance).push(
            second, manifest, mediatypes.MANIFEST
        )
        assert {b.action for b in result.blobs} == {"mounted"}
        assert result.transferred == len(manifest)
        pulled = Puller(transport, MemoryBlobs()).pull(second)
    assert pulled.manifest == manifest


def test_pull_skips_blobs_in_the_store_and_pulls_by_digest(distribution: Registry) -> None:
    source = MemoryBlobs()
    manifest = make_model(source, os.urandom(50_000))
    target = ref(distribution, "library/skips")
    with connect(target, retry=FAST) as transport:
        Pusher(transport, source).push(target, manifest, mediatypes.MANIFEST)
        by_digest = Reference(target.registry, target.repository, None, Digest.of(manifest))
        pulled = Puller(transport, source).pull(by_digest)
    assert {b.action for b in pulled.blobs} == {"skipped"}
    assert pulled.manifest == manifest


def test_missing_tag_is_manifest_unknown(distribution: Registry) -> None:
    target = ref(distribution, "library/nothing-here", "nope")
    with connect(target, retry=FAST) as transport, pytest.raises(NotFound) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert "manifest unknown" in str(caught.value)
    assert caught.value.code.value == "MANIFEST_UNKNOWN"


def test_basic_auth(distribution_basic: Registry) -> None:
    source = MemoryBlobs()
    manifest = make_model(source, os.urandom(10_000))
    target = ref(distribution_basic, "me/basic")
    with connect(target, login, retry=FAST) as transport:
        Pusher(transport, source).push(target, manifest, mediatypes.MANIFEST)
        assert Puller(transport, MemoryBlobs()).pull(target).manifest == manifest


def test_basic_auth_without_credentials_says_which_login(distribution_basic: Registry) -> None:
    target = ref(distribution_basic, "me/basic")
    with connect(target, retry=FAST) as transport, pytest.raises(Unauthorized) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert f"run `lamina login {distribution_basic.host}` first" in str(caught.value)


def test_basic_auth_with_wrong_credentials(distribution_basic: Registry) -> None:
    target = ref(distribution_basic, "me/basic")
    wrong = Credentials(USER, "wrong")
    transport = connect(target, lambda host: wrong, retry=FAST)
    with transport, pytest.raises(Unauthorized) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert "were refused; run `lamina login" in str(caught.value)


def test_token_auth_fetches_one_token_per_scope(distribution_token: Registry) -> None:
    source = MemoryBlobs()
    manifest = make_model(source, os.urandom(10_000))
    target = ref(distribution_token, "me/tokens")
    transport = connect(target, login, retry=FAST)
    with transport:
        Pusher(transport, source).push(target, manifest, mediatypes.MANIFEST)
        Puller(transport, MemoryBlobs()).pull(target)
        auth = transport.client.auth
        # One token for pull (the first HEAD) and one for pull,push; pulls reuse the latter.
        assert auth.token_requests <= 3  # type: ignore[union-attr]
        before = auth.token_requests  # type: ignore[union-attr]
        Puller(transport, MemoryBlobs()).pull(target)
        assert auth.token_requests == before  # type: ignore[union-attr]
    assert distribution_token.token_server is not None
    scopes = [q.get("scope") for q in distribution_token.token_server.requests]
    granted = [set(scope[0].rsplit(":", 1)[1].split(",")) for scope in scopes if scope]
    assert {"pull", "push"} in granted
    assert all(q.get("service") == ["lamina-test-registry"] for q in
               distribution_token.token_server.requests)


def test_token_auth_without_login_is_refused(distribution_token: Registry) -> None:
    target = ref(distribution_token, "me/tokens-anonymous")
    with connect(target, retry=FAST) as transport, pytest.raises(Unauthorized) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert f"lamina login {distribution_token.host}" in str(caught.value)


def test_unreachable_host() -> None:
    from .distribution import free_port

    target = Reference(f"127.0.0.1:{free_port()}", "library/x", "latest")
    with connect(target, retry=FAST) as transport, pytest.raises(TransportError) as caught:
        Puller(transport, MemoryBlobs()).pull(target)
    assert f"cannot reach {target.registry}" in str(caught.value)
