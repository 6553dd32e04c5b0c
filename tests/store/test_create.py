"""create: Ollama's bytes (golden vectors), inheritance rules, dedupe, zero-copy, bad input."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

import modelfile
import store
from ocitypes import mediatypes
from store.link import LinkMethod
from tests.conftest import MakeGGUF

TINY = "sha256:89a2116c3a82d6a97f59f748d86ed4417214353fd178ee54df418fde32495fad"
TINY_CONFIG = "sha256:99759ad5b91e723db0393d698ffbb448b1b7df5ff6377a108c49254583b1bc8c"
TEMPLATE = "sha256:b507b9c2f6ca642bffcd06665ea7c91f235fd32daeefdf875a0f938db05fb315"
PARAMS = "sha256:12f58bb75cb3042d69a7e013ab87fb3c3c7088f50ddc62f0c77bd332f0d44d35"


@pytest.fixture
def lamina(tmp_path: Path) -> store.Store:
    return store.Store(tmp_path / "home")


def build(lamina: store.Store, name: str, text: str, base: Path) -> store.CreateResult:
    return store.create(lamina, name, modelfile.parse(text), base_dir=base)


def kinds(manifest: store.Manifest) -> list[str]:
    return [layer.media_type.rsplit(".", 1)[-1] for layer in manifest.layers]


def blob_text(lamina: store.Store, layer: store.Descriptor) -> str:
    return lamina.blobs.path(layer.digest).read_text()


def test_golden_manifest_for_the_tiny_gguf(lamina: store.Store, tiny_gguf: Path) -> None:
    result = build(lamina, "test", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    expected = (
        '{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",'
        f'"config":{{"mediaType":"application/vnd.docker.container.image.v1+json",'
        f'"digest":"{TINY_CONFIG}","size":147}},'
        f'"layers":[{{"mediaType":"application/vnd.ollama.image.model","digest":"{TINY}",'
        '"size":68}]}\n'
    )
    path = lamina.root / "manifests/registry.ollama.ai/library/test/latest"
    assert path.read_text() == expected
    assert result.manifest.bytes() == expected.encode()
    assert (lamina.root / f"blobs/sha256-{TINY[7:]}").read_bytes() == tiny_gguf.read_bytes()


def test_golden_template_and_params_blobs(lamina: store.Store, tiny_gguf: Path) -> None:
    text = (
        "FROM ./tiny.gguf\nTEMPLATE {{ .Prompt }}\nPARAMETER stop <|endoftext|>\n"
        "PARAMETER temperature 0.6\nPARAMETER top_k 10\nPARAMETER top_p 0.7\n"
    )
    manifest = build(lamina, "test", text, tiny_gguf.parent).manifest
    assert kinds(manifest) == ["model", "template", "params"]
    assert [str(layer.digest) for layer in manifest.layers] == [TINY, TEMPLATE, PARAMS]


def test_text_blobs_are_raw_and_messages_are_go_json(lamina: store.Store, tiny_gguf: Path) -> None:
    text = 'FROM ./tiny.gguf\nSYSTEM """a <b> & c"""\nLICENSE MIT\nMESSAGE user Hello\n'
    manifest = build(lamina, "m", text, tiny_gguf.parent).manifest
    system, license_, messages = manifest.layers[1:]
    assert blob_text(lamina, system) == "a <b> & c"
    assert blob_text(lamina, license_) == "MIT"
    assert blob_text(lamina, messages) == '[{"role":"user","content":"Hello"}]\n'


def test_same_modelfile_and_weights_give_the_same_digest(
    lamina: store.Store, tiny_gguf: Path, tmp_path: Path
) -> None:
    text = "FROM ./tiny.gguf\nSYSTEM hi\nPARAMETER temperature 0.7\n"
    first = build(lamina, "a", text, tiny_gguf.parent).manifest.digest
    other = store.Store(tmp_path / "elsewhere")
    assert build(other, "b", text, tiny_gguf.parent).manifest.digest == first


def parent_text() -> str:
    return (
        "FROM ./tiny.gguf\nTEMPLATE parent-template\nSYSTEM parent-system\nLICENSE parent-license\n"
        "PARAMETER stop <a>\nPARAMETER stop <b>\nPARAMETER temperature 0.5\n"
        "MESSAGE user hi\nMESSAGE assistant hello\n"
    )


def test_inheritance_rules(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "parent", parent_text(), tiny_gguf.parent)
    child = build(
        lamina, "child",
        "FROM parent\nSYSTEM child-system\nLICENSE child-license\nPARAMETER stop <c>\n"
        "PARAMETER top_k 5\n",
        tiny_gguf.parent,
    ).manifest
    assert kinds(child) == [
        "model", "template", "license", "messages", "system", "license", "params"
    ]
    texts = [blob_text(lamina, layer) for layer in child.layers[1:-1] if
             layer.media_type != mediatypes.MESSAGES]
    assert texts == ["parent-template", "parent-license", "child-system", "child-license"]
    params = json.loads(blob_text(lamina, child.layers[-1]))
    assert params == {"stop": ["<c>"], "temperature": 0.5, "top_k": 5}
    inherited = [layer.from_ for layer in child.layers[:4]]
    assert inherited == ["parent:latest"] * 4
    assert child.layers[-1].from_ is None


def test_empty_system_does_not_clear_and_messages_replace_only_when_given(
    lamina: store.Store, tiny_gguf: Path
) -> None:
    build(lamina, "parent", parent_text(), tiny_gguf.parent)
    kept = build(lamina, "kept", 'FROM parent\nSYSTEM ""\n', tiny_gguf.parent).manifest
    systems = kept.layers_of(mediatypes.SYSTEM)
    assert [blob_text(lamina, layer) for layer in systems] == ["parent-system"]
    replaced = build(lamina, "new", "FROM parent\nMESSAGE user only\n", tiny_gguf.parent).manifest
    (messages,) = replaced.layers_of(mediatypes.MESSAGES)
    assert json.loads(blob_text(lamina, messages)) == [{"role": "user", "content": "only"}]


def test_config_inherits_renderer_parser_requires(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "parent", "FROM ./tiny.gguf\nRENDERER r1\nPARSER p1\nREQUIRES 0.14.0\n",
          tiny_gguf.parent)
    child = build(lamina, "child", "FROM parent\nPARSER p2\n", tiny_gguf.parent).manifest
    config = json.loads(lamina.blobs.path(child.config.digest).read_bytes())
    assert (config["renderer"], config["parser"], config["requires"]) == ("r1", "p2", "0.14.0")
    assert list(config)[-2:] == ["architecture", "os"]


def test_variants_share_one_weights_blob(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = make_gguf("w.gguf", tensors=(("t", (256, 256), "float32"),))
    one = build(lamina, "one", "FROM ./w.gguf\nSYSTEM a\n", weights.parent).manifest
    two = build(lamina, "two", "FROM ./w.gguf\nSYSTEM b\n", weights.parent).manifest
    assert one.layers[0].digest == two.layers[0].digest
    usage = store.du(lamina)
    assert usage.saved_by_dedupe >= weights.stat().st_size
    assert usage.stored < usage.logical


def test_create_links_instead_of_copying(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = make_gguf("w.gguf", tensors=(("t", (512, 512), "float32"),))
    result = build(lamina, "m", "FROM ./w.gguf\n", weights.parent)
    (_, imported), = result.imports
    assert imported.method in (LinkMethod.REFLINK, LinkMethod.HARDLINK)
    if imported.method is LinkMethod.HARDLINK:
        assert lamina.blobs.path(imported.digest).stat().st_ino == weights.stat().st_ino


def test_recreate_with_unchanged_weights_skips_hashing(
    lamina: store.Store, make_gguf: MakeGGUF
) -> None:
    weights = make_gguf("w.gguf")
    build(lamina, "m", "FROM ./w.gguf\n", weights.parent)
    again = build(lamina, "m", "FROM ./w.gguf\nSYSTEM x\n", weights.parent)
    assert [r.hashed for _, r in again.imports] == [False]


def test_adapter_and_projector_layers(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    make_gguf("model.gguf", arch="llama")
    make_gguf("mmproj.gguf", arch="clip", general_type="projector")
    adapter = make_gguf("lora.gguf", general_type="adapter")
    manifest = build(
        lamina, "m", "FROM ./model.gguf\nFROM ./mmproj.gguf\nADAPTER ./lora.gguf\n", adapter.parent
    ).manifest
    assert kinds(manifest) == ["projector", "model", "adapter"]
    assert [layer.from_ for layer in manifest.layers] == ["mmproj.gguf", None, "lora.gguf"]
    config = json.loads(lamina.blobs.path(manifest.config.digest).read_bytes())
    assert (config["model_family"], config["model_families"]) == ("llama", ["llama"])


def test_adapter_must_be_an_adapter(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    model = make_gguf("model.gguf")
    with pytest.raises(store.GGUFError, match="ADAPTER needs a LoRA adapter GGUF"):
        build(lamina, "m", "FROM ./model.gguf\nADAPTER ./model.gguf\n", model.parent)


def test_real_gguf_config(lamina: store.Store, real_gguf: Path) -> None:
    manifest = build(lamina, "gemma", f"FROM {real_gguf}\n", real_gguf.parent).manifest
    config = json.loads(lamina.blobs.path(manifest.config.digest).read_bytes())
    assert (config["model_family"], config["model_type"], config["file_type"]) == (
        "gemma3", "268.10M", "Q4_K_M"
    )
    assert manifest.layers[0].size == real_gguf.stat().st_size


def test_replacing_a_model_prunes_its_old_blobs(lamina: store.Store, tiny_gguf: Path) -> None:
    first = build(lamina, "m", "FROM ./tiny.gguf\nSYSTEM old\n", tiny_gguf.parent).manifest
    build(lamina, "m", "FROM ./tiny.gguf\nSYSTEM new\n", tiny_gguf.parent)
    old_system = first.layers_of(mediatypes.SYSTEM)[0]
    assert not lamina.blobs.exists(old_system.digest)
    assert lamina.blobs.exists(first.layers[0].digest)


def test_names_are_case_insensitive(lamina: store.Store, tiny_gguf: Path) -> None:
    build(lamina, "MyModel", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    again = build(lamina, "mymodel:latest", "FROM ./tiny.gguf\nSYSTEM x\n", tiny_gguf.parent)
    assert str(again.name) == "registry.ollama.ai/library/MyModel:latest"
    assert [str(n) for n in lamina.names()] == ["registry.ollama.ai/library/MyModel:latest"]


def store_snapshot(lamina: store.Store) -> list[str]:
    return sorted(str(p.relative_to(lamina.root)) for p in lamina.root.rglob("*")
                  if p.is_file() and ".lamina" not in p.parts)


@pytest.mark.parametrize(
    ("setup", "text", "error", "message"),
    [
        (lambda d: (d / "x.gguf").write_text('{"json": true}'), "FROM ./x.gguf",
         store.GGUFError, "not a GGUF file (found JSON text)"),
        (lambda d: (d / "x.gguf").write_bytes(b"GGUF\x03\x00\x00\x00\x01"), "FROM ./x.gguf",
         store.GGUFError, "truncated GGUF"),
        (lambda d: None, "FROM ./missing.gguf", store.CreateError, "no such file"),
        (lambda d: None, "FROM nosuchmodel", store.CreateError, "no model 'nosuchmodel'"),
        (lambda d: None, "FROM -bad", store.CreateError, "not a valid model name"),
    ],
)
def test_bad_input_leaves_the_store_as_it_was(
    lamina: store.Store, tiny_gguf: Path, setup: object, text: str,
    error: type[Exception], message: str,
) -> None:
    build(lamina, "keep", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    before = store_snapshot(lamina)
    setup(tiny_gguf.parent)  # type: ignore[operator]
    with pytest.raises(error, match=message.replace("(", r"\(").replace(")", r"\)")):
        build(lamina, "broken", text + "\n", tiny_gguf.parent)
    assert store_snapshot(lamina) == before


def test_invalid_target_name(lamina: store.Store, tiny_gguf: Path) -> None:
    with pytest.raises(store.InvalidName):
        build(lamina, "bad name!", "FROM ./tiny.gguf\n", tiny_gguf.parent)


def test_full_disk_is_a_storage_error_and_nothing_is_left(
    lamina: store.Store, make_gguf: MakeGGUF, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = make_gguf("w.gguf", tensors=(("t", (256, 256), "float32"),))

    def no_links(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EXDEV, "cross-device link")

    def full(fd: int, data: bytes) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "link", no_links)
    monkeypatch.setattr("store.link.reflink", lambda *a: (_ for _ in ()).throw(
        store.link.LinkUnsupported(LinkMethod.REFLINK, weights, weights, "test")))
    monkeypatch.setattr(os, "write", full)
    with pytest.raises(store.StorageError, match="space"):
        build(lamina, "m", "FROM ./w.gguf\n", weights.parent)
    assert store_snapshot(lamina) == []


def test_inherited_layers_name_the_parent_as_the_modelfile_spells_it(
    lamina: store.Store, tiny_gguf: Path
) -> None:
    build(lamina, "team/Base:v1", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    child = build(lamina, "child", "FROM TEAM/base:v1\n", tiny_gguf.parent).manifest
    assert [layer.from_ for layer in child.layers] == ["TEAM/base:v1"]


def split_model(folder: Path, prefix: str, *, general_type: str | None = None,
                arch: str = "llama") -> list[Path]:
    """A three-shard split GGUF written by gguf-py, one tensor per shard."""
    import numpy as np
    from gguf import GGUFWriter

    folder.mkdir(parents=True, exist_ok=True)
    writer = GGUFWriter(folder / f"{prefix}.gguf", arch, split_max_tensors=1)
    if general_type is not None:
        writer.add_type(general_type)
    for number in range(3):
        writer.add_tensor(f"blk.{number}.w", np.full((4, 8), number, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    shards = sorted(folder.glob(f"{prefix}-*.gguf"))
    assert len(shards) == 3
    return shards


def merged_size(shards: list[Path]) -> int:
    from store.gguf_merge import plan_merge

    return plan_merge(shards).size


def test_draft_of_one_shard_merges_the_whole_split_model(
    lamina: store.Store, make_gguf: MakeGGUF, tmp_path: Path
) -> None:
    make_gguf("model.gguf")
    shards = split_model(tmp_path / "draft", "d", arch="qwen3")
    manifest = build(lamina, "m", "FROM ./model.gguf\nDRAFT ./draft/d-00001-of-00003.gguf\n",
                     tmp_path).manifest
    assert kinds(manifest) == ["model", "draft"]
    draft = manifest.layers[1]
    assert draft.size == merged_size(shards)
    merged = store.read_info(lamina.blobs.path(draft.digest))
    assert merged.split is None and len(merged.tensors) == 3
    config = json.loads(lamina.blobs.path(manifest.config.digest).read_bytes())
    assert config["draft"] == {"model_format": "gguf", "architecture": "qwen3"}


def test_adapter_of_one_shard_merges_the_whole_split_adapter(
    lamina: store.Store, make_gguf: MakeGGUF, tmp_path: Path
) -> None:
    make_gguf("model.gguf")
    shards = split_model(tmp_path / "lora", "l", general_type="adapter")
    manifest = build(lamina, "m", "FROM ./model.gguf\nADAPTER ./lora/l-00002-of-00003.gguf\n",
                     tmp_path).manifest
    assert kinds(manifest) == ["model", "adapter"]
    assert manifest.layers[1].size == merged_size(shards)


def test_from_a_folder_of_shards_and_a_projector(
    lamina: store.Store, make_gguf: MakeGGUF, tmp_path: Path
) -> None:
    shards = split_model(tmp_path / "vision", "m")
    make_gguf("vision/mmproj.gguf", arch="clip", general_type="mmproj")
    manifest = build(lamina, "m", "FROM ./vision\n", tmp_path).manifest
    assert kinds(manifest) == ["projector", "model"]
    assert manifest.layers[1].size == merged_size(shards)


def test_from_a_folder_of_two_unrelated_models_is_refused(
    lamina: store.Store, make_gguf: MakeGGUF, tmp_path: Path
) -> None:
    make_gguf("two/llama.gguf", arch="llama")
    make_gguf("two/qwen.gguf", arch="qwen3")
    with pytest.raises(store.CreateError, match=r"2 models \(llama\.gguf, qwen\.gguf\)"):
        build(lamina, "m", "FROM ./two\n", tmp_path)
    assert store_snapshot(lamina) == []


def test_from_a_lora_adapter_alone_is_refused(
    lamina: store.Store, make_gguf: MakeGGUF, tmp_path: Path
) -> None:
    make_gguf("lora.gguf", general_type="adapter")
    with pytest.raises(store.CreateError, match=r"lora\.gguf is a LoRA adapter, not a model"):
        build(lamina, "m", "FROM ./lora.gguf\n", tmp_path)
    assert store_snapshot(lamina) == []


def test_a_model_and_its_adapter_under_from_is_fine(
    lamina: store.Store, make_gguf: MakeGGUF, tmp_path: Path
) -> None:
    make_gguf("model.gguf")
    make_gguf("lora.gguf", general_type="adapter")
    manifest = build(lamina, "m", "FROM ./lora.gguf\nFROM ./model.gguf\n", tmp_path).manifest
    assert kinds(manifest) == ["adapter", "model"]


def test_a_missing_parent_is_data_a_caller_can_pull(lamina: store.Store, tmp_path: Path) -> None:
    with pytest.raises(store.ParentNotFound) as caught:
        build(lamina, "m", "FROM team/base:v2\n", tmp_path)
    assert caught.value.name == "team/base:v2"
    assert isinstance(caught.value, store.CreateError)


def test_a_name_with_a_digest_is_refused(lamina: store.Store, tiny_gguf: Path) -> None:
    with pytest.raises(store.InvalidName, match="names a digest"):
        build(lamina, f"y@sha256:{'0' * 64}", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    assert store_snapshot(lamina) == []


def test_over_long_file_names_are_store_errors(lamina: store.Store, tiny_gguf: Path) -> None:
    long = "a" * 300
    with pytest.raises(store.StorageError, match="too long"):
        build(lamina, "m", f"FROM ./{long}.gguf\n", tiny_gguf.parent)
    with pytest.raises(store.InvalidName, match="255 bytes"):
        build(lamina, f"{'h' * 300}/ns/m", "FROM ./tiny.gguf\n", tiny_gguf.parent)
    assert store_snapshot(lamina) == []  # refused before any blob was written


def test_warnings_come_back_in_the_result(lamina: store.Store, make_gguf: MakeGGUF) -> None:
    weights = make_gguf("chat.gguf", chat_template="{% for m in messages %}{% endfor %}")
    text = "FROM ./chat.gguf\nPARAMETER mirostat 1\n"
    result = build(lamina, "m", text, weights.parent)
    messages = [(w.line, w.message) for w in result.warnings]
    assert messages == [
        (2, "parameter mirostat is deprecated"),
        (1, "chat.gguf carries a chat template lamina does not recognise, so the model gets "
            "no TEMPLATE and is sent the bare prompt"),
    ]
    assert "FROM ./chat.gguf" in result.warnings[1].render("Modelfile")
    quiet = build(lamina, "n", "FROM ./chat.gguf\nTEMPLATE {{ .Prompt }}\n", weights.parent)
    assert quiet.warnings == ()
