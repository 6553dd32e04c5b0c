"""A test-only renderer for the part of Go's text/template that lamina's chat templates use.

It follows Go's rules where they matter for the bytes of a prompt: ``{{-``/``-}}`` trim the
blanks beside an action, variables live until the ``end`` of the block that declared them and
``$x = v`` assigns to the nearest one, ``and``/``or`` stop at the first argument that decides
them (Go 1.18+), emptiness is Go's (false, 0, "", nil, empty list or map), and ``json`` writes
Go's compact ``encoding/json`` form. Anything outside the subset raises, so a template that
would need more of Go cannot pass a test by accident.

The data passed in mirrors what Ollama gives a chat template: ``System``, ``Messages`` (each
with Role, Content, Thinking, ToolCalls), ``Tools``, ``Think`` and ``IsThinkSet``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

_BLANKS = " \t\r\n"
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<string>"(?:[^"\\]|\\.)*")
    | (?P<raw>`[^`]*`)
    | (?P<number>-?\d+)
    | (?P<declare>:=)
    | (?P<assign>=)
    | (?P<punct>[(),|])
    | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
    | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
    | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_FIELDS = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*")


class TemplateError(Exception):
    pass


# --- lexing ---------------------------------------------------------------------------------


def _pieces(text: str) -> list[tuple[str, str]]:
    """("text", s) and ("action", body) in order, with Go's trim markers applied."""
    out: list[tuple[str, str]] = []
    position, trim_next = 0, False
    while True:
        start = text.find("{{", position)
        chunk = text[position:] if start < 0 else text[position:start]
        if trim_next:
            chunk = chunk.lstrip(_BLANKS)
        if start < 0:
            out.append(("text", chunk))
            return out
        body_start = start + 2
        if text[body_start : body_start + 1] == "-" and text[body_start + 1] in _BLANKS:
            chunk = chunk.rstrip(_BLANKS)
            body_start += 2
        out.append(("text", chunk))
        end = _close(text, body_start)
        body = text[body_start:end]
        trim_next = body.endswith((" -", "\n-", "\t-"))
        if trim_next:
            body = body[:-2]
        if not body.strip().startswith("/*"):
            out.append(("action", body.strip()))
        position = end + 2


def _close(text: str, index: int) -> int:
    quote: str | None = None
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\" and quote == '"':
                index += 1
            elif char == quote:
                quote = None
        elif char in "\"`":
            quote = char
        elif text.startswith("}}", index):
            return index
        index += 1
    raise TemplateError("unclosed action")


