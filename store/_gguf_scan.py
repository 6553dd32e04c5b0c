"""The GGUF header scanner behind ``store.gguf``: metadata and tensor infos, never the weights.

``gguf.GGUFReader`` is deliberately not used here. It maps the whole file and builds a numpy view
for every metadata array element and every tensor, so a model with a 262k-token vocabulary takes
it about 24 seconds. This scanner walks the header with ``struct`` over a buffer filled by plain
file reads, decodes short arrays and steps over long ones, recording only their length. The file
format is described in ggml's ``docs/gguf.md``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from store._ggml_types import TENSOR_TYPES, ValueType
from store.errors import GGUFError

SMALL_ARRAY = 64  # arrays of at most this many elements are decoded; longer ones become ArrayInfo
MAX_DIMS = 4  # ggml tensors have at most four dimensions
MAX_NESTING = 8  # arrays of arrays deeper than this are treated as damage, not recursed into
DEFAULT_ALIGNMENT = 32
HEAD_SIZE = 512  # bytes shown to describe_non_gguf when the magic is wrong
_CHUNK = 256 << 10  # bytes read at a time: at most this much past the header is ever read

# struct codes of the fixed-size value types; STRING and ARRAY have their own readers
_CODES: dict[int, str] = {
    ValueType.UINT8: "B",
    ValueType.INT8: "b",
    ValueType.UINT16: "H",
    ValueType.INT16: "h",
    ValueType.UINT32: "I",
    ValueType.INT32: "i",
    ValueType.FLOAT32: "f",
    ValueType.BOOL: "?",
    ValueType.UINT64: "Q",
    ValueType.INT64: "q",
    ValueType.FLOAT64: "d",
}
_VALUE_TYPE_NAMES = {int(t): t.name for t in ValueType}
_QUANT_SIZES = {code: (block, size) for code, (_, block, size) in TENSOR_TYPES.items()}
_TENSOR_TYPE_NAMES = {code: name for code, (name, _, _) in TENSOR_TYPES.items()}
# the smallest possible encodings, used to reject absurd counts before looping over them
_MIN_KV_BYTES = 8 + 4 + 1  # empty key, value type, a one-byte value
_MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # empty name, no dimensions, type, offset
_MIN_ARRAY_BYTES = 4 + 8  # element type and count of an empty array


@dataclass(frozen=True, slots=True)
class ArrayInfo:
    """A metadata array too long to decode: its element type (a ValueType) and length."""

    item_type: int
    length: int

    @property
    def type_name(self) -> str:
        return _VALUE_TYPE_NAMES.get(self.item_type, "unknown")


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor's entry in the header; ``offset`` is relative to ``GGUFInfo.data_offset``."""

    name: str
    shape: tuple[int, ...]  # GGUF order: the fastest-varying dimension first
    ggml_type: int
    offset: int

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def type_name(self) -> str:
        """The ggml type's name, e.g. ``"Q4_K"``; ``"unknown"`` for a type lamina cannot size."""
        return _TENSOR_TYPE_NAMES.get(self.ggml_type, "unknown")

    @property
    def n_bytes(self) -> int | None:
        """Bytes of tensor data, or None when the ggml type is unknown."""
        sizes = _QUANT_SIZES.get(self.ggml_type)
        if sizes is None:
            return None
        block_size, type_size = sizes
        return self.n_elements * type_size // block_size


@dataclass(frozen=True, slots=True)
class KVSpan:
    """Where one metadata key-value pair lies in the file: bytes ``start`` up to ``end``."""

    key: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Header:
    """What the scan found, before GGUFInfo adds its derived views."""

    version: int
    metadata: dict[str, object]
    tensors: tuple[TensorInfo, ...]
    data_offset: int
    byte_order: str = "<"  # struct's code for the file's byte order: "<" or ">"
    kv_spans: tuple[KVSpan, ...] = ()  # every key-value pair in file order, for byte copies


class NotGGUF(Exception):
    """The file lacks the GGUF magic; read_info turns this into a GGUFError describing ``head``."""

    def __init__(self, head: bytes) -> None:
        super().__init__("not a GGUF file")
        self.head = head


