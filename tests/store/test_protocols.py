"""The store satisfies the registry's Protocols: mypy checks the assignments below.

``make test`` type-checks the packages, not the tests, so a test runs mypy on this file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ocitypes import Digest
from registry.protocols import (
    BlobSink,
    BlobSource,
    ManifestStore,
    PartialBlob,
    PartialBlobs,
    Provenance,
    PushSessions,
    UploadSession,
)
from store.blobs import BlobStore
from store.layout import Layout
from store.models import Store


def satisfied(blobs: BlobStore) -> None:
    """Never run for its effect: each line fails type-checking if a Protocol is not met."""
    source: BlobSource = blobs
    sink: BlobSink = blobs
    partials: PartialBlobs = blobs
    session: UploadSession = sink.begin()
    pulled: PartialBlob = partials.partial(Digest.of(b""), 0)
    session.abort()
    pulled.commit()
    del source


def satisfied_by_the_catalogue(store: Store) -> tuple[ManifestStore, Provenance, PushSessions]:
    """As :func:`satisfied`, for manifests by repository and the store's two ledgers."""
    manifests: ManifestStore = store.repositories()
    provenance: Provenance = store.provenance
    sessions: PushSessions = store.push_sessions
    return manifests, provenance, sessions


def test_the_store_satisfies_the_registry_protocols() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", __file__],
        capture_output=True, text=True, cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_protocol_calls_work_on_a_real_store(tmp_path: Path) -> None:
    blobs = BlobStore(Layout(tmp_path))
    satisfied(blobs)
    assert blobs.stat(Digest.of(b"")) == 0
    with blobs.open(Digest.of(b"")) as stream:
        assert stream.read() == b""


def test_the_catalogue_protocols_work_on_a_real_store(tmp_path: Path) -> None:
    manifests, provenance, sessions = satisfied_by_the_catalogue(Store(tmp_path))
    assert list(manifests.repositories()) == []
    assert list(provenance.known(Digest.of(b""), "registry.example")) == []
    assert sessions.session(Digest.of(b""), "registry.example", "a/b") is None
