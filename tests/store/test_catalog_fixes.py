"""Regression tests for the catalogue: names with digests, rm of damaged models, cp pruning,
names the disk cannot hold, and manifests naming blobs the store lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelfile
import store
from ocitypes import Descriptor, Digest, Manifest, mediatypes


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def build(lamina: store.Store, name: str, text: str, base: Path) -> store.Manifest:
    return store.create(lamina, name, modelfile.parse(text), base_dir=base).manifest


def test_rm_with_a_digest_removes_that_name_only(lamina: store.Store, tiny_gguf: Path) -> None:
    alpha = build(lamina, "alpha", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    lamina.copy("alpha", "zeta")  # same bytes: the same ID under two names
    removal = lamina.remove(f"zeta@{alpha.digest}")
    assert removal.name.display_shortest() == "zeta:latest"
    assert [n.display_shortest() for n in lamina.names()] == ["alpha:latest"]


def test_a_name_with_another_models_digest_is_refused(
    lamina: store.Store, tiny_gguf: Path
) -> None:
    alpha = build(lamina, "alpha", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    zeta = build(lamina, "zeta", "FROM ./tiny.gguf\nSYSTEM z\n", tiny_gguf.parent)
    with pytest.raises(store.ModelNotFound, match=f"has the ID {zeta.digest}, not {alpha.digest}"):
        lamina.remove(f"zeta@{alpha.digest}")
    with pytest.raises(store.ModelNotFound, match="has the ID"):
        store.show(lamina, f"zeta@{alpha.digest}")
    with pytest.raises(store.ModelNotFound, match="has the ID"):
        lamina.copy(f"zeta@{alpha.digest}", "other")
    assert sorted(n.model for n in lamina.names()) == ["alpha", "zeta"]
    assert store.show(lamina, f"zeta@{zeta.digest}").manifest.digest == zeta.digest


def test_cp_refuses_a_destination_digest(lamina: store.Store, tiny_gguf: Path) -> None:
    alpha = build(lamina, "alpha", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    with pytest.raises(store.InvalidName, match="destination names a digest"):
        lamina.copy("alpha", f"beta@{alpha.digest}")
    assert [n.model for n in lamina.names()] == ["alpha"]


def test_rm_of_a_model_with_a_missing_blob_warns(lamina: store.Store, tiny_gguf: Path) -> None:
    manifest = build(lamina, "m", "FROM ./tiny.gguf\nSYSTEM s\n", tiny_gguf.parent)
    system = manifest.layers_of(mediatypes.SYSTEM)[0].digest
    lamina.blobs.path(system).unlink()
    removal = lamina.remove("m")
    assert removal.warnings == (f"blob {system} of 'm:latest' was already missing",)
    assert system not in dict(removal.freed)
    assert set(dict(removal.freed)) == manifest.digests() - {system}
    assert list(lamina.names()) == []


def test_cp_onto_an_existing_name_prunes_its_orphans(
    lamina: store.Store, tiny_gguf: Path
) -> None:
    old = build(lamina, "a", "FROM ./tiny.gguf\nSYSTEM only-a\n", tiny_gguf.parent)
    build(lamina, "b", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    system = old.layers_of(mediatypes.SYSTEM)[0].digest
    copied = lamina.copy("b", "a")
    assert system in copied.pruned and not lamina.blobs.exists(system)
    assert lamina.blobs.exists(old.layers[0].digest)  # the weights b shares stay


def test_a_host_too_long_for_a_folder_name_is_invalid(lamina: store.Store) -> None:
    name = store.Name.parse("h" * 300 + "/ns/m")  # Ollama's rules allow 350 characters
    for call in (lamina.find, lamina.resolve, lamina.manifest):
        with pytest.raises(store.InvalidName, match=r"host is 300 bytes long.*at most 255 bytes"):
            call(name)
    assert lamina.find(store.Name.parse("h" * 255 + "/ns/m")) is None


def test_a_manifest_path_too_long_to_open_is_an_invalid_name(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d" * 250] * 15)  # never created: the check is path math
    lamina = store.Store(deep)
    name = store.Name.parse("h" * 250 + "/" + "n" * 80 + "/" + "m" * 80 + ":" + "t" * 80)
    with pytest.raises(store.InvalidName, match="over the 4095-byte limit"):
        lamina.find(name)
    with pytest.raises(store.InvalidName, match="over the 4095-byte limit"):
        lamina.resolve(name)


def test_write_manifest_refuses_a_manifest_naming_a_missing_blob(lamina: store.Store) -> None:
    config = lamina.blobs.put_bytes(b"{}")
    missing = Digest.of(b"never stored")
    manifest = Manifest(Descriptor(mediatypes.CONFIG, config.digest, config.size),
                        (Descriptor(mediatypes.MODEL, missing, 12),))
    with lamina.writing(), pytest.raises(store.ManifestBlobUnknown) as caught:
        lamina.write_manifest(store.Name.parse("m"), manifest)
    assert caught.value.digest == str(missing)
    assert list(lamina.names()) == []
