"""A registry app over in-memory fakes, a client for it, and a little seeded content."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.types import ASGIApp

from ocitypes import Digest, mediatypes
from registry.server import Backend, create_app

from .fakes import MemoryBlobs, MemoryManifests

CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER = b"GGUF" + bytes(range(256)) * 40
REPO = "library/tiny"


def manifest_bytes(config: bytes = CONFIG, layers: tuple[bytes, ...] = (LAYER,), *,
                   media_type: str = mediatypes.MANIFEST,
                   layer_type: str = mediatypes.MODEL, subject: bytes | None = None,
                   artifact_type: str | None = None) -> bytes:
    """A manifest naming ``config`` and ``layers`` by digest, compact as Ollama sends it."""
    document: dict[str, object] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        document["artifactType"] = artifact_type
    document["config"] = {"mediaType": mediatypes.CONFIG, "digest": str(Digest.of(config)),
                          "size": len(config)}
    document["layers"] = [{"mediaType": layer_type, "digest": str(Digest.of(layer)),
                           "size": len(layer)} for layer in layers]
    if subject is not None:
        document["subject"] = {"mediaType": mediatypes.OCI_MANIFEST,
                               "digest": str(Digest.of(subject)), "size": len(subject)}
    return json.dumps(document, separators=(",", ":")).encode()


class Client:
    """Raw httpx requests to an ASGI app, one event loop per request (tests stay plain)."""

    def __init__(self, app: ASGIApp, base_url: str = "http://registry.test:5000") -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **options)

        return asyncio.run(send())

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def head(self, url: str, **options: Any) -> httpx.Response:
        return self.request("HEAD", url, **options)

    def put(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PUT", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def patch(self, url: str, **options: Any) -> httpx.Response:
        return self.request("PATCH", url, **options)

    def delete(self, url: str, **options: Any) -> httpx.Response:
        return self.request("DELETE", url, **options)


@dataclass
class Registry:
    client: Client
    blobs: MemoryBlobs
    manifests: MemoryManifests


@pytest.fixture
def registry() -> Registry:
    blobs = MemoryBlobs()
    manifests = MemoryManifests(blobs)
    return Registry(Client(create_app(Backend(blobs, blobs, manifests))), blobs, manifests)


@pytest.fixture
def seeded(registry: Registry) -> Registry:
    """``library/tiny:latest``: a config, one layer and their manifest."""
    registry.blobs.put(CONFIG)
    registry.blobs.put(LAYER)
    registry.manifests.put(REPO, "latest", manifest_bytes(), mediatypes.MANIFEST)
    return registry
