"""store.gguf_merge: split GGUF shards become the file an unsplit writer would have written."""

from __future__ import annotations

import hashlib
import struct
import tempfile
import tracemalloc
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFEndian, GGUFReader, GGUFValueType, GGUFWriter
from hypothesis import given, settings
from hypothesis import strategies as st

from store._gguf_scan import scan
from store.errors import GGUFError
from store.gguf import TensorInfo, read_info
from store.gguf_merge import MergePlan, plan_merge, shard_group

STRING, ARRAY = GGUFValueType.STRING, GGUFValueType.ARRAY
SPLIT_KEYS = ("split.no", "split.count", "split.tensors.count")
Q8_0 = GGMLQuantizationType.Q8_0

# Every value type, a nested array, and arrays long enough that the scanner steps over them.
METADATA: Mapping[str, tuple[Any, GGUFValueType]] = {
    "general.name": ("tiny test model", STRING),
    "llama.context_length": (2048, GGUFValueType.UINT32),
    "llama.rope.freq_base": (10000.0, GGUFValueType.FLOAT32),
    "test.u8": (7, GGUFValueType.UINT8),
    "test.i8": (-7, GGUFValueType.INT8),
    "test.u16": (65535, GGUFValueType.UINT16),
    "test.i16": (-300, GGUFValueType.INT16),
    "test.i32": (-70000, GGUFValueType.INT32),
    "test.u64": (2**40, GGUFValueType.UINT64),
    "test.i64": (-(2**40), GGUFValueType.INT64),
    "test.f64": (0.125, GGUFValueType.FLOAT64),
    "test.bool": (True, GGUFValueType.BOOL),
    "test.nested": ([[1, 2], [3]], ARRAY),
    "tokenizer.ggml.tokens": ([f"tok{i}" for i in range(300)], ARRAY),
    "tokenizer.ggml.scores": ([i / 4 for i in range(300)], ARRAY),
    "tokenizer.chat_template": ("{{ .Prompt }}", STRING),
}

Tensor = tuple[str, np.ndarray[Any, Any], GGMLQuantizationType | None]


def make_tensors(count: int, seed: int = 0) -> list[Tensor]:
    """Tensors of assorted types and odd sizes, filled with random data."""
    rng = np.random.default_rng(seed)
    tensors: list[Tensor] = []
    for i in range(count):
        kind = i % 4
        if kind == 0:
            data = rng.standard_normal((3, 5 + i), dtype=np.float32)
            tensors.append((f"blk.{i}.f32", data, None))
        elif kind == 1:
            tensors.append((f"blk.{i}.f16", rng.standard_normal(7 + i).astype(np.float16), None))
        elif kind == 2:  # Q8_0: 34-byte blocks of 32 elements, handed over as raw bytes
            raw = rng.integers(0, 256, size=(2, 34 * (1 + i % 3)), dtype=np.uint8)
            tensors.append((f"blk.{i}.q8_0", raw, Q8_0))
        else:
            tensors.append((f"blk.{i}.i32", rng.integers(-99, 99, (i, 2, 3), dtype=np.int32), None))
    return tensors


def write_gguf(
    path: Path,
    tensors: Sequence[Tensor],
    *,
    metadata: Mapping[str, tuple[Any, GGUFValueType]] = METADATA,
    arch: str = "llama",
    alignment: int | None = None,
    split: Mapping[str, int] | None = None,
    split_first: bool = False,
    endianess: GGUFEndian = GGUFEndian.LITTLE,
) -> Path:
    """One GGUF file; ``split`` holds split keys, written before or after the other metadata."""
    writer = GGUFWriter(path, arch, endianess=endianess)
    if alignment is not None:
        writer.add_custom_alignment(alignment)
    split_pairs = [
        (key, value, GGUFValueType.INT32 if key.endswith("tensors.count") else GGUFValueType.UINT16)
        for key, value in (split or {}).items()
    ]
    pairs = [(key, value, vtype) for key, (value, vtype) in metadata.items()]
    for key, value, vtype in (split_pairs + pairs) if split_first else (pairs + split_pairs):
        writer.add_key_value(key, value, vtype)
    for name, array, raw_dtype in tensors:
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_shards(
    directory: Path,
    tensors: Sequence[Tensor],
    sizes: Sequence[int],
    *,
    prefix: str = "model",
    alignment: int | None = None,
    later_alignment: int | None = None,
    key_prefix: str = "",
    split_first: bool = False,
    **overrides: Any,
) -> list[Path]:
    """Shards written one by one, as llama.cpp's gguf-split lays them out: metadata in shard 1.

    ``overrides`` maps a shard's index (``shard0``, ``shard1``, ...) to write_gguf arguments.
    """
    assert sum(sizes) == len(tensors)
    count, start, paths = len(sizes), 0, []
    for number, size in enumerate(sizes):
        split = {"split.no": number, "split.count": count, "split.tensors.count": len(tensors)}
        arguments: dict[str, Any] = {
            "metadata": METADATA if number == 0 else {},
            "alignment": alignment if number == 0 else later_alignment,
            "split": {key_prefix + key: value for key, value in split.items()},
            "split_first": split_first,
            **overrides.get(f"shard{number}", {}),
        }
        path = directory / f"{prefix}-{number + 1:05d}-of-{count:05d}.gguf"
        paths.append(write_gguf(path, tensors[start : start + size], **arguments))
        start += size
    return paths


