"""``save``: models into one bundle, a tar streamed in one pass, through zstd when the file name
ends in ``.zst`` (multi-threaded compression, constant memory either way).

The bundle is written into a temp file beside the target and renamed at the end, so a bundle
that exists is complete. ``loader`` reads it back.
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

from ocitypes import Descriptor, Digest, Manifest

from ..errors import StorageError, storage_errors
from ..models import Store
from ..names import Name
from . import ocilayout

__all__ = ["SaveResult", "save"]

CHUNK = 1 << 20
BLOCK = tarfile.BLOCKSIZE
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
