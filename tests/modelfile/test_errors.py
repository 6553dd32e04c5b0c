"""Errors keep Ollama's searchable texts and add file, line, column, caret and hint."""

from __future__ import annotations

import pytest

import modelfile

INVALID_COMMAND = (
    'command must be one of "from", "license", "template", "system", "adapter", "draft", '
    '"renderer", "parser", "parameter", "message", or "requires"'
)
INVALID_ROLE = 'message role must be one of "system", "user", or "assistant"'


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("PARAMETER top_k 1\n", "no FROM line", 1, 1),
        ("", "no FROM line", 1, 1),
        ("# only a comment\n", "no FROM line", 1, 1),
        ("FROM x\nFRM y\n", INVALID_COMMAND, 2, 1),
        ("FROM x\n  INSTRUCT y\n", INVALID_COMMAND, 2, 3),
        ("FROM x\nSYSTEM\n", INVALID_COMMAND, 2, 1),
        ("FROM x\n-foo\n", INVALID_COMMAND, 2, 1),
        ("FROM x\n1FROM y\n", INVALID_COMMAND, 2, 1),
        ('FROM x\nSYSTEM "abc\n', "unexpected EOF", 2, 8),
        ('FROM x\nSYSTEM  """abc\ndef""" x\n', "unexpected EOF", 2, 9),
        ('FROM x\nTEMPLATE """abc"\n', "unexpected EOF", 2, 10),
        ("FROM x\nMESSAGE User hi\n", INVALID_ROLE, 2, 9),
        ("FROM x\nMESSAGE  user hi\n", INVALID_ROLE, 2, 9),
        ("FROM x\nMESSAGE user: hi\n", "unexpected character ':'", 2, 13),
        ("FROM x\nPARAMETER  stop x\n", "invalid parameter name", 2, 11),
        ("FROM x\nPARAMETER param-1 x\n", "unexpected character '-'", 2, 16),
        ("FROM x\nPARAMETER stop\n", "unexpected EOF: the instruction has no value", 2, 15),
        ("FROM x\nPARAMETER \n", "PARAMETER needs a name and a value", 2, 11),
    ],
)
def test_syntax_errors(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(modelfile.ModelfileError) as caught:
        resolved = modelfile.parse(text)
        modelfile.resolve(resolved)
    error = caught.value
    assert (error.message, error.line, error.column) == (message, line, column)


def test_error_text_names_file_line_column_and_shows_a_caret() -> None:
    with pytest.raises(modelfile.ModelfileSyntaxError) as caught:
        modelfile.parse("FROM x\nSYTSEM hi\n", file="models/Modelfile")
    assert str(caught.value) == (
        f"models/Modelfile:2:1: {INVALID_COMMAND}\n"
        "    SYTSEM hi\n"
        "    ^\n"
        "hint: did you mean SYSTEM?"
    )


def test_unclosed_quote_hint_points_at_the_opening_quote() -> None:
    with pytest.raises(modelfile.ModelfileSyntaxError) as caught:
        modelfile.parse('FROM x\nSYSTEM """never\nclosed\n')
    assert caught.value.hint is not None and '"""' in caught.value.hint
    assert str(caught.value).splitlines()[1:3] == ['    SYSTEM """never', "           ^"]


def test_errors_are_value_errors() -> None:
    assert issubclass(modelfile.ModelfileError, ValueError)