def _tokens(body: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    position = 0
    while position < len(body):
        if body[position:].strip() == "":
            break
        match = _TOKEN.match(body, position)
        if match is None or match.lastgroup is None:
            raise TemplateError(f"cannot read {body[position:]!r}")
        kind = match.lastgroup
        adjacent = match.start(kind) == position
        if kind == "field" and adjacent and found and found[-1] == ("punct", ")"):
            kind = "chain"  # (x).Field: a field of the parenthesised value
        found.append((kind, match.group(match.lastgroup)))
        position = match.end()
    return found


# --- parsing --------------------------------------------------------------------------------


@dataclass
class Pipeline:
    declare: list[str]
    assign: bool
    expr: Any


@dataclass
class Branch:
    kind: str  # "if" or "range"
    pipe: Pipeline
    body: list[Any] = field(default_factory=list)
    alternative: list[Any] = field(default_factory=list)


def parse(text: str) -> list[Any]:
    pieces = _pieces(text)
    nodes, index, closer = _parse_list(pieces, 0)
    if closer is not None:
        raise TemplateError(f"unexpected {{{{{closer}}}}}")
    assert index == len(pieces)
    return nodes


def _parse_list(pieces: list[tuple[str, str]], index: int) -> tuple[list[Any], int, str | None]:
    nodes: list[Any] = []
    while index < len(pieces):
        kind, value = pieces[index]
        index += 1
        if kind == "text":
            if value:
                nodes.append(value)
            continue
        word = value.split(None, 1)[0] if value else ""
        if word in ("end", "else"):
            return nodes, index, value
        if word in ("if", "range"):
            node, index = _parse_branch(pieces, index, word, value[len(word):])
            nodes.append(node)
        elif word in ("with", "define", "block", "template", "break", "continue"):
            raise TemplateError(f"{word} is outside the subset")
        else:
            nodes.append(_pipeline(value))
    return nodes, index, None


def _parse_branch(pieces: list[tuple[str, str]], index: int, word: str,
                  rest: str) -> tuple[Branch, int]:
    branch = Branch(word, _pipeline(rest))
    branch.body, index, closer = _parse_list(pieces, index)
    if closer is None:
        raise TemplateError(f"{word} is never closed")
    if closer.startswith("else"):
        tail = closer[4:].strip()
        if tail.startswith("if "):
            inner, index = _parse_branch(pieces, index, "if", tail[2:])
            branch.alternative = [inner]
            return branch, index
        branch.alternative, index, closer = _parse_list(pieces, index)
        if closer != "end":
            raise TemplateError(f"{word} ... else is never closed")
    return branch, index


def _pipeline(body: str) -> Pipeline:
    tokens = _tokens(body)
    declare: list[str] = []
    assign = False
    for position, (kind, _) in enumerate(tokens):
        if kind in ("declare", "assign"):
            declare = [value for k, value in tokens[:position] if k == "var"]
            assign = kind == "assign"
            tokens = tokens[position + 1 :]
            break
    expr, rest = _command(tokens)
    if rest:
        raise TemplateError(f"unexpected {rest[0][1]!r} in {body!r}")
    return Pipeline(declare, assign, expr)


def _command(tokens: list[tuple[str, str]]) -> tuple[Any, list[tuple[str, str]]]:
    operands: list[Any] = []
    while tokens and tokens[0] not in (("punct", ")"), ("punct", "|"), ("punct", ",")):
        operand, tokens = _operand(tokens)
        operands.append(operand)
    if tokens and tokens[0] == ("punct", "|"):
        raise TemplateError("pipes are outside the subset")
    if not operands:
        raise TemplateError("missing value for command")
    head = operands[0]
    if isinstance(head, tuple) and head[0] == "ident" and head[1] not in ("true", "false"):
        return ("call", head[1], operands[1:]), tokens
    if len(operands) > 1:
        raise TemplateError("can't give argument to non-function")
    return head, tokens


def _operand(tokens: list[tuple[str, str]]) -> tuple[Any, list[tuple[str, str]]]:
    kind, value = tokens[0]
    tokens = tokens[1:]
    if kind == "punct" and value == "(":
        inner, tokens = _command(tokens)
        if not tokens or tokens[0] != ("punct", ")"):
            raise TemplateError("unclosed parenthesis")
        tokens = tokens[1:]
        if tokens and tokens[0][0] == "chain":
            fields = _FIELDS.findall(tokens[0][1])
            return ("of", inner, [f[1:] for f in fields]), tokens[1:]
        return inner, tokens
    if kind == "string":
        return ("lit", json.loads(value)), tokens
    if kind == "raw":
        return ("lit", value[1:-1]), tokens
    if kind == "number":
        return ("lit", int(value)), tokens
    if kind == "var":
        name, _, fields = value.partition(".")
        path = [f for f in fields.split(".") if f] if fields else []
        return ("var", name, path), tokens
    if kind == "field":
        return ("dot", [f[1:] for f in _FIELDS.findall(value)]), tokens
    if kind == "ident":
        return ("ident", value), tokens
    raise TemplateError(f"unexpected {value!r}")


# --- evaluation -----------------------------------------------------------------------------


def truth(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, (int, str, list, tuple, dict)):
        return bool(value)
    return True


def go_json(value: Any) -> str:
    """encoding/json's compact form, with its HTML escapes."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, str)):
        return str(value)
    if value is None:
        return "<no value>"
    raise TemplateError(f"printing {type(value).__name__} is outside the subset")


class _Scope:
    def __init__(self, root: Any) -> None:
        self.frames: list[dict[str, Any]] = [{"$": root}]

    def get(self, name: str) -> Any:
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        raise TemplateError(f"undefined variable {name}")

    def set(self, name: str, value: Any) -> None:
        for frame in reversed(self.frames):
            if name in frame:
                frame[name] = value
                return
        raise TemplateError(f"undefined variable {name}")


def _field(value: Any, path: Sequence[str]) -> Any:
    for name in path:
        if not isinstance(value, dict):
            raise TemplateError(f"can't evaluate field {name} in {type(value).__name__}")
        value = value.get(name)
    return value


def _compare(op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def compare(a: Any, b: Any) -> bool:
        if type(a) is not type(b):
            raise TemplateError(f"incompatible types for comparison: {a!r} {b!r}")
        return op(a, b)
    return compare


def _eq(first: Any, *others: Any) -> bool:
    return any(_compare(lambda a, b: a == b)(first, other) for other in others)


def _slice(value: Any, *bounds: int) -> Any:
    if len(bounds) == 1:
        return value[bounds[0]:]
    return value[bounds[0]:bounds[1]]


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, list) and not 0 <= key < len(value):
            raise TemplateError(f"index out of range: {key}")
        value = value[key]
    return value


_FUNCS: dict[str, Callable[..., Any]] = {
    "eq": _eq,
    "ne": _compare(lambda a, b: a != b),
    "lt": _compare(lambda a, b: a < b),
    "le": _compare(lambda a, b: a <= b),
    "gt": _compare(lambda a, b: a > b),
    "ge": _compare(lambda a, b: a >= b),
    "not": lambda value: not truth(value),
    "len": len,
    "slice": _slice,
    "index": _index,
    "json": go_json,
}


class _Renderer:
    def __init__(self, data: dict[str, Any]) -> None:
        self.scope = _Scope(data)
        self.out: list[str] = []

    def nodes(self, nodes: Sequence[Any], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, str):
                self.out.append(node)
            elif isinstance(node, Pipeline):
                self.action(node, dot)
            elif node.kind == "if":
                self.branch_if(node, dot)
            else:
                self.branch_range(node, dot)

    def action(self, pipe: Pipeline, dot: Any) -> None:
        value = self.eval(pipe.expr, dot)
        if pipe.declare:
            for name in pipe.declare:
                if pipe.assign:
                    self.scope.set(name, value)
                else:
                    self.scope.frames[-1][name] = value
            return
        self.out.append(_text(value))

    def block(self, nodes: Sequence[Any], dot: Any, names: dict[str, Any]) -> None:
        self.scope.frames.append(dict(names))
        try:
            self.nodes(nodes, dot)
        finally:
            self.scope.frames.pop()

    def branch_if(self, node: Branch, dot: Any) -> None:
        if node.pipe.declare:
            raise TemplateError("declarations in if are outside the subset")
        chosen = node.body if truth(self.eval(node.pipe.expr, dot)) else node.alternative
        self.block(chosen, dot, {})

    def branch_range(self, node: Branch, dot: Any) -> None:
        items = self.eval(node.pipe.expr, dot)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise TemplateError("range over a non-list is outside the subset")
        if not items:
            self.block(node.alternative, dot, {})
        names = node.pipe.declare
        for position, item in enumerate(items):
            bound = {}
            if len(names) == 1:
                bound[names[0]] = item
            elif len(names) == 2:
                bound = {names[0]: position, names[1]: item}
            self.block(node.body, item, bound)

    def eval(self, expr: Any, dot: Any) -> Any:
        kind = expr[0]
        if kind == "lit":
            return expr[1]
        if kind == "dot":
            return _field(dot, expr[1])
        if kind == "var":
            return _field(self.scope.get(expr[1]), expr[2])
        if kind == "of":
            return _field(self.eval(expr[1], dot), expr[2])
        if kind == "ident":
            if expr[1] in ("true", "false"):
                return expr[1] == "true"
            raise TemplateError(f"function {expr[1]} needs arguments here")
        name, args = expr[1], expr[2]
        if name in ("and", "or"):
            value = None
            for arg in args:
                value = self.eval(arg, dot)
                if truth(value) == (name == "or"):
                    return value
            return value
        if name not in _FUNCS:
            raise TemplateError(f'function "{name}" not defined')
        return _FUNCS[name](*(self.eval(arg, dot) for arg in args))


def render(text: str, data: dict[str, Any]) -> str:
    """The output of Go template ``text`` run on ``data``."""
    if text.endswith("\n"):
        raise TemplateError("the template ends in a line end, which Go would print")
    renderer = _Renderer(data)
    renderer.nodes(parse(text), data)
    return "".join(renderer.out)


def message(role: str, content: str = "", **extra: Any) -> dict[str, Any]:
    """A chat message as Ollama hands it to a template."""
    return {"Role": role, "Content": content, "Thinking": extra.get("thinking", ""),
            "ToolCalls": extra.get("tool_calls", []), "ToolName": "", "ToolCallID": ""}


def chat(messages: Sequence[dict[str, Any]], *, tools: Sequence[Any] = (), think: bool = False,
         think_set: bool = False) -> dict[str, Any]:
    """The values Ollama passes a chat template: system messages joined, and all messages."""
    system = "\n\n".join(m["Content"] for m in messages if m["Role"] == "system")
    return {"System": system, "Messages": list(messages), "Tools": list(tools) or None,
            "Response": "", "Think": think, "ThinkLevel": "", "IsThinkSet": think_set}
