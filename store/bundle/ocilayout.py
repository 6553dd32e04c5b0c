"""The OCI image layout a bundle holds, as pure data: no file is read or written here.

    oci-layout               {"imageLayoutVersion":"1.0.0"}
    index.json               an image index; each manifest's descriptor carries its model name
                             in the annotation org.opencontainers.image.ref.name
    blobs/sha256/<hex>       every manifest, config and layer, once

(opencontainers/image-spec ``image-layout.md``.) Manifests are kept byte for byte, so a model's
ID is the same after ``load`` as before ``save``.
"""

from __future__ import annotations

import json
import re

from ocitypes import Descriptor, Digest, Index, InvalidJSON, Manifest, OCIError, mediatypes

from ..names import Name

__all__ = ["INDEX", "LAYOUT", "LAYOUT_BYTES", "REF_NAME", "BundleInvalid", "blob_digest",
           "blob_name", "index_bytes", "read_index"]

LAYOUT = "oci-layout"
INDEX = "index.json"
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT_BYTES = b'{"imageLayoutVersion":"1.0.0"}\n'
_BLOB = re.compile(r"^(?:\./)?blobs/sha256/([0-9a-f]{64})$")


class BundleInvalid(OCIError, ValueError):
    """A bundle that is not a valid OCI image layout of lamina models."""

    def __init__(self, problem: str) -> None:
        self.problem = problem
        super().__init__(f"not a valid bundle: {problem}; nothing was imported")


def blob_name(digest: Digest) -> str:
    return f"blobs/sha256/{digest.hex}"


def blob_digest(member: str) -> Digest | None:
    """The digest a member path spells, or None for anything but a blob."""
    match = _BLOB.fullmatch(member)
    return Digest(match.group(1)) if match else None


def index_bytes(models: list[tuple[Name, Manifest]]) -> bytes:
    """index.json naming each manifest by its model's full name."""
    descriptors = tuple(
        Descriptor(manifest.media_type, manifest.digest, len(manifest.bytes()),
                   annotations=((REF_NAME, str(name.without_digest())),))
        for name, manifest in models
    )
    return Index(descriptors).encode()


def read_index(data: bytes) -> list[tuple[Name, Descriptor]]:
    """The models index.json names, each with its manifest's descriptor."""
    try:
        index = Index.parse(data)
    except (InvalidJSON, OCIError) as exc:
        raise BundleInvalid(f"index.json: {exc}") from exc
    found = []
    for descriptor in index.manifests:
        ref = dict(descriptor.annotations).get(REF_NAME)
        if ref is None:
            raise BundleInvalid(f"manifest {descriptor.digest} in index.json has no {REF_NAME}")
        if descriptor.media_type not in mediatypes.IMAGE_MANIFESTS:
            raise BundleInvalid(f"{ref} is a {descriptor.media_type}, not an image manifest")
        try:
            found.append((Name.parse(ref), descriptor))
        except ValueError as exc:
            raise BundleInvalid(f"{ref!r} in index.json is not a model name: {exc}") from exc
    return found


def check_layout(data: bytes) -> None:
    try:
        version = json.loads(data).get("imageLayoutVersion")
    except (ValueError, AttributeError) as exc:
        raise BundleInvalid("oci-layout is not JSON") from exc
    if version != "1.0.0":
        raise BundleInvalid(f"imageLayoutVersion {version!r}, lamina reads 1.0.0")
