"""``GET /v2/<name>/referrers/<digest>``: an image index of the repository's manifests whose
``subject`` is that digest, optionally filtered by ``?artifactType=`` (distribution-spec
§Listing referrers). An unknown repository or subject gives an empty index, never a 404.

The manifest store is asked for every manifest of the repository when it can list them
(``ManifestDigests``), else for the tagged ones. Manifests never change under a digest, so what
each one refers to is remembered once read.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

import ocitypes
from ocitypes import Digest, mediatypes

from . import names
from .access import PULL
from .backend import ManifestDigests
from .common import require, run, state

Entry = tuple[str, dict[str, object]]
"""A referrer: the digest of its subject and its descriptor in the answer."""


async def referrers(request: Request) -> Response:
    name = names.repository(request.path_params["name"])
    subject = names.digest(request.path_params["digest"])
    require(request, name, PULL)
    wanted = request.query_params.get("artifactType")
    found = [
        descriptor for refers_to, descriptor in await run(_entries, request, name)
        if refers_to == str(subject)
        and (wanted is None or descriptor.get("artifactType") == wanted)
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX,
                       "manifests": found}, separators=(",", ":")).encode()
    headers = {"Content-Type": mediatypes.OCI_INDEX}
    if wanted is not None:
        headers["OCI-Filters-Applied"] = "artifactType"
    return Response(body, headers=headers)


def _entries(request: Request, name: str) -> list[Entry]:
    manifests = state(request).backend.manifests
    cache = state(request).referrers
    try:
        if isinstance(manifests, ManifestDigests):
            references = [str(d) for d in manifests.digests(name)]
        else:
            references = list(manifests.tags(name))
    except ocitypes.ManifestUnknown:
        return []
    entries: dict[str, Entry] = {}
    for reference in references:
        try:
            data, media_type = manifests.get(name, reference)
        except ocitypes.ManifestUnknown:
            continue  # deleted since it was listed
        digest = Digest.of(data)
        if digest not in cache:
            cache[digest] = _entry(data, media_type, digest)
        entry = cache[digest]
        if entry is not None:
            entries[str(digest)] = entry
    return list(entries.values())


def _entry(data: bytes, media_type: str, digest: Digest) -> Entry | None:
    """What the manifest refers to and its descriptor, or None if it has no subject."""
    try:
        document = json.loads(data)
        subject = document.get("subject")
        refers_to = Digest.parse(subject["digest"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    descriptor: dict[str, object] = {"mediaType": media_type, "digest": str(digest),
                                     "size": len(data)}
    artifact_type = document.get("artifactType")
    config = document.get("config")
    if not artifact_type and isinstance(config, dict):
        artifact_type = config.get("mediaType")
    if isinstance(artifact_type, str) and artifact_type:
        descriptor["artifactType"] = artifact_type
    annotations = document.get("annotations")
    if isinstance(annotations, dict) and annotations:
        descriptor["annotations"] = annotations
    return str(refers_to), descriptor
