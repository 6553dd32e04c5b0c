"""The TEMPLATE create gives weights that carry only a Jinja chat template.

Ollama runs this only for weights named by FROM, when the Modelfile has no TEMPLATE; lamina
also runs it for a parent model that has no template layer of its own (a model built from such
weights by a tool that did not pick one). The chosen family's template becomes a template layer
right after the weights and its stop words the first params merged, so the Modelfile's
PARAMETERs and the parent's win over them, as in Ollama.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocitypes import mediatypes

from .. import chat
from ..gguf import GGUFInfo

if TYPE_CHECKING:
    import modelfile

__all__ = ["Candidate", "Pick", "pick", "unmatched_warning"]

_TEMPLATES = (mediatypes.TEMPLATE, mediatypes.LEGACY_PROMPT)


@dataclass(frozen=True, slots=True)
class Candidate:
    """The model weights a template would be chosen for: their header, the name to show and
    the FROM value that named them."""

    info: GGUFInfo
    label: str
    value: str


@dataclass(frozen=True, slots=True)
class Pick:
    """What was looked at and what came of it: ``chosen`` is None when nothing matched."""

    candidate: Candidate
    chosen: chat.Chosen | None

    @property
    def unmatched(self) -> bool:
        """The weights carry a Jinja template that no family matches."""
        return self.chosen is None and bool((self.candidate.info.chat_template or "").strip())

    def status(self) -> str:
        assert self.chosen is not None
        family = self.chosen.family
        why = (f"{self.candidate.label}'s chat template" if self.chosen.by == "chat_template"
               else f"architecture {self.candidate.info.architecture} "
                    f"({self.candidate.label} carries no chat template)")
        return f"using autodetected template {family.name} ({family.title}), chosen by {why}"

    def params(self) -> dict[str, object]:
        """The params the template brings: its family's stop words."""
        assert self.chosen is not None
        return {"stop": list(self.chosen.family.stop)}


def pick(template: str | None, candidates: Sequence[Candidate],
         existing_media_types: Sequence[str] = ()) -> Pick | None:
    """The template choice for the first model weights, or None when the Modelfile (or the
    parent's layers) already give a template or there are no weights to look at."""
    if template or not candidates or any(m in _TEMPLATES for m in existing_media_types):
        return None
    first = candidates[0]
    return Pick(first, chat.choose(first.info.chat_template, first.info.architecture))


def unmatched_warning(source: modelfile.Modelfile, found: Pick) -> modelfile.Diagnostic | None:
    """The warning for weights whose Jinja template lamina does not recognise, at their FROM."""
    import modelfile

    if not found.unmatched:
        return None
    instruction = next((i for i in source.of_kind(modelfile.Kind.FROM)
                        if i.value == found.candidate.value), None)
    if instruction is None:
        return None
    return modelfile.warning_at(
        source, instruction,
        f"{found.candidate.label} carries a chat template lamina does not recognise, so the "
        "model gets no TEMPLATE and is sent the bare prompt",
        "add a TEMPLATE line: a Go template writing the prompt format its "
        "tokenizer.chat_template describes",
    )
