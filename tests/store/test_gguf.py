"""store.gguf: header fields, Ollama's naming rules, and every way a file can fail to be a GGUF."""

from __future__ import annotations

import contextlib
import hashlib
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from gguf import (
    GGMLQuantizationType,
    GGUFEndian,
    GGUFReader,
    GGUFValueType,
    GGUFWriter,
    LlamaFileType,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store.errors import GGUFError
from store.gguf import (
    ArrayInfo,
    TensorInfo,
    describe_non_gguf,
    file_type_name,
    human_number,
    read_info,
)
from tests.conftest import TINY_GGUF_SHA256, MakeGGUF

Q4_K = GGMLQuantizationType.Q4_K


def gguf_bytes(*, version: int = 3, n_tensors: int = 0, kv: bytes = b"", n_kv: int = 0) -> bytes:
    """A hand-made header, for damage GGUFWriter refuses to write."""
    return b"GGUF" + struct.pack("<IQQ", version, n_tensors, n_kv) + kv


def gguf_string(text: str) -> bytes:
    data = text.encode()
    return struct.pack("<Q", len(data)) + data


def read_bytes(tmp_path: Path, data: bytes) -> object:
    path = tmp_path / "file.gguf"
    path.write_bytes(data)
    return read_info(path)


def gguf_error(tmp_path: Path, data: bytes) -> str:
    """The one-line problem read_info reports for a file holding ``data``."""
    path = tmp_path / "file.gguf"
    path.write_bytes(data)
    with pytest.raises(GGUFError) as caught:
        read_info(path)
    assert caught.value.path == str(path)
    assert "\n" not in str(caught.value)
    return caught.value.problem


# --- the golden file and the real model ---------------------------------------------------------


def test_tiny_golden_file_is_ollamas(tiny_gguf: Path) -> None:
    data = tiny_gguf.read_bytes()
    assert len(data) == 68
    assert hashlib.sha256(data).hexdigest() == TINY_GGUF_SHA256


def test_tiny_golden_file_reads_like_ollama(tiny_gguf: Path) -> None:
    info = read_info(tiny_gguf)
    assert info.version == 3
    assert dict(info.metadata) == {"general.architecture": "test"}
    assert info.architecture == "test"
    assert info.tensors == ()
    assert info.parameter_count == 0
    assert info.model_type == "0"
    assert info.file_type is None
    assert info.file_type_name == "unknown"
    assert info.data_offset == 96  # 68 rounded up to the default alignment of 32


def test_real_gemma_model(real_gguf: Path) -> None:
    info = read_info(real_gguf)
    assert info.architecture == "gemma3"
    assert info.general_type == "model"
    assert info.file_type_name == "Q4_K_M"
    assert info.context_length == 32768
    assert info.embedding_length == 640
    assert len(info.tensors) == 236
    assert info.parameter_count == 268_098_176
    assert info.model_type == "268.10M"
    assert info.metadata["tokenizer.ggml.tokens"] == ArrayInfo(GGUFValueType.STRING, 262_144)
    assert info.metadata["tokenizer.ggml.scores"] == ArrayInfo(GGUFValueType.FLOAT32, 262_144)
    # This build of the model carries no tokenizer.chat_template key at all.
    assert info.chat_template is None
    token_embd = next(t for t in info.tensors if t.name == "token_embd.weight")
    assert token_embd.shape == (640, 262_144)
    assert token_embd.type_name == "Q8_0"
    ends = [info.data_offset + t.offset + (t.n_bytes or 0) for t in info.tensors]
    assert max(ends) == real_gguf.stat().st_size


# --- fields ---------------------------------------------------------------------------------


def test_fields_from_metadata(make_gguf: MakeGGUF) -> None:
    template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    path = make_gguf(
        arch="qwen2",
        file_type=LlamaFileType.MOSTLY_Q8_0,
        chat_template=template,
        context_length=4096,
        embedding_length=896,
    )
    info = read_info(path)
    assert info.architecture == "qwen2"
    assert info.file_type == 7
    assert info.file_type_name == "Q8_0"
    assert info.chat_template == template
    assert info.context_length == 4096
    assert info.embedding_length == 896
    assert info.general_type is None
    assert info.split is None


def test_missing_fields_are_none(make_gguf: MakeGGUF) -> None:
    info = read_info(make_gguf())
    assert (info.context_length, info.embedding_length, info.chat_template) == (None, None, None)
    assert info.file_type is None
    assert info.file_type_name == "unknown"


def test_lengths_of_another_architecture_are_ignored(make_gguf: MakeGGUF) -> None:
    info = read_info(make_gguf(arch="llama", extra={"qwen2.context_length": 4096}))
    assert info.context_length is None


@pytest.mark.parametrize(
    ("file_type", "name"),
    [(0, "unknown"), (1, "F16"), (2, "Q4_0"), (7, "Q8_0"), (14, "Q4_K_S"), (15, "Q4_K_M"),
     (18, "Q6_K"), (32, "BF16"), (38, "MXFP4_MOE"), (4, "unknown"), (1024, "unknown")],
)  # fmt: skip
def test_file_type_names(make_gguf: MakeGGUF, file_type: int, name: str) -> None:
    assert read_info(make_gguf(file_type=file_type)).file_type_name == name


def test_file_type_names_agree_with_llama_cpp() -> None:
    for file_type in LlamaFileType:
        name = file_type_name(file_type)
        if name != "unknown":
            assert file_type.name == f"MOSTLY_{name}"
    assert file_type_name(None) == "unknown"


@pytest.mark.parametrize("general_type", ["model", "adapter", "projector", "mmproj"])
def test_general_type(make_gguf: MakeGGUF, general_type: str) -> None:
    assert read_info(make_gguf(general_type=general_type)).general_type == general_type


def test_split_keys(make_gguf: MakeGGUF) -> None:
    extra = {
        "split.no": (1, GGUFValueType.UINT16),
        "split.count": (3, GGUFValueType.UINT16),
        "split.tensors.count": (12, GGUFValueType.INT32),
    }
    assert read_info(make_gguf(extra=extra)).split == (1, 3)


def test_parameter_count_sums_tensor_elements(make_gguf: MakeGGUF) -> None:
    tensors = [("a", (4, 8), np.float32), ("b", (16,), np.float16), ("c", (3, 512), Q4_K)]
    info = read_info(make_gguf(tensors=tensors))
    assert info.parameter_count == 32 + 16 + 1536
    assert info.model_type == "2K"
    c = next(t for t in info.tensors if t.name == "c")
    assert c == TensorInfo("c", (512, 3), int(Q4_K), c.offset)
    assert (c.n_elements, c.type_name, c.n_bytes) == (1536, "Q4_K", 6 * 144)


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"), (999, "999"), (1000, "1K"), (1001, "1K"), (1500, "2K"), (2500, "2K"),
        (1_000_000, "1M"), (125_000_000, "125M"), (500_500_000, "500.50M"),
        (567_000_000, "567M"), (567_004_000, "567.00M"), (268_098_176, "268.10M"),
        (1_000_000_000, "1B"), (2_800_000_000, "2.8B"), (2_850_000_000, "2.9B"),
        (8_030_000_000, "8.0B"), (1_000_000_000_000, "1000B"),
    ],
)  # fmt: skip
def test_human_number_matches_ollama(n: int, text: str) -> None:
    assert human_number(n) == text