def merge_to(plan: MergePlan, path: Path, chunk_size: int = 1 << 20) -> Path:
    with open(path, "wb") as file:
        for chunk in plan.chunks(chunk_size):
            file.write(chunk)
    return path


def reader_view(path: Path) -> tuple[dict[str, Any], list[Any]]:
    """What gguf.GGUFReader sees: every field's types and encoded parts, every tensor's data."""
    reader = GGUFReader(path)
    fields = {
        name: (field.types, [bytes(part.tobytes()) for part in field.parts[1:]])
        for name, field in reader.fields.items()
        if not name.startswith("GGUF.") and not name.endswith(SPLIT_KEYS)
    }
    tensors = [
        (t.name, tuple(int(n) for n in t.shape), t.tensor_type, bytes(t.data.tobytes()))
        for t in reader.tensors
    ]
    return fields, tensors


def assert_same_model(merged: Path, reference: Path) -> None:
    assert reader_view(merged) == reader_view(reference)
    got, want = read_info(merged), read_info(reference)
    assert got.version == 3
    assert got.split is None
    assert got.tensors == want.tensors
    assert got.data_offset == want.data_offset
    assert dict(got.metadata) == {
        key: value for key, value in want.metadata.items() if not key.endswith(SPLIT_KEYS)
    }


def gguf_error(shards: Sequence[Path]) -> GGUFError:
    with pytest.raises(GGUFError) as caught:
        plan_merge(shards)
    assert "\n" not in str(caught.value)
    return caught.value


# --- merging ------------------------------------------------------------------------------------


def test_gguf_writer_split_merges_to_the_unsplit_file(tmp_path: Path) -> None:
    tensors = make_tensors(7)
    reference = write_gguf(tmp_path / "reference.gguf", tensors)
    writer = GGUFWriter(tmp_path / "split" / "model.gguf", "llama", split_max_tensors=3)
    (tmp_path / "split").mkdir()
    for key, (value, vtype) in METADATA.items():
        writer.add_key_value(key, value, vtype)
    for name, array, raw_dtype in tensors:
        writer.add_tensor(name, array, raw_dtype=raw_dtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    shards = sorted((tmp_path / "split").iterdir())
    assert [path.name for path in shards] == [f"model-0000{n}-of-00003.gguf" for n in (1, 2, 3)]
    assert "general.architecture" not in read_info(shards[1]).metadata

    plan = plan_merge(shards)
    assert plan.shards == tuple(shards)
    merged = merge_to(plan, tmp_path / "merged.gguf")
    assert merged.stat().st_size == plan.size
    assert merged.read_bytes() == reference.read_bytes()
    assert_same_model(merged, reference)


def test_an_empty_first_shard(tmp_path: Path) -> None:
    tensors = make_tensors(4)
    reference = write_gguf(tmp_path / "reference.gguf", tensors)
    shards = write_shards(tmp_path, tensors, [0, 2, 2])
    merged = merge_to(plan_merge(shards), tmp_path / "merged.gguf")
    assert merged.read_bytes() == reference.read_bytes()


@pytest.mark.parametrize("key_prefix", ["", "llama."])
def test_split_keys_go_and_the_rest_keeps_its_order(tmp_path: Path, key_prefix: str) -> None:
    tensors = make_tensors(3)
    reference = write_gguf(tmp_path / "reference.gguf", tensors)
    shards = write_shards(tmp_path, tensors, [1, 2], key_prefix=key_prefix, split_first=True)
    assert f"{key_prefix}split.no" in read_info(shards[0]).metadata
    merged = merge_to(plan_merge(shards), tmp_path / "merged.gguf")
    assert merged.read_bytes() == reference.read_bytes()
    assert list(read_info(merged).metadata) == list(read_info(reference).metadata)


def test_any_shard_finds_the_others(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(3), [1, 1, 1])
    whole = plan_merge(shards)
    for given_paths in ([shards[1]], [shards[2], shards[0]], list(reversed(shards))):
        plan = plan_merge(given_paths)
        assert (plan.shards, plan.size) == (whole.shards, whole.size)


def test_later_shards_keep_their_own_alignment(tmp_path: Path) -> None:
    """Shard 1's alignment rules the merged file; each shard's data is found by its own."""
    tensors = make_tensors(5)
    reference = write_gguf(tmp_path / "reference.gguf", tensors, alignment=64)
    shards = write_shards(tmp_path, tensors, [2, 2, 1], alignment=64, later_alignment=256)
    assert read_info(shards[1]).data_offset % 256 == 0
    merged = merge_to(plan_merge(shards), tmp_path / "merged.gguf")
    assert merged.read_bytes() == reference.read_bytes()


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 4), min_size=1, max_size=4),
    alignment=st.sampled_from([None, 1, 8, 32, 64, 512]),
    later_alignment=st.sampled_from([None, 16, 128]),
    seed=st.integers(0, 2**16),
)
def test_merge_property(
    sizes: list[int], alignment: int | None, later_alignment: int | None, seed: int
) -> None:
    tensors = make_tensors(sum(sizes), seed)
    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        reference = write_gguf(directory / "reference.gguf", tensors, alignment=alignment)
        shards = write_shards(
            directory, tensors, sizes, alignment=alignment, later_alignment=later_alignment
        )
        plan = plan_merge(shards)
        merged = merge_to(plan, directory / "merged.gguf", chunk_size=100)
        assert plan.size == merged.stat().st_size
        assert merged.read_bytes() == reference.read_bytes()
        assert_same_model(merged, reference)


