"""Image manifests and indexes, kept byte-exact: a model's ID is the SHA-256 of its manifest.

A manifest lamina writes is byte-for-byte what Ollama's ``WriteManifest`` writes:

    {"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
     "config":{"mediaType":…,"digest":…,"size":…},"layers":[{…},…]}\\n

(one line, descriptor fields in the order mediaType, digest, size, then ``from`` and ``name``
only when set). A manifest read from bytes, such as a pulled one, keeps those bytes as they came,
whatever their whitespace, key order or extra fields. OCI image manifests (v1.1) are read too,
with their ``artifactType``, ``subject`` and annotations; an index names other manifests.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from . import gojson, mediatypes
from .digest import Digest
from .errors import InvalidDigest, ManifestInvalid

__all__ = ["MAX_MANIFEST_BYTES", "Descriptor", "Index", "Manifest", "parse_any"]

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
"""The largest manifest a registry must accept (distribution-spec); lamina refuses bigger."""

_T = TypeVar("_T")
Annotations = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Descriptor:
    """One blob a manifest points at: the config, a layer, or (in an index) a manifest."""

    media_type: str
    digest: Digest
    size: int
    from_: str | None = None
    """Where the layer came from (a parent model or an uploaded file name); JSON ``from``."""
    name: str | None = None
    """The tensor or file a layer holds, for per-tensor models; JSON ``name``."""
    annotations: Annotations = ()
    """OCI annotations, in the order read; empty for Ollama's layers."""
    artifact_type: str | None = None

    def to_json(self) -> dict[str, object]:
        """The descriptor as a dict in Go's field order, empty fields left out."""
        out: dict[str, object] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.from_:
            out["from"] = self.from_
        if self.name:
            out["name"] = self.name
        if self.artifact_type:
            out["artifactType"] = self.artifact_type
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, value: object, where: str) -> Descriptor:
        """A descriptor from decoded JSON; ``where`` names it in error messages."""
        if not isinstance(value, Mapping):
            raise ManifestInvalid(f"{where} is not a JSON object")
        media_type = _field(value, "mediaType", str, where)
        digest_text = _field(value, "digest", str, where)
        size = _field(value, "size", int, where)
        if isinstance(size, bool) or size < 0:
            raise ManifestInvalid(f"{where}.size must be a non-negative integer")
        try:
            digest = Digest.parse(digest_text)
        except InvalidDigest as exc:
            raise ManifestInvalid(f"{where}.digest: {exc}") from exc
        return cls(
            media_type,
            digest,
            size,
            _optional_str(value, "from", where) or None,
            _optional_str(value, "name", where) or None,
            _annotations(value, where),
            _optional_str(value, "artifactType", where) or None,
        )


@dataclass(frozen=True, slots=True)
class Manifest:
    """A config descriptor plus layer descriptors; equality ignores :attr:`raw`."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    schema_version: int = 2
    media_type: str = mediatypes.MANIFEST
    raw: builtins.bytes | None = field(default=None, compare=False, repr=False)
    """The exact bytes the manifest was parsed from, or None for one built in memory."""
    artifact_type: str | None = None
    subject: Descriptor | None = None
    annotations: Annotations = ()

    def __post_init__(self) -> None:
        if not isinstance(self.layers, tuple):
            object.__setattr__(self, "layers", tuple(self.layers))

    @classmethod
    def parse(cls, data: builtins.bytes) -> Manifest:
        """Check the shape of an image manifest and keep its bytes; unknown fields are kept in
        the bytes and otherwise ignored."""
        document = _document(data, "manifest")
        media_type = document.get("mediaType", "")
        if not isinstance(media_type, str):
            raise ManifestInvalid("mediaType is not a string")
        if media_type in mediatypes.INDEXES or "manifests" in document:
            raise ManifestInvalid("this is an index of manifests, not an image manifest")
        config = Descriptor.from_json(document.get("config"), "config")
        layers_value = document.get("layers")
        if layers_value is None:
            layers_value = []
        if not isinstance(layers_value, list):
            raise ManifestInvalid("layers is not a JSON array")
        layers = tuple(
            Descriptor.from_json(item, f"layers[{index}]")
            for index, item in enumerate(layers_value)
        )
        subject = document.get("subject")
        return cls(
            config,
            layers,
            2,
            media_type,
            builtins.bytes(data),
            _optional_str(document, "artifactType", "") or None,
            Descriptor.from_json(subject, "subject") if subject is not None else None,
            _annotations(document, ""),
        )

    def encode(self) -> builtins.bytes:
        """The bytes Ollama's ``WriteManifest`` writes for these fields (ends with a newline)."""
        document: dict[str, object] = {
            "schemaVersion": self.schema_version,
            "mediaType": self.media_type,
        }
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        document["config"] = self.config.to_json()
        document["layers"] = [layer.to_json() for layer in self.layers]
        if self.subject is not None:
            document["subject"] = self.subject.to_json()
        if self.annotations:
            document["annotations"] = dict(self.annotations)
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

    def descriptors(self) -> tuple[Descriptor, ...]:
        """The config, then every layer: each blob the manifest needs, in order."""
        return (self.config, *self.layers)

    def digests(self) -> frozenset[Digest]:
        """Every blob this manifest references: the config and all layers."""
        return frozenset(descriptor.digest for descriptor in self.descriptors())

    def bytes(self) -> builtins.bytes:
        """The bytes as read, or :meth:`encode` for a manifest built in memory."""
        return self.raw if self.raw is not None else self.encode()


