"""The catalogue and upkeep: list, show, rebuild, rm, cp, diff, gc, du, verify."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

import modelfile
import store
from ocitypes import mediatypes
from tests.conftest import MakeGGUF


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def build(lamina: store.Store, name: str, text: str, base: Path) -> store.Manifest:
    return store.create(lamina, name, modelfile.parse(text), base_dir=base).manifest


def test_layout_is_ollamas(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "ns/m:v1", "FROM ./tiny.gguf\nSYSTEM s\n", tiny_gguf.parent)
    build(lamina, "localhost:5000/team/m", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    manifests = sorted(
        str(p.relative_to(lamina.root / "manifests"))
        for p in (lamina.root / "manifests").glob("*/*/*/*")
    )
    assert manifests == ["localhost:5000/team/m/latest", "registry.ollama.ai/ns/m/v1"]
    names = {p.name for p in (lamina.root / "blobs").iterdir()}
    assert all(n.startswith("sha256-") and len(n) == 71 for n in names)
    assert sorted(p.name for p in lamina.root.iterdir()) == [".lamina", "blobs", "manifests"]


def test_entries_and_lookup_by_digest(lamina: store.Store, tiny_gguf: Path) -> None:
    manifest = build(lamina, "m", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    (entry,) = lamina.entries()
    assert (entry.name.display_shortest(), entry.digest) == ("m:latest", manifest.digest)
    assert lamina.resolve(f"m@{manifest.digest}").display_shortest() == "m:latest"
    with pytest.raises(store.ModelNotFound, match="model 'nope' not found"):
        lamina.resolve("nope")


def test_show_reads_every_layer(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = make_gguf("w.gguf", arch="qwen2", file_type=15, context_length=4096,
                        embedding_length=64)
    build(
        lamina, "m",
        "FROM ./w.gguf\nTEMPLATE t\nSYSTEM s\nLICENSE l1\nLICENSE l2\nPARAMETER stop x\n"
        "PARAMETER num_ctx 2048\nMESSAGE user hi\n",
        weights.parent,
    )
    info = store.show(lamina, "m")
    assert (info.config.model_family, info.config.file_type) == ("qwen2", "Q4_K_M")
    assert info.weights is not None and info.weights.context_length == 4096
    assert (info.template, info.system, info.licenses) == ("t", "s", ("l1", "l2"))
    assert info.parameters == {"num_ctx": 2048, "stop": ["x"]}
    assert info.messages == ({"role": "user", "content": "hi"},)
    assert info.to_json()["architecture"] == "qwen2"


@pytest.mark.parametrize(
    "extra",
    [
        "",
        'TEMPLATE """{{ .System }}\n{{ .Prompt }}"""\nSYSTEM "  spaced  "\n',
        "PARAMETER temperature 0.7\nPARAMETER stop <a>\nPARAMETER stop <b>\n"
        "PARAMETER seed 1000000\nPARAMETER use_mmap false\nPARAMETER top_p 0.95\n",
        "LICENSE one\nLICENSE two\nMESSAGE user q\nMESSAGE assistant a\nREQUIRES 0.14.0\n",
    ],
)
def test_show_modelfile_recreates_the_same_manifest(
    lamina: store.Store, tiny_gguf: Path, extra: str
) -> None:
    original = build(lamina, "m", f"FROM ./tiny.gguf\n{extra}", tiny_gguf.parent)
    text = store.rebuild_modelfile(lamina, store.show(lamina, "m"))
    assert build(lamina, "again", text, tiny_gguf.parent).digest == original.digest


def test_rm_keeps_blobs_other_models_use(lamina: store.Store, tiny_gguf: Path) -> None:
    a = build(lamina, "a", "FROM ./tiny.gguf\nSYSTEM only-a\n", tiny_gguf.parent)
    build(lamina, "b", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    removal = lamina.remove("A")
    assert removal.name.display_shortest() == "a:latest"
    assert (removal.digest, removal.warnings) == (a.digest, ())
    system = a.layers_of(mediatypes.SYSTEM)[0].digest
    assert system in dict(removal.freed) and not lamina.blobs.exists(system)
    assert lamina.blobs.exists(a.layers[0].digest)
    assert not (lamina.root / "manifests/registry.ollama.ai/library/a").exists()


def test_cp_copies_only_the_manifest(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "a", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    blobs = sorted((lamina.root / "blobs").iterdir())
    lamina.copy("a", "team/b:v2")
    path = lamina.root / "manifests/registry.ollama.ai/team/b/v2"
    assert path.read_bytes() == (lamina.root / "manifests/registry.ollama.ai/library/a/latest")\
        .read_bytes()
    assert sorted((lamina.root / "blobs").iterdir()) == blobs


def test_diff(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "a", "FROM ./tiny.gguf\nSYSTEM one\nPARAMETER top_k 1\n", tiny_gguf.parent)
    build(lamina, "b", "FROM ./tiny.gguf\nSYSTEM two\nPARAMETER top_k 2\n", tiny_gguf.parent)
    result = store.diff(lamina, "a", "b")
    assert [layer.media_type for layer in result.shared] == [mediatypes.MODEL]
    assert len(result.only_a) == len(result.only_b) == 2
    assert result.parameters == {"top_k": (1, 2)}
    assert "-one" in result.texts["system"] and "+two" in result.texts["system"]
    assert store.diff(lamina, "a", "a").identical


def test_gc_removes_unreferenced_blobs_and_stale_temps(
    lamina: store.Store, tiny_gguf: Path
) -> None:
    build(lamina, "m", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    orphan = lamina.blobs.put_bytes(b"nobody uses me")
    stale = lamina.root / "blobs" / ".tmp-killed-writer"
    stale.write_bytes(b"partial")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    assert store.gc(lamina).blobs == ()  # inside the grace period nothing goes
    report = store.gc(lamina, dry_run=True, grace=0)
    assert [d for d, _ in report.blobs] == [orphan.digest]
    assert lamina.blobs.exists(orphan.digest) and stale.exists()
    store.gc(lamina, grace=0)
    assert not lamina.blobs.exists(orphan.digest) and not stale.exists()
    assert store.verify(lamina).ok


def test_verify_finds_corrupt_and_missing_blobs(lamina: store.Store, tiny_gguf: Path) -> None:
    manifest = build(lamina, "m", "FROM ./tiny.gguf\nSYSTEM s\nLICENSE l\n", tiny_gguf.parent)
    system, license_ = manifest.layers[1:]
    path = lamina.blobs.path(system.digest)
    path.chmod(0o644)
    path.write_bytes(b"tampered")
    lamina.blobs.path(license_.digest).unlink()
    report = store.verify(lamina)
    assert not report.ok
    assert [d for d, _ in report.corrupt] == [system.digest]
    assert report.missing == ((license_.digest, "m:latest"),)


def test_verify_detects_an_in_place_edit_of_a_linked_source(
    lamina: store.Store, make_gguf: MakeGGUF
) -> None:
    weights = make_gguf("w.gguf", tensors=(("t", (64, 64), "float32"),))
    manifest = build(lamina, "m", "FROM ./w.gguf\n", weights.parent)
    weights.chmod(0o644)
    with open(weights, "r+b") as handle:  # an in-place edit, as a careless tool would do
        handle.seek(-4, os.SEEK_END)
        handle.write(b"\xff\xff\xff\xff")
    report = store.verify(lamina)
    if lamina.blobs.path(manifest.layers[0].digest).stat().st_ino == weights.stat().st_ino:
        assert [d for d, _ in report.corrupt] == [manifest.layers[0].digest]
    else:  # a reflink or copy is immune to the edit
        assert report.ok


def test_du_counts_linked_bytes_once(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = make_gguf("w.gguf", tensors=(("t", (256, 256), "float32"),))
    build(lamina, "a", "FROM ./w.gguf\n", weights.parent)
    build(lamina, "b", "FROM ./w.gguf\nSYSTEM x\n", weights.parent)
    usage = store.du(lamina).to_json()
    size = weights.stat().st_size
    assert usage["models"] == 2
    assert usage["saved_by_dedupe_bytes"] >= size
    assert usage["logical_bytes"] >= 2 * size


def test_split_gguf_becomes_one_model_layer(
    lamina: store.Store, make_gguf: MakeGGUF, tmp_path: Path
) -> None:
    import numpy as np
    from gguf import GGUFWriter

    whole = make_gguf("whole.gguf", tensors=(("a", (8, 8), "float32"), ("b", (4,), "float32")))
    split_dir = tmp_path / "split"
    split_dir.mkdir()
    writer = GGUFWriter(split_dir / "m.gguf", "llama", split_max_tensors=1)
    writer.add_tensor("a", np.zeros((8, 8), dtype=np.float32))
    writer.add_tensor("b", np.zeros((4,), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    shards = sorted(p.name for p in split_dir.iterdir())
    assert shards == ["m-00001-of-00002.gguf", "m-00002-of-00002.gguf"]
    manifest = build(lamina, "split", f"FROM ./{shards[0]}\nFROM ./{shards[1]}\n", split_dir)
    (layer,) = manifest.layers
    info = store.read_info(lamina.blobs.path(layer.digest))
    assert [t.name for t in info.tensors] == ["a", "b"]
    assert info.split is None
    assert layer.media_type == mediatypes.MODEL
    assert json.loads(lamina.blobs.path(manifest.config.digest).read_bytes())["model_type"] == \
        store.read_info(whole).model_type


def test_a_damaged_manifest_can_still_be_removed(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "m", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    path = lamina.root / "manifests/registry.ollama.ai/library/m/latest"
    path.write_text("{not json")
    with pytest.raises(store.StoreError, match="damaged"):
        store.show(lamina, "m")
    removal = lamina.remove("m")
    assert (removal.name.display_shortest(), removal.freed) == ("m:latest", ())
    assert "damaged" in removal.warnings[0]
    assert not path.exists()
    assert [d for d, _ in store.gc(lamina, grace=0).blobs]  # gc collects what it left


def test_show_with_a_missing_blob_names_it(lamina: store.Store, tiny_gguf: Path) -> None:
    manifest = build(lamina, "m", "FROM ./tiny.gguf\nSYSTEM s\n", tiny_gguf.parent)
    lamina.blobs.path(manifest.config.digest).unlink()
    with pytest.raises(store.BlobNotFound, match=manifest.config.digest.hex):
        store.show(lamina, "m")


def test_gc_refuses_while_a_manifest_is_damaged(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "a", "FROM ./tiny.gguf\nSYSTEM a\n", tiny_gguf.parent)
    build(lamina, "b", "FROM ./tiny.gguf\nSYSTEM only-b\n", tiny_gguf.parent)
    (lamina.root / "manifests/registry.ollama.ai/library/a/latest").write_text("{")
    before = sorted((lamina.root / "blobs").iterdir())
    with pytest.raises(store.StoreError, match="damaged"):
        store.gc(lamina, grace=0)
    lamina.remove("b")  # removing another model keeps every blob the damaged one may need
    assert sorted((lamina.root / "blobs").iterdir()) == before


def test_damaged_params_blob_is_a_store_error(lamina: store.Store, tiny_gguf: Path) -> None:
    manifest = build(lamina, "m", "FROM ./tiny.gguf\nPARAMETER top_k 1\n", tiny_gguf.parent)
    params = manifest.layers_of(mediatypes.PARAMS)[0]
    lamina.blobs.path(params.digest).write_bytes(b"\xff\xfe not json")
    with pytest.raises(store.StoreError, match="params layer"):
        store.show(lamina, "m")
    with pytest.raises(store.StoreError, match="params layer"):
        build(lamina, "child", "FROM m\nPARAMETER top_k 2\n", tiny_gguf.parent)
