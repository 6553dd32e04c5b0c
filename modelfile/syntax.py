"""The typed syntax tree of a Modelfile: frozen values built by the parser.

Equality ignores positions, so ``parse(format(m)) == m`` compares what a Modelfile says, not
where it said it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Kind(StrEnum):
    """Instruction keywords, spelled as ``fmt`` writes them."""

    FROM = "FROM"
    PARAMETER = "PARAMETER"
    TEMPLATE = "TEMPLATE"
    SYSTEM = "SYSTEM"
    ADAPTER = "ADAPTER"
    LICENSE = "LICENSE"
    MESSAGE = "MESSAGE"
    REQUIRES = "REQUIRES"
    DRAFT = "DRAFT"
    RENDERER = "RENDERER"
    PARSER = "PARSER"


ROLES = ("system", "user", "assistant")


@dataclass(frozen=True, slots=True)
class Position:
    line: int
    column: int


_NOWHERE = Position(0, 0)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction; ``value`` is the text after unquoting, exactly as Ollama reads it."""

    kind: Kind
    value: str
    position: Position = field(default=_NOWHERE, compare=False)
    value_position: Position = field(default=_NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Parameter(Instruction):
    """``PARAMETER name value``; the name keeps its case."""

    name: str = ""


@dataclass(frozen=True, slots=True)
class Message(Instruction):
    """``MESSAGE role text``; ``role`` is checked against ``ROLES`` by ``check``."""

    role: str = ""


@dataclass(frozen=True, slots=True)
class Comment:
    """A ``#`` line; ``text`` is what follows the ``#``, trailing blanks removed."""

    text: str
    position: Position = field(default=_NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class BlankLine:
    """A run of empty lines between two other items, kept so ``fmt`` can keep paragraphs."""


Item = Instruction | Comment | BlankLine


@dataclass(frozen=True, slots=True)
class Modelfile:
    """A parsed Modelfile: instructions, comments and paragraph breaks in file order."""

    items: tuple[Item, ...]
    # Characters Ollama's reader drops without a word (zero-width joiners, no-break spaces...),
    # kept so that ``check`` can warn about them.
    invisible: tuple[tuple[Position, str], ...] = field(default=(), compare=False)
    # Where it came from, and its text as read (invisible characters included, so positions
    # index into it), for messages that show the offending line.
    file: str | None = field(default=None, compare=False)
    source: str = field(default="", compare=False, repr=False)

    @property
    def instructions(self) -> tuple[Instruction, ...]:
        return tuple(item for item in self.items if isinstance(item, Instruction))

    def of_kind(self, kind: Kind) -> tuple[Instruction, ...]:
        return tuple(i for i in self.instructions if i.kind is kind)
