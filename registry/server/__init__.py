"""lamina's OCI registry server (distribution-spec v1.1, and what Ollama's client needs).

Written against ``registry.protocols``: :func:`create_app` takes a :class:`Backend` (blob
source, upload sink, manifest store) and returns an ASGI application; ``run`` serves one with
granian. One module per resource: ``blobs``, ``uploads``, ``manifests``, ``tags`` (and the
catalog), ``referrers``; ``mirror`` fetches what the store lacks from an upstream registry;
``auth``, ``access``, ``credentials`` and ``signing`` decide who may do what.
"""

from .access import Access
from .app import create_app
from .auth import Auth
from .backend import Backend, BlobFiles, ManifestDigests
from .common import Settings
from .credentials import AuthorizedKeys, CredentialsError, Htpasswd
from .mirror import Mirror, UpstreamFailed
from .signing import Signer

__all__ = [
    "Access",
    "Auth",
    "AuthorizedKeys",
    "Backend",
    "BlobFiles",
    "CredentialsError",
    "Htpasswd",
    "ManifestDigests",
    "Mirror",
    "Settings",
    "Signer",
    "UpstreamFailed",
    "create_app",
]