class _Reader:
    """Sequential reads of one file through a buffer, with every length checked against the size."""

    def __init__(self, file: BinaryIO, path: str, size: int) -> None:
        self.file = file
        self.path = path
        self.size = size
        self.pos = 0
        self._buf = b""
        self._base = 0  # file offset of _buf[0]
        self.set_order("<")

    def set_order(self, order: str) -> None:
        self._u32 = struct.Struct(order + "I")
        self._u64 = struct.Struct(order + "Q")
        self._scalars = {vtype: struct.Struct(order + code) for vtype, code in _CODES.items()}
        self._order = order

    @property
    def byte_order(self) -> str:
        return self._order

    def error(self, problem: str) -> GGUFError:
        return GGUFError(self.path, problem)

    def truncated(self, end: int) -> GGUFError:
        return self.error(
            f"truncated GGUF: the header needs at least {end} bytes "
            f"but the file has {self.size} bytes"
        )

    def check_count(self, count: int, min_bytes: int, what: str) -> None:
        """Reject a count whose smallest encoding could not fit in the rest of the file."""
        left = self.size - self.pos
        if count * min_bytes > left:
            raise self.error(
                f"truncated or damaged GGUF: {what} claims {count} entries, "
                f"but only {left} bytes remain after byte {self.pos}"
            )

    def _need(self, n: int) -> int:
        """Make ``n`` bytes at ``pos`` available and return their offset in the buffer."""
        offset = self.pos - self._base
        if offset + n <= len(self._buf):
            return offset
        if self.pos + n > self.size:
            raise self.truncated(self.pos + n)
        self.file.seek(self.pos)
        self._buf = self.file.read(max(n, _CHUNK))
        self._base = self.pos
        if len(self._buf) < n:  # the file shrank while we read it
            raise self.truncated(self.pos + n)
        return 0

    def head(self) -> bytes:
        offset = self._need(min(HEAD_SIZE, self.size))
        return self._buf[offset : offset + HEAD_SIZE]

    def take(self, n: int) -> bytes:
        offset = self._need(n)
        self.pos += n
        return self._buf[offset : offset + n]

    def unpack(self, fmt: struct.Struct) -> tuple[Any, ...]:
        offset = self._need(fmt.size)
        self.pos += fmt.size
        return fmt.unpack_from(self._buf, offset)

    def u32(self) -> int:
        offset = self._need(4)
        self.pos += 4
        value: int = self._u32.unpack_from(self._buf, offset)[0]
        return value

    def u64(self) -> int:
        offset = self._need(8)
        self.pos += 8
        value: int = self._u64.unpack_from(self._buf, offset)[0]
        return value

    def string(self, what: str) -> str:
        start, length = self.pos, self.u64()
        if length > self.size - self.pos:
            raise self.error(
                f"truncated or damaged GGUF: {what} at byte {start} claims {length} bytes, "
                f"but only {self.size - self.pos} remain"
            )
        return self.take(length).decode("utf-8", errors="replace")

    def shape(self, n_dims: int) -> tuple[int, ...]:
        return self.unpack(struct.Struct(f"{self._order}{n_dims}Q"))

    def skip(self, n: int) -> None:
        self.pos += n
        if self.pos > self.size:
            raise self.truncated(self.pos)

    def skip_strings(self, count: int) -> None:
        """Step over ``count`` length-prefixed strings without decoding them (the hot loop)."""
        unpack = self._u64.unpack_from
        buf, base = self._buf, self._base
        p, end = self.pos - base, len(buf)
        for _ in range(count):
            if p + 8 > end:
                self.pos = base + p
                self._need(8)
                buf, base = self._buf, self._base
                p, end = 0, len(buf)
            p += 8 + unpack(buf, p)[0]
        self.pos = base + p
        if self.pos > self.size:
            raise self.truncated(self.pos)

    def value(self, vtype: int, what: str, depth: int = 0) -> object:
        scalar = self._scalars.get(vtype)
        if scalar is not None:
            return self.unpack(scalar)[0]
        if vtype == ValueType.STRING:
            return self.string(what)
        if vtype == ValueType.ARRAY:
            return self.array(what, depth)
        raise self.error(f"damaged GGUF: {what} has unknown value type {vtype}")

    def array(self, what: str, depth: int) -> object:
        item_type, length = self._array_header(what, depth)
        if length > SMALL_ARRAY:
            self._skip_items(item_type, length, what, depth)
            return ArrayInfo(item_type, length)
        return tuple(self.value(item_type, what, depth + 1) for _ in range(length))

    def _array_header(self, what: str, depth: int) -> tuple[int, int]:
        if depth >= MAX_NESTING:
            raise self.error(f"damaged GGUF: {what} nests arrays more than {MAX_NESTING} deep")
        item_type = self.u32()
        if item_type not in _VALUE_TYPE_NAMES:
            raise self.error(f"damaged GGUF: {what} is an array of unknown type {item_type}")
        return item_type, self.u64()

    def _skip_items(self, item_type: int, length: int, what: str, depth: int) -> None:
        scalar = self._scalars.get(item_type)
        if scalar is not None:
            self.check_count(length, scalar.size, what)
            self.skip(length * scalar.size)
        elif item_type == ValueType.STRING:
            self.check_count(length, 8, what)
            self.skip_strings(length)
        else:
            self.check_count(length, _MIN_ARRAY_BYTES, what)
            for _ in range(length):
                inner_type, inner_length = self._array_header(what, depth + 1)
                self._skip_items(inner_type, inner_length, what, depth + 1)