def test_real_model_split_by_hand_merges_back_byte_for_byte(
    real_gguf: Path, tmp_path: Path
) -> None:
    """llama.cpp wrote the real model; cut into shards and merged, it comes back unchanged."""
    split_by_hand(real_gguf, tmp_path / "gemma", cuts=[100, 101])
    plan = plan_merge([tmp_path / "gemma-00002-of-00003.gguf"])
    assert plan.size == real_gguf.stat().st_size
    merged = hashlib.sha256()
    for chunk in plan.chunks():
        merged.update(chunk)
    with open(real_gguf, "rb") as file:
        assert merged.hexdigest() == hashlib.file_digest(file, "sha256").hexdigest()


def split_by_hand(source: Path, prefix: Path, cuts: Sequence[int]) -> None:
    """Shards as gguf-split writes them (32-byte alignment), built with struct, not lamina."""
    with open(source, "rb") as file:
        header = scan(file, str(source), source.stat().st_size)
        kv = b"".join(_read(file, span.start, span.end) for span in header.kv_spans)
        bounds = [0, *cuts, len(header.tensors)]
        count = len(bounds) - 1
        for number in range(count):
            part = header.tensors[bounds[number] : bounds[number + 1]]
            split = b"".join((
                _kv("split.no", GGUFValueType.UINT16, struct.pack("<H", number)),
                _kv("split.count", GGUFValueType.UINT16, struct.pack("<H", count)),
                _kv("split.tensors.count", GGUFValueType.INT32, struct.pack("<i", bounds[-1])),
            ))  # fmt: skip
            n_kv = len(header.kv_spans) + 3 if number == 0 else 3
            head = struct.pack("<4sIQQ", b"GGUF", 3, len(part), n_kv)
            head += (kv if number == 0 else b"") + split + _infos(part)
            with open(f"{prefix}-{number + 1:05d}-of-{count:05d}.gguf", "wb") as shard:
                shard.write(head + bytes(-len(head) % 32))
                for tensor in part:
                    start = header.data_offset + tensor.offset
                    data = _read(file, start, start + (tensor.n_bytes or 0))
                    shard.write(data + bytes(-len(data) % 32))


