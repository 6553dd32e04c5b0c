"""Keeping a store honest: ``gc`` (unreferenced blobs, stale temp files), ``du`` and ``verify``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ocitypes import Digest

from .errors import BlobNotFound, DigestMismatch, StorageError, StoreError
from .models import Store

GRACE_SECONDS = 3600.0
"""gc leaves younger files alone. lamina's own writers are kept apart by the store lock; the grace
period also spares writers that take no lock (an Ollama sharing the folder) and temp files still
being filled. Age is taken from the inode change time, which linking, renaming and chmod all
refresh."""


@dataclass(frozen=True, slots=True)
class GcReport:
    blobs: tuple[tuple[Digest, int], ...]
    temps: tuple[tuple[Path, int], ...]
    dry_run: bool
    kept: tuple[tuple[Digest, int], ...] = ()
    """Unreferenced blobs left alone because they are younger than the grace period."""

    @property
    def freed(self) -> int:
        return sum(size for _, size in self.blobs) + sum(size for _, size in self.temps)


def gc(store: Store, *, dry_run: bool = False, grace: float = GRACE_SECONDS) -> GcReport:
    """Delete blobs no manifest references and temp files left by killed writers."""
    cutoff = time.time() - grace
    # A dry run deletes nothing, so it needs no exclusive hold: it works on a read-only store.
    with store.reading() if dry_run else store.deleting():
        used = store.referenced()
        blobs: list[tuple[Digest, int]] = []
        kept: list[tuple[Digest, int]] = []
        for digest in store.blobs.digests():
            stat = _stat(store.blobs.path(digest))
            if digest not in used and stat is not None:
                (blobs if stat.st_ctime < cutoff else kept).append((digest, stat.st_size))
        temps = [(path, _size(path)) for path in store.blobs.stale_temps(older_than=grace)]
        # Manifest temp files, pulls and uploads nobody continued (none that a process holds).
        others = [item for item in store.blobs.leftovers(older_than=grace) if item.kind != "temp"]
        if not dry_run:
            for digest, _ in blobs:
                store.blobs.remove(digest)
            for path, _ in temps:
                _unlink(path)
            others = [item for item in others if store.blobs.remove_leftover(item)]
            store.blobs.remove_free_locks(older_than=grace)
        temps += [(item.path, item.size) for item in others]
    return GcReport(tuple(blobs), tuple(temps), dry_run, tuple(kept))


def _stat(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError.from_oserror(exc, path) from exc


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        raise StorageError.from_oserror(exc, path, "cannot delete") from exc


def _size(path: Path) -> int:
    stat = _stat(path)
    return stat.st_size if stat else 0


@dataclass(frozen=True, slots=True)
class DiskUsage:
    models: int
    logical: int
    """What the models would take if each kept its own copy of every layer."""
    stored: int
    """The distinct blobs the models reference, each counted once."""
    on_disk: int
    """Blocks allocated to the blob files, each inode counted once."""
    shared_with_sources: int
    """Blob bytes that are hard links to files outside the store (no extra disk used)."""
    unreferenced: int
    partial: int = 0
    """Pulls in progress or interrupted (``.lamina/partial``), allocated bytes."""
    uploads: int = 0
    """Upload sessions of ``lamina serve`` (``.lamina/uploads``), allocated bytes."""
    temps: int = 0
    """Temp files of interrupted blob and manifest writes, allocated bytes."""
    damaged: int = 0
    """Manifest files that do not read as manifests."""
    held_by_damaged: int = 0
    """Blob bytes no readable manifest needs but a damaged one still names: not unreferenced,
    since gc keeps them until the damaged manifest is fixed or removed."""

    @property
    def saved_by_dedupe(self) -> int:
        return self.logical - self.stored

    def to_json(self) -> dict[str, int]:
        return {
            "models": self.models,
            "logical_bytes": self.logical,
            "stored_bytes": self.stored,
            "on_disk_bytes": self.on_disk,
            "saved_by_dedupe_bytes": self.saved_by_dedupe,
            "shared_with_sources_bytes": self.shared_with_sources,
            "unreferenced_bytes": self.unreferenced,
            "partial_bytes": self.partial,
            "upload_bytes": self.uploads,
            "temp_bytes": self.temps,
            "damaged_manifests": self.damaged,
            "held_by_damaged_bytes": self.held_by_damaged,
        }


def du(store: Store) -> DiskUsage:
    """Logical size, stored size, allocated size and what dedupe and links saved."""
    entries, damaged = store.survey()
    used: dict[Digest, int] = {}
    for entry in entries:
        for descriptor in (entry.manifest.config, *entry.manifest.layers):
            used[descriptor.digest] = descriptor.size
    held = frozenset().union(*(entry.held for entry in damaged))
    seen: set[tuple[int, int]] = set()
    leftover = store.blobs.leftover_bytes()
    on_disk = shared = unreferenced = held_by_damaged = 0
    for digest in store.blobs.digests():
        stat = _stat(store.blobs.path(digest))
        if stat is None:
            continue
        if digest in held and digest not in used:
            held_by_damaged += stat.st_size
        elif digest not in used:
            unreferenced += stat.st_size
        if (stat.st_dev, stat.st_ino) in seen:
            continue
        seen.add((stat.st_dev, stat.st_ino))
        on_disk += stat.st_blocks * 512
        if stat.st_nlink > 1:
            shared += stat.st_size
    return DiskUsage(
        models=len(entries),
        logical=sum(entry.manifest.total_size for entry in entries),
        stored=sum(used.values()),
        on_disk=on_disk,
        shared_with_sources=shared,
        unreferenced=unreferenced,
        partial=leftover["partial"],
        uploads=leftover["upload"],
        temps=leftover["temp"] + leftover["manifest-temp"],
        damaged=len(damaged),
        held_by_damaged=held_by_damaged,
    )


@dataclass(frozen=True, slots=True)
class VerifyReport:
    checked: int = 0
    corrupt: tuple[tuple[Digest, str], ...] = ()  # digest, the digest its contents hash to
    missing: tuple[tuple[Digest, str], ...] = ()  # digest, a model that needs it
    damaged_manifests: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.corrupt or self.missing or self.damaged_manifests)


def verify(store: Store, *, progress: Callable[[int], None] | None = None) -> VerifyReport:
    """Re-hash every blob; report corrupt ones, and blobs manifests need that are gone."""
    needed: dict[Digest, str] = {}
    damaged = []
    for name in store.names():
        try:
            manifest = store.manifest(name)
        except StoreError as exc:
            damaged.append(f"{name.display_shortest()}: {exc}")
            continue
        for digest in manifest.digests():
            needed.setdefault(digest, name.display_shortest())
    corrupt: list[tuple[Digest, str]] = []
    checked: set[Digest] = set()
    for digest in sorted(store.blobs.digests()):
        try:
            store.blobs.verify(digest, progress=progress)
        except DigestMismatch as exc:
            corrupt.append((digest, exc.actual))
        except BlobNotFound:
            continue  # removed while we worked: neither checked nor corrupt
        checked.add(digest)
    missing = tuple((d, model) for d, model in sorted(needed.items()) if d not in checked)
    return VerifyReport(len(checked), tuple(corrupt), missing, tuple(damaged))


def total_blob_bytes(store: Store) -> int:
    """Sum of blob sizes, for sizing a verify progress bar."""
    return sum(_size(store.blobs.path(d)) for d in store.blobs.digests())
