"""Meaning: what a parsed Modelfile asks for (``Recipe``) and what is wrong with it (diagnostics).

Repeats follow Ollama: TEMPLATE, SYSTEM, ADAPTER, RENDERER, PARSER, REQUIRES and scalar
parameters take the last value; LICENSE, MESSAGE, DRAFT, FROM and ``stop`` accumulate in file
order. ``check`` warns about every instruction a later one overrides.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from .errors import ModelfileInvalid, render
from .parameters import DEPRECATED, PARAMETERS, ParameterError, ParameterValue, ParamType
from .parameters import parse_value as parse_parameter
from .parser import INVALID_ROLE, LINE_BREAK, visible
from .syntax import ROLES, Instruction, Kind, Message, Modelfile, Parameter, Position
from .template import template_problem

Severity = Literal["error", "warning"]

_LAST_WINS = (Kind.TEMPLATE, Kind.SYSTEM, Kind.ADAPTER, Kind.RENDERER, Kind.PARSER, Kind.REQUIRES)
_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRERELEASE_ID = rf"(?:{_NUMBER}|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
# golang.org/x/mod/semver, which Ollama uses for REQUIRES: "v1" and "v1.2" are valid shorthands.
_SEMVER = re.compile(
    rf"v{_NUMBER}(?:\.{_NUMBER}(?:\.{_NUMBER}"
    rf"(?:-{_PRERELEASE_ID}(?:\.{_PRERELEASE_ID})*)?"
    rf"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?)?"
)


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: Severity
    line: int
    column: int
    message: str
    hint: str | None = None
    source_line: str | None = field(default=None, compare=False)

    def render(self, file: str | None = None) -> str:
        """Compiler-style text: location, severity and message, the line, a caret, the hint."""
        location = f"{file or '<modelfile>'}:{self.line}:{self.column}"
        message = f"{self.severity}: {self.message}"
        return render(location, message, self.source_line, self.column, self.hint)

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


@dataclass(frozen=True, slots=True)
class Recipe:
    """What a valid Modelfile asks ``create`` to build, repeats already resolved."""

    froms: tuple[str, ...]
    adapter: str | None = None
    drafts: tuple[str, ...] = ()
    template: str | None = None
    system: str | None = None
    licenses: tuple[str, ...] = ()
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    messages: tuple[tuple[str, str], ...] = ()
    renderer: str | None = None
    parser: str | None = None
    requires: str | None = None


def is_valid_requires(text: str) -> bool:
    """True when REQUIRES text is a semantic version (a leading ``v`` is optional)."""
    return _SEMVER.fullmatch(text if text.startswith("v") else "v" + text) is not None


def check(modelfile: Modelfile) -> list[Diagnostic]:
    """Every error and warning, in file order."""
    return _Analysis(modelfile).run()[1]


def resolve(modelfile: Modelfile) -> Recipe:
    """The recipe of a Modelfile; raise ModelfileInvalid when check finds an error."""
    return analyse(modelfile)[0]


def analyse(modelfile: Modelfile) -> tuple[Recipe, list[Diagnostic]]:
    """The recipe and the warnings, from one pass; raise ModelfileInvalid on any error."""
    recipe, diagnostics = _Analysis(modelfile).run()
    if any(d.severity == "error" for d in diagnostics):
        raise ModelfileInvalid(diagnostics, file=modelfile.file)
    return recipe, diagnostics


def warning_at(
    modelfile: Modelfile, instruction: Instruction, message: str, hint: str | None = None
) -> Diagnostic:
    """A warning about ``instruction`` found by a later stage (create), shown like check's."""
    where = instruction.position
    lines = LINE_BREAK.split(modelfile.source)
    line = visible(lines[where.line - 1]) if 0 < where.line <= len(lines) else None
    return Diagnostic("warning", where.line, where.column, message, hint, line)


def instruction_json(instruction: Instruction) -> dict[str, object]:
    """The stable ``check --json`` shape of one instruction."""
    data: dict[str, object] = {
        "line": instruction.position.line,
        "instruction": instruction.kind.value,
        "value": instruction.value,
    }
    if isinstance(instruction, Parameter):
        data["name"] = instruction.name
    if isinstance(instruction, Message):
        data["role"] = instruction.role
    return data


def _after_keyword(instruction: Instruction) -> Position:
    """Where a parameter name or message role starts: one blank after the keyword."""
    where = instruction.position
    return Position(where.line, where.column + len(instruction.kind.value) + 1)


