"""The store's manifests as a registry serves them: ``registry.protocols.ManifestStore``.

A repository is ``namespace/model`` on one host (the store's served host, Ollama's registry by
default), so the model ``registry.ollama.ai/library/gemma3-chat:latest`` is served as
``library/gemma3-chat:latest`` straight from its manifest file, with no copy. A bare ``model``
means ``library/model``, as in Ollama's names; anything deeper is refused (``RepositoryInvalid``).

A manifest pushed under a tag is written to ``manifests/`` (Ollama sees it as a model); one pushed
by digest only is kept under ``.lamina/manifests-by-digest/``, fetched by digest and spared by
gc. Bytes are kept exactly: a manifest's digest is its identity. Pushes never prune: a client
uploads blobs before the manifest naming them, and gc's grace period covers that gap.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from ocitypes import MAX_MANIFEST_BYTES, Digest, Index, Manifest, OCIError, mediatypes, parse_any

from .errors import (
    DigestMismatch,
    InvalidName,
    ManifestBlobUnknown,
    ManifestInvalid,
    ModelNotFound,
    StorageError,
)
from .models import Store, _prune_empty_dirs, _write_atomically
from .names import DEFAULT_HOST, DEFAULT_NAMESPACE, DEFAULT_TAG, Name

__all__ = ["Repositories", "RepositoryInvalid", "untagged_digests"]

DIGEST_PREFIX = "sha256:"


class RepositoryInvalid(InvalidName):
    """A repository that is not ``namespace/model`` under Ollama's name rules (NAME_INVALID)."""


class Repositories:
    """Manifests by repository and reference, on ``host``; satisfies ``ManifestStore``."""

    def __init__(self, store: Store, host: str = DEFAULT_HOST) -> None:
        self.store = store
        self.host = host

    # -- reading ---------------------------------------------------------------------------

    def get(self, repository: str, reference: str) -> tuple[bytes, str]:
        """The manifest's exact bytes and media type; ``ModelNotFound`` if absent."""
        namespace, model = self._split(repository)
        if reference.startswith(DIGEST_PREFIX):
            data = self._by_digest(namespace, model, Digest.parse(reference))
        else:
            found = self.store.find(self._name(namespace, model, reference))
            if found is None:
                raise ModelNotFound(f"{repository}:{reference}")
            data = self.store.manifest_bytes(found)
        return data, _media_type(data, f"{repository}@{reference}")

    def tags(self, repository: str) -> Sequence[str]:
        """The repository's tags, sorted; ``ModelNotFound`` for an unknown repository."""
        namespace, model = self._split(repository)
        tags = sorted(name.tag for name in self._tagged(namespace, model))
        if not tags and not self._untagged_folder(namespace, model).is_dir():
            raise ModelNotFound(repository, "no such repository")
        return tags

    def repositories(self) -> Sequence[str]:
        """Every repository on this host, tagged or not, sorted."""
        found = {n.display_namespace_model() for n in self.store.names() if self._on_host(n)}
        for folder in self.store.layout.untagged.glob("*/*/*"):
            host, namespace, model = folder.relative_to(self.store.layout.untagged).parts
            if host == self.host.lower() and any(folder.iterdir()):
                found.add(f"{namespace}/{model}")
        return sorted(found)

    # -- writing ---------------------------------------------------------------------------

    def put(self, repository: str, reference: str, data: bytes, media_type: str) -> Digest:
        """Store the bytes exactly, under the tag or by digest only; returns their digest."""
        namespace, model = self._split(repository)
        where = f"{repository}:{reference}"
        parsed = _parse(data, where, media_type)
        digest = Digest.of(data)
        with self.store.writing():
            self._check_references(namespace, model, parsed, where)
            if reference.startswith(DIGEST_PREFIX):
                expected = Digest.parse(reference)
                if expected != digest:
                    raise DigestMismatch(str(expected), str(digest), what=where)
                path = self._untagged_path(namespace, model, digest)
                _write_atomically(path, data)
            elif isinstance(parsed, Index):
                raise ManifestInvalid(where, "lamina keeps an index by digest only; push it by "
                                             "digest, and tag the image manifests it names")
            else:
                self.store.replace_manifest(self._name(namespace, model, reference), parsed)
        return digest

    def delete(self, repository: str, reference: str) -> None:
        """Remove a tag, or a digest and every tag naming it; ``ModelNotFound`` if absent.
        Blobs stay until gc."""
        namespace, model = self._split(repository)
        with self.store.deleting():
            if reference.startswith(DIGEST_PREFIX):
                paths = self._paths_of(namespace, model, Digest.parse(reference))
            else:
                found = self.store.find(self._name(namespace, model, reference))
                paths = [self.store.manifest_path(found)] if found is not None else []
            if not paths:
                raise ModelNotFound(f"{repository}@{reference}" if reference.startswith(
                    DIGEST_PREFIX) else f"{repository}:{reference}")
            for path in paths:
                _unlink(path)
                _prune_empty_dirs(path.parent, path.parents[3])

    # -- helpers ---------------------------------------------------------------------------

    def _split(self, repository: str) -> tuple[str, str]:
        parts = repository.split("/")
        if len(parts) == 1:
            parts = [DEFAULT_NAMESPACE, *parts]
        if len(parts) != 2:
            raise RepositoryInvalid(repository, "a repository is namespace/model, "
                                                "at most one '/'")
        try:
            Name(self.host, parts[0], parts[1], DEFAULT_TAG)
        except InvalidName as exc:
            raise RepositoryInvalid(repository, exc.reason) from None
        return parts[0], parts[1]

    def _name(self, namespace: str, model: str, tag: str) -> Name:
        try:
            name = Name(self.host, namespace, model, tag)
        except InvalidName as exc:
            raise RepositoryInvalid(f"{namespace}/{model}:{tag}", exc.reason) from None
        self.store.manifest_path(name)  # a name the disk cannot hold is NAME_INVALID too
        return name

    def _on_host(self, name: Name) -> bool:
        return name.host.lower() == self.host.lower()

    def _tagged(self, namespace: str, model: str) -> Iterator[Name]:
        key = (namespace.lower(), model.lower())
        for name in self.store.names():
            if self._on_host(name) and (name.namespace.lower(), name.model.lower()) == key:
                yield name

    def _untagged_folder(self, namespace: str, model: str) -> Path:
        return self.store.layout.untagged / self.host.lower() / namespace.lower() / model.lower()

    def _untagged_path(self, namespace: str, model: str, digest: Digest) -> Path:
        return self.store.layout.untagged_manifest(
            self.host.lower(), namespace.lower(), model.lower(), digest)

    def _paths_of(self, namespace: str, model: str, digest: Digest) -> list[Path]:
        """Every file in the repository holding the manifest with this digest."""
        paths = [self.store.manifest_path(name) for name in self._tagged(namespace, model)
                 if self.store.manifest_digest(name) == digest]
        untagged = self._untagged_path(namespace, model, digest)
        return paths + ([untagged] if untagged.is_file() else [])

    def _by_digest(self, namespace: str, model: str, digest: Digest) -> bytes:
        for path in self._paths_of(namespace, model, digest):
            try:
                return path.read_bytes()
            except FileNotFoundError:
                continue  # deleted meanwhile
            except OSError as exc:
                raise StorageError.from_oserror(exc, path) from exc
        raise ModelNotFound(f"{namespace}/{model}@{digest}")

    def _has_manifest(self, namespace: str, model: str, digest: Digest) -> bool:
        return bool(self._paths_of(namespace, model, digest))

    def _check_references(
        self, namespace: str, model: str, parsed: Manifest | Index, where: str
    ) -> None:
        """Every blob an image manifest names, and every manifest an index names, is here."""
        if isinstance(parsed, Manifest):
            for descriptor in parsed.descriptors():
                if not self.store.blobs.exists(descriptor.digest):
                    raise ManifestBlobUnknown(where, str(descriptor.digest))
            return
        for descriptor in parsed.manifests:
            if not self._has_manifest(namespace, model, descriptor.digest):
                raise ManifestBlobUnknown(where, str(descriptor.digest))


