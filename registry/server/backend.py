"""What the server serves from: the registry's Protocols, plus one optional capability each for
zero-copy blob reads and for listing a repository's manifests (the referrers API)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ocitypes import Digest

from ..protocols import BlobSink, BlobSource, ManifestStore


@runtime_checkable
class BlobFiles(Protocol):
    """A blob source whose blobs are whole files: the server then hands the path to the ASGI
    server (``http.response.pathsend``), which sends it with ``sendfile`` and no Python copy."""

    def path(self, digest: Digest) -> os.PathLike[str]: ...


@runtime_checkable
class ManifestDigests(Protocol):
    """A manifest store that can list every manifest of a repository, tagged or not."""

    def digests(self, repository: str) -> Sequence[Digest]: ...


@dataclass(frozen=True, slots=True)
class Backend:
    """The store as the server sees it."""

    blobs: BlobSource
    uploads: BlobSink
    manifests: ManifestStore
