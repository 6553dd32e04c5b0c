"""Syntax tree to canonical text, losing nothing: ``parse(format(m)) == m`` for every parsed m.

Canonical means: keywords upper-case, one blank between the parts of an instruction, comments as
``#text`` on their own lines where they were, at most one empty line between paragraphs, a final
line end. A value is written bare when it reads back as itself; otherwise quoted, preferring
``\"\"\"`` for multi-line values and ``"`` for single-line ones. Ollama's writer loses values that
start or end with blanks or tabs, that themselves start and end with a quote, or that hold
``\"\"\"``; here every candidate is checked by reading it back with the real parser.
"""

from __future__ import annotations

from .errors import ModelfileError, ModelfileSyntaxError
from .parser import parse
from .syntax import BlankLine, Comment, Instruction, Message, Modelfile, Parameter


def format(modelfile: Modelfile) -> str:
    """The canonical text of a Modelfile."""
    lines: list[str] = []
    for item in modelfile.items:
        if isinstance(item, BlankLine):
            lines.append("")
        elif isinstance(item, Comment):
            lines.append(f"#{item.text}")
        else:
            lines.append(format_instruction(item))
    return "\n".join(lines) + "\n"


def format_instruction(instruction: Instruction) -> str:
    """One instruction as canonical text (it may span lines)."""
    head = instruction.kind.value
    if isinstance(instruction, Parameter):
        head = f"{head} {instruction.name}"
    elif isinstance(instruction, Message):
        head = f"{head} {instruction.role}"
    return f"{head} {quote(instruction.value)}"


def quote(value: str) -> str:
    """The shortest spelling of ``value`` that reads back as exactly ``value``."""
    if _plain(value):
        return value
    multiline = "\n" in value or "\r" in value
    # A bare value never spans lines, and a '"' value that could hold a multi-line value could
    # also be written with '"""', so multi-line values only try '"""'.
    candidates = [f'"""{value}"""'] if multiline else [value, f'"{value}"', f'"""{value}"""']
    for candidate in candidates:
        if candidate and _reads_back(candidate, value):
            return candidate
    raise ModelfileError(
        "this value cannot be written in a Modelfile: it needs quotes, and both quote styles "
        "would end early at a quote before a line end",
        0,
        0,
        hint="Modelfiles have no escape sequences; change the value",
    )


def _plain(value: str) -> bool:
    """Whether ``value`` surely reads back bare: the common case, decided without parsing."""
    return (
        value.isprintable()  # no line ends, tabs or characters the reader drops
        and value.strip(" ") == value
        and value != ""
        and not value.startswith('"')
    )


def _reads_back(candidate: str, value: str) -> bool:
    try:
        parsed = parse(f"FROM {candidate}\n")
    except ModelfileSyntaxError:
        return False
    instructions = parsed.instructions
    return len(instructions) == 1 and instructions[0].value == value
