"""PARAMETER names, their types, and value parsing exactly as Ollama's ``api.FormatParams``."""

from __future__ import annotations

import difflib
import re
from enum import Enum

from ocitypes.float32 import to_float32

ParameterValue = int | float | bool | list[str]


class ParamType(Enum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    STRINGS = "list of strings"


_INT_NAMES = (
    "num_ctx", "num_batch", "num_gpu", "main_gpu", "num_thread", "draft_num_predict",
    "num_keep", "seed", "num_predict", "top_k", "repeat_last_n",
)  # fmt: skip
_FLOAT_NAMES = (
    "top_p", "min_p", "typical_p", "temperature", "repeat_penalty",
    "presence_penalty", "frequency_penalty",
)  # fmt: skip

PARAMETERS: dict[str, ParamType] = {
    **{name: ParamType.INT for name in _INT_NAMES},
    **{name: ParamType.FLOAT for name in _FLOAT_NAMES},
    "use_mmap": ParamType.BOOL,
    "stop": ParamType.STRINGS,
}
"""Every parameter Ollama accepts, with its type (Ollama ``api/types.go``)."""

DEPRECATED = frozenset({
    "penalize_newline", "low_vram", "f16_kv", "logits_all", "vocab_only", "use_mlock",
    "mirostat", "mirostat_tau", "mirostat_eta",
})  # fmt: skip
"""Accepted with a warning and dropped, as Ollama does."""

_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})
_INT = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_HEX = re.compile(r"[+-]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)[pP][+-]?[0-9]+")
_SPECIAL = re.compile(r"[+-]?(?:inf|infinity|nan)", re.IGNORECASE)
_INT64 = (-(2**63), 2**63 - 1)


class ParameterError(ValueError):
    """A parameter value Ollama would reject; the message is Ollama's own text."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


def parse_value(name: str, text: str) -> ParameterValue:
    """The typed value of ``PARAMETER name text``; ``stop`` gives a one-item list."""
    kind = PARAMETERS.get(name)
    if kind is None:
        raise ParameterError(f"unknown parameter '{name}'", suggest(name))
    if kind is ParamType.STRINGS:
        return [text]
    if kind is ParamType.INT:
        return _parse_int(text)
    if kind is ParamType.FLOAT:
        return _parse_float32(text)
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ParameterError(f"invalid bool value [{text}]", "use true or false")


def suggest(name: str) -> str | None:
    """A did-you-mean hint for an unknown parameter name."""
    known = [*PARAMETERS, *DEPRECATED]
    close = difflib.get_close_matches(name.lower(), known, n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else None


def _parse_int(text: str) -> int:
    # Go's strconv.ParseInt(s, 10, 64): decimal digits only, no blanks, no underscores.
    if _INT.fullmatch(text):
        value = int(text)
        if _INT64[0] <= value <= _INT64[1]:
            return value
    raise ParameterError(
        f"invalid int value [{text}]", "write a whole number in base 10, like 4096"
    )


def _parse_float32(text: str) -> float:
    """Go's strconv.ParseFloat(s, 32): the text rounded once to float32, overflow rejected.

    Go would also accept ``inf`` and ``nan``, but Ollama cannot store them (JSON has no such
    numbers) and fails at create, so they are refused here, where the line is known.
    """
    if _DECIMAL.fullmatch(text):
        source: str | float = text
    elif _HEX.fullmatch(text):
        source = float.fromhex(text)
    elif _SPECIAL.fullmatch(text):
        raise ParameterError(f"invalid float value [{text}]", "the value must be a finite number")
    else:
        raise ParameterError(f"invalid float value [{text}]", "write a number, like 0.7")
    try:
        return to_float32(source)
    except ValueError:
        raise ParameterError(
            f"invalid float value [{text}]", "the number is out of range"
        ) from None
