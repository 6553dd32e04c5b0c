"""Writing and reading bundles: a tar streamed in one pass, through zstd when the file name ends
in ``.zst`` (multi-threaded compression, constant memory either way).

``save`` writes into a temp file beside the target and renames it at the end, so a bundle that
exists is complete. ``load`` stages every new blob as a temp file in the store's blobs folder,
hashed while written; only when every blob and manifest has checked out are the blobs renamed
into place and the manifests written. A damaged bundle leaves the store as it was.
"""

from __future__ import annotations

import contextlib
import os
import tarfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from ocitypes import Descriptor, Digest, Manifest, OCIError

from ..errors import StorageError, storage_errors
from ..hashcache import Hasher
from ..layout import TEMP_PREFIX
from ..models import Store
from ..names import Name
from . import ocilayout
from .ocilayout import BundleInvalid

__all__ = ["LoadResult", "SaveResult", "load", "save"]

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
ZSTD_LEVEL = 1
"""Weights barely compress; level 1 gets most of what there is at disk speed."""
Progress = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class SaveResult:
    path: Path
    models: tuple[tuple[Name, Digest], ...]
    blobs: int
    size: int
    """Bytes of the bundle file."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    models: tuple[tuple[Name, Digest], ...]
    added: int
    """Blobs the store did not have."""
    present: int
    """Blobs the store had already, skipped without being written."""


def compressed(path: Path) -> bool:
    return path.name.endswith(".zst")


# -- save --------------------------------------------------------------------------------------


def save(store: Store, names: Sequence[str], out: Path, *, progress: Progress | None = None,
         threads: int = -1) -> SaveResult:
    """Write the named models (config, layers, manifests) as one OCI-layout tar."""
    models: list[tuple[Name, Manifest]] = []
    for text in names:
        name = store.resolve(text)
        if all(name != seen for seen, _ in models):
            models.append((name, store.manifest(name)))
    blobs: dict[Digest, Descriptor] = {}
    for _, manifest in models:
        for descriptor in manifest.descriptors():
            blobs.setdefault(descriptor.digest, descriptor)
    out = Path(out)
    if out.is_dir():
        raise StorageError(str(out), "is a folder; give the bundle's file name (-o models.tar)")
    if not out.parent.is_dir():
        raise StorageError(str(out.parent), "no such folder for the bundle; create it first")
    temp = out.with_name(f".{out.name}.{uuid.uuid4().hex}.partial")
    try:
        with storage_errors(out, "cannot write the bundle"), open(temp, "wb") as raw:
            with _sink(raw, compressed(out), threads) as sink:
                _member(sink, ocilayout.LAYOUT, ocilayout.LAYOUT_BYTES)
                for _, manifest in models:
                    _member(sink, ocilayout.blob_name(manifest.digest), manifest.bytes())
                for digest, descriptor in blobs.items():
                    with store.blobs.open(digest) as source:
                        _stream_member(sink, ocilayout.blob_name(digest), source,
                                       descriptor.size, progress)
                _member(sink, ocilayout.INDEX, ocilayout.index_bytes(models))
                sink.write(bytes(BLOCK * 2))
            raw.flush()
            os.fsync(raw.fileno())
        with storage_errors(out, "cannot write the bundle"):
            os.replace(temp, out)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
    return SaveResult(out, tuple((n, m.digest) for n, m in models), len(blobs) + len(models),
                      out.stat().st_size)


@contextlib.contextmanager
def _sink(raw: BinaryIO, zstd: bool, threads: int) -> Iterator[IO[bytes]]:
    if not zstd:
        yield raw
        return
    import zstandard

    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=threads)
    with compressor.stream_writer(raw, closefd=False, write_size=CHUNK) as writer:
        yield writer


def _header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0  # reproducible: the same models give the same bundle
    return info.tobuf(tarfile.PAX_FORMAT)


def _member(sink: IO[bytes], name: str, data: bytes) -> None:
    sink.write(_header(name, len(data)))
    sink.write(data)
    sink.write(bytes(-len(data) % BLOCK))


def _stream_member(sink: IO[bytes], name: str, source: BinaryIO, size: int,
                   progress: Progress | None) -> None:
    sink.write(_header(name, size))
    left = size
    while left:
        chunk = source.read(min(CHUNK, left))
        if not chunk:
            raise StorageError(name, "a blob was shorter than its manifest says; run "
                               "'lamina verify'")
        sink.write(chunk)
        left -= len(chunk)
        if progress is not None:
            progress(len(chunk))
    sink.write(bytes(-size % BLOCK))


# -- load --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Staged:
    blobs: dict[Digest, Path]
    small: dict[Digest, bytes]
    present: set[Digest]
    index: bytes | None = None


def load(store: Store, bundle: Path, *, progress: Progress | None = None) -> LoadResult:
    """Import every model in a bundle; nothing becomes visible unless all of it checks out."""
    bundle = Path(bundle)
    staged = _Staged({}, {}, set())
    try:
        with store.writing():
            with (storage_errors(bundle, "cannot read the bundle"),
                  open(bundle, "rb") as raw, _tar(raw) as tar):
                _read_members(store, tar, staged, progress)
            models = _check(store, staged)
            _publish(store, staged, models)
    finally:
        for temp in staged.blobs.values():
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    manifests = {m.digest for _, m in models}
    added = len(staged.blobs) + len(set(staged.small) - manifests)
    return LoadResult(tuple((n, m.digest) for n, m in models), added, len(staged.present))


@contextlib.contextmanager
def _tar(raw: BinaryIO) -> Iterator[tarfile.TarFile]:
    head = raw.read(4)
    raw.seek(0)
    try:
        if head == ZSTD_MAGIC:
            import zstandard

            decompressor = zstandard.ZstdDecompressor()
            with (decompressor.stream_reader(raw, read_size=CHUNK) as reader,
                  tarfile.open(fileobj=reader, mode="r|", bufsize=CHUNK) as tar):
                yield tar
        else:
            with tarfile.open(fileobj=raw, mode="r:") as tar:
                yield tar
    except (tarfile.TarError, EOFError) as exc:
        raise BundleInvalid(f"not a readable tar ({exc})") from exc
    except Exception as exc:
        if type(exc).__module__.startswith("zstandard"):
            raise BundleInvalid(f"damaged zstd stream ({exc})") from exc
        raise


def _read_members(store: Store, tar: tarfile.TarFile, staged: _Staged,
                  progress: Progress | None) -> None:
    for member in tar:
        name = member.name
        if member.isdir():
            continue
        if not member.isfile():
            raise BundleInvalid(f"{name} is a link or device; a bundle holds files only")
        if name.lstrip("./") == ocilayout.LAYOUT:
            ocilayout.check_layout(_small(tar, member))
        elif name.lstrip("./") == ocilayout.INDEX:
            staged.index = _small(tar, member)
        elif (digest := ocilayout.blob_digest(name)) is not None:
            if digest in staged.blobs or digest in staged.small or digest in staged.present:
                continue
            if store.blobs.exists(digest):
                staged.present.add(digest)
            elif member.size <= 4 * 1024 * 1024:  # manifests and configs: checked in memory
                data = _small(tar, member)
                if Digest.of(data) != digest:
                    raise BundleInvalid(f"{name} does not hash to its name")
                staged.small[digest] = data
            else:
                staged.blobs[digest] = _stage(store, tar, member, digest, progress)


def _small(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > 4 * 1024 * 1024:
        raise BundleInvalid(f"{member.name} is {member.size} bytes, too big for what it is")
    handle = tar.extractfile(member)
    assert handle is not None
    return handle.read()


def _stage(store: Store, tar: tarfile.TarFile, member: tarfile.TarInfo, digest: Digest,
           progress: Progress | None) -> Path:
    """Copy one blob into a temp file in the store's blobs folder, hashing it on the way (in a
    second thread, so that hashing overlaps reading, decompressing and writing)."""
    blobs = store.layout.blobs
    temp = blobs / f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}"
    handle = tar.extractfile(member)
    assert handle is not None
    with storage_errors(blobs, "cannot stage a blob"):
        blobs.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with _BackgroundHasher() as hasher:
                while chunk := handle.read(CHUNK):
                    hasher.feed(chunk)
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                    if progress is not None:
                        progress(len(chunk))
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            temp.unlink()
            raise
        os.close(fd)
    if hasher.digest != digest:
        temp.unlink()
        raise BundleInvalid(f"{member.name} hashes to {hasher.digest}, not to its name")
    return temp


class _BackgroundHasher:
    """SHA-256 in a worker thread (hashlib lets go of the GIL), fed through a short queue so
    memory stays bounded: at most a few chunks wait."""

    def __init__(self) -> None:
        import queue
        import threading

        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._hasher = Hasher(None)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.digest: Digest | None = None

    def __enter__(self) -> _BackgroundHasher:
        self._thread.start()
        return self

    def feed(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._hasher.update(memoryview(chunk))

    def __exit__(self, *exc: object) -> None:
        self._queue.put(None)
        self._thread.join()
        self.digest = self._hasher.digest()


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
        return staged.blobs[digest].stat().st_size
    if digest in staged.present or store.blobs.exists(digest):
        return store.blobs.size(digest)
    return None


def _publish(store: Store, staged: _Staged, models: list[tuple[Name, Manifest]]) -> None:
    manifest_digests = {m.digest for _, m in models}
    for digest, data in staged.small.items():
        if digest not in manifest_digests:
            store.blobs.put_bytes(data)
    shelf = store.blobs._shelf  # the blob store's one publish step, for files already hashed
    for digest, temp in staged.blobs.items():
        with storage_errors(temp, "cannot publish a blob"), shelf.lock(digest):
            shelf.rename_into_place(temp, digest)
    for name, manifest in models:
        store.write_manifest(name, manifest)
