"""Errors raised by the Modelfile package.

    ModelfileError (also ValueError)      carries file, line, column and the offending line
    ├── ModelfileSyntaxError              the text is not a Modelfile (parse)
    │   └── ModelfileEncodingError        the bytes are not valid UTF-8 / UTF-16 (decode)
    └── ModelfileInvalid                  it parses, but check found errors (resolve)

Line and column are 1-based and count characters, with CRLF, CR and LF each ending one line.
``str()`` renders a compiler-style message: location, the line, a caret, and a hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .check import Diagnostic


class ModelfileError(ValueError):
    """A Modelfile problem at a known place."""

    def __init__(
        self,
        message: str,
        line: int,
        column: int,
        *,
        file: str | None = None,
        source_line: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.file = file
        self.source_line = source_line
        self.hint = hint

    @property
    def location(self) -> str:
        return f"{self.file or '<modelfile>'}:{self.line}:{self.column}"

    def __str__(self) -> str:
        return render(self.location, self.message, self.source_line, self.column, self.hint)


class ModelfileSyntaxError(ModelfileError):
    """The text cannot be read as a Modelfile."""


class ModelfileEncodingError(ModelfileSyntaxError):
    """The bytes cannot be decoded as the encoding their byte-order mark (or its absence) names."""


class ModelfileInvalid(ModelfileError):
    """The Modelfile parses but has errors; ``diagnostics`` lists all of them."""

    def __init__(self, diagnostics: Sequence[Diagnostic], *, file: str | None = None) -> None:
        first = next(d for d in diagnostics if d.severity == "error")
        super().__init__(
            first.message,
            first.line,
            first.column,
            file=file,
            source_line=first.source_line,
            hint=first.hint,
        )
        self.diagnostics = tuple(diagnostics)


def render(
    location: str, message: str, source_line: str | None, column: int, hint: str | None
) -> str:
    """``file:line:col: message``, then the line with a caret under the column, then the hint."""
    parts = [f"{location}: {message}"]
    if source_line is not None:
        shown = source_line.replace("\t", " ")
        parts.append(f"    {shown}")
        parts.append("    " + " " * max(column - 1, 0) + "^")
    if hint:
        parts.append(f"hint: {hint}")
    return "\n".join(parts)
