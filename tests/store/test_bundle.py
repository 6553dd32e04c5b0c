"""Bundles: an OCI image layout in a tar (or tar.zst) that round-trips across two stores, and a
damaged one is refused with nothing imported."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
import zstandard

import modelfile
import store
from store import bundle
from store.bundle import BundleInvalid
from tests.conftest import MakeGGUF


@pytest.fixture
def source(tmp_path: Path, make_gguf: MakeGGUF) -> store.Store:
    # Weights over 4 MB, so that load stages them on disk rather than in memory.
    make_gguf("w.gguf", tensors=(("weight", (1024, 1280), "float32"),))
    the_store = store.Store(tmp_path / "a")
    store.create(the_store, "m", modelfile.parse("FROM ./w.gguf\nSYSTEM hi\n"), base_dir=tmp_path)
    store.create(the_store, "me/child:v2", modelfile.parse("FROM m\nPARAMETER top_k 3\n"),
                 base_dir=tmp_path)
    return the_store


def members(path: Path) -> dict[str, bytes]:
    raw = path.read_bytes()
    if path.name.endswith(".zst"):
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


@pytest.mark.parametrize("suffix", [".tar", ".tar.zst"])
def test_round_trip_across_two_stores(source: store.Store, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"models{suffix}"
    saved = bundle.save(source, ["m", "me/child:v2"], out)
    files = members(out)
    assert saved.blobs == sum(name.startswith("blobs/sha256/") for name in files)
    assert json.loads(files["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads(files["index.json"])
    refs = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert refs == ["registry.ollama.ai/library/m:latest", "registry.ollama.ai/me/child:v2"]
    for name in files:
        if name.startswith("blobs/sha256/"):
            assert store.Digest.of(files[name]).hex == name.rsplit("/", 1)[1]

    target = store.Store(tmp_path / "b")
    loaded = bundle.load(target, out)
    assert [str(n) for n, _ in loaded.models] == [
        "registry.ollama.ai/library/m:latest", "registry.ollama.ai/me/child:v2"]
    for name in ("m", "me/child:v2"):
        assert target.manifest(target.resolve(name)).bytes() == source.manifest(
            source.resolve(name)).bytes()
    assert store.verify(target).ok
    again = bundle.load(target, out)
    assert again.added == 0 and again.present == loaded.added


def corrupt_tar(path: Path, member: str, change: bytes) -> None:
    files = members(path)
    files[member] = change
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def biggest_blob(path: Path) -> str:
    files = members(path)
    return max((n for n in files if n.startswith("blobs/")), key=lambda n: len(files[n]))


@pytest.mark.parametrize("damage", ["flip", "index", "missing-index", "truncate", "zst"])
def test_a_damaged_bundle_imports_nothing(source: store.Store, tmp_path: Path,
                                          damage: str) -> None:
    out = tmp_path / ("b.tar.zst" if damage == "zst" else "b.tar")
    bundle.save(source, ["m", "me/child:v2"], out)
    if damage == "flip":
        name = biggest_blob(out)
        data = bytearray(members(out)[name])
        data[len(data) // 2] ^= 1
        corrupt_tar(out, name, bytes(data))
    elif damage == "index":
        corrupt_tar(out, "index.json", b'{"schemaVersion":2,"manifests":[{"mediaType":'
                    b'"application/vnd.docker.distribution.manifest.v2+json","digest":"sha256:'
                    + b"0" * 64 + b'","size":3,"annotations":'
                    b'{"org.opencontainers.image.ref.name":"x"}}]}')
    elif damage == "missing-index":
        files = members(out)
        del files["index.json"]
        corrupt_tar(out, "oci-layout", files["oci-layout"])
        with tarfile.open(out, "w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    elif damage == "truncate":
        out.write_bytes(out.read_bytes()[: out.stat().st_size // 2])
    else:
        raw = bytearray(out.read_bytes())
        raw[len(raw) // 2] ^= 0xFF
        out.write_bytes(bytes(raw))
    target = store.Store(tmp_path / "b")
    with pytest.raises(BundleInvalid, match="nothing was imported"):
        bundle.load(target, out)
    assert list(target.names()) == []
    blobs = target.layout.blobs
    assert not blobs.exists() or list(blobs.iterdir()) == []


def test_not_a_bundle(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"hello, not a tar at all" * 100)
    with pytest.raises(BundleInvalid):
        bundle.load(store.Store(tmp_path / "s"), path)
