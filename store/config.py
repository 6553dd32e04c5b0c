"""The model config blob (Ollama's ``ConfigV2``), written field for field as Ollama writes it.

Field order is the Go struct's, which the digest depends on::

    model_format, model_family, model_families, model_type, file_type,
    renderer*, parser*, requires*, remote_host*, remote_model*, capabilities*,
    context_length*, embedding_length*, base_name*, draft*, architecture, os

Starred fields are left out when empty; ``model_families`` is ``null`` when None. Configs
written by older versions also carry ``rootfs``; reading ignores it and any other unknown
field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from ocitypes import gojson

from .errors import StoreError, blob_json_errors

__all__ = ["Draft", "ModelConfig"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Draft:
    """A speculative-decoding draft model stored in the same manifest; all fields omitempty."""

    model_format: str = ""
    architecture: str = ""
    tensor_prefix: str = ""
    config: str = ""

    def to_json(self) -> dict[str, object]:
        """The non-empty fields in Go's order."""
        return {key: getattr(self, key) for key in _DRAFT if getattr(self, key)}


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """What a model is: format, family, size and quantization, plus optional hints."""

    model_format: str = "gguf"
    model_family: str = ""
    model_families: tuple[str, ...] | None = None
    model_type: str = ""
    file_type: str = ""
    renderer: str = ""
    parser: str = ""
    requires: str = ""
    remote_host: str = ""
    remote_model: str = ""
    capabilities: tuple[str, ...] = ()
    context_length: int = 0
    embedding_length: int = 0
    base_name: str = ""
    draft: Draft | None = None
    architecture: str = "amd64"
    os: str = "linux"

    def __post_init__(self) -> None:
        if self.model_families is not None and not isinstance(self.model_families, tuple):
            object.__setattr__(self, "model_families", tuple(self.model_families))
        if not isinstance(self.capabilities, tuple):
            object.__setattr__(self, "capabilities", tuple(self.capabilities))

    def to_json(self) -> dict[str, object]:
        """The config as a dict in Go's struct order, omitempty fields left out when empty."""
        out: dict[str, object] = {
            "model_format": self.model_format,
            "model_family": self.model_family,
            "model_families": self.model_families,
            "model_type": self.model_type,
            "file_type": self.file_type,
        }
        optional: tuple[tuple[str, object], ...] = (
            ("renderer", self.renderer),
            ("parser", self.parser),
            ("requires", self.requires),
            ("remote_host", self.remote_host),
            ("remote_model", self.remote_model),
            ("capabilities", self.capabilities),
            ("context_length", self.context_length),
            ("embedding_length", self.embedding_length),
            ("base_name", self.base_name),
        )
        out.update((key, value) for key, value in optional if value)
        if self.draft is not None:
            out["draft"] = self.draft.to_json()
        out["architecture"] = self.architecture
        out["os"] = self.os
        return out

    def encode(self) -> bytes:
        """The config blob's bytes, as Ollama's ``json.NewEncoder`` writes them."""
        return gojson.encode(self.to_json(), sort_keys=False)

    @classmethod
    def parse(cls, data: bytes) -> ModelConfig:
        """Read a config blob; like Go, a missing field takes its zero value, not a default."""
        with blob_json_errors():
            document = gojson.load_object(data, "model config")
        draft_value = document.get("draft")
        draft = None
        if draft_value is not None:
            if not isinstance(draft_value, dict):
                raise StoreError("model config: draft is not a JSON object")
            draft = Draft(*(_get(draft_value, key, str, "", "draft.") for key in _DRAFT))

        def text(key: str) -> str:
            return _get(document, key, str, "")

        return cls(
            model_format=text("model_format"),
            model_family=text("model_family"),
            model_families=_strings(document, "model_families"),
            model_type=text("model_type"),
            file_type=text("file_type"),
            renderer=text("renderer"),
            parser=text("parser"),
            requires=text("requires"),
            remote_host=text("remote_host"),
            remote_model=text("remote_model"),
            capabilities=_strings(document, "capabilities") or (),
            context_length=_get(document, "context_length", int, 0),
            embedding_length=_get(document, "embedding_length", int, 0),
            base_name=text("base_name"),
            draft=draft,
            architecture=text("architecture"),
            os=text("os"),
        )


_DRAFT = ("model_format", "architecture", "tensor_prefix", "config")


def _get(
    document: Mapping[str, object], key: str, kind: type[_T], zero: _T, prefix: str = ""
) -> _T:
    """``document[key]`` checked to be ``kind``; ``zero`` when missing or null, as in Go."""
    value = document.get(key)
    if value is None:
        return zero
    if not isinstance(value, kind) or isinstance(value, bool):
        what = {str: "a string", int: "an integer"}.get(kind, kind.__name__)
        raise StoreError(f"model config: {prefix}{key} is not {what}")
    return value


def _strings(document: Mapping[str, object], key: str) -> tuple[str, ...] | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise StoreError(f"model config: {key} is not a list of strings")
    return tuple(value)
