"""Finding sources and classifying GGUFs, without a store: files, shard groups, parent names."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

import modelfile
from ocitypes import mediatypes
from store.build import classify
from store.build.sources import (
    GGUFFile,
    MissingParent,
    ParentModel,
    ShardGroup,
    Sources,
    find_sources,
)
from store.errors import CreateError, GGUFError, InvalidName, ModelNotFound, StorageError
from store.gguf import GGUFInfo
from store.names import Name

STORED = {"registry.ollama.ai/library/base:latest"}


def lookup(value: str) -> Name:
    name = Name.parse(value)  # InvalidName for a bad spelling, as the store raises it
    if str(name) not in STORED:
        raise ModelNotFound(value)
    return name


def sources(text: str, base: Path) -> Sources:
    return find_sources(modelfile.resolve(modelfile.parse(text)), base, lookup)


def touch(folder: Path, *names: str) -> list[Path]:
    paths = [folder / name for name in names]
    for path in paths:
        path.write_bytes(b"GGUF")
    return paths


def test_a_stored_name_is_a_parent_and_an_unknown_one_is_missing(tmp_path: Path) -> None:
    assert sources("FROM base\n", tmp_path).base == ParentModel("base", Name.parse("base"))
    assert sources("FROM nosuch:v2\n", tmp_path).base == MissingParent("nosuch:v2")


def test_the_last_from_name_wins(tmp_path: Path) -> None:
    assert sources("FROM nosuch\nFROM base\n", tmp_path).base == ParentModel(
        "base", Name.parse("base"))


def test_an_invalid_name_is_a_create_error(tmp_path: Path) -> None:
    with pytest.raises(CreateError, match="not a valid model name"):
        sources("FROM -bad\n", tmp_path)
    assert issubclass(InvalidName, ValueError)


def test_a_path_that_is_not_there_is_never_a_name(tmp_path: Path) -> None:
    for value in ("./m.gguf", "m.gguf", "../x", "/abs/model"):
        with pytest.raises(CreateError, match="no such file"):
            sources(f"FROM {value}\n", tmp_path)


def test_files_sort_by_name_and_shards_become_one_group(tmp_path: Path) -> None:
    shards = touch(tmp_path, "m-00001-of-00002.gguf", "m-00002-of-00002.gguf")
    (proj,) = touch(tmp_path, "mmproj.gguf")
    found = sources("FROM .\n", tmp_path).base
    assert found == (GGUFFile(proj, "."), ShardGroup(tuple(shards), "."))


def test_a_file_named_twice_is_one_source(tmp_path: Path) -> None:
    (one,) = touch(tmp_path, "one.gguf")
    assert sources("FROM ./one.gguf\nFROM .\n", tmp_path).base == (GGUFFile(one, "./one.gguf"),)


@pytest.mark.parametrize("keyword", ["DRAFT", "ADAPTER"])
def test_draft_and_adapter_of_one_shard_name_the_whole_group(
    tmp_path: Path, keyword: str
) -> None:
    touch(tmp_path, "base.gguf")
    (tmp_path / "d").mkdir()
    shards = touch(tmp_path / "d", "d-00001-of-00003.gguf", "d-00002-of-00003.gguf")
    found = sources(f"FROM ./base.gguf\n{keyword} ./d/d-00002-of-00003.gguf\n", tmp_path)
    unit = found.drafts[0] if keyword == "DRAFT" else found.adapter
    assert unit == ShardGroup((shards[1],), "./d/d-00002-of-00003.gguf")


def test_draft_of_a_folder_must_hold_one_model(tmp_path: Path) -> None:
    touch(tmp_path, "base.gguf")
    (tmp_path / "d").mkdir()
    touch(tmp_path / "d", "a.gguf", "b.gguf")
    with pytest.raises(CreateError, match=r"DRAFT \./d: expected one GGUF model, found 2 "
                                          r"\(a\.gguf, b\.gguf\)"):
        sources("FROM ./base.gguf\nDRAFT ./d\n", tmp_path)


def test_draft_may_not_be_the_from_file(tmp_path: Path) -> None:
    touch(tmp_path, "base.gguf")
    with pytest.raises(CreateError, match=r"DRAFT \./base\.gguf: the same file as FROM"):
        sources("FROM ./base.gguf\nDRAFT ./base.gguf\n", tmp_path)


def test_over_long_names_and_paths(tmp_path: Path) -> None:
    long = "a" * 300
    # Too long to be a file name, so it is a model name, and an invalid one.
    with pytest.raises(CreateError, match="not a valid model name"):
        sources(f"FROM {long}\n", tmp_path)
    # Written as a path: the system's refusal, translated, naming the file.
    with pytest.raises(StorageError, match="too long") as caught:
        sources(f"FROM ./{long}.gguf\n", tmp_path)
    assert caught.value.errno == errno.ENAMETOOLONG
    touch(tmp_path, "base.gguf")
    with pytest.raises(StorageError, match="too long"):
        sources(f"FROM ./base.gguf\nDRAFT {long}\n", tmp_path)


def test_a_link_loop_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "loop.gguf").symlink_to(tmp_path / "loop.gguf")
    with pytest.raises(StorageError, match="symbolic links"):
        sources("FROM ./loop.gguf\n", tmp_path)


def info(**metadata: object) -> GGUFInfo:
    return GGUFInfo(3, {"general.architecture": "llama", **metadata}, (), 0)


@pytest.mark.parametrize(
    ("metadata", "kind"),
    [
        ({}, mediatypes.MODEL),
        ({"general.type": "model", "llama.block_count": 2}, mediatypes.MODEL),
        ({"general.type": "adapter"}, mediatypes.ADAPTER),
        ({"general.type": "mmproj"}, mediatypes.PROJECTOR),
        ({"general.type": "projector"}, mediatypes.PROJECTOR),
        ({"llama.vision.block_count": 4}, mediatypes.PROJECTOR),
        ({"llama.vision.block_count": 4, "llama.block_count": 2}, mediatypes.MODEL),
        ({"general.architecture": "clip", "clip.has_vision_encoder": True}, mediatypes.PROJECTOR),
        ({"general.architecture": "clip", "clip.has_audio_encoder": True}, mediatypes.PROJECTOR),
        ({"general.architecture": "clip"}, mediatypes.MODEL),
    ],
)
def test_media_type_follows_ollama(metadata: dict[str, object], kind: str) -> None:
    assert classify.media_type(info(**metadata)) == kind


def test_two_unrelated_models_are_refused_naming_both() -> None:
    with pytest.raises(CreateError, match=r"2 models \(a\.gguf, b\.gguf\)"):
        classify.check_base([("a.gguf", mediatypes.MODEL), ("b.gguf", mediatypes.MODEL)])


def test_a_model_with_its_projector_or_adapter_is_fine() -> None:
    classify.check_base([("mmproj.gguf", mediatypes.PROJECTOR), ("m.gguf", mediatypes.MODEL)])
    classify.check_base([("m.gguf", mediatypes.MODEL), ("lora.gguf", mediatypes.ADAPTER)])


def test_an_adapter_or_projector_alone_is_refused() -> None:
    with pytest.raises(CreateError, match=r"lora\.gguf is a LoRA adapter, not a model.*"
                                          r"ADAPTER lora\.gguf"):
        classify.check_base([("lora.gguf", mediatypes.ADAPTER)])
    with pytest.raises(CreateError, match=r"mmproj\.gguf is a vision or audio projector"):
        classify.check_base([("mmproj.gguf", mediatypes.PROJECTOR)])


def test_adapter_must_say_it_is_one() -> None:
    classify.check_adapter("lora.gguf", info(**{"general.type": "adapter"}))
    with pytest.raises(GGUFError, match="this one is a model"):
        classify.check_adapter("m.gguf", info())
