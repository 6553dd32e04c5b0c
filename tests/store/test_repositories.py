"""The store as a registry's manifest store: repositories, tags and digests, bytes kept exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import modelfile
import store
from ocitypes import Digest, errors, gojson, mediatypes


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def build(lamina: store.Store, name: str, text: str, base: Path) -> store.Manifest:
    return store.create(lamina, name, modelfile.parse(text), base_dir=base).manifest


def oci_manifest(lamina: store.Store, payload: bytes) -> bytes:
    """An OCI image manifest (no mediaType field, as the spec allows) over stored blobs."""
    config = lamina.blobs.put_bytes(b"{}")
    layer = lamina.blobs.put_bytes(payload)
    return json.dumps({
        "schemaVersion": 2,
        "config": {"mediaType": mediatypes.OCI_EMPTY, "digest": str(config.digest), "size": 2},
        "layers": [{"mediaType": "application/octet-stream", "digest": str(layer.digest),
                    "size": layer.size}],
    }, indent=2).encode()


def test_a_created_model_is_served_without_a_copy(lamina: store.Store, tiny_gguf: Path) -> None:
    manifest = build(lamina, "gemma3-chat", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    repos = lamina.repositories()
    data, media_type = repos.get("library/gemma3-chat", "latest")
    assert data == manifest.bytes() and media_type == mediatypes.DOCKER_MANIFEST
    assert repos.get("library/gemma3-chat", str(manifest.digest))[0] == data
    assert repos.get("gemma3-chat", "latest")[0] == data  # a bare model is library/model
    assert repos.tags("library/gemma3-chat") == ["latest"]
    assert repos.repositories() == ["library/gemma3-chat"]
    assert lamina.repositories("localhost:5000").repositories() == []


def test_put_by_tag_keeps_the_bytes_exactly(lamina: store.Store) -> None:
    data = oci_manifest(lamina, b"weights")
    repos = lamina.repositories()
    digest = repos.put("me/model", "v1", data, mediatypes.OCI_MANIFEST)
    assert digest == Digest.of(data)
    assert repos.get("me/model", "v1") == (data, mediatypes.OCI_MANIFEST)
    assert (lamina.root / "manifests/registry.ollama.ai/me/model/v1").read_bytes() == data
    repos.put("me/model", "v0", data, "")
    assert repos.tags("me/model") == ["v0", "v1"]


def test_put_by_digest_is_untagged_fetchable_and_kept_by_gc(lamina: store.Store) -> None:
    data = oci_manifest(lamina, b"only by digest")
    repos = lamina.repositories()
    digest = repos.put("me/model", str(Digest.of(data)), data, mediatypes.OCI_MANIFEST)
    assert repos.get("me/model", str(digest))[0] == data
    assert repos.tags("me/model") == [] and repos.repositories() == ["me/model"]
    assert list(lamina.names()) == []  # Ollama does not list it as a model
    assert store.gc(lamina, grace=0).blobs == ()
    with pytest.raises(store.ModelNotFound):
        repos.get("other/model", str(digest))
    repos.delete("me/model", str(digest))
    with pytest.raises(errors.ManifestUnknown):
        repos.get("me/model", str(digest))
    assert len(store.gc(lamina, grace=0).blobs) == 2


def test_put_refuses_a_wrong_digest_reference(lamina: store.Store) -> None:
    data = oci_manifest(lamina, b"x")
    with pytest.raises(errors.DigestInvalid):
        lamina.repositories().put("me/m", str(Digest.of(b"other")), data, "")


def test_put_refuses_unknown_blobs_and_bad_manifests(lamina: store.Store) -> None:
    repos = lamina.repositories()
    data = oci_manifest(lamina, b"soon gone")
    layer = json.loads(data)["layers"][0]["digest"]
    lamina.blobs.remove(Digest.parse(layer))
    with pytest.raises(errors.ManifestBlobUnknown, match=layer):
        repos.put("me/m", "t", data, "")
    with pytest.raises(errors.ManifestInvalid):
        repos.put("me/m", "t", b"{not json", "")
    with pytest.raises(errors.ManifestInvalid, match="over the 4194304-byte limit"):
        repos.put("me/m", "t", b" " * (4 * 1024 * 1024 + 1), "")
    good = oci_manifest(lamina, b"y")
    with pytest.raises(errors.ManifestInvalid, match="mediaType is"):
        repos.put("me/m", "t", good.replace(b'"schemaVersion": 2', b'"schemaVersion": 2, '
                  b'"mediaType": "' + mediatypes.OCI_MANIFEST.encode() + b'"'),
                  mediatypes.DOCKER_MANIFEST)
    assert list(lamina.names()) == []


def test_an_index_needs_its_manifests(lamina: store.Store) -> None:
    repos = lamina.repositories()
    child = oci_manifest(lamina, b"child")
    child_digest = Digest.of(child)
    index = gojson.encode({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [
        {"mediaType": mediatypes.OCI_MANIFEST, "digest": str(child_digest), "size": len(child)},
    ]}, sort_keys=False)
    with pytest.raises(errors.ManifestBlobUnknown, match=child_digest.hex):
        repos.put("me/m", str(Digest.of(index)), index, mediatypes.OCI_INDEX)
    repos.put("me/m", str(child_digest), child, "")
    repos.put("me/m", str(Digest.of(index)), index, mediatypes.OCI_INDEX)
    assert repos.get("me/m", str(Digest.of(index))) == (index, mediatypes.OCI_INDEX)


def test_delete_a_tag_and_a_digest(lamina: store.Store, tiny_gguf: Path) -> None:
    manifest = build(lamina, "m", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    lamina.copy("m", "m:other")
    repos = lamina.repositories()
    repos.delete("library/m", "other")
    assert repos.tags("library/m") == ["latest"]
    with pytest.raises(errors.ManifestUnknown):
        repos.delete("library/m", "other")
    lamina.copy("m", "m:again")
    repos.delete("library/m", str(manifest.digest))  # every tag of that digest
    assert repos.repositories() == []
    with pytest.raises(errors.ManifestUnknown):
        repos.tags("library/m")


@pytest.mark.parametrize(
    "repository", ["a/b/c", "", "ns/", "-bad/model", "ns/mödel", "ns/" + "m" * 81],
)
def test_repositories_outside_ollamas_names_are_invalid(
    lamina: store.Store, repository: str
) -> None:
    with pytest.raises(errors.NameInvalid):
        lamina.repositories().get(repository, "latest")
    with pytest.raises(errors.NameInvalid):
        lamina.repositories().tags(repository)


def test_an_invalid_tag_is_a_name_error(lamina: store.Store) -> None:
    with pytest.raises(errors.NameInvalid):
        lamina.repositories().get("ns/m", "bad/tag")


def test_provenance_records_and_answers(lamina: store.Store) -> None:
    digest = Digest.of(b"blob")
    ledger = lamina.provenance
    assert list(ledger.known(digest, "registry.example")) == []
    ledger.record(digest, "Registry.Example", "me/b")
    ledger.record(digest, "registry.example", "me/a")
    ledger.record(digest, "registry.example", "me/a")
    ledger.record(digest, "other.example", "me/c")
    assert list(ledger.known(digest, "registry.example")) == ["me/a", "me/b"]
    assert list(store.Store(lamina.root).provenance.known(digest, "other.example")) == ["me/c"]
    ledger.forget(digest, "registry.example", "me/b")
    assert list(ledger.known(digest, "registry.example")) == ["me/a"]


def test_an_unreadable_provenance_file_is_only_advice(lamina: store.Store) -> None:
    lamina.layout.provenance.parent.mkdir(parents=True)
    lamina.layout.provenance.write_bytes(b"not a database" * 100)
    digest = Digest.of(b"blob")
    lamina.provenance.record(digest, "r", "me/a")  # no error
    assert list(lamina.provenance.known(digest, "r")) == []


def test_provenance_takes_records_from_many_threads(lamina: store.Store) -> None:
    import threading

    digest = Digest.of(b"blob")

    def record(n: int) -> None:
        store.Store(lamina.root).provenance.record(digest, "r", f"me/m{n:02}")

    threads = [threading.Thread(target=record, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(lamina.provenance.known(digest, "r")) == [f"me/m{n:02}" for n in range(16)]
