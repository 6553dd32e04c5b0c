"""Adopting Ollama's and LM Studio's models: linked, hashed, and their folders left as they were."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

import store
from store import adopt
from store.export import lmstudio
from tests.conftest import MakeGGUF, tiny_gguf_bytes

# Ollama's own bytes for a model created from its 68-byte test GGUF (server/routes_create_test.go).
CONFIG = (b'{"model_format":"gguf","model_family":"test","model_families":["test"],'
          b'"model_type":"0","file_type":"unknown","architecture":"amd64","os":"linux"}\n')


def ollama_dir(root: Path, name: str = "registry.ollama.ai/library/tiny/latest") -> bytes:
    """An Ollama models folder written the way Ollama writes one; returns the manifest."""
    blobs = root / "blobs"
    blobs.mkdir(parents=True, exist_ok=True)
    digests = []
    for data in (CONFIG, tiny_gguf_bytes()):
        hexdigest = hashlib.sha256(data).hexdigest()
        (blobs / f"sha256-{hexdigest}").write_bytes(data)
        digests.append((hexdigest, len(data)))
    (config_hex, config_size), (model_hex, model_size) = digests
    manifest = (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json",'
        f'"digest":"sha256:{config_hex}","size":{config_size}}},'
        f'"layers":[{{"mediaType":"application/vnd.ollama.image.model",'
        f'"digest":"sha256:{model_hex}","size":{model_size}}}]}}\n'
    ).encode()
    path = root / "manifests" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(manifest)
    return manifest


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_import_from_ollama_links_and_keeps_the_manifest_bytes(tmp_path: Path) -> None:
    root = tmp_path / "ollama"
    manifest = ollama_dir(root)
    before = snapshot(root)
    the_store = store.Store(tmp_path / "home")

    (result,) = adopt.from_ollama(the_store, root)

    assert (result.status, result.name) == ("imported", "tiny:latest")
    name = the_store.resolve("tiny")
    assert the_store.layout.manifest(name).read_bytes() == manifest
    for descriptor in the_store.manifest(name).descriptors():
        theirs = root / "blobs" / f"sha256-{descriptor.digest.hex}"
        assert os.path.samefile(theirs, the_store.blobs.path(descriptor.digest))
    assert snapshot(root) == before
    assert [r.status for r in adopt.from_ollama(the_store, root)] == ["unchanged"]


def test_a_damaged_or_missing_blob_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "ollama"
    ollama_dir(root)
    ollama_dir(root, "registry.ollama.ai/library/gone/latest")
    weights = root / "blobs" / f"sha256-{hashlib.sha256(tiny_gguf_bytes()).hexdigest()}"
    weights.write_bytes(b"GGUF" + bytes(64))  # same size, other bytes
    config = root / "blobs" / f"sha256-{hashlib.sha256(CONFIG).hexdigest()}"
    the_store = store.Store(tmp_path / "home")

    results = adopt.from_ollama(the_store, root)

    assert [r.status for r in results] == ["skipped", "skipped"]
    assert "damaged" in results[0].detail and "digest mismatch" in results[0].detail
    assert list(the_store.names()) == []
    config.unlink()
    assert "is missing" in adopt.from_ollama(store.Store(tmp_path / "h2"), root)[0].detail


def test_import_from_lmstudio(tmp_path: Path, make_gguf: MakeGGUF) -> None:
    models = tmp_path / "lms" / "models"
    make_gguf("lms/models/bartowski/Qwen3-8B-GGUF/Qwen3-8B-Q4_K_M.gguf")
    make_gguf("lms/models/bartowski/Qwen3-8B-GGUF/Qwen3-8B-Q8_0.gguf", arch="qwen3")
    make_gguf("lms/models/bartowski/Qwen3-8B-GGUF/mmproj-Qwen3-8B-f16.gguf", arch="clip",
              general_type="mmproj")
    make_gguf("lms/models/too-shallow.gguf")
    the_store = store.Store(tmp_path / "home")

    results = adopt.from_lmstudio(the_store, models)

    assert [(r.name, r.status) for r in results] == [
        ("bartowski/Qwen3-8B-GGUF:Q4_K_M", "imported"),
        ("bartowski/Qwen3-8B-GGUF:Q8_0", "imported"),
    ]
    shown = store.show(the_store, "bartowski/Qwen3-8B-GGUF:Q4_K_M")
    kinds = [layer.media_type.rsplit(".", 1)[1] for layer in shown.layers]
    assert kinds == ["model", "projector"]


def test_import_from_a_relative_lmstudio_folder(
    tmp_path: Path, make_gguf: MakeGGUF, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_gguf("lms/models/pub/repo/m-Q4_K_M.gguf")
    monkeypatch.chdir(tmp_path)
    results = adopt.from_lmstudio(store.Store(tmp_path / "home"), Path("lms/models"))
    assert [(r.name, r.status, r.detail) for r in results] == [
        ("pub/repo:Q4_K_M", "imported", "")]


def test_an_lmstudio_export_imports_back_as_the_same_model(
    tmp_path: Path, tiny_gguf: Path
) -> None:
    import modelfile

    the_store = store.Store(tmp_path / "home")
    store.create(the_store, "me/tiny:v1", modelfile.parse("FROM ./tiny.gguf\n"),
                 base_dir=tiny_gguf.parent)
    home = tmp_path / "lms"
    lmstudio.export(the_store, "me/tiny:v1", home)
    results = adopt.from_lmstudio(the_store, home / "models")
    assert [(r.name, r.status) for r in results] == [("me/tiny:v1", "unchanged")]
