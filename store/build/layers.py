"""Ollama's layer rules (``createModel`` in server/create.go), as pure functions.

Order: the base layers (the parent's, in its order, or one per weights file), then the adapter,
then the drafts, then:

1. TEMPLATE replaces every template layer (and the legacy prompt layer); an empty one is no
   TEMPLATE at all;
2. SYSTEM replaces the system layer, and likewise an empty one keeps the parent's;
3. each LICENSE adds a layer, after the parent's;
4. parameters merge key by key over every inherited params layer, the Modelfile's winning; a
   list value (``stop``) replaces the parent's list whole; one params layer results;
5. MESSAGEs replace the parent's only when the Modelfile has some.

New layers are ``Pending``: a media type and the exact bytes of a blob not yet written, so the
rules run (and are tested) without a store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

import modelfile
from ocitypes import Descriptor, gojson, mediatypes

from ..config import Draft, ModelConfig
from ..gguf import GGUFInfo

__all__ = ["Layer", "Pending", "apply_recipe", "inherit", "model_config", "ordered"]


@dataclass(frozen=True, slots=True)
class Pending:
    """A layer whose blob is not in the store yet."""

    media_type: str
    data: bytes


Layer = Descriptor | Pending
_T = TypeVar("_T")


def inherit(layers: Sequence[Descriptor], origin: str) -> list[Descriptor]:
    """A parent's layers, each recording the parent as the Modelfile spells it."""
    return [replace(layer, from_=origin) for layer in layers]


def ordered(base: Sequence[_T], adapter: _T | None, drafts: Sequence[_T]) -> list[_T]:
    """The weight layers in Ollama's order: base, adapter, drafts."""
    return [*base, *([adapter] if adapter is not None else []), *drafts]


def apply_recipe(
    layers: Sequence[Layer],
    recipe: modelfile.Recipe,
    inherited_params: Sequence[Mapping[str, object]] = (),
) -> list[Layer]:
    """The final layers: ``layers`` with the Modelfile's text, params and messages applied.

    ``inherited_params`` holds the decoded JSON of each params layer in ``layers``, in order.
    """
    result = _set_text(list(layers), mediatypes.TEMPLATE, recipe.template)
    result = _set_text(result, mediatypes.SYSTEM, recipe.system)
    result += [Pending(mediatypes.LICENSE, text.encode("utf-8")) for text in recipe.licenses]
    result = _set_params(result, inherited_params, recipe.parameters)
    return _set_messages(result, recipe.messages)


def _set_text(layers: list[Layer], media_type: str, text: str | None) -> list[Layer]:
    if not text:
        return layers
    replaced = {media_type, mediatypes.LEGACY_PROMPT} if media_type == mediatypes.TEMPLATE \
        else {media_type}
    kept = [layer for layer in layers if layer.media_type not in replaced]
    return [*kept, Pending(media_type, text.encode("utf-8"))]


def _set_params(
    layers: list[Layer],
    inherited: Sequence[Mapping[str, object]],
    parameters: Mapping[str, modelfile.ParameterValue],
) -> list[Layer]:
    merged: dict[str, object] = {}
    for params in inherited:
        merged.update(params)
    for key, value in parameters.items():
        floats = modelfile.PARAMETERS.get(key) is modelfile.ParamType.FLOAT
        # Ollama's client sends float parameters as float32, so they print as float32 does.
        merged[key] = gojson.Float32(value) if floats and isinstance(value, float) else value
    if not merged:
        return layers
    kept = [layer for layer in layers if layer.media_type != mediatypes.PARAMS]
    return [*kept, Pending(mediatypes.PARAMS, gojson.encode(merged))]


def _set_messages(layers: list[Layer], messages: Sequence[tuple[str, str]]) -> list[Layer]:
    if not messages:
        return layers
    data = [{"role": role, "content": content} for role, content in messages]
    kept = [layer for layer in layers if layer.media_type != mediatypes.MESSAGES]
    return [*kept, Pending(mediatypes.MESSAGES, gojson.encode(data, sort_keys=False))]


def model_config(
    recipe: modelfile.Recipe,
    parent: ModelConfig | None,
    weights: Sequence[tuple[str, GGUFInfo]],
) -> ModelConfig:
    """A fresh config, as Ollama builds one: family, type and quantization come from the
    weights (``weights`` holds each model and draft layer's media type and header, in layer
    order; one family entry per model layer); renderer, parser, requires, format and
    capabilities are inherited from a parent unless the Modelfile overrides them."""
    parent = parent or ModelConfig()
    infos = [info for kind, info in weights if kind == mediatypes.MODEL]
    drafts = [info for kind, info in weights if kind == mediatypes.DRAFT]
    first = infos[0] if infos else None
    return ModelConfig(
        model_format=parent.model_format or "gguf",
        model_family=first.architecture if first else "",
        model_families=tuple(info.architecture for info in infos) or None,
        model_type=first.model_type if first else "",
        file_type=first.file_type_name if first else "",
        renderer=recipe.renderer or parent.renderer,
        parser=recipe.parser or parent.parser,
        requires=recipe.requires or parent.requires,
        capabilities=parent.capabilities,
        draft=Draft(model_format="gguf", architecture=drafts[-1].architecture) if drafts else None,
    )
