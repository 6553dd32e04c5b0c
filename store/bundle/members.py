"""Reading a bundle's tar member by member, plain or zstd-compressed, without copying blob
bytes through Python more than the format needs.

``tarfile`` parses the headers only (all the name, PAX and GNU rules stay its job); blob bytes
go straight from the bundle into a staged blob's reused buffers: read from the member's
offset for a plain tar, decompressed into them by zstd for a ``.zst`` one. Blobs the caller
skips are seeked past (plain) or decompressed into one scratch buffer and dropped (zstd).
"""

from __future__ import annotations

import contextlib
import io
import os
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..blobs.staging import ReadInto, StagedBlob
from ..errors import storage_errors
from .ocilayout import BundleInvalid

if TYPE_CHECKING:
    from zstandard import ZstdDecompressionReader

__all__ = ["SMALL", "Members", "open_members"]

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
READ_SIZE = 1 << 20
"""Compressed bytes zstd asks the file for at a time."""
SMALL = 4 * 1024 * 1024
"""Manifests and configs are at most this big; they are read and checked in memory."""
Progress = Callable[[int], None]


class Members:
    """The files of one open bundle, in tar order, each read or staged at most once."""

    def __init__(self, tar: tarfile.TarFile, raw: BinaryIO, stream: _Decompressed | None,
                 progress: Progress | None) -> None:
        self._tar = tar
        self._raw = raw
        self._stream = stream
        self._meter = _Meter(progress)

    def __iter__(self) -> Iterator[tarfile.TarInfo]:
        for member in self._tar:
            self._meter.report_to(self._position(member.offset_data))
            if member.isdir():
                continue
            if member.issparse() or not member.isfile():
                raise BundleInvalid(f"{member.name} is a link, device or sparse file; a bundle "
                                    "holds plain files only")
            yield member
        self._meter.report_to(os.fstat(self._raw.fileno()).st_size)

    def read(self, member: tarfile.TarInfo) -> bytes:
        """The bytes of a small member (index, layout, manifest, config)."""
        if member.size > SMALL:
            raise BundleInvalid(f"{member.name} is {member.size} bytes, too big for what it is")
        if self._stream is not None:
            data = self._stream.read(member.size)
        else:
            data = os.pread(self._raw.fileno(), member.size, member.offset_data)
        if len(data) != member.size:
            raise BundleInvalid(f"it ends inside {member.name} (a truncated file?)")
        return data

    def stage(self, member: tarfile.TarInfo, blob: StagedBlob) -> None:
        """Write a member's bytes into a staged blob, hashed on the way."""
        if self._stream is not None:
            done = blob.fill(self._stream.readinto, member.size,
                             lambda _: self._meter.report_to(self._raw.tell()))
        else:
            done = blob.fill(_file_range(self._raw.fileno(), member.offset_data), member.size,
                             self._meter.add)
        if done != member.size:
            raise BundleInvalid(f"it ends inside {member.name} (a truncated file?)")

    def _position(self, plain: int) -> int:
        return self._raw.tell() if self._stream is not None else plain


@contextlib.contextmanager
def open_members(path: Path, progress: Progress | None = None) -> Iterator[Members]:
    """Open a bundle, plain or zstd-compressed (told apart by its first bytes)."""
    with storage_errors(path, "cannot read the bundle"), open(path, "rb") as raw:
        try:
            if raw.read(4) == ZSTD_MAGIC:
                import zstandard

                raw.seek(0)
                reader = zstandard.ZstdDecompressor().stream_reader(
                    raw, read_size=READ_SIZE, read_across_frames=True, closefd=False)
                with reader:
                    stream = _Decompressed(reader)
                    with tarfile.open(fileobj=stream, mode="r:") as tar:  # type: ignore[call-overload]
                        yield Members(tar, raw, stream, progress)
            else:
                raw.seek(0)
                with tarfile.open(fileobj=raw, mode="r:") as tar:
                    yield Members(tar, raw, None, progress)
        except (tarfile.TarError, EOFError) as exc:
            raise BundleInvalid(f"not a readable tar ({exc})") from exc
        except Exception as exc:
            if type(exc).__module__.startswith("zstandard"):
                raise BundleInvalid(f"damaged zstd stream ({exc})") from exc
            raise


def _file_range(fd: int, offset: int) -> ReadInto:
    """Reads of a plain bundle from a member's offset on, past the buffered file tarfile
    reads headers through."""
    position = offset

    def readinto(view: memoryview) -> int:
        nonlocal position
        count = os.preadv(fd, [view], position)
        position += count
        return count

    return readinto


class _Decompressed:
    """A ``.zst`` bundle's decompressed bytes as the file ``tarfile`` reads headers from: it
    seeks forward only (by decompressing into one scratch buffer), which is all a single pass
    over the members needs."""

    def __init__(self, reader: ZstdDecompressionReader) -> None:
        self._reader = reader
        self._position = 0
        self._scratch: memoryview | None = None

    def readinto(self, view: memoryview) -> int:
        count = self._reader.readinto(view) or 0
        self._position += count
        return count

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            raise io.UnsupportedOperation("a bundle is read member by member")
        buffer = bytearray(size)
        view = memoryview(buffer)
        done = 0
        while done < size and (count := self.readinto(view[done:])):
            done += count
        return bytes(view[:done])

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def seek(self, position: int, whence: int = io.SEEK_SET) -> int:
        if whence != io.SEEK_SET or position < self._position:
            raise io.UnsupportedOperation("a compressed bundle is read in one pass")
        if self._scratch is None:
            self._scratch = memoryview(bytearray(READ_SIZE))
        while self._position < position:
            if not self.readinto(self._scratch[: min(READ_SIZE, position - self._position)]):
                break  # the end: tarfile's next read finds nothing and says so
        return self._position


class _Meter:
    """Progress in bytes of the bundle file read so far, from counts or positions."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._reported = 0

    def add(self, count: int) -> None:
        self.report_to(self._reported + count)

    def report_to(self, position: int) -> None:
        if self._progress is not None and position > self._reported:
            self._progress(position - self._reported)
            self._reported = position