def _infos(tensors: Sequence[TensorInfo]) -> bytes:
    infos, offset = b"", 0
    for tensor in tensors:
        name, n_dims = tensor.name.encode(), len(tensor.shape)
        infos += struct.pack(f"<Q{len(name)}sI{n_dims}QIQ", len(name), name, n_dims,
                             *tensor.shape, tensor.ggml_type, offset)  # fmt: skip
        offset += -(-(tensor.n_bytes or 0) // 32) * 32
    return infos


def _read(file: BinaryIO, start: int, end: int) -> bytes:
    file.seek(start)
    return file.read(end - start)


def _kv(key: str, vtype: GGUFValueType, value: bytes) -> bytes:
    return struct.pack("<Q", len(key)) + key.encode() + struct.pack("<I", vtype) + value


# --- streaming ----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1000, 4096, 1 << 20])
def test_chunks_have_the_asked_size(tmp_path: Path, chunk_size: int) -> None:
    tensors = make_tensors(6)
    reference = write_gguf(tmp_path / "reference.gguf", tensors).read_bytes()
    plan = plan_merge(write_shards(tmp_path, tensors, [3, 1, 2]))
    chunks = list(plan.chunks(chunk_size))
    assert all(isinstance(chunk, bytes) for chunk in chunks)
    assert all(len(chunk) == chunk_size for chunk in chunks[:-1])
    assert 0 < len(chunks[-1]) <= chunk_size
    assert b"".join(chunks) == reference
    assert plan.size == len(reference)


def test_chunks_can_be_read_again(tmp_path: Path) -> None:
    plan = plan_merge(write_shards(tmp_path, make_tensors(4), [2, 2]))
    first = b"".join(plan.chunks(333))
    assert b"".join(plan.chunks()) == first
    assert b"".join(plan.chunks(plan.size)) == first


@pytest.mark.parametrize("chunk_size", [0, -1])
def test_chunk_size_must_be_positive(tmp_path: Path, chunk_size: int) -> None:
    plan = plan_merge(write_shards(tmp_path, make_tensors(2), [1, 1]))
    with pytest.raises(ValueError, match="chunk_size"):
        plan.chunks(chunk_size)


def test_streaming_holds_about_one_chunk(tmp_path: Path) -> None:
    """Neither tensor data nor padding (here up to 1 MiB a tensor) is held beyond a chunk."""
    rng = np.random.default_rng(1)
    tensors: list[Tensor] = [
        (f"big.{i}", rng.integers(0, 255, (1 << 20) + 3 * i, dtype=np.uint8).view(np.int8), None)
        for i in range(8)
    ]
    plan = plan_merge(write_shards(tmp_path, tensors, [3, 3, 2], alignment=1 << 20))
    chunk_size = 64 << 10
    assert plan.size > 100 * chunk_size
    total = 0
    tracemalloc.start()
    try:
        for chunk in plan.chunks(chunk_size):
            assert len(chunk) <= chunk_size
            total += len(chunk)
            del chunk
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == plan.size
    assert peak < 8 * chunk_size


def test_a_shard_that_changes_stops_the_stream(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(4), [2, 2])
    plan = plan_merge(shards)
    stream = plan.chunks(16)
    next(stream)
    with open(shards[1], "ab") as file:
        file.write(b"\0" * 32)
    with pytest.raises(GGUFError) as caught:
        b"".join(stream)
    assert caught.value.path == str(shards[1])
    assert "changed while lamina was merging it" in caught.value.problem


def test_a_shard_that_shrinks_stops_the_stream(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(4), [2, 2])
    plan = plan_merge(shards)
    with open(shards[0], "r+b") as file:
        file.truncate(shards[0].stat().st_size - 10)
    with pytest.raises(GGUFError) as caught:
        b"".join(plan.chunks())
    assert caught.value.path == str(shards[0])


# --- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "group"),
    [
        ("model-00001-of-00003.gguf", ("model", 1, 3)),
        ("/some/dir/Qwen3-8B-Q4_K_M-00002-of-00002.gguf", ("Qwen3-8B-Q4_K_M", 2, 2)),
        ("a-b-00001-of-00001.gguf", ("a-b", 1, 1)),
        ("-00001-of-00002.gguf", ("", 1, 2)),
        ("model.gguf", None),
        ("model-0001-of-0003.gguf", None),
        ("model-00001-of-00003.GGUF", None),
        ("model-00001-of-00003.gguf.part", None),
        ("model-00001-00003.gguf", None),
    ],
)
def test_shard_group(name: str, group: tuple[str, int, int] | None) -> None:
    assert shard_group(Path(name)) == group
    assert shard_group(name) == group


# --- errors --------------------------------------------------------------------------------------


def test_a_missing_shard(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(3), [1, 1, 1])
    shards[1].unlink()
    error = gguf_error([shards[0], shards[2]])
    assert error.path == str(shards[1])
    assert error.problem == "missing: shard 2 of 3 is needed to merge the model"


