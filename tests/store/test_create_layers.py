"""Ollama's layer rules as pure functions: no store, no files, only descriptors and bytes."""

from __future__ import annotations

import hashlib
import json

import modelfile
from ocitypes import Descriptor, Digest, mediatypes
from store.build.layers import Layer, Pending, apply_recipe, inherit, model_config, ordered
from store.config import ModelConfig
from store.gguf import GGUFInfo

TEMPLATE_SHA = "b507b9c2f6ca642bffcd06665ea7c91f235fd32daeefdf875a0f938db05fb315"
PARAMS_SHA = "12f58bb75cb3042d69a7e013ab87fb3c3c7088f50ddc62f0c77bd332f0d44d35"


def layer(media_type: str, tag: str) -> Descriptor:
    return Descriptor(media_type, Digest(hashlib.sha256(tag.encode()).hexdigest()), len(tag))


def recipe(text: str) -> modelfile.Recipe:
    return modelfile.resolve(modelfile.parse(text))


def kinds(layers: list[Layer]) -> list[str]:
    return [item.media_type.rsplit(".", 1)[-1] for item in layers]


def pending(layers: list[Layer], media_type: str) -> list[bytes]:
    return [item.data for item in layers if isinstance(item, Pending)
            and item.media_type == media_type]


PARENT = [
    layer(mediatypes.MODEL, "weights"),
    layer(mediatypes.TEMPLATE, "parent-template"),
    layer(mediatypes.SYSTEM, "parent-system"),
    layer(mediatypes.LICENSE, "parent-license"),
    layer(mediatypes.PARAMS, "parent-params"),
    layer(mediatypes.MESSAGES, "parent-messages"),
]
PARENT_PARAMS = [{"stop": ["<a>", "<b>"], "temperature": 0.5}]


def test_golden_bytes_without_a_store() -> None:
    text = (
        "FROM x\nTEMPLATE {{ .Prompt }}\nPARAMETER stop <|endoftext|>\n"
        "PARAMETER temperature 0.6\nPARAMETER top_k 10\nPARAMETER top_p 0.7\n"
    )
    layers = apply_recipe([PARENT[0]], recipe(text))
    assert kinds(layers) == ["model", "template", "params"]
    digests = [hashlib.sha256(item.data).hexdigest() for item in layers[1:]
               if isinstance(item, Pending)]
    assert digests == [TEMPLATE_SHA, PARAMS_SHA]


def test_template_and_system_replace_licenses_add() -> None:
    layers = apply_recipe(PARENT, recipe("FROM p\nSYSTEM child\nLICENSE mine\n"), PARENT_PARAMS)
    assert kinds(layers) == [
        "model", "template", "license", "messages", "system", "license", "params"
    ]
    assert pending(layers, mediatypes.SYSTEM) == [b"child"]
    assert next(item for item in layers if item.media_type == mediatypes.LICENSE) == PARENT[3]
    assert pending(layers, mediatypes.LICENSE) == [b"mine"]


def test_empty_template_or_system_keeps_the_parents() -> None:
    layers = apply_recipe(PARENT, recipe('FROM p\nSYSTEM ""\nTEMPLATE ""\n'), PARENT_PARAMS)
    assert [item for item in layers if not isinstance(item, Pending)][:3] == PARENT[:3]
    assert pending(layers, mediatypes.SYSTEM) == pending(layers, mediatypes.TEMPLATE) == []


def test_template_also_replaces_the_legacy_prompt_layer() -> None:
    old = [layer(mediatypes.MODEL, "w"), layer(mediatypes.LEGACY_PROMPT, "old prompt")]
    assert kinds(apply_recipe(old, recipe("FROM p\nTEMPLATE t\n"))) == ["model", "template"]
    assert kinds(apply_recipe(old, recipe("FROM p\nSYSTEM s\n"))) == ["model", "prompt", "system"]


def test_params_merge_key_by_key_and_stop_is_replaced_whole() -> None:
    layers = apply_recipe(PARENT, recipe("FROM p\nPARAMETER stop <c>\nPARAMETER top_k 5\n"),
                          PARENT_PARAMS)
    (params,) = pending(layers, mediatypes.PARAMS)
    assert json.loads(params) == {"stop": ["<c>"], "temperature": 0.5, "top_k": 5}
    assert sum(item.media_type == mediatypes.PARAMS for item in layers) == 1


def test_inherited_params_are_rewritten_in_place_of_every_params_layer() -> None:
    two = [*PARENT, layer(mediatypes.PARAMS, "second")]
    layers = apply_recipe(two, recipe("FROM p\n"), [{"top_k": 1}, {"top_k": 2, "seed": 3}])
    (params,) = pending(layers, mediatypes.PARAMS)
    assert params == b'{"seed":3,"top_k":2}\n'
    assert kinds(layers)[-1] == "params"


def test_no_parameters_anywhere_makes_no_params_layer() -> None:
    assert kinds(apply_recipe([PARENT[0]], recipe("FROM p\n"))) == ["model"]


def test_floats_are_written_as_float32_prints_them() -> None:
    (params,) = pending(apply_recipe([], recipe("FROM p\nPARAMETER temperature 0.7\n")),
                        mediatypes.PARAMS)
    assert params == b'{"temperature":0.7}\n'


def test_messages_replace_only_when_given() -> None:
    kept = apply_recipe(PARENT, recipe("FROM p\n"), PARENT_PARAMS)
    assert PARENT[5] in kept
    replaced = apply_recipe(PARENT, recipe("FROM p\nMESSAGE user <hi> & bye\n"), PARENT_PARAMS)
    assert PARENT[5] not in replaced
    assert pending(replaced, mediatypes.MESSAGES) == [
        b'[{"role":"user","content":"\\u003chi\\u003e \\u0026 bye"}]\n'
    ]


def test_order_is_base_then_adapter_then_drafts() -> None:
    base, adapter = layer(mediatypes.MODEL, "m"), layer(mediatypes.ADAPTER, "a")
    drafts = [layer(mediatypes.DRAFT, "d1"), layer(mediatypes.DRAFT, "d2")]
    assert ordered([base], adapter, drafts) == [base, adapter, *drafts]
    assert ordered([base], None, []) == [base]


def test_inherited_layers_record_the_parent() -> None:
    assert {item.from_ for item in inherit(PARENT, "base:v1")} == {"base:v1"}
    assert PARENT[0].from_ is None  # the parent's own descriptors are left alone


def info(arch: str, file_type: int | None = None) -> GGUFInfo:
    metadata: dict[str, object] = {"general.architecture": arch}
    if file_type is not None:
        metadata["general.file_type"] = file_type
    return GGUFInfo(3, metadata, (), 0)


def test_config_from_weights_and_parent() -> None:
    parent = ModelConfig(model_format="gguf", renderer="r1", parser="p1", requires="0.14.0")
    weights = [(mediatypes.MODEL, info("llama", 15)), (mediatypes.DRAFT, info("qwen3"))]
    config = model_config(recipe("FROM p\nPARSER p2\n"), parent, weights)
    assert (config.model_family, config.model_families, config.file_type) == (
        "llama", ("llama",), "Q4_K_M"
    )
    assert (config.renderer, config.parser, config.requires) == ("r1", "p2", "0.14.0")
    assert config.draft is not None and config.draft.architecture == "qwen3"
    assert model_config(recipe("FROM p\n"), None, []).model_families is None
