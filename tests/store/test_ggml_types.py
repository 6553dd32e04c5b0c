"""lamina's own GGUF type tables agree with the ``gguf`` package's."""

from __future__ import annotations

from gguf import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType

from store._ggml_types import TENSOR_TYPES, ValueType


def test_value_types_match_gguf() -> None:
    assert {t.name: int(t) for t in ValueType} == {t.name: int(t) for t in GGUFValueType}


def test_tensor_types_match_gguf() -> None:
    theirs = {
        int(t): (t.name, *GGML_QUANT_SIZES[t]) for t in GGMLQuantizationType
        if t in GGML_QUANT_SIZES
    }
    assert dict(TENSOR_TYPES) == theirs