# --- metadata values --------------------------------------------------------------------------


def test_every_scalar_type(make_gguf: MakeGGUF) -> None:
    values = {
        "t.u8": (200, GGUFValueType.UINT8),
        "t.i8": (-100, GGUFValueType.INT8),
        "t.u16": (60000, GGUFValueType.UINT16),
        "t.i16": (-30000, GGUFValueType.INT16),
        "t.u32": (4_000_000_000, GGUFValueType.UINT32),
        "t.i32": (-2_000_000_000, GGUFValueType.INT32),
        "t.u64": (2**63 + 5, GGUFValueType.UINT64),
        "t.i64": (-(2**62), GGUFValueType.INT64),
        "t.f32": (0.5, GGUFValueType.FLOAT32),
        "t.f64": (0.1, GGUFValueType.FLOAT64),
        "t.bool": (True, GGUFValueType.BOOL),
        "t.str": ("héllo ✓", GGUFValueType.STRING),
        "t.empty": ("", GGUFValueType.STRING),
    }
    metadata = read_info(make_gguf(extra=values)).metadata
    for key, (value, _) in values.items():
        assert metadata[key] == value, key
    assert metadata["t.bool"] is True


def test_short_arrays_are_decoded_long_ones_summarised(make_gguf: MakeGGUF) -> None:
    extra = {
        "t.small": [1, 2, 3],
        "t.edge": [float(i) for i in range(64)],
        "t.long_floats": [float(i) for i in range(65)],
        "tokenizer.ggml.tokens": [f"token{i}" for i in range(5000)],
        "t.nested": [[1, 2], [3]],
        "t.long_nested": [["a", "b"]] * 100,
    }
    metadata = read_info(make_gguf(extra=extra)).metadata
    assert metadata["t.small"] == (1, 2, 3)
    assert metadata["t.edge"] == tuple(float(i) for i in range(64))
    assert metadata["t.long_floats"] == ArrayInfo(GGUFValueType.FLOAT32, 65)
    assert metadata["tokenizer.ggml.tokens"] == ArrayInfo(GGUFValueType.STRING, 5000)
    tokens = metadata["tokenizer.ggml.tokens"]
    assert isinstance(tokens, ArrayInfo)
    assert tokens.type_name == "STRING"
    assert metadata["t.nested"] == ((1, 2), (3,))
    assert metadata["t.long_nested"] == ArrayInfo(GGUFValueType.ARRAY, 100)


