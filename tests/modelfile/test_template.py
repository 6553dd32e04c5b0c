"""TEMPLATE structure: what Ollama's Go text/template parse would refuse, and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import modelfile
from modelfile.template import template_problem

VALID = [
    "{{ .Prompt }}",
    "plain text, no actions",
    "{{- if .System }}<|system|>{{ .System }}{{ end -}}",
    "{{ range $i, $m := .Messages }}{{ if eq $m.Role \"user\" }}u{{ else if eq $m.Role "
    "\"assistant\" }}a{{ else }}s{{ end }}{{ end }}",
    "{{ with .Tools }}{{ json . }}{{ end }}",
    "{{/* a comment with }} inside */}}{{ .Prompt }}",
    "{{- /* trimmed comment */ -}}",
    '{{ "a string with }} and {{ inside" }}',
    "{{ `raw }} string` }}",
    "{{ range .Messages }}{{ if .Content }}{{ break }}{{ end }}{{ continue }}{{ end }}",
    "{{ define \"x\" }}inner{{ end }}{{ template \"x\" . }}",
    "{{ block \"y\" . }}default{{ end }}",
    "{{ -3 }}",
    "{{ .Prompt\n}}",
    "{{ 'c' }}",
]


@pytest.mark.parametrize("text", VALID)
def test_valid_templates_pass(text: str) -> None:
    assert template_problem(text) is None


def examples() -> list[str]:
    root = Path(__file__).parents[2] / "examples"
    found = []
    for path in sorted(root.glob("*.Modelfile")):
        found += [i.value for i in modelfile.parse_file(path).of_kind(modelfile.Kind.TEMPLATE)]
    return found


@pytest.mark.parametrize("text", examples())
def test_example_templates_pass(text: str) -> None:
    assert template_problem(text) is None


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("{{ .Prompt", "unclosed action", 0),
        ("ok {{ if .System }}x", "unexpected EOF: {{if}} is never closed by {{end}}", 3),
        ("{{ end }}", "unexpected {{end}}", 0),
        ("a {{ else }}", "unexpected {{else}}", 2),
        ("{{ define \"d\" }}{{ else }}{{ end }}", "unexpected {{else}}", 16),
        ("{{ break }}", "{{break}} outside {{range}}", 0),
        ("{{ }}", "missing value for command: an empty {{ }} action", 0),
        ('{{ "open }}', "unterminated quoted string", 3),
        ("{{ `open }}", "unterminated raw quoted string", 3),
        ("{{/* never closed }}", "unclosed comment", 0),
        ("{{/* c */ x }}", "comment ends before closing delimiter", 0),
    ],
)
def test_broken_templates(text: str, message: str, offset: int) -> None:
    problem = template_problem(text)
    assert problem is not None
    assert (problem.message, problem.offset) == (message, offset)


def test_check_reports_template_errors_at_their_place_in_the_file() -> None:
    text = 'FROM x\nTEMPLATE """{{ if .System }}\n{{ .System }}\n{{ end }}{{ end }}"""\n'
    (found,) = modelfile.check(modelfile.parse(text))
    assert (found.severity, found.line, found.column, found.message) == (
        "error", 4, 10, "template error: unexpected {{end}}"
    )
    first_line = 'FROM x\nTEMPLATE "{{ end }}"\n'
    (found,) = modelfile.check(modelfile.parse(first_line))
    assert (found.line, found.column) == (2, 11)


def test_only_the_winning_template_is_parsed() -> None:
    text = "FROM x\nTEMPLATE {{ broken\nTEMPLATE {{ .Prompt }}\n"
    messages = [d.message for d in modelfile.check(modelfile.parse(text))]
    assert messages == ["TEMPLATE is ignored: line 3 sets it again"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([*"{}-/* \"'`\nabc.$", "{{", "}}", "if ", "end", "else",
                                 "range ", "/*", "*/"]), max_size=40).map("".join))
def test_never_raises(text: str) -> None:
    problem = template_problem(text)
    assert problem is None or 0 <= problem.offset <= len(text)


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_template_error_positions_with_any_line_ending(ending: str) -> None:
    text = ending.join(['FROM x', 'TEMPLATE """a', 'b {{ end }}"""', ""])
    (found,) = modelfile.check(modelfile.parse(text))
    assert (found.line, found.column) == (3, 3)
