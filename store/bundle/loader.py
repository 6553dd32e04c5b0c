"""``load``: a bundle's models into the store, nothing visible unless all of it checks out.

Every new blob is staged as a temp file in the store's blobs folder, hashed while written
(``BlobStore.stage``); small ones (manifests, configs) are checked in memory. Only when every
blob hashes to its name and every manifest's blobs are there with the sizes it gives are the
blobs published, through the blob store's one publish step, and the manifests written. A
damaged bundle leaves the store as it was. Blobs the store has already are not written.
"""

from __future__ import annotations

import contextlib
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from ocitypes import Digest, Manifest, OCIError

from ..blobs.staging import StagedBlob
from ..errors import storage_errors
from ..models import Store
from ..names import Name
from . import ocilayout
from .members import SMALL, Members, Progress, open_members
from .ocilayout import BundleInvalid

__all__ = ["LoadResult", "load"]


@dataclass(frozen=True, slots=True)
class LoadResult:
    models: tuple[tuple[Name, Digest], ...]
    added: int
    """Blobs the store did not have."""
    present: int
    """Blobs the store had already, skipped without being written."""


@dataclass(slots=True)
class _Staged:
    blobs: dict[Digest, StagedBlob] = field(default_factory=dict)
    small: dict[Digest, bytes] = field(default_factory=dict)
    present: set[Digest] = field(default_factory=set)
    index: bytes | None = None

    def seen(self, digest: Digest) -> bool:
        return digest in self.blobs or digest in self.small or digest in self.present


def load(store: Store, bundle: Path, *, progress: Progress | None = None) -> LoadResult:
    """Import every model in a bundle; nothing becomes visible unless all of it checks out."""
    bundle = Path(bundle)
    staged = _Staged()
    with contextlib.ExitStack() as temps, store.writing():
        with open_members(bundle, progress) as members:
            for member in members:
                _take(store, members, member, staged, temps)
        models = _check(store, staged)
        _publish(store, staged, models)
    manifests = {m.digest for _, m in models}
    added = len(staged.blobs) + len(set(staged.small) - manifests)
    return LoadResult(tuple((n, m.digest) for n, m in models), added, len(staged.present))


def _take(store: Store, members: Members, member: tarfile.TarInfo, staged: _Staged,
          temps: contextlib.ExitStack) -> None:
    name = member.name.removeprefix("./")
    if name == ocilayout.LAYOUT:
        ocilayout.check_layout(members.read(member))
    elif name == ocilayout.INDEX:
        staged.index = members.read(member)
    elif (digest := ocilayout.blob_digest(name)) is None or staged.seen(digest):
        return
    elif store.blobs.exists(digest):
        staged.present.add(digest)
    elif member.size <= SMALL:
        data = members.read(member)
        if Digest.of(data) != digest:
            raise BundleInvalid(f"{member.name} does not hash to its name")
        staged.small[digest] = data
    else:
        blob = temps.enter_context(store.blobs.stage())
        members.stage(member, blob)
        if blob.digest != digest:
            raise BundleInvalid(f"{member.name} hashes to {blob.digest}, not to its name")
        staged.blobs[digest] = blob


def _check(store: Store, staged: _Staged) -> list[tuple[Name, Manifest]]:
    if staged.index is None:
        raise BundleInvalid("it has no index.json")
    models = []
    for name, descriptor in ocilayout.read_index(staged.index):
        data = staged.small.get(descriptor.digest)
        if data is None:
            raise BundleInvalid(f"the manifest of {name} ({descriptor.digest}) is missing")
        try:
            manifest = Manifest.parse(data)
        except OCIError as exc:
            raise BundleInvalid(f"the manifest of {name}: {exc}") from exc
        for needed in manifest.descriptors():
            size = _size_of(store, staged, needed.digest)
            if size is None:
                raise BundleInvalid(f"{name} needs blob {needed.digest}, which is missing")
            if size != needed.size:
                raise BundleInvalid(f"blob {needed.digest} is {size} bytes, {name} says "
                                    f"{needed.size}")
        models.append((name, manifest))
    return models


def _size_of(store: Store, staged: _Staged, digest: Digest) -> int | None:
    if digest in staged.small:
        return len(staged.small[digest])
    if digest in staged.blobs:
        return staged.blobs[digest].size
    if digest in staged.present or store.blobs.exists(digest):
        return store.blobs.size(digest)
    return None


def _publish(store: Store, staged: _Staged, models: list[tuple[Name, Manifest]]) -> None:
    manifest_digests = {m.digest for _, m in models}
    for digest, data in staged.small.items():
        if digest not in manifest_digests:
            store.blobs.put_bytes(data)
    for digest, blob in staged.blobs.items():
        with storage_errors(blob.path, "cannot publish a blob"):
            blob.publish(digest)
    for name, manifest in models:
        store.write_manifest(name, manifest)
