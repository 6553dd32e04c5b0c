"""Manifest pushes: exact bytes and type, the refusals (size, shape, digest, missing blobs),
deletes, tag pagination and referrers."""

from __future__ import annotations

import json

import httpx

from ocitypes import Digest, mediatypes

from .conftest import CONFIG, LAYER, REPO, Registry, manifest_bytes

OCI = manifest_bytes(media_type=mediatypes.OCI_MANIFEST)


def put(registry: Registry, reference: str, data: bytes,
        media_type: str = mediatypes.OCI_MANIFEST, repo: str = REPO) -> httpx.Response:
    return registry.client.put(f"/v2/{repo}/manifests/{reference}", content=data,
                               headers={"Content-Type": media_type})


def code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["code"])


def stored(registry: Registry) -> int:
    return sum(len(v) for v in registry.manifests.by_digest.values())


def test_push_by_tag_keeps_bytes_and_type(seeded: Registry) -> None:
    pretty = json.dumps(json.loads(OCI), indent="\t").encode() + b"\n"
    response = put(seeded, "v1", pretty, mediatypes.OCI_MANIFEST + "; charset=utf-8")
    digest = str(Digest.of(pretty))
    assert response.status_code == 201
    assert response.headers["docker-content-digest"] == digest
    assert response.headers["location"] == (
        f"http://registry.test:5000/v2/{REPO}/manifests/{digest}")
    got = seeded.client.get(f"/v2/{REPO}/manifests/v1")
    assert got.content == pretty
    assert got.headers["content-type"] == mediatypes.OCI_MANIFEST
    assert seeded.client.get(f"/v2/{REPO}/manifests/{digest}").content == pretty


def test_push_by_digest(seeded: Registry) -> None:
    digest = str(Digest.of(OCI))
    assert put(seeded, digest, OCI).status_code == 201
    wrong = str(Digest.of(b"x"))
    response = put(seeded, wrong, OCI)
    assert (response.status_code, code(response)) == (400, "DIGEST_INVALID")


def test_an_oversized_manifest_is_413_and_not_stored(seeded: Registry) -> None:
    before = stored(seeded)
    document = json.loads(OCI)
    document["annotations"] = {"pad": "x" * (4 * 1024 * 1024)}
    response = put(seeded, "big", json.dumps(document).encode())
    assert response.status_code == 413
    assert stored(seeded) == before


def test_a_manifest_of_just_4_mib_is_taken(seeded: Registry) -> None:
    document = json.loads(OCI)
    document["annotations"] = {"pad": ""}
    size = len(json.dumps(document, separators=(",", ":")))
    document["annotations"] = {"pad": "x" * (4 * 1024 * 1024 - size)}
    data = json.dumps(document, separators=(",", ":")).encode()
    assert len(data) == 4 * 1024 * 1024
    assert put(seeded, "edge", data).status_code == 201


def test_unknown_blobs_are_manifest_blob_unknown(registry: Registry) -> None:
    registry.blobs.put(CONFIG)
    response = put(registry, "v1", OCI)
    assert (response.status_code, code(response)) == (400, "MANIFEST_BLOB_UNKNOWN")
    assert response.json()["errors"][0]["detail"] == {
        "digests": [str(Digest.of(LAYER))]}
    assert stored(registry) == 0


def test_malformed_manifests_are_manifest_invalid(seeded: Registry) -> None:
    before = stored(seeded)
    for body in (b"", b"{", b"[]", b'{"schemaVersion":1}', b"\xff\xfe",
                 b'{"schemaVersion":2,"config":{"digest":"sha256:../../etc"}}',
                 b'{"schemaVersion":2,"manifests":{}}'):
        response = put(seeded, "bad", body)
        assert (response.status_code, code(response)) == (400, "MANIFEST_INVALID"), body
    assert stored(seeded) == before


def test_a_content_type_that_contradicts_the_body_is_refused(seeded: Registry) -> None:
    response = put(seeded, "v1", manifest_bytes(), mediatypes.OCI_MANIFEST)
    assert (response.status_code, code(response)) == (400, "MANIFEST_INVALID")


def test_invalid_tags_are_refused(seeded: Registry) -> None:
    for tag in (".hidden", "-x", "a" * 129, "t%C3%A4g"):
        response = put(seeded, tag, OCI)
        assert (response.status_code, code(response)) == (400, "TAG_INVALID"), tag


