"""``GET``/``HEAD``/``PUT``/``DELETE /v2/<name>/manifests/<tag or digest>``.

Manifests are stored and served byte for byte, with the media type they were pushed with
(``Content-Type`` without parameters, else the body's ``mediaType``). A push is refused when it
is over 4 MiB (413), is not a manifest or index (MANIFEST_INVALID), does not hash to the digest
it was pushed under (DIGEST_INVALID), or names blobs or manifests the registry lacks
(MANIFEST_BLOB_UNKNOWN; a ``subject`` may be missing, as the spec requires).
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

import ocitypes
from ocitypes import Digest, Index, Manifest, mediatypes

from ..errors import ErrorCode, RegistryError
from . import names
from .access import PULL, PUSH
from .common import require, run, state, url


async def manifest(request: Request) -> Response:
    """GET or HEAD."""
    name = names.repository(request.path_params["name"])
    reference = names.reference(request.path_params["reference"])
    require(request, name, PULL)
    mirror = state(request).mirror
    lookup = state(request).backend.manifests.get if mirror is None else mirror.manifest
    data, media_type = await run(lookup, name, str(reference))
    digest = Digest.of(data)
    headers = {
        "Content-Type": media_type,
        "Docker-Content-Digest": str(digest),
        "ETag": f'"{digest}"',
        "Content-Length": str(len(data)),
    }
    return Response(b"" if request.method == "HEAD" else data, headers=headers)


async def put(request: Request) -> Response:
    name = names.repository(request.path_params["name"])
    text = request.path_params["reference"]
    reference: str | Digest = names.digest(text) if ":" in text else text
    if isinstance(reference, str) and not names.is_tag(reference):
        raise RegistryError.of(ErrorCode.TAG_INVALID, f"invalid tag {text[:200]!r}")
    require(request, name, PUSH)
    data = await _body(request, state(request).settings.max_manifest_bytes)
    digest = Digest.of(data)
    if isinstance(reference, Digest) and reference != digest:
        raise RegistryError.of(ErrorCode.DIGEST_INVALID,
                               f"the manifest's digest is {digest}, not {reference}")
    parsed = ocitypes.parse_any(data)
    media_type = _media_type(request.headers.get("content-type", ""), data, parsed)
    await _check_references(request, name, parsed)
    stored = await run(state(request).backend.manifests.put, name, str(reference), data,
                       media_type)
    headers = {
        "Location": url(request, f"/v2/{name}/manifests/{stored}"),
        "Docker-Content-Digest": str(stored),
        "Content-Length": "0",
    }
    subject = parsed.subject.digest if isinstance(parsed, Manifest) and parsed.subject \
        else _index_subject(data)
    if subject is not None:
        headers["OCI-Subject"] = str(subject)
    return Response(status_code=201, headers=headers)


async def delete(request: Request) -> Response:
    name = names.repository(request.path_params["name"])
    reference = names.reference(request.path_params["reference"])
    require(request, name, PUSH)
    await run(state(request).backend.manifests.delete, name, str(reference))
    return Response(status_code=202, headers={"Content-Length": "0"})


async def _body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    parts: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > limit:
            raise _too_large(limit)
        parts.append(piece)
    return b"".join(parts)


def _too_large(limit: int) -> RegistryError:
    return RegistryError(413, ErrorCode.SIZE_INVALID,
                         f"manifests are limited to {limit} bytes")


def _media_type(content_type: str, data: bytes, parsed: Manifest | Index) -> str:
    """The type the manifest is stored and served with; MANIFEST_INVALID when the header and
    the body's ``mediaType`` disagree."""
    header = content_type.split(";", 1)[0].strip()
    body = _document(data).get("mediaType")
    body = body if isinstance(body, str) else ""
    if header and body and header != body:
        raise RegistryError.of(ErrorCode.MANIFEST_INVALID,
                               f"Content-Type {header} does not match the mediaType {body}")
    if header:
        return header
    if body:
        return body
    return mediatypes.OCI_INDEX if isinstance(parsed, Index) else mediatypes.OCI_MANIFEST


async def _check_references(request: Request, name: str, parsed: Manifest | Index) -> None:
    backend = state(request).backend
    missing: list[str] = []
    if isinstance(parsed, Manifest):
        for descriptor in parsed.descriptors():
            if not await run(backend.uploads.exists, descriptor.digest):
                missing.append(str(descriptor.digest))
    else:
        for descriptor in parsed.manifests:
            try:
                await run(backend.manifests.get, name, str(descriptor.digest))
            except ocitypes.ManifestUnknown:
                missing.append(str(descriptor.digest))
    if missing:
        raise RegistryError.of(ErrorCode.MANIFEST_BLOB_UNKNOWN,
                               f"the manifest names {len(missing)} unknown blob(s) or "
                               f"manifest(s): {', '.join(missing[:5])}; push them first",
                               {"digests": missing})


def _index_subject(data: bytes) -> Digest | None:
    subject = _document(data).get("subject")
    try:
        return Digest.parse(subject["digest"]) if isinstance(subject, dict) else None
    except (ValueError, KeyError, TypeError):
        return None


def _document(data: bytes) -> dict[str, object]:
    """The manifest as a JSON object (``parse_any`` has checked that it is one)."""
    value = json.loads(data)
    return value if isinstance(value, dict) else {}
