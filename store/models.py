"""The model catalogue: manifests by name, listed, copied and removed.

Manifests live at ``manifests/<host>/<namespace>/<model>/<tag>`` and are written atomically
(temp file beside the target, fsync, rename); pulled or created, their bytes are kept exactly.
Names match existing manifests case-insensitively, as Ollama's do, and keep the spelling first
used.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from ocitypes import Digest, Manifest, OCIError

from . import locks
from .errors import (
    BlobNotFound,
    InvalidName,
    ManifestBlobUnknown,
    ManifestInvalid,
    ModelNotFound,
    StorageError,
    StoreError,
)
from .layout import TEMP_PREFIX, Layout
from .names import DEFAULT_HOST, Name

MAX_PATH_BYTES = 4095
"""The longest path Linux and macOS open (PATH_MAX less the terminating NUL)."""
MAX_COMPONENT_BYTES = 255
"""The longest file or folder name most file systems hold (ext4, XFS, APFS, NTFS)."""

if TYPE_CHECKING:
    from .blobs import BlobStore
    from .gguf import GGUFInfo
    from .provenance import ProvenanceLedger
    from .pushsessions import PushSessionLedger
    from .repositories import Repositories


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


@dataclass(frozen=True, slots=True)
class DamagedEntry:
    """A manifest file that does not read as a manifest: listed as damaged, never hidden."""

    name: Name
    problem: str
    modified: float
    digest: Digest | None
    """The digest of its bytes (its ID), or None when the file cannot be read at all."""
    held: frozenset[Digest]
    """The digests its bytes still spell: the blobs it most likely needs."""


_SPELLED_DIGEST = re.compile(rb"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class Removal:
    """What ``rm`` did: the model, its ID, the blobs freed with their sizes, and warnings for
    the user (a damaged manifest, a blob that was already gone)."""

    name: Name
    digest: Digest
    freed: tuple[tuple[Digest, int], ...]
    warnings: tuple[str, ...] = ()

    @property
    def freed_size(self) -> int:
        return sum(size for _, size in self.freed)


@dataclass(frozen=True, slots=True)
class Copy:
    """What ``cp`` did: the name written, its manifest, and the replaced model's blobs that
    nothing needs any more and were deleted."""

    name: Name
    manifest: Manifest
    pruned: tuple[Digest, ...] = ()


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

    def repositories(self, host: str = DEFAULT_HOST) -> Repositories:
        """The manifests of one host as a registry serves them (``ManifestStore``)."""
        from .repositories import Repositories

        return Repositories(self, host)

    @cached_property
    def provenance(self) -> ProvenanceLedger:
        """Which registry repositories hold which blobs (``Provenance``)."""
        from .provenance import ProvenanceLedger

        return ProvenanceLedger(self.layout.provenance)

    @cached_property
    def push_sessions(self) -> PushSessionLedger:
        """Registry upload sessions unfinished pushes left (``PushSessions``)."""
        from .pushsessions import PushSessionLedger

        return PushSessionLedger(self.layout.push_sessions)

    def writing(self) -> AbstractContextManager[None]:
        """Shared hold for work that adds blobs and manifests (create, cp): many at once."""
        return locks.shared(self.layout.store_lock)

    def reading(self) -> AbstractContextManager[None]:
        """Shared hold for a look that must see no half-done delete; none on a read-only
        store, where nothing can be deleted anyway."""
        return locks.shared_if_possible(self.layout.store_lock)

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

    def manifest_path(self, name: Name) -> Path:
        """Where ``name``'s manifest lives; InvalidName when the disk cannot hold that path.

        Ollama's rules allow a 350-character host, but each part becomes a folder or file
        name, so a name that passes them may still be one no file system can store.
        """
        for kind in ("host", "namespace", "model", "tag"):
            size = len(os.fsencode(getattr(name, kind)))
            if size > MAX_COMPONENT_BYTES:
                raise InvalidName(
                    str(name.without_digest()),
                    f"{kind} is {size} bytes long, too long for the folder or file name the "
                    f"store keeps it as (at most {MAX_COMPONENT_BYTES} bytes); use a shorter one",
                )
        path = self.layout.manifest(name)
        length = len(os.fsencode(path))
        if length > MAX_PATH_BYTES:
            raise InvalidName(
                str(name.without_digest()),
                f"its manifest path in this store would be {length} bytes long, too long: over the "
                f"{MAX_PATH_BYTES}-byte limit; use a shorter name or a store nearer the root "
                "(--home)",
            )
        return path

    def find(self, name: Name) -> Name | None:
        """The stored spelling of ``name`` (matched case-insensitively), or None."""
        if self.manifest_path(name).is_file():
            return name.without_digest()
        key = name.casefold_key()
        return next((n for n in self.names() if n.casefold_key() == key), None)

    def resolve(self, text: str | Name) -> Name:
        """An existing model's name; ModelNotFound names what was asked for.

        A name with ``@digest`` must match both: the model of that name, with that ID.
        """
        name = Name.parse(text) if isinstance(text, str) else text
        shown = text if isinstance(text, str) else str(name)
        found = self.find(name)
        if found is None:
            raise ModelNotFound(shown)
        if name.digest is not None:
            actual = self.manifest_digest(found)
            if actual != name.digest:
                raise ModelNotFound(
                    shown,
                    f"'{found.display_shortest()}' has the ID {actual}, not {name.digest}; "
                    "'lamina list' shows each model's ID",
                )
        return found

    def weights_info(self, digest: Digest) -> GGUFInfo:
        """The GGUF header of a stored weights blob; BlobNotFound when the blob is gone."""
        if not self.blobs.exists(digest):
            raise BlobNotFound(str(digest))
        from .gguf import read_info

        return read_info(self.blobs.path(digest))

    # -- manifests ---------------------------------------------------------------------------

    def manifest_bytes(self, name: Name) -> bytes:
        """A manifest file's bytes exactly as stored, whether or not they parse."""
        path = self.manifest_path(name)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            raise ModelNotFound(name.display_shortest()) from None
        except OSError as exc:
            raise StorageError.from_oserror(exc, path) from exc

    def manifest_digest(self, name: Name) -> Digest:
        """The model's ID: the digest of its manifest's bytes (a damaged one has an ID too)."""
        return Digest.of(self.manifest_bytes(name))

    def manifest(self, name: Name) -> Manifest:
        data = self.manifest_bytes(name)
        try:
            return Manifest.parse(data)
        except OCIError as exc:
            raise ManifestInvalid(
                str(self.layout.manifest(name)), f"{exc} (the manifest is damaged; rm the model)"
            ) from exc

    def write_manifest(self, name: Name, manifest: Manifest) -> Name:
        """Publish a manifest under ``name`` (an existing spelling wins); call under ``writing``.

        ManifestBlobUnknown when the manifest names a blob the store lacks.
        """
        for descriptor in manifest.descriptors():
            if not self.blobs.exists(descriptor.digest):
                raise ManifestBlobUnknown(str(name.without_digest()), str(descriptor.digest))
        target_name = self.find(name) or name.without_digest()
        _write_atomically(self.manifest_path(target_name), manifest.bytes())
        return target_name

    def replace_manifest(self, name: Name, manifest: Manifest) -> tuple[Name, Manifest | None]:
        """Publish like :meth:`write_manifest`, and return the manifest it replaced (None if
        none, or a damaged one) for :meth:`prune_replaced`; call under ``writing``.

        A lock per name makes reading the old manifest and writing the new one one step, so
        when writers of one name race, each old manifest is pruned by the writer that
        replaced it and none is left holding blobs.
        """
        key = Digest.of("/".join(name.casefold_key()).encode()).hex
        with locks.exclusive(self.layout.name_lock(key)):
            previous = self.previous_manifest(name)
            return self.write_manifest(name, manifest), previous

    def entries(self) -> list[ModelEntry]:
        """Every model with its manifest and modification time, newest first."""
        return self.survey()[0]

    def survey(self) -> tuple[list[ModelEntry], list[DamagedEntry]]:
        """Every model, and every manifest file that is damaged, each newest first."""
        found: list[ModelEntry] = []
        damaged: list[DamagedEntry] = []
        for name in self.names():
            path = self.layout.manifest(name)
            try:
                modified = path.stat().st_mtime
                found.append(ModelEntry(name, self.manifest(name), modified))
            except (ModelNotFound, FileNotFoundError):
                continue  # removed while we looked
            except (StoreError, OSError) as exc:
                damaged.append(self._damaged(name, path, exc))
        found.sort(key=lambda e: e.modified, reverse=True)
        damaged.sort(key=lambda e: e.modified, reverse=True)
        return found, damaged

    @staticmethod
    def _damaged(name: Name, path: Path, exc: Exception) -> DamagedEntry:
        try:
            data: bytes | None = path.read_bytes()
            modified = path.stat().st_mtime
        except OSError:
            data, modified = None, 0.0
        held = frozenset(
            Digest(m.decode()[len("sha256:"):]) for m in _SPELLED_DIGEST.findall(data or b"")
        )
        digest = Digest.of(data) if data is not None else None
        return DamagedEntry(name, str(exc), modified, digest, held)

    def referenced(self) -> set[Digest]:
        """Every blob some manifest points at.

        Raises StoreError when a manifest cannot be read: what it needs is then unknown, and
        deleting blobs on a guess could break a model that only looks damaged.
        """
        used: set[Digest] = set()
        for name in self.names():
            used |= self.manifest(name).digests()
        if self.layout.untagged.is_dir():
            from .repositories import untagged_digests

            used |= untagged_digests(self)
        return used

    def _orphans(self, digests: frozenset[Digest]) -> list[Digest] | None:
        """Which of ``digests`` no manifest needs; None while some manifest is unreadable."""
        try:
            return sorted(digests - self.referenced())
        except StoreError:
            return None  # gc reports the damaged manifest and deletes nothing until it is fixed

    def _delete_blobs(self, digests: list[Digest]) -> tuple[list[Digest], list[Digest]]:
        """Delete unreferenced blobs; call under ``deleting``. Returns those deleted and those
        already gone (a concurrent prune of the same old manifest, or a damaged store)."""
        deleted: list[Digest] = []
        gone: list[Digest] = []
        for digest in digests:
            try:
                self.blobs.remove(digest)
            except BlobNotFound:
                gone.append(digest)
            else:
                deleted.append(digest)
        return deleted, gone

    def copy(self, source: str | Name, destination: str | Name) -> Copy:
        """Copy a manifest's bytes to a new name; a model replaced there loses the blobs
        nothing else uses, as ``create`` prunes them."""
        target = Name.parse(destination) if isinstance(destination, str) else destination
        target.require_no_digest("destination")
        self.manifest_path(target)  # a name the disk cannot hold is refused before anything
        source_name = self.resolve(source)
        with self.writing():
            manifest = self.manifest(source_name)
            written, previous = self.replace_manifest(target, manifest)
        pruned = self.prune_replaced(previous)
        return Copy(written, manifest, tuple(pruned))

    def previous_manifest(self, name: Name) -> Manifest | None:
        """The manifest a write to ``name`` would replace, to prune after it (None if there is
        none, or it is damaged: its blobs are then unknown, and left for gc)."""
        existing = self.find(name)
        if existing is None:
            return None
        try:
            return self.manifest(existing)
        except (ModelNotFound, ManifestInvalid):
            return None

    def remove(self, name: str | Name) -> Removal:
        """Delete a model and every blob of it no other manifest references.

        A damaged manifest, or one whose blobs are already missing, is deleted all the same,
        with a warning; a damaged manifest's blobs are left for ``gc``.
        """
        warnings: list[str] = []
        with self.deleting():
            found = self.resolve(name)
            data = self.manifest_bytes(found)
            shown = found.display_shortest()
            try:
                descriptors = Manifest.parse(data).descriptors()
            except OCIError as exc:
                descriptors = ()
                warnings.append(f"the manifest of '{shown}' was damaged ({exc}); its blobs are "
                                "left for 'lamina gc'")
            path = self.manifest_path(found)
            try:
                path.unlink()
            except OSError as exc:
                raise StorageError.from_oserror(exc, path) from exc
            _prune_empty_dirs(path.parent, self.layout.manifests)
            sizes = {d.digest: d.size for d in descriptors}
            orphans = self._orphans(frozenset(sizes))
            if orphans is None:
                warnings.append("another manifest is damaged, so no blob was deleted; "
                                "'lamina verify' names it")
            deleted, gone = self._delete_blobs(orphans or [])
        warnings += [f"blob {digest} of '{shown}' was already missing" for digest in gone]
        freed = tuple((digest, sizes[digest]) for digest in deleted)
        return Removal(found, Digest.of(data), freed, tuple(warnings))

    def prune_replaced(self, previous: Manifest | None) -> list[Digest]:
        """After a manifest was replaced, drop the old one's blobs nothing references now.

        Several writers may replace the same manifest at once and prune it each: a blob
        another prune already deleted is simply not deleted again.
        """
        if previous is None:
            return []
        with self.deleting():
            deleted, _ = self._delete_blobs(self._orphans(previous.digests()) or [])
        return deleted


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