def test_ollama_compact_manifest_push(seeded: Registry) -> None:
    compact = manifest_bytes()
    response = put(seeded, "pushed", compact, mediatypes.MANIFEST)
    assert response.status_code == 201
    got = seeded.client.get(f"/v2/{REPO}/manifests/pushed",
                            headers={"Accept": mediatypes.MANIFEST})
    assert (got.content, got.headers["content-type"]) == (compact, mediatypes.MANIFEST)


def test_an_index_needs_its_manifests(seeded: Registry) -> None:
    child = str(Digest.of(manifest_bytes()))
    index = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [
        {"mediaType": mediatypes.MANIFEST, "digest": child, "size": 1}]}).encode()
    assert put(seeded, "multi", index, mediatypes.OCI_INDEX).status_code == 201
    other = index.replace(child.encode(), str(Digest.of(b"none")).encode())
    response = put(seeded, "multi2", other, mediatypes.OCI_INDEX)
    assert code(response) == "MANIFEST_BLOB_UNKNOWN"


def test_delete_a_tag_then_a_digest(seeded: Registry) -> None:
    digest = str(Digest.of(OCI))
    put(seeded, "a", OCI)
    put(seeded, "b", OCI)
    assert seeded.client.delete(f"/v2/{REPO}/manifests/a").status_code == 202
    assert seeded.client.get(f"/v2/{REPO}/manifests/a").status_code == 404
    assert seeded.client.get(f"/v2/{REPO}/manifests/b").status_code == 200
    assert seeded.client.delete(f"/v2/{REPO}/manifests/{digest}").status_code == 202
    assert seeded.client.get(f"/v2/{REPO}/manifests/b").status_code == 404
    again = seeded.client.delete(f"/v2/{REPO}/manifests/{digest}")
    assert (again.status_code, code(again)) == (404, "MANIFEST_UNKNOWN")


def test_tag_pagination(seeded: Registry) -> None:
    for tag in ("b", "a", "d", "c"):
        put(seeded, tag, OCI)
    listed = seeded.client.get(f"/v2/{REPO}/tags/list?n=2")
    assert listed.json()["tags"] == ["a", "b"]
    assert listed.headers["link"] == f'</v2/{REPO}/tags/list?n=2&last=b>; rel="next"'
    rest = seeded.client.get(f"/v2/{REPO}/tags/list?n=2&last=b")
    assert rest.json()["tags"] == ["c", "d"]
    last = seeded.client.get(f"/v2/{REPO}/tags/list?n=2&last=d")
    assert last.json()["tags"] == ["latest"] and "link" not in last.headers
    assert seeded.client.get(f"/v2/{REPO}/tags/list?last=c").json()["tags"] == ["d", "latest"]
    zero = seeded.client.get(f"/v2/{REPO}/tags/list?n=0")
    assert zero.json()["tags"] == [] and "link" not in zero.headers


def test_catalog_pagination(seeded: Registry) -> None:
    put(seeded, "v1", OCI, repo="alpha/one")
    put(seeded, "v1", OCI, repo="zeta/two")
    page = seeded.client.get("/v2/_catalog?n=2")
    assert page.json()["repositories"] == ["alpha/one", "library/tiny"]
    assert page.headers["link"] == '</v2/_catalog?n=2&last=library/tiny>; rel="next"'


def test_referrers(seeded: Registry) -> None:
    subject = OCI
    put(seeded, "subject", subject)
    artifact = manifest_bytes(media_type=mediatypes.OCI_MANIFEST, subject=subject,
                              artifact_type="application/vnd.example.sig")
    response = put(seeded, str(Digest.of(artifact)), artifact)
    assert response.headers["oci-subject"] == str(Digest.of(subject))
    plain = manifest_bytes(media_type=mediatypes.OCI_MANIFEST, subject=subject,
                           layers=(LAYER, CONFIG))
    put(seeded, str(Digest.of(plain)), plain)
    url = f"/v2/{REPO}/referrers/{Digest.of(subject)}"
    listed = seeded.client.get(url).json()["manifests"]
    assert {m["digest"]: m["artifactType"] for m in listed} == {
        str(Digest.of(artifact)): "application/vnd.example.sig",
        str(Digest.of(plain)): mediatypes.CONFIG,
    }
    filtered = seeded.client.get(url, params={"artifactType": "application/vnd.example.sig"})
    assert [m["digest"] for m in filtered.json()["manifests"]] == [str(Digest.of(artifact))]
    assert filtered.headers["oci-filters-applied"] == "artifactType"
