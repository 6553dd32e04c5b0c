"""A structural check of TEMPLATE text, which Ollama parses as a Go ``text/template`` and
refuses at create time (``template error: …``) when it does not parse.

Only structure is checked, never meaning: every ``{{`` closes, strings and comments inside
actions close, and ``if``/``range``/``with``/``define``/``block`` pair with ``end``, ``else``
sits inside ``if``/``range``/``with``, ``break``/``continue`` inside ``range``. Function names
and fields are left to the runtime, so a valid template is never refused here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPENERS = frozenset({"if", "range", "with", "define", "block"})
_KEYWORD = re.compile(r"[A-Za-z_]+")
_BLANKS = " \t\r\n"


@dataclass(frozen=True, slots=True)
class TemplateProblem:
    """What is wrong, and the character offset in the template where it is."""

    message: str
    offset: int


def template_problem(text: str) -> TemplateProblem | None:
    """The first structural error of a Go template, or None when it has none."""
    open_blocks: list[tuple[str, int]] = []
    position = 0
    while (start := text.find("{{", position)) >= 0:
        body_start = _after_left_trim(text, start + 2)
        if text.startswith("/*", body_start):
            end = text.find("*/", body_start + 2)
            if end < 0:
                return TemplateProblem("unclosed comment", start)
            close = _closing(text, end + 2)
            if close is None:
                return TemplateProblem("comment ends before closing delimiter", start)
            position = close
            continue
        found = _action_end(text, start, body_start)
        if isinstance(found, TemplateProblem):
            return found
        end = found
        body = text[body_start:end].rstrip(_BLANKS).removesuffix(" -").strip(_BLANKS)
        problem = _step(open_blocks, body, start)
        if problem is not None:
            return problem
        position = end + 2
    if open_blocks:
        word, where = open_blocks[-1]
        return TemplateProblem(f"unexpected EOF: {{{{{word}}}}} is never closed by {{{{end}}}}",
                               where)
    return None


def _after_left_trim(text: str, index: int) -> int:
    """Skip a ``-`` trim marker (a dash followed by a blank) and the blanks after it."""
    if text.startswith("-", index) and text[index + 1 : index + 2] in tuple(_BLANKS):
        index += 1
    while index < len(text) and text[index] in _BLANKS:
        index += 1
    return index


def _closing(text: str, index: int) -> int | None:
    """After a comment: optional blanks, an optional ``-``, then ``}}``; the index past it."""
    while index < len(text) and text[index] in _BLANKS:
        index += 1
    if text.startswith("-", index):
        index += 1
    return index + 2 if text.startswith("}}", index) else None


def _action_end(text: str, opening: int, index: int) -> int | TemplateProblem:
    """The index of the ``}}`` closing the action opened at ``opening``, stepping over quoted
    strings and characters."""
    while index < len(text):
        char = text[index]
        if text.startswith("}}", index):
            return index
        if char in "\"'":
            quote, index = index, _quoted_end(text, index, char)
            if index < 0:
                return TemplateProblem("unterminated quoted string", quote)
        elif char == "`":
            quote, index = index, text.find("`", index + 1)
            if index < 0:
                return TemplateProblem("unterminated raw quoted string", quote)
        index += 1
    return TemplateProblem("unclosed action", opening)


def _quoted_end(text: str, index: int, quote: str) -> int:
    index += 1
    while index < len(text):
        if text[index] == "\\":
            index += 2
            continue
        if text[index] == quote:
            return index
        if text[index] == "\n":
            return -1
        index += 1
    return -1


def _step(open_blocks: list[tuple[str, int]], body: str, where: int) -> TemplateProblem | None:
    if not body:
        return TemplateProblem("missing value for command: an empty {{ }} action", where)
    match = _KEYWORD.match(body)
    word = match.group(0) if match else ""
    if word in _OPENERS:
        open_blocks.append((word, where))
    elif word == "end":
        if not open_blocks:
            return TemplateProblem("unexpected {{end}}", where)
        open_blocks.pop()
    elif word == "else":
        if not open_blocks or open_blocks[-1][0] not in ("if", "range", "with"):
            return TemplateProblem("unexpected {{else}}", where)
    elif word in ("break", "continue") and not any(w == "range" for w, _ in open_blocks):
        return TemplateProblem(f"{{{{{word}}}}} outside {{{{range}}}}", where)
    return None
