"""Export into LM Studio: its home and models folder found as it finds them, folders two levels
down that never collide, model.yaml checked with LM Studio's own published schemas."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import store
from ocitypes import Descriptor, Manifest, mediatypes
from store.export import ExportConflict, ExportUnsupported, lmstudio
from store.names import Name
from tests.store.export.conftest import SchemaCheck, build

# -- home and models folder --------------------------------------------------------------------


def test_home_from_the_pointer_file(tmp_path: Path) -> None:
    (tmp_path / ".cache" / "lm-studio").mkdir(parents=True)
    (tmp_path / ".lmstudio-home-pointer").write_text(f"  {tmp_path / 'elsewhere'}\n")
    assert lmstudio.find_home(tmp_path) == tmp_path / "elsewhere"


def test_home_legacy_then_default(tmp_path: Path) -> None:
    assert lmstudio.find_home(tmp_path) == tmp_path / ".lmstudio"
    (tmp_path / ".cache" / "lm-studio").mkdir(parents=True)
    assert lmstudio.find_home(tmp_path) == tmp_path / ".cache" / "lm-studio"
    assert not (tmp_path / ".lmstudio-home-pointer").exists()  # lamina writes nothing there


@pytest.mark.parametrize(("settings", "expected"), [
    (None, "models"),
    ('{"downloadsFolder": "/data/llms"}', "/data/llms"),
    ('{"downloadsFolder": ""}', "models"),
    ('{"other": 1}', "models"),
    ("{broken", "models"),
    ("[1]", "models"),
])  # fmt: skip
def test_models_folder(tmp_path: Path, settings: str | None, expected: str) -> None:
    if settings is not None:
        (tmp_path / "settings.json").write_text(settings)
    assert lmstudio.models_folder(tmp_path) == tmp_path / expected


# -- folder names ------------------------------------------------------------------------------

TRICKY = [
    "gemma3", "gemma3:1b", "library/gemma3:1b", "registry.ollama.ai/library/gemma3:1b-x",
    "a-b/c", "a/b-c", "a/b:c-d", "a/b-c:d", "hf.co/bartowski/Qwen3-8B-GGUF:Q4_K_M",
    "huggingface.co/bartowski/Qwen3-8B-GGUF:Q4_K_M", "localhost:5000/team/m:v1",
    "localhost+5000/team/m:v1".replace("+", "_"), "localhost/5000_team/m:v1",
    "x/m:v1.", "x/m.:v1", "x/" + "m" * 80 + ":" + "t" * 80, "x/" + "m" * 80 + ":" + "t" * 79,
    ("h" * 300) + "/n/m:t", ("h" * 300) + "/n2/m:t",
]


def test_folder_names_never_collide_and_are_valid(lmstudio_schemas: SchemaCheck) -> None:
    names = [Name.parse(text) for text in TRICKY]
    pairs = [lmstudio.folder_names(name) for name in names]
    assert len(set(pairs)) == len(set(names)) == len(names) - 1  # two spell one name
    folders = sorted({part for pair in pairs for part in pair})
    result = lmstudio_schemas(folders=folders)
    assert [f["name"] for f in result["folders"] if not f["ok"]] == []
    for folder in folders:
        assert len(folder) <= 100 and folder == folder.strip(". ")
        assert not set(folder) & set('/<>:"\\|?*')


def test_hub_names_that_would_collide_get_a_hash(
    small_store: store.Store, tmp_path: Path, lmstudio_schemas: SchemaCheck
) -> None:
    store.Store.copy(small_store, "tiny", "a/b:c-d")
    store.Store.copy(small_store, "tiny", "a/b-c:d")
    assert lmstudio.hub_names(Name.parse("a/b:c-d")) == lmstudio.hub_names(Name.parse("a/b-c:d"))
    home = tmp_path / "lms"
    first = lmstudio.export(small_store, "a/b:c-d", home)
    second = lmstudio.export(small_store, "a/b-c:d", home)
    yamls = [f.path for f in (*first.files, *second.files) if f.role == "model.yaml"]
    assert len(set(yamls)) == 2 and yamls[0] == home / "hub/models/a/b-c-d/model.yaml"
    checked = lmstudio_schemas(yaml=yamls)["yaml"]
    assert all(c["ok"] for c in checked), checked
    assert checked[0]["document"]["model"] != checked[1]["document"]["model"]
    lmstudio.export(small_store, "a/b-c:d", home)  # still the same file on a second run
    assert yamls[0].read_text() == yamls[0].read_text() and len(list(home.rglob("*.yaml"))) == 2


def test_folder_names_read_well() -> None:
    assert lmstudio.folder_names(Name.parse("gemma3:1b")) == ("library", "gemma3+1b")
    assert lmstudio.folder_names(Name.parse("hf.co/bartowski/Q-GGUF:Q4_K_M")) == (
        "hf.co+bartowski", "Q-GGUF+Q4_K_M")
    assert lmstudio.folder_names(Name.parse("localhost:5000/team/m:v1")) == (
        "localhost+5000+team", "m+v1")


# -- export ------------------------------------------------------------------------------------


def gguf_files(models: Path) -> list[Path]:
    """What LM Studio would see: .gguf files exactly two folders below its models folder."""
    return sorted(p for p in models.glob("*/*/*.gguf"))


def test_export_links_the_weights_two_levels_down(
    small_store: store.Store, tmp_path: Path
) -> None:
    home = tmp_path / "lmstudio"
    result = lmstudio.export(small_store, "tiny", home)

    (weights,) = gguf_files(home / "models")
    assert weights == home / "models" / "library" / "tiny+latest" / "tiny-latest.gguf"
    stored = small_store.manifest(small_store.resolve("tiny")).layers_of(mediatypes.MODEL)[0]
    assert os.path.samefile(weights, small_store.blobs.path(stored.digest))
    assert [f.role for f in result.files] == ["weights", "model.yaml"]
    assert list(home.rglob("*.gguf")) == [weights]


def test_export_follows_settings_json(small_store: store.Store, tmp_path: Path) -> None:
    home = tmp_path / "lmstudio"
    home.mkdir()
    (home / "settings.json").write_text(json.dumps({"downloadsFolder": str(tmp_path / "dl")}))
    lmstudio.export(small_store, "tiny", home)
    assert gguf_files(tmp_path / "dl") == [tmp_path / "dl/library/tiny+latest/tiny-latest.gguf"]
    assert (home / "hub/models/library/tiny-latest/model.yaml").is_file()


MODELFILE = '''FROM ./tiny.gguf
SYSTEM """Tu es "bref".
Réponds en français."""
TEMPLATE "{{ .Prompt }}"
PARAMETER temperature 0.7
PARAMETER top_k 30
PARAMETER top_p 0.9
PARAMETER min_p 0.05
PARAMETER repeat_penalty 1.2
PARAMETER stop <end>
PARAMETER stop "<|im_end|>"
PARAMETER num_predict 256
PARAMETER seed 42
PARAMETER num_ctx 8192
PARAMETER num_batch 64
'''


def test_model_yaml_maps_the_settings(
    tmp_path: Path, tiny_gguf: Path, lmstudio_schemas: SchemaCheck
) -> None:
    the_store = build(tmp_path / "home", "hf.co/me/Tiny-GGUF:Q8_0", MODELFILE, tiny_gguf.parent)
    home = tmp_path / "lmstudio"
    result = lmstudio.export(the_store, "hf.co/me/Tiny-GGUF:Q8_0", home)

    path = home / "hub/models/hf-co-me/tiny-gguf-q8-0/model.yaml"
    (checked,) = lmstudio_schemas(yaml=[path])["yaml"]
    assert checked["ok"], checked["errors"]
    document = checked["document"]
    assert document["model"] == "hf-co-me/tiny-gguf-q8-0"
    assert document["base"] == [{"key": "hf.co+me/tiny-gguf+q8_0", "sources": [
        {"type": "huggingface", "user": "me", "repo": "Tiny-GGUF"}]}]
    assert (home / "models/hf.co+me/Tiny-GGUF+Q8_0/Tiny-GGUF-Q8_0.gguf").is_file()
    operation = {f["key"]: f["value"] for f in document["config"]["operation"]["fields"]}
    assert operation == {
        "llm.prediction.systemPrompt": 'Tu es "bref".\nRéponds en français.',
        "llm.prediction.temperature": 0.7,
        "llm.prediction.topKSampling": 30,
        "llm.prediction.topPSampling": {"checked": True, "value": 0.9},
        "llm.prediction.minPSampling": {"checked": True, "value": 0.05},
        "llm.prediction.repeatPenalty": {"checked": True, "value": 1.2},
        "llm.prediction.stopStrings": ["<end>", "<|im_end|>"],
        "llm.prediction.maxPredictedTokens": {"checked": True, "value": 256},
        "llm.prediction.seed": {"checked": True, "value": 42},
    }
    assert document["config"]["load"]["fields"] == [
        {"key": "llm.load.contextLength", "value": 8192}]
    assert any("Go template" in w for w in result.warnings)
    assert any("num_batch" in w for w in result.warnings)


def test_out_of_range_values_are_left_out_with_a_warning(
    tmp_path: Path, tiny_gguf: Path, lmstudio_schemas: SchemaCheck
) -> None:
    text = ("FROM ./tiny.gguf\nPARAMETER top_k 900\nPARAMETER top_p 1.5\nPARAMETER seed -1\n"
            "PARAMETER num_predict -1\n")
    the_store = build(tmp_path / "home", "wild", text, tiny_gguf.parent)
    result = lmstudio.export(the_store, "wild", tmp_path / "lms")
    (checked,) = lmstudio_schemas(yaml=[tmp_path / "lms/hub/models/library/wild-latest/model.yaml"]
                                  )["yaml"]
    assert checked["ok"], checked["errors"]
    operation = {f["key"]: f["value"] for f in checked["document"]["config"]["operation"]["fields"]}
    assert operation == {"llm.prediction.maxPredictedTokens": {"checked": False, "value": 1000},
                         "llm.prediction.seed": {"checked": False, "value": -1}}
    assert sum("outside what LM Studio accepts" in w for w in result.warnings) == 2


def split_model(the_store: store.Store, parts: list[bytes], projector: bytes) -> None:
    """A manifest with several weights layers (as a registry may serve) and a projector."""
    layers = []
    for data, media in [*((p, mediatypes.MODEL) for p in parts), (projector, mediatypes.PROJECTOR)]:
        blob = the_store.blobs.put_bytes(data)
        layers.append(Descriptor(media, blob.digest, blob.size))
    config = the_store.blobs.put_bytes(b"{}\n")
    manifest = Manifest(Descriptor(mediatypes.CONFIG, config.digest, config.size), tuple(layers))
    the_store.write_manifest(Name.parse("split:q4"), manifest)


def test_shards_keep_split_names_and_the_projector_sits_beside(
    small_store: store.Store, tmp_path: Path
) -> None:
    split_model(small_store, [b"GGUF-one", b"GGUF-two", b"GGUF-three"], b"GGUF-proj")
    home = tmp_path / "lms"
    lmstudio.export(small_store, "split:q4", home)
    folder = home / "models/library/split+q4"
    assert sorted(p.name for p in folder.iterdir()) == [
        "mmproj-split-q4.gguf",
        "split-q4-00001-of-00003.gguf", "split-q4-00002-of-00003.gguf",
        "split-q4-00003-of-00003.gguf",
    ]
    assert (folder / "split-q4-00002-of-00003.gguf").read_bytes() == b"GGUF-two"
    assert (folder / "mmproj-split-q4.gguf").read_bytes() == b"GGUF-proj"


def test_a_model_without_weights_is_refused(small_store: store.Store, tmp_path: Path) -> None:
    config = small_store.blobs.put_bytes(b"{}\n")
    small_store.write_manifest(Name.parse("empty"), Manifest(
        Descriptor(mediatypes.CONFIG, config.digest, config.size), ()))
    with pytest.raises(ExportUnsupported, match="no GGUF weights"):
        lmstudio.export(small_store, "empty", tmp_path / "lms")
    assert not (tmp_path / "lms").exists()


def test_export_is_idempotent_and_refuses_users_files(
    small_store: store.Store, tmp_path: Path
) -> None:
    home = tmp_path / "lms"
    lmstudio.export(small_store, "tiny", home)
    again = lmstudio.export(small_store, "tiny", home)
    assert {f.method for f in again.files} == {"present", "unchanged"}

    other = tmp_path / "lms2"
    users = other / "models/library/tiny+latest/tiny-latest.gguf"
    users.parent.mkdir(parents=True)
    users.write_bytes(b"GGUF" + bytes(64))  # same size as lamina's, not the same file
    with pytest.raises(ExportConflict):
        lmstudio.export(small_store, "tiny", other)
    assert not (other / "hub").exists() and users.read_bytes() == b"GGUF" + bytes(64)

    yaml = tmp_path / "lms3/hub/models/library/tiny-latest/model.yaml"
    yaml.parent.mkdir(parents=True)
    yaml.write_text("model: mine/mine\n")
    with pytest.raises(ExportConflict, match=r"model\.yaml"):
        lmstudio.export(small_store, "tiny", tmp_path / "lms3")
    assert not (tmp_path / "lms3/models").exists()
    lmstudio.export(small_store, "tiny", tmp_path / "lms3", force=True)
    assert "lamina export" in yaml.read_text()


def test_remove_leaves_the_users_files(small_store: store.Store, tmp_path: Path) -> None:
    home = tmp_path / "lms"
    lmstudio.export(small_store, "tiny", home)
    folder = home / "models/library/tiny+latest"
    (folder / "notes.txt").write_text("mine")
    (home / "models/library/theirs").mkdir()

    result = lmstudio.remove(small_store, "tiny:latest", home)

    assert sorted(p.name for p in result.removed) == ["model.yaml", "tiny-latest.gguf"]
    assert (folder / "notes.txt").read_text() == "mine"
    assert (home / "models/library/theirs").is_dir()
    assert not (home / "hub").exists()  # lamina made it and it is empty again
