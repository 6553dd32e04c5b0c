"""Bundles: an OCI image layout in a tar (or tar.zst) that round-trips across two stores, and a
damaged one is refused with nothing imported."""

from __future__ import annotations

import io
import json
import os
import tarfile
import tracemalloc
from pathlib import Path

import pytest
import zstandard

import modelfile
import store
from ocitypes import Descriptor, Manifest, mediatypes
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


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95, 0.9999])
def test_a_truncated_zst_imports_nothing(source: store.Store, tmp_path: Path,
                                         keep: float) -> None:
    out = tmp_path / "b.tar.zst"
    bundle.save(source, ["m", "me/child:v2"], out)
    raw = out.read_bytes()
    out.write_bytes(raw[: int(len(raw) * keep)])
    target = store.Store(tmp_path / "b")
    with pytest.raises(BundleInvalid, match="nothing was imported"):
        bundle.load(target, out)
    assert list(target.names()) == []
    assert not target.layout.blobs.exists() or list(target.layout.blobs.iterdir()) == []


def test_a_zst_of_several_frames_loads(source: store.Store, tmp_path: Path) -> None:
    plain = tmp_path / "b.tar"
    bundle.save(source, ["m"], plain)
    raw = plain.read_bytes()
    cut = len(raw) // 3
    compressor = zstandard.ZstdCompressor(level=1)
    out = tmp_path / "frames.tar.zst"  # as pzstd writes: independent frames, one after another
    out.write_bytes(compressor.compress(raw[:cut]) + compressor.compress(raw[cut:]))
    loaded = bundle.load(store.Store(tmp_path / "b"), out)
    assert [str(n) for n, _ in loaded.models] == ["registry.ollama.ai/library/m:latest"]


@pytest.mark.parametrize("suffix", [".tar", ".tar.zst"])
def test_progress_counts_the_bundle_file(source: store.Store, tmp_path: Path,
                                         suffix: str) -> None:
    out = tmp_path / f"b{suffix}"
    bundle.save(source, ["m", "me/child:v2"], out)
    seen: list[int] = []
    bundle.load(store.Store(tmp_path / "b"), out, progress=seen.append)
    assert sum(seen) == out.stat().st_size and all(n > 0 for n in seen)


@pytest.mark.parametrize("suffix", [".tar", ".tar.zst"])
def test_blobs_already_present_are_not_written(source: store.Store, tmp_path: Path,
                                               suffix: str) -> None:
    out = tmp_path / f"b{suffix}"
    bundle.save(source, ["m"], out)
    target = store.Store(tmp_path / "b")
    weights = max(source.manifest(source.resolve("m")).layers, key=lambda d: d.size)
    with source.blobs.open(weights.digest) as handle:
        target.blobs.put_stream(iter(lambda: handle.read(1 << 20), b""))
    before = os.stat(target.blobs.path(weights.digest))
    loaded = bundle.load(target, out)
    after = os.stat(target.blobs.path(weights.digest))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert loaded.present == 1 and store.verify(target).ok


@pytest.mark.parametrize("suffix", [".tar", ".tar.zst"])
def test_load_memory_does_not_grow_with_the_blob(tmp_path: Path, suffix: str) -> None:
    source = store.Store(tmp_path / "a")
    size = 48 * 1024 * 1024
    chunk = os.urandom(1 << 20)
    weights = source.blobs.put_stream(chunk for _ in range(size >> 20))
    config = source.blobs.put_bytes(b'{"model_format":"gguf"}\n')
    source.write_manifest(store.Name.parse("big"), Manifest(
        Descriptor(mediatypes.CONFIG, config.digest, config.size),
        (Descriptor(mediatypes.MODEL, weights.digest, weights.size),)))
    out = tmp_path / f"big{suffix}"
    bundle.save(source, ["big"], out)
    tracemalloc.start()
    try:
        bundle.load(store.Store(tmp_path / "b"), out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < size / 2, f"load held {peak} bytes at once for a {size}-byte blob"


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.GNUTYPE_SPARSE])
def test_links_and_sparse_members_are_refused(tmp_path: Path, kind: bytes) -> None:
    out = tmp_path / "b.tar"
    with tarfile.open(out, "w", format=tarfile.GNU_FORMAT) as tar:
        info = tarfile.TarInfo("blobs/sha256/" + "a" * 64)
        info.type = kind
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    target = store.Store(tmp_path / "s")
    with pytest.raises(BundleInvalid, match="plain files only"):
        bundle.load(target, out)
