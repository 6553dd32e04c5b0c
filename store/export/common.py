"""What every export shares: its report, the ledger bookkeeping and ledger-driven removal."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ocitypes import Descriptor

from ..errors import BlobNotFound, StorageError, storage_errors
from ..link import LinkMethod, fsync_dir
from ..models import Store
from ..names import Name
from .errors import ExportConflict, ExportError
from .ledger import Entry, Ledger, Placed
from .placing import place_file, remove_empty_dirs

__all__ = ["ExportResult", "PlacedFile", "RemoveResult", "Session", "remove_export"]


@dataclass(frozen=True, slots=True)
class PlacedFile:
    """One file an export made sure of; ``method`` says how (or that it was already there)."""

    path: Path
    role: str
    """``manifest``, ``blob``, ``weights``, ``shard``, ``projector`` or ``model.yaml``."""
    method: str
    """A link method, ``written``, ``present`` (there already) or ``unchanged``."""
    size: int

    @property
    def new_bytes(self) -> int:
        """Bytes this file added to the disk (a copy's; a link's are shared)."""
        return self.size if self.method in ("copy", "written") else 0


@dataclass(frozen=True, slots=True)
class ExportResult:
    target: str
    root: Path
    name: Name
    files: tuple[PlacedFile, ...]
    warnings: tuple[str, ...] = ()

    @property
    def new_bytes(self) -> int:
        return sum(f.new_bytes for f in self.files)


@dataclass(frozen=True, slots=True)
class RemoveResult:
    target: str
    root: Path
    name: str
    removed: tuple[Path, ...]
    kept: tuple[tuple[Path, str], ...]


@dataclass(slots=True)
class Session:
    """One export in progress: places files and records them in the ledger entry."""

    store: Store
    ledger: Ledger
    entry: Entry
    force: bool
    method: LinkMethod | None
    trust_size: bool = True
    """Take a file of the right size at a blob's name as that blob (Ollama's own rule); off
    where file names do not spell digests."""
    files: list[PlacedFile] = field(default_factory=list)
    unsynced: set[Path] = field(default_factory=set)
    """Folders that got new names not yet made durable (:meth:`sync`)."""

    def record(self, path: Path) -> None:
        self.entry.files = [p for p in self.entry.files if p.path != str(path)]
        self.entry.files.append(Placed.of(path))

    def owns(self, path: Path) -> bool:
        """Whether lamina placed the file now at ``path`` (for this model or another)."""
        text = str(path)
        mine = any(p.path == text and p.still_ours() for p in self.entry.files)
        return mine or self.ledger.owner_of(path) is not None

    def check_free(self, descriptor: Descriptor, dst: Path) -> None:
        """Refuse early, before anything is placed, when a file not lamina's is in the way."""
        if self.trust_size or self.force or not os.path.lexists(dst) or self.owns(dst):
            return
        if not _same_file(self.store.blobs.path(descriptor.digest), dst):
            raise ExportConflict(str(dst), "a file lamina did not place")

    def link_blob(self, descriptor: Descriptor, dst: Path, role: str) -> None:
        """Make ``dst`` hold a stored blob; a file of the right size there already is kept."""
        src = self.store.blobs.path(descriptor.digest)
        try:
            size = os.stat(src).st_size
        except FileNotFoundError:
            raise BlobNotFound(str(descriptor.digest)) from None
        if size != descriptor.size:
            raise ExportError(f"blob {descriptor.digest} in the store is {size} bytes, its "
                              f"manifest says {descriptor.size}; run 'lamina verify'")
        replace = False
        if os.path.lexists(dst):
            if _same_file(src, dst) or (_size(dst) == size and (self.trust_size
                                                                 or self.owns(dst))):
                if self.owns(dst):
                    self.record(dst)
                self.files.append(PlacedFile(dst, role, "present", size))
                return
            if not self.force and not self.owns(dst):
                raise ExportConflict(str(dst), f"a file of {_size(dst)} bytes")
            replace = True
        used = place_file(src, dst, self.method, replace=replace, sync_dir=False)
        self.unsynced.add(dst.parent)
        self.record(dst)
        self.files.append(PlacedFile(dst, role, used.value, size))


    def sync(self) -> None:
        """Make every name placed so far durable: one fsync per folder, not per file."""
        with storage_errors(self.entry.root, "cannot sync"):
            for folder in sorted(self.unsynced):
                fsync_dir(folder)
        self.unsynced.clear()


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return -1


InUse = Callable[[Path], str | None]


def remove_export(store: Store, target: str, root: Path, name: str,
                  in_use: InUse | None = None) -> RemoveResult:
    """Delete what the ledger says one export placed, sparing anything replaced or shared."""
    wanted = _ledger_name(name)
    with Ledger(store.layout).editing() as ledger:
        entry = next((e for e in ledger.entries if e.target == target and e.root == str(root)
                      and e.model.lower() == wanted.lower()), None)
        if entry is None:
            raise ExportError(f"lamina has not exported {name} to {root}; nothing to remove "
                              "(see where with --dir)")
        removed: list[Path] = []
        kept: list[tuple[Path, str]] = []
        # Manifests and model.yaml files go first, so that nothing names a blob being removed.
        for placed in sorted(entry.files, key=lambda p: f"{os.sep}blobs{os.sep}" in p.path):
            path = Path(placed.path)
            reason = _keep_reason(ledger, entry, placed, in_use)
            if reason is None:
                with storage_errors(path, "cannot remove"):
                    path.unlink()
                removed.append(path)
            elif reason:
                kept.append((path, reason))
        left = [d for d in entry.dirs if d not in remove_empty_dirs(entry.dirs)]
        ledger.drop(entry)
        _hand_over(ledger, entry, left)
    return RemoveResult(target, root, entry.model, tuple(removed), tuple(kept))


def _hand_over(ledger: Ledger, gone: Entry, dirs: list[str]) -> None:
    """Folders lamina made that still hold another export's files pass to that export, so the
    last removal takes them away."""
    heir = next((e for e in ledger.entries if (e.target, e.root) == (gone.target, gone.root)),
                None)
    if heir is not None:
        heir.dirs.extend(d for d in dirs if d not in heir.dirs)


def _keep_reason(ledger: Ledger, entry: Entry, placed: Placed, in_use: InUse | None) -> str | None:
    """Why a recorded file must stay (empty text: it is gone already), or None to remove it."""
    path = Path(placed.path)
    if not os.path.lexists(path):
        return ""
    if not placed.still_ours():
        return "replaced since lamina placed it; not lamina's file any more"
    if ledger.owner_of(path, besides=entry) is not None:
        return "another export by lamina uses it"
    if in_use is not None:
        return in_use(path)
    return None


def _ledger_name(text: str) -> str:
    try:
        return str(Name.parse(text).without_digest())
    except ValueError:
        return text


def check_storage(path: Path) -> None:
    """Fail early, with advice, when a target folder cannot be written."""
    if path.exists() and not os.access(path, os.W_OK):
        raise StorageError(str(path), "permission denied; check who owns this folder")
