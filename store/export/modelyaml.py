"""LM Studio's model.yaml (a "virtual model") for an exported model, and a small YAML writer.

The definition layers a model's runtime settings over the GGUF folder lamina linked::

    model: <owner>/<name>
    base:
      - key: <publisher>/<repo>          # the folder under LM Studio's models folder
        sources: []                      # or the Hugging Face repo, for hf.co/ models
    config:
      operation: {fields: [{key: llm.prediction.…, value: …}, …]}
      load: {fields: [{key: llm.load.contextLength, value: …}]}

Values are checked against the ranges LM Studio's config schema accepts; one outside them is left
out with a warning, as is everything without an LM Studio equivalent (a Go TEMPLATE above all).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["Settings", "definition", "dump", "kebab"]

Field = dict[str, object]


@dataclass(frozen=True, slots=True)
class Settings:
    """What a model's layers say about running it."""

    system: str | None
    template: str | None
    parameters: Mapping[str, object]
    has_messages: bool = False


def _number(low: float | None = None, high: float | None = None, *, integer: bool = False
            ) -> Callable[[object], float | int | None]:
    def check(value: object) -> float | int | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        if not math.isfinite(value) or (integer and value != int(value)):
            return None
        if (low is not None and value < low) or (high is not None and value > high):
            return None
        return int(value) if integer else value

    return check


# Ollama parameter -> (LM Studio key, scope, checkbox?, accepted values), in the order written.
_MAPPING: tuple[tuple[str, str, str, bool, Callable[[object], float | int | None]], ...] = (
    ("temperature", "llm.prediction.temperature", "operation", False, _number(0)),
    ("top_k", "llm.prediction.topKSampling", "operation", False, _number(-1, 500, integer=True)),
    ("top_p", "llm.prediction.topPSampling", "operation", True, _number(0, 1)),
    ("min_p", "llm.prediction.minPSampling", "operation", True, _number(0, 1)),
    ("repeat_penalty", "llm.prediction.repeatPenalty", "operation", True, _number(-1)),
    ("num_ctx", "llm.load.contextLength", "load", False, _number(1, integer=True)),
)  # fmt: skip


def definition(model: str, key: str, sources: list[Field], settings: Settings
               ) -> tuple[dict[str, object], list[str]]:
    """The model.yaml document, and a warning for each setting LM Studio cannot take."""
    warnings: list[str] = []
    operation: list[Field] = []
    load: list[Field] = []
    if settings.system:
        operation.append({"key": "llm.prediction.systemPrompt", "value": settings.system})
    params = dict(settings.parameters)
    for ollama_key, lms_key, scope, checkbox, accept in _MAPPING:
        if ollama_key not in params:
            continue
        raw = params.pop(ollama_key)
        value = accept(raw)
        if value is None:
            warnings.append(f"PARAMETER {ollama_key} {raw} is outside what LM Studio accepts "
                            f"for {lms_key}; left out of model.yaml")
            continue
        field_value: object = {"checked": True, "value": value} if checkbox else value
        (load if scope == "load" else operation).append({"key": lms_key, "value": field_value})
    if "stop" in params:
        stops = params.pop("stop")
        listed = stops if isinstance(stops, list) else [stops]
        operation.append({"key": "llm.prediction.stopStrings",
                          "value": [str(s) for s in listed]})
    _special(params, operation, warnings)
    for left in sorted(params):
        warnings.append(f"PARAMETER {left} has no LM Studio setting lamina knows; "
                        "left out of model.yaml")
    if settings.template:
        warnings.append("the model's TEMPLATE is a Go template, which LM Studio cannot use; "
                        "LM Studio will format prompts with the GGUF's own chat template "
                        "(tokenizer.chat_template) instead")
    if settings.has_messages:
        warnings.append("MESSAGE lines have no LM Studio equivalent; left out of model.yaml")
    config: dict[str, object] = {}
    if operation:
        config["operation"] = {"fields": operation}
    if load:
        config["load"] = {"fields": load}
    document: dict[str, object] = {"model": model, "base": [{"key": key, "sources": sources}]}
    if config:
        document["config"] = config
    return document, warnings


def _special(params: dict[str, object], operation: list[Field], warnings: list[str]) -> None:
    """num_predict and seed: Ollama's negative values mean "off", LM Studio's checkbox."""
    if "num_predict" in params:
        raw = params.pop("num_predict")
        value = _number(integer=True)(raw)
        if value is None:
            warnings.append(f"PARAMETER num_predict {raw} is not a whole number; left out")
        else:  # -1 (no limit) and -2 (fill the context) are LM Studio's unchecked box
            operation.append({"key": "llm.prediction.maxPredictedTokens", "value":
                              {"checked": True, "value": value} if value >= 1
                              else {"checked": False, "value": 1000}})
    if "seed" in params:
        raw = params.pop("seed")
        value = _number(integer=True)(raw)
        if value is None:
            warnings.append(f"PARAMETER seed {raw} is not a whole number; left out")
        else:
            operation.append({"key": "llm.prediction.seed", "value":
                              {"checked": True, "value": value} if value >= 0
                              else {"checked": False, "value": -1}})


def kebab(text: str) -> str:
    """Lower-case words joined by single dashes, as LM Studio's owner and name must be."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return "-".join(words)[:100].strip("-") or "model"


# -- YAML ------------------------------------------------------------------------------------

# Characters a YAML double-quoted scalar must escape beyond what JSON escapes: non-printables
# and the characters YAML reads as line breaks.
_UNPRINTABLE = re.compile("[\x7f-\x84\x86-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")


def _scalar(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} cannot be written to model.yaml")
        return repr(value)
    text = json.dumps(str(value), ensure_ascii=False)
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _lines(value: object, indent: int) -> list[str]:
    pad = " " * indent
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}"]
        out = []
        for key, item in value.items():
            if _is_block(item):
                out.append(f"{pad}{key}:")
                out.extend(_lines(item, indent + 2))
            else:
                out.append(f"{pad}{key}: {_inline(item)}")
        return out
    if isinstance(value, list):
        if not value:
            return [pad + "[]"]
        out = []
        for item in value:
            nested = _lines(item, indent + 2)
            out.append(f"{pad}- {nested[0].lstrip()}")
            out.extend(nested[1:])
        return out
    return [pad + _scalar(value)]


def _is_block(value: object) -> bool:
    return isinstance(value, Mapping | list) and bool(value)


def _inline(value: object) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return _scalar(value)


def dump(document: Mapping[str, object], header: str = "") -> str:
    """Block-style YAML with every string double-quoted (so no value is read as another type)."""
    comment = "".join(f"# {line}\n" for line in header.splitlines())
    return comment + "\n".join(_lines(document, 0)) + "\n"
