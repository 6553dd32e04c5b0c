"""Go-compatible JSON: golden blobs from Ollama's create tests, escapes, Go float formatting."""

from __future__ import annotations

import hashlib
import json
import math
import struct
from decimal import Decimal, localcontext
from fractions import Fraction

import numpy
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocitypes import gojson
from ocitypes.gojson import Float32, encode, marshal


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _f32(value: float) -> float:
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def test_params_golden_vector() -> None:
    params = {
        "top_p": Float32(0.7),
        "stop": ["<|endoftext|>"],
        "top_k": 10,
        "temperature": Float32(0.6),
    }
    data = encode(params)
    assert data == (
        b'{"stop":["\\u003c|endoftext|\\u003e"],"temperature":0.6,"top_k":10,"top_p":0.7}\n'
    )
    assert _sha(data) == "12f58bb75cb3042d69a7e013ab87fb3c3c7088f50ddc62f0c77bd332f0d44d35"


def _messages(*pairs: tuple[str, str]) -> list[dict[str, str]]:
    return [{"role": role, "content": content} for role, content in pairs]


# Blob digests that Ollama's server/routes_create_test.go expects to find on disk.
@pytest.mark.parametrize(
    ("value", "sort_keys", "digest"),
    [
        (
            {"temperature": 1.0, "top_k": 10, "stop": ["USER:", "ASSISTANT:"]},
            True,
            "1d0ad71299d48c2fb7ae2b98e683643e771f8a5b72be34942af90d97a91c1e37",
        ),
        (
            {
                "temperature": Float32(0.6),
                "top_k": 10,
                "top_p": Float32(0.7),
                "stop": ["USER:", "ASSISTANT:"],
            },
            True,
            "e29a7b3c47287a2489c895d21fe413c20f859a85d20e749492f52a838e36e1ba",
        ),
        (
            _messages(
                ("assistant", "What is my purpose?"),
                ("user", "You run tests."),
                ("assistant", "Oh, my god."),
            ),
            False,
            "298baeaf6928a60cf666d88d64a1ba606feb43a2865687c39e40652e407bffc4",
        ),
        (
            _messages(
                ("assistant", "You're a test, Harry."),
                ("user", "I-I'm a what?"),
                ("assistant", "A test. And a thumping good one at that, I'd wager."),
            ),
            False,
            "a60ecc9da299ec7ede453f99236e5577fd125e143689b646d9f0ddc9971bf4db",
        ),
    ],
)
def test_create_test_blob_digests(value: object, sort_keys: bool, digest: str) -> None:
    assert _sha(encode(value, sort_keys=sort_keys)) == digest


def test_messages_keep_struct_order() -> None:
    messages = [{"role": "user", "content": "Hello"}]
    assert encode(messages, sort_keys=False) == b'[{"role":"user","content":"Hello"}]\n'
    assert encode(messages) == b'[{"content":"Hello","role":"user"}]\n'


def test_marshal_has_no_newline() -> None:
    assert marshal({"a": 1}) == b'{"a":1}'
    assert encode({"a": 1}) == b'{"a":1}\n'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", '"plain"'),
        ("<>&", '"\\u003c\\u003e\\u0026"'),
        ('"\\', '"\\"\\\\"'),
        ("\n\r\t", '"\\n\\r\\t"'),
        ("\b\f", '"\\b\\f"'),
        ("\x00\x01\x1b\x1f", '"\\u0000\\u0001\\u001b\\u001f"'),
        ("\x7f", '"\x7f"'),
        ("/", '"/"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("héllo ✓ 😀", '"héllo ✓ 😀"'),
        ("\u0085\u00a0\ufeff", '"\u0085\u00a0\ufeff"'),
        ("a\ud800b", '"a\ufffdb"'),
        ("\udc80\udcff", '"\ufffd\ufffd"'),
        ("\ud83d\ude00", '"😀"'),
        ("'", '"\'"'),
    ],
)
def test_string_escapes(value: str, expected: str) -> None:
    assert marshal(value) == expected.encode("utf-8")


def test_escape_html_off() -> None:
    assert marshal("<a&b>\u2028\n", escape_html=False) == b'"<a&b>\\u2028\\n"'


