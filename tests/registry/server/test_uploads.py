"""Blob uploads: monolithic, chunked (with and without ``bytes=``), status, cancel, mount,
expiry, and the refusals that must store nothing."""

from __future__ import annotations

import os

from ocitypes import Digest

from .conftest import LAYER, REPO, Registry
from .fakes import MemoryBlobs

BLOB = os.urandom(42)
DIGEST = str(Digest.of(BLOB))
UPLOADS = f"/v2/{REPO}/blobs/uploads/"


def begin(registry: Registry) -> str:
    response = registry.client.post(UPLOADS)
    assert response.status_code == 202
    location = response.headers["location"]
    assert location.startswith("http://registry.test:5000/v2/library/tiny/blobs/uploads/")
    assert response.headers["range"] == "0-0"
    assert response.headers["docker-upload-uuid"] in location
    return location


def test_monolithic_post_with_digest_stores_the_blob(registry: Registry) -> None:
    response = registry.client.post(f"{UPLOADS}?digest={DIGEST}", content=BLOB)
    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == DIGEST
    assert response.headers["location"] == f"http://registry.test:5000/v2/{REPO}/blobs/{DIGEST}"
    assert registry.blobs.blobs[Digest.parse(DIGEST)] == BLOB


def test_monolithic_post_with_a_wrong_digest_stores_nothing(registry: Registry) -> None:
    response = registry.client.post(f"{UPLOADS}?digest={DIGEST}", content=BLOB + b"x")
    assert (response.status_code, response.json()["errors"][0]["code"]) == (400, "DIGEST_INVALID")
    assert registry.blobs.blobs == {} and registry.blobs.sessions == {}


def test_post_then_put(registry: Registry) -> None:
    location = begin(registry)
    response = registry.client.put(f"{location}?digest={DIGEST}", content=BLOB)
    assert response.status_code == 201
    assert registry.client.get(f"/v2/{REPO}/blobs/{DIGEST}").content == BLOB


def test_chunks_with_and_without_the_bytes_prefix(registry: Registry) -> None:
    location = begin(registry)
    first = registry.client.patch(location, content=BLOB[:22],
                                  headers={"Content-Range": "0-21"})
    assert first.status_code == 202
    assert first.headers["range"] == "0-21"
    assert first.headers["location"] == location
    second = registry.client.patch(location, content=BLOB[22:],
                                   headers={"Content-Range": "bytes=22-41"})
    assert (second.status_code, second.headers["range"]) == (202, "0-41")
    status = registry.client.get(location)
    assert (status.status_code, status.headers["range"]) == (204, "0-41")
    done = registry.client.put(f"{location}?digest={DIGEST}")
    assert done.status_code == 201
    assert registry.blobs.blobs[Digest.parse(DIGEST)] == BLOB


def test_a_patch_without_content_range_appends(registry: Registry) -> None:
    location = begin(registry)
    assert registry.client.patch(location, content=BLOB).status_code == 202
    assert registry.client.put(f"{location}?digest={DIGEST}").status_code == 201


def test_the_last_chunk_may_come_with_the_put(registry: Registry) -> None:
    location = begin(registry)
    registry.client.patch(location, content=BLOB[:10], headers={"Content-Range": "0-9"})
    done = registry.client.put(f"{location}?digest={DIGEST}", content=BLOB[10:],
                               headers={"Content-Range": "10-41"})
    assert done.status_code == 201


def test_an_out_of_order_chunk_is_416_and_changes_nothing(registry: Registry) -> None:
    location = begin(registry)
    registry.client.patch(location, content=BLOB[:22], headers={"Content-Range": "0-21"})
    for header in ("30-41", "0-19", "bytes=10-31", "22-30"):
        response = registry.client.patch(location, content=BLOB[22:],
                                         headers={"Content-Range": header})
        assert response.status_code == 416, header
        assert response.headers["range"] == "0-21"
        assert response.headers["location"] == location
    assert registry.client.get(location).headers["range"] == "0-21"
    bad = registry.client.put(f"{location}?digest={DIGEST}", content=BLOB[30:],
                              headers={"Content-Range": "30-41"})
    assert bad.status_code == 416


def test_a_wrong_digest_on_put_is_400_and_stores_nothing(registry: Registry) -> None:
    location = begin(registry)
    registry.client.patch(location, content=BLOB)
    wrong = str(Digest.of(b"other"))
    response = registry.client.put(f"{location}?digest={wrong}")
    assert (response.status_code, response.json()["errors"][0]["code"]) == (400, "DIGEST_INVALID")
    assert registry.blobs.blobs == {}