def test_metadata_is_read_only(make_gguf: MakeGGUF) -> None:
    info = read_info(make_gguf())
    with pytest.raises(TypeError):
        info.metadata["general.architecture"] = "x"  # type: ignore[index]


def test_agrees_with_gguf_reader(make_gguf: MakeGGUF) -> None:
    tensors = [("a", (2, 3, 32), np.float16), ("b", (7,), np.int32), ("c", (2, 256), Q4_K)]
    extra = {"t.ints": [5, 6, 7], "t.name": "x", "t.f": 1.25, "t.long": list(range(300))}
    path = make_gguf(tensors=tensors, extra=extra, file_type=15, context_length=8)
    info, reader = read_info(path), GGUFReader(path)
    fields = {k: f for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert set(info.metadata) == set(fields)
    for key, field in fields.items():
        ours = info.metadata[key]
        theirs = field.contents()
        if isinstance(ours, ArrayInfo):
            assert ours == ArrayInfo(field.types[-1], len(theirs)), key
        else:
            assert ours == (tuple(theirs) if isinstance(theirs, list) else theirs), key
    assert info.data_offset == reader.data_offset
    for ours, theirs in zip(info.tensors, reader.tensors, strict=True):
        assert ours.name == theirs.name
        assert ours.shape == tuple(int(d) for d in theirs.shape)
        assert ours.ggml_type == theirs.tensor_type
        assert info.data_offset + ours.offset == theirs.data_offset
        assert (ours.n_elements, ours.n_bytes) == (theirs.n_elements, theirs.n_bytes)


def test_big_endian_file(tmp_path: Path) -> None:
    path = tmp_path / "big.gguf"
    writer = GGUFWriter(path, "llama", endianess=GGUFEndian.BIG)
    writer.add_context_length(2048)
    writer.add_array("t.small", [1, 2])
    writer.add_array("t.tokens", [f"t{i}" for i in range(100)])
    writer.add_tensor("w", np.zeros((4, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    info = read_info(path)
    assert info.context_length == 2048
    assert info.metadata["t.small"] == (1, 2)
    assert info.metadata["t.tokens"] == ArrayInfo(GGUFValueType.STRING, 100)
    assert info.tensors == (TensorInfo("w", (8, 4), 0, 0),)


def test_version_2_is_read(tmp_path: Path, tiny_gguf: Path) -> None:
    data = bytearray(tiny_gguf.read_bytes())
    data[4:8] = struct.pack("<I", 2)
    assert read_bytes(tmp_path, bytes(data)).version == 2  # type: ignore[attr-defined]


def test_custom_alignment(make_gguf: MakeGGUF) -> None:
    path = make_gguf(extra={"general.alignment": 64})
    info, reader = read_info(path), GGUFReader(path)
    assert info.data_offset % 64 == 0
    assert info.data_offset == reader.data_offset


# --- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "expected"), [(1, "version 1"), (0, "version 0"), (4, "4")])
def test_unsupported_versions(tmp_path: Path, version: int, expected: str) -> None:
    problem = gguf_error(tmp_path, gguf_bytes(version=version))
    assert "version" in problem
    assert expected in problem


def test_truncated_anywhere_is_a_gguf_error(make_gguf: MakeGGUF, tmp_path: Path) -> None:
    tensors = [("a", (4, 64), np.float32), ("b", (256,), Q4_K)]
    extra = {"t.tokens": [f"tok{i}" for i in range(100)], "t.small": [1, 2]}
    data = make_gguf(tensors=tensors, extra=extra, chat_template="{{ x }}").read_bytes()
    info = read_info(tmp_path / "model.gguf")
    data_end = max(info.data_offset + t.offset + (t.n_bytes or 0) for t in info.tensors)
    for length in range(data_end):
        problem = gguf_error(tmp_path, data[:length])
        if length >= 4:
            assert problem.startswith(("truncated GGUF", "truncated or damaged GGUF")), length
    # Padding after the last tensor is not needed.
    assert read_bytes(tmp_path, data[:data_end])


def test_tensor_data_past_the_end(make_gguf: MakeGGUF, tmp_path: Path) -> None:
    data = make_gguf(tensors=[("w", (64, 64), np.float32)]).read_bytes()
    info = read_info(tmp_path / "model.gguf")
    problem = gguf_error(tmp_path, data[: info.data_offset + 100])
    assert problem == (
        f"truncated GGUF: tensor data ends at byte {info.data_offset + 64 * 64 * 4} "
        f"(tensor 'w') but the file has {info.data_offset + 100} bytes"
    )


def test_header_cut_short_names_the_sizes(tiny_gguf: Path, tmp_path: Path) -> None:
    problem = gguf_error(tmp_path, tiny_gguf.read_bytes()[:60])
    assert problem == (
        "truncated GGUF: the header needs at least 64 bytes but the file has 60 bytes"
    )


@pytest.mark.parametrize(
    "data",
    [
        gguf_bytes(n_tensors=2**60),
        gguf_bytes(n_kv=2**63),
        gguf_bytes(n_kv=1, kv=struct.pack("<Q", 2**60) + b"k"),
        gguf_bytes(n_kv=1, kv=gguf_string("k") + struct.pack("<IIQ", 9, 8, 2**62) + b"x" * 64),
        gguf_bytes(n_kv=1, kv=gguf_string("k") + struct.pack("<IIQ", 9, 0, 2**62) + b"x" * 64),
        gguf_bytes(n_kv=1, kv=gguf_string("k") + struct.pack("<IIQ", 9, 9, 2**61) + b"x" * 64),
        gguf_bytes(n_kv=1, kv=gguf_string("k") + struct.pack("<IQ", 8, 2**40) + b"abc"),
    ],
    ids=["tensors", "kvs", "key-length", "strings", "bytes", "arrays", "string-length"],
)
def test_absurd_counts_are_rejected_before_allocating(tmp_path: Path, data: bytes) -> None:
    assert "truncated" in gguf_error(tmp_path, data)


@pytest.mark.parametrize(
    ("kv", "n_tensors", "tail", "expected"),
    [
        (gguf_string("k") + struct.pack("<I", 13), 0, b"x" * 8, "unknown value type 13"),
        (gguf_string("k") + struct.pack("<IIQ", 9, 42, 1), 0, b"", "array of unknown type 42"),
        (b"", 1, gguf_string("t") + struct.pack("<I", 5) + b"\0" * 60, "5 dimensions"),
        (gguf_string("general.alignment") + struct.pack("<II", 4, 0), 0, b"", "power of two"),
        (gguf_string("general.alignment") + struct.pack("<II", 4, 48), 0, b"", "power of two"),
        (gguf_string("general.alignment") + struct.pack("<I", 8) + gguf_string("x"), 0, b"",
         "not an integer"),
        (gguf_string("k") + struct.pack("<I", 9) + struct.pack("<IQ", 9, 1) * 9
         + struct.pack("<IQ", 0, 0), 0, b"", "nests arrays"),
    ],
    ids=["value-type", "array-type", "dims", "alignment-0", "alignment-48", "alignment-str",
         "nesting"],
)  # fmt: skip
def test_damaged_headers(
    tmp_path: Path, kv: bytes, n_tensors: int, tail: bytes, expected: str
) -> None:
    data = gguf_bytes(n_kv=1 if kv else 0, kv=kv, n_tensors=n_tensors) + tail
    assert expected in gguf_error(tmp_path, data)


def test_json_file(tmp_path: Path) -> None:
    data = json.dumps({"architectures": ["LlamaForCausalLM"]}).encode()
    assert gguf_error(tmp_path, data) == "not a GGUF file (found JSON text)"


def test_zip_file(tmp_path: Path) -> None:
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    problem = gguf_error(tmp_path, archive.read_bytes())
    assert problem == "not a GGUF file (found a ZIP archive (a PyTorch checkpoint?))"


def test_empty_file(tmp_path: Path) -> None:
    assert gguf_error(tmp_path, b"") == "not a GGUF file (found an empty file)"


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(GGUFError) as caught:
        read_info(tmp_path)
    assert str(caught.value) == f"{tmp_path}: is a directory, not a GGUF file"


@pytest.mark.skipif(not Path("/dev/null").exists(), reason="needs /dev/null")
def test_device_file() -> None:
    with pytest.raises(GGUFError, match="not a regular file"):
        read_info("/dev/null")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(GGUFError) as caught:
        read_info(tmp_path / "nope.gguf")
    assert str(caught.value) == f"{tmp_path / 'nope.gguf'}: no such file"


@pytest.mark.parametrize(
    ("head", "description"),
    [
        (b"", "an empty file"),
        (b"PK\x03\x04\x14\x00", "a ZIP archive (a PyTorch checkpoint?)"),
        (b'  \n{"a": 1}', "JSON text"),
        (b"[1, 2]", "JSON text"),
        (struct.pack("<Q", 60) + b'{"w":{"dtype":"F16"', "a safetensors file"),
        (b"\x80\x02}q\x00.", "a Python pickle (a PyTorch checkpoint?)"),
        (b"FROM llama3\nSYSTEM hi\n", "text"),
        ("héllo wörld ✓".encode()[:-1], "text"),  # cut inside the last character
        (b"<!DOCTYPE html><html>", "an HTML page (a download that returned a web page?)"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:ab\n",
         "a Git LFS pointer (fetch the real file with 'git lfs pull')"),
        (b"tjgg\x03\x00\x00\x00", "a legacy GGJT file (convert it to GGUF with llama.cpp)"),
        (b"\x1f\x8b\x08\x00", "a gzip archive"),
        (b"\x00\x01\x02\x03\xff\xfe\xfd\xfc\x00", "unrecognised binary data (starts with "
         "0x00010203fffefdfc)"),
        (b"\xc3", "unrecognised binary data (starts with 0xc3)"),
    ],
)  # fmt: skip
def test_describe_non_gguf(head: bytes, description: str) -> None:
    assert describe_non_gguf(head) == description


# --- fuzzing ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fuzz_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "fuzz.gguf"


def only_gguf_errors(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    with contextlib.suppress(GGUFError):
        read_info(path)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=2048))
def test_arbitrary_bytes_after_the_magic(fuzz_path: Path, tail: bytes) -> None:
    only_gguf_errors(fuzz_path, b"GGUF" + tail)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    version=st.sampled_from([2, 3]),
    n_tensors=st.integers(0, 4) | st.integers(0, 2**64 - 1),
    n_kv=st.integers(0, 4) | st.integers(0, 2**64 - 1),
    tail=st.binary(max_size=2048),
)
def test_arbitrary_bytes_after_a_valid_preamble(
    fuzz_path: Path, version: int, n_tensors: int, n_kv: int, tail: bytes
) -> None:
    only_gguf_errors(fuzz_path, gguf_bytes(version=version, n_tensors=n_tensors, n_kv=n_kv) + tail)


@pytest.fixture(scope="module")
def sample_gguf(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    path = tmp_path_factory.mktemp("sample") / "sample.gguf"
    writer = GGUFWriter(path, "llama")
    writer.add_context_length(128)
    writer.add_array("t.tokens", [f"t{i}" for i in range(70)])
    writer.add_array("t.small", [[1, 2], [3]])
    writer.add_tensor("a", np.zeros((2, 32), dtype=np.float16))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path.read_bytes()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 255)), max_size=8))
def test_damaged_valid_file(
    fuzz_path: Path, sample_gguf: bytes, edits: list[tuple[int, int]]
) -> None:
    data = bytearray(sample_gguf)
    for position, value in edits:
        data[position % len(data)] = value
    only_gguf_errors(fuzz_path, bytes(data))
