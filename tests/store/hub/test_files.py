"""store.hub.files: which files of a Hub repository a quant tag names."""

from __future__ import annotations

import pytest

from store.hub import HubFile, NoGGUF, UnknownQuant, parse_hub_name, select


def files(*paths: str) -> list[HubFile]:
    return [HubFile(path, 1, "0" * 64) for path in paths]


def test_names_on_the_hub() -> None:
    assert parse_hub_name("hf.co/u/r") == ("u/r", None)
    assert parse_hub_name("HuggingFace.co/u/r:Q8_0") == ("u/r", "Q8_0")
    assert parse_hub_name("hf.co/u") is None
    assert parse_hub_name("hf.co/u/r/x") is None
    assert parse_hub_name("registry.example/u/r") is None


def test_quant_is_a_whole_word_without_case() -> None:
    repo = files("m-Q4_K.gguf", "m-Q4_K_M.gguf", "m-UD-Q4_K_M-v2.gguf")
    assert [f.path for f in select("u/r", repo, "q4_k").weights] == ["m-Q4_K.gguf"]
    assert [f.path for f in select("u/r", repo, None).weights] == ["m-Q4_K_M.gguf"]
    assert select("u/r", repo, "latest").quant == "Q4_K_M"


def test_shards_are_one_unit_in_order_and_the_f16_projector_is_taken() -> None:
    repo = files("Q8_0/m-Q8_0-00002-of-00002.gguf", "Q8_0/m-Q8_0-00001-of-00002.gguf",
                 "m-Q4_K_M.gguf", "mmproj-m-Q8_0.gguf", "mmproj-m-F16.gguf", "README.md")
    chosen = select("u/r", repo, "Q8_0")
    assert [f.path for f in chosen.weights] == [
        "Q8_0/m-Q8_0-00001-of-00002.gguf", "Q8_0/m-Q8_0-00002-of-00002.gguf"]
    assert chosen.projector is not None and chosen.projector.path == "mmproj-m-F16.gguf"
    assert select("u/r", repo, None).weights[0].path == "m-Q4_K_M.gguf"


def test_a_lone_file_is_the_default_whatever_its_quant() -> None:
    assert select("u/r", files("m-F16.gguf"), None).quant == "F16"


def test_refusals() -> None:
    with pytest.raises(NoGGUF):
        select("u/r", files("model.safetensors", "mmproj-F16.gguf"), None)
    with pytest.raises(UnknownQuant) as caught:
        select("u/r", files("m-Q8_0.gguf", "m-IQ3_XXS.gguf"), None)
    assert caught.value.available == ["IQ3_XXS", "Q8_0"]
