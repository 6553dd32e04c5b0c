"""Fast GGUF metadata: architecture, size, file type, template and tensor list, without the weights.

``read_info`` reads only the header (see ``store._gguf_scan`` for why it does not use
``gguf.GGUFReader``). The derived fields follow the values Ollama writes into a model's config
blob, so lamina's configs match byte for byte: ``file_type_name`` is Ollama's file-type name and
``model_type`` its human-readable parameter count.
"""

from __future__ import annotations

import os
import stat
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from store._gguf_scan import ArrayInfo, Header, NotGGUF, TensorInfo, scan
from store.errors import GGUFError, advice_for

__all__ = [
    "ArrayInfo",
    "GGUFInfo",
    "TensorInfo",
    "describe_non_gguf",
    "file_type_name",
    "human_number",
    "read_info",
]

# general.file_type values and the names Ollama gives them (its FileType.String()). Values that
# llama.cpp retired (4-6, 33-35) and 0, which Ollama treats as "not set", are absent: "unknown".
_FILE_TYPE_NAMES: Mapping[int, str] = MappingProxyType({
    1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
    38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
})  # fmt: skip


@dataclass(frozen=True)
class GGUFInfo:
    """A GGUF file's header: raw metadata and tensor infos, plus the fields lamina's config uses."""

    version: int
    metadata: Mapping[str, object] = field(hash=False)  # scalars, tuples, or ArrayInfo
    tensors: tuple[TensorInfo, ...]
    data_offset: int  # first byte of tensor data, aligned to general.alignment

    @property
    def architecture(self) -> str:
        return self._str("general.architecture") or ""

    @property
    def general_type(self) -> str | None:
        """``general.type``: "model", "adapter", "projector", "mmproj", ... when present."""
        return self._str("general.type")

    @property
    def file_type(self) -> int | None:
        return self._int("general.file_type")

    @property
    def file_type_name(self) -> str:
        return file_type_name(self.file_type)

    @property
    def parameter_count(self) -> int:
        """The sum of every tensor's element count, which is what Ollama reports."""
        return sum(tensor.n_elements for tensor in self.tensors)

    @property
    def model_type(self) -> str:
        return human_number(self.parameter_count)

    @property
    def context_length(self) -> int | None:
        return self._int(f"{self.architecture}.context_length")

    @property
    def embedding_length(self) -> int | None:
        return self._int(f"{self.architecture}.embedding_length")

    @property
    def chat_template(self) -> str | None:
        return self._str("tokenizer.chat_template")

    @property
    def split(self) -> tuple[int, int] | None:
        """``(split.no, split.count)`` for one shard of a split model."""
        number, count = self._int("split.no"), self._int("split.count")
        if number is None or count is None:
            return None
        return number, count

    def _str(self, key: str) -> str | None:
        value = self.metadata.get(key)
        return value if isinstance(value, str) else None

    def _int(self, key: str) -> int | None:
        value = self.metadata.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_info(path: str | os.PathLike[str]) -> GGUFInfo:
    """Read a GGUF file's header; raises GGUFError for anything that is not a sound GGUF."""
    header, _ = read_header(path)
    return GGUFInfo(
        version=header.version,
        metadata=MappingProxyType(header.metadata),
        tensors=header.tensors,
        data_offset=header.data_offset,
    )


def read_header(path: str | os.PathLike[str]) -> tuple[Header, os.stat_result]:
    """The raw scan of a GGUF header and the file's stat as read; every failure a GGUFError."""
    name = os.fspath(path)
    try:
        with open(name, "rb", buffering=0) as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise GGUFError(name, "not a regular file")
            return scan(file, name, status.st_size), status
    except NotGGUF as exc:
        raise GGUFError(name, f"not a GGUF file (found {describe_non_gguf(exc.head)})") from None
    except FileNotFoundError as exc:
        raise GGUFError(name, "no such file") from exc
    except IsADirectoryError as exc:
        raise GGUFError(name, "is a directory, not a GGUF file") from exc
    except PermissionError as exc:
        raise GGUFError(name, "permission denied") from exc
    except OSError as exc:
        raise GGUFError(name, f"cannot read the file: {advice_for(exc)}") from exc


def file_type_name(file_type: int | None) -> str:
    """Ollama's name for a ``general.file_type`` value; "unknown" for 0, None or unlisted values."""
    return _FILE_TYPE_NAMES.get(file_type or 0, "unknown")


def human_number(n: int) -> str:
    """A parameter count as Ollama shows it: "8B", "3.2B", "567.50M", "125M", "12K", "999"."""
    if n >= 1_000_000_000:
        value = n / 1_000_000_000
        return f"{value:.0f}B" if value.is_integer() else f"{value:.1f}B"
    if n >= 1_000_000:
        value = n / 1_000_000
        return f"{value:.0f}M" if value.is_integer() else f"{value:.2f}M"
    if n >= 1_000:
        return f"{n / 1_000:.0f}K"
    return str(n)


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive (a PyTorch checkpoint?)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive"),
    (b"BZh", "a bzip2 archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x89HDF", "an HDF5 file (a Keras checkpoint?)"),
    (b"lmgg", "a legacy GGML file (convert it to GGUF with llama.cpp)"),
    (b"fmgg", "a legacy GGMF file (convert it to GGUF with llama.cpp)"),
    (b"tjgg", "a legacy GGJT file (convert it to GGUF with llama.cpp)"),
    (b"algg", "a legacy GGML LoRA adapter (convert it to GGUF with llama.cpp)"),
    (b"version https://git-lfs", "a Git LFS pointer (fetch the real file with 'git lfs pull')"),
)


_SPACES = "\t\n\r\f\v"


def describe_non_gguf(head: bytes) -> str:
    """What the first bytes of a file that is not a GGUF look like, for error messages."""
    if not head:
        return "an empty file"
    for signature, description in _SIGNATURES:
        if head.startswith(signature):
            return description
    if _looks_like_safetensors(head):
        return "a safetensors file"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (a PyTorch checkpoint?)"
    text = _as_text(head)
    if text is not None:
        start = text.lstrip("\ufeff \t\r\n")[:15].lower()
        if start.startswith(("{", "[")):
            return "JSON text"
        if start.startswith(("<!doctype html", "<html")):
            return "an HTML page (a download that returned a web page?)"
        return "text"
    return f"unrecognised binary data (starts with 0x{head[:8].hex()})"


def _looks_like_safetensors(head: bytes) -> bool:
    """A little-endian u64 header length, then a JSON object."""
    if len(head) < 9:
        return False
    header_length = int.from_bytes(head[:8], "little")
    return 2 <= header_length < 100_000_000 and head[8:9] == b"{"


def _as_text(head: bytes) -> str | None:
    """The bytes as text when they are UTF-8 without control characters, else None."""
    for cut in range(4):  # the head may end in the middle of a multi-byte character
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        controls = (ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in _SPACES)
        return text if text and next(controls, None) is None else None
    return None