@dataclass(frozen=True, slots=True)
class Index:
    """An OCI image index (or Docker manifest list): manifests by descriptor, bytes kept."""

    manifests: tuple[Descriptor, ...]
    media_type: str = mediatypes.OCI_INDEX
    raw: builtins.bytes | None = field(default=None, compare=False, repr=False)
    artifact_type: str | None = None
    annotations: Annotations = ()

    @classmethod
    def parse(cls, data: builtins.bytes) -> Index:
        """Check the shape of an index and keep its bytes."""
        document = _document(data, "index")
        media_type = document.get("mediaType", mediatypes.OCI_INDEX)
        if not isinstance(media_type, str):
            raise ManifestInvalid("mediaType is not a string", "index")
        listed = document.get("manifests")
        if not isinstance(listed, list):
            raise ManifestInvalid("manifests is missing or not a JSON array", "index")
        manifests = tuple(
            Descriptor.from_json(item, f"manifests[{index}]") for index, item in enumerate(listed)
        )
        return cls(
            manifests,
            media_type,
            builtins.bytes(data),
            _optional_str(document, "artifactType", "") or None,
            _annotations(document, ""),
        )

    def encode(self) -> builtins.bytes:
        """Compact JSON in the spec's field order, ending with a newline."""
        document: dict[str, object] = {"schemaVersion": 2, "mediaType": self.media_type}
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        document["manifests"] = [m.to_json() for m in self.manifests]
        if self.annotations:
            document["annotations"] = dict(self.annotations)
        return gojson.encode(document, sort_keys=False)

    def bytes(self) -> builtins.bytes:
        return self.raw if self.raw is not None else self.encode()

    @property
    def digest(self) -> Digest:
        return Digest.of(self.bytes())


def parse_any(data: builtins.bytes) -> Manifest | Index:
    """An image manifest or an index, told apart by ``mediaType`` (or by its fields)."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(f"is {len(data)} bytes, over the {MAX_MANIFEST_BYTES}-byte limit")
    document = _document(data, "manifest")
    media_type = document.get("mediaType")
    if media_type in mediatypes.INDEXES or (media_type is None and "manifests" in document):
        return Index.parse(data)
    return Manifest.parse(data)


def _document(data: builtins.bytes, what: str) -> dict[str, object]:
    document = gojson.load_object(data, what)
    schema_version = document.get("schemaVersion")
    if not isinstance(schema_version, int):
        raise ManifestInvalid("schemaVersion is missing or not an integer", what)
    if schema_version != 2 or isinstance(schema_version, bool):
        raise ManifestInvalid(f"unsupported schemaVersion {schema_version!r}, want 2", what)
    return document


def _field(value: Mapping[str, object], key: str, kind: type[_T], where: str) -> _T:
    item = value.get(key)
    if not isinstance(item, kind):
        path = f"{where}.{key}" if where else key
        raise ManifestInvalid(f"{path} is missing or not {_json_kind(kind)}")
    return item


def _optional_str(value: Mapping[str, object], key: str, where: str) -> str | None:
    item = value.get(key)
    if item is not None and not isinstance(item, str):
        path = f"{where}.{key}" if where else key
        raise ManifestInvalid(f"{path} is not a string")
    return item


def _annotations(value: Mapping[str, object], where: str) -> Annotations:
    item = value.get("annotations")
    if item is None:
        return ()
    path = f"{where}.annotations" if where else "annotations"
    if not isinstance(item, Mapping) or not all(isinstance(v, str) for v in item.values()):
        raise ManifestInvalid(f"{path} is not an object of strings")
    return tuple((str(k), str(v)) for k, v in item.items())


def _json_kind(kind: type) -> str:
    return {str: "a string", int: "an integer"}.get(kind, kind.__name__)