def untagged_digests(store: Store) -> set[Digest]:
    """Every blob the manifests pushed by digest only name, for gc; StoreError if one is
    damaged (what it needs is then unknown)."""
    used: set[Digest] = set()
    for path in store.layout.untagged.glob("*/*/*/sha256-*"):
        try:
            parsed = parse_any(path.read_bytes())
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StorageError.from_oserror(exc, path) from exc
        except OCIError as exc:
            raise ManifestInvalid(str(path), f"{exc} (delete the file, then run gc)") from exc
        if isinstance(parsed, Manifest):
            used |= parsed.digests()
    return used


def _parse(data: bytes, where: str, media_type: str) -> Manifest | Index:
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestInvalid(where, f"is {len(data)} bytes, over the {MAX_MANIFEST_BYTES}-byte "
                                     "limit for a manifest")
    try:
        parsed = parse_any(data)
    except OCIError as exc:
        raise ManifestInvalid(where, str(exc)) from exc
    declared = parsed.media_type
    if media_type and declared and media_type != declared:
        raise ManifestInvalid(where, f"sent as {media_type}, but its mediaType is {declared}")
    if not declared and media_type not in ("", *mediatypes.ALL_MANIFESTS):
        raise ManifestInvalid(where, f"{media_type} is not a manifest media type")
    return parsed


def _media_type(data: bytes, where: str) -> str:
    """The manifest's own ``mediaType``; OCI's when it names none (the spec's default)."""
    try:
        parsed = parse_any(data)
    except OCIError as exc:
        raise ManifestInvalid(where, f"{exc} (the stored manifest is damaged)") from exc
    if parsed.media_type:
        return parsed.media_type
    return mediatypes.OCI_MANIFEST if isinstance(parsed, Manifest) else mediatypes.OCI_INDEX


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise StorageError.from_oserror(exc, path, "cannot delete the manifest") from exc
