"""Rounding to IEEE float32 exactly as Go's ``strconv.ParseFloat(s, 32)`` does.

Ollama parses float PARAMETERs to float32, so ``temperature 0.7`` is stored as the float32
nearest to 0.7. Going through float64 first would round twice and, for some inputs, land on the
wrong neighbour; here the decimal text is rounded once, from its exact value.
"""

from __future__ import annotations

import math
import re
import struct
from fractions import Fraction

_FLOAT32_MAX = Fraction(2**128 - 2**104)
_FLOAT32_MAX_EXCLUSIVE = Fraction(2**128 - 2**103)  # halfway from the largest float32 to 2**128
_DECIMAL = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def to_float32(value: float | int | str) -> float:
    """The float32 nearest to ``value`` (ties to even), rounded once from the exact number."""
    if isinstance(value, str):
        text = value.strip()
        if _DECIMAL.fullmatch(text) is None:
            special = float(text)  # "inf", "-Infinity", "nan"; nonsense raises ValueError
            if math.isfinite(special):
                raise ValueError(f"not a decimal number: {value!r}")
            return special
        exact = Fraction(text)
        negative = text.startswith("-")
    else:
        if math.isinf(value) or math.isnan(value):
            return float(value)
        exact = Fraction(value)
        negative = math.copysign(1.0, value) < 0
    if exact == 0:
        return -0.0 if negative else 0.0
    if abs(exact) >= _FLOAT32_MAX_EXCLUSIVE:
        raise ValueError(f"{value!r} is out of range for a float32")
    limit = float(_FLOAT32_MAX)
    best = pack32(max(-limit, min(limit, float(exact))))
    for candidate in (next32(best, up=False), next32(best, up=True)):
        gap, best_gap = abs(Fraction(candidate) - exact), abs(Fraction(best) - exact)
        if gap < best_gap or (gap == best_gap and bits32(candidate) % 2 == 0):
            best = candidate
    return -0.0 if best == 0 and negative else best


def pack32(value: float) -> float:
    """``value`` squeezed through a float32 (the nearest float32, for float64 input)."""
    result: float = struct.unpack("<f", struct.pack("<f", value))[0]
    return result


def bits32(value: float) -> int:
    bits: int = struct.unpack("<I", struct.pack("<f", value))[0]
    return bits


def next32(value: float, *, up: bool) -> float:
    """The neighbouring float32 above or below ``value`` (finite values only)."""
    if value == 0:
        tiny: float = struct.unpack("<f", struct.pack("<I", 1))[0]
        return tiny if up else -tiny
    bits = bits32(value)
    step = 1 if (value > 0) == up else -1
    if bits & 0x7FFFFFFF == 0x7F7FFFFF and step == 1:
        return value  # the largest float32 has no finite neighbour outwards
    result: float = struct.unpack("<f", struct.pack("<I", bits + step))[0]
    return result