def test_a_wrong_split_number(tmp_path: Path) -> None:
    wrong = {"split": {"split.no": 0, "split.count": 2, "split.tensors.count": 2}}
    shards = write_shards(tmp_path, make_tensors(2), [1, 1], shard1=wrong)
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert error.problem == (
        "its header says split.no=0 of split.count=2, but its name says shard 2 of 2 (split.no=1)"
    )


def test_a_wrong_split_count(tmp_path: Path) -> None:
    wrong = {"split": {"split.no": 0, "split.count": 3, "split.tensors.count": 2}}
    shards = write_shards(tmp_path, make_tensors(2), [1, 1], shard0=wrong)
    assert gguf_error(shards).path == str(shards[0])


def test_no_split_keys(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(2), [1, 1], shard1={"split": None})
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert "no split.no and split.count" in error.problem


def test_a_wrong_tensor_total(tmp_path: Path) -> None:
    wrong = {"split": {"split.no": 1, "split.count": 2, "split.tensors.count": 5}}
    shards = write_shards(tmp_path, make_tensors(3), [1, 2], shard1=wrong)
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert error.problem == "split.tensors.count is 5, but the shards hold 3 tensors"


def test_a_mismatched_architecture(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(2), [1, 1], shard1={"arch": "qwen3"})
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert error.problem == (
        "architecture 'qwen3' differs from shard 1's 'llama'; the shards do not match"
    )


def test_a_shard_that_is_not_a_gguf(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(2), [1, 1])
    shards[1].write_text('{"not": "a gguf"}')
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert error.problem == "not a GGUF file (found JSON text)"


def test_a_truncated_shard(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(4), [2, 2])
    data = shards[1].read_bytes()
    shards[1].write_bytes(data[: len(data) - 40])
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert error.problem.startswith("truncated GGUF: tensor data ends at byte")


def test_a_big_endian_shard(tmp_path: Path) -> None:
    big = {"endianess": GGUFEndian.BIG}
    shards = write_shards(tmp_path, make_tensors(2), [1, 1], shard1=big)
    assert read_info(shards[1]).split == (1, 2)
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert "big-endian" in error.problem


def test_a_tensor_of_unknown_type(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(2), [1, 1])
    data = bytearray(shards[1].read_bytes())
    name = b"blk.1.f16"
    type_at = data.index(name) + len(name) + 4 + 8  # past the dimension count and one dimension
    assert data[type_at : type_at + 4] == GGMLQuantizationType.F16.to_bytes(4, "little")
    data[type_at : type_at + 4] = (999).to_bytes(4, "little")
    shards[1].write_bytes(data)
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert error.problem == (
        "tensor 'blk.1.f16' has ggml type 999, which lamina cannot size, "
        "so the shards cannot be merged"
    )


def test_a_directory_named_like_a_shard(tmp_path: Path) -> None:
    shards = write_shards(tmp_path, make_tensors(2), [1, 1])
    shards[1].unlink()
    shards[1].mkdir()
    error = gguf_error(shards[:1])
    assert error.path == str(shards[1])
    assert error.problem == "is a directory, not a GGUF file"


def test_a_tensor_in_two_shards(tmp_path: Path) -> None:
    tensors = make_tensors(3)
    shards = write_shards(tmp_path, [*tensors, tensors[0]], [2, 2])
    error = gguf_error(shards)
    assert error.path == str(shards[1])
    assert error.problem == "tensor 'blk.0.f32' is also in model-00001-of-00002.gguf"


def test_a_name_that_is_not_a_shard(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "model.gguf", make_tensors(1))
    error = gguf_error([path])
    assert error.path == str(path)
    assert "not named like a shard" in error.problem


def test_shard_number_zero(tmp_path: Path) -> None:
    path = tmp_path / "model-00000-of-00002.gguf"
    assert gguf_error([path]).problem == "shard number 0 is outside 1 to 2"


def test_shards_of_two_models(tmp_path: Path) -> None:
    one = write_shards(tmp_path, make_tensors(2), [1, 1], prefix="one")
    two = write_shards(tmp_path, make_tensors(2), [1, 1], prefix="two")
    error = gguf_error([one[0], two[1]])
    assert error.path == str(two[1])
    assert error.problem == f"not a shard of the same split model as {one[0]}"


def test_no_shards() -> None:
    with pytest.raises(ValueError, match="at least one shard"):
        plan_merge([])
