"""``lamina serve``'s wiring: the store's blobs and repositories behind the registry server.

The registry never imports the store; this is the one place the two meet for serving. Local
models are served from their own manifest files and blobs (``library/gemma3-chat:latest`` is
the model ``gemma3-chat``), so publishing a model copies nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from registry.protocols import ManifestStore
    from registry.server import Mirror
    from store import Store


AuthMode = Literal["none", "htpasswd", "keys", "htpasswd+keys"]


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 5000
    htpasswd: Path | None = None
    authorized_keys: Path | None = None
    access: Path | None = None
    anonymous_pull: bool = False
    tls: bool = False
    public_url: str | None = None
    redirect_host: str | None = None
    mirror: str | None = None
    """scheme://host[:port] of the upstream registry to mirror."""
    mirror_ttl: float = 300.0

    def url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    def auth_mode(self) -> AuthMode:
        if self.htpasswd is not None:
            return "htpasswd+keys" if self.authorized_keys is not None else "htpasswd"
        return "keys" if self.authorized_keys is not None else "none"


def application(store: Store, options: Options) -> ASGIApp:
    """The registry app over ``store``; credentials files are read now, so a bad one fails
    before the server starts."""
    from registry.server import (
        Access,
        Auth,
        AuthorizedKeys,
        Backend,
        Htpasswd,
        Settings,
        create_app,
    )
    from store.repositories import Repositories

    htpasswd = Htpasswd.load(options.htpasswd) if options.htpasswd else None
    keys = AuthorizedKeys.load(options.authorized_keys) if options.authorized_keys else None
    access = Access.signed_in(anonymous_pull=options.anonymous_pull)
    if options.access is not None:
        access = access.with_file(options.access)
    auth = Auth(access, htpasswd=htpasswd, keys=keys)
    settings = Settings(public_url=options.public_url, redirect_host=options.redirect_host)
    blobs = store.blobs
    manifests = Repositories(store)
    mirror = _mirror(store, manifests, options) if options.mirror else None
    return create_app(Backend(blobs, blobs, manifests), auth, settings, mirror)


def _mirror(store: Store, manifests: ManifestStore, options: Options) -> Mirror:
    """The upstream of ``--mirror``, signed in to with what ``lamina login`` (or Docker) saved
    for its host."""
    from urllib.parse import urlsplit

    from registry.client import Retry, connect
    from registry.reference import Reference
    from registry.server import Mirror

    from .transfer import credentials_lookup

    parts = urlsplit(str(options.mirror))
    # The transport uses only the host of its reference; each fetch names its own repository.
    upstream = Reference(parts.netloc.lower(), "library/mirror", "latest",
                         insecure=parts.scheme == "http")
    transport = connect(upstream, credentials_lookup(), retry=Retry(attempts=3, backoff=0.25))
    return Mirror(transport, store.blobs, manifests, store.provenance, ttl=options.mirror_ttl)
