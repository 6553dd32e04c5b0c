"""The OCI distribution client and server.

The registry speaks to small Protocols that the store satisfies (``protocols``: blob source and
sink, upload sessions, partial blobs, manifests, provenance) and to the shared OCI types of
``ocitypes``; it never imports ``store`` itself.
"""

from .protocols import (
    BlobSink,
    BlobSource,
    ManifestStore,
    PartialBlob,
    PartialBlobs,
    Provenance,
    UploadSession,
)

__all__ = [
    "BlobSink",
    "BlobSource",
    "ManifestStore",
    "PartialBlob",
    "PartialBlobs",
    "Provenance",
    "UploadSession",
]
