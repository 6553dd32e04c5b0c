"""Text to syntax tree: decoding, the Lark LALR parser (built once), and error translation."""

from __future__ import annotations

import bisect
import difflib
import os
import re
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from . import grammar
from .encoding import decode
from .errors import ModelfileSyntaxError
from .syntax import (
    ROLES,
    BlankLine,
    Comment,
    Instruction,
    Item,
    Kind,
    Message,
    Modelfile,
    Parameter,
    Position,
)

if TYPE_CHECKING:  # Lark is imported on the first parse, not with the package (see grammar)
    from lark import Token
    from lark.exceptions import UnexpectedInput

COMMANDS = (
    "from", "license", "template", "system", "adapter", "draft",
    "renderer", "parser", "parameter", "message", "requires",
)  # fmt: skip
INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'
UNEXPECTED_EOF = "unexpected EOF"

LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LINE_CHARS = str.maketrans("", "", "\t\r\n")


def parse(source: str | bytes, *, file: str | None = None) -> Modelfile:
    """Parse Modelfile text (or its raw bytes); raise ModelfileSyntaxError on bad input."""
    original = (
        decode(source, file=file) if isinstance(source, bytes) else source.removeprefix("\ufeff")
    )
    text, invisible = _drop_invisible(original)
    index = LineIndex(original, [offset for offset, _ in invisible])
    lark_parser = grammar.parser(_BUILDER)
    from lark.exceptions import LarkError, UnexpectedInput

    token = _INDEX.set(index)
    try:
        items: tuple[Item, ...] = lark_parser.parse(text)  # type: ignore[assignment]
    except UnexpectedInput as exc:
        raise _translate(exc, text, index, file) from None
    except LarkError as exc:  # defensive: any other Lark failure is still ours
        raise ModelfileSyntaxError(str(exc), 1, 1, file=file) from None
    finally:
        _INDEX.reset(token)
    modelfile = Modelfile(
        items,
        invisible=tuple((index.original_position(offset), char) for offset, char in invisible),
        file=file,
        source=original,
    )
    if not modelfile.of_kind(Kind.FROM):
        raise ModelfileSyntaxError(
            "no FROM line", 1, 1, file=file, source_line=index.line_text(1),
            hint="every Modelfile names its base with FROM <model name or path to a GGUF file>",
        )
    return modelfile