def test_keys_are_escaped_and_sorted_by_code_point() -> None:
    value = {"b": 1, "a<": 2, "é": 3, "Z": 4, "aa": 5}
    assert marshal(value) == '{"Z":4,"a\\u003c":2,"aa":5,"b":1,"é":3}'.encode()
    assert marshal(value, sort_keys=False) == '{"b":1,"a\\u003c":2,"é":3,"Z":4,"aa":5}'.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-12, "-12"),
        (2**70, "1180591620717411303424"),
        ([], "[]"),
        ((), "[]"),
        ({}, "{}"),
        ([1, [2, {"x": None}]], '[1,[2,{"x":null}]]'),
    ],
)
def test_scalars_and_containers(value: object, expected: str) -> None:
    assert marshal(value) == expected.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (100.0, "100"),
        (-2.5, "-2.5"),
        (0.1, "0.1"),
        (0.7, "0.7"),
        (1 / 3, "0.3333333333333333"),
        (123456789.0, "123456789"),
        (1e-6, "0.000001"),
        (9.99e-7, "9.99e-7"),
        (1e-7, "1e-7"),
        (1.5e-10, "1.5e-10"),
        (1e-100, "1e-100"),
        (5e-324, "5e-324"),
        (1e20, "100000000000000000000"),
        (999999999999999900000.0, "999999999999999900000"),
        (1e21, "1e+21"),
        (1.5e300, "1.5e+300"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (2.0**53 + 2, "9007199254740994"),
    ],
)
def test_float64_format(value: float, expected: str) -> None:
    assert marshal(value) == expected.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.6, "0.6"),
        (0.7, "0.7"),
        (0.1, "0.1"),
        (0.95, "0.95"),
        (1.1, "1.1"),
        (0.05, "0.05"),
        (1e-7, "1e-7"),
        (1e-6, "0.000001"),
        (3.4e38, "3.4e+38"),
        (3.4028234663852886e38, "3.4028235e+38"),
        (1.0, "1"),
        (100.0, "100"),
        (-0.0, "-0"),
        (123456789.0, "123456790"),
        (16777217.0, "16777216"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1e-45, "1e-45"),
        (1.1754942e-38, "1.1754942e-38"),
        (1.17549435e-38, "1.1754944e-38"),
        (0.3, "0.3"),
        (2.0 / 3.0, "0.6666667"),
        (-1.5, "-1.5"),
    ],
)
def test_float32_format(value: float, expected: str) -> None:
    assert marshal(Float32(value)) == expected.encode()
    assert str(Float32(value)) == expected
    assert marshal(Float32(expected)) == expected.encode()


def test_float32_value_and_repr() -> None:
    value = Float32(0.7)
    assert float(value) == _f32(0.7) == 0.699999988079071
    assert repr(value) == "Float32(0.7)"
    assert Float32("0.7") == value
    assert Float32(" 1e-7 ") == Float32(1e-7)
    assert Float32(10) == 10.0


def test_float32_from_text_rounds_once() -> None:
    # Just above the midpoint between 1 and the next float32: rounding through float64 lands
    # on the midpoint and ties down to 1, but the exact value rounds up.
    midpoint = Decimal(1 + 2**-24)
    with localcontext() as context:
        context.prec = 60
        text = str(midpoint + Decimal("1e-30"))
    assert text == "1.000000059604644775390625000001"
    assert _f32(float(text)) == 1.0
    assert Float32(text) == 1 + 2**-23
    assert Float32(str(midpoint)) == 1.0  # an exact tie goes to the even mantissa


@pytest.mark.parametrize("text", ["-0", "-0.0", "-0e5"])
def test_float32_negative_zero_text(text: str) -> None:
    assert marshal(Float32(text)) == b"-0"


@pytest.mark.parametrize(("text", "expected"), [("inf", math.inf), ("-Infinity", -math.inf)])
def test_float32_special_text(text: str, expected: float) -> None:
    assert Float32(text) == expected
    assert math.isnan(Float32("nan"))
    assert str(Float32(text)) == repr(expected)


@pytest.mark.parametrize("text", ["", "0.7.1", "1_000", "0x1p-2", "1/3", "seven"])
def test_float32_rejects_non_decimal_text(text: str) -> None:
    with pytest.raises(ValueError):
        Float32(text)