def scan(file: BinaryIO, path: str, size: int) -> Header:
    """Read the header of an open GGUF file; raises NotGGUF or GGUFError."""
    reader = _Reader(file, path, size)
    head = reader.head()
    if not head.startswith(b"GGUF"):
        raise NotGGUF(head)
    reader.skip(4)
    version = _read_version(reader)
    n_tensors, n_kv = reader.u64(), reader.u64()
    reader.check_count(n_kv, _MIN_KV_BYTES, "the metadata count")
    metadata: dict[str, object] = {}
    spans: list[KVSpan] = []
    for _ in range(n_kv):
        start = reader.pos
        key = reader.string("a metadata key")
        metadata[key] = reader.value(reader.u32(), f"metadata {key!r}")
        spans.append(KVSpan(key, start, reader.pos))
    reader.check_count(n_tensors, _MIN_TENSOR_BYTES, "the tensor count")
    tensors = tuple(_read_tensor(reader) for _ in range(n_tensors))
    alignment = _alignment(reader, metadata)
    data_offset = -(-reader.pos // alignment) * alignment
    _check_tensor_data(reader, tensors, data_offset)
    return Header(version, metadata, tensors, data_offset, reader.byte_order, tuple(spans))


def _read_version(reader: _Reader) -> int:
    raw = reader.take(4)
    version = int.from_bytes(raw, "little")
    if version and not version & 0xFFFF:  # a small number written big-endian
        version = int.from_bytes(raw, "big")
        reader.set_order(">")
    if version == 1:
        raise reader.error(
            "GGUF version 1 is not supported (it predates 64-bit counts); "
            "convert the model again with a current llama.cpp"
        )
    if version not in (2, 3):
        raise reader.error(f"unsupported GGUF version {version} (lamina reads versions 2 and 3)")
    return version


def _read_tensor(reader: _Reader) -> TensorInfo:
    name = reader.string("a tensor name")
    n_dims = reader.u32()
    if n_dims > MAX_DIMS:
        raise reader.error(
            f"damaged GGUF: tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS} allowed)"
        )
    shape = reader.shape(n_dims)
    ggml_type = reader.u32()
    return TensorInfo(name, shape, ggml_type, reader.u64())


def _alignment(reader: _Reader, metadata: dict[str, object]) -> int:
    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if isinstance(alignment, bool) or not isinstance(alignment, int):
        raise reader.error(f"damaged GGUF: general.alignment is {alignment!r}, not an integer")
    if alignment <= 0 or alignment & (alignment - 1):
        raise reader.error(f"damaged GGUF: general.alignment {alignment} is not a power of two")
    return alignment


def _check_tensor_data(reader: _Reader, tensors: tuple[TensorInfo, ...], data_offset: int) -> None:
    """Every tensor's bytes must lie inside the file; the bytes themselves are never read."""
    if not tensors:
        return
    end, last = max((data_offset + t.offset + (t.n_bytes or 0), t.name) for t in tensors)
    if end > reader.size:
        raise reader.error(
            f"truncated GGUF: tensor data ends at byte {end} (tensor {last!r}) "
            f"but the file has {reader.size} bytes"
        )
