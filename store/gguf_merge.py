"""Merge the shards of a split GGUF into one GGUF file, streamed.

A split model is a set of files named ``<prefix>-00001-of-0000N.gguf`` and so on. Every shard
carries ``split.no`` (0-based), ``split.count`` and ``split.tensors.count``; shard 0 holds the real
metadata, and each shard holds some of the tensors. The store keeps one blob per model, so lamina
joins the shards into the file an unsplit writer would have produced:

- GGUF version 3, little-endian;
- shard 0's key-value pairs in their order, copied byte for byte, without the split keys;
- every shard's tensor infos in shard order, offsets recomputed for the one data section;
- the header and each tensor's data padded with zeros to shard 0's ``general.alignment``.

``plan_merge`` reads only the headers; ``MergePlan.chunks`` streams the file from the shards, so
memory stays at one chunk however large the model is. The format is described in ggml's
``docs/gguf.md``.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from store._gguf_scan import DEFAULT_ALIGNMENT, Header
from store.errors import GGUFError, advice_for
from store.gguf import read_header

__all__ = ["MergePlan", "plan_merge", "shard_group"]

SHARD_NAME = re.compile(r"^(.*)-(\d{5})-of-(\d{5})\.gguf$")
SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")
DEFAULT_CHUNK_SIZE = 8 << 20
_VERSION = 3
_HEADER = struct.Struct("<4sIQQ")  # magic, version, tensor count, key-value count
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class _Range:
    """``length`` bytes of ``path`` from byte ``start``."""

    path: Path
    start: int
    length: int


@dataclass(frozen=True, slots=True)
class _Zeros:
    """``length`` zero bytes of padding, made a chunk at a time (an alignment may be huge)."""

    length: int


_Piece = bytes | _Range | _Zeros  # the merged file is these pieces, one after the other


@dataclass(frozen=True)
class MergePlan:
    """One GGUF assembled from the shards of a split one; ``chunks()`` streams its bytes."""

    shards: tuple[Path, ...]
    size: int  # the merged file's exact size in bytes
    _pieces: tuple[_Piece, ...] = field(repr=False, compare=False)
    _seen: tuple[tuple[int, int], ...] = field(repr=False, compare=False)  # size, mtime per shard

    def chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE) -> Iterator[bytes]:
        """The merged file as chunks of ``chunk_size`` bytes (the last may be shorter)."""
        if chunk_size <= 0:
            raise ValueError(f"chunk_size must be positive, not {chunk_size}")
        return self._stream(chunk_size)

    def _stream(self, chunk_size: int) -> Iterator[bytes]:
        buffer = bytearray()
        with _ShardFiles(self.shards, self._seen) as files:
            for piece in self._pieces:
                done, length = 0, _length(piece)
                while done < length:
                    n = min(length - done, chunk_size - len(buffer))
                    if isinstance(piece, _Range):
                        data = files.read(piece.path, piece.start + done, n)
                    else:
                        data = piece[done : done + n] if isinstance(piece, bytes) else bytes(n)
                    done += n
                    if not buffer and n == chunk_size:
                        yield data  # a whole chunk straight from the read, without a copy
                        continue
                    buffer += data
                    if len(buffer) == chunk_size:
                        yield bytes(buffer)
                        buffer.clear()
        if buffer:
            yield bytes(buffer)


def shard_group(path: str | os.PathLike[str]) -> tuple[str, int, int] | None:
    """``(prefix, number, count)`` when the file is named like a split GGUF's shard, else None."""
    match = SHARD_NAME.match(Path(path).name)
    if match is None:
        return None
    return match.group(1), int(match.group(2)), int(match.group(3))


def plan_merge(first_or_any_shard_paths: Sequence[str | os.PathLike[str]]) -> MergePlan:
    """Check a split GGUF's shards and plan their merge; raises GGUFError naming the bad file."""
    shards = _shard_paths([Path(p) for p in first_or_any_shard_paths])
    headers: list[Header] = []
    seen: list[tuple[int, int]] = []
    for path in shards:
        header, status = read_header(path)
        headers.append(header)
        seen.append((status.st_size, status.st_mtime_ns))
    arch = _architecture(headers[0])
    total = sum(len(header.tensors) for header in headers)
    for number, (path, header) in enumerate(zip(shards, headers, strict=True)):
        _check_shard(path, header, number, len(shards), arch=arch, total=total)
    _check_unique_names(shards, headers)
    pieces = _pieces(shards, headers, arch)
    return MergePlan(shards, sum(map(_length, pieces)), pieces, tuple(seen))


# --- finding and checking the shards -------------------------------------------------------------


def _shard_paths(paths: list[Path]) -> tuple[Path, ...]:
    """Every shard of the split model the given shards belong to, in order."""
    if not paths:
        raise ValueError("plan_merge needs the path of at least one shard")
    first = paths[0]
    prefix, _, count = _group(first)
    for path in paths:
        if path.parent != first.parent or _group(path)[::2] != (prefix, count):
            raise GGUFError(str(path), f"not a shard of the same split model as {first}")
    shards = tuple(
        first.parent / f"{prefix}-{number:05d}-of-{count:05d}.gguf"
        for number in range(1, count + 1)
    )
    for number, path in enumerate(shards, start=1):
        if not path.exists():
            raise GGUFError(
                str(path), f"missing: shard {number} of {count} is needed to merge the model"
            )
    return shards


def _group(path: Path) -> tuple[str, int, int]:
    group = shard_group(path)
    if group is None:
        raise GGUFError(
            str(path), "not named like a shard of a split GGUF (<name>-00001-of-00002.gguf)"
        )
    _, number, count = group
    if not 1 <= number <= count:
        raise GGUFError(str(path), f"shard number {number} is outside 1 to {count}")
    return group


def _architecture(header: Header) -> str:
    arch = header.metadata.get("general.architecture")
    return arch if isinstance(arch, str) else ""


def _check_shard(
    path: Path, header: Header, number: int, count: int, *, arch: str, total: int
) -> None:
    """The shard's byte order, split keys, architecture and tensor types allow the merge."""
    name = str(path)
    if header.byte_order != "<":
        raise GGUFError(name, "a big-endian GGUF shard; lamina merges only little-endian ones")
    _check_split_keys(name, header, number, count, arch=arch, total=total)
    own = _architecture(header)
    if own and own != arch:
        raise GGUFError(
            name, f"architecture {own!r} differs from shard 1's {arch!r}; the shards do not match"
        )
    for tensor in header.tensors:
        if tensor.n_bytes is None:
            raise GGUFError(
                name,
                f"tensor {tensor.name!r} has ggml type {tensor.ggml_type}, "
                "which lamina cannot size, so the shards cannot be merged",
            )


def _check_split_keys(
    name: str, header: Header, number: int, count: int, *, arch: str, total: int
) -> None:
    split_no = _split_value(header, "split.no", arch)
    split_count = _split_value(header, "split.count", arch)
    if split_no is None or split_count is None:
        raise GGUFError(name, "named like a shard, but its header has no split.no and split.count")
    if (split_no, split_count) != (number, count):
        raise GGUFError(
            name,
            f"its header says split.no={split_no} of split.count={split_count}, "
            f"but its name says shard {number + 1} of {count} (split.no={number})",
        )
    declared = _split_value(header, "split.tensors.count", arch)
    if declared is not None and declared != total:
        raise GGUFError(
            name, f"split.tensors.count is {declared}, but the shards hold {total} tensors"
        )


def _split_value(header: Header, key: str, arch: str) -> int | None:
    """A split key's value, bare or under the architecture's prefix."""
    for name in (key, f"{arch}.{key}"):
        value = header.metadata.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _check_unique_names(shards: tuple[Path, ...], headers: list[Header]) -> None:
    where: dict[str, Path] = {}
    for path, header in zip(shards, headers, strict=True):
        for tensor in header.tensors:
            other = where.get(tensor.name)
            if other is not None:
                place = "twice in this shard" if other == path else f"also in {other.name}"
                raise GGUFError(str(path), f"tensor {tensor.name!r} is {place}")
            where[tensor.name] = path


# --- laying out the merged file ------------------------------------------------------------------


def _pieces(shards: tuple[Path, ...], headers: list[Header], arch: str) -> tuple[_Piece, ...]:
    """The merged file as literal bytes and ranges of the shards, in order."""
    alignment = headers[0].metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    assert isinstance(alignment, int)  # the scan checked it is a power of two
    kv = _kv_ranges(shards[0], headers[0], arch)
    n_tensors = sum(len(header.tensors) for header in headers)
    pieces: list[_Piece] = [_HEADER.pack(b"GGUF", _VERSION, n_tensors, kv.count), *kv.ranges]
    infos, data = bytearray(), list[_Piece]()
    offset = 0
    for path, header in zip(shards, headers, strict=True):
        for tensor in header.tensors:
            n_bytes = tensor.n_bytes or 0
            infos += _tensor_info(tensor.name, tensor.shape, tensor.ggml_type, offset)
            data.append(_Range(path, header.data_offset + tensor.offset, n_bytes))
            data.append(_Zeros(_padding(n_bytes, alignment)))
            offset += n_bytes + _padding(n_bytes, alignment)
    header_size = sum(map(_length, pieces)) + len(infos)
    pieces += [bytes(infos), _Zeros(_padding(header_size, alignment)), *data]
    return tuple(piece for piece in pieces if _length(piece))


@dataclass(frozen=True, slots=True)
class _KVRanges:
    count: int  # key-value pairs kept
    ranges: tuple[_Range, ...]  # where they lie in shard 0, neighbouring pairs joined


def _kv_ranges(path: Path, header: Header, arch: str) -> _KVRanges:
    """Shard 0's key-value pairs without the split keys, as ranges of the file to copy."""
    dropped = {*SPLIT_KEYS, *(f"{arch}.{key}" for key in SPLIT_KEYS)}
    kept = [span for span in header.kv_spans if span.key not in dropped]
    ranges: list[_Range] = []
    for span in kept:
        if ranges and ranges[-1].start + ranges[-1].length == span.start:
            ranges[-1] = _Range(path, ranges[-1].start, span.end - ranges[-1].start)
        else:
            ranges.append(_Range(path, span.start, span.end - span.start))
    return _KVRanges(len(kept), tuple(ranges))


def _tensor_info(name: str, shape: tuple[int, ...], ggml_type: int, offset: int) -> bytes:
    encoded = name.encode("utf-8")
    return b"".join((
        _U64.pack(len(encoded)), encoded,
        _U32.pack(len(shape)), *(_U64.pack(dim) for dim in shape),
        _U32.pack(ggml_type), _U64.pack(offset),
    ))  # fmt: skip


def _padding(size: int, alignment: int) -> int:
    return -size % alignment


def _length(piece: _Piece) -> int:
    return len(piece) if isinstance(piece, bytes) else piece.length


# --- reading the shards while streaming ----------------------------------------------------------


class _ShardFiles:
    """One shard open at a time; a shard that changed since it was planned stops the stream."""

    def __init__(self, shards: tuple[Path, ...], seen: tuple[tuple[int, int], ...]) -> None:
        self._seen = dict(zip(shards, seen, strict=True))
        self._path: Path | None = None
        self._file: BinaryIO | None = None

    def __enter__(self) -> _ShardFiles:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if exc_info[0] is None:
            self._close()
        elif self._file is not None:
            self._file.close()

    def read(self, path: Path, start: int, n: int) -> bytes:
        if path != self._path:
            self._close()
            self._open(path)
        assert self._file is not None
        try:
            self._file.seek(start)
            data = self._file.read(n)
        except OSError as exc:
            raise GGUFError(str(path), f"cannot read the file: {advice_for(exc)}") from exc
        if len(data) != n:
            raise _changed(path)
        return data

    def _open(self, path: Path) -> None:
        try:
            self._file = open(path, "rb")  # noqa: SIM115 -- closed by _close or __exit__
        except OSError as exc:
            raise GGUFError(str(path), f"cannot read the file: {advice_for(exc)}") from exc
        self._path = path
        self._check(path, self._file)

    def _close(self) -> None:
        """Close the open shard, checking it held still while it was read."""
        file, path = self._file, self._path
        self._file = self._path = None
        if file is None or path is None:
            return
        with file:
            self._check(path, file)

    def _check(self, path: Path, file: BinaryIO) -> None:
        try:
            status = os.fstat(file.fileno())
        except OSError as exc:
            raise GGUFError(str(path), f"cannot read the file: {advice_for(exc)}") from exc
        if (status.st_size, status.st_mtime_ns) != self._seen[path]:
            raise _changed(path)


def _changed(path: Path) -> GGUFError:
    return GGUFError(
        str(path), "the shard changed while lamina was merging it; run the command again"
    )
