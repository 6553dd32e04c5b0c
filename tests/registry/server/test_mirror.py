"""The pull-through mirror in process, over in-memory fakes, with the real CNCF Distribution as
its upstream (behind a proxy that counts requests and injects faults)."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from ocitypes import Descriptor, Digest, Index, mediatypes
from registry.client import Credentials, Pusher, Retry, connect
from registry.reference import Reference
from registry.server import Backend, Mirror, create_app

from ..distribution import PASSWORD, USER, Proxy, Registry, free_port, redirect_blobs
from ..fakes import MemoryBlobs as SourceBlobs
from ..fakes import MemoryProvenance
from ..test_client_distribution import make_model
from .conftest import Client
from .fakes import MemoryBlobs, MemoryManifests

FAST = Retry(attempts=2, backoff=0.01)
MakeProxy = Callable[[str], Proxy]


@dataclass
class Mirrored:
    client: Client
    blobs: MemoryBlobs
    manifests: MemoryManifests
    provenance: MemoryProvenance
    mirror: Mirror
    now: list[float]

    def get(self, path: str, **options: object) -> httpx.Response:
        return self.client.get(path, **options)


MakeMirror = Callable[..., Mirrored]


@pytest.fixture
def mirror_of() -> Iterator[MakeMirror]:
    """Makes mirrors of an upstream ``host:port``, closed after the test."""
    made: list[Mirror] = []

    def make(host: str, **options: Any) -> Mirrored:
        mirrored = _mirror_of(host, **options)
        made.append(mirrored.mirror)
        return mirrored

    yield make
    for mirror in made:
        mirror.close()


def _mirror_of(host: str, *, ttl: float = 300.0,
               credentials: Callable[[str], Credentials | None] | None = None) -> Mirrored:
    now = [1000.0]
    blobs = MemoryBlobs()
    manifests = MemoryManifests(blobs)
    provenance = MemoryProvenance()
    transport = connect(Reference(host, "library/mirror", "latest"), credentials, retry=FAST)
    mirror = Mirror(transport, blobs, manifests, provenance, ttl=ttl, clock=lambda: now[0])
    app = create_app(Backend(blobs, blobs, manifests), mirror=mirror)
    return Mirrored(Client(app), blobs, manifests, provenance, mirror, now)


def publish(host: str, repository: str, weights: bytes, tag: str = "latest",
            credentials: Credentials | None = None) -> tuple[bytes, SourceBlobs]:
    """Push a small model to the upstream with lamina's client."""
    source = SourceBlobs()
    manifest = make_model(source, weights)
    target = Reference(host, repository, tag)
    with connect(target, (lambda h: credentials), retry=FAST) as transport:
        Pusher(transport, source).push(target, manifest, mediatypes.MANIFEST)
    return manifest, source


def pull_all(mirrored: Mirrored, repository: str, tag: str = "latest") -> bytes:
    """A client's pull through the mirror: the manifest, then every blob, checked."""
    got = mirrored.get(f"/v2/{repository}/manifests/{tag}",
                       headers={"Accept": mediatypes.MANIFEST})
    assert got.status_code == 200, got.text
    document = json.loads(got.content)
    for layer in [document["config"], *document["layers"]]:
        blob = mirrored.get(f"/v2/{repository}/blobs/{layer['digest']}")
        assert blob.status_code == 200, blob.text
        assert str(Digest.of(blob.content)) == layer["digest"]
    return got.content


def upstream_requests(proxy: Proxy) -> list[tuple[str, str]]:
    return [(method, path) for method, path, _ in proxy.seen if path != "/v2/"]


def test_a_pull_is_fetched_once_then_served_from_the_store(
    distribution: Registry, proxy_factory: MakeProxy,
    mirror_of: MakeMirror,
) -> None:
    manifest, source = publish(distribution.host, "mirror/once", os.urandom(50_000))
    proxy = proxy_factory(distribution.host)
    mirrored = mirror_of(proxy.host)
    assert pull_all(mirrored, "mirror/once") == manifest
    mirrored.mirror.settle(30)
    assert mirrored.manifests.get("mirror/once", "latest")[0] == manifest
    assert set(source.blobs) <= set(mirrored.blobs.blobs)
    first = upstream_requests(proxy)
    assert len([r for r in first if "/blobs/" in r[1] and r[0] == "GET"]) == len(source.blobs)
    pull_all(mirrored, "mirror/once")
    by_digest = mirrored.get(f"/v2/mirror/once/manifests/{Digest.of(manifest)}")
    assert by_digest.content == manifest
    assert upstream_requests(proxy) == first  # the second pull never reached the upstream


