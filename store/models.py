"""The model catalogue: manifests by name, listed, copied and removed.

Manifests live at ``manifests/<host>/<namespace>/<model>/<tag>`` and are written atomically
(temp file beside the target, fsync, rename); pulled or created, their bytes are kept exactly.
Names match existing manifests case-insensitively, as Ollama's do, and keep the spelling first
used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ocitypes import Digest, Manifest, OCIError

from . import locks
from .errors import BlobNotFound, ManifestInvalid, ModelNotFound, StorageError, StoreError
from .layout import TEMP_PREFIX, Layout
from .names import Name

if TYPE_CHECKING:
    from .blobs import BlobStore
    from .gguf import GGUFInfo


def default_root() -> Path:
    """``$LAMINA_HOME``, else the platform's user data folder for lamina."""
    configured = os.environ.get("LAMINA_HOME")
    if configured:
        return Path(configured)
    import platformdirs  # imported here: only a store without LAMINA_HOME needs it

    return platformdirs.user_data_path("lamina")


@dataclass(frozen=True, slots=True)
class ModelEntry:
    name: Name
    manifest: Manifest
    modified: float

    @property
    def digest(self) -> Digest:
        return self.manifest.digest


class Store:
    """A store root: its blobs, its manifests and the lock that keeps writers and deleters apart."""

    def __init__(self, root: Path | None = None) -> None:
        self.layout = Layout(Path(root) if root is not None else default_root())

    @cached_property
    def blobs(self) -> BlobStore:
        # made when first used, so that listing names and manifests loads no blob-writing code
        from .blobs import BlobStore

        return BlobStore(self.layout)

    @property
    def root(self) -> Path:
        return self.layout.root

    def writing(self) -> AbstractContextManager[None]:
        """Shared hold for work that adds blobs and manifests (create, cp): many at once."""
        return locks.shared(self.layout.store_lock)

    def deleting(self) -> AbstractContextManager[None]:
        """Exclusive hold for work that deletes blobs (rm, gc, pruning): alone."""
        return locks.exclusive(self.layout.store_lock)

    # -- names -------------------------------------------------------------------------------

    def names(self) -> Iterator[Name]:
        """Every model name with a manifest file, in path order."""
        base = self.layout.manifests
        if not base.is_dir():
            return
        for path in sorted(base.glob("*/*/*/*")):
            if not path.is_file() or path.name.startswith("."):
                continue
            host, namespace, model, tag = path.relative_to(base).parts
            try:
                yield Name.from_parts(host, namespace, model, tag)
            except ValueError:
                continue  # a stray file Ollama would not list either

    def find(self, name: Name) -> Name | None:
        """The stored spelling of ``name`` (matched case-insensitively), or None."""
        if self.layout.manifest(name).is_file():
            return name.without_digest()
        key = name.casefold_key()
        return next((n for n in self.names() if n.casefold_key() == key), None)

    def resolve(self, text: str | Name) -> Name:
        """An existing model's name; ModelNotFound names what was asked for."""
        name = Name.parse(text) if isinstance(text, str) else text
        if name.digest is not None:
            return self._by_digest(name)
        found = self.find(name)
        if found is None:
            raise ModelNotFound(text if isinstance(text, str) else name.display_shortest())
        return found

    def _by_digest(self, name: Name) -> Name:
        for candidate in self.names():
            try:
                if self.manifest(candidate).digest == name.digest:
                    return candidate
            except StoreError:
                continue  # a damaged manifest cannot be the one asked for
        raise ModelNotFound(str(name))

    def weights_info(self, digest: Digest) -> GGUFInfo:
        """The GGUF header of a stored weights blob; BlobNotFound when the blob is gone."""
        if not self.blobs.exists(digest):
            raise BlobNotFound(str(digest))
        from .gguf import read_info

        return read_info(self.blobs.path(digest))

    # -- manifests ---------------------------------------------------------------------------

    def manifest(self, name: Name) -> Manifest:
        path = self.layout.manifest(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelNotFound(name.display_shortest()) from None
        except OSError as exc:
            raise StorageError.from_oserror(exc, path) from exc
        try:
            return Manifest.parse(data)
        except OCIError as exc:
            raise ManifestInvalid(
                str(path), f"{exc} (the manifest is damaged; rm the model)"
            ) from exc

    def write_manifest(self, name: Name, manifest: Manifest) -> Name:
        """Publish a manifest under ``name`` (an existing spelling wins); call under ``writing``."""
        for descriptor in (manifest.config, *manifest.layers):
            if not self.blobs.exists(descriptor.digest):
                raise StoreError(
                    f"blob {descriptor.digest} vanished while the model was being written "
                    "(another lamina process removed it); run the command again"
                )
        target_name = self.find(name) or name.without_digest()
        _write_atomically(self.layout.manifest(target_name), manifest.bytes())
        return target_name

    def entries(self) -> list[ModelEntry]:
        """Every model with its manifest and modification time, newest first."""
        found = []
        for name in self.names():
            path = self.layout.manifest(name)
            try:
                found.append(ModelEntry(name, self.manifest(name), path.stat().st_mtime))
            except StoreError:
                continue
        return sorted(found, key=lambda e: e.modified, reverse=True)

    def referenced(self) -> set[Digest]:
        """Every blob some manifest points at.

        Raises StoreError when a manifest cannot be read: what it needs is then unknown, and
        deleting blobs on a guess could break a model that only looks damaged.
        """
        used: set[Digest] = set()
        for name in self.names():
            used |= self.manifest(name).digests()
        return used

    def _orphans(self, digests: frozenset[Digest]) -> list[Digest]:
        """Which of ``digests`` no manifest needs; none while some manifest is unreadable."""
        try:
            return sorted(digests - self.referenced())
        except StoreError:
            return []  # gc reports the damaged manifest and deletes nothing until it is fixed

    def copy(self, source: str | Name, destination: str | Name) -> Name:
        """Copy a manifest's bytes to a new name; no blob is touched."""
        source_name = self.resolve(source)
        target = Name.parse(destination) if isinstance(destination, str) else destination
        with self.writing():
            return self.write_manifest(target, self.manifest(source_name))

    def remove(self, name: str | Name) -> tuple[Name, list[Digest]]:
        """Delete a model and every blob of it no other manifest references.

        A damaged manifest is deleted all the same; its blobs are left for ``gc``.
        """
        with self.deleting():
            found = self.resolve(name)
            try:
                digests = self.manifest(found).digests()
            except StoreError:
                digests = frozenset()
            path = self.layout.manifest(found)
            try:
                path.unlink()
            except OSError as exc:
                raise StorageError.from_oserror(exc, path) from exc
            _prune_empty_dirs(path.parent, self.layout.manifests)
            orphans = self._orphans(digests)
            for digest in orphans:
                self.blobs.remove(digest)
        return found, orphans

    def prune_replaced(self, previous: Manifest | None) -> list[Digest]:
        """After a manifest was replaced, drop the old one's blobs nothing references now."""
        if previous is None:
            return []
        with self.deleting():
            orphans = self._orphans(previous.digests())
            for digest in orphans:
                self.blobs.remove(digest)
        return orphans


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        import tempfile  # here: only writing a manifest needs it

        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        from .link import fsync_dir

        fsync_dir(path.parent)
    except OSError as exc:
        raise StorageError.from_oserror(exc, path, "cannot write manifest") from exc


def _prune_empty_dirs(start: Path, stop: Path) -> None:
    current = start
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent
