"""JSON bytes exactly as Go's ``encoding/json`` writes them, so that blob digests match Ollama's.

Go's encoder differs from :func:`json.dumps` in small ways that change digests:

* compact output; map keys sorted, struct fields in declared order (``sort_keys=False`` keeps
  dict insertion order for that);
* ``<``, ``>``, ``&`` written as ``\\u003c``, ``\\u003e``, ``\\u0026`` and U+2028, U+2029 as
  ``\\u2028``, ``\\u2029``; other non-ASCII raw UTF-8; control characters as ``\\b \\f \\n \\r
  \\t`` or ``\\u00XX`` with lowercase hex;
* floats as the shortest decimal that reads back to the same value, without a fraction when
  integral (``1``), in exponent form only below 1e-6 or from 1e21 up (``1e-7``, ``1e+21``);
* :class:`Float32` values use float32's shortest decimal (``0.7``, not ``0.699999988079071``),
  which is what a CLI-parsed float32 parameter becomes in Ollama's params blob;
* ``Encoder.Encode`` ends the document with ``\\n``; :func:`marshal` (``json.Marshal``) does not.

A Python string cannot hold invalid UTF-8; undecodable input shows up as lone surrogates, and
each becomes U+FFFD, as Go's decoder would have made it before the value was re-encoded.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .errors import InvalidJSON

if TYPE_CHECKING:
    from fractions import Fraction

__all__ = ["Float32", "encode", "marshal"]



class Float32(float):
    """A float32 value: the nearest float32 to the given number, encoded with float32's
    shortest decimal (``Float32(0.7)`` is written ``0.7``)."""

    __slots__ = ()

    def __new__(cls, value: float | int | str) -> Float32:
        from .float32 import to_float32  # here: it loads fractions, which reading JSON never needs

        return super().__new__(cls, to_float32(value))

    def __repr__(self) -> str:
        return f"Float32({self})"

    def __str__(self) -> str:
        if math.isinf(self) or math.isnan(self):
            return float.__repr__(self)
        return _format_float(self)


def _shortest(value: float, *, mantissa_bits: int, min_exponent: int) -> tuple[str, int]:
    """Digits and power of ten of the shortest decimal that reads back to ``value`` (> 0) in a
    binary format with that many fraction bits, closest to ``value`` on ties (Ryu/Go rules)."""
    from fractions import Fraction  # here: it loads decimal, which reading JSON never needs

    mantissa, exponent = _decompose(value, mantissa_bits, min_exponent)
    exact = Fraction(mantissa) * Fraction(2) ** exponent
    half_up = Fraction(2) ** exponent / 2
    lower_gap_halved = mantissa == 1 << mantissa_bits and exponent > min_exponent
    half_down = half_up / 2 if lower_gap_halved else half_up
    low, high, inclusive = exact - half_down, exact + half_up, mantissa % 2 == 0
    top = _floor_log10(exact)
    for digits in range(1, 40):
        scale = Fraction(10) ** (top - digits + 1)
        lo, hi = low / scale, high / scale
        first = math.ceil(lo) if inclusive else math.floor(lo) + 1
        last = math.floor(hi) if inclusive else math.ceil(hi) - 1
        if first <= last:
            chosen = min(max(round(exact / scale), first), last)
            power = top - digits + 1
            while chosen % 10 == 0:
                chosen //= 10
                power += 1
            return str(chosen), power
    raise AssertionError("no decimal found")  # pragma: no cover - the loop always returns


def _decompose(value: float, mantissa_bits: int, min_exponent: int) -> tuple[int, int]:
    """``(m, e)`` with value == m * 2**e, m below 2**(mantissa_bits + 1), e >= min_exponent."""
    numerator, denominator = value.as_integer_ratio()
    exponent = -(denominator.bit_length() - 1)
    while numerator.bit_length() > mantissa_bits + 1 or exponent < min_exponent:
        numerator //= 2  # exact: value is representable in the format
        exponent += 1
    while numerator.bit_length() <= mantissa_bits and exponent > min_exponent:
        numerator *= 2
        exponent -= 1
    return numerator, exponent


def _floor_log10(value: Fraction) -> int:
    from fractions import Fraction

    guess = math.floor(math.log10(value.numerator) - math.log10(value.denominator))
    while Fraction(10) ** guess > value:
        guess -= 1
    while Fraction(10) ** (guess + 1) <= value:
        guess += 1
    return guess


def _format_float(value: float) -> str:
    """``value`` as Go's encoding/json writes a float64, or a float32 for :class:`Float32`."""
    if math.isinf(value) or math.isnan(value):
        raise ValueError(f"json: unsupported value: {value!r}")
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    if isinstance(value, Float32):
        from .float32 import pack32

        digits, power = _shortest(magnitude, mantissa_bits=23, min_exponent=-149)
        scientific = magnitude < pack32(1e-6) or magnitude >= pack32(1e21)
    else:
        digits, power = _digits_of_repr(magnitude)
        scientific = magnitude < 1e-6 or magnitude >= 1e21
    if scientific:
        return sign + _scientific(digits, power)
    return sign + _positional(digits, power)


def _digits_of_repr(magnitude: float) -> tuple[str, int]:
    """Shortest round-trip digits of a float64, from Python's own shortest ``repr``."""
    mantissa, _, exp_text = repr(magnitude).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    power = (int(exp_text) if exp_text else 0) - len(fraction)
    stripped = digits.rstrip("0")
    return stripped, power + len(digits) - len(stripped)


def _positional(digits: str, power: int) -> str:
    if power >= 0:
        return digits + "0" * power
    point = len(digits) + power
    if point > 0:
        return digits[:point] + "." + digits[point:]
    return "0." + "0" * -point + digits


def _scientific(digits: str, power: int) -> str:
    exponent = power + len(digits) - 1
    head = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    # Go writes at least two exponent digits, then trims "e-07" to "e-7" (not "e+07").
    if exponent < 0:
        return f"{head}e-{-exponent}"
    return f"{head}e+{exponent:02d}"


_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_NEEDS_ESCAPE_HTML = re.compile('[\x00-\x1f"\\\\<>&\u2028\u2029]')
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\\u2028\u2029]')
_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _string(text: str, *, escape_html: bool) -> str:
    if _SURROGATE.search(text):
        # Pair up split surrogates, and turn every lone one into U+FFFD.
        text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    pattern = _NEEDS_ESCAPE_HTML if escape_html else _NEEDS_ESCAPE
    return '"' + pattern.sub(_escape_char, text) + '"'


def _write(value: object, out: list[str], *, sort_keys: bool, escape_html: bool) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        out.append(str(int(value)))
    elif isinstance(value, float):
        out.append(_format_float(value))
    elif isinstance(value, str):
        out.append(_string(value, escape_html=escape_html))
    elif isinstance(value, Mapping):
        _write_object(value, out, sort_keys=sort_keys, escape_html=escape_html)
    elif isinstance(value, list | tuple):
        out.append("[")
        for index, item in enumerate(value):
            if index:
                out.append(",")
            _write(item, out, sort_keys=sort_keys, escape_html=escape_html)
        out.append("]")
    else:
        raise TypeError(f"json: unsupported type: {type(value).__name__}")


def _write_object(
    value: Mapping[object, object], out: list[str], *, sort_keys: bool, escape_html: bool
) -> None:
    keys: list[str] = []
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"json: object keys must be str, not {type(key).__name__}")
        keys.append(key)
    if sort_keys:
        keys.sort()
    out.append("{")
    for index, key in enumerate(keys):
        if index:
            out.append(",")
        out.append(_string(key, escape_html=escape_html))
        out.append(":")
        _write(value[key], out, sort_keys=sort_keys, escape_html=escape_html)
    out.append("}")


def marshal(value: object, *, sort_keys: bool = True, escape_html: bool = True) -> bytes:
    """``value`` as Go's ``json.Marshal`` writes it: no trailing newline.

    ``sort_keys=False`` keeps dict insertion order, as Go does for struct fields."""
    out: list[str] = []
    _write(value, out, sort_keys=sort_keys, escape_html=escape_html)
    return "".join(out).encode("utf-8")


def encode(value: object, *, sort_keys: bool = True, escape_html: bool = True) -> bytes:
    """``value`` as Go's ``json.NewEncoder(w).Encode`` writes it: ends with a newline."""
    return marshal(value, sort_keys=sort_keys, escape_html=escape_html) + b"\n"


def load_object(data: bytes, what: str) -> dict[str, object]:
    """Decode a UTF-8 JSON object, refusing NaN and Infinity as Go does; errors name ``what``."""
    document = _load(data, what)
    if not isinstance(document, dict):
        raise InvalidJSON(what, "is not a JSON object")
    return document


def load_array(data: bytes, what: str) -> list[object]:
    """Decode a UTF-8 JSON array, as ``load_object`` does objects."""
    document = _load(data, what)
    if not isinstance(document, list):
        raise InvalidJSON(what, "is not a JSON array")
    return document


def _load(data: bytes, what: str) -> object:
    try:
        return json.loads(data.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidJSON(what, f"is not valid JSON: {exc}") from exc


def _reject_constant(text: str) -> object:
    raise ValueError(f"{text} is not a JSON number")