def parse_file(path: str | os.PathLike[str]) -> Modelfile:
    """Read and parse a Modelfile; errors name the file."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise ModelfileSyntaxError(
            f"cannot read {name}: {exc.strerror or exc}", 0, 0, file=name
        ) from exc
    return parse(data, file=name)


def _drop_invisible(text: str) -> tuple[str, list[tuple[int, str]]]:
    """Remove what Ollama's reader drops: every non-printable character but tab and line ends.

    Returns the text Lark parses and each removed character with its offset in ``text``.
    Go's strconv.IsPrint and Python's str.isprintable agree (letters, marks, numbers,
    punctuation, symbols and the ASCII space).
    """
    if text.translate(_LINE_CHARS).isprintable():  # the common case, at C speed
        return text, []
    kept: list[str] = []
    dropped: list[tuple[int, str]] = []
    for offset, char in enumerate(text):
        if char.isprintable() or char in "\t\r\n":
            kept.append(char)
        else:
            dropped.append((offset, char))
    return "".join(kept), dropped


INVISIBLE_MARK = "\u00b7"  # shown in place of a removed character when a line is quoted


def visible(line: str) -> str:
    """A line as messages quote it: each character Ollama drops shown as one middle dot, so
    that a caret under a column still points at the right character."""
    if line.translate(_LINE_CHARS).isprintable():
        return line
    return "".join(c if c.isprintable() or c in "\t\r\n" else INVISIBLE_MARK for c in line)


class LineIndex:
    """Offsets to 1-based (line, column), with CRLF, CR and LF each ending a line.

    Positions count characters of the text as read, invisible ones included, as an editor
    does: the parser sees the text without them (``dropped``, offsets into ``original``), and
    ``position`` maps its offsets back.
    """

    def __init__(self, original: str, dropped: list[int] | None = None) -> None:
        self.text = original
        self.starts = [0] + [match.end() for match in LINE_BREAK.finditer(original)]
        # For each removed character, how many kept characters come before it.
        self.kept_before = [offset - i for i, offset in enumerate(dropped or ())]

    def position(self, offset: int) -> Position:
        """The position of an offset into the parsed text (invisible characters removed)."""
        return self.original_position(offset + bisect.bisect_right(self.kept_before, offset))

    def original_position(self, offset: int) -> Position:
        line = bisect.bisect_right(self.starts, offset)
        return Position(line, offset - self.starts[line - 1] + 1)

    def line_text(self, line: int) -> str:
        if not 1 <= line <= len(self.starts):
            return ""
        start = self.starts[line - 1]
        end = self.starts[line] if line < len(self.starts) else len(self.text)
        return visible(self.text[start:end].rstrip("\r\n"))


def _value_text(token: Token) -> str:
    stripped = str(token).strip(" \t")
    if token.type == "TRIPLE_QUOTED":
        return stripped[3:-3]
    if token.type == "QUOTED":
        return stripped[1:-1]
    return stripped


def _lead(token: Token) -> int:
    """Offset of the first non-blank character of a token."""
    text = str(token)
    return (token.start_pos or 0) + len(text) - len(text.lstrip(" \t"))


# The line index of the text being parsed, for the builder, which Lark runs inline (no tree is
# built, which saves a pass over large files) and so cannot be handed per-call state directly.
_INDEX: ContextVar[LineIndex] = ContextVar("modelfile_line_index")


class _Builder:
    """Lark rules to frozen syntax values; builds only, checks nothing (see ``check``).

    Lark calls a method per rule by name, so this need not subclass ``lark.Transformer``, which
    would import Lark with the package.
    """

    @property
    def index(self) -> LineIndex:
        return _INDEX.get()

    def _at(self, token: Token) -> Position:
        return self.index.position(_lead(token))

    def value(self, children: list[Token]) -> tuple[str, Position]:
        (token,) = children
        return _value_text(token), self._at(token)

    def _value(self, rest: list[Any], after: Token) -> tuple[str, Position]:
        if rest:
            result: tuple[str, Position] = rest[0]
            return result
        end = after.end_pos if after.end_pos is not None else 0
        return "", self.index.position(end + 1)

    def simple(self, children: list[Any]) -> Instruction:
        keyword, *rest = children
        value, where = self._value(rest, keyword)
        kind = Kind(keyword.value.strip(" \t").upper())
        return Instruction(kind, value, self._at(keyword), where)

    def parameter(self, children: list[Any]) -> Parameter:
        keyword, name, *rest = children
        value, where = self._value(rest, name)
        return Parameter(Kind.PARAMETER, value, self._at(keyword), where, name=name.value)

    def message(self, children: list[Any]) -> Message:
        keyword, role, *rest = children
        value, where = self._value(rest, role)
        return Message(Kind.MESSAGE, value, self._at(keyword), where, role=role.value)

    def comment(self, children: list[Token]) -> Comment:
        (token,) = children
        text = token.value.strip(" \t")[1:].rstrip(" \t")
        return Comment(text, self._at(token))

    def start(self, children: list[Any]) -> tuple[Item, ...]:
        """Keep items; turn two or more line ends in a row between items into one BlankLine."""
        items: list[Item] = []
        newlines = 0
        for child in children:
            if isinstance(child, str):  # a line end: a Token, which is a str
                newlines += 1
                continue
            if items and newlines >= 2:
                items.append(BlankLine())
            items.append(child)
            newlines = 0
        return tuple(items)


_BUILDER = _Builder()


def _translate(
    exc: UnexpectedInput, text: str, index: LineIndex, file: str | None
) -> ModelfileSyntaxError:
    """A Lark failure as a Modelfile error that says what went wrong and where."""
    from lark.exceptions import UnexpectedCharacters, UnexpectedToken

    if isinstance(exc, UnexpectedCharacters):
        offset, expected = exc.pos_in_stream, set(exc.allowed)
    elif isinstance(exc, UnexpectedToken):
        token = exc.token
        offset = len(text) if token.type == "$END" else token.start_pos
        expected = set(exc.expected)
    else:
        offset, expected = 0, set()
    offset = offset or 0
    message, hint, offset = _explain(text, offset, expected)
    where = index.position(offset)
    return ModelfileSyntaxError(
        message, where.line, where.column,
        file=file, source_line=index.line_text(where.line), hint=hint,
    )


def _explain(text: str, offset: int, expected: set[str]) -> tuple[str, str | None, int]:
    """Message, hint and the offset to point at, from what the parser expected there."""
    rest = text[offset:]
    at_end = not rest or rest[0] in "\r\n"
    if expected & {"PLAIN", "QUOTED", "TRIPLE_QUOTED"} and rest.lstrip(" \t").startswith('"'):
        quote = offset + len(rest) - len(rest.lstrip(" \t"))
        closing = '"""' if text.startswith('"""', quote) else '"'
        return (
            UNEXPECTED_EOF,
            f"the value quoted here with {closing} is never closed: end a line with {closing}",
            quote,
        )
    if "SIMPLE_KEYWORD" in expected:
        return _explain_command(rest, offset)
    if "PARAMETER_NAME" in expected:
        if at_end:
            return "PARAMETER needs a name and a value", "write PARAMETER <name> <value>", offset
        return (
            "invalid parameter name",
            "exactly one blank follows PARAMETER; names use letters, digits and _",
            offset,
        )
    if "ROLE" in expected:
        return INVALID_ROLE, "write MESSAGE <role> <text>", offset
    if "_SEPARATOR" in expected:
        if at_end:
            message = f"{UNEXPECTED_EOF}: the instruction has no value"
            return message, "add a blank and a value", offset
        return f"unexpected character {rest[0]!r}", _SEPARATOR_HINT, offset
    return f"unexpected character {rest[:1]!r}", None, offset


_SEPARATOR_HINT = "parameter names use letters, digits and _; message roles use letters only"


def _explain_command(rest: str, offset: int) -> tuple[str, str | None, int]:
    stripped = rest.lstrip(" \t")
    offset += len(rest) - len(stripped)
    word = re.match(r"[A-Za-z]*", stripped)
    name = word.group(0) if word else ""
    if name.lower() in COMMANDS:
        return (
            INVALID_COMMAND,
            f"{name.upper()} must be followed by a blank and a value on the same line",
            offset,
        )
    close = difflib.get_close_matches(name.lower(), COMMANDS, n=1)
    hint = f"did you mean {close[0].upper()}?" if close and name else None
    if hint is None and stripped[:1] not in ("", "#") and not name:
        hint = "an instruction starts with a keyword such as FROM; comments start with #"
    return INVALID_COMMAND, hint, offset


__all__ = ["COMMANDS", "ROLES", "LineIndex", "decode", "parse", "parse_file"]
