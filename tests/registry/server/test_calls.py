"""One table of request → expected response, against the app over in-memory fakes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from ocitypes import Digest, mediatypes

from .conftest import CONFIG, LAYER, REPO, Registry, manifest_bytes
from .live import free_port, running

MANIFEST = manifest_bytes()
MANIFEST_DIGEST = str(Digest.of(MANIFEST))
LAYER_DIGEST = str(Digest.of(LAYER))
CONFIG_DIGEST = str(Digest.of(CONFIG))
ABSENT = str(Digest.of(b"not pushed"))


@dataclass
class Call:
    method: str
    path: str
    status: int
    code: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    send: bytes = b""
    send_headers: dict[str, str] = field(default_factory=dict)


CALLS = [
    Call("GET", "/v2/", 200, body=b"{}",
         headers={"docker-distribution-api-version": "registry/2.0"}),
    # blobs
    Call("HEAD", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 200, body=b"",
         headers={"content-length": str(len(LAYER)), "docker-content-digest": LAYER_DIGEST}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 200, body=LAYER,
         headers={"content-length": str(len(LAYER)), "docker-content-digest": LAYER_DIGEST}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 206, body=LAYER[10:20],
         send_headers={"Range": "bytes=10-19"},
         headers={"content-range": f"bytes 10-19/{len(LAYER)}", "content-length": "10"}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 206, body=LAYER[-5:],
         send_headers={"Range": "bytes=-5"}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 206, body=LAYER[100:],
         send_headers={"Range": "bytes=100-"}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 206, body=LAYER[100:],
         send_headers={"Range": f"bytes=100-{len(LAYER) * 2}"}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 416, "RANGE_INVALID",
         send_headers={"Range": f"bytes={len(LAYER)}-"},
         headers={"content-range": f"bytes */{len(LAYER)}"}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 416, "RANGE_INVALID",
         send_headers={"Range": "bytes=20-10"}),
    Call("GET", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 200, body=LAYER,
         send_headers={"Range": "bytes=0-1,5-6"}),
    Call("GET", f"/v2/{REPO}/blobs/{ABSENT}", 404, "BLOB_UNKNOWN"),
    Call("HEAD", f"/v2/{REPO}/blobs/{ABSENT}", 404, body=b""),
    Call("GET", f"/v2/{REPO}/blobs/sha256:nothex", 400, "DIGEST_INVALID"),
    Call("GET", f"/v2/{REPO}/blobs/sha512:{'a' * 128}", 400, "DIGEST_INVALID"),
    Call("DELETE", f"/v2/{REPO}/blobs/{LAYER_DIGEST}", 405, "UNSUPPORTED"),
    # manifests
    Call("GET", f"/v2/{REPO}/manifests/latest", 200, body=MANIFEST,
         headers={"content-type": mediatypes.MANIFEST, "docker-content-digest": MANIFEST_DIGEST,
                  "content-length": str(len(MANIFEST))}),
    Call("HEAD", f"/v2/{REPO}/manifests/latest", 200, body=b"",
         headers={"docker-content-digest": MANIFEST_DIGEST,
                  "content-length": str(len(MANIFEST))}),
    Call("GET", f"/v2/{REPO}/manifests/{MANIFEST_DIGEST}", 200, body=MANIFEST),
    Call("GET", f"/v2/{REPO}/manifests/other", 404, "MANIFEST_UNKNOWN"),
    Call("GET", f"/v2/{REPO}/manifests/.INVALID_MANIFEST_NAME", 404, "MANIFEST_UNKNOWN"),
    Call("HEAD", f"/v2/{REPO}/manifests/.INVALID_MANIFEST_NAME", 404),
    Call("GET", f"/v2/{REPO}/manifests/sha256:totallywrong", 400, "DIGEST_INVALID"),
    Call("GET", f"/v2/{REPO}/manifests/{ABSENT}", 404, "MANIFEST_UNKNOWN"),
    Call("GET", "/v2/nobody/here/manifests/latest", 404, "MANIFEST_UNKNOWN"),
    # names
    Call("GET", "/v2/Library/tiny/manifests/latest", 400, "NAME_INVALID"),
    Call("GET", "/v2/library/%2e%2e/etc/manifests/latest", 400, "NAME_INVALID"),
    Call("GET", "/v2/library//tiny/manifests/latest", 400, "NAME_INVALID"),
    Call("GET", "/v2/library%2F..%2F..%2Fetc/manifests/latest", 400, "NAME_INVALID"),
    Call("GET", f"/v2/{'a' * 300}/manifests/latest", 400, "NAME_INVALID"),
    Call("GET", "/v2/ll\u00e4ma/manifests/latest", 400, "NAME_INVALID"),
    # tags and the catalog
    Call("GET", f"/v2/{REPO}/tags/list", 200, body=b'{"name":"library/tiny","tags":["latest"]}'),
    Call("GET", "/v2/none/such/tags/list", 404, "NAME_UNKNOWN"),
    Call("GET", f"/v2/{REPO}/tags/list?n=x", 400, "UNSUPPORTED"),
    Call("GET", "/v2/_catalog", 200, body=b'{"repositories":["library/tiny"]}'),
    # referrers
    Call("GET", f"/v2/{REPO}/referrers/{MANIFEST_DIGEST}", 200,
         body=b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json",'
              b'"manifests":[]}',
         headers={"content-type": mediatypes.OCI_INDEX}),
    Call("GET", f"/v2/{REPO}/referrers/sha256:short", 400, "DIGEST_INVALID"),
    Call("GET", "/v2/nobody/referrers/" + ABSENT, 200),
    # uploads
    Call("GET", f"/v2/{REPO}/blobs/uploads/{'A' * 32}", 404, "BLOB_UPLOAD_UNKNOWN"),
    Call("PATCH", f"/v2/{REPO}/blobs/uploads/..%2F..%2Fetc", 404),
    Call("PATCH", f"/v2/{REPO}/blobs/uploads/short", 404, "BLOB_UPLOAD_UNKNOWN"),
    Call("PUT", f"/v2/{REPO}/blobs/uploads/{'A' * 32}?digest={LAYER_DIGEST}", 404,
         "BLOB_UPLOAD_UNKNOWN"),
    Call("DELETE", f"/v2/{REPO}/blobs/uploads/{'A' * 32}", 404, "BLOB_UPLOAD_UNKNOWN"),
    # routing
    Call("GET", "/v2/nothing", 404, "NAME_UNKNOWN"),
    Call("POST", f"/v2/{REPO}/manifests/latest", 405, "UNSUPPORTED"),
    Call("GET", "/", 404),
]


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path[:60]} {c.status}")
def test_call(seeded: Registry, call: Call) -> None:
    response = seeded.client.request(call.method, call.path, content=call.send,
                                     headers=call.send_headers)
    check(response, call)


def check(response: httpx.Response, call: Call) -> None:
    assert response.status_code == call.status, response.text
    for key, value in call.headers.items():
        assert response.headers.get(key) == value, key
    if call.body is not None:
        assert response.content == call.body
    if call.code is not None:
        error = response.json()["errors"][0]
        assert error["code"] == call.code
        assert error["message"]
    if call.status >= 400 and call.method != "HEAD":
        assert response.headers["content-type"] == "application/json"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real server process (granian) seeded over HTTP like ``seeded``."""
    port = free_port()
    command = [sys.executable, "-m", "tests.registry.server.live", str(port),
               str(tmp_path_factory.mktemp("calls"))]
    with running(command, port) as url:
        for blob in (CONFIG, LAYER):
            digest = Digest.of(blob)
            assert httpx.post(f"{url}/v2/{REPO}/blobs/uploads/?digest={digest}",
                              content=blob).status_code == 201
        assert httpx.put(f"{url}/v2/{REPO}/manifests/latest", content=MANIFEST,
                         headers={"Content-Type": mediatypes.MANIFEST}).status_code == 201
        yield url


@pytest.mark.parametrize("call", CALLS, ids=lambda c: f"{c.method} {c.path[:60]} {c.status}")
def test_call_on_a_live_server(live: str, call: Call) -> None:
    response = httpx.request(call.method, live + call.path, content=call.send,
                             headers=call.send_headers)
    check(response, call)