class _Analysis:
    def __init__(self, modelfile: Modelfile) -> None:
        self.modelfile = modelfile
        self.diagnostics: list[Diagnostic] = []
        self.parameters: dict[str, ParameterValue] = {}
        self.last_set: dict[str, Instruction] = {}
        self.lines = [visible(line) for line in LINE_BREAK.split(modelfile.source)]

    def run(self) -> tuple[Recipe, list[Diagnostic]]:
        for where, char in self.modelfile.invisible:
            name = unicodedata.name(char, "control character")
            self._warn(where, f"invisible character U+{ord(char):04X} ({name}) removed",
                       "Ollama drops it without a word; delete it to keep the file honest")
        for instruction in self.modelfile.instructions:
            self._visit(instruction)
        if not self.modelfile.of_kind(Kind.FROM):
            self._error(Position(1, 1), "no FROM line")
        templates = self.modelfile.of_kind(Kind.TEMPLATE)
        if templates:  # Ollama parses only the one that wins
            self._template(templates[-1])
        self.diagnostics.sort(key=lambda d: (d.line, d.column))
        return self._recipe(), self.diagnostics

    def _recipe(self) -> Recipe:
        last = {kind: self._last(kind) for kind in _LAST_WINS}
        requires = last[Kind.REQUIRES]
        return Recipe(
            froms=tuple(i.value for i in self.modelfile.of_kind(Kind.FROM)),
            adapter=last[Kind.ADAPTER],
            drafts=tuple(i.value for i in self.modelfile.of_kind(Kind.DRAFT)),
            template=last[Kind.TEMPLATE],
            system=last[Kind.SYSTEM],
            licenses=tuple(i.value for i in self.modelfile.of_kind(Kind.LICENSE)),
            parameters=self.parameters,
            messages=tuple(
                (i.role, i.value) for i in self.modelfile.of_kind(Kind.MESSAGE)
                if isinstance(i, Message)
            ),
            renderer=last[Kind.RENDERER],
            parser=last[Kind.PARSER],
            requires=requires.removeprefix("v") if requires is not None else None,
        )

    def _last(self, kind: Kind) -> str | None:
        found = self.modelfile.of_kind(kind)
        return found[-1].value if found else None

    def _visit(self, instruction: Instruction) -> None:
        if isinstance(instruction, Parameter):
            self._parameter(instruction)
        elif isinstance(instruction, Message):
            if instruction.role not in ROLES:
                self._error(_after_keyword(instruction), INVALID_ROLE, "roles are lower-case")
        elif instruction.kind is Kind.FROM and not instruction.value:
            self._error(instruction.position, "FROM needs a model name or a path to a GGUF file")
        elif instruction.kind is Kind.REQUIRES and not is_valid_requires(instruction.value):
            self._error(instruction.value_position,
                        "requires must be a valid semver (e.g. 0.14.0)")
        if instruction.kind in _LAST_WINS:
            self._overrides(instruction.kind.value, instruction)
            if instruction.kind in (Kind.SYSTEM, Kind.TEMPLATE) and not instruction.value:
                self._warn(instruction.position, f"an empty {instruction.kind.value} sets nothing",
                           "it does not clear the base model's; remove the line")

    def _parameter(self, parameter: Parameter) -> None:
        name = parameter.name
        if name in DEPRECATED:
            self._warn(parameter.position, f"parameter {name} is deprecated",
                       "Ollama ignores it; remove the line")
            return
        try:
            value = parse_parameter(name, parameter.value)
        except ParameterError as exc:
            place = parameter.value_position if name in PARAMETERS else _after_keyword(parameter)
            self._error(place, str(exc), exc.hint)
            return
        previous = self.parameters.get(name)
        if isinstance(value, list) and isinstance(previous, list):  # stop accumulates
            self.parameters[name] = [*previous, *value]
            return
        if PARAMETERS[name] is ParamType.STRINGS:
            self.parameters[name] = value
            return
        self._overrides(f"PARAMETER {name}", parameter)
        self.parameters[name] = value

    def _template(self, instruction: Instruction) -> None:
        problem = template_problem(instruction.value)
        if problem is None:
            return
        self._error(self._within_value(instruction, problem.offset),
                    f"template error: {problem.message}",
                    "Ollama parses TEMPLATE as a Go text/template and refuses this one")

    def _within_value(self, instruction: Instruction, offset: int) -> Position:
        """The file position of a character of a (possibly quoted, multi-line) value."""
        breaks = list(LINE_BREAK.finditer(instruction.value, 0, offset))
        if breaks:
            return Position(instruction.value_position.line + len(breaks),
                            offset - breaks[-1].end() + 1)
        start = instruction.value_position
        line = self.lines[start.line - 1] if 0 < start.line <= len(self.lines) else ""
        rest = line[start.column - 1 :]
        quote = 3 if rest.startswith('"""') else 1 if rest.startswith('"') else 0
        return Position(start.line, start.column + quote + offset)

    def _overrides(self, what: str, instruction: Instruction) -> None:
        earlier = self.last_set.get(what)
        if earlier is not None:
            self._warn(earlier.position,
                       f"{what} is ignored: line {instruction.position.line} sets it again",
                       "the last one wins; remove one of the two")
        self.last_set[what] = instruction

    def _error(self, where: Position, message: str, hint: str | None = None) -> None:
        self._add("error", where, message, hint)

    def _warn(self, where: Position, message: str, hint: str | None = None) -> None:
        self._add("warning", where, message, hint)

    def _add(self, severity: Severity, where: Position, message: str, hint: str | None) -> None:
        line = self.lines[where.line - 1] if 0 < where.line <= len(self.lines) else None
        self.diagnostics.append(
            Diagnostic(severity, where.line, where.column, message, hint, line)
        )