def test_concurrent_requests_for_one_blob_fetch_it_once(
    distribution: Registry, proxy_factory: MakeProxy,
    mirror_of: MakeMirror,
) -> None:
    weights = os.urandom(600_000)
    publish(distribution.host, "mirror/crowd", weights)
    proxy = proxy_factory(distribution.host)
    proxy.throttle = 0.02  # a slow link, so the requests overlap
    mirrored = mirror_of(proxy.host)
    digest = Digest.of(weights)
    answers: list[httpx.Response] = []

    def fetch() -> None:
        answers.append(mirrored.get(f"/v2/mirror/crowd/blobs/{digest}"))

    threads = [threading.Thread(target=fetch) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [a.status_code for a in answers] == [200] * 8
    assert all(a.content == weights for a in answers)
    gets = [p for m, p in upstream_requests(proxy) if m == "GET" and str(digest) in p]
    assert gets == [f"/v2/mirror/crowd/blobs/{digest}"]
    assert mirrored.blobs.opened_partials == 1


def test_a_tag_is_checked_again_upstream_after_the_ttl(
    distribution: Registry, proxy_factory: MakeProxy,
    mirror_of: MakeMirror,
) -> None:
    first, _ = publish(distribution.host, "mirror/ttl", os.urandom(1000))
    proxy = proxy_factory(distribution.host)
    mirrored = mirror_of(proxy.host, ttl=60)
    pull_all(mirrored, "mirror/ttl")
    mirrored.mirror.settle(30)
    second, _ = publish(distribution.host, "mirror/ttl", os.urandom(1000))
    mirrored.now[0] += 59
    assert pull_all(mirrored, "mirror/ttl") == first  # within the ttl: local, not asked
    mirrored.now[0] += 2
    assert pull_all(mirrored, "mirror/ttl") == second
    mirrored.mirror.settle(30)
    assert mirrored.manifests.get("mirror/ttl", "latest")[0] == second


def test_a_tag_pushed_to_the_mirror_is_never_replaced(
    distribution: Registry, proxy_factory: MakeProxy,
    mirror_of: MakeMirror,
) -> None:
    publish(distribution.host, "mirror/mine", os.urandom(1000))
    proxy = proxy_factory(distribution.host)
    mirrored = mirror_of(proxy.host, ttl=0)
    local = SourceBlobs()
    mine = make_model(local, b"local weights")
    for data in local.blobs.values():
        mirrored.blobs.put(data)
    mirrored.manifests.put("mirror/mine", "latest", mine, mediatypes.MANIFEST)
    assert pull_all(mirrored, "mirror/mine") == mine
    assert upstream_requests(proxy) == []


def test_an_unreachable_upstream_serves_what_is_local(
    distribution: Registry, proxy_factory: MakeProxy,
    mirror_of: MakeMirror,
) -> None:
    manifest, _ = publish(distribution.host, "mirror/down", os.urandom(1000))
    proxy = proxy_factory(distribution.host)
    mirrored = mirror_of(proxy.host, ttl=0)
    pull_all(mirrored, "mirror/down")
    mirrored.mirror.settle(30)
    proxy.stop()
    assert pull_all(mirrored, "mirror/down") == manifest
    missing = mirrored.get("/v2/mirror/other/manifests/latest")
    assert missing.status_code == 502
    error = missing.json()["errors"][0]
    assert error["code"] == "UNKNOWN"
    assert f"the upstream {proxy.host} could not provide the manifest mirror/other:latest" \
        in error["message"] and "cannot reach" in error["message"]
    blob = mirrored.get(f"/v2/mirror/other/blobs/{Digest.of(b'nowhere')}")
    assert blob.status_code == 502 and "cannot reach" in blob.text
    # A push still goes to the local store: its HEADs are 404s, not 502s.
    pushed = SourceBlobs()
    mine = make_model(pushed, b"pushed while offline")
    for digest, data in pushed.blobs.items():
        path = f"/v2/mirror/pushed/blobs/{digest}"
        if digest in mirrored.blobs.blobs:  # the config, mirrored above
            continue
        assert mirrored.client.head(path).status_code == 404
        upload = mirrored.client.post(f"/v2/mirror/pushed/blobs/uploads/?digest={digest}",
                                      content=data)
        assert upload.status_code == 201, upload.text
    put = mirrored.client.put("/v2/mirror/pushed/manifests/v1", content=mine,
                              headers={"Content-Type": mediatypes.MANIFEST})
    assert put.status_code == 201, put.text
    assert pull_all(mirrored, "mirror/pushed", "v1") == mine


def test_a_closed_port_upstream_is_a_502_with_nothing_stored(mirror_of: MakeMirror) -> None:
    mirrored = mirror_of(f"127.0.0.1:{free_port()}")
    got = mirrored.get("/v2/library/gemma3/manifests/latest")
    assert got.status_code == 502
    assert "Traceback" not in got.text
    assert mirrored.manifests.by_digest == {} and mirrored.blobs.blobs == {}


def test_what_the_upstream_lacks_is_unknown(distribution: Registry,
                                            mirror_of: MakeMirror) -> None:
    mirrored = mirror_of(distribution.host)
    tag = mirrored.get("/v2/mirror/absent/manifests/nope")
    assert tag.status_code == 404 and tag.json()["errors"][0]["code"] == "MANIFEST_UNKNOWN"
    head = mirrored.client.head("/v2/mirror/absent/manifests/nope")
    assert head.status_code == 404
    blob = mirrored.get(f"/v2/mirror/absent/blobs/{Digest.of(b'absent')}")
    assert blob.status_code == 404 and blob.json()["errors"][0]["code"] == "BLOB_UNKNOWN"


def test_bytes_that_do_not_match_their_digest_are_never_stored(
    distribution: Registry, proxy_factory: MakeProxy,
    mirror_of: MakeMirror,
) -> None:
    weights = os.urandom(20_000)
    manifest, _ = publish(distribution.host, "mirror/bad", weights)
    proxy = proxy_factory(distribution.host)
    digest = Digest.of(weights)
    proxy.rewrite = lambda path, data: (b"X" + data[1:] if str(digest) in path
                                        else data + b"\n" if "/manifests/" in path else data)
    mirrored = mirror_of(proxy.host)
    blob = mirrored.get(f"/v2/mirror/bad/blobs/{digest}")
    assert blob.status_code == 502
    assert f"expected {digest}" in blob.json()["errors"][0]["message"]
    assert digest not in mirrored.blobs.blobs and digest not in mirrored.blobs.partials
    by_digest = mirrored.get(f"/v2/mirror/bad/manifests/{Digest.of(manifest)}")
    assert by_digest.status_code == 502
    assert "does not match its digest" in by_digest.text
    mirrored.mirror.settle(30)
    assert mirrored.manifests.by_digest == {}


def test_redirects_to_another_host_are_followed_without_credentials(
    distribution_basic: Registry, proxy_factory: MakeProxy,
    mirror_of: MakeMirror,
) -> None:
    secret = Credentials(USER, PASSWORD)
    weights = os.urandom(70_000)
    manifest, _ = publish(distribution_basic.host, "mirror/cdn", weights, credentials=secret)
    front = proxy_factory(distribution_basic.host)
    cdn = proxy_factory(distribution_basic.host)
    redirect_blobs(front, cdn, storage_auth=secret.basic())
    mirrored = mirror_of(front.host, credentials=lambda host: secret)
    assert pull_all(mirrored, "mirror/cdn") == manifest
    mirrored.mirror.settle(30)
    assert Digest.of(weights) in mirrored.blobs.blobs
    assert cdn.seen and all(m == "GET" for m, _, _ in cdn.seen)
    assert mirrored.manifests.get("mirror/cdn", "latest")[0] == manifest


def test_without_upstream_credentials_the_error_says_to_log_in(
    distribution_basic: Registry, mirror_of: MakeMirror
) -> None:
    mirrored = mirror_of(distribution_basic.host)
    got = mirrored.get("/v2/mirror/secret/manifests/latest")
    assert got.status_code == 502
    assert f"lamina login {distribution_basic.host}" in got.json()["errors"][0]["message"]


@pytest.mark.parametrize("path", ["/v2/Mirror/UPPER/manifests/latest",
                                  "/v2/mirror/x/manifests/bad%20tag",
                                  "/v2/mirror/x/blobs/sha256:abc"])
def test_bad_names_are_refused_before_the_upstream_is_asked(
    path: str, proxy_factory: MakeProxy, distribution: Registry, mirror_of: MakeMirror
) -> None:
    proxy = proxy_factory(distribution.host)
    mirrored = mirror_of(proxy.host)
    got = mirrored.get(path)
    assert 400 <= got.status_code < 500
    assert upstream_requests(proxy) == []


def test_a_token_auth_upstream_is_signed_in_to(
    distribution_token: Registry, mirror_of: MakeMirror
) -> None:
    secret = Credentials(USER, PASSWORD)
    manifest, _ = publish(distribution_token.host, "mirror/token", os.urandom(3000),
                          credentials=secret)
    mirrored = mirror_of(distribution_token.host, credentials=lambda host: secret)
    assert pull_all(mirrored, "mirror/token") == manifest
    assert distribution_token.token_server is not None
    assert distribution_token.token_server.requests


def test_an_index_is_passed_through_and_its_manifests_kept_by_digest(
    distribution: Registry, mirror_of: MakeMirror
) -> None:
    manifest, _ = publish(distribution.host, "mirror/index", os.urandom(2000))
    child = Descriptor(mediatypes.OCI_MANIFEST if b"oci" in manifest else mediatypes.MANIFEST,
                       Digest.of(manifest), len(manifest))
    index = Index((child,)).encode()
    put = httpx.put(f"http://{distribution.host}/v2/mirror/index/manifests/multi",
                    content=index, headers={"Content-Type": mediatypes.OCI_INDEX})
    assert put.status_code == 201, put.text
    mirrored = mirror_of(distribution.host)
    got = mirrored.get("/v2/mirror/index/manifests/multi",
                       headers={"Accept": mediatypes.OCI_INDEX})
    assert got.status_code == 200 and got.content == index
    child_got = mirrored.get(f"/v2/mirror/index/manifests/{child.digest}")
    assert child_got.content == manifest
    mirrored.mirror.settle(30)
    assert mirrored.manifests.get("mirror/index", str(child.digest))[0] == manifest
    assert "multi" not in mirrored.manifests.by_tag.get("mirror/index", {})
