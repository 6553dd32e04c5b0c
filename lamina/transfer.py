"""Pull and push as store plus registry client: the one place where the two meet.

A local name ``host/namespace/model:tag`` is the repository ``namespace/model`` (lower-cased, as
registries require) on ``host``. Credentials come from ``lamina login`` (``credentials.json`` in
lamina's config folder) and then from Docker's ``config.json``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.client import Credentials, Progress, PullResult, PushResult
    from registry.client.credentials import CredentialsFile
    from registry.reference import Reference
    from store import Name, Store

__all__ = [
    "config_dir",
    "credential_files",
    "credentials_lookup",
    "pull",
    "push",
    "reference_for",
]


def config_dir() -> Path:
    """``$LAMINA_CONFIG_DIR``, else the platform's user config folder for lamina."""
    configured = os.environ.get("LAMINA_CONFIG_DIR")
    if configured:
        return Path(configured)
    import platformdirs

    return platformdirs.user_config_path("lamina")


def credential_files() -> list[CredentialsFile]:
    """lamina's own credentials file, then Docker's."""
    from registry.client.credentials import CredentialsFile

    docker = Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    return [CredentialsFile(config_dir() / "credentials.json"), CredentialsFile(docker)]


def credentials_lookup() -> Callable[[str], Credentials | None]:
    """Credentials by host, read only when a registry asks for them (an anonymous pull never
    loads the credentials code, platformdirs or Docker's helpers)."""

    def find(host: str) -> Credentials | None:
        from registry.client.credentials import lookup

        return lookup(credential_files(), host)

    return find


def reference_for(name: Name, *, insecure: bool = False) -> Reference:
    """Where ``name`` lives on its registry."""
    from registry.reference import Reference

    repository = f"{name.namespace}/{name.model}".lower()
    insecure = insecure or name.scheme == "http"
    return Reference(name.host.lower(), repository, name.tag, name.digest, insecure)


def pull(store: Store, text: str, *, insecure: bool = False,
         progress: Progress | None = None) -> tuple[Name, PullResult]:
    """Fetch a model and every blob the store lacks, then file its manifest under the name."""
    from ocitypes import Manifest
    from registry.client import Puller, connect
    from store import Name

    name = Name.parse(text)
    reference = reference_for(name, insecure=insecure)
    # Held throughout, so that gc (which takes the store exclusively) never sweeps blobs that
    # are in but not yet named by the manifest.
    with store.writing(), connect(reference, credentials_lookup()) as transport:
        result = Puller(transport, store.blobs, progress=progress).pull(reference)
        for blob in result.blobs:  # so that a later push can mount them from here
            store.provenance.record(blob.digest, reference.registry, reference.repository)
        previous = store.previous_manifest(name)
        filed = store.write_manifest(name, Manifest.parse(result.manifest))
    store.prune_replaced(previous)
    return filed, result


def push(store: Store, text: str, destination: str | None = None, *, insecure: bool = False,
         progress: Progress | None = None) -> tuple[Name, PushResult]:
    """Publish a local model (under ``destination`` when given, copied locally first, as
    ``cp`` then ``push``) to the registry its name points at."""
    from registry.client import Pusher, connect
    from store import Name

    name = store.resolve(text)
    copied = False
    if destination is not None:
        copied = store.find(Name.parse(destination)) is None
        name = store.copy(name, destination).name
    try:
        data = store.manifest_bytes(name)
        store.manifest(name)  # a damaged manifest is the store's error, said before any upload
        reference = reference_for(name, insecure=insecure)
        from ocitypes import parse_any

        media_type = parse_any(data).media_type
        with connect(reference, credentials_lookup()) as transport:
            pusher = Pusher(transport, store.blobs, provenance=store.provenance,
                            sessions=store.push_sessions, progress=progress)
            result = pusher.push(reference, data, media_type)
    except BaseException:
        if copied:  # a push that failed leaves no new local name behind (the blobs are shared)
            with contextlib.suppress(Exception):
                store.remove(name)
        raise
    return name, result


def local_digest(store: Store, text: str) -> str | None:
    """The manifest digest ``text`` names in the store, or None when it is not there."""
    from store import Name

    found = store.find(Name.parse(text))
    return None if found is None else str(store.manifest_digest(found))


def resolve_digest(store: Store, text: str, *, insecure: bool = False) -> str:
    """The manifest digest a FROM name resolves to: the store's model, else the registry's."""
    from registry.client import connect, fetch_manifest
    from store import Name

    local = local_digest(store, text)
    if local is not None:
        return local
    reference = reference_for(Name.parse(text), insecure=insecure)
    with connect(reference, credentials_lookup()) as transport:
        return str(fetch_manifest(transport, reference).digest)


LOCK_FORMAT = 1


class LockError(ValueError):
    """A Modelfile.lock that is missing or damaged; the message says what to run."""


def write_lock(path: Path, locked: dict[str, str]) -> None:
    """``{"lamina_lock": 1, "from": {name: digest}}``, sorted, one entry a line (diffs well)."""
    import json

    document = {"lamina_lock": LOCK_FORMAT, "from": dict(sorted(locked.items()))}
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def read_lock(path: Path) -> dict[str, str]:
    import json

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LockError(f"{path}: no lock file; run `lamina lock` first") from None
    except (OSError, ValueError) as exc:
        raise LockError(f"{path}: cannot read the lock ({exc}); run `lamina lock` again") from exc
    names = document.get("from") if isinstance(document, dict) else None
    if (not isinstance(document, dict) or document.get("lamina_lock") != LOCK_FORMAT
            or not isinstance(names, dict)
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in names.items())):
        raise LockError(f"{path} is not a lamina lock file; run `lamina lock` again")
    return dict(names)