@pytest.mark.parametrize("value", [3.5e38, -1e39, "3.4028236e38", 2.0**128])
def test_float32_out_of_range(value: float | str) -> None:
    with pytest.raises(ValueError, match="out of range for a float32"):
        Float32(value)


def test_float32_largest_and_below_halfway() -> None:
    largest = float(Fraction(2**128 - 2**104))
    assert Float32("340282356779733661637539395458142568447") == largest  # below the halfway
    assert Float32(largest) == largest


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, Float32(math.inf)])
def test_non_finite_floats_are_rejected(value: float) -> None:
    with pytest.raises(ValueError, match="unsupported value"):
        marshal([value])


@pytest.mark.parametrize("value", [b"bytes", {1, 2}, object(), {1: "int key"}])
def test_unsupported_types(value: object) -> None:
    with pytest.raises(TypeError):
        marshal(value)


def _significant_digits(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].replace(".", "")
    return len(mantissa.lstrip("0").rstrip("0")) or 1


def _float32_bits() -> st.SearchStrategy[float]:
    finite = st.integers(min_value=1, max_value=0x7F7FFFFF)
    return finite.map(lambda bits: float(struct.unpack("<f", struct.pack("<I", bits))[0]))


@given(_float32_bits())
def test_float32_text_is_shortest_round_trip(value: float) -> None:
    text = marshal(Float32(value)).decode()
    assert Float32(text) == value
    digits = _significant_digits(text)
    if digits > 1:
        # The nearest decimals with one digit fewer, on both sides, must not read back.
        exact = Decimal(value)
        quantum = Decimal(1).scaleb(exact.adjusted() - (digits - 2))
        with localcontext() as context:
            context.prec = 100
            below = (exact / quantum).to_integral_value(rounding="ROUND_FLOOR") * quantum
            above = below + quantum
        for candidate in (below, above):
            if candidate < Decimal(2**128 - 2**103):
                assert Float32(str(candidate)) != value


@given(_float32_bits())
def test_float32_text_matches_numpy(value: float) -> None:
    ours = Decimal(marshal(Float32(value)).decode())
    theirs = Decimal(numpy.format_float_scientific(numpy.float32(value), unique=True))
    assert ours == theirs


@given(st.floats(min_value=0, exclude_min=True, allow_infinity=False, allow_nan=False))
def test_shortest_algorithm_matches_python_repr_for_float64(value: float) -> None:
    digits, power = gojson._shortest(value, mantissa_bits=52, min_exponent=-1074)
    assert Decimal(f"{digits}e{power}") == Decimal(repr(value))


@given(st.floats(allow_infinity=False, allow_nan=False))
def test_float64_text_reads_back(value: float) -> None:
    text = marshal(value).decode()
    assert float(text) == value
    assert Decimal(text) == Decimal(repr(value))
    assert "e" not in text or abs(value) < 1e-6 or abs(value) >= 1e21
    assert not text.endswith(".0")


def _same(read: object, written: object) -> bool:
    """Equal as JSON values: Go writes integral floats without a fraction, so 2.0 reads as 2."""
    if isinstance(written, float) and isinstance(read, int | float):
        return float(read) == written
    if isinstance(written, list) and isinstance(read, list):
        return len(read) == len(written) and all(map(_same, read, written))
    if isinstance(written, dict) and isinstance(read, dict):
        return read.keys() == written.keys() and all(_same(read[k], written[k]) for k in read)
    return type(read) is type(written) and read == written


_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(_json_values, st.booleans())
def test_output_is_json_that_reads_back(value: object, sort_keys: bool) -> None:
    data = encode(value, sort_keys=sort_keys)
    assert data.endswith(b"\n")
    assert _same(json.loads(data), value)
    assert b"<" not in data and b">" not in data and b"&" not in data
    assert "\u2028".encode() not in data and "\u2029".encode() not in data


@given(st.dictionaries(st.text(), st.integers(), max_size=6))
def test_sorted_keys_match_pythons_sort(value: dict[str, int]) -> None:
    assert list(json.loads(marshal(value))) == sorted(value)
    assert list(json.loads(marshal(value, sort_keys=False))) == list(value)


@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_strings_without_specials_match_json_dumps(text: str) -> None:
    expected = json.dumps(text, ensure_ascii=False)
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        expected = expected.replace(char, escape)
    expected = expected.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    assert marshal(text) == expected.encode()
