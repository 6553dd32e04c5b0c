"""Export into an Ollama models folder, checked against the rules Ollama reads it by."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

import store
from store.export import ExportConflict, ExportError, ollama
from store.export.ledger import Ledger
from store.link import LinkMethod

BLOB_NAME = re.compile(r"^sha256[:-][0-9a-fA-F]{64}$")  # Ollama's BlobsPath rule


def ollama_reads(root: Path) -> dict[str, tuple[dict[str, object], list[Path]]]:
    """What Ollama would list in ``root``: manifests four levels down, each blob it needs."""
    found = {}
    for path in sorted((root / "manifests").glob("*/*/*/*")):
        host, namespace, model, tag = path.relative_to(root / "manifests").parts
        document = json.loads(path.read_bytes())
        assert document["schemaVersion"] == 2
        assert document["mediaType"] == "application/vnd.docker.distribution.manifest.v2+json"
        blobs = []
        for descriptor in [document["config"], *document["layers"]]:
            name = descriptor["digest"].replace(":", "-")
            assert BLOB_NAME.fullmatch(name)
            blob = root / "blobs" / name
            assert blob.stat().st_size == descriptor["size"]
            blobs.append(blob)
        found[f"{host}/{namespace}/{model}:{tag}"] = (document, blobs)
    return found


def test_export_writes_the_same_manifest_and_links_every_blob(
    small_store: store.Store, tmp_path: Path
) -> None:
    root = tmp_path / "ollama"
    result = ollama.export(small_store, "tiny", root)

    listed = ollama_reads(root)
    assert list(listed) == ["registry.ollama.ai/library/tiny:latest"]
    name = small_store.resolve("tiny")
    manifest_path = root / "manifests/registry.ollama.ai/library/tiny/latest"
    assert manifest_path.read_bytes() == small_store.layout.manifest(name).read_bytes()
    for blob in listed["registry.ollama.ai/library/tiny:latest"][1]:
        stored = small_store.layout.blobs / blob.name
        assert os.path.samefile(blob, stored)  # a hard link: no extra bytes
    assert result.new_bytes == manifest_path.stat().st_size
    assert {f.method for f in result.files} == {"hardlink", "written"}


def test_export_is_idempotent(small_store: store.Store, tmp_path: Path) -> None:
    root = tmp_path / "ollama"
    ollama.export(small_store, "tiny", root)
    inodes = {p: p.stat().st_ino for p in root.rglob("*") if p.is_file()}
    ledger = (small_store.layout.state / "exports.json").read_bytes()

    again = ollama.export(small_store, "tiny", root)

    assert {f.method for f in again.files} == {"present", "unchanged"}
    assert {p: p.stat().st_ino for p in root.rglob("*") if p.is_file()} == inodes
    assert (small_store.layout.state / "exports.json").read_bytes() == ledger


def test_a_different_manifest_is_not_overwritten_without_force(
    small_store: store.Store, tmp_path: Path
) -> None:
    root = tmp_path / "ollama"
    theirs = root / "manifests/registry.ollama.ai/library/tiny/latest"
    theirs.parent.mkdir(parents=True)
    theirs.write_bytes(b'{"schemaVersion":2}\n')

    with pytest.raises(ExportConflict, match="--force"):
        ollama.export(small_store, "tiny", root)
    assert theirs.read_bytes() == b'{"schemaVersion":2}\n'
    assert not (root / "blobs").exists()  # nothing placed before the refusal

    ollama.export(small_store, "tiny", root, force=True)
    assert "registry.ollama.ai/library/tiny:latest" in ollama_reads(root)


@pytest.mark.parametrize("method", [LinkMethod.COPY, LinkMethod.SYMLINK])
def test_link_method_on_request(
    small_store: store.Store, tmp_path: Path, method: LinkMethod
) -> None:
    root = tmp_path / "ollama"
    result = ollama.export(small_store, "tiny", root, method=method)
    blobs = [f for f in result.files if f.role == "blob"]
    assert {f.method for f in blobs} == {method.value}
    for placed in blobs:
        stored = small_store.layout.blobs / placed.path.name
        assert placed.path.is_symlink() is (method is LinkMethod.SYMLINK)
        assert placed.path.read_bytes() == stored.read_bytes()
    ollama_reads(root)


def test_remove_deletes_only_what_lamina_placed(
    small_store: store.Store, tmp_path: Path, tiny_gguf: Path
) -> None:
    root = tmp_path / "ollama"
    (root / "blobs").mkdir(parents=True)
    users_blob = root / "blobs" / ("sha256-" + "1" * 64)
    users_blob.write_bytes(b"user's")
    ollama.export(small_store, "tiny", root)
    # The user's own Ollama model needs the weights blob lamina placed.
    weights = "sha256:" + "89a2116c3a82d6a97f59f748d86ed4417214353fd178ee54df418fde32495fad"
    other = root / "manifests/registry.ollama.ai/library/theirs/latest"
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps({"schemaVersion": 2, "config": {"digest": weights, "size": 68},
                                 "layers": []}))
    # And replaced one of lamina's files with a copy of their own.
    name = small_store.resolve("tiny")
    config = small_store.manifest(name).config.digest
    replaced = root / "blobs" / f"sha256-{config.hex}"
    data = replaced.read_bytes()
    replaced.unlink()
    replaced.write_bytes(data)

    result = ollama.remove(small_store, "tiny", root)

    assert not (root / "manifests/registry.ollama.ai/library/tiny").exists()
    kept = dict(result.kept)
    assert "another Ollama model" in kept[root / "blobs" / ("sha256-" + weights[7:])]
    assert "replaced" in kept[replaced]
    assert users_blob.read_bytes() == b"user's" and other.exists() and replaced.exists()
    layers = small_store.manifest(name).layers
    system_and_params = {root / "blobs" / f"sha256-{d.digest.hex}" for d in layers[1:]}
    assert set(result.removed) == {root / "manifests/registry.ollama.ai/library/tiny/latest",
                                   *system_and_params}
    assert Ledger(small_store.layout).read().entries == []


def test_remove_keeps_blobs_another_export_placed(
    small_store: store.Store, tmp_path: Path
) -> None:
    root = tmp_path / "ollama"
    store.Store.copy(small_store, "tiny", "twin")
    ollama.export(small_store, "tiny", root)
    ollama.export(small_store, "twin", root)

    result = ollama.remove(small_store, "tiny", root)

    assert [p.name for p in result.removed] == ["latest"]
    assert {r for _, r in result.kept} == {"another export by lamina uses it"}
    assert list(ollama_reads(root)) == ["registry.ollama.ai/library/twin:latest"]
    ollama.remove(small_store, "twin", root)
    assert not root.exists()  # lamina created it, and it is empty again


def test_remove_without_an_export_says_so(small_store: store.Store, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="has not exported tiny"):
        ollama.remove(small_store, "tiny", tmp_path / "ollama")


def test_default_root() -> None:
    assert ollama.default_root({"OLLAMA_MODELS": "/x/y"}) == Path("/x/y")
    assert ollama.default_root({}, home=Path("/h")) == Path("/h/.ollama/models")


def test_an_export_that_fails_halfway_can_still_be_removed(
    small_store: store.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from store.errors import StorageError, storage_errors
    from store.export import common

    real = common.place_file
    placed: list[Path] = []

    def fills_the_disk(src: Path, dst: Path, *args: object, **kwargs: object) -> LinkMethod:
        if placed:
            with storage_errors(dst, "cannot place the file"):
                raise OSError(errno.ENOSPC, "No space left on device")
        placed.append(dst)
        return real(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(common, "place_file", fills_the_disk)
    root = tmp_path / "ollama"
    with pytest.raises(StorageError, match="disk is full"):
        ollama.export(small_store, "tiny", root)
    assert placed and placed[0].exists()  # one blob went in before the disk filled

    monkeypatch.undo()
    result = ollama.remove(small_store, "tiny", root)
    assert result.removed == (placed[0],)
    assert not root.exists() or not any(root.rglob("*"))
