"""What may appear in a URL: repository names, tags, digests and upload ids (distribution-spec
§Pulling manifests, image-spec §Digests).

Everything a path component names is checked here before it reaches a store, so a ``..``, a
slash in a tag or an upload id shaped like a path never gets further than a 4xx.
"""

from __future__ import annotations

import re

from ocitypes import Digest, InvalidDigest

from ..errors import ErrorCode, RegistryError

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
_UPLOAD_ID = re.compile(r"[A-Za-z0-9_-]{16,128}")
MAX_NAME = 255
"""Clients limit ``host[:port]/name`` to 255 characters; a longer name is refused outright."""


def repository(text: str) -> str:
    """A valid repository name, or NAME_INVALID."""
    if len(text) > MAX_NAME or _NAME.fullmatch(text) is None:
        raise RegistryError.of(ErrorCode.NAME_INVALID, f"invalid repository name {text!r}",
                               {"name": text[:MAX_NAME]})
    return text


def is_tag(text: str) -> bool:
    return _TAG.fullmatch(text) is not None


def digest(text: str, code: ErrorCode = ErrorCode.DIGEST_INVALID) -> Digest:
    """A ``sha256:<64 hex>`` digest, or a 400 with ``code``."""
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise RegistryError.of(code, str(exc), {"digest": text[:200]}) from exc


def reference(text: str) -> str | Digest:
    """A tag or a digest; anything else is MANIFEST_UNKNOWN (the conformance suite expects 404
    for a tag of invalid syntax) unless it looks like a digest, which is DIGEST_INVALID."""
    if ":" in text:
        return digest(text)
    if not is_tag(text):
        raise RegistryError.of(ErrorCode.MANIFEST_UNKNOWN, f"no manifest {text[:200]!r}")
    return text


def upload_id(text: str) -> str:
    """An upload id of the shape this server makes; BLOB_UPLOAD_UNKNOWN otherwise."""
    if _UPLOAD_ID.fullmatch(text) is None:
        raise RegistryError.of(ErrorCode.BLOB_UPLOAD_UNKNOWN, "no such upload",
                               {"upload": text[:200]})
    return text
