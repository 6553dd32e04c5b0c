"""Chat templates for weights that carry only a Jinja one: which prompt format a GGUF's
``tokenizer.chat_template`` speaks, and the Go template lamina writes for it.

GGUFs from the Hub carry their chat template as Jinja, which Ollama cannot run; a model created
from one without a TEMPLATE line would send the bare prompt. Ollama picks one of its own Go
templates by edit distance to a list of known Jinja texts. lamina looks instead for the markers
that define each family's prompt format (``<|im_start|>``, ``<start_of_turn>``, ...), on the text
with every blank removed, so a re-indented or reflowed template is recognised all the same; the
more specific families come first (Qwen before plain ChatML, Llama 2 before Mistral).

A GGUF without a chat template is matched by its architecture only where every chat model of
that architecture speaks one format (Gemma). Each family's Go template lives in
``store/templates/<name>.gotmpl``, written for lamina, with the stop words Ollama's own models
of that family use.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Literal

__all__ = ["FAMILIES", "Chosen", "Family", "choose", "family"]

_BLANKS = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Family:
    """One prompt format: its name, the Go template file and the stop words that end a turn."""

    name: str
    title: str
    stop: tuple[str, ...]
    file: str = ""

    @property
    def template(self) -> str:
        """The Go template text, read from the package's data files; the file's last line end
        is not part of it (Go would print it after the prompt)."""
        name = self.file or self.name
        text = (resources.files("store") / "templates" / f"{name}.gotmpl").read_text("utf-8")
        return text.removesuffix("\n")


@dataclass(frozen=True, slots=True)
class Chosen:
    """The family picked for some weights, and whether their chat template or their
    architecture (when they carry no template) decided it."""

    family: Family
    by: Literal["chat_template", "architecture"]


_Test = Callable[[str], bool]


def _has(*markers: str) -> _Test:
    squashed = tuple(_BLANKS.sub("", marker) for marker in markers)
    return lambda text: all(marker in text for marker in squashed)


def _any(*tests: _Test) -> _Test:
    return lambda text: any(test(text) for test in tests)


_DEEPSEEK = _has("<｜User｜>", "<｜Assistant｜>")
_IM = _has("<|im_start|>")
_PHI4 = _has("<|im_sep|>")  # Phi-4 marks turns with ChatML's tokens but another separator
_LLAMA3 = _has("<|start_header_id|>", "<|eot_id|>")
_QWEN_TOOLS = _has("<|im_start|>", "<tool_call>", "<tool_response>")

FAMILIES: tuple[tuple[Family, _Test], ...] = (
    (Family("deepseek-r1", "DeepSeek R1",
            ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>")),
     lambda t: _DEEPSEEK(t) and _has("<think>")(t) and not _has("thinking")(t)),
    (Family("deepseek-v3", "DeepSeek V3",
            ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>")),
     _DEEPSEEK),
    (Family("llama3.1", "Llama 3.1 / 3.2 / 3.3",
            ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
     lambda t: _LLAMA3(t) and _has("Cutting Knowledge Date")(t)),
    (Family("llama3", "Llama 3", ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>")),
     _LLAMA3),
    (Family("gemma3", "Gemma 3", ("<end_of_turn>",), file="gemma"),
     _has("<start_of_turn>", "first_user_prefix")),
    (Family("gemma", "Gemma / Gemma 2", ("<start_of_turn>", "<end_of_turn>")),
     _has("<start_of_turn>")),
    (Family("phi3", "Phi-3 / Phi-3.5", ("<|end|>", "<|system|>", "<|user|>", "<|assistant|>")),
     _has("<|user|>", "<|assistant|>", "<|end|>")),
    (Family("qwen3", "Qwen 3", ("<|im_start|>", "<|im_end|>")),
     lambda t: _QWEN_TOOLS(t) and _has("<think>")(t)),
    (Family("qwen2.5", "Qwen 2.5", ("<|im_start|>", "<|im_end|>")),
     _any(_QWEN_TOOLS, _has("<|im_start|>", "You are Qwen, created by Alibaba Cloud"))),
    (Family("chatml", "ChatML", ("<|im_start|>", "<|im_end|>")),
     lambda t: _IM(t) and not _PHI4(t)),
    (Family("command-r", "Command R", ("<|START_OF_TURN_TOKEN|>", "<|END_OF_TURN_TOKEN|>")),
     lambda t: _has("<|START_OF_TURN_TOKEN|>", "<|CHATBOT_TOKEN|>")(t)
     and not _has("<|START_RESPONSE|>")(t)),  # Command R7B writes its turns otherwise
    (Family("granite3", "Granite 3",
            ("<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>")),
     _has("<|start_of_role|>", "<|end_of_role|>")),
    (Family("llama2", "Llama 2", ("[INST]", "[/INST]", "<<SYS>>", "<</SYS>>")),
     _has("[INST]", "<<SYS>>")),
    (Family("mistral-v7", "Mistral Instruct (system prompt turns)", ("[INST]", "[/INST]")),
     _has("[INST]", "[/INST]", "[SYSTEM_PROMPT]", "[/SYSTEM_PROMPT]")),
    (Family("mistral", "Mistral Instruct", ("[INST]", "[/INST]")), _has("[INST]", "[/INST]")),
)

# Architectures whose chat models all speak one format, for weights that carry no template.
_BY_ARCHITECTURE = {"gemma3": "gemma3", "gemma2": "gemma", "gemma": "gemma"}


def family(name: str) -> Family:
    """The family called ``name``; KeyError for a name lamina does not know."""
    for known, _ in FAMILIES:
        if known.name == name:
            return known
    raise KeyError(name)


def match(jinja: str) -> Family | None:
    """The family whose prompt format a Jinja chat template writes, or None."""
    squashed = _BLANKS.sub("", jinja)
    return next((known for known, test in FAMILIES if test(squashed)), None)


def choose(chat_template: str | None, architecture: str) -> Chosen | None:
    """The family for weights with this chat template (or, lacking one, this architecture);
    None when the template is unknown, or absent and the architecture says nothing."""
    if chat_template and chat_template.strip():
        found = match(chat_template)
        return None if found is None else Chosen(found, "chat_template")
    name = _BY_ARCHITECTURE.get(architecture)
    return None if name is None else Chosen(family(name), "architecture")
