"""Image manifests, kept byte-exact: a model's ID is the SHA-256 of its manifest file's bytes.

A manifest lamina writes is byte-for-byte what Ollama's ``WriteManifest`` writes:

    {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
     "config":{"mediaType":…,"digest":…,"size":…},"layers":[{…},…]}\\n

(one line, descriptor fields in the order mediaType, digest, size, then ``from`` and ``name``
only when set). A manifest read from bytes, such as a pulled one, keeps those bytes as they came,
whatever their whitespace, key order or extra fields (OCI annotations and the like).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from . import gojson, mediatypes
from .digest import Digest
from .errors import InvalidDigest, StoreError

__all__ = ["Descriptor", "Manifest"]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class Descriptor:
    """One blob a manifest points at: the config or a layer."""

    media_type: str
    digest: Digest
    size: int
    from_: str | None = None
    """Where the layer came from (a parent model or an uploaded file name); JSON ``from``."""
    name: str | None = None
    """The tensor or file a layer holds, for per-tensor models; JSON ``name``."""

    def to_json(self) -> dict[str, object]:
        """The descriptor as a dict in Go's field order, empty ``from``/``name`` left out."""
        out: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.from_:
            out["from"] = self.from_
        if self.name:
            out["name"] = self.name
        return out

    @classmethod
    def from_json(cls, value: object, where: str) -> Descriptor:
        """A descriptor from decoded JSON; ``where`` names it in error messages."""
        if not isinstance(value, Mapping):
            raise StoreError(f"manifest: {where} is not a JSON object")
        media_type = _field(value, "mediaType", str, where)
        digest_text = _field(value, "digest", str, where)
        size = _field(value, "size", int, where)
        if isinstance(size, bool) or size < 0:
            raise StoreError(f"manifest: {where}.size must be a non-negative integer")
        digest = Digest.parse(digest_text)
        if str(digest) != digest_text:
            raise InvalidDigest(digest_text)
        from_ = _optional_str(value, "from", where)
        name = _optional_str(value, "name", where)
        return cls(media_type, digest, size, from_ or None, name or None)


@dataclass(frozen=True, slots=True)
class Manifest:
    """A config descriptor plus layer descriptors; equality ignores :attr:`raw`."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    schema_version: int = 2
    media_type: str = mediatypes.MANIFEST
    raw: builtins.bytes | None = field(default=None, compare=False, repr=False)
    """The exact bytes the manifest was parsed from, or None for one built in memory."""

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))

    @classmethod
    def parse(cls, data: builtins.bytes) -> Manifest:
        """Check the shape of a manifest and keep its bytes; unknown fields are tolerated."""
        document = gojson.load_object(data, "manifest")
        schema_version = _field(document, "schemaVersion", int, "")
        if schema_version != 2 or isinstance(schema_version, bool):
            raise StoreError(f"manifest: unsupported schemaVersion {schema_version!r}, want 2")
        media_type = document.get("mediaType", "")
        if not isinstance(media_type, str):
            raise StoreError("manifest: mediaType is not a string")
        config = Descriptor.from_json(document.get("config"), "config")
        layers_value = document.get("layers")
        if layers_value is None:
            layers_value = []
        if not isinstance(layers_value, list):
            raise StoreError("manifest: layers is not a JSON array")
        layers = tuple(
            Descriptor.from_json(item, f"layers[{index}]")
            for index, item in enumerate(layers_value)
        )
        return cls(config, layers, schema_version, media_type, builtins.bytes(data))

    def encode(self) -> builtins.bytes:
        """The bytes Ollama's ``WriteManifest`` writes for these fields (ends with a newline)."""
        document = {
            "schemaVersion": self.schema_version,
            "mediaType": self.media_type,
            "config": self.config.to_json(),
            "layers": [layer.to_json() for layer in self.layers],
        }
        return gojson.encode(document, sort_keys=False)

    @property
    def digest(self) -> Digest:
        """The model ID: the digest of :meth:`bytes`."""
        return Digest.of(self.bytes())

    @property
    def total_size(self) -> int:
        """Config plus layer sizes, the SIZE that ``ollama list`` shows."""
        return self.config.size + sum(layer.size for layer in self.layers)

    def layers_of(self, media_type: str) -> tuple[Descriptor, ...]:
        """The layers of one media type, in manifest order."""
        return tuple(layer for layer in self.layers if layer.media_type == media_type)

    def digests(self) -> frozenset[Digest]:
        """Every blob this manifest references: the config and all layers."""
        return frozenset([self.config.digest, *(layer.digest for layer in self.layers)])

    def bytes(self) -> builtins.bytes:
        """The bytes as read, or :meth:`encode` for a manifest built in memory."""
        return self.raw if self.raw is not None else self.encode()


def _field(value: Mapping[str, object], key: str, kind: type[_T], where: str) -> _T:
    item = value.get(key)
    if not isinstance(item, kind):
        path = f"{where}.{key}" if where else key
        raise StoreError(f"manifest: {path} is missing or not {_json_kind(kind)}")
    return item


def _optional_str(value: Mapping[str, object], key: str, where: str) -> str | None:
    item = value.get(key)
    if item is not None and not isinstance(item, str):
        raise StoreError(f"manifest: {where}.{key} is not a string")
    return item


def _json_kind(kind: type) -> str:
    return {str: "a string", int: "an integer"}.get(kind, kind.__name__)