def test_a_put_without_a_valid_digest_is_400(registry: Registry) -> None:
    location = begin(registry)
    for query in ("", "?digest=", "?digest=sha256:abc", "?digest=md5:" + "a" * 32):
        response = registry.client.put(location + query, content=BLOB)
        assert response.status_code == 400, query
        assert response.json()["errors"][0]["code"] == "DIGEST_INVALID"
    assert registry.blobs.blobs == {}


def test_ollama_push_quirks(registry: Registry) -> None:
    """PATCH with a bare Content-Range and X-Redirect-Uploads, then PUT ?digest=&etag=."""
    location = begin(registry)
    response = registry.client.patch(location, content=BLOB, headers={
        "Content-Range": f"0-{len(BLOB) - 1}", "X-Redirect-Uploads": "1",
        "Content-Type": "application/octet-stream"})
    assert response.status_code == 202
    next_url = response.headers["location"]
    assert next_url.startswith("http://")
    done = registry.client.put(f"{next_url}?digest={DIGEST}&etag=d41d8cd98f00b204-1",
                               headers={"Content-Length": "0"})
    assert done.status_code == 201


def test_cancel(registry: Registry) -> None:
    location = begin(registry)
    assert registry.client.delete(location).status_code == 204
    gone = registry.client.get(location)
    assert (gone.status_code, gone.json()["errors"][0]["code"]) == (404, "BLOB_UPLOAD_UNKNOWN")


def test_mount_of_a_blob_the_registry_has_is_201(seeded: Registry) -> None:
    digest = str(Digest.of(LAYER))
    response = seeded.client.post(f"/v2/other/model/blobs/uploads/?mount={digest}&from={REPO}")
    assert response.status_code == 201
    assert response.headers["location"].endswith(f"/v2/other/model/blobs/{digest}")
    assert response.headers["docker-content-digest"] == digest


def test_mount_of_an_unknown_blob_starts_an_upload(seeded: Registry) -> None:
    response = seeded.client.post(f"/v2/other/model/blobs/uploads/?mount={DIGEST}&from={REPO}")
    assert response.status_code == 202
    assert "/blobs/uploads/" in response.headers["location"]


def test_mount_names_are_validated(seeded: Registry) -> None:
    digest = str(Digest.of(LAYER))
    response = seeded.client.post(f"/v2/other/blobs/uploads/?mount={digest}&from=../x")
    assert (response.status_code, response.json()["errors"][0]["code"]) == (400, "NAME_INVALID")


def test_abandoned_uploads_expire(registry: Registry) -> None:
    now = [1000.0]
    blobs: MemoryBlobs = registry.blobs
    blobs.clock = lambda: now[0]
    blobs.ttl = 60
    location = begin(registry)
    registry.client.patch(location, content=BLOB[:10])
    now[0] += 61
    response = registry.client.patch(location, content=BLOB[10:])
    assert (response.status_code, response.json()["errors"][0]["code"]) == (
        404, "BLOB_UPLOAD_UNKNOWN")


def test_a_session_is_found_again_without_resuming_it(registry: Registry) -> None:
    """The store re-hashes a resumed session's bytes; the server keeps the session it began."""
    location = begin(registry)
    for start in range(0, 42, 6):
        registry.client.patch(location, content=BLOB[start:start + 6],
                              headers={"Content-Range": f"{start}-{start + 5}"})
    assert registry.client.put(f"{location}?digest={DIGEST}").status_code == 201
    assert registry.blobs.resumed == 0


def test_a_session_that_expires_while_a_chunk_arrives_is_404(registry: Registry) -> None:
    """The store's refusal during the write comes back as its own error, not a 500."""
    now = [1000.0]
    registry.blobs.clock = lambda: now[0]
    location = begin(registry)
    session = registry.blobs.sessions[location.rsplit("/", 1)[1]]
    original = session.write

    def expire_then_write(chunk: bytes, *, at: int | None = None) -> int:
        now[0] += registry.blobs.ttl + 1
        return original(chunk, at=at)

    session.write = expire_then_write  # type: ignore[method-assign]
    response = registry.client.patch(location, content=BLOB)
    assert (response.status_code, response.json()["errors"][0]["code"]) == (
        404, "BLOB_UPLOAD_UNKNOWN")
